//! What a worker's sessions ask of the world beyond their runner, carried
//! out by the worker's [`runner::Gateway`] ([`ActionGateway`]):
//!
//! - `<send>` through the SCXML Event I/O Processor to `#_scxml_<id>` of a
//!   session of another worker: the event goes to that worker's runner
//!   inbox and the worker is woken; it is journaled when its session takes
//!   it.
//! - `<send>` through the Basic HTTP Event I/O Processor (SCXML 1.0
//!   App. C.2): a POST made on the server's outbound runtime, the session
//!   held until it is answered. Sessions receive at the access URI their
//!   `_ioprocessors` advertise, on the server's own listener
//!   ([`super::basic_http`]).
//! - ORS `<session:fetch>` (ors-dialect.md §2.1): made off the worker thread
//!   by the shared executor ([`orsfetch`]) under the configured policy; the
//!   completion event comes back through the runner's inbox, and like every
//!   input it is journaled before the session sees it.
//! - ORS `<session:start>`: the runner loads the document and hands it over
//!   ([`runner::SessionStart`]); the gateway queues it for its worker, which
//!   starts it as a top-level session of its own, journaled on its own
//!   (`worker/starts.rs`).
//! - ORS `<session:terminate>` of a session of another worker: a terminate
//!   command to that worker, answered back through the inbox. (The runner
//!   ends sessions of its own worker itself.)
//! - ORS `<ws:response>`: the answer to a waiting
//!   `/scxml/session/{id}/request/{name}` ([`Responders`]).
//!
//! Completions from other threads go to the worker's runner inbox followed
//! by a wake-up command, counted in the worker's queue gauge.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::sync::mpsc::TrySendError;
use std::sync::Arc;
use std::time::Instant;

use runner::{
    Delivery, EcmaFactory, ExtensionHandoff, Gateway, Handoff, Inbound, Refusal, SessionStart,
    Ticket,
};
use scxml::datamodel::ecmascript::EcmaScriptOptions;
use scxml::{Data, BASIC_HTTP_EVENT_PROCESSOR, SCXML_EVENT_PROCESSOR};
use tokio::sync::oneshot;

use super::basic_http::Locations;
use super::responders::{Answer, Responders};
use super::worker::{Command, Peers};
use crate::metrics::Metrics;

/// What every worker (and the HTTP layer) shares to carry out actions.
pub(crate) struct Services {
    /// Requests waiting for a `<ws:response>`.
    pub(crate) responders: Responders,
    /// The sessions' Basic HTTP access URIs.
    pub(crate) basichttp: Locations,
    /// How to reach each worker.
    pub(crate) peers: Arc<Peers>,
    pub(crate) metrics: Arc<Metrics>,
    /// Sessions the server may hold (a `<session:start>` beyond it fails).
    pub(crate) max_sessions: usize,
    /// The `_genesys.session` settings of the ORS built-ins.
    pub(crate) ors: ors::OrsConfig,
    outbound: Outbound,
}

impl Services {
    pub(crate) fn new(
        peers: Arc<Peers>,
        metrics: Arc<Metrics>,
        base_url: String,
        max_sessions: usize,
        fetch: orsfetch::Policy,
    ) -> std::io::Result<Services> {
        let ors = ors::OrsConfig {
            server_url: Some(base_url.clone()),
            ..ors::OrsConfig::default()
        };
        Ok(Services {
            responders: Responders::default(),
            basichttp: Locations::new(base_url),
            peers,
            metrics,
            max_sessions,
            ors,
            outbound: Outbound::start(fetch)?,
        })
    }

    /// Tells worker `index` of something from another thread.
    pub(crate) fn notifier(&self, index: usize) -> Notifier {
        Notifier {
            peers: Arc::clone(&self.peers),
            metrics: Arc::clone(&self.metrics),
            index,
        }
    }
}

/// The ECMAScript sessions of the server: with the ORS built-ins, installed
/// only in sessions whose code names one of them (`ors::TRIGGERS`).
pub(crate) fn ecma_factory(options: EcmaScriptOptions, config: &ors::OrsConfig) -> EcmaFactory {
    let mut factory = EcmaFactory::new(options);
    let config = config.clone();
    factory
        .set_prelude(move |document| Some(ors::prelude(document, &document.source_name, &config)));
    factory
}

/// The HTTP clients and the runtime they run on, apart from the server's
/// own so that a busy API never delays a session's I/O (and tests need no
/// particular runtime).
struct Outbound {
    /// Taken on drop, to stop without waiting for requests in flight.
    runtime: Option<tokio::runtime::Runtime>,
    fetch: orsfetch::Client,
    post: basichttp::Sender,
}

