//! Operations endpoints: liveness, readiness, Prometheus metrics and the
//! OpenAPI document of the whole API.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

/// The OpenAPI 3.1 document, written by hand next to this crate's sources.
pub(crate) const OPENAPI: &str = include_str!("../../openapi.json");

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// `GET /health`: the process is up.
async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: the server takes new sessions (not while shutting down)
/// and every journaled session is back (not while recovering).
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if !state.runtime.is_accepting() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "shutting_down"})),
        )
    } else if !state.runtime.is_recovered() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "recovering"})),
        )
    } else {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    }
}

/// `GET /metrics`: Prometheus text exposition (OpenMetrics).
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// `GET /openapi.json`: the document, with the enterprise services' paths
/// when they run.
async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    if state.store.is_none() {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            OPENAPI.to_owned(),
        );
    }
    let document = match serde_json::from_str(OPENAPI) {
        Ok(document) => crate::services::document_with_services(document),
        // The document is part of the binary and checked by the tests.
        Err(_) => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                OPENAPI.to_owned(),
            )
        }
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.to_string(),
    )
}
