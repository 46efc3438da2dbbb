//! The relational store behind Orca's enterprise services (Context Services
//! and the Outbound records API): one connection pool over SQLite (the
//! default, a file in the server's data directory) or PostgreSQL (when the
//! configuration gives a `postgres://` URL).
//!
//! Services write their SQL once, against [`sqlx::Any`], with `$1`-style
//! placeholders (both backends accept them) and column types both share:
//! `TEXT`, `BIGINT` (times as Unix milliseconds), `DOUBLE PRECISION`.
//! Where the two dialects differ, a service asks [`Store::backend`].
//!
//! Each service owns its schema: [`Schema`] is its ordered list of
//! migrations, applied by [`Store::migrate`] and recorded in a table of the
//! service's own, so that services evolve independently in one database.

#![warn(missing_docs, unreachable_pub)]

pub mod testing;

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, AssertSqlSafe, ConnectOptions, Executor, SqlSafeStr};

pub use sqlx;

/// Set on every SQLite connection (see [`Store::open`]).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

/// File name of the SQLite database in a data directory.
pub const SQLITE_FILE: &str = "services.db";

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL, over the network.
    Postgres,
}

/// Why the store cannot be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database URL {0:?}: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migrating {schema} failed: {source}")]
    Migrate {
        /// The schema's name.
        schema: &'static str,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
}

/// One migration of a [`Schema`]: the same change written for each backend.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Increasing version number.
    pub version: i64,
    /// What the step does.
    pub description: &'static str,
    /// The statements for SQLite.
    pub sqlite: &'static str,
    /// The statements for PostgreSQL.
    pub postgres: &'static str,
}

/// A service's schema: its name (which names its migrations table,
/// `_<name>_migrations`) and its steps in order.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// Short lowercase name, e.g. `cs`.
    pub name: &'static str,
    /// The migrations, oldest first.
    pub steps: &'static [Step],
}

/// A pool of connections to the services' database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

static DRIVERS: Once = Once::new();

impl Store {
    /// Opens the database at `url`: `sqlite://PATH` (created if missing) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        };
        let connect_error = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        let options = match backend {
            Backend::Sqlite => SqliteConnectOptions::from_str(url)
                .map_err(connect_error)?
                .create_if_missing(true)
                .to_url_lossy(),
            Backend::Postgres => url
                .parse()
                .map_err(|_| StoreError::UnsupportedUrl(redact(url)))?,
        };
        let options = AnyConnectOptions::from_url(&options).map_err(connect_error)?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            // The Any driver connects from a URL, which carries none of
            // SQLite's pragmas, so each connection sets them itself. WAL
            // lets readers run beside the one writer; NORMAL synchronous is
            // durable across process crashes in WAL mode; the busy timeout
            // makes writers queue instead of failing at once.
            pool_options = pool_options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        Ok(Store { pool, backend })
    }

    /// Opens (creating it if needed) the SQLite database [`SQLITE_FILE`] in
    /// `data_dir`.
    pub async fn open_in(data_dir: &Path, max_connections: u32) -> Result<Store, StoreError> {
        let url = format!("sqlite://{}", data_dir.join(SQLITE_FILE).display());
        Store::open(&url, max_connections).await
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the steps of `schema` not applied yet, each in a transaction.
    pub async fn migrate(&self, schema: &Schema) -> Result<(), StoreError> {
        let migrations = schema
            .steps
            .iter()
            .map(|step| {
                let sql = match self.backend {
                    Backend::Sqlite => step.sqlite,
                    Backend::Postgres => step.postgres,
                };
                Migration::new(
                    step.version,
                    Cow::Borrowed(step.description),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect();
        let mut migrator = Migrator::with_migrations(migrations);
        migrator.dangerous_set_table_name(format!("_{}_migrations", schema.name));
        migrator
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                schema: schema.name,
                source,
            })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A fresh random identifier: 32 lowercase hex digits (128 bits), the form
/// Context Services gives its resources.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS source failing is not recoverable in a useful way; fall
        // back to the clock and a counter so that ids stay unique.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes[..8].copy_from_slice(&now.to_le_bytes());
        bytes[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `url` with any password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_repeated_in_messages() {
        assert_eq!(
            redact("postgres://orca:secret@db:5432/orca"),
            "postgres://orca:***@db:5432/orca"
        );
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[test]
    fn ids_are_128_bit_hex() {
        let a = new_id();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_id());
    }
}
