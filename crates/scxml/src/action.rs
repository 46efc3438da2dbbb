//! Actions: what the interpreter asks its host to do (the outputs of the
//! sans-IO core), drained with [`Interpreter::poll_action`](crate::Interpreter::poll_action).

use std::sync::Arc;

use crate::data::Data;
use crate::document::{CustomAction, Document};
use crate::event::Event;

/// One request from a session to its host, in the order the session made them.
#[derive(Debug)]
pub enum Action {
    /// Deliver an event through an event I/O processor. Delays have already
    /// elapsed; `#_internal` never reaches the host.
    Send(SendRequest),
    /// Start a child session (§6.4).
    Invoke(InvokeRequest),
    /// Stop a child session: its invoking state was exited (§6.4.4).
    CancelInvoke {
        /// The id of the invocation.
        invokeid: String,
    },
    /// Forward an external event to a child invoked with `autoforward="true"`.
    Forward {
        /// The id of the invocation.
        invokeid: String,
        /// The event, as the parent received it.
        event: Event,
    },
    /// `<log>`.
    Log {
        /// The `label` attribute.
        label: Option<String>,
        /// The value of `expr`.
        value: Data,
        /// The ORS `level` attribute.
        level: Option<String>,
    },
    /// Carry out an element of a foreign namespace that no registered
    /// [`CustomHandler`](crate::CustomHandler) handles.
    Custom(Arc<CustomAction>),
    /// Carry out a request a custom action handler made: asynchronous work
    /// whose completion the host reports back as external events (e.g.
    /// `session.fetch.done`). Its type belongs to the dialect.
    Extension(crate::ExtensionRequest),
    /// The session reached a top-level final state and has stopped (§3.7).
    /// The host sends `done.invoke.<id>` with `donedata` to the parent, if any.
    Done {
        /// The id of the top-level final state reached.
        final_state: String,
        /// The `<donedata>` of that state.
        donedata: Data,
    },
}

/// An event to deliver to a target other than the session itself.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SendRequest {
    /// The target URI (`#_parent`, `#_<invokeid>`, `#_scxml_<sessionid>`, a
    /// URL), or `None` for the session's own external queue.
    pub target: Option<String>,
    /// The I/O processor type URI (already checked to be supported).
    pub kind: String,
    /// The event, with `sendid`, `origin`, `origintype` and `data` filled in.
    pub event: Event,
}

/// A child session to start.
#[derive(Debug)]
pub struct InvokeRequest {
    /// The invocation id (`id`, or generated and stored in `idlocation`).
    pub invokeid: String,
    /// The invoke type URI.
    pub kind: String,
    /// Where the child document comes from.
    pub source: InvokeSource,
    /// `namelist` and `<param>` values: for an SCXML child, they set the
    /// child's top-level data of the same names (§6.4.4).
    pub params: Vec<(String, Data)>,
    /// `autoforward="true"`.
    pub autoforward: bool,
}

/// The document of an invocation.
#[derive(Debug)]
pub enum InvokeSource {
    /// `src` or `srcexpr`: a URI, relative to the invoking document.
    Url(String),
    /// Inline `<content>` prepared with the parent document.
    Document(Arc<Document>),
    /// `<content expr>`: source text to parse.
    Text(String),
}
