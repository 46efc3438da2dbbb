//! `orca replay SESSION_ID [--data DIR]`: re-runs a session from the journal
//! of `orca serve` and prints one JSON line per journaled input — its
//! sequence number, kind, event name, time, the active states after the
//! macrostep and the actions the macrostep made (none is performed again).
//! `GET /sessions/{id}/trace` answers the same steps as one JSON document.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// The arguments of `orca replay`.
#[derive(clap::Args)]
pub(crate) struct ReplayArgs {
    /// The session id (`sessionid` of the start answer).
    session: String,
    /// The server's data directory [default: ./orca-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// Prints the trace; exit status 0, or an error naming the problem.
pub(crate) fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let data = args
        .data
        .unwrap_or_else(|| PathBuf::from(server::DEFAULT_DATA_DIR));
    let steps = server::replay(&data, &args.session)
        .with_context(|| format!("cannot replay {} from {}", args.session, data.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for step in steps {
        serde_json::to_writer(&mut out, &step)?;
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}
