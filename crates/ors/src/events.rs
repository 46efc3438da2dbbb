//! The completion events of the ORS actions (TR81 §I SCXML Extensions >
//! Events), built by the host when the work is done.
//!
//! Names: `session.start.done` / `error.session.start`,
//! `session.fetch.done` / `error.session.fetch`,
//! `session.terminate.done` / `error.session.terminate`. Error data carries
//! `requestid`, `error` and `description`; for a fetch `error` is the
//! `protocol.status` form (`http.404`), or `http.0` when no response came,
//! or one of the codes below for what the host refused or lost.

use scxml::{Data, Event};

/// `error` of `error.session.fetch` when the URL's host is not on the
/// host's allowlist (nothing was sent).
pub const FETCH_NOT_ALLOWED: &str = "host.notallowed";

/// `error` of `error.session.fetch` when the response body is larger than
/// the host allows (the body is dropped).
pub const FETCH_TOO_LARGE: &str = "response.toolarge";

/// `error` of a request's error event when the host stopped while the
/// request was under way and cannot tell how it ended (a fetch is not sent
/// again: a POST may not be safe to repeat).
pub const INTERRUPTED: &str = "request.interrupted";

fn object(fields: Vec<(&str, Data)>) -> Data {
    Data::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// `session.start.done` with `requestid` and the new `sessionid`.
pub fn start_done(requestid: &str, session_id: &str) -> Event {
    Event::external(
        "session.start.done",
        object(vec![
            ("requestid", requestid.into()),
            ("sessionid", session_id.into()),
        ]),
    )
}

/// `error.session.start` (`error` = `start`).
pub fn start_error(requestid: &str, session_id: &str, description: &str) -> Event {
    start_failed(requestid, session_id, "start", description)
}

/// `error.session.start` with another `error` code.
pub fn start_failed(requestid: &str, session_id: &str, error: &str, description: &str) -> Event {
    Event::external(
        "error.session.start",
        object(vec![
            ("requestid", requestid.into()),
            ("sessionid", session_id.into()),
            ("error", error.into()),
            ("description", description.into()),
        ]),
    )
}

/// `session.fetch.done`: `content` is the body as text (a JSON body stays
/// a string the application parses, as ORS does); `hints` holds the
/// response headers (lower-case names) and `status`.
pub fn fetch_done(
    requestid: &str,
    status: u16,
    content: String,
    headers: Vec<(String, String)>,
) -> Event {
    let mut hints: Vec<(String, Data)> = vec![("status".to_owned(), Data::Number(status.into()))];
    let headers = headers
        .into_iter()
        .map(|(k, v)| (k, Data::String(v)))
        .collect();
    hints.push(("headers".to_owned(), Data::Object(headers)));
    Event::external(
        "session.fetch.done",
        object(vec![
            ("requestid", requestid.into()),
            ("content", content.into()),
            ("hints", Data::Object(hints)),
        ]),
    )
}

/// `error.session.fetch`: `status` 0 when there was no HTTP response.
pub fn fetch_error(requestid: &str, status: u16, description: &str) -> Event {
    fetch_failed(requestid, &format!("http.{status}"), description)
}

/// `error.session.fetch` with another `error` code (e.g. [`FETCH_NOT_ALLOWED`]).
pub fn fetch_failed(requestid: &str, error: &str, description: &str) -> Event {
    Event::external(
        "error.session.fetch",
        object(vec![
            ("requestid", requestid.into()),
            ("error", error.into()),
            ("description", description.into()),
        ]),
    )
}

/// `session.terminate.done`.
pub fn terminate_done(requestid: &str, session_id: &str) -> Event {
    Event::external(
        "session.terminate.done",
        object(vec![
            ("requestid", requestid.into()),
            ("sessionid", session_id.into()),
        ]),
    )
}

/// `error.session.terminate` (`error` = `nosuchsession`).
pub fn terminate_error(requestid: &str, session_id: &str, description: &str) -> Event {
    terminate_failed(requestid, session_id, "nosuchsession", description)
}

/// `error.session.terminate` with another `error` code.
pub fn terminate_failed(
    requestid: &str,
    session_id: &str,
    error: &str,
    description: &str,
) -> Event {
    Event::external(
        "error.session.terminate",
        object(vec![
            ("requestid", requestid.into()),
            ("sessionid", session_id.into()),
            ("error", error.into()),
            ("description", description.into()),
        ]),
    )
}
