//! The ORS session API (ors-dialect.md §4): start, event, request, query and
//! terminate, under `/scxml/session/`, with ORS's paths and field names.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use scxml::{Data, Event, Timestamp};
use serde::Serialize;
use serde_json::Value;

use super::params::Params;
use super::AppState;
use crate::error::ApiError;
use crate::runtime::StartRequest;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/scxml/session/start", post(start))
        .route("/scxml/session/{id}/event/{name}", post(event))
        .route("/scxml/session/{id}/request/{name}", post(request))
        .route("/scxml/session/{id}/query", get(query).post(query))
        .route("/scxml/session/{id}/terminate", post(terminate))
}

#[derive(Serialize)]
struct StartResponse {
    sessionid: String,
}

#[derive(Serialize)]
struct EventResponse {
    sessionid: String,
    event: String,
}

#[derive(Serialize)]
struct QueryResponse {
    sessionid: String,
    states: Vec<String>,
    data: Value,
}

/// A session's `<ws:response>` to a request.
#[derive(Serialize)]
struct RequestResponse {
    sessionid: String,
    /// The request id (`_event.sendid` in the session).
    requestid: String,
    /// `positive` or `negative`.
    #[serde(rename = "type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resultcode: Option<String>,
    /// The `<param>`s.
    params: Value,
}

#[derive(Serialize)]
struct TerminateResponse {
    sessionid: String,
}

/// `POST /scxml/session/start` (ORS `<session:start>` over HTTP): `src` is
/// required; `idealtime` (ms since the Unix epoch) schedules the start;
/// every other parameter sets the top-level `<data>` of the same id (ORS
/// `_type="parameter"`).
async fn start(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<StartResponse>, ApiError> {
    let mut src = None;
    let mut at = None;
    let mut data = Vec::new();
    for (name, value) in params.pairs {
        match name.as_str() {
            "src" => src = Some(string_parameter("src", value)?),
            "idealtime" => at = Some(idealtime(value)?),
            _ => data.push((name, Data::from(value))),
        }
    }
    let src = src
        .filter(|s| !s.is_empty())
        .ok_or(ApiError::MissingParameter("src"))?;
    let documents = Arc::clone(&state.documents);
    let name = src.clone();
    // Reading and parsing a document blocks; keep it off the async threads.
    let document = tokio::task::spawn_blocking(move || documents.load(&name))
        .await
        .map_err(|e| ApiError::Internal(format!("document loading panicked: {e}")))??;
    let sessionid = state
        .runtime
        .start(StartRequest {
            document,
            src,
            params: data,
            at,
        })
        .await?;
    Ok(Json(StartResponse { sessionid }))
}

/// `POST /scxml/session/{id}/event/{name}` (ORS: like a `<send>` of type
/// scxml): the parameters become `_event.data`. Answered once the event is
/// durable (journaled sessions) and the session has taken it, or, for a
/// session that is not journaled and is busy, once queued.
#[tracing::instrument(skip_all, fields(session = %id, event = %name))]
async fn event(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    params: Params,
) -> Result<Json<EventResponse>, ApiError> {
    check_event_name(&name)?;
    let event = Event::external(name.clone(), params.into_data());
    state.runtime.send_event(&id, event).await?;
    Ok(Json(EventResponse {
        sessionid: id,
        event: name,
    }))
}

/// `POST /scxml/session/{id}/request/{name}` (ORS: answered by the
/// session's `<ws:response requestid="_event.sendid">`): the parameters
/// become `_event.data` as for an event (a JSON body also as `param`, with
/// `paramtype`), `_event.sendid` is a fresh request id, and the answer is
/// the session's response, `200` whether `positive` or `negative` (the
/// body says which). No answer within the request time limit: 504; the
/// session ends without answering: 502.
#[tracing::instrument(skip_all, fields(session = %id, request = %name))]
async fn request(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    params: Params,
) -> Result<Json<RequestResponse>, ApiError> {
    check_event_name(&name)?;
    let event = Event::external(name, params.into_request_data());
    let answer = state.runtime.request(&id, event).await?;
    Ok(Json(RequestResponse {
        sessionid: id,
        requestid: answer.requestid,
        kind: answer.kind,
        resultcode: answer.resultcode,
        params: answer.params,
    }))
}

/// `GET|POST /scxml/session/{id}/query`: the active atomic states and the
/// data model as JSON.
#[tracing::instrument(skip_all, fields(session = %id))]
async fn query(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QueryResponse>, ApiError> {
    let snapshot = state.runtime.query(&id).await?;
    Ok(Json(QueryResponse {
        sessionid: id,
        states: snapshot.states,
        data: snapshot.data,
    }))
}

/// `POST /scxml/session/{id}/terminate` (ORS `<session:terminate>`): the
/// session exits, running its `<onexit>` handlers.
#[tracing::instrument(skip_all, fields(session = %id))]
async fn terminate(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TerminateResponse>, ApiError> {
    state.runtime.terminate(&id).await?;
    Ok(Json(TerminateResponse { sessionid: id }))
}

fn string_parameter(name: &str, value: Value) -> Result<String, ApiError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(ApiError::InvalidParameter {
            name: name.to_owned(),
            reason: format!("expected a string, got {other}"),
        }),
    }
}

/// `idealtime`: milliseconds since the Unix epoch, as a number or a string.
fn idealtime(value: Value) -> Result<Timestamp, ApiError> {
    let invalid = |reason: &str| ApiError::InvalidParameter {
        name: "idealtime".to_owned(),
        reason: reason.to_owned(),
    };
    let ms = match &value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    ms.map(Timestamp::from_millis)
        .ok_or_else(|| invalid("expected milliseconds since the Unix epoch"))
}

/// An event name is dot-separated tokens (SCXML 1.0 §3.12.1): no spaces and
/// no descriptor wildcards.
fn check_event_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name
            .split('.')
            .all(|t| !t.is_empty() && t.chars().all(|c| !c.is_whitespace() && c != '*'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::InvalidParameter {
            name: "name".to_owned(),
            reason: format!("{name:?} is not an event name"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_and_idealtimes_are_checked() {
        assert!(check_event_name("call.answered").is_ok());
        assert!(check_event_name("a..b").is_err());
        assert!(check_event_name("a b").is_err());
        assert!(check_event_name("error.*").is_err());
        assert_eq!(
            idealtime(Value::from("1700000000000")).ok(),
            Some(Timestamp::from_millis(1_700_000_000_000))
        );
        assert!(idealtime(Value::from(-5)).is_err());
        assert!(idealtime(Value::from("soon")).is_err());
    }
}
