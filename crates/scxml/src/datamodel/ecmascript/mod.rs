//! The ECMAScript data model (SCXML 1.0 App. B.2) on QuickJS.
//!
//! WORKTREE STUB (wip-runner): the signatures the runner codes against, so it
//! compiles while the real data model is written elsewhere. Replaced on merge.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::data::Data;
use crate::datamodel::{AssignFrom, DataModel, DataModelError, DeclareValue, SystemVariables};
use crate::document::{CodeId, Document, StateId};
use crate::event::Event;
use crate::time::Timestamp;

/// A QuickJS runtime that several sessions on one thread can share.
#[derive(Clone)]
pub struct JsRuntime {
    _inner: Rc<()>,
}

impl JsRuntime {
    /// A new runtime (stub).
    pub fn new() -> Result<JsRuntime, DataModelError> {
        todo!("ecmascript data model")
    }

    /// Runs QuickJS's garbage collector over every context of the runtime (stub).
    pub fn run_gc(&self) {
        todo!("ecmascript data model")
    }
}

/// Settings of one ECMAScript data model.
#[derive(Clone, Debug, Default)]
pub struct EcmaScriptOptions {
    /// Time budget of the scripts of one macrostep.
    pub script_budget: Duration,
    /// Heap limit.
    pub memory_limit: usize,
    /// Seed of `Math.random()`.
    pub random_seed: u64,
}

/// The data model of one session (stub).
pub struct EcmaScript {
    _document: Arc<Document>,
}

impl EcmaScript {
    /// A data model for one session of `document` (stub).
    pub fn new(
        runtime: &JsRuntime,
        document: Arc<Document>,
        options: &EcmaScriptOptions,
    ) -> Result<EcmaScript, DataModelError> {
        let _ = (runtime, document, options);
        todo!("ecmascript data model")
    }
}

impl DataModel for EcmaScript {
    fn bind_system(&mut self, _system: &SystemVariables) -> Result<(), DataModelError> {
        todo!()
    }
    fn begin_macrostep(&mut self, _now: Timestamp) {
        todo!()
    }
    fn set_configuration(&mut self, _active: &dyn Fn(StateId) -> bool) {
        todo!()
    }
    fn declare(&mut self, _id: &str, _value: DeclareValue<'_>) -> Result<(), DataModelError> {
        todo!()
    }
    fn evaluate_bool(&mut self, _code: CodeId) -> Result<bool, DataModelError> {
        todo!()
    }
    fn evaluate(&mut self, _code: CodeId) -> Result<Data, DataModelError> {
        todo!()
    }
    fn evaluate_string(&mut self, _code: CodeId) -> Result<String, DataModelError> {
        todo!()
    }
    fn assign(&mut self, _location: CodeId, _value: AssignFrom<'_>) -> Result<(), DataModelError> {
        todo!()
    }
    fn execute(&mut self, _script: CodeId) -> Result<(), DataModelError> {
        todo!()
    }
    fn foreach_begin(&mut self, _array: CodeId) -> Result<usize, DataModelError> {
        todo!()
    }
    fn foreach_bind(
        &mut self,
        _item: CodeId,
        _index: Option<CodeId>,
        _i: usize,
    ) -> Result<(), DataModelError> {
        todo!()
    }
    fn foreach_end(&mut self) {
        todo!()
    }
    fn set_event(&mut self, _event: &Event) {
        todo!()
    }
}
