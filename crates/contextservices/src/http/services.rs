//! `/services`, `/customers/{id}/services`: services, states, tasks.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::extract::{Base, JsonObject, QueryPairs, Tenant};
use super::{created, Params, Shared};
use crate::error::CsError;
use crate::services::{self, parse_id, Filter, Owner, View};

/// The view the query asks for.
fn view(query: &QueryPairs) -> Result<View, CsError> {
    Ok(View {
        active_states: query.flag("active_states")?,
        completed_states: query.flag("completed_states")?,
        active_tasks: query.flag("active_tasks")?,
        completed_tasks: query.flag("completed_tasks")?,
        extensions: query.list("extensions"),
        state_types: query.list("state_types"),
    })
}

fn service_id(text: &str) -> Result<i64, CsError> {
    parse_id(text, "service_id")
}

/// `POST /services/start` → 201, `Location: …/services/{id}`,
/// `{"service_id": …}`.
pub(super) async fn start(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Base(base): Base,
    JsonObject(body): JsonObject,
) -> Result<Response, CsError> {
    let id = services::start_service(&db, &tenant, body).await?;
    Ok(created(
        format!("{base}/services/{id}"),
        json!({"service_id": id}),
    ))
}

/// `GET /services/{id}`.
pub(super) async fn get(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(id): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    let service = services::get_service(&db, &tenant, service_id(&id)?, &view(&query)?).await?;
    Ok(Json(service).into_response())
}

/// `POST /services/{id}/end` → 204.
pub(super) async fn complete(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(id): Params<String>,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, CsError> {
    services::complete_service(&db, &tenant, service_id(&id)?, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /customers/{customer_id}/services/{id}` → 204.
pub(super) async fn associate(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params((customer_id, id)): Params<(String, String)>,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, CsError> {
    services::associate(&db, &tenant, &customer_id, service_id(&id)?, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list(
    db: &Shared,
    tenant: &str,
    owner: Owner<'_>,
    filter: Filter,
    query: &QueryPairs,
) -> Result<Response, CsError> {
    let list = services::list_services(db, tenant, owner, filter, &view(query)?).await?;
    Ok(Json(list).into_response())
}

/// `GET /customers/{customer_id}/services`.
pub(super) async fn customer_all(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(customer_id): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    list(
        &db,
        &tenant,
        Owner::Customer(&customer_id),
        Filter::All,
        &query,
    )
    .await
}

/// `GET /customers/{customer_id}/services/active`.
pub(super) async fn customer_active(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(customer_id): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    list(
        &db,
        &tenant,
        Owner::Customer(&customer_id),
        Filter::Active,
        &query,
    )
    .await
}

/// `GET /customers/{customer_id}/services/completed`.
pub(super) async fn customer_completed(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(customer_id): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    list(
        &db,
        &tenant,
        Owner::Customer(&customer_id),
        Filter::Completed,
        &query,
    )
    .await
}

/// `GET /services/anonymous/{contact_key}`.
pub(super) async fn anonymous_all(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(contact_key): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    list(
        &db,
        &tenant,
        Owner::Contact(&contact_key),
        Filter::All,
        &query,
    )
    .await
}

/// `GET /services/anonymous/{contact_key}/active`.
pub(super) async fn anonymous_active(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(contact_key): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    list(
        &db,
        &tenant,
        Owner::Contact(&contact_key),
        Filter::Active,
        &query,
    )
    .await
}

/// `GET /services/anonymous/{contact_key}/completed`.
pub(super) async fn anonymous_completed(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(contact_key): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    list(
        &db,
        &tenant,
        Owner::Contact(&contact_key),
        Filter::Completed,
        &query,
    )
    .await
}

/// The `Location` of a state: `/service/{id}/states/{state_id}`, the form
/// seed 001 gives for the transition's answer (served by `GET` as well as
/// the `/services/…` form).
fn state_location(base: &str, service_id: i64, state_id: i64) -> String {
    format!("{base}/service/{service_id}/states/{state_id}")
}

/// `POST /services/{id}/states/start` → 201, `Location`, `{"state_id": …}`.
pub(super) async fn start_state(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Base(base): Base,
    Params(id): Params<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, CsError> {
    let service_id = service_id(&id)?;
    let state_id = services::start_state(&db, &tenant, service_id, body).await?;
    Ok(created(
        state_location(&base, service_id, state_id),
        json!({"state_id": state_id}),
    ))
}

/// `POST /services/{id}/states/transition` (seed 001) → 201,
/// `Location: …/service/{id}/states/{state_id}`, `{"state_id": …}`.
pub(super) async fn transition(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Base(base): Base,
    Params(id): Params<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, CsError> {
    let service_id = service_id(&id)?;
    let state_id = services::transition(&db, &tenant, service_id, body).await?;
    Ok(created(
        state_location(&base, service_id, state_id),
        json!({"state_id": state_id}),
    ))
}

/// `POST /services/{id}/states/{state_id}/end` → 204.
pub(super) async fn complete_state(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params((id, state)): Params<(String, String)>,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, CsError> {
    let state_id = parse_id(&state, "state_id")?;
    services::complete_state(&db, &tenant, service_id(&id)?, state_id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn states(
    db: &Shared,
    tenant: &str,
    id: &str,
    filter: Filter,
    query: &QueryPairs,
) -> Result<Response, CsError> {
    let list = services::list_states(db, tenant, service_id(id)?, filter, &view(query)?).await?;
    Ok(Json(list).into_response())
}

/// `GET /services/{id}/states`.
pub(super) async fn states_all(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(id): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    states(&db, &tenant, &id, Filter::All, &query).await
}

/// `GET /services/{id}/states/active`.
pub(super) async fn states_active(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(id): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    states(&db, &tenant, &id, Filter::Active, &query).await
}

/// `GET /services/{id}/states/completed`.
pub(super) async fn states_completed(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params(id): Params<String>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    states(&db, &tenant, &id, Filter::Completed, &query).await
}

/// `GET /services/{id}/states/{state_id}` and `GET /service/{id}/states/{state_id}`.
pub(super) async fn get_state(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params((id, state)): Params<(String, String)>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    let state_id = parse_id(&state, "state_id")?;
    let state =
        services::get_state(&db, &tenant, service_id(&id)?, state_id, &view(&query)?).await?;
    Ok(Json(state).into_response())
}

/// `POST /services/{id}/tasks/start` → 201,
/// `Location: …/services/{id}/tasks/{task_id}`, `{"task_id": …}`.
pub(super) async fn start_task(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Base(base): Base,
    Params(id): Params<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, CsError> {
    let service_id = service_id(&id)?;
    let task_id = services::start_task(&db, &tenant, service_id, body).await?;
    Ok(created(
        format!("{base}/services/{service_id}/tasks/{task_id}"),
        json!({"task_id": task_id}),
    ))
}

/// `GET /services/{id}/tasks/{task_id}`.
pub(super) async fn get_task(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params((id, task)): Params<(String, String)>,
    query: QueryPairs,
) -> Result<Response, CsError> {
    let task_id = parse_id(&task, "task_id")?;
    let task = services::get_task(&db, &tenant, service_id(&id)?, task_id, &view(&query)?).await?;
    Ok(Json(task).into_response())
}

/// `POST /services/{id}/tasks/{task_id}/end` → 204.
pub(super) async fn complete_task(
    State(db): State<Shared>,
    Tenant(tenant): Tenant,
    Params((id, task)): Params<(String, String)>,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, CsError> {
    let task_id = parse_id(&task, "task_id")?;
    services::complete_task(&db, &tenant, service_id(&id)?, task_id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}
