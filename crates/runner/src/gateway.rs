//! The runner's door to the world outside its thread: a [`Gateway`] takes
//! the sends the runner cannot deliver itself, and an [`Inbox`] brings
//! events and send results back from any thread.
//!
//! The runner delivers sends of the SCXML Event I/O Processor between its
//! own sessions (SCXML 1.0 App. C.1). Everything else — another event I/O
//! processor such as Basic HTTP (App. C.2), or `#_scxml_<id>` naming no
//! session of this runner (a session of another runner of the same process)
//! — goes to the host's gateway, if it has one. The gateway answers at once:
//! delivered, refused (an error event for the sender), or pending. A pending
//! send *holds* its session until the host reports its result through the
//! inbox: the session's later actions wait and it takes no event. So a send
//! completes before anything its session does after it, whatever the
//! transport: an HTTP POST a session makes to itself arrives before an event
//! it sends itself next (W3C test 201), and with the virtual clock no timer
//! fires while a request is out (requests take no session time).

use std::sync::mpsc;

use scxml::{Event, SendRequest};

/// What a host does with the sends a runner hands off, and the addresses it
/// gives sessions.
pub trait Gateway {
    /// A session `session_id` is being created: the extra entries of its
    /// `_ioprocessors` (processor type or short name, location), e.g. its
    /// Basic HTTP access URI.
    fn open(&mut self, session_id: &str) -> Vec<(String, String)> {
        let _ = session_id;
        Vec::new()
    }

    /// The session ended or was released: its addresses may go.
    fn close(&mut self, session_id: &str) {
        let _ = session_id;
    }

    /// A send the runner cannot deliver itself. `Pending` promises an
    /// [`Inbound::Sent`] with the handoff's ticket later.
    fn send(&mut self, handoff: Handoff) -> Result<Delivery, Refusal>;

    /// A dialect request the runner cannot carry out itself (ORS
    /// `<session:fetch>`, `<ws:response>`: I/O belongs to the host).
    /// `Pending` holds the session like a pending send and promises an
    /// [`Inbound::Completed`] with the ticket; `Sent` means done, no event.
    /// By default every request is refused (`error.execution`).
    fn extension(&mut self, handoff: ExtensionHandoff) -> Result<Delivery, Refusal> {
        let _ = handoff;
        Err(Refusal::Execution(
            "this host does not carry out dialect requests".to_owned(),
        ))
    }
}

/// One dialect request handed to the gateway.
pub struct ExtensionHandoff {
    /// Names this request in [`Inbound::Completed`].
    pub ticket: Ticket,
    /// `_sessionid` of the requesting session.
    pub session_id: String,
    /// The request (e.g. an `ors::Request`), for the host to downcast.
    pub request: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for ExtensionHandoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtensionHandoff")
            .field("ticket", &self.ticket)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// An ORS `<session:start>` the host carries out, handed to
/// [`Gateway::extension`] by a runner told to
/// [`delegate_ors_starts`](crate::Runner::delegate_ors_starts): the
/// document is loaded (relative to the requester's) and the id chosen. The
/// host starts it ([`Runner::spawn_named`](crate::Runner::spawn_named)) and
/// reports `session.start.done` or `error.session.start` (`ors::events`)
/// in [`Inbound::Completed`].
#[derive(Debug)]
pub struct SessionStart {
    /// The request id, for the completion event.
    pub requestid: String,
    /// The id the new session must have (already in the requester's
    /// `sessionid` location).
    pub session_id: String,
    /// The document to start.
    pub document: std::sync::Arc<scxml::Document>,
    /// `<param>` values, for the top-level `<data>` of the same ids.
    pub params: Vec<(String, scxml::Data)>,
}

/// One send handed to the gateway.
#[derive(Debug)]
pub struct Handoff {
    /// Names this send in [`Inbound::Sent`].
    pub ticket: Ticket,
    /// `_sessionid` of the sending session.
    pub session_id: String,
    /// The send as the session made it (the event's `origin` is the
    /// sender's SCXML address; a gateway may replace it with its own).
    pub request: SendRequest,
}

/// Names one pending send of a runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket(pub(crate) u64);

/// How the gateway took a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered (or queued where it cannot fail any more): nothing to wait for.
    Sent,
    /// Under way: the sending session is held until [`Inbound::Sent`] comes.
    Pending,
}

/// Why the gateway cannot take a send: the error event the sender gets,
/// with the send's `sendid` (§5.10.1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `error.communication`: the target cannot be reached (App. C).
    #[error("{0}")]
    Communication(String),
    /// `error.execution`: the send is not one this host supports (§6.2.4).
    #[error("{0}")]
    Execution(String),
}

impl Refusal {
    /// The name of the error event.
    pub fn event_name(&self) -> &'static str {
        match self {
            Refusal::Communication(_) => "error.communication",
            Refusal::Execution(_) => "error.execution",
        }
    }
}

/// A message for a runner from another thread.
#[derive(Debug)]
pub enum Inbound {
    /// An external event for the session whose `_sessionid` is `session`;
    /// dropped if no such session is running.
    Event {
        /// The target's `_sessionid`.
        session: String,
        /// The event, all fields set by the sender.
        event: Event,
    },
    /// The result of a pending send: an error message becomes
    /// `error.communication` for the sender.
    Sent {
        /// The handoff's ticket.
        ticket: Ticket,
        /// `Err(message)` if the send failed.
        result: Result<(), String>,
    },
    /// The end of a pending dialect request: `event` (its completion event,
    /// e.g. `session.fetch.done`) goes to the requesting session's queue
    /// and the session's hold ends.
    Completed {
        /// The handoff's ticket.
        ticket: Ticket,
        /// The completion event, if any.
        event: Option<Event>,
    },
    /// Nothing to deliver: wakes a runner waiting for input, for a host
    /// whose own input arrived elsewhere.
    Wake,
}

/// A handle to send [`Inbound`] messages to a runner; cheap to clone, usable
/// from any thread.
#[derive(Clone, Debug)]
pub struct Inbox(pub(crate) mpsc::Sender<Inbound>);

impl Inbox {
    /// Queues a message; `false` if the runner is gone.
    pub fn send(&self, message: Inbound) -> bool {
        self.0.send(message).is_ok()
    }
}
