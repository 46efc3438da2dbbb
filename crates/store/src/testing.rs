//! Stores for tests: every test gets a database of its own on each backend
//! available, so that the same test body runs on SQLite and PostgreSQL and
//! tests running in parallel never see each other's rows.
//!
//! SQLite is always available (a fresh file under the system temp
//! directory). PostgreSQL is used when `ORCA_TEST_POSTGRES_URL` names a
//! server (e.g. `postgres://orca:orca@127.0.0.1:5432/orca_test`); each test
//! then gets a fresh schema there, found first on its `search_path`.
//! `ORCA_TEST_POSTGRES_REQUIRED=1` (set by CI) turns a missing or
//! unreachable PostgreSQL into a test failure instead of a skip.

use std::path::PathBuf;

use sqlx::{AssertSqlSafe, Executor};

use crate::{new_id, Backend, Store, StoreError};

/// Variable naming the PostgreSQL server tests use.
pub const POSTGRES_URL_VAR: &str = "ORCA_TEST_POSTGRES_URL";
/// Variable that makes PostgreSQL mandatory for tests.
pub const POSTGRES_REQUIRED_VAR: &str = "ORCA_TEST_POSTGRES_REQUIRED";

/// A store made for one test. Its SQLite file is removed on drop; its
/// PostgreSQL schema is left for [`TestStore::cleanup`] (a drop cannot
/// wait for the server).
#[derive(Debug)]
pub struct TestStore {
    /// The store.
    pub store: Store,
    /// The URL it was opened with (to open it again, e.g. from a server
    /// under test).
    pub url: String,
    file: Option<PathBuf>,
    schema: Option<(String, String)>,
}

impl TestStore {
    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Closes the pool and removes the test's database.
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some((admin_url, schema)) = &self.schema {
            if let Ok(admin) = Store::open(admin_url, 1).await {
                let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                let _ = admin.pool().execute(AssertSqlSafe(drop)).await;
                admin.close().await;
            }
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// A fresh SQLite store in a temporary file.
pub async fn sqlite() -> Result<TestStore, StoreError> {
    let file = std::env::temp_dir().join(format!("orca-test-{}.db", new_id()));
    let url = format!("sqlite://{}", file.display());
    let store = Store::open(&url, 8).await?;
    Ok(TestStore {
        store,
        url,
        file: Some(file),
        schema: None,
    })
}

/// A fresh schema on the PostgreSQL server of `ORCA_TEST_POSTGRES_URL`, or
/// `None` when the variable is unset (a failure instead when
/// `ORCA_TEST_POSTGRES_REQUIRED=1`).
pub async fn postgres() -> Result<Option<TestStore>, StoreError> {
    let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
        if std::env::var(POSTGRES_REQUIRED_VAR).is_ok_and(|v| v == "1") {
            return Err(StoreError::UnsupportedUrl(format!(
                "{POSTGRES_URL_VAR} is unset but {POSTGRES_REQUIRED_VAR}=1"
            )));
        }
        return Ok(None);
    };
    let schema = format!("t_{}", new_id());
    let admin = Store::open(&admin_url, 1).await?;
    admin
        .pool()
        .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .map_err(|source| StoreError::Connect {
            url: crate::redact(&admin_url),
            source,
        })?;
    admin.close().await;
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
    let store = Store::open(&url, 8).await?;
    Ok(Some(TestStore {
        store,
        url,
        file: None,
        schema: Some((admin_url, schema)),
    }))
}

/// One fresh store per available backend: SQLite always, PostgreSQL when
/// configured.
pub async fn all() -> Result<Vec<TestStore>, StoreError> {
    let mut stores = vec![sqlite().await?];
    if let Some(pg) = postgres().await? {
        stores.push(pg);
    }
    Ok(stores)
}
