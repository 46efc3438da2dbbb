//! The wire form of the Basic HTTP Event I/O Processor (SCXML 1.0 App. C.2):
//! a `<send>` becomes an HTTP POST ([`encode`]), an incoming request becomes
//! an SCXML event ([`decode`]). Pure functions, no I/O.
//!
//! Sending: the body is form-encoded (`application/x-www-form-urlencoded`):
//! `_scxmleventname=<event>` if the send names an event (test 534), then one
//! `name=value` pair per `namelist` entry and `<param>` in order (518, 519).
//! A `<content>` is the body itself (520): a string (or XML, or any value
//! that is not an object, as JSON) goes as one bare form item without a
//! name, percent-encoded with `%20` for spaces, which is what test 520
//! looks for; an object (from `<content expr>`) goes as pairs, like
//! parameters, since the interpreter does not tell the two apart.
//!
//! Receiving: `_scxmleventname` (a body or query parameter, or a header of
//! that name, as in test 513) names the event, else `HTTP.<METHOD>` (532);
//! every other parameter goes to `_event.data` as a string (an array for a
//! repeated name); a bare form item is the content; a JSON body is its value;
//! a text body its string (567). `_event.raw` holds the request as text
//! (509), `origintype` the Basic HTTP type URI, and `origin` the sender's
//! own Basic HTTP location when it gave one in the `SCXML-Origin` header
//! (an Orca convention, so that the receiver can answer), else nothing.

use axum::http::{HeaderMap, Method, Uri};
use scxml::{Data, Event, EventKind, SendRequest, BASIC_HTTP_EVENT_PROCESSOR};

/// The parameter (or header) that names the event (App. C.2).
pub const EVENT_NAME_PARAMETER: &str = "_scxmleventname";

/// The header in which a sender gives its own Basic HTTP location.
pub const ORIGIN_HEADER: &str = "scxml-origin";

/// The content type of every POST this processor makes.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// One HTTP POST to make for a `<send>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    /// The target URL.
    pub url: String,
    /// The form-encoded body.
    pub body: String,
    /// The sender's Basic HTTP location, sent in [`ORIGIN_HEADER`].
    pub origin: Option<String>,
}

/// Why a `<send>` cannot become a POST: `error.communication` for the sender.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The send has no target (test 577).
    #[error("the Basic HTTP event I/O processor needs a target URL")]
    NoTarget,
    /// The target is not an absolute `http:` or `https:` URL.
    #[error("the target {0:?} is not an http or https URL")]
    NotHttp(String),
}

/// Why a request cannot become an event: the client gets 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body says it is JSON and is not.
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    /// `_scxmleventname` is given more than once (App. C.2 needs a single
    /// instance).
    #[error("{EVENT_NAME_PARAMETER} is given more than once")]
    NameRepeated,
}

