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
    /// Records of a journaled session between two snapshots of it: after
    /// the macrostep of every Nth record, once the session is idle, the
    /// server stores its state in the journal, so that recovery restores it
    /// from there and replays only the later records. 0: no snapshots
    /// (recovery replays every record). Default 1000.
    pub journal_snapshot_every: u64,
    /// The base URL clients and other servers reach this server at
    /// (`http://host:port`, no path): what sessions advertise as their Basic
    /// HTTP access URI (`_ioprocessors`) and as
    /// `_genesys.session.server.url`. Unset: `http://` and the address the
    /// server listens on (a wildcard address such as `0.0.0.0` advertised
    /// as loopback, reachable from this host only).
    pub public_url: Option<String>,
    /// The database of the enterprise services (Context Services…):
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`, or `sqlite://PATH`. Unset:
    /// SQLite `services.db` in the data directory.
    pub database_url: Option<String>,
    /// Resource limits.
    pub limits: Limits,
    /// What ORS `<session:fetch>` may do.
    pub fetch: FetchConfig,
}

/// Settings of ORS `<session:fetch>` (ors-dialect.md §2.1).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FetchConfig {
    /// The hosts sessions may fetch from (also after a redirect): `*` for
    /// any host, a host name or IP address, `*.domain` for every host
    /// under a domain, each optionally with `:port`. A fetch to another
    /// host gives the session `error.session.fetch` with `error` =
    /// `host.notallowed` and is not sent. Default: `["*"]`.
    pub allow_hosts: Vec<String>,
    /// The largest response body a fetch keeps, in bytes; a larger one
    /// gives `error.session.fetch` with `error` = `response.toolarge`.
    pub max_response_bytes: usize,
    /// The time limit of a fetch whose element gives no `timeout`, in
    /// milliseconds.
    pub timeout_ms: u64,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            allow_hosts: vec!["*".to_owned()],
            max_response_bytes: orsfetch::DEFAULT_MAX_RESPONSE_BYTES,
            timeout_ms: orsfetch::DEFAULT_TIMEOUT.as_millis() as u64,
        }
    }
}

impl FetchConfig {
    /// The executor's policy; an invalid host pattern is named.
    pub fn policy(&self) -> Result<orsfetch::Policy, ConfigError> {
        Ok(orsfetch::Policy {
            allow_hosts: orsfetch::HostList::parse(&self.allow_hosts)?,
            max_response_bytes: self.max_response_bytes,
            default_timeout: Duration::from_millis(self.timeout_ms),
        })
    }
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
    /// How long `POST /scxml/session/{id}/request/{name}` waits for the
    /// session's `<ws:response>`, in milliseconds; then 504.
    pub request_timeout_ms: u64,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file does not parse or has unknown keys.
    #[error("invalid configuration file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A `fetch.allow_hosts` entry is not a host pattern.
    #[error("invalid fetch.allow_hosts: {0}")]
    FetchHosts(#[from] orsfetch::HostPatternError),
    /// `public_url` is not an `http(s)` URL without a path.
    #[error("invalid public_url {0:?}: expected http(s)://host[:port]")]
    PublicUrl(String),
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
            journal_snapshot_every: 1000,
            public_url: None,
            database_url: None,
            limits: Limits::default(),
            fetch: FetchConfig::default(),
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
            request_timeout_ms: 30_000,
        }
    }
}

