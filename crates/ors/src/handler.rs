//! The `session:` and `ws:` action elements (TR81 action elements; spec
//! notes §2.1), carried out during the macrostep.

use scxml::document::CustomAction;
use scxml::{CustomContext, CustomError, CustomHandler, Data};

/// The Core – Session module namespace.
pub const SESSION_NS: &str = "http://www.genesyslab.com/modules/session";
/// The Core – Web module namespace.
pub const WS_NS: &str = "http://www.genesyslab.com/modules/ws";
/// The prefix of every Genesys functional-module namespace.
pub const GENESYS_MODULES: &str = "http://www.genesyslab.com/modules/";

/// What a session asks its host to do; the host downcasts
/// [`scxml::ExtensionRequest::request`] to this type.
///
/// Every request with a `requestid` completes with exactly one event to the
/// requesting session carrying the same `requestid` in its data (see
/// [`crate::events`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// `<session:start>`: start a new top-level session of `src`, with
    /// `params` setting its top-level data; then `session.start.done` or
    /// `error.session.start`.
    Start {
        /// The generated request id.
        requestid: String,
        /// The id the new session must have (already stored in the
        /// `sessionid` location).
        session_id: String,
        /// The document URI, relative to the requesting document.
        src: String,
        /// `<param>` values.
        params: Vec<(String, Data)>,
    },
    /// `<session:fetch>`: an HTTP request; then `session.fetch.done` or
    /// `error.session.fetch`.
    Fetch {
        /// The generated request id.
        requestid: String,
        /// The URL (`srcexpr` / `src`).
        url: String,
        /// `GET` or `POST` (upper case).
        method: String,
        /// How `params` travel in a POST body: `application/x-www-form-urlencoded`
        /// (default) or `application/json`. For GET they go in the query.
        enctype: String,
        /// The expected content type (`type`), e.g. `application/json`.
        accept: Option<String>,
        /// Extra request headers.
        headers: Vec<(String, String)>,
        /// Time limit in milliseconds (`timeout`, seconds in the document).
        timeout_ms: Option<u64>,
        /// `<param>` values.
        params: Vec<(String, Data)>,
        /// `<content>`: the body as given (an object is sent as JSON).
        content: Option<Data>,
    },
    /// `<session:terminate>`: end a session (this one by default); then
    /// `session.terminate.done` or `error.session.terminate`.
    Terminate {
        /// The generated request id.
        requestid: String,
        /// The session to end.
        session_id: String,
    },
    /// `<ws:response>`: the answer to an HTTP request event (`_event.sendid`).
    /// No completion event.
    Response {
        /// The request answered.
        requestid: String,
        /// `positive` (default) or `negative`.
        kind: String,
        /// `resultcode`.
        resultcode: Option<String>,
        /// `<param>` values.
        params: Vec<(String, Data)>,
    },
}

/// The handler of every `http://www.genesyslab.com/modules/...` namespace.
#[derive(Debug, Default)]
pub struct OrsHandler;

impl CustomHandler for OrsHandler {
    fn handles(&self, namespace: &str) -> bool {
        namespace.starts_with(GENESYS_MODULES)
    }

    fn execute(
        &self,
        action: &CustomAction,
        cx: &mut CustomContext<'_>,
    ) -> Result<(), CustomError> {
        let element = &action.element;
        match (element.namespace.as_str(), element.name.as_str()) {
            (SESSION_NS, "start") => start(cx),
            (SESSION_NS, "fetch") => fetch(cx),
            (SESSION_NS, "terminate") => terminate(cx),
            (WS_NS, "response") => response(cx),
            (namespace, name) => Err(CustomError::new(
                "error.unsupported.element",
                format!("<{name}> of {namespace} is not supported yet"),
            )),
        }
    }
}

/// Generates the request id and stores it in `requestid`, if given.
fn request_id(cx: &mut CustomContext<'_>) -> Result<String, CustomError> {
    let id = cx.generate_id();
    cx.assign("requestid", &Data::String(id.clone()))?;
    Ok(id)
}

