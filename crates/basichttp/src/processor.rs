//! The processor for a synchronous host: its own tokio runtime (one worker
//! thread) runs the receiver on a loopback port and the POSTs, and
//! [`HttpGateway`] plugs it into a [`runner::Runner`].

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use runner::{Delivery, Gateway, Handoff, Inbound, Inbox, Refusal};
use scxml::{Event, BASIC_HTTP_EVENT_PROCESSOR};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::codec::{encode, Post};
use crate::receiver::{access_uri, router, Deliver, Unknown};
use crate::sender::{SendError, Sender, DEFAULT_TIMEOUT};

/// Why the processor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The runtime or the listening socket.
    #[error("cannot listen for Basic HTTP events: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP client.
    #[error(transparent)]
    Client(#[from] SendError),
}

/// Serves `app` on `listener` until `shutdown` completes; for hosts that run
/// the receiver on a runtime of their own.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A running receiver and sender. Dropping it stops both.
pub struct Processor {
    /// `None` only while dropping.
    runtime: Option<Runtime>,
    address: SocketAddr,
    sender: Sender,
    /// Ends [`serve`].
    shutdown: Option<oneshot::Sender<()>>,
}

impl Processor {
    /// Listens on `address` (port 0 for any free one) and hands what
    /// arrives to `deliver`.
    pub fn start(address: SocketAddr, deliver: Arc<dyn Deliver>) -> Result<Self, StartError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("basichttp")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind(address))?;
        let address = listener.local_addr()?;
        let (shutdown, stop) = oneshot::channel::<()>();
        runtime.spawn(serve(listener, router(deliver), async {
            let _ = stop.await;
        }));
        let sender = {
            // reqwest's client wants a runtime context to be built in.
            let _guard = runtime.enter();
            Sender::new(DEFAULT_TIMEOUT)?
        };
        Ok(Processor {
            runtime: Some(runtime),
            address,
            sender,
            shutdown: Some(shutdown),
        })
    }

    /// The address the receiver listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The access URI of session `session_id`.
    pub fn location(&self, session_id: &str) -> String {
        access_uri(&format!("http://{}", self.address), session_id)
    }

    /// Makes a POST in the background; `done` gets its result, on the
    /// processor's thread.
    pub fn post(&self, post: Post, done: impl FnOnce(Result<(), SendError>) + Send + 'static) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        let sender = self.sender.clone();
        runtime.spawn(async move { done(sender.post(&post).await) });
    }
}

impl Drop for Processor {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            // Do not wait for requests still in flight.
            runtime.shutdown_background();
        }
    }
}

/// The sessions whose access URIs take events: those the runner opened
/// and has not closed.
type OpenSessions = Arc<Mutex<HashSet<String>>>;

/// The Basic HTTP Event I/O Processor as a [`runner::Gateway`]: every
/// session gets an access URI (`_ioprocessors['basichttp'].location` and
/// under the type URI); events POSTed there go to the runner's inbox;
/// sends of type Basic HTTP become POSTs, pending until answered.
pub struct HttpGateway {
    processor: Processor,
    open: OpenSessions,
    inbox: Inbox,
}

impl HttpGateway {
    /// Starts listening on an ephemeral loopback port for the runner whose
    /// inbox is `inbox`.
    pub fn start(inbox: Inbox) -> Result<Self, StartError> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), inbox)
    }

    /// Like [`start`](Self::start), on a given address.
    pub fn start_on(address: SocketAddr, inbox: Inbox) -> Result<Self, StartError> {
        let open = OpenSessions::default();
        let deliver = {
            let open = Arc::clone(&open);
            let inbox = inbox.clone();
            move |session: &str, event: Event| {
                let known = open
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .contains(session);
                if !known {
                    return Err(Unknown);
                }
                // Queued before the 200 goes out, so before the sender
                // learns its POST succeeded (the order test 201 needs).
                let session = session.to_owned();
                match inbox.send(Inbound::Event { session, event }) {
                    true => Ok(()),
                    false => Err(Unknown),
                }
            }
        };
        let processor = Processor::start(address, Arc::new(deliver))?;
        Ok(HttpGateway {
            processor,
            open,
            inbox,
        })
    }

    /// The processor (its address, locations).
    pub fn processor(&self) -> &Processor {
        &self.processor
    }
}

impl Gateway for HttpGateway {
    fn open(&mut self, session_id: &str) -> Vec<(String, String)> {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session_id.to_owned());
        let location = self.processor.location(session_id);
        vec![
            ("basichttp".to_owned(), location.clone()),
            (BASIC_HTTP_EVENT_PROCESSOR.to_owned(), location),
        ]
    }

    fn close(&mut self, session_id: &str) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(session_id);
    }

    fn send(&mut self, handoff: Handoff) -> Result<Delivery, Refusal> {
        let Handoff {
            ticket,
            session_id,
            request,
        } = handoff;
        if request.kind != BASIC_HTTP_EVENT_PROCESSOR && request.kind != "basichttp" {
            // An SCXML target that is no session of the runner.
            let target = request.target.unwrap_or_default();
            return Err(Refusal::Communication(format!(
                "no session to deliver to at {target:?}"
            )));
        }
        let origin = self.processor.location(&session_id);
        let post =
            encode(&request, Some(&origin)).map_err(|e| Refusal::Communication(e.to_string()))?;
        let inbox = self.inbox.clone();
        self.processor.post(post, move |result| {
            let result = result.map_err(|e| e.to_string());
            inbox.send(Inbound::Sent { ticket, result });
        });
        Ok(Delivery::Pending)
    }
}
