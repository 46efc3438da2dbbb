//! The one error type of the HTTP API, mapped to a status code and a JSON
//! body `{"error": "<code>", "message": "<what went wrong>"}`.
//!
//! Internal failures are logged here and answered without their details.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::document::DocumentSourceError;
use crate::runtime::SessionError;

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A required parameter is missing.
    #[error("missing parameter {0:?}")]
    MissingParameter(&'static str),
    /// A parameter has a value of the wrong form.
    #[error("invalid parameter {name:?}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The body cannot be read as the content type says.
    #[error("invalid body: {0}")]
    InvalidBody(String),
    /// The body is larger than the limit.
    #[error("the request body is larger than the limit")]
    BodyTooLarge,
    /// The document of a start cannot be had.
    #[error(transparent)]
    Document(#[from] DocumentSourceError),
    /// The runtime refused.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The bearer token is missing or wrong.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// A failure of the server itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The status code and the stable error code of the JSON body.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        use SessionError as S;
        match self {
            ApiError::MissingParameter(_) => (StatusCode::BAD_REQUEST, "missing_parameter"),
            ApiError::InvalidParameter { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            ApiError::InvalidBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            ApiError::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::Document(e) => e.status_and_code(),
            ApiError::Session(e) => match e {
                S::NotFound(_) => (StatusCode::NOT_FOUND, "session_not_found"),
                S::Ended(_) => (StatusCode::GONE, "session_ended"),
                S::MailboxFull(_) => (StatusCode::SERVICE_UNAVAILABLE, "mailbox_full"),
                S::Busy => (StatusCode::SERVICE_UNAVAILABLE, "server_busy"),
                S::SessionLimit(_) => (StatusCode::SERVICE_UNAVAILABLE, "session_limit"),
                S::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
                S::StartFailed(_) => (StatusCode::UNPROCESSABLE_ENTITY, "start_failed"),
                // The session is the upstream of a request: like a gateway
                // whose upstream did not answer (RFC 9110 §15.6.3, §15.6.5).
                S::RequestTimeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "request_timeout"),
                S::Unanswered(_) => (StatusCode::BAD_GATEWAY, "request_unanswered"),
            },
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if matches!(self, ApiError::Internal(_)) {
            tracing::error!("{self}");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut response =
            (status, Json(json!({"error": code, "message": message}))).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
