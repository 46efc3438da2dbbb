//! The ORS `<session:fetch>` executor, shared by `orca run` and `orca serve`:
//! it turns an [`ors::Request::Fetch`] into an HTTP request (reqwest with
//! rustls) and its outcome into the completion event the session gets,
//! `session.fetch.done` or `error.session.fetch` (ors-dialect.md §2.1).
//!
//! It sits beside the `ors` crate rather than in it because `ors` runs inside
//! the sans-IO interpreter and does no I/O; the hosts (the runner's gateway
//! under `orca run`, the server's worker gateway) call [`Client::fetch`] on a
//! tokio runtime of their choice and deliver the event themselves.
//!
//! What [`Policy`] guards: the hosts a fetch may reach ([`HostList`], checked
//! for the URL and for every redirect; a refused host gives
//! `error.session.fetch` with `error` = [`ors::events::FETCH_NOT_ALLOWED`],
//! and nothing is sent), the largest response body kept (a larger one gives
//! [`ors::events::FETCH_TOO_LARGE`]) and the time limit of a fetch whose
//! document gives no `timeout`.
//!
//! Wire rules: GET sends the `<param>`s in the query string. POST sends a
//! `<content>` as the body (a string as it is, with `enctype` as its type;
//! any other value as JSON), else the params as a JSON object when `enctype`
//! is `application/json`, else form-encoded. `type` becomes `Accept`;
//! `headers` are added as given. The body comes back as text (UTF-8; invalid
//! sequences replaced) in `content`, the status and the response headers
//! (lower-case names) in `hints`; a status other than 2xx is
//! `error.session.fetch` with `error` = `http.<status>`, and no response at
//! all (connection refused, timeout) `http.0`.

#![warn(missing_docs, unreachable_pub)]

mod hosts;

use std::sync::Arc;
use std::time::Duration;

use scxml::{Data, Event};

pub use hosts::{HostList, HostPatternError};

/// How long a fetch without a `timeout` may take, so that a session waiting
/// for its fetch never waits for ever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response body kept by default (1 MiB): the body becomes an
/// event the session holds (and a journaled input, in the server).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Redirects followed before a fetch fails.
const MAX_REDIRECTS: usize = 10;

/// What fetches may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The hosts fetches may reach (also after a redirect).
    pub allow_hosts: HostList,
    /// The largest response body, in bytes.
    pub max_response_bytes: usize,
    /// The time limit of a fetch whose element gives no `timeout`.
    pub default_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_hosts: HostList::any(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            default_timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// One `<session:fetch>` to make: the fields of [`ors::Request::Fetch`].
#[derive(Clone, Debug, PartialEq)]
pub struct Fetch {
    /// The generated request id, echoed in the completion event.
    pub requestid: String,
    /// The URL.
    pub url: String,
    /// `GET` or `POST`.
    pub method: String,
    /// How params travel in a POST body.
    pub enctype: String,
    /// The expected content type (`Accept`).
    pub accept: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// The element's time limit, if it gave one.
    pub timeout: Option<Duration>,
    /// `<param>` values.
    pub params: Vec<(String, Data)>,
    /// `<content>`, the body as given.
    pub content: Option<Data>,
}

impl Fetch {
    /// The fetch a request asks for; any other request is given back.
    pub fn from_request(request: Box<ors::Request>) -> Result<Fetch, Box<ors::Request>> {
        match *request {
            ors::Request::Fetch {
                requestid,
                url,
                method,
                enctype,
                accept,
                headers,
                timeout_ms,
                params,
                content,
            } => Ok(Fetch {
                requestid,
                url,
                method,
                enctype,
                accept,
                headers,
                timeout: timeout_ms.map(Duration::from_millis),
                params,
                content,
            }),
            other => Err(Box::new(other)),
        }
    }
}

/// The HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client for <session:fetch>: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// A redirect to a host outside the allowlist (found again in the error
/// chain of the failed request).
#[derive(Debug, thiserror::Error)]
#[error("redirected to {0}, whose host is not allowed")]
struct RedirectRefused(String);

/// Makes fetches under a [`Policy`]; cheap to clone (connections are
/// pooled and shared).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    policy: Arc<Policy>,
}

