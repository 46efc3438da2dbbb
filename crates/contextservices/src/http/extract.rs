//! What handlers take from a request: the tenant, the mount point (for
//! `Location` headers), the query pairs and a JSON object body, each
//! failing with a JSON [`CsError`] rather than axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::error::CsError;

/// The header naming the tenant (ors-dialect.md §6: `ContactCenterId`,
/// the tenant's DBID or name; without it the deployment is single-tenant).
pub(crate) const TENANT_HEADER: &str = "contactcenterid";

/// Longest tenant name accepted.
const MAX_TENANT_CHARS: usize = 64;

/// The tenant a request works in: the `ContactCenterId` header, or `""`
/// (the single tenant) when it is absent. Every row is scoped by it.
#[derive(Debug, Clone)]
pub(crate) struct Tenant(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = CsError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, CsError> {
        let Some(value) = parts.headers.get(TENANT_HEADER) else {
            return Ok(Tenant(String::new()));
        };
        let text = value
            .to_str()
            .map_err(|_| CsError::InvalidTenant("the ContactCenterId is not ASCII".to_owned()))?
            .trim();
        if text.is_empty() || text.chars().count() > MAX_TENANT_CHARS {
            return Err(CsError::InvalidTenant(format!(
                "the ContactCenterId must have 1 to {MAX_TENANT_CHARS} characters"
            )));
        }
        if text.chars().any(|c| c.is_control()) {
            return Err(CsError::InvalidTenant(
                "the ContactCenterId has control characters".to_owned(),
            ));
        }
        Ok(Tenant(text.to_owned()))
    }
}

/// The path this router is mounted at (`/cs` under `orca serve`, `""` when
/// the router serves the root): the original path minus the routed one.
#[derive(Debug, Clone)]
pub(crate) struct Base(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = CsError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, CsError> {
        let routed = parts.uri.path().to_owned();
        let OriginalUri(original) = match OriginalUri::from_request_parts(parts, state).await {
            Ok(original) => original,
            Err(never) => match never {},
        };
        let base = original
            .path()
            .strip_suffix(routed.as_str())
            .unwrap_or("")
            .trim_end_matches('/');
        Ok(Base(base.to_owned()))
    }
}

/// The query string as decoded pairs, in order.
#[derive(Debug, Default)]
pub(crate) struct QueryPairs(pub(crate) Vec<(String, String)>);

impl QueryPairs {
    /// The value of `name`, if given (the last one when repeated).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean flag (`true`/`false`, also `yes`/`no`, `1`/`0`); absent is
    /// `false`.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, CsError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "no" | "0") => Ok(false),
            Some("true" | "yes" | "1" | "") => Ok(true),
            Some(other) => Err(CsError::BadRequest(format!(
                "{name} must be true or false, not {other:?}"
            ))),
        }
    }

    /// A comma-separated list (`extensions=a,b`), empty items dropped.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = CsError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, CsError> {
        let pairs = parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(QueryPairs(pairs))
    }
}

/// A JSON object body. An empty body is an empty object (bodies are optional
/// on several operations); anything but an object is a 400.
#[derive(Debug, Default)]
pub(crate) struct JsonObject(pub(crate) Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = CsError;

    async fn from_request(request: Request, state: &S) -> Result<Self, CsError> {
        let body =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => CsError::BodyTooLarge,
                    _ => CsError::BadRequest(format!(
                        "cannot read the body: {}",
                        rejection.body_text()
                    )),
                })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonObject::default());
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(CsError::BadRequest(
                "the body must be a JSON object".to_owned(),
            )),
            Err(e) => Err(CsError::BadRequest(format!("malformed JSON body: {e}"))),
        }
    }
}
