//! The host side of the ORS dialect under `orca run`: a [`Gateway`] that
//! carries out `<session:fetch>` with reqwest (rustls) on a tokio runtime
//! of its own, reporting back through the runner's [`Inbox`], and passes
//! Basic HTTP sends to [`basichttp::HttpGateway`] when the chart needs it.
//!
//! `<ws:response>` answers an HTTP request made to the session
//! (`/scxml/session/{id}/request/{name}`); `orca run` takes no such request,
//! so the session gets `error.execution` saying so.

use std::time::Duration;

use runner::{Delivery, ExtensionHandoff, Gateway, Handoff, Inbound, Inbox, Refusal, Ticket};
use scxml::{Data, Event};
use tokio::runtime::Runtime;

/// How long a fetch without a `timeout` may take, so that a session held
/// by its fetch is never held for ever.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The gateway of `orca run`.
pub(crate) struct RunGateway {
    /// Basic HTTP, for charts that mention it.
    http: Option<basichttp::HttpGateway>,
    /// Started at the first fetch.
    fetcher: Option<Fetcher>,
    inbox: Inbox,
}

impl RunGateway {
    pub(crate) fn new(http: Option<basichttp::HttpGateway>, inbox: Inbox) -> Self {
        RunGateway {
            http,
            fetcher: None,
            inbox,
        }
    }
}

impl Gateway for RunGateway {
    fn open(&mut self, session_id: &str) -> Vec<(String, String)> {
        match &mut self.http {
            Some(http) => http.open(session_id),
            None => Vec::new(),
        }
    }

    fn close(&mut self, session_id: &str) {
        if let Some(http) = &mut self.http {
            http.close(session_id);
        }
    }

    fn send(&mut self, handoff: Handoff) -> Result<Delivery, Refusal> {
        match &mut self.http {
            Some(http) => http.send(handoff),
            None => Err(Refusal::Communication(format!(
                "this host cannot deliver through event I/O processor {}",
                handoff.request.kind
            ))),
        }
    }

    fn extension(&mut self, handoff: ExtensionHandoff) -> Result<Delivery, Refusal> {
        let ExtensionHandoff {
            ticket, request, ..
        } = handoff;
        let Ok(request) = request.downcast::<ors::Request>() else {
            return Err(Refusal::Execution(
                "orca run does not know this dialect request".to_owned(),
            ));
        };
        match *request {
            ors::Request::Response { requestid, .. } => Err(Refusal::Execution(format!(
                "<ws:response>: orca run takes no HTTP requests, so request {requestid} \
                 cannot be answered"
            ))),
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
            } => {
                if self.fetcher.is_none() {
                    let fetcher = Fetcher::start().map_err(|e| {
                        Refusal::Execution(format!("cannot start the HTTP client: {e}"))
                    })?;
                    self.fetcher = Some(fetcher);
                }
                let Some(fetcher) = &self.fetcher else {
                    return Err(Refusal::Execution("no HTTP client".to_owned()));
                };
                let fetch = Fetch {
                    requestid,
                    url,
                    method,
                    enctype,
                    accept,
                    headers,
                    timeout: timeout_ms.map_or(DEFAULT_TIMEOUT, Duration::from_millis),
                    params,
                    content,
                };
                fetcher.spawn(ticket, fetch, self.inbox.clone());
                Ok(Delivery::Pending)
            }
            // The runner carries out start and terminate itself.
            _ => Err(Refusal::Execution(
                "orca run does not carry out this request".to_owned(),
            )),
        }
    }
}

/// One `<session:fetch>` to make.
struct Fetch {
    requestid: String,
    url: String,
    method: String,
    enctype: String,
    accept: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    params: Vec<(String, Data)>,
    content: Option<Data>,
}

/// An HTTP client on a one-worker runtime.
struct Fetcher {
    /// Taken on drop, to shut down without waiting.
    runtime: Option<Runtime>,
    client: reqwest::Client,
}

impl Fetcher {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ors-fetch")
            .enable_all()
            .build()?;
        let client = {
            // reqwest's client wants a runtime context to be built in.
            let _guard = runtime.enter();
            reqwest::Client::builder()
                .build()
                .map_err(std::io::Error::other)?
        };
        Ok(Fetcher {
            runtime: Some(runtime),
            client,
        })
    }

    fn spawn(&self, ticket: Ticket, fetch: Fetch, inbox: Inbox) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        let client = self.client.clone();
        runtime.spawn(async move {
            let event = run_fetch(&client, fetch).await;
            inbox.send(Inbound::Completed {
                ticket,
                event: Some(event),
            });
        });
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        // Requests still out are abandoned: the run is over.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Makes the request; the completion event for the session.
async fn run_fetch(client: &reqwest::Client, fetch: Fetch) -> Event {
    let requestid = fetch.requestid.clone();
    let fields: Vec<(String, String)> = fetch
        .params
        .iter()
        .map(|(k, v)| (k.clone(), text_of(v)))
        .collect();
    let mut request = if fetch.method == "POST" {
        let request = client.post(&fetch.url);
        match &fetch.content {
            // A string body goes as it is, anything else as JSON.
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
        client.get(&fetch.url).query(&fields)
    };
    if let Some(accept) = &fetch.accept {
        request = request.header(reqwest::header::ACCEPT, accept);
    }
    for (name, value) in &fetch.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = match request.timeout(fetch.timeout).send().await {
        Ok(response) => response,
        Err(e) => return ors::events::fetch_error(&requestid, 0, &e.to_string()),
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
    let body = match response.text().await {
        Ok(body) => body,
        Err(e) => return ors::events::fetch_error(&requestid, status.as_u16(), &e.to_string()),
    };
    if !status.is_success() {
        let description = format!("{} answered {status}", fetch.url);
        return ors::events::fetch_error(&requestid, status.as_u16(), &description);
    }
    ors::events::fetch_done(&requestid, status.as_u16(), body, headers)
}

/// A parameter value as form text: strings as they are, the rest as JSON.
fn text_of(value: &Data) -> String {
    match value {
        Data::String(s) => s.clone(),
        Data::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        other => other.to_json().to_string(),
    }
}