impl Client {
    /// A client for `policy`. Call it inside a tokio runtime context
    /// (reqwest's connector looks for one).
    pub fn new(policy: Policy) -> Result<Client, ClientError> {
        let policy = Arc::new(policy);
        let hosts = Arc::clone(&policy);
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                let error = format!("more than {MAX_REDIRECTS} redirects");
                attempt.error(error)
            } else if hosts.allow_hosts.allows(attempt.url()) {
                attempt.follow()
            } else {
                let url = attempt.url().to_string();
                attempt.error(RedirectRefused(url))
            }
        });
        let http = reqwest::Client::builder().redirect(redirects).build()?;
        Ok(Client { http, policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The error event of a fetch that must not be sent (not an `http(s)`
    /// URL, or a host off the allowlist); `None` if it may go.
    pub fn refusal(&self, fetch: &Fetch) -> Option<Event> {
        let requestid = &fetch.requestid;
        let url = match reqwest::Url::parse(&fetch.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            Ok(_) => {
                let description = format!("{}: only http and https URLs can be fetched", fetch.url);
                return Some(ors::events::fetch_error(requestid, 0, &description));
            }
            Err(e) => {
                let description = format!("{:?} is not a URL: {e}", fetch.url);
                return Some(ors::events::fetch_error(requestid, 0, &description));
            }
        };
        if !self.policy.allow_hosts.allows(&url) {
            let description = format!(
                "{}: the host {} is not on the fetch allowlist",
                fetch.url,
                url.host_str().unwrap_or("")
            );
            return Some(ors::events::fetch_failed(
                requestid,
                ors::events::FETCH_NOT_ALLOWED,
                &description,
            ));
        }
        None
    }

    /// Makes the request; the completion event for the session, whatever
    /// happened.
    pub async fn fetch(&self, fetch: Fetch) -> Event {
        if let Some(refused) = self.refusal(&fetch) {
            return refused;
        }
        let requestid = fetch.requestid.clone();
        let url = match reqwest::Url::parse(&fetch.url) {
            Ok(url) => url,
            // `refusal` parsed it already.
            Err(e) => return ors::events::fetch_error(&requestid, 0, &e.to_string()),
        };
        let timeout = fetch.timeout.unwrap_or(self.policy.default_timeout);
        let request = self.build(url, &fetch).timeout(timeout);
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return self.send_failed(&requestid, &e),
        };
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_ascii_lowercase(), value)
            })
            .collect();
        let limit = self.policy.max_response_bytes;
        let too_large = || {
            let description = format!(
                "{} answered with a body larger than {limit} bytes",
                fetch.url
            );
            ors::events::fetch_failed(&requestid, ors::events::FETCH_TOO_LARGE, &description)
        };
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return too_large();
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return too_large();
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    let description = format!("{}: {e}", fetch.url);
                    return ors::events::fetch_error(&requestid, status.as_u16(), &description);
                }
            }
        }
        if !status.is_success() {
            let description = format!("{} answered {status}", fetch.url);
            return ors::events::fetch_error(&requestid, status.as_u16(), &description);
        }
        let content = String::from_utf8_lossy(&body).into_owned();
        ors::events::fetch_done(&requestid, status.as_u16(), content, headers)
    }

    /// The request for `fetch` (see the crate documentation's wire rules).
    fn build(&self, url: reqwest::Url, fetch: &Fetch) -> reqwest::RequestBuilder {
        let fields: Vec<(String, String)> = fetch
            .params
            .iter()
            .map(|(k, v)| (k.clone(), text_of(v)))
            .collect();
        let mut request = if fetch.method.eq_ignore_ascii_case("POST") {
            let request = self.http.post(url);
            match &fetch.content {
                Some(Data::String(body)) => request
                    .header(reqwest::header::CONTENT_TYPE, &fetch.enctype)
                    .body(body.clone()),
                Some(value) => request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(value.to_json().to_string()),
                None if fetch.enctype.eq_ignore_ascii_case("application/json") => {
                    let object = Data::Object(fetch.params.clone());
                    request
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(object.to_json().to_string())
                }
                None => request.form(&fields),
            }
        } else {
            self.http.get(url).query(&fields)
        };
        if let Some(accept) = &fetch.accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        for (name, value) in &fetch.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request
    }

    /// The event for a request that got no response.
    fn send_failed(&self, requestid: &str, error: &reqwest::Error) -> Event {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<RedirectRefused>() {
                return ors::events::fetch_failed(
                    requestid,
                    ors::events::FETCH_NOT_ALLOWED,
                    &refused.to_string(),
                );
            }
            source = cause.source();
        }
        ors::events::fetch_error(requestid, 0, &error.to_string())
    }
}

