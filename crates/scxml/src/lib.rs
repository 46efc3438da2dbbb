//! Orca's SCXML engine: documents, the W3C interpretation algorithm and the
//! ECMAScript data model, without any I/O.
//!
//! - [`document`] parses SCXML 1.0 into an immutable, validated, indexed
//!   [`Document`] that any number of sessions share.
//! - [`Interpreter`] runs one session of a document by the algorithm of SCXML
//!   1.0 Appendix D. It is *sans-IO*: the host feeds it inputs (`start`,
//!   `handle_event`, `handle_timeout`, `terminate`, each with the current
//!   time) and drains the [`Action`]s it asks for (sends, invocations, logs,
//!   custom actions, done). It never reads a clock, a socket or a file while
//!   it runs, which makes sessions deterministic, replayable and persistable.
//! - [`datamodel`] defines the [`DataModel`] interface and implements the
//!   ECMAScript data model on QuickJS.
//!
//! What this crate does not do: deliver events between sessions, fire timers,
//! fetch documents over a network, or start child sessions. Hosts do that
//! (`runner` for the command line, the server for `orca serve`).

#![warn(missing_docs, unreachable_pub)]

mod action;
mod data;
pub mod datamodel;
pub mod document;
mod event;
mod interpreter;
pub mod snapshot;
mod time;

pub use action::{Action, InvokeRequest, InvokeSource, SendRequest};
pub use data::Data;
pub use datamodel::{DataModel, DataModelError};
pub use document::{Document, DocumentError, StateId};
pub use event::{
    Event, EventKind, BASIC_HTTP_EVENT_PROCESSOR, SCXML_EVENT_PROCESSOR, SCXML_INVOKE_TYPE,
};
pub use interpreter::{
    CustomContext, CustomError, CustomHandler, CustomHandlers, ExtensionRequest, Interpreter,
    Microstep, Observer, Outcome, SessionDirectory, SessionOptions,
};
pub use snapshot::{NotSnapshottable, RestoreError, Snapshot};
pub use time::Timestamp;
