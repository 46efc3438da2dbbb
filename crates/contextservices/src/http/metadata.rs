//! `/metadata`: extension schemas of the four kinds, identification keys.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::extract::{Base, JsonObject, Tenant};
use super::{created, Params, Shared};
use crate::db::singular;
use crate::error::CsError;
use crate::keys;
use crate::schema::{ExtensionSchema, Kind};

fn kind(segment: &str) -> Result<Kind, CsError> {
    Kind::parse(segment).ok_or_else(|| {
        CsError::NotFound(format!(
            "no extension kind {segment:?}: profiles, services, states or tasks"
        ))
    })
}

/// `POST /metadata/{kind}/extensions` → 201,
/// `Location: …/metadata/{kind}/extensions/{name}`, `{"name": …}`.
pub(super) async fn create_schema(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Base(base): Base,
    Params(segment): Params<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, CsError> {
    let kind = kind(&segment)?;
    let schema = ExtensionSchema::parse(&body).map_err(CsError::BadRequest)?;
    db.create_schema(&tenant, kind, &schema).await?;
    Ok(created(
        format!(
            "{base}/metadata/{}/extensions/{}",
            kind.as_str(),
            schema.name
        ),
        json!({"name": schema.name}),
    ))
}

/// `GET /metadata/{kind}/extensions` → every schema of the kind.
pub(super) async fn list_schemas(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(segment): Params<String>,
) -> Result<Response, CsError> {
    let schemas = db.schemas(&tenant, kind(&segment)?).await?;
    let list: Vec<Value> = schemas.iter().map(ExtensionSchema::to_json).collect();
    Ok(Json(list).into_response())
}

/// `GET /metadata/{kind}/extensions/{name}` (any case).
pub(super) async fn get_schema(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params((segment, name)): Params<(String, String)>,
) -> Result<Response, CsError> {
    let kind = kind(&segment)?;
    let schema = db.schema(&tenant, kind, &name).await?.ok_or_else(|| {
        CsError::NotFound(format!(
            "no {} extension schema named {name:?}",
            singular(kind)
        ))
    })?;
    Ok(Json(schema.to_json()).into_response())
}

/// `POST /metadata/identification-keys` → 201,
/// `Location: …/metadata/identification-keys/{name}`, `{"name": …}`.
pub(super) async fn create_key(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Base(base): Base,
    JsonObject(body): JsonObject,
) -> Result<Response, CsError> {
    let key = keys::create(&db, &tenant, &body).await?;
    Ok(created(
        format!("{base}/metadata/identification-keys/{}", key.name),
        json!({"name": key.name}),
    ))
}

/// `GET /metadata/identification-keys` → every key, oldest first.
pub(super) async fn list_keys(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
) -> Result<Response, CsError> {
    let keys = keys::list(&db, &tenant).await?;
    let list: Vec<Value> = keys.iter().map(|k| k.to_json()).collect();
    Ok(Json(list).into_response())
}

/// `GET /metadata/identification-keys/{name}` (any case).
pub(super) async fn get_key(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(name): Params<String>,
) -> Result<Response, CsError> {
    let keys = keys::list(&db, &tenant).await?;
    let key = keys
        .iter()
        .find(|k| k.name.eq_ignore_ascii_case(&name))
        .ok_or_else(|| CsError::NotFound(format!("no identification key named {name:?}")))?;
    Ok(Json(key.to_json()).into_response())
}
