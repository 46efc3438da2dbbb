//! Reading requests: path ids, query strings and bodies, each failure an
//! [`Error`] with a JSON answer rather than axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::record::{text, MAX_CONTACT};

/// The one path parameter, percent-decoded.
pub(super) fn path(path: Result<Path<String>, PathRejection>) -> Result<String, Error> {
    path.map(|Path(p)| p).map_err(|e| Error::InvalidParameter {
        name: "path",
        reason: e.body_text(),
    })
}

/// A positive integer id (campaign, calling list, record handle).
pub(super) fn id(name: &'static str, value: &str) -> Result<i64, Error> {
    match value.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(Error::InvalidParameter {
            name,
            reason: format!("{value:?} is not a positive integer"),
        }),
    }
}

/// A phone number or customer id from the path.
pub(super) fn contact(name: &'static str, value: &str) -> Result<String, Error> {
    text(name, value, MAX_CONTACT).map_err(|e| match e {
        Error::InvalidField { reason, .. } => Error::InvalidParameter { name, reason },
        other => other,
    })
}

/// The query string's parameters, in order.
pub(super) fn query(raw: Option<&str>) -> Result<Vec<(String, String)>, Error> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or("")).map_err(|e| {
        Error::InvalidParameter {
            name: "query",
            reason: e.to_string(),
        }
    })
}

/// The first value of query parameter `name`.
pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The body bytes, or 413 when they exceed the server's limit.
pub(super) fn bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Error> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::BodyTooLarge
        } else {
            Error::InvalidBody(e.body_text())
        }
    })
}

/// A JSON object body (the REST resources).
pub(super) fn json_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Error::InvalidBody("expected a JSON object".to_owned())),
        Err(e) => Err(Error::InvalidBody(format!("not JSON: {e}"))),
    }
}

/// The `record` parameter of an OCS request, as an object of fields.
///
/// `<session:fetch method="post" enctype="application/json">` with
/// `<param name="record" expr="…"/>` posts `{"record": …}`; the value may be
/// an object or a string holding one (a strategy that built it with
/// `JSON.stringify`). A form-encoded body carries `record=<JSON text>`.
/// Without a `record` key the JSON body is itself the record; an empty
/// body is an empty record.
pub(super) fn ocs_record(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if form {
        let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map_err(|e| Error::InvalidBody(format!("not a form: {e}")))?;
        let mut record = None;
        for (name, value) in pairs {
            if name != "record" {
                return Err(Error::InvalidBody(format!(
                    "unexpected form field {name:?}: the fields go in \"record\""
                )));
            }
            record = Some(value);
        }
        return match record {
            Some(text) => record_value(Value::String(text)),
            None => Ok(Map::new()),
        };
    }
    let mut object = json_object(body)?;
    match object.remove("record") {
        None => Ok(object),
        Some(record) => {
            if let Some(other) = object.keys().next() {
                return Err(Error::InvalidBody(format!(
                    "unexpected {other:?} beside \"record\": the fields go in \"record\""
                )));
            }
            record_value(record)
        }
    }
}

/// The value of `record`: an object, a JSON text of one, or null.
fn record_value(value: Value) -> Result<Map<String, Value>, Error> {
    match value {
        Value::Object(object) => Ok(object),
        Value::Null => Ok(Map::new()),
        Value::String(text) if text.trim().is_empty() => Ok(Map::new()),
        Value::String(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(Error::field(
                "record",
                "must be an object or the JSON text of one",
            )),
        },
        _ => Err(Error::field(
            "record",
            "must be an object or the JSON text of one",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        headers
    }

    #[test]
    fn the_record_parameter_is_read_in_every_form() {
        let json = headers("application/json");
        let expected = json!({"phoneNumber": "5550100"});
        let cases: [&[u8]; 4] = [
            br#"{"record": {"phoneNumber": "5550100"}}"#,
            br#"{"record": "{\"phoneNumber\": \"5550100\"}"}"#,
            br#"{"phoneNumber": "5550100"}"#,
            b"record=%7B%22phoneNumber%22%3A%225550100%22%7D",
        ];
        for (i, body) in cases.into_iter().enumerate() {
            let headers = if i == 3 {
                headers("application/x-www-form-urlencoded; charset=utf-8")
            } else {
                json.clone()
            };
            let record = ocs_record(&headers, body).unwrap();
            assert_eq!(Value::Object(record), expected, "case {i}");
        }
        assert!(ocs_record(&json, b"").unwrap().is_empty());
        assert!(ocs_record(&json, br#"{"record": null}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn malformed_bodies_are_named() {
        let json = headers("application/json");
        assert!(matches!(
            ocs_record(&json, b"[1]"),
            Err(Error::InvalidBody(_))
        ));
        assert!(matches!(
            ocs_record(&json, b"{"),
            Err(Error::InvalidBody(_))
        ));
        assert!(matches!(
            ocs_record(&json, br#"{"record": {}, "x": 1}"#),
            Err(Error::InvalidBody(_))
        ));
        assert!(matches!(
            ocs_record(&json, br#"{"record": 5}"#),
            Err(Error::InvalidField { .. })
        ));
        assert!(matches!(
            ocs_record(&json, br#"{"record": "[]"}"#),
            Err(Error::InvalidField { .. })
        ));
        let form = headers("application/x-www-form-urlencoded");
        assert!(matches!(
            ocs_record(&form, b"phone=1"),
            Err(Error::InvalidBody(_))
        ));
        assert!(ocs_record(&form, b"record=").unwrap().is_empty());
    }

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!(id("id", "42").unwrap(), 42);
        for bad in ["0", "-1", "x", "99999999999999999999", ""] {
            assert!(id("id", bad).is_err(), "{bad}");
        }
    }
}
