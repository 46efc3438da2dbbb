//! [`Error`] as an HTTP response: a status code, a stable error code and a
//! message. Storage failures are logged here and answered without details.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::Error;

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

impl Error {
    /// The status code and the stable error code of the JSON body.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::MissingParameter(_) => (StatusCode::BAD_REQUEST, "missing_parameter"),
            Error::InvalidParameter { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            Error::InvalidBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            Error::InvalidField { .. } => (StatusCode::BAD_REQUEST, "invalid_field"),
            Error::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Error::UnknownRequest(_) => (StatusCode::BAD_REQUEST, "unknown_request"),
            Error::RequestNotForResource { .. } => {
                (StatusCode::BAD_REQUEST, "request_not_for_resource")
            }
            Error::CampaignNotFound(_) => (StatusCode::NOT_FOUND, "campaign_not_found"),
            Error::CallingListNotFound(_) => (StatusCode::NOT_FOUND, "calling_list_not_found"),
            Error::RecordNotFound(_) => (StatusCode::NOT_FOUND, "record_not_found"),
            Error::ChainNotFound { .. } => (StatusCode::NOT_FOUND, "chain_not_found"),
            Error::NameTaken { .. } => (StatusCode::CONFLICT, "name_taken"),
            Error::RecordFinal { .. } => (StatusCode::CONFLICT, "record_final"),
            Error::DoNotCall(_) => (StatusCode::CONFLICT, "do_not_call"),
            Error::NoSuchPath(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Error::Storage(e) if is_unavailable(e) => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
            }
            Error::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// Whether the database is only busy or away for now (worth a retry).
fn is_unavailable(error: &store::sqlx::Error) -> bool {
    use store::sqlx::Error as E;
    matches!(error, E::PoolTimedOut | E::PoolClosed | E::Io(_))
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if let Error::Storage(e) = &self {
            tracing::error!(error = %e, "outbound storage failed");
            "the outbound store failed; see the server log".to_owned()
        } else {
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
