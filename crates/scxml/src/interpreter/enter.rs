//! Entering states: SCXML 1.0 App. D `enterStates`, `computeEntrySet`,
//! `addDescendantStatesToEnter`, `addAncestorStatesToEnter`, `isInFinalState`.

use std::sync::Arc;

use crate::data::Data;
use crate::document::{StateId, StateKind};
use crate::event::Event;

use super::state_set::StateSet;
use super::Interpreter;

impl Interpreter {
    /// App. D `enterStates` for the transitions in `step.enabled`.
    pub(super) fn enter_states(&mut self) {
        let document = Arc::clone(&self.document);
        let mut to_enter = std::mem::take(&mut self.step.states_to_enter);
        let mut default_entry = std::mem::take(&mut self.step.states_for_default_entry);
        to_enter.clear();
        default_entry.clear();
        self.step.default_history_content.clear();
        self.compute_entry_set(&mut to_enter, &mut default_entry);
        for s in to_enter.iter() {
            if self.configuration.contains(s) {
                continue;
            }
            self.activate(s);
            self.states_to_invoke.insert(s);
            if document.late_binding {
                self.initialize_data(s);
            }
            let state = document.state(s);
            for block in &state.onentry {
                let _ = self.execute_block(block);
            }
            if default_entry.contains(s) {
                if let Some(initial) = state.initial {
                    let _ = self.execute_block(&document.transition(initial).content);
                }
            }
            if let Some(&(_, t)) = self
                .step
                .default_history_content
                .iter()
                .find(|(parent, _)| *parent == s)
            {
                let _ = self.execute_block(&document.transition(t).content);
            }
            if state.kind == StateKind::Final {
                self.entered_final(s);
                if !self.running {
                    break;
                }
            }
        }
        self.step.states_to_enter = to_enter;
        self.step.states_for_default_entry = default_entry;
    }

    /// The `<final>` part of App. D `enterStates`: a top-level final state
    /// ends the session; otherwise `done.state.<parent>` is raised, and
    /// `done.state.<grandparent>` when that completes a parallel state.
    fn entered_final(&mut self, s: StateId) {
        let document = Arc::clone(&self.document);
        let Some(parent) = document.state(s).parent else {
            return;
        };
        if parent == StateId::ROOT {
            self.running = false;
            return;
        }
        let data = match document.state(s).donedata.as_ref() {
            Some(d) => self.evaluate_donedata(d).unwrap_or(Data::Undefined),
            None => Data::Undefined,
        };
        let name = format!("done.state.{}", document.state(parent).id);
        self.internal_queue.push_back(Event::platform(name, data));
        if let Some(grandparent) = document.state(parent).parent {
            if document.state(grandparent).kind == StateKind::Parallel
                && document
                    .state(grandparent)
                    .children
                    .iter()
                    .filter(|&&c| !document.state(c).is_history())
                    .all(|&c| self.is_in_final_state(c))
            {
                let name = format!("done.state.{}", document.state(grandparent).id);
                self.internal_queue
                    .push_back(Event::platform(name, Data::Undefined));
            }
        }
    }

    /// App. D `computeEntrySet`.
    fn compute_entry_set(&mut self, to_enter: &mut StateSet, default_entry: &mut StateSet) {
        let document = Arc::clone(&self.document);
        for i in 0..self.step.enabled.len() {
            let t = self.step.enabled[i];
            let transition = document.transition(t);
            if transition.targets.is_empty() {
                continue;
            }
            for &s in &transition.targets {
                self.add_descendant_states_to_enter(s, to_enter, default_entry);
            }
            let Some(ancestor) = self.get_transition_domain(t) else {
                continue;
            };
            let mut targets = Vec::new();
            self.get_effective_target_states(t, &mut targets);
            for s in targets {
                self.add_ancestor_states_to_enter(s, ancestor, to_enter, default_entry);
            }
        }
    }

    /// App. D `addDescendantStatesToEnter`.
    fn add_descendant_states_to_enter(
        &mut self,
        state: StateId,
        to_enter: &mut StateSet,
        default_entry: &mut StateSet,
    ) {
        let document = Arc::clone(&self.document);
        let s = document.state(state);
        match s.kind {
            StateKind::History { .. } => {
                let parent = s.parent.unwrap_or(StateId::ROOT);
                let recorded = self
                    .history_value
                    .iter()
                    .find(|(h, _)| *h == state)
                    .map(|(_, v)| v.clone());
                let targets = match recorded {
                    Some(v) => v,
                    None => {
                        let Some(&default) = s.transitions.first() else {
                            return;
                        };
                        self.step.default_history_content.push((parent, default));
                        document.transition(default).targets.clone()
                    }
                };
                for &t in &targets {
                    self.add_descendant_states_to_enter(t, to_enter, default_entry);
                }
                for &t in &targets {
                    self.add_ancestor_states_to_enter(t, parent, to_enter, default_entry);
                }
            }
            StateKind::Compound => {
                to_enter.insert(state);
                default_entry.insert(state);
                if let Some(initial) = s.initial {
                    let targets = &document.transition(initial).targets;
                    for &t in targets {
                        self.add_descendant_states_to_enter(t, to_enter, default_entry);
                    }
                    for &t in targets {
                        self.add_ancestor_states_to_enter(t, state, to_enter, default_entry);
                    }
                }
            }
            StateKind::Parallel => {
                to_enter.insert(state);
                for &child in &s.children {
                    if document.state(child).is_history() {
                        continue;
                    }
                    if !self.has_descendant_or_self(to_enter, child) {
                        self.add_descendant_states_to_enter(child, to_enter, default_entry);
                    }
                }
            }
            StateKind::Atomic | StateKind::Final => to_enter.insert(state),
        }
    }

    /// App. D `addAncestorStatesToEnter`: the proper ancestors of `state` up
    /// to `ancestor` (exclusive), completing parallel ancestors.
    fn add_ancestor_states_to_enter(
        &mut self,
        state: StateId,
        ancestor: StateId,
        to_enter: &mut StateSet,
        default_entry: &mut StateSet,
    ) {
        let document = Arc::clone(&self.document);
        let mut current = document.state(state).parent;
        while let Some(anc) = current {
            if anc == ancestor || anc == StateId::ROOT {
                break;
            }
            to_enter.insert(anc);
            if document.state(anc).kind == StateKind::Parallel {
                for &child in &document.state(anc).children {
                    if document.state(child).is_history() {
                        continue;
                    }
                    if !self.has_descendant_or_self(to_enter, child) {
                        self.add_descendant_states_to_enter(child, to_enter, default_entry);
                    }
                }
            }
            current = document.state(anc).parent;
        }
    }

    /// App. D `isInFinalState`.
    pub(super) fn is_in_final_state(&self, s: StateId) -> bool {
        let document = &self.document;
        let state = document.state(s);
        match state.kind {
            StateKind::Compound => state.children.iter().any(|&c| {
                document.state(c).kind == StateKind::Final && self.configuration.contains(c)
            }),
            StateKind::Parallel => state
                .children
                .iter()
                .filter(|&&c| !document.state(c).is_history())
                .all(|&c| self.is_in_final_state(c)),
            _ => false,
        }
    }
}