/// A required string attribute (a value expression).
fn required(cx: &mut CustomContext<'_>, name: &str) -> Result<String, CustomError> {
    let element = cx.action().element.name.clone();
    cx.evaluate_string(name)?.ok_or_else(|| {
        CustomError::new(
            "error.illegalvalue",
            format!("<{element}>: missing attribute {name:?}"),
        )
    })
}

fn start(cx: &mut CustomContext<'_>) -> Result<(), CustomError> {
    let src = required(cx, "src")?;
    let params = cx.params()?;
    let requestid = request_id(cx)?;
    // The id is chosen now so that the `sessionid` location holds it while
    // the session goes on (the seed reads it after `session.start.done`).
    let session_id = format!("{requestid}-s");
    cx.assign("sessionid", &Data::String(session_id.clone()))?;
    cx.request(Box::new(Request::Start {
        requestid,
        session_id,
        src,
        params,
    }));
    Ok(())
}

fn fetch(cx: &mut CustomContext<'_>) -> Result<(), CustomError> {
    let url = match cx.evaluate_string("srcexpr")? {
        Some(url) => url,
        None => required(cx, "src")?,
    };
    let method = cx
        .evaluate_string("method")?
        .unwrap_or_else(|| "get".into())
        .to_ascii_uppercase();
    if method != "GET" && method != "POST" {
        return Err(CustomError::new(
            "error.illegalvalue",
            format!("<fetch>: method {method:?} is not supported (get or post)"),
        ));
    }
    let enctype = cx
        .evaluate_string("enctype")?
        .unwrap_or_else(|| "application/x-www-form-urlencoded".into());
    let accept = cx.evaluate_string("type")?;
    let headers = match cx.evaluate("headers")? {
        None | Some(Data::Undefined) | Some(Data::Null) => Vec::new(),
        Some(Data::Object(fields)) => fields.into_iter().map(|(k, v)| (k, text_of(&v))).collect(),
        Some(_) => {
            return Err(CustomError::new(
                "error.illegalvalue",
                "<fetch>: headers must be an object",
            ))
        }
    };
    let timeout_ms = match cx.evaluate("timeout")? {
        None | Some(Data::Undefined) => None,
        Some(Data::Number(s)) if s >= 0.0 => Some((s * 1000.0) as u64),
        Some(Data::String(s)) => s.trim().parse::<f64>().ok().map(|s| (s * 1000.0) as u64),
        Some(_) => None,
    };
    let params = cx.params()?;
    let content = cx.content()?;
    let requestid = request_id(cx)?;
    cx.request(Box::new(Request::Fetch {
        requestid,
        url,
        method,
        enctype,
        accept,
        headers,
        timeout_ms,
        params,
        content,
    }));
    Ok(())
}

fn terminate(cx: &mut CustomContext<'_>) -> Result<(), CustomError> {
    let session_id = match cx.evaluate_string("sessionid")? {
        Some(id) => id,
        None => cx.session_id().to_owned(),
    };
    let requestid = request_id(cx)?;
    cx.request(Box::new(Request::Terminate {
        requestid,
        session_id,
    }));
    Ok(())
}

fn response(cx: &mut CustomContext<'_>) -> Result<(), CustomError> {
    let requestid = required(cx, "requestid")?;
    let kind = cx
        .evaluate_string("type")?
        .unwrap_or_else(|| "positive".into());
    let resultcode = cx.evaluate_string("resultcode")?;
    let params = cx.params()?;
    cx.request(Box::new(Request::Response {
        requestid,
        kind,
        resultcode,
        params,
    }));
    Ok(())
}

/// A value as text: strings as they are, the rest as JSON.
pub(crate) fn text_of(value: &Data) -> String {
    match value {
        Data::String(s) => s.clone(),
        Data::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        Data::Number(n) => n.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_json().to_string(),
    }
}
