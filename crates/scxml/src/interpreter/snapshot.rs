//! Taking a session's state between inputs and rebuilding a session from it
//! (see [`crate::snapshot`]).

use std::sync::Arc;

use super::state_set::StateSet;
use super::timers::Timers;
use super::{Interpreter, Invocation, SessionOptions};
use crate::datamodel::DataModel;
use crate::document::{Document, StateId};
use crate::snapshot::{ActiveInvocation, NotSnapshottable, RestoreError, Snapshot};

impl Interpreter {
    /// The exact state of the session, for [`restore`](Self::restore).
    ///
    /// Call it between inputs, after draining [`poll_action`](Self::poll_action).
    /// It fails, leaving the session untouched, when some of the state
    /// cannot be captured exactly ([`NotSnapshottable`]).
    pub fn snapshot(&mut self) -> Result<Snapshot, NotSnapshottable> {
        if !self.actions.is_empty() {
            return Err(NotSnapshottable::PendingActions);
        }
        let datamodel = self.datamodel.snapshot()?;
        let ids = |set: &StateSet| set.iter().map(|s| s.0).collect::<Vec<u32>>();
        let (timers, timer_sequence) = self.timers.export();
        let invocations = self
            .invocations
            .iter()
            .map(|inv| ActiveInvocation {
                invokeid: inv.invokeid.clone(),
                state: inv.state.0,
                index: self
                    .document
                    .state(inv.state)
                    .invokes
                    .iter()
                    .position(|i| Arc::ptr_eq(i, &inv.invoke))
                    .unwrap_or_default() as u32,
            })
            .collect();
        Ok(Snapshot {
            states: self.document.states.len() as u32,
            configuration: ids(&self.configuration),
            states_to_invoke: ids(&self.states_to_invoke),
            data_initialized: ids(&self.data_initialized),
            history: self
                .history_value
                .iter()
                .map(|(h, states)| (h.0, states.iter().map(|s| s.0).collect()))
                .collect(),
            internal_queue: self.internal_queue.iter().cloned().collect(),
            running: self.running,
            outcome: self.outcome.clone(),
            timers,
            timer_sequence,
            invocations,
            now: self.now,
            next_id: self.next_id,
            datamodel,
        })
    }

    /// A session of `document` in the state `snapshot` describes, as if it
    /// had processed the inputs that led there. `datamodel` must be new
    /// (nothing bound yet) and made with the same settings as the original's
    /// (its dialect prelude in particular); `options` must be the original's.
    /// The host re-arms [`poll_timeout`](Self::poll_timeout) afterwards; the
    /// children of [`ActiveInvocation`]s are the host's to bring back.
    pub fn restore(
        document: Arc<Document>,
        datamodel: Box<dyn DataModel>,
        options: SessionOptions,
        snapshot: &Snapshot,
    ) -> Result<Interpreter, RestoreError> {
        let n = document.states.len();
        if snapshot.states as usize != n {
            return Err(RestoreError::Mismatch(format!(
                "the snapshot has {} states, the document {n}",
                snapshot.states
            )));
        }
        let state = |id: u32| -> Result<StateId, RestoreError> {
            if (id as usize) < n {
                Ok(StateId(id))
            } else {
                Err(RestoreError::Mismatch(format!("no state {id}")))
            }
        };
        let set = |ids: &[u32]| -> Result<StateSet, RestoreError> {
            let mut set = StateSet::with_capacity(n);
            for &id in ids {
                set.insert(state(id)?);
            }
            Ok(set)
        };
        let mut invocations = Vec::with_capacity(snapshot.invocations.len());
        for inv in &snapshot.invocations {
            let holder = state(inv.state)?;
            let Some(invoke) = document.state(holder).invokes.get(inv.index as usize) else {
                return Err(RestoreError::Mismatch(format!(
                    "state {} has no <invoke> {}",
                    inv.state, inv.index
                )));
            };
            invocations.push(Invocation {
                invokeid: inv.invokeid.clone(),
                state: holder,
                invoke: Arc::clone(invoke),
            });
        }
        let mut history_value = Vec::with_capacity(snapshot.history.len());
        for (h, states) in &snapshot.history {
            let recorded = states.iter().map(|&s| state(s)).collect::<Result<_, _>>()?;
            history_value.push((state(*h)?, recorded));
        }
        let configuration = set(&snapshot.configuration)?;
        let states_to_invoke = set(&snapshot.states_to_invoke)?;
        let data_initialized = set(&snapshot.data_initialized)?;

        let mut interpreter = Interpreter::new(document, datamodel, options);
        interpreter
            .bind_system_variables()
            .map_err(|e| RestoreError::DataModel(e.to_string()))?;
        interpreter.datamodel.restore(&snapshot.datamodel)?;
        if interpreter.document.uses_in {
            interpreter
                .datamodel
                .set_configuration(configuration.words());
        }
        interpreter.configuration = configuration;
        interpreter.states_to_invoke = states_to_invoke;
        interpreter.data_initialized = data_initialized;
        interpreter.history_value = history_value;
        interpreter.internal_queue = snapshot.internal_queue.iter().cloned().collect();
        interpreter.running = snapshot.running;
        interpreter.outcome = snapshot.outcome.clone();
        interpreter.timers = Timers::import(&snapshot.timers, snapshot.timer_sequence);
        interpreter.invocations = invocations;
        interpreter.now = snapshot.now;
        interpreter.next_id = snapshot.next_id;
        Ok(interpreter)
    }
}
