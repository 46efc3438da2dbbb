//! Request parameters as ORS clients send them: in the query string and in
//! the body, form-encoded (`application/x-www-form-urlencoded`) or, since ORS
//! 8.1.400.30, a JSON object (ors-dialect.md §4).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use scxml::Data;
use serde_json::Value;

use crate::error::ApiError;

/// The parameters of a request, query string first, then the body, in the
/// order given. Form and query values are strings; JSON values keep their
/// types.
#[derive(Debug, Default)]
pub(crate) struct Params {
    /// Name and value, in order.
    pub(crate) pairs: Vec<(String, Value)>,
    /// The body as sent, when it was a JSON object.
    pub(crate) json_body: Option<String>,
}

impl Params {
    /// The parameters as one object, for `_event.data`.
    pub(crate) fn into_data(self) -> Data {
        Data::Object(
            self.pairs
                .into_iter()
                .map(|(k, v)| (k, Data::from(v)))
                .collect(),
        )
    }

    /// The parameters as `_event.data` of an ORS request event: as
    /// [`into_data`](Self::into_data), and for a JSON body also `paramtype`
    /// = `application/json` and `param` = the body text, which TR81's
    /// request example reads (ors-dialect.md §4); those two win over body
    /// fields of the same names.
    pub(crate) fn into_request_data(self) -> Data {
        let json_body = self.json_body.clone();
        let Data::Object(mut fields) = self.into_data() else {
            return Data::Undefined;
        };
        if let Some(body) = json_body {
            fields.retain(|(k, _)| k != "paramtype" && k != "param");
            fields.push(("paramtype".to_owned(), Data::from("application/json")));
            fields.push(("param".to_owned(), Data::String(body)));
        }
        Data::Object(fields)
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let mut pairs = match request.uri().query() {
            Some(query) => decode_form(query.as_bytes())?,
            None => Vec::new(),
        };
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let media = v.split(';').next().unwrap_or("").trim();
                media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")
            });
        let body =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge,
                    _ => ApiError::InvalidBody(rejection.body_text()),
                })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params {
                pairs,
                json_body: None,
            });
        }
        let mut json_body = None;
        if is_json {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => {
                    pairs.extend(map);
                    json_body = Some(String::from_utf8_lossy(&body).into_owned());
                }
                Ok(_) => {
                    return Err(ApiError::InvalidBody(
                        "a JSON body must be an object of parameters".to_owned(),
                    ))
                }
                Err(e) => return Err(ApiError::InvalidBody(format!("malformed JSON: {e}"))),
            }
        } else {
            pairs.extend(decode_form(&body)?);
        }
        Ok(Params { pairs, json_body })
    }
}

fn decode_form(bytes: &[u8]) -> Result<Vec<(String, Value)>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ApiError::InvalidBody(format!("malformed form data: {e}")))?;
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use serde_json::json;

    use super::*;

    async fn params(uri: &str, content_type: Option<&str>, body: &str) -> Result<Params, ApiError> {
        let mut builder = Request::builder().method("POST").uri(uri);
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let request = builder.body(Body::from(body.to_owned())).unwrap();
        Params::from_request(request, &()).await
    }

    #[tokio::test]
    async fn query_form_and_json_parameters_merge_in_order() {
        let form = params(
            "/x?a=1",
            Some("application/x-www-form-urlencoded"),
            "b=two+words&c=%C3%A9",
        )
        .await
        .unwrap();
        assert_eq!(
            form.pairs,
            [
                ("a".to_owned(), json!("1")),
                ("b".to_owned(), json!("two words")),
                ("c".to_owned(), json!("é")),
            ]
        );
        let json = params(
            "/x",
            Some("application/json; charset=utf-8"),
            r#"{"n":2,"o":{"p":[true]}}"#,
        )
        .await
        .unwrap();
        assert_eq!(
            json.into_data().to_json(),
            json!({"n": 2, "o": {"p": [true]}})
        );
        assert!(params("/x", None, "").await.unwrap().pairs.is_empty());
        let request = params("/x?a=1", Some("application/json"), r#"{"param":0,"n":2}"#)
            .await
            .unwrap();
        assert_eq!(
            request.into_request_data().to_json(),
            json!({"a": "1", "n": 2, "paramtype": "application/json", "param": "{\"param\":0,\"n\":2}"})
        );
    }

    #[tokio::test]
    async fn bad_bodies_are_named() {
        let error = params("/x", Some("application/json"), "[1]")
            .await
            .unwrap_err();
        assert!(error.to_string().contains("object"), "{error}");
        let error = params("/x", Some("application/json"), "{")
            .await
            .unwrap_err();
        assert!(error.to_string().contains("malformed JSON"), "{error}");
    }
}
