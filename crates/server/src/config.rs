//! Server settings: defaults that work with no configuration at all, a TOML
//! file, then `ORCA_*` environment variables, each layer overriding the one
//! before (the binary applies its flags last).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The port `orca serve` listens on when nothing says otherwise.
pub const DEFAULT_PORT: u16 = 7080;

/// The data directory when nothing says otherwise, relative to the working
/// directory.
pub const DEFAULT_DATA_DIR: &str = "orca-data";

/// Everything `orca serve` can be told.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on; loopback by default, so that a server
    /// started without thinking is not reachable from the network.
    pub listen: SocketAddr,
    /// Where the server keeps its files (the journal, later).
    pub data_dir: PathBuf,
    /// Session worker threads; 0 means one per core.
    pub workers: usize,
    /// When set, every request must carry `Authorization: Bearer <token>`.
    pub auth_token: Option<String>,
    /// How long a graceful shutdown may take, in milliseconds, before
    /// requests still running are dropped.
    pub shutdown_timeout_ms: u64,
    /// Whether sessions are journaled in `<data_dir>/journal.db` and
    /// recovered from it at start (documents with `_persist="false"` never
    /// are). On by default: no acknowledged event is lost to a crash.
    pub journal: bool,
    /// The database of the enterprise services (Context Services…):
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`, or `sqlite://PATH`. Unset:
    /// SQLite `services.db` in the data directory.
    pub database_url: Option<String>,
    /// Resource limits.
    pub limits: Limits,
}

/// Limits that protect the server from its clients and its sessions.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Largest SCXML document a session may be started from, in bytes.
    pub max_document_bytes: usize,
    /// Sessions (running or scheduled) the server holds at once; a start
    /// beyond it is answered 503.
    pub max_sessions: usize,
    /// Events waiting for one session; beyond it, 503 with `Retry-After`.
    pub mailbox_depth: usize,
    /// Commands waiting for one worker thread; beyond it, 503 with
    /// `Retry-After`.
    pub worker_queue: usize,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file does not parse or has unknown keys.
    #[error("invalid configuration file: {0}")]
    Toml(#[from] toml::de::Error),
    /// An environment variable has a value of the wrong form.
    #[error("invalid value {value:?} for {name}: {reason}")]
    Env {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            workers: 0,
            auth_token: None,
            shutdown_timeout_ms: 10_000,
            journal: true,
            database_url: None,
            limits: Limits::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_document_bytes: 4 * 1024 * 1024,
            max_sessions: 100_000,
            mailbox_depth: 1000,
            worker_queue: 4096,
        }
    }
}

impl Config {
    /// Parses a TOML configuration; keys it leaves out keep their defaults.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// Applies the `ORCA_*` variables among `vars`: `ORCA_LISTEN`,
    /// `ORCA_DATA_DIR`, `ORCA_WORKERS`, `ORCA_AUTH_TOKEN`,
    /// `ORCA_SHUTDOWN_TIMEOUT_MS`, `ORCA_MAX_BODY_BYTES`,
    /// `ORCA_MAX_DOCUMENT_BYTES`, `ORCA_MAX_SESSIONS`, `ORCA_MAILBOX_DEPTH`,
    /// `ORCA_WORKER_QUEUE`, `ORCA_JOURNAL` (`true`/`false`),
    /// `ORCA_DATABASE_URL`. Others are ignored.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("ORCA_") else {
                continue;
            };
            let limits = &mut self.limits;
            match key {
                "LISTEN" => self.listen = parse(&name, &value)?,
                "DATA_DIR" => self.data_dir = PathBuf::from(&value),
                "WORKERS" => self.workers = parse(&name, &value)?,
                "AUTH_TOKEN" => self.auth_token = Some(value).filter(|t| !t.is_empty()),
                "SHUTDOWN_TIMEOUT_MS" => self.shutdown_timeout_ms = parse(&name, &value)?,
                "MAX_BODY_BYTES" => limits.max_body_bytes = parse(&name, &value)?,
                "MAX_DOCUMENT_BYTES" => limits.max_document_bytes = parse(&name, &value)?,
                "MAX_SESSIONS" => limits.max_sessions = parse(&name, &value)?,
                "MAILBOX_DEPTH" => limits.mailbox_depth = parse(&name, &value)?,
                "WORKER_QUEUE" => limits.worker_queue = parse(&name, &value)?,
                "JOURNAL" => self.journal = parse(&name, &value)?,
                "DATABASE_URL" => self.database_url = Some(value).filter(|u| !u.is_empty()),
                _ => {}
            }
        }
        Ok(())
    }

    /// The number of worker threads to run: the setting, or one per core.
    pub fn worker_count(&self) -> usize {
        let count = match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        // Session ids carry the worker index in two hex digits.
        count.clamp(1, 256)
    }

    /// [`shutdown_timeout_ms`](Self::shutdown_timeout_ms) as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e: T::Err| ConfigError::Env {
        name: name.to_owned(),
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback() {
        let config = Config::default();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7080");
        assert_eq!(config.data_dir, PathBuf::from("orca-data"));
        assert!(config.auth_token.is_none());
    }

    #[test]
    fn toml_then_environment_override_the_defaults() {
        let mut config = Config::from_toml(
            "listen = \"127.0.0.1:9000\"\nworkers = 3\n[limits]\nmailbox_depth = 5\n",
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.limits.mailbox_depth, 5);
        assert_eq!(config.limits.max_sessions, Limits::default().max_sessions);
        config
            .apply_env([
                ("ORCA_WORKERS".to_owned(), "2".to_owned()),
                ("ORCA_AUTH_TOKEN".to_owned(), "s3cret".to_owned()),
                ("HOME".to_owned(), "/root".to_owned()),
            ])
            .unwrap();
        assert_eq!(config.workers, 2);
        assert_eq!(config.worker_count(), 2);
        assert_eq!(config.auth_token.as_deref(), Some("s3cret"));
        assert_eq!(config.database_url, None);
        let mut config = Config::from_toml("database_url = \"sqlite:///srv/orca.db\"\n").unwrap();
        assert_eq!(
            config.database_url.as_deref(),
            Some("sqlite:///srv/orca.db")
        );
        config
            .apply_env([(
                "ORCA_DATABASE_URL".to_owned(),
                "postgres://orca:pw@db:5432/orca".to_owned(),
            )])
            .unwrap();
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://orca:pw@db:5432/orca")
        );
    }

    #[test]
    fn bad_values_name_the_problem() {
        assert!(Config::from_toml("lisen = 1").is_err());
        let error = Config::default()
            .apply_env([("ORCA_MAX_SESSIONS".to_owned(), "many".to_owned())])
            .unwrap_err();
        assert!(error.to_string().contains("ORCA_MAX_SESSIONS"), "{error}");
    }
}
