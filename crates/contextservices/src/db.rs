//! The database side shared by every resource: write transactions that
//! behave the same on both backends, and the metadata (extension schemas,
//! identification keys) with the caches that keep it off the hot paths.
//!
//! **Writers.** SQLite has one writer at a time. A transaction that reads
//! and then writes can fail at the write if another writer committed in
//! between, and writers that find the lock taken sleep in the busy handler
//! (in steps of up to 100 ms). So on SQLite every write transaction starts
//! with `BEGIN IMMEDIATE` (it takes the write lock first) and writers of
//! this process queue on an async mutex before asking for it, which keeps
//! the busy handler for other processes only. PostgreSQL runs writers
//! concurrently under row locks; statements are written so that the row
//! they change is what decides (`UPDATE … WHERE completed_ms IS NULL`),
//! never a read made earlier.
//!
//! **Metadata caches.** Schemas are never changed once created, so a schema
//! found stays valid: it is cached for good, and a miss asks the database.
//! Identification keys can be added at any time; writers read them inside
//! their transaction (see `profiles`), and identification reads them from a
//! cache refreshed every [`KEY_CACHE_TTL`] (at once for keys this process
//! creates).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use store::sqlx::{self, Any, AnyConnection, Row, Transaction};
use store::{Backend, Store};
use tokio::sync::OwnedMutexGuard;

use crate::error::{is_unique_violation, CsError};
use crate::schema::{ExtensionSchema, IdKey, Kind};
use crate::time::now_ms;

/// How long identification may use keys read from the database before
/// reading them again (keys another process created show up within it).
pub(crate) const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// A tenant's identification keys, as read at an instant.
type KeysRead = (Instant, Arc<Vec<IdKey>>);

/// The store plus what this process keeps beside it.
pub(crate) struct Db {
    store: Store,
    /// SQLite only: one writer of this process at a time.
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
    schemas: Mutex<HashMap<(String, Kind, String), Arc<ExtensionSchema>>>,
    keys: Mutex<HashMap<String, KeysRead>>,
}

/// A write transaction (and, on SQLite, this process's write turn).
pub(crate) struct WriteTx {
    tx: Transaction<'static, Any>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// The transaction's connection, to run statements on.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Commits; dropping a `WriteTx` instead rolls back.
    pub(crate) async fn commit(self) -> Result<(), CsError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Decodes a stored JSON text.
pub(crate) fn parse_json(text: &str, what: &str) -> Result<Value, CsError> {
    serde_json::from_str(text).map_err(|e| CsError::Corrupt(format!("{what}: {e}")))
}

impl Db {
    pub(crate) fn new(store: Store) -> Db {
        let write_gate = match store.backend() {
            Backend::Sqlite => Some(Arc::new(tokio::sync::Mutex::new(()))),
            Backend::Postgres => None,
        };
        Db {
            store,
            write_gate,
            schemas: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        self.store.pool()
    }

    pub(crate) fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Starts a write transaction (see the module notes).
    pub(crate) async fn write(&self) -> Result<WriteTx, CsError> {
        match &self.write_gate {
            Some(gate) => {
                let turn = Arc::clone(gate).lock_owned().await;
                let tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _turn: Some(turn),
                })
            }
            None => Ok(WriteTx {
                tx: self.pool().begin().await?,
                _turn: None,
            }),
        }
    }

    // ---- extension schemas ----

    /// The schema of extension `name` (any case) of `kind`, if created.
    pub(crate) async fn schema(
        &self,
        tenant: &str,
        kind: Kind,
        name: &str,
    ) -> Result<Option<Arc<ExtensionSchema>>, CsError> {
        let cache_key = (tenant.to_owned(), kind, name.to_ascii_lowercase());
        if let Some(found) = self.cached_schema(&cache_key) {
            return Ok(Some(found));
        }
        let row = sqlx::query(
            "SELECT body FROM cs_extension_schemas WHERE tenant = $1 AND kind = $2 AND name_key = $3",
        )
        .bind(tenant)
        .bind(kind.as_str())
        .bind(&cache_key.2)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let schema = Arc::new(decode_schema(&row.try_get::<String, _>(0)?)?);
        if let Ok(mut cache) = self.schemas.lock() {
            cache.insert(cache_key, Arc::clone(&schema));
        }
        Ok(Some(schema))
    }

    fn cached_schema(&self, key: &(String, Kind, String)) -> Option<Arc<ExtensionSchema>> {
        self.schemas.lock().ok()?.get(key).cloned()
    }