/// A parameter value as form text: strings as they are, the rest as JSON.
fn text_of(value: &Data) -> String {
    match value {
        Data::String(s) => s.clone(),
        Data::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        other => other.to_json().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    use axum::Router;
    use serde_json::Value;

    use super::*;

    /// A stub: `/small` answers 10 bytes, `/big` 100, `/away` redirects to
    /// `to` (another host), `/echo` the query string.
    async fn stub(to: String) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/small", get(|| async { "0123456789" }))
            .route("/big", get(|| async { "x".repeat(100) }))
            .route(
                "/missing",
                get(|| async { (StatusCode::NOT_FOUND, "no").into_response() }),
            )
            .route(
                "/away",
                get(move || async move { Redirect::temporary(&to) }),
            )
            .route(
                "/echo",
                get(|uri: axum::http::Uri| async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain")],
                        uri.query().unwrap_or("").to_owned(),
                    )
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    fn fetch(url: String) -> Fetch {
        Fetch {
            requestid: "r1".to_owned(),
            url,
            method: "GET".to_owned(),
            enctype: "application/x-www-form-urlencoded".to_owned(),
            accept: None,
            headers: Vec::new(),
            timeout: None,
            params: vec![("PhoneNumber".to_owned(), Data::Number(5551234.0))],
            content: None,
        }
    }

    fn field(event: &Event, name: &str) -> Value {
        event.data.to_json()[name].clone()
    }

    fn client(allow: &[&str], max: usize) -> Client {
        Client::new(Policy {
            allow_hosts: HostList::parse(allow).unwrap(),
            max_response_bytes: max,
            default_timeout: Duration::from_secs(10),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn answers_limits_and_statuses_become_events() {
        let address = stub("http://127.0.0.1:9/".to_owned()).await;
        let client = client(&["127.0.0.1"], 50);
        let done = client.fetch(fetch(format!("http://{address}/echo"))).await;
        assert_eq!(done.name, "session.fetch.done");
        assert_eq!(field(&done, "content"), "PhoneNumber=5551234");
        assert_eq!(field(&done, "requestid"), "r1");
        assert_eq!(field(&done, "hints")["status"], 200);
        let big = client.fetch(fetch(format!("http://{address}/big"))).await;
        assert_eq!(big.name, "error.session.fetch");
        assert_eq!(field(&big, "error"), ors::events::FETCH_TOO_LARGE);
        let missing = client
            .fetch(fetch(format!("http://{address}/missing")))
            .await;
        assert_eq!(field(&missing, "error"), "http.404");
        let small = client.fetch(fetch(format!("http://{address}/small"))).await;
        assert_eq!(field(&small, "content"), "0123456789");
    }

    #[tokio::test]
    async fn hosts_off_the_list_are_refused_even_through_a_redirect() {
        let address = stub("http://localhost:9/elsewhere".to_owned()).await;
        let strict = client(&["profiles.example.com"], 1024);
        let refused = strict.fetch(fetch(format!("http://{address}/small"))).await;
        assert_eq!(refused.name, "error.session.fetch");
        assert_eq!(field(&refused, "error"), ors::events::FETCH_NOT_ALLOWED);
        assert!(field(&refused, "description")
            .as_str()
            .is_some_and(|d| d.contains("127.0.0.1")));
        let loopback = client(&["127.0.0.1"], 1024);
        let redirected = loopback
            .fetch(fetch(format!("http://{address}/away")))
            .await;
        assert_eq!(field(&redirected, "error"), ors::events::FETCH_NOT_ALLOWED);
        assert!(field(&redirected, "description")
            .as_str()
            .is_some_and(|d| d.contains("localhost")));
        let bad = loopback.fetch(fetch("ftp://127.0.0.1/x".to_owned())).await;
        assert_eq!(field(&bad, "error"), "http.0");
    }
}
