//! Creating an identification key: stored, then every existing profile of
//! the tenant indexed under it, in one transaction.
//!
//! Profiles written while a key is being created must not be missed. On
//! SQLite the writers are serialized anyway. On PostgreSQL the creation
//! holds a SHARE lock on `cs_profiles` until it commits: profile writers
//! (whose first statement writes their profile row, taking ROW EXCLUSIVE)
//! wait for it and then read the keys including the new one, and writers
//! that got there first are waited for and their profiles backfilled.

use serde_json::{Map, Value};
use store::sqlx::{self, Row};
use store::Backend;

use crate::db::{parse_json, Db};
use crate::error::{is_unique_violation, CsError};
use crate::identity;
use crate::profiles::{add_identity, load_records};
use crate::schema::{IdKey, KeySource, Kind};
use crate::time::now_ms;

/// Profiles read per page while backfilling.
const PAGE: i64 = 1000;

/// `POST /metadata/identification-keys`: creates the key; the key as stored.
pub(crate) async fn create(
    db: &Db,
    tenant: &str,
    body: &Map<String, Value>,
) -> Result<IdKey, CsError> {
    let mut key = IdKey::parse(body).map_err(CsError::BadRequest)?;
    if let KeySource::Extension(name) = &key.source {
        let schema = db.require_schema(tenant, Kind::Profiles, name).await?;
        if let Some(missing) = key.attributes.iter().find(|a| !schema.has_attribute(a)) {
            return Err(CsError::BadRequest(format!(
                "extension {} has no attribute {missing:?}",
                schema.name
            )));
        }
        key.source_name = Some(schema.name.clone());
    }
    let mut tx = db.write().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("LOCK TABLE cs_profiles IN SHARE MODE")
            .execute(tx.conn())
            .await?;
    }
    let inserted = sqlx::query(
        "INSERT INTO cs_identification_keys (tenant, name_key, body, created_ms) \
         VALUES ($1, $2, $3, $4) RETURNING key_id",
    )
    .bind(tenant)
    .bind(key.name.to_ascii_lowercase())
    .bind(key.to_json().to_string())
    .bind(now_ms())
    .fetch_one(tx.conn())
    .await;
    key.id = match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(CsError::Forbidden(format!(
                "an identification key named {:?} already exists",
                key.name
            )))
        }
        Err(e) => return Err(e.into()),
        Ok(row) => row.try_get(0)?,
    };
    let mut after = String::new();
    loop {
        let rows = sqlx::query(
            "SELECT customer_id, attributes FROM cs_profiles WHERE tenant = $1 AND customer_id > $2 \
             ORDER BY customer_id LIMIT $3",
        )
        .bind(tenant)
        .bind(&after)
        .bind(PAGE)
        .fetch_all(tx.conn())
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        for row in &rows {
            let customer_id: String = row.try_get(0)?;
            let Value::Object(attributes) =
                parse_json(&row.try_get::<String, _>(1)?, "profile attributes")?
            else {
                return Err(CsError::Corrupt(
                    "profile attributes: not an object".to_owned(),
                ));
            };
            let records = match key.source {
                KeySource::Profile => Default::default(),
                KeySource::Extension(_) => load_records(tx.conn(), tenant, &customer_id).await?,
            };
            for value in identity::key_values(&key, &attributes, &records) {
                add_identity(tx.conn(), tenant, &key, &value, &customer_id).await?;
            }
        }
    }
    tx.commit().await?;
    db.forget_keys(tenant);
    Ok(key)
}

/// Every identification key of the tenant, oldest first (read from the
/// database, not the identification cache).
pub(crate) async fn list(db: &Db, tenant: &str) -> Result<Vec<IdKey>, CsError> {
    let mut conn = db.pool().acquire().await?;
    crate::db::load_keys(&mut conn, tenant).await
}
