//! What the runner drives: a [`Machine`] (one session's sans-IO core) made by
//! a [`SessionFactory`].
//!
//! In production the machine is [`scxml::Interpreter`] with the ECMAScript
//! data model ([`crate::EcmaFactory`]). The traits exist so that the routing,
//! invocation and clock logic of the runner can be tested with scripted
//! machines, without a data model.

use std::sync::Arc;

use scxml::{
    Action, Data, DataModelError, Document, Event, NotSnapshottable, Observer, Outcome,
    RestoreError, SessionOptions, Snapshot, Timestamp,
};

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
    /// Reports the session's microsteps to `observer` (see
    /// [`scxml::Interpreter::set_observer`]); machines without microsteps
    /// ignore it.
    fn set_observer(&mut self, observer: Box<dyn Observer>) {
        drop(observer);
    }

    /// The exact state of the session between inputs, for
    /// [`SessionFactory::restore`]. Default: not supported.
    fn snapshot(&mut self) -> Result<Snapshot, NotSnapshottable> {
        Err(NotSnapshottable::Unsupported)
    }
}

/// Where an invoked session comes from, for factories that record it (a
/// journal that must find the child's document again).
#[derive(Debug)]
pub struct ChildOrigin<'a> {
    /// The invoking session's `_sessionid`.
    pub parent: &'a str,
    /// The invoke id the child has in its parent.
    pub invokeid: &'a str,
    /// The text its document was parsed from.
    pub source: ChildSource,
}

/// The text an invoked document was parsed from.
#[derive(Clone, Debug)]
pub enum ChildSource {
    /// Loaded from its `src` (the document's `source_name` says from where).
    Loaded(Arc<str>),
    /// Given as text by `<content>` (relative `src` inside resolve against
    /// the parent's document).
    Text(Arc<str>),
    /// An inline `<scxml>` in the parent's `<invoke><content>`, prepared
    /// with the parent's document: it has no text of its own.
    Inline,
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

    /// A new, not yet started session of `document`, invoked as `origin`
    /// says. By default the same as [`create`](Self::create).
    fn create_child(
        &mut self,
        document: Arc<Document>,
        options: SessionOptions,
        origin: &ChildOrigin<'_>,
    ) -> Result<Self::Machine, DataModelError> {
        let _ = origin;
        self.create(document, options)
    }

    /// A machine in the state of `snapshot` (taken by [`Machine::snapshot`]
    /// of a session of the same document with the same options).
    fn restore(
        &mut self,
        document: Arc<Document>,
        options: SessionOptions,
        snapshot: &Snapshot,
    ) -> Result<Self::Machine, RestoreError> {
        let _ = (document, options, snapshot);
        Err(RestoreError::DataModel(
            "this host cannot restore snapshots".into(),
        ))
    }

    /// Takes back a session that the runner no longer needs.
    fn release(&mut self, machine: Self::Machine) {
        drop(machine);
    }

    /// Frees unreachable script objects (before measuring memory).
    fn collect_garbage(&mut self) {}
}