impl Outbound {
    fn start(policy: orsfetch::Policy) -> std::io::Result<Outbound> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("orca-outbound")
            .enable_all()
            .build()?;
        let (fetch, post) = {
            // reqwest's clients want a runtime context to be built in.
            let _guard = runtime.enter();
            let fetch = orsfetch::Client::new(policy).map_err(std::io::Error::other)?;
            let post = basichttp::Sender::new(basichttp::DEFAULT_TIMEOUT)
                .map_err(std::io::Error::other)?;
            (fetch, post)
        };
        Ok(Outbound {
            runtime: Some(runtime),
            fetch,
            post,
        })
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(task);
        }
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Hands messages to one worker's runner from any thread.
#[derive(Clone)]
pub(crate) struct Notifier {
    peers: Arc<Peers>,
    metrics: Arc<Metrics>,
    index: usize,
}

impl Notifier {
    /// Queues `message` in the worker's runner inbox and wakes the worker;
    /// `false` if the worker is gone.
    pub(crate) fn notify(&self, message: Inbound) -> bool {
        let slots = self.peers.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Some((inbox, wake)) = slots.get(self.index).and_then(Option::as_ref) else {
            return false;
        };
        if !inbox.send(message) {
            return false;
        }
        // Counted in before sending: the worker counts it out when it takes
        // it, which may be before `try_send` returns. A full queue means the
        // worker is busy and runs its runner (which takes in the inbox)
        // before it waits again.
        let queue = self.metrics.queue_gauge(self.index);
        queue.inc();
        if wake.try_send(Command::Wake).is_err() {
            queue.dec();
        }
        true
    }
}

/// `<session:start>`s handed over during a run, for the worker to carry
/// out once its runner is idle (same thread).
pub(crate) type StartQueue = Rc<RefCell<VecDeque<(Ticket, SessionStart)>>>;

/// The gateway of one worker's runner.
pub(crate) struct ActionGateway {
    index: usize,
    services: Arc<Services>,
    starts: StartQueue,
}

impl ActionGateway {
    pub(crate) fn new(index: usize, services: Arc<Services>, starts: StartQueue) -> Self {
        ActionGateway {
            index,
            services,
            starts,
        }
    }

    /// `#_scxml_<id>` of a session of another worker.
    fn send_to_peer(&mut self, handoff: Handoff) -> Result<Delivery, Refusal> {
        let request = handoff.request;
        let is_scxml = request.kind == SCXML_EVENT_PROCESSOR || request.kind == "scxml";
        let target = request.target.as_deref().unwrap_or("");
        let Some(id) = target.strip_prefix("#_scxml_").filter(|_| is_scxml) else {
            return Err(Refusal::Execution(format!(
                "the server cannot send to {target:?} with processor {}",
                request.kind
            )));
        };
        let unreachable = || Refusal::Communication(format!("no session {id}"));
        let index = self.services.peers.worker_of(id).ok_or_else(unreachable)?;
        let message = Inbound::Event {
            session: id.to_owned(),
            event: request.event,
        };
        if !self.services.notifier(index).notify(message) {
            return Err(unreachable());
        }
        Ok(Delivery::Sent)
    }

    /// A Basic HTTP send: a POST, pending until answered (App. C.2).
    fn post(&mut self, handoff: Handoff) -> Result<Delivery, Refusal> {
        let Handoff {
            ticket,
            session_id,
            request,
        } = handoff;
        let origin = self.services.basichttp.location(&session_id);
        let post = basichttp::encode(&request, Some(&origin))
            .map_err(|e| Refusal::Communication(e.to_string()))?;
        let sender = self.services.outbound.post.clone();
        let notifier = self.services.notifier(self.index);
        self.services.outbound.spawn(async move {
            let result = sender.post(&post).await.map_err(|e| e.to_string());
            notifier.notify(Inbound::Sent { ticket, result });
        });
        Ok(Delivery::Pending)
    }

    /// `<session:fetch>` off the worker thread.
    fn fetch(&mut self, ticket: Ticket, fetch: orsfetch::Fetch) -> Result<Delivery, Refusal> {
        let notifier = self.services.notifier(self.index);
        let client = self.services.outbound.fetch.clone();
        if let Some(refused) = client.refusal(&fetch) {
            // Same thread: the runner takes it in before it waits.
            let event = Some(refused);
            notifier.notify(Inbound::Completed { ticket, event });
            return Ok(Delivery::Pending);
        }
        let metrics = Arc::clone(&self.services.metrics);
        self.services.outbound.spawn(async move {
            let started = Instant::now();
            let event = client.fetch(fetch).await;
            metrics
                .fetch_seconds
                .observe(started.elapsed().as_secs_f64());
            notifier.notify(Inbound::Completed {
                ticket,
                event: Some(event),
            });
        });
        Ok(Delivery::Pending)
    }

