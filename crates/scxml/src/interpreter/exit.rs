//! Leaving states: SCXML 1.0 App. D `exitStates` and `exitInterpreter`.

use std::sync::Arc;

use crate::action::Action;
use crate::data::Data;
use crate::document::{StateId, StateKind};

use super::{Interpreter, Outcome};

impl Interpreter {
    /// App. D `exitStates`: records history, then runs `<onexit>` and cancels
    /// the invocations of each state of the exit set, in reverse document order.
    pub(super) fn exit_states(&mut self) {
        self.compute_exit_set();
        let document = Arc::clone(&self.document);
        let exit = std::mem::take(&mut self.step.states_to_exit);
        if exit.is_empty() {
            self.step.states_to_exit = exit;
            return;
        }
        for s in exit.iter() {
            self.states_to_invoke.remove(s);
        }
        // Histories are recorded before any state is removed, from the
        // configuration as it was when the microstep began.
        for s in exit.iter_rev() {
            for &h in &document.state(s).children {
                let StateKind::History { deep } = document.state(h).kind else {
                    continue;
                };
                let end = document.state(s).descendants_end;
                let recorded: Vec<StateId> = self
                    .configuration
                    .iter()
                    .filter(|&c| {
                        if deep {
                            c > s && c < end && document.state(c).is_atomic()
                        } else {
                            document.state(c).parent == Some(s)
                        }
                    })
                    .collect();
                match self.history_value.iter_mut().find(|(id, _)| *id == h) {
                    Some((_, value)) => *value = recorded,
                    None => self.history_value.push((h, recorded)),
                }
            }
        }
        for s in exit.iter_rev() {
            for block in &document.state(s).onexit {
                let _ = self.execute_block(block);
            }
            self.cancel_invocations_of(s);
            self.deactivate(s);
        }
        self.step.states_to_exit = exit;
    }

    /// Cancels the invocations started by `state` (§6.4: exiting the
    /// invoking state cancels them).
    fn cancel_invocations_of(&mut self, state: StateId) {
        let mut i = 0;
        while i < self.invocations.len() {
            if self.invocations[i].state == state {
                let invocation = self.invocations.remove(i);
                self.actions.push_back(Action::CancelInvoke {
                    invokeid: invocation.invokeid,
                });
            } else {
                i += 1;
            }
        }
    }

    /// App. D `exitInterpreter`: exits every active state in reverse document
    /// order (running `<onexit>`, cancelling invocations), drops pending
    /// delayed sends, and, when the session reached a top-level final state and
    /// `done` is set, reports [`Action::Done`] with its `<donedata>`.
    ///
    /// The configuration is kept as it was, so a host can still report the
    /// states the session ended in.
    pub(super) fn exit_interpreter(&mut self, done: bool) {
        let document = Arc::clone(&self.document);
        let active: Vec<StateId> = self.configuration.iter_rev().collect();
        let mut final_state = None;
        for s in active {
            for block in &document.state(s).onexit {
                let _ = self.execute_block(block);
            }
            self.cancel_invocations_of(s);
            let state = document.state(s);
            if state.kind == StateKind::Final && state.parent == Some(StateId::ROOT) {
                final_state = Some(s);
            }
        }
        self.timers.clear();
        self.internal_queue.clear();
        if !done {
            return;
        }
        match final_state {
            Some(s) => {
                let donedata = match document.state(s).donedata.as_ref() {
                    Some(d) => self.evaluate_donedata(d).unwrap_or(Data::Undefined),
                    None => Data::Undefined,
                };
                let id = document.state(s).id.clone();
                self.actions.push_back(Action::Done {
                    final_state: id.clone(),
                    donedata,
                });
                self.outcome = Some(Outcome::Done { final_state: id });
            }
            None => {
                self.outcome = Some(Outcome::Stopped {
                    reason: "session stopped without reaching a top-level final state".to_owned(),
                });
            }
        }
    }
}
