//! Snapshots: the exact state of a session between two inputs, from which
//! [`Interpreter::restore`](crate::Interpreter::restore) rebuilds a session
//! that behaves as the original would have for every further input.
//!
//! A snapshot is all or nothing. When a part of the state cannot be written
//! down exactly (a function or a `Date` in the data model, two variables
//! sharing one object, ...), [`Interpreter::snapshot`](crate::Interpreter::snapshot)
//! answers [`NotSnapshottable`] and the host keeps replaying from an older
//! point; it never gets an approximate snapshot.
//!
//! The types are serde types so that a host can store them (the server uses
//! postcard, which keeps NaN and `-0`). They describe the state in terms of
//! the document (`StateId`s in document order), so a snapshot is only
//! meaningful with the document it was taken from; `restore` checks the
//! state count, the host must check the document itself (its hash).

use serde::{Deserialize, Serialize};

use crate::action::SendRequest;
use crate::data::Data;
use crate::event::Event;
use crate::interpreter::Outcome;
use crate::time::Timestamp;

/// The state of one session between inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Number of states of the document (a cheap check that the snapshot
    /// belongs to the document it is restored with).
    pub states: u32,
    /// Active states (App. D `configuration`), by `StateId`, in document order.
    pub configuration: Vec<u32>,
    /// States entered whose invocations are still to start (empty between inputs).
    pub states_to_invoke: Vec<u32>,
    /// States whose `<data>` has been initialised (late binding).
    pub data_initialized: Vec<u32>,
    /// Recorded history (App. D `historyValue`): history state → states.
    pub history: Vec<(u32, Vec<u32>)>,
    /// App. D `internalQueue` (empty between inputs).
    pub internal_queue: Vec<Event>,
    /// App. D `running`.
    pub running: bool,
    /// How the session ended, if it has.
    pub outcome: Option<Outcome>,
    /// Delayed sends not yet due, in the order they fire.
    pub timers: Vec<PendingSend>,
    /// The sequence number of the last delayed send scheduled (orders sends
    /// due at the same time).
    pub timer_sequence: u64,
    /// Invocations started and not cancelled.
    pub invocations: Vec<ActiveInvocation>,
    /// The `now` of the last input.
    pub now: Timestamp,
    /// The counter behind generated send and invoke ids.
    pub next_id: u64,
    /// The data model's variables and generators.
    pub datamodel: DataModelSnapshot,
}

/// A delayed `<send>` waiting in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingSend {
    /// When it falls due.
    pub due: Timestamp,
    /// Its place among sends due at the same time.
    pub sequence: u64,
    /// The id `<cancel>` finds it by.
    pub sendid: Option<String>,
    /// What it does.
    pub delivery: Delivery,
}

/// What a delayed send does when it falls due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Delivery {
    /// Becomes an [`Action::Send`](crate::Action::Send) for the host.
    Send(SendRequest),
    /// Goes to the session's internal queue (`#_internal`).
    Internal(Event),
}

/// An `<invoke>` whose child is running.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveInvocation {
    /// The invoke id (given or generated).
    pub invokeid: String,
    /// The state that holds the `<invoke>`.
    pub state: u32,
    /// Which of the state's `<invoke>` elements, in document order.
    pub index: u32,
}

/// The state of a data model between inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataModelSnapshot {
    /// The global variables a session created (its `<data>`, the `var`s of
    /// its scripts, names assigned without declaration), in the order the
    /// engine lists them, excluding built-ins, system variables and what a
    /// dialect prelude defines.
    pub globals: Vec<GlobalVariable>,
    /// The position of the injected `Math.random()` generator.
    pub random_state: u64,
    /// `_event`: the last event the session processed.
    pub event: Option<Event>,
    /// Whether the injected `Date`/`Math.random` were in place.
    pub clock_installed: bool,
    /// Whether the dialect prelude had been installed.
    pub prelude_installed: bool,
}

/// One global variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlobalVariable {
    /// Its name.
    pub name: String,
    /// Its value (plain data only: see [`NotSnapshottable`]).
    pub value: Data,
    /// Whether it can be deleted (`x = 1` without a declaration makes a
    /// configurable property, `var x` and `<data>` a non-configurable one).
    pub configurable: bool,
}

/// Why a session cannot be snapshotted now. The session is fine; a later
/// snapshot may succeed once the value is gone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotSnapshottable {
    /// The data model cannot take snapshots at all.
    #[error("the data model does not support snapshots")]
    Unsupported,
    /// A value that cannot be written down exactly (`path` names it, e.g.
    /// `calls[2].started`).
    #[error("{path} cannot be captured exactly: {why}")]
    Value {
        /// Where the value is.
        path: String,
        /// What it is (a function, a Date, an object with another prototype...).
        why: String,
    },
    /// A script declared global `let`/`const`/`class` bindings, which live
    /// outside the global object and cannot be enumerated.
    #[error("a <script> declared global let/const/class bindings")]
    LexicalGlobals,
    /// An XML DOM is in use in the data model.
    #[error("the session has used XML (DOM nodes cannot be captured)")]
    Xml,
    /// The host has not drained the actions of the last input.
    #[error("actions of the last input are still pending")]
    PendingActions,
    /// A script engine failure while reading the state.
    #[error("the data model failed while being read: {0}")]
    Engine(String),
}

/// Why a snapshot could not be restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The snapshot does not fit the document.
    #[error("the snapshot does not fit the document: {0}")]
    Mismatch(String),
    /// The data model could not take the values back.
    #[error("the data model could not be restored: {0}")]
    DataModel(String),
}