    /// `<session:terminate>` of a session of another worker.
    fn terminate_elsewhere(
        &mut self,
        ticket: Ticket,
        requestid: String,
        target: String,
    ) -> Result<Delivery, Refusal> {
        let services = &self.services;
        let no_session = || Refusal::Execution(format!("no session {target}"));
        let index = services.peers.worker_of(&target).ok_or_else(no_session)?;
        let (reply, answer) = oneshot::channel();
        {
            let slots = services
                .peers
                .slots
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let (_, commands) = slots
                .get(index)
                .and_then(Option::as_ref)
                .ok_or_else(no_session)?;
            let command = Command::Terminate {
                id: target.clone(),
                reply,
            };
            // Counted in before sending, as `Notifier::notify` does.
            let queue = services.metrics.queue_gauge(index);
            queue.inc();
            match commands.try_send(command) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    queue.dec();
                    return Err(Refusal::Execution(format!(
                        "the worker of session {target} is busy"
                    )));
                }
                Err(TrySendError::Disconnected(_)) => {
                    queue.dec();
                    return Err(no_session());
                }
            }
        }
        let notifier = services.notifier(self.index);
        services.outbound.spawn(async move {
            let event = match answer.await {
                Ok(Ok(())) => ors::events::terminate_done(&requestid, &target),
                Ok(Err(e)) => ors::events::terminate_error(&requestid, &target, &e.to_string()),
                Err(_) => {
                    let message = "the server stopped before the session was terminated";
                    ors::events::terminate_error(&requestid, &target, message)
                }
            };
            notifier.notify(Inbound::Completed {
                ticket,
                event: Some(event),
            });
        });
        Ok(Delivery::Pending)
    }

    /// `<ws:response>`: answers the waiting request, if any.
    fn respond(&self, session: &str, requestid: &str, answer: Answer) {
        if !self.services.responders.answer(requestid, answer) {
            tracing::warn!(
                session,
                requestid,
                "<ws:response> to a request nothing waits for (answered already, timed out, \
                 or made before a restart): dropped"
            );
        }
    }
}

impl Gateway for ActionGateway {
    fn open(&mut self, session_id: &str) -> Vec<(String, String)> {
        self.services.basichttp.open(session_id)
    }

    fn close(&mut self, session_id: &str) {
        self.services.basichttp.close(session_id);
        self.services.responders.session_ended(session_id);
    }

    fn send(&mut self, handoff: Handoff) -> Result<Delivery, Refusal> {
        let kind = handoff.request.kind.as_str();
        if kind == BASIC_HTTP_EVENT_PROCESSOR || kind == "basichttp" {
            self.post(handoff)
        } else {
            self.send_to_peer(handoff)
        }
    }

    fn extension(&mut self, handoff: ExtensionHandoff) -> Result<Delivery, Refusal> {
        let ExtensionHandoff {
            ticket,
            session_id,
            request,
        } = handoff;
        let request = match request.downcast::<SessionStart>() {
            Ok(start) => {
                self.starts.borrow_mut().push_back((ticket, *start));
                return Ok(Delivery::Pending);
            }
            Err(other) => other,
        };
        let Ok(request) = request.downcast::<ors::Request>() else {
            return Err(Refusal::Execution(
                "the server does not know this dialect request".to_owned(),
            ));
        };
        let request = match orsfetch::Fetch::from_request(request) {
            Ok(fetch) => return self.fetch(ticket, fetch),
            Err(other) => other,
        };
        match *request {
            ors::Request::Terminate {
                requestid,
                session_id: target,
            } => self.terminate_elsewhere(ticket, requestid, target),
            ors::Request::Response {
                requestid,
                kind,
                resultcode,
                params,
            } => {
                let answer = Answer {
                    requestid: requestid.clone(),
                    kind,
                    resultcode,
                    params: Data::Object(params).to_json(),
                };
                self.respond(&session_id, &requestid, answer);
                Ok(Delivery::Sent)
            }
            // The runner loads the document of a start and hands it over as
            // a `SessionStart` (see `Runner::delegate_ors_starts`).
            other => Err(Refusal::Execution(format!(
                "the server does not carry out {other:?} here"
            ))),
        }
    }
}