    /// The schema of `name`, or the 403 the public API gives for an
    /// extension used before its schema exists.
    pub(crate) async fn require_schema(
        &self,
        tenant: &str,
        kind: Kind,
        name: &str,
    ) -> Result<Arc<ExtensionSchema>, CsError> {
        self.schema(tenant, kind, name).await?.ok_or_else(|| {
            CsError::Forbidden(format!(
                "no {} extension schema named {name:?}: create it with POST /metadata/{}/extensions first",
                singular(kind),
                kind.as_str()
            ))
        })
    }

    /// Every schema of `kind`, by name.
    pub(crate) async fn schemas(
        &self,
        tenant: &str,
        kind: Kind,
    ) -> Result<Vec<ExtensionSchema>, CsError> {
        let rows = sqlx::query(
            "SELECT body FROM cs_extension_schemas WHERE tenant = $1 AND kind = $2 ORDER BY name_key",
        )
        .bind(tenant)
        .bind(kind.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| decode_schema(&row.try_get::<String, _>(0)?))
            .collect()
    }

    /// Stores a new schema; 403 when the name (in any case) is taken.
    pub(crate) async fn create_schema(
        &self,
        tenant: &str,
        kind: Kind,
        schema: &ExtensionSchema,
    ) -> Result<(), CsError> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO cs_extension_schemas (tenant, kind, name_key, body, created_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant)
        .bind(kind.as_str())
        .bind(schema.name.to_ascii_lowercase())
        .bind(schema.to_json().to_string())
        .bind(now_ms())
        .execute(tx.conn())
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => Err(CsError::Forbidden(format!(
                "a {} extension schema named {:?} already exists",
                singular(kind),
                schema.name
            ))),
            Err(e) => Err(e.into()),
            Ok(_) => tx.commit().await,
        }
    }

    // ---- identification keys ----

    /// The tenant's keys, in id order, as identification sees them (cached).
    pub(crate) async fn keys_cached(&self, tenant: &str) -> Result<Arc<Vec<IdKey>>, CsError> {
        if let Ok(cache) = self.keys.lock() {
            if let Some((read, keys)) = cache.get(tenant) {
                if read.elapsed() < KEY_CACHE_TTL {
                    return Ok(Arc::clone(keys));
                }
            }
        }
        let read = Instant::now();
        let mut conn = self.pool().acquire().await?;
        let keys = Arc::new(load_keys(&mut conn, tenant).await?);
        if let Ok(mut cache) = self.keys.lock() {
            cache.insert(tenant.to_owned(), (read, Arc::clone(&keys)));
        }
        Ok(keys)
    }

    /// Forgets the cached keys of `tenant`.
    pub(crate) fn forget_keys(&self, tenant: &str) {
        if let Ok(mut cache) = self.keys.lock() {
            cache.remove(tenant);
        }
    }
}

/// `profile`, `service`, `state` or `task`, for messages.
pub(crate) fn singular(kind: Kind) -> &'static str {
    match kind {
        Kind::Profiles => "profile",
        Kind::Services => "service",
        Kind::States => "state",
        Kind::Tasks => "task",
    }
}

fn decode_schema(text: &str) -> Result<ExtensionSchema, CsError> {
    match parse_json(text, "extension schema")? {
        Value::Object(map) => ExtensionSchema::parse(&map)
            .map_err(|e| CsError::Corrupt(format!("extension schema: {e}"))),
        _ => Err(CsError::Corrupt(
            "extension schema: not an object".to_owned(),
        )),
    }
}

/// The tenant's identification keys in id order, read on `conn` (inside a
/// writer's transaction, so that the writer indexes every key committed
/// before it).
pub(crate) async fn load_keys(
    conn: &mut AnyConnection,
    tenant: &str,
) -> Result<Vec<IdKey>, CsError> {
    let rows = sqlx::query(
        "SELECT key_id, body FROM cs_identification_keys WHERE tenant = $1 ORDER BY key_id",
    )
    .bind(tenant)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get(0)?;
            let body: String = row.try_get(1)?;
            let Value::Object(map) = parse_json(&body, "identification key")? else {
                return Err(CsError::Corrupt(
                    "identification key: not an object".to_owned(),
                ));
            };
            let mut key = IdKey::parse(&map)
                .map_err(|e| CsError::Corrupt(format!("identification key: {e}")))?;
            key.id = id;
            Ok(key)
        })
        .collect()
}