impl Config {
    /// Parses a TOML configuration; keys it leaves out keep their defaults.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    /// Checks what the types cannot: host patterns and the public URL.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.fetch.policy()?;
        self.base_url()?;
        Ok(())
    }

    /// The base URL sessions advertise (see [`Config::public_url`]).
    pub fn base_url(&self) -> Result<String, ConfigError> {
        if let Some(url) = &self.public_url {
            let bad = || ConfigError::PublicUrl(url.clone());
            let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
            let bare = matches!(parsed.scheme(), "http" | "https")
                && parsed.host_str().is_some()
                && matches!(parsed.path(), "" | "/")
                && parsed.query().is_none();
            if !bare {
                return Err(bad());
            }
            return Ok(url.trim_end_matches('/').to_owned());
        }
        let mut address = self.listen;
        if address.ip().is_unspecified() {
            let loopback: std::net::IpAddr = match address {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            };
            address.set_ip(loopback);
        }
        Ok(format!("http://{address}"))
    }

    /// Applies the `ORCA_*` variables among `vars`: `ORCA_LISTEN`,
    /// `ORCA_DATA_DIR`, `ORCA_WORKERS`, `ORCA_AUTH_TOKEN`,
    /// `ORCA_SHUTDOWN_TIMEOUT_MS`, `ORCA_MAX_BODY_BYTES`,
    /// `ORCA_MAX_DOCUMENT_BYTES`, `ORCA_MAX_SESSIONS`, `ORCA_MAILBOX_DEPTH`,
    /// `ORCA_WORKER_QUEUE`, `ORCA_REQUEST_TIMEOUT_MS`, `ORCA_JOURNAL`
    /// (`true`/`false`), `ORCA_JOURNAL_SNAPSHOT_EVERY`, `ORCA_PUBLIC_URL`, `ORCA_FETCH_ALLOW_HOSTS`
    /// (comma-separated; empty: no host), `ORCA_FETCH_MAX_RESPONSE_BYTES`,
    /// `ORCA_FETCH_TIMEOUT_MS`, `ORCA_DATABASE_URL`. Others
    /// are ignored.
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
                "REQUEST_TIMEOUT_MS" => limits.request_timeout_ms = parse(&name, &value)?,
                "JOURNAL" => self.journal = parse(&name, &value)?,
                "JOURNAL_SNAPSHOT_EVERY" => self.journal_snapshot_every = parse(&name, &value)?,
                "PUBLIC_URL" => self.public_url = Some(value).filter(|u| !u.is_empty()),
                "FETCH_ALLOW_HOSTS" => {
                    self.fetch.allow_hosts = value
                        .split(',')
                        .map(str::trim)
                        .filter(|h| !h.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                "FETCH_MAX_RESPONSE_BYTES" => {
                    self.fetch.max_response_bytes = parse(&name, &value)?;
                }
                "FETCH_TIMEOUT_MS" => self.fetch.timeout_ms = parse(&name, &value)?,
                "DATABASE_URL" => self.database_url = Some(value).filter(|u| !u.is_empty()),
                _ => {}
            }
        }
        self.check()
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

    /// [`Limits::request_timeout_ms`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.limits.request_timeout_ms)
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
        let mut config = Config::from_toml("journal_snapshot_every = 50\n").unwrap();
        assert_eq!(config.journal_snapshot_every, 50);
        assert_eq!(Config::default().journal_snapshot_every, 1000);
        config
            .apply_env([("ORCA_JOURNAL_SNAPSHOT_EVERY".to_owned(), "0".to_owned())])
            .unwrap();
        assert_eq!(config.journal_snapshot_every, 0);
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
    fn fetch_settings_and_the_public_url() {
        let config = Config::from_toml(
            "public_url = \"https://ors.example.com:8443/\"\n[fetch]\nallow_hosts = [\"*.corp.example\", \"127.0.0.1:9000\"]\nmax_response_bytes = 10\n",
        )
        .unwrap();
        let policy = config.fetch.policy().unwrap();
        assert_eq!(policy.max_response_bytes, 10);
        assert!(!policy.allow_hosts.allows_any());
        assert_eq!(config.base_url().unwrap(), "https://ors.example.com:8443");
        let mut config = Config::default();
        assert!(config.fetch.policy().unwrap().allow_hosts.allows_any());
        assert_eq!(config.base_url().unwrap(), "http://127.0.0.1:7080");
        config.listen = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(config.base_url().unwrap(), "http://127.0.0.1:9000");
        config
            .apply_env([
                (
                    "ORCA_FETCH_ALLOW_HOSTS".to_owned(),
                    "a.example, b.example".to_owned(),
                ),
                ("ORCA_REQUEST_TIMEOUT_MS".to_owned(), "250".to_owned()),
            ])
            .unwrap();
        assert_eq!(config.fetch.allow_hosts, ["a.example", "b.example"]);
        assert_eq!(config.request_timeout(), Duration::from_millis(250));
        config
            .apply_env([("ORCA_FETCH_ALLOW_HOSTS".to_owned(), String::new())])
            .unwrap();
        assert!(config.fetch.allow_hosts.is_empty());
    }

    #[test]
    fn bad_values_name_the_problem() {
        let error = Config::from_toml("[fetch]\nallow_hosts = [\"a/b\"]").unwrap_err();
        assert!(error.to_string().contains("a/b"), "{error}");
        let error = Config::from_toml("public_url = \"ftp://x\"").unwrap_err();
        assert!(error.to_string().contains("public_url"), "{error}");
        assert!(Config::from_toml("lisen = 1").is_err());
        let error = Config::default()
            .apply_env([("ORCA_MAX_SESSIONS".to_owned(), "many".to_owned())])
            .unwrap_err();
        assert!(error.to_string().contains("ORCA_MAX_SESSIONS"), "{error}");
    }
}
