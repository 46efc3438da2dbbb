//! Receiving: the access URIs of sessions as an axum router (App. C.2).
//!
//! `POST {PATH}/{sessionid}` decodes the request into an event
//! ([`crate::codec::decode`]) and hands it to a [`Deliver`], which queues it
//! for the session; the client then gets `200 OK`, after the event is queued
//! and before it is processed (App. C.2; test 513). A session the host does
//! not know gets 404, a request that is no event 400, both with a JSON body
//! `{"error": "..."}`. Other methods get 405.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use scxml::Event;

use crate::codec::{decode, DecodeError};

/// The path under which every session has its access URI:
/// `{PATH}/{sessionid}`.
pub const PATH: &str = "/basichttp";

/// The access URI of session `session` on a receiver served at `base`
/// (`http://host:port`, or a public URL the receiver is reached through).
pub fn access_uri(base: &str, session: &str) -> String {
    format!(
        "{}{PATH}/{}",
        base.trim_end_matches('/'),
        crate::codec::percent_encode(session)
    )
}

/// Where received events go.
pub trait Deliver: Send + Sync + 'static {
    /// Queues `event` for the session `session`; [`Unknown`] if there is no
    /// such session.
    fn deliver(&self, session: &str, event: Event) -> Result<(), Unknown>;
}

impl<F> Deliver for F
where
    F: Fn(&str, Event) -> Result<(), Unknown> + Send + Sync + 'static,
{
    fn deliver(&self, session: &str, event: Event) -> Result<(), Unknown> {
        self(session, event)
    }
}

/// The session named in a request does not exist (or has ended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unknown;

/// Why a POST was not taken.
#[derive(Debug, thiserror::Error)]
enum ReceiveError {
    #[error("no session {0:?}")]
    NoSession(String),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl IntoResponse for ReceiveError {
    fn into_response(self) -> Response {
        let status = match self {
            ReceiveError::NoSession(_) => StatusCode::NOT_FOUND,
            ReceiveError::Decode(_) => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({ "error": self.to_string() });
        (status, Json(body)).into_response()
    }
}

/// The routes of the access URIs, to serve alone or merged into a server.
pub fn router(deliver: Arc<dyn Deliver>) -> Router {
    Router::new()
        .route(&format!("{PATH}/{{session}}"), post(receive))
        .with_state(deliver)
}

/// The Basic HTTP Event I/O Processor's access URI (SCXML 1.0 App. C.2).
async fn receive(
    State(deliver): State<Arc<dyn Deliver>>,
    Path(session): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ReceiveError> {
    let event = decode(&method, &uri, &headers, &body)?;
    deliver
        .deliver(&session, event)
        .map_err(|Unknown| ReceiveError::NoSession(session))?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    type Received = Arc<Mutex<Vec<(String, Event)>>>;

    fn app() -> (Router, Received) {
        let received: Received = Arc::default();
        let sink = Arc::clone(&received);
        let deliver = move |session: &str, event: Event| {
            if session != "1" {
                return Err(Unknown);
            }
            sink.lock().unwrap().push((session.to_owned(), event));
            Ok(())
        };
        (router(Arc::new(deliver)), received)
    }

    fn request(method: &str, uri: &str, body: &'static str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn a_post_is_queued_then_answered_200() {
        let (app, received) = app();
        let response = app
            .oneshot(request("POST", "/basichttp/1", "_scxmleventname=go&a=1"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let received = received.lock().unwrap();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].1.name, "go");
    }

    #[tokio::test]
    async fn unknown_sessions_bad_bodies_and_other_methods_are_refused() {
        let (app, received) = app();
        let response = app
            .clone()
            .oneshot(request("POST", "/basichttp/2", "a=1"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"error":"no session \"2\""}"#);

        let bad = Request::builder()
            .method("POST")
            .uri("/basichttp/1")
            .header("content-type", "application/json")
            .body(Body::from("{"))
            .unwrap();
        let response = app.clone().oneshot(bad).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        let response = app
            .oneshot(request("GET", "/basichttp/1", ""))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(received.lock().unwrap().is_empty());
    }
}
