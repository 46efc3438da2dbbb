//! The HTTP API: paths relative to the mount point (`orca serve` mounts it
//! at `/cs`), the documented methods, bodies and status codes, JSON errors
//! for everything including unknown paths and methods.

mod extract;
mod metadata;
mod profiles;
mod services;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::db::Db;
use crate::error::CsError;

/// What every handler shares.
type Shared = Arc<Db>;

/// The router of every operation, with its state applied.
pub(crate) fn router(db: Shared) -> Router {
    Router::new()
        // Profiles and identification.
        .route("/profiles", post(profiles::create).get(profiles::identify))
        .route("/profiles/", post(profiles::create).get(profiles::identify))
        .route(
            "/profiles/{customer_id}",
            get(profiles::get).put(profiles::update),
        )
        .route(
            "/profiles/{customer_id}/merge/{source_id}",
            put(profiles::merge),
        )
        // Metadata.
        .route(
            "/metadata/identification-keys",
            post(metadata::create_key).get(metadata::list_keys),
        )
        .route(
            "/metadata/identification-keys/",
            post(metadata::create_key).get(metadata::list_keys),
        )
        .route(
            "/metadata/identification-keys/{name}",
            get(metadata::get_key),
        )
        .route(
            "/metadata/{kind}/extensions",
            post(metadata::create_schema).get(metadata::list_schemas),
        )
        .route(
            "/metadata/{kind}/extensions/",
            post(metadata::create_schema).get(metadata::list_schemas),
        )
        .route(
            "/metadata/{kind}/extensions/{name}",
            get(metadata::get_schema),
        )
        // Services.
        .route("/services/start", post(services::start))
        .route("/services/{service_id}", get(services::get))
        .route("/services/{service_id}/end", post(services::complete))
        .route(
            "/services/anonymous/{contact_key}",
            get(services::anonymous_all),
        )
        .route(
            "/services/anonymous/{contact_key}/active",
            get(services::anonymous_active),
        )
        .route(
            "/services/anonymous/{contact_key}/completed",
            get(services::anonymous_completed),
        )
        .route(
            "/customers/{customer_id}/services",
            get(services::customer_all),
        )
        .route(
            "/customers/{customer_id}/services/active",
            get(services::customer_active),
        )
        .route(
            "/customers/{customer_id}/services/completed",
            get(services::customer_completed),
        )
        .route(
            "/customers/{customer_id}/services/{service_id}",
            post(services::associate),
        )
        // States.
        .route("/services/{service_id}/states", get(services::states_all))
        .route(
            "/services/{service_id}/states/active",
            get(services::states_active),
        )
        .route(
            "/services/{service_id}/states/completed",
            get(services::states_completed),
        )
        .route(
            "/services/{service_id}/states/start",
            post(services::start_state),
        )
        .route(
            "/services/{service_id}/states/transition",
            post(services::transition),
        )
        .route(
            "/services/{service_id}/states/{state_id}",
            get(services::get_state),
        )
        .route(
            "/service/{service_id}/states/{state_id}",
            get(services::get_state),
        )
        .route(
            "/services/{service_id}/states/{state_id}/end",
            post(services::complete_state),
        )
        // Tasks.
        .route(
            "/services/{service_id}/tasks/start",
            post(services::start_task),
        )
        .route(
            "/services/{service_id}/tasks/{task_id}",
            get(services::get_task),
        )
        .route(
            "/services/{service_id}/tasks/{task_id}/end",
            post(services::complete_task),
        )
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .with_state(db)
}

async fn unknown_path() -> CsError {
    CsError::NotFound("no such Context Services resource".to_owned())
}

async fn wrong_method() -> CsError {
    CsError::MethodNotAllowed
}

/// Path parameters, failing with a JSON 400.
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = CsError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, CsError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Params(value))
            .map_err(|rejection| CsError::BadRequest(rejection.body_text()))
    }
}

/// `201 Created` with a `Location` and a small JSON body.
pub(crate) fn created(location: String, body: Value) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}
