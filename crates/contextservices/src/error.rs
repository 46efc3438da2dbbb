//! The one error type of Context Services, answered as a status code and a
//! JSON body `{"error": "<code>", "message": "<what went wrong>"}` (the
//! public API puts an application-specific description in every 4xx/5xx
//! body: ors-dialect.md §6, "HTTP codes").
//!
//! The codes follow the documented table: 400 for a bad parameter or body,
//! 403 for an operation refused for a stated reason (an extension without a
//! schema, a unique key already taken, a completed service), 404 for an
//! unknown resource. Database failures are logged here and answered without
//! their details.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use store::sqlx;

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// Everything a Context Services request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CsError {
    /// A parameter or a body field is missing or malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The `ContactCenterId` header does not name a tenant.
    #[error("Invalid tenant specified: {0}")]
    InvalidTenant(String),
    /// The request is well-formed but refused; the message says why.
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist (in this tenant).
    #[error("{0}")]
    NotFound(String),
    /// No route has this method.
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    /// The body is larger than the server's limit.
    #[error("the request body is larger than the limit")]
    BodyTooLarge,
    /// The database is saturated (no connection in time, a lock wait gave
    /// up, a deadlock was broken): worth retrying.
    #[error("the database is busy: {0}")]
    Busy(String),
    /// A failure of the database itself.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// Stored data that cannot be read back (a bug or a hand-edited row).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for CsError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut => CsError::Busy("no database connection free".to_owned()),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // PostgreSQL: serialization failure, deadlock broken.
                Some("40001" | "40P01") => CsError::Busy(db.message().to_owned()),
                // SQLite: SQLITE_BUSY (and its extended codes) and
                // SQLITE_LOCKED, after the busy timeout.
                Some("5" | "6" | "261" | "517" | "773") => CsError::Busy(db.message().to_owned()),
                _ => CsError::Database(error),
            },
            _ => CsError::Database(error),
        }
    }
}

impl CsError {
    /// The status code and the stable error code of the JSON body.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            CsError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            CsError::InvalidTenant(_) => (StatusCode::BAD_REQUEST, "invalid_tenant"),
            CsError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            CsError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            CsError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            CsError::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            CsError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            CsError::Database(_) | CsError::Corrupt(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

/// Whether `error` is the violation of a primary key or unique index.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl IntoResponse for CsError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("context services: {self}");
            "internal error".to_owned()
        } else {
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::warn!("context services: {self}");
            }
            self.to_string()
        };
        let mut response =
            (status, Json(json!({"error": code, "message": message}))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}
