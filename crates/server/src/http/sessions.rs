//! Session listing, an Orca addition to the ORS API: `GET /sessions`,
//! `GET /sessions/{id}` and `GET /sessions/{id}/trace` (the session's
//! journal replayed, one entry per input).

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::error::ApiError;
use crate::runtime::{Filter, SessionInfo, Status, TraceRecord};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/sessions", get(list))
        .route("/sessions/{id}", get(one))
        .route("/sessions/{id}/trace", get(trace))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<Status>,
    state: Option<String>,
    document: Option<String>,
}

#[derive(Serialize)]
struct ListResponse {
    sessions: Vec<SessionInfo>,
}

/// `GET /sessions?status=&state=&document=`: the sessions of the server
/// (running, scheduled, and recently ended), oldest first.
async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidParameter {
        name: "query".to_owned(),
        reason: e.body_text(),
    })?;
    let filter = Filter {
        status: query.status,
        state: query.state,
        document: query.document,
    };
    let sessions = state.runtime.list(filter).await?;
    Ok(Json(ListResponse { sessions }))
}

/// `GET /sessions/{id}`.
async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    Ok(Json(state.runtime.info(&id).await?))
}

/// `GET /sessions/{id}/trace`: replays the session's journal (nothing is
/// performed again) and answers its trace as a JSON array of the records
/// `orca replay` prints as lines; 404 when the session is not journaled.
async fn trace(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<TraceRecord>>, ApiError> {
    Ok(Json(state.runtime.trace(&id).await?))
}
