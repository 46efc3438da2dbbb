//! The data model interface the interpreter evaluates through (SCXML 1.0 §5),
//! and its ECMAScript implementation.
//!
//! The interpreter never sees a script engine: it asks the data model to
//! evaluate the [`Code`](crate::document::Code) of its document by
//! [`CodeId`], so an implementation can compile each piece once and cache it.
//! Failures come back as [`DataModelError`]; the interpreter turns them into
//! `error.execution` events (§5.10, §3.12.2) and the session goes on.

pub mod ecmascript;

use crate::data::Data;
use crate::document::CodeId;
use crate::event::Event;
use crate::snapshot::{DataModelSnapshot, NotSnapshottable, RestoreError};
use crate::time::Timestamp;

/// Why an evaluation failed. Each becomes `error.execution`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataModelError {
    /// The code raised an exception or did not compile.
    #[error("{0}")]
    Script(String),
    /// The code ran past its time budget and was interrupted.
    #[error("script interrupted: time budget of {budget_ms} ms exceeded")]
    Interrupted {
        /// The budget that was exceeded.
        budget_ms: u64,
    },
    /// The session's script heap is full.
    #[error("script memory limit exceeded")]
    OutOfMemory,
    /// The location cannot be assigned (undeclared, read-only system variable, not an lvalue).
    #[error("invalid location: {0}")]
    InvalidLocation(String),
    /// A value is not what the construct needs (a non-iterable `<foreach array>`, ...).
    #[error("{0}")]
    Type(String),
}

/// The system variables bound once per session (§5.10).
#[derive(Clone, Debug)]
pub struct SystemVariables {
    /// `_sessionid`.
    pub session_id: String,
    /// `_name` (the `name` attribute of `<scxml>`).
    pub name: Option<String>,
    /// `_ioprocessors`: processor type (or short name) to its `location`.
    pub ioprocessors: Vec<(String, String)>,
}

/// A data model: the variables of one session and the evaluation of its code.
///
/// One instance belongs to one session. Every method is synchronous and
/// deterministic given its inputs; [`begin_macrostep`](Self::begin_macrostep)
/// passes the host's time so that `Date` and the script time budget follow it.
pub trait DataModel {
    /// Binds `_sessionid`, `_name`, `_ioprocessors` (read-only) and the `In()`
    /// predicate. Called once, before anything else.
    fn bind_system(&mut self, system: &SystemVariables) -> Result<(), DataModelError>;

    /// Starts a macrostep: resets the script time budget; `now` is what
    /// `Date.now()` returns until the next call.
    fn begin_macrostep(&mut self, now: Timestamp);

    /// Tells `In()` which states are active: bit `i % 64` of `active[i / 64]`
    /// is set when `StateId(i)` is. Called whenever the configuration changes,
    /// if the document uses `In()` (§5.9.1: states count as active from the
    /// moment they are entered, before their `<onentry>` runs).
    fn set_configuration(&mut self, active: &[u64]);

    /// Creates the variable `id` (§5.2) and sets it to `value`'s result;
    /// `undefined` when `None`. On failure the variable still exists, unset.
    fn declare(&mut self, id: &str, value: DeclareValue<'_>) -> Result<(), DataModelError>;

    /// Evaluates a condition (§5.9.1): the result converted to boolean.
    fn evaluate_bool(&mut self, code: CodeId) -> Result<bool, DataModelError>;

    /// Evaluates a value expression.
    fn evaluate(&mut self, code: CodeId) -> Result<Data, DataModelError>;

    /// Evaluates an expression and converts the result to a string as the
    /// language does (for `eventexpr`, `targetexpr`, `delayexpr`, ...).
    fn evaluate_string(&mut self, code: CodeId) -> Result<String, DataModelError>;

    /// `<assign>` (§5.4): the location must exist, or `InvalidLocation`.
    fn assign(&mut self, location: CodeId, value: AssignFrom<'_>) -> Result<(), DataModelError>;

    /// Runs a `<script>` (§5.8) as global code.
    fn execute(&mut self, script: CodeId) -> Result<(), DataModelError>;

    /// Starts a `<foreach>` (§4.6): evaluates `array`, keeps a shallow copy,
    /// returns its length. Fails if it is not an array (App. B.2).
    fn foreach_begin(&mut self, array: CodeId) -> Result<usize, DataModelError>;

    /// Binds the item (and index) of iteration `i` of the innermost `<foreach>`,
    /// declaring them if needed. Fails for an illegal item or index location.
    fn foreach_bind(
        &mut self,
        item: CodeId,
        index: Option<CodeId>,
        i: usize,
    ) -> Result<(), DataModelError>;

    /// Ends the innermost `<foreach>` (always called after `foreach_begin` succeeded).
    fn foreach_end(&mut self);

    /// Sets `_event` for the event about to be processed (§5.10.1).
    fn set_event(&mut self, event: &Event);

    /// The current values of the document's `<data>` variables, as an
    /// object in document order (for queries and snapshots). A variable whose
    /// value cannot be data (a function, a cycle) is `undefined`.
    fn data_snapshot(&mut self) -> Data;

    /// Takes what scripts asked of the session through dialect built-ins
    /// since the last call (ORS `__Raise`, `__Log`), in order. The
    /// interpreter calls it after each `<script>` and turns each into an
    /// internal event or a log action. Default: nothing.
    fn take_effects(&mut self) -> Vec<ScriptEffect> {
        Vec::new()
    }

    /// The exact state of the variables between two macrosteps, or why it
    /// cannot be written down exactly. Default: not supported.
    fn snapshot(&mut self) -> Result<DataModelSnapshot, NotSnapshottable> {
        Err(NotSnapshottable::Unsupported)
    }

    /// Puts a snapshot's state back, in a data model that has just had
    /// [`bind_system`](Self::bind_system) called and nothing else.
    fn restore(&mut self, snapshot: &DataModelSnapshot) -> Result<(), RestoreError> {
        let _ = snapshot;
        Err(RestoreError::DataModel(
            "the data model does not support snapshots".into(),
        ))
    }
}

/// A request a script made through a dialect built-in.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptEffect {
    /// Raise an internal event (`__Raise(name, data)`).
    Raise {
        /// The event name.
        name: String,
        /// Its data.
        data: Data,
    },
    /// Log (`__Log(message, label, level)`).
    Log {
        /// The label.
        label: Option<String>,
        /// The message.
        value: Data,
        /// The level.
        level: Option<String>,
    },
}

/// The initial value of a `<data>` declaration.
#[derive(Clone, Copy, Debug)]
pub enum DeclareValue<'a> {
    /// `undefined`.
    Undefined,
    /// The value of an expression.
    Expr(CodeId),
    /// A value (from inline content, `src`, or a session parameter).
    Data(&'a Data),
}

/// The right-hand side of an `<assign>`.
#[derive(Clone, Copy, Debug)]
pub enum AssignFrom<'a> {
    /// The value of an expression.
    Expr(CodeId),
    /// A value.
    Data(&'a Data),
}
