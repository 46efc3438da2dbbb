//! The host side of the ORS dialect under `orca run`: a [`Gateway`] that
//! carries out `<session:fetch>` with the shared executor ([`orsfetch`],
//! any host, its default size and time limits) on a tokio runtime of its
//! own, reporting back through the runner's [`Inbox`], and passes
//! Basic HTTP sends to [`basichttp::HttpGateway`] when the chart needs it.
//!
//! `<ws:response>` answers an HTTP request made to the session
//! (`/scxml/session/{id}/request/{name}`); `orca run` takes no such request,
//! so the session gets `error.execution` saying so.

use runner::{Delivery, ExtensionHandoff, Gateway, Handoff, Inbound, Inbox, Refusal, Ticket};
use tokio::runtime::Runtime;

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
        let request = match orsfetch::Fetch::from_request(request) {
            Ok(fetch) => {
                if self.fetcher.is_none() {
                    let fetcher = Fetcher::start().map_err(|e| {
                        Refusal::Execution(format!("cannot start the HTTP client: {e}"))
                    })?;
                    self.fetcher = Some(fetcher);
                }
                let Some(fetcher) = &self.fetcher else {
                    return Err(Refusal::Execution("no HTTP client".to_owned()));
                };
                fetcher.spawn(ticket, fetch, self.inbox.clone());
                return Ok(Delivery::Pending);
            }
            Err(other) => other,
        };
        match *request {
            ors::Request::Response { requestid, .. } => Err(Refusal::Execution(format!(
                "<ws:response>: orca run takes no HTTP requests, so request {requestid} \
                 cannot be answered"
            ))),
            // The runner carries out start and terminate itself.
            _ => Err(Refusal::Execution(
                "orca run does not carry out this request".to_owned(),
            )),
        }
    }
}

/// The shared `<session:fetch>` executor on a one-worker runtime.
struct Fetcher {
    /// Taken on drop, to shut down without waiting.
    runtime: Option<Runtime>,
    client: orsfetch::Client,
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
            orsfetch::Client::new(orsfetch::Policy::default()).map_err(std::io::Error::other)?
        };
        Ok(Fetcher {
            runtime: Some(runtime),
            client,
        })
    }

    fn spawn(&self, ticket: Ticket, fetch: orsfetch::Fetch, inbox: Inbox) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        let client = self.client.clone();
        runtime.spawn(async move {
            let event = client.fetch(fetch).await;
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
