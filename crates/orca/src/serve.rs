//! `orca serve`: the orchestration server. Builds the configuration
//! (defaults, then the TOML file, then `ORCA_*` variables, then flags),
//! binds the socket and runs [`server::run`] until ctrl-c or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use server::Config;

/// The flags of `orca serve`.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file (see the README's `orca serve` section).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:7080].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Data directory [default: ./orca-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Database of the enterprise services: postgres://USER:PASSWORD@HOST:PORT/DB
    /// or sqlite://PATH [default: sqlite services.db in the data directory].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
}

/// Runs the server; returns when it has shut down.
pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = configuration(&args, std::env::vars())?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        server::run(listener, config, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The configuration in force: each layer overrides the one before.
fn configuration(
    args: &ServeArgs,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Config::from_toml(&text).with_context(|| path.display().to_string())?
        }
        None => Config::default(),
    };
    config.apply_env(env)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data) = &args.data {
        config.data_dir = data.clone();
    }
    if let Some(url) = &args.database {
        config.database_url = Some(url.clone());
    }
    Ok(config)
}

/// Completes on ctrl-c or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_environment_which_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("orca-serve-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("orca.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9001\"\ndata_dir = \"/from/file\"\nworkers = 4\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file),
            listen: None,
            data: Some(PathBuf::from("/from/flag")),
            database: Some("postgres://orca:pw@db/orca".to_owned()),
        };
        let env = [
            ("ORCA_WORKERS".to_owned(), "3".to_owned()),
            ("ORCA_DATA_DIR".to_owned(), "/from/env".to_owned()),
            (
                "ORCA_DATABASE_URL".to_owned(),
                "sqlite:///from/env.db".to_owned(),
            ),
        ];
        let config = configuration(&args, env).unwrap();
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.workers, 3);
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://orca:pw@db/orca")
        );
        std::fs::remove_dir_all(&dir).unwrap();

        let none = ServeArgs {
            config: None,
            listen: None,
            data: None,
            database: None,
        };
        assert_eq!(configuration(&none, []).unwrap(), Config::default());
    }
}
