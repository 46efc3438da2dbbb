//! The SCXML 1.0 interpretation algorithm (Appendix D), cut for a sans-IO host.

use std::sync::Arc;

use crate::action::Action;
use crate::datamodel::DataModel;
use crate::document::Document;
use crate::event::Event;
use crate::time::Timestamp;
use crate::Data;

/// Per-session settings.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// `_sessionid`.
    pub session_id: String,
    /// Values for top-level `<data>` of the same name, set instead of the
    /// document's own (invoke `<param>`/`namelist`, session start parameters).
    pub params: Vec<(String, Data)>,
    /// A macrostep that takes more microsteps than this stops the session.
    pub max_microsteps: u32,
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It reached the top-level final state with this id.
    Done {
        /// The id of the `<final>`.
        final_state: String,
    },
    /// The host terminated it.
    Terminated,
    /// It was stopped because it broke a limit.
    Stopped {
        /// What happened.
        reason: String,
    },
}

/// One running session.
pub struct Interpreter {
    document: Arc<Document>,
}

impl Interpreter {
    /// A session of `document`, not started yet.
    pub fn new(document: Arc<Document>, datamodel: Box<dyn DataModel>, options: SessionOptions) -> Self {
        let _ = (datamodel, options);
        Interpreter { document }
    }

    /// Runs the initial macrostep.
    pub fn start(&mut self, now: Timestamp) {
        let _ = now;
        todo!()
    }

    /// Processes one external event: one macrostep.
    pub fn handle_event(&mut self, now: Timestamp, event: Event) {
        let _ = (now, event);
        todo!()
    }

    /// Fires the delayed sends due at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let _ = now;
        todo!()
    }

    /// Stops the session as if cancelled by its parent.
    pub fn terminate(&mut self, now: Timestamp) {
        let _ = now;
        todo!()
    }

    /// The next action to carry out.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        todo!()
    }

    /// When `handle_timeout` must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        todo!()
    }

    /// The document.
    pub fn document(&self) -> &Arc<Document> {
        &self.document
    }

    /// WORKTREE STUB (wip-runner): active atomic state ids in document order.
    pub fn configuration(&self) -> Vec<&str> {
        todo!()
    }

    /// WORKTREE STUB (wip-runner): how the session ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        todo!()
    }

    /// WORKTREE STUB (wip-runner): whether the session is started and not ended.
    pub fn is_running(&self) -> bool {
        todo!()
    }
}
