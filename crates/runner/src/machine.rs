//! What the runner drives: a [`Machine`] (one session's sans-IO core) made by
//! a [`SessionFactory`].
//!
//! In production the machine is [`scxml::Interpreter`] with the ECMAScript
//! data model ([`crate::EcmaFactory`]). The traits exist so that the routing,
//! invocation and clock logic of the runner can be tested with scripted
//! machines, without a data model.

use std::sync::Arc;

use scxml::{Action, Data, DataModelError, Document, Event, Outcome, SessionOptions, Timestamp};

/// One session as the runner sees it: the inputs and outputs of
/// [`scxml::Interpreter`], with the same contract (after any input, drain
/// [`poll_action`](Self::poll_action), then read
/// [`poll_timeout`](Self::poll_timeout)).
pub trait Machine {
    /// Runs the initial macrostep.
    fn start(&mut self, now: Timestamp);
    /// Processes one external event (one macrostep).
    fn handle_event(&mut self, now: Timestamp, event: Event);
    /// Fires the delayed sends due at `now`.
    fn handle_timeout(&mut self, now: Timestamp);
    /// Stops the session as if cancelled by its parent.
    fn terminate(&mut self, now: Timestamp);
    /// The next action to carry out.
    fn poll_action(&mut self) -> Option<Action>;
    /// When `handle_timeout` must be called next.
    fn poll_timeout(&self) -> Option<Timestamp>;
    /// Whether the session is started and has not ended.
    fn is_running(&self) -> bool;
    /// How the session ended, once it has.
    fn outcome(&self) -> Option<&Outcome>;
    /// The active atomic states, in document order.
    fn configuration(&self) -> Vec<&str>;
    /// The document the session runs.
    fn document(&self) -> &Arc<Document>;
    /// The values of the document's `<data>` variables, for queries;
    /// `undefined` for machines without a data model.
    fn data(&mut self) -> Data {
        Data::Undefined
    }
}

/// Creates the machines of a runner and takes them back when they end.
pub trait SessionFactory {
    /// The machines this factory makes.
    type Machine: Machine;

    /// A new, not yet started session of `document`.
    fn create(
        &mut self,
        document: Arc<Document>,
        options: SessionOptions,
    ) -> Result<Self::Machine, DataModelError>;

    /// Takes back a session that the runner no longer needs.
    fn release(&mut self, machine: Self::Machine) {
        drop(machine);
    }

    /// Frees unreachable script objects (before measuring memory).
    fn collect_garbage(&mut self) {}
}