/// The POST for a send through the Basic HTTP Event I/O Processor.
/// `origin` is the sender's own Basic HTTP location, if it has one.
pub fn encode(request: &SendRequest, origin: Option<&str>) -> Result<Post, EncodeError> {
    let target = request.target.as_deref().ok_or(EncodeError::NoTarget)?;
    let url = reqwest::Url::parse(target).map_err(|_| EncodeError::NotHttp(target.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(EncodeError::NotHttp(target.to_owned()));
    }
    let mut items = Vec::new();
    if !request.event.name.is_empty() {
        items.push(pair(EVENT_NAME_PARAMETER, &request.event.name));
    }
    match &request.event.data {
        Data::Undefined => {}
        Data::Object(entries) => {
            for (name, value) in entries {
                items.push(pair(name, &text(value)));
            }
        }
        other => items.push(percent_encode(&text(other))),
    }
    Ok(Post {
        url: url.into(),
        body: items.join("&"),
        origin: origin.map(str::to_owned),
    })
}

/// The event for a request received at a session's access URI.
pub fn decode(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Event, DecodeError> {
    let raw = raw_request(method, uri, headers, body);
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(query) = uri.query() {
        params.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    let mut content = None;
    match media_type(headers).as_deref() {
        _ if body.is_empty() => {}
        Some("application/json") => {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?;
            match value {
                serde_json::Value::Object(map) => {
                    for (name, value) in map {
                        match value {
                            serde_json::Value::String(s) => params.push((name, s)),
                            other => params.push((name, other.to_string())),
                        }
                    }
                }
                other => content = Some(Data::from(other)),
            }
        }
        None | Some(FORM_CONTENT_TYPE) => {
            for item in body.split(|b| *b == b'&').filter(|item| !item.is_empty()) {
                if item.contains(&b'=') {
                    params.extend(form_urlencoded::parse(item).into_owned());
                } else {
                    // A bare item is the content of the message (see `encode`).
                    let decoded: String = form_urlencoded::parse(item)
                        .map(|(name, _)| name.into_owned())
                        .collect();
                    content = Some(Data::String(decoded));
                }
            }
        }
        Some(_) => content = Some(Data::String(String::from_utf8_lossy(body).into_owned())),
    }

    let mut names = params
        .iter()
        .filter(|(name, _)| name == EVENT_NAME_PARAMETER)
        .map(|(_, value)| value.clone());
    let name = match (names.next(), names.next()) {
        (Some(_), Some(_)) => return Err(DecodeError::NameRepeated),
        (Some(name), None) => name,
        (None, _) => match headers
            .get(EVENT_NAME_PARAMETER)
            .and_then(|v| v.to_str().ok())
        {
            Some(name) => name.to_owned(),
            None => format!("HTTP.{method}"),
        },
    };
    params.retain(|(name, _)| name != EVENT_NAME_PARAMETER);

    let data = match (params.is_empty(), content) {
        (true, None) => Data::Undefined,
        (true, Some(content)) => content,
        (false, content) => {
            let mut entries = group(params);
            if let Some(content) = content {
                entries.push(("content".to_owned(), content));
            }
            Data::Object(entries)
        }
    };
    let origin = headers
        .get(ORIGIN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(Event {
        name,
        kind: EventKind::External,
        sendid: None,
        origin,
        origintype: Some(BASIC_HTTP_EVENT_PROCESSOR.to_owned()),
        invokeid: None,
        data,
        raw: Some(raw),
    })
}

/// `name=value`, both percent-encoded.
fn pair(name: &str, value: &str) -> String {
    format!("{}={}", percent_encode(name), percent_encode(value))
}

/// The string a value is sent as: strings and XML as they are, `undefined`
/// as nothing, everything else as JSON (numbers as ECMAScript prints them).
fn text(value: &Data) -> String {
    match value {
        Data::Undefined => String::new(),
        other => other.to_string(),
    }
}

/// RFC 3986 percent-encoding: every byte but the unreserved characters,
/// so a space is `%20` (test 520 accepts it; `+` is form-only).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Parameters as object entries in first-seen order; a repeated name
/// gathers its values in an array.
fn group(params: Vec<(String, String)>) -> Vec<(String, Data)> {
    let mut entries: Vec<(String, Data)> = Vec::with_capacity(params.len());
    for (name, value) in params {
        let value = Data::String(value);
        match entries.iter_mut().find(|(n, _)| *n == name) {
            Some((_, Data::Array(values))) => values.push(value),
            // Values are strings, so an array is a name seen before.
            Some((_, slot)) => {
                let first = std::mem::take(slot);
                *slot = Data::Array(vec![first, value]);
            }
            None => entries.push((name, value)),
        }
    }
    entries
}

/// The media type of the body, lowercase, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// The request as text: request line, headers, blank line, body.
fn raw_request(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut raw = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        raw.push_str(name.as_str());
        raw.push_str(": ");
        raw.push_str(&String::from_utf8_lossy(value.as_bytes()));
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    raw.push_str(&String::from_utf8_lossy(body));
    raw
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn send(target: Option<&str>, name: &str, data: Data) -> SendRequest {
        SendRequest {
            target: target.map(str::to_owned),
            kind: BASIC_HTTP_EVENT_PROCESSOR.to_owned(),
            event: Event::external(name, data),
        }
    }

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(FORM_CONTENT_TYPE),
        );
        headers
    }

    fn post(uri: &str, headers: &HeaderMap, body: &str) -> Event {
        let uri: Uri = uri.parse().unwrap();
        decode(&Method::POST, &uri, headers, body.as_bytes()).unwrap()
    }

    #[test]
    fn the_event_name_and_parameters_become_form_pairs() {
        let data = Data::Object(vec![
            ("Var1".to_owned(), Data::Number(2.0)),
            ("param1".to_owned(), Data::from("a b&c")),
        ]);
        let post = encode(&send(Some("http://127.0.0.1:9/x"), "test", data), None).unwrap();
        assert_eq!(post.url, "http://127.0.0.1:9/x");
        assert_eq!(post.body, "_scxmleventname=test&Var1=2&param1=a%20b%26c");
    }

    #[test]
    fn string_content_is_the_bare_percent_encoded_body() {
        let data = Data::from("this is some content");
        let post = encode(
            &send(Some("http://localhost/"), "", data),
            Some("http://me/"),
        )
        .unwrap();
        assert_eq!(post.body, "this%20is%20some%20content");
        assert_eq!(post.origin.as_deref(), Some("http://me/"));
    }

    #[test]
    fn a_send_needs_an_http_target() {
        let no_target = encode(&send(None, "e", Data::Undefined), None);
        assert_eq!(no_target, Err(EncodeError::NoTarget));
        for target in ["#_scxml_1", "file:/tmp/x", "ftp://host/", "not a url"] {
            let result = encode(&send(Some(target), "e", Data::Undefined), None);
            assert_eq!(result, Err(EncodeError::NotHttp(target.to_owned())));
        }
    }

    #[test]
    fn the_name_parameter_names_the_event_and_the_rest_is_data() {
        let event = post(
            "/basichttp/1?q=1",
            &form_headers(),
            "_scxmleventname=test&param1=2&k=a&k=b",
        );
        assert_eq!(event.name, "test");
        assert_eq!(event.kind, EventKind::External);
        assert_eq!(
            event.data,
            Data::Object(vec![
                ("q".to_owned(), Data::from("1")),
                ("param1".to_owned(), Data::from("2")),
                (
                    "k".to_owned(),
                    Data::Array(vec![Data::from("a"), Data::from("b")])
                ),
            ])
        );
        assert_eq!(
            event.origintype.as_deref(),
            Some(BASIC_HTTP_EVENT_PROCESSOR)
        );
        let raw = event.raw.unwrap_or_default();
        assert!(
            raw.starts_with("POST /basichttp/1?q=1 HTTP/1.1\r\n"),
            "{raw}"
        );
        assert!(raw.ends_with("\r\n\r\n_scxmleventname=test&param1=2&k=a&k=b"));
    }

    #[test]
    fn without_a_name_the_method_names_the_event() {
        let event = post("/basichttp/1", &form_headers(), "this%20is%20some+content");
        assert_eq!(event.name, "HTTP.POST");
        assert_eq!(event.data, Data::from("this is some content"));
        assert!(event.raw.unwrap_or_default().contains("this%20is%20some"));
    }

    #[test]
    fn the_name_may_come_in_a_header_and_the_origin_too() {
        let mut headers = form_headers();
        headers.insert(EVENT_NAME_PARAMETER, HeaderValue::from_static("test"));
        headers.insert(ORIGIN_HEADER, HeaderValue::from_static("http://peer/"));
        let event = post("/basichttp/1", &headers, "key1=value1&key2=value2");
        assert_eq!(event.name, "test");
        assert_eq!(event.origin.as_deref(), Some("http://peer/"));
        assert_eq!(event.data.get("key2"), Some(&Data::from("value2")));
    }

    #[test]
    fn json_and_text_bodies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        let event = post("/b/1", &headers, r#"{"_scxmleventname":"go","n":1}"#);
        assert_eq!(event.name, "go");
        assert_eq!(event.data, Data::Object(vec![("n".into(), "1".into())]));
        let event = post("/b/1", &headers, "[1,2]");
        assert_eq!(event.data.to_string(), "[1,2]");
        let bad = decode(&Method::POST, &"/b/1".parse().unwrap(), &headers, b"{");
        assert!(matches!(bad, Err(DecodeError::Json(_))));

        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        let event = post("/b/1", &headers, "a=b c");
        assert_eq!(event.name, "HTTP.POST");
        assert_eq!(event.data, Data::from("a=b c"));
    }

    #[test]
    fn a_repeated_name_is_refused() {
        let result = decode(
            &Method::POST,
            &"/b/1?_scxmleventname=a".parse().unwrap(),
            &form_headers(),
            b"_scxmleventname=b",
        );
        assert_eq!(result, Err(DecodeError::NameRepeated));
    }

    #[test]
    fn what_encode_sends_decode_reads_back() {
        let data = Data::Object(vec![("x".to_owned(), Data::from("1 + 1 = 2"))]);
        let post = encode(&send(Some("http://h/"), "a.b", data.clone()), None).unwrap();
        let event = super::tests::post("/b/1", &form_headers(), &post.body);
        assert_eq!(event.name, "a.b");
        assert_eq!(event.data, data);
    }
}
