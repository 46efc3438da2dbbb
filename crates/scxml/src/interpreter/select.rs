//! Choosing the transitions of a microstep: SCXML 1.0 App. D
//! `selectEventlessTransitions`, `selectTransitions`,
//! `removeConflictingTransitions`, and the helpers they share with exit and
//! entry (`computeExitSet`, `getTransitionDomain`, `findLCCA`,
//! `getEffectiveTargetStates`).

use crate::document::{StateId, TransitionId, TransitionKind};
use crate::event::Event;

use super::state_set::StateSet;
use super::Interpreter;

impl Interpreter {
    /// App. D `selectEventlessTransitions`: for each active atomic state in
    /// document order, the first eventless transition whose condition holds,
    /// on the state or its nearest ancestor that has one. Fills `step.enabled`.
    pub(super) fn select_eventless_transitions(&mut self) {
        if !self.document.has_eventless {
            self.step.enabled.clear();
            return;
        }
        self.select(None);
    }

    /// App. D `selectTransitions`: as above for transitions matching `event`.
    pub(super) fn select_transitions(&mut self, event: &Event) {
        self.step.descriptor_match.iter_mut().for_each(|m| *m = 0);
        self.select(Some(event.name.as_str()));
    }

    fn select(&mut self, event: Option<&str>) {
        self.step.enabled.clear();
        let document = std::sync::Arc::clone(&self.document);
        // Atomic states of the configuration in document order, from a copy:
        // guards run while we iterate, and they need `&mut self`.
        let mut active = std::mem::take(&mut self.step.active);
        active.copy_from(&self.configuration);
        for state in active.iter() {
            if !document.state(state).is_atomic() {
                continue;
            }
            let mut current = Some(state);
            'ancestors: while let Some(s) = current {
                let candidate = document.state(s);
                if event.is_none() && !candidate.has_eventless {
                    current = candidate.parent.filter(|p| *p != StateId::ROOT);
                    continue;
                }
                for &t in &candidate.transitions {
                    let transition = document.transition(t);
                    let matches = match event {
                        None => transition.events.is_empty(),
                        Some(name) => {
                            !transition.events.is_empty()
                                && transition
                                    .events
                                    .iter()
                                    .any(|&d| self.descriptor_matches(d, name))
                        }
                    };
                    if matches && self.condition_holds(transition.cond) {
                        if !self.step.enabled.contains(&t) {
                            self.step.enabled.push(t);
                        }
                        break 'ancestors;
                    }
                }
                current = document.state(s).parent.filter(|p| *p != StateId::ROOT);
            }
        }
        self.step.active = active;
        if self.step.enabled.len() > 1 {
            self.remove_conflicting_transitions();
        }
    }

    /// Whether interned descriptor `d` matches the event `name`, computed once per event.
    fn descriptor_matches(&mut self, d: u32, name: &str) -> bool {
        let slot = &mut self.step.descriptor_match[d as usize];
        if *slot == 0 {
            *slot = if self.document.descriptors[d as usize].matches(name) {
                1
            } else {
                2
            };
        }
        *slot == 1
    }

    /// Evaluates a transition guard (§5.9.1): an error counts as false and
    /// raises `error.execution`.
    pub(super) fn condition_holds(&mut self, cond: Option<crate::document::CodeId>) -> bool {
        let Some(code) = cond else {
            return true;
        };
        match self.datamodel.evaluate_bool(code) {
            Ok(b) => b,
            Err(e) => {
                self.raise_error("error.execution", format!("condition: {e}"));
                false
            }
        }
    }

    /// App. D `removeConflictingTransitions`: two transitions conflict when
    /// their exit sets intersect; the one whose source is a descendant of the
    /// other's wins, otherwise the earlier in document order.
    ///
    /// An exit set is the active part of a domain's descendant range, and two
    /// ranges of a tree are either nested or disjoint, so the intersection of
    /// two exit sets is the active part of the inner range.
    fn remove_conflicting_transitions(&mut self) {
        let enabled = std::mem::take(&mut self.step.enabled);
        let mut filtered = std::mem::take(&mut self.step.filtered);
        filtered.clear();
        for &t1 in &enabled {
            let r1 = self.exit_range(t1);
            let mut preempted = false;
            let mut to_remove: Vec<usize> = Vec::new();
            for (i, &t2) in filtered.iter().enumerate() {
                let r2 = self.exit_range(t2);
                if self.exit_sets_intersect(r1, r2) {
                    let s1 = self.document.transition(t1).source;
                    let s2 = self.document.transition(t2).source;
                    if self.document.is_descendant(s1, s2) {
                        to_remove.push(i);
                    } else {
                        preempted = true;
                        break;
                    }
                }
            }
            if !preempted {
                for i in to_remove.into_iter().rev() {
                    filtered.remove(i);
                }
                filtered.push(t1);
            }
        }
        self.step.enabled = filtered;
        self.step.filtered = enabled;
    }

    /// The id range (exclusive) whose active members form `t`'s exit set, or
    /// `None` for a targetless transition.
    fn exit_range(&mut self, t: TransitionId) -> Option<(StateId, StateId)> {
        let domain = self.get_transition_domain(t)?;
        let end = self.document.state(domain).descendants_end;
        Some((StateId(domain.0 + 1), end))
    }

    fn exit_sets_intersect(
        &self,
        a: Option<(StateId, StateId)>,
        b: Option<(StateId, StateId)>,
    ) -> bool {
        let (Some(a), Some(b)) = (a, b) else {
            return false;
        };
        let start = a.0.max(b.0);
        let end = a.1.min(b.1);
        start < end && self.configuration.any_in_range(start, end)
    }

    /// App. D `computeExitSet` for the enabled transitions, into `step.states_to_exit`.
    pub(super) fn compute_exit_set(&mut self) {
        let mut exit = std::mem::take(&mut self.step.states_to_exit);
        exit.clear();
        for i in 0..self.step.enabled.len() {
            let t = self.step.enabled[i];
            if let Some((start, end)) = self.exit_range(t) {
                exit.union_range_of(&self.configuration, start, end);
            }
        }
        self.step.states_to_exit = exit;
    }

    /// App. D `getTransitionDomain`: the precomputed domain when it does not
    /// depend on history, otherwise computed from the effective targets.
    pub(super) fn get_transition_domain(&mut self, t: TransitionId) -> Option<StateId> {
        let transition = self.document.transition(t);
        if transition.targets.is_empty() {
            return None;
        }
        if transition.source == StateId::ROOT {
            return Some(StateId::ROOT);
        }
        if let Some(domain) = transition.domain {
            return Some(domain);
        }
        let document = std::sync::Arc::clone(&self.document);
        let transition = document.transition(t);
        let mut targets = std::mem::take(&mut self.step.targets);
        targets.clear();
        self.get_effective_target_states(t, &mut targets);
        let source = transition.source;
        let domain = if targets.is_empty() {
            None
        } else if transition.kind == TransitionKind::Internal
            && document.state(source).is_compound()
            && targets.iter().all(|&s| document.is_descendant(s, source))
        {
            Some(source)
        } else {
            Some(self.find_lcca(source, &targets))
        };
        self.step.targets = targets;
        domain
    }

    /// App. D `findLCCA`: the nearest proper ancestor of `head` that is
    /// compound (or the root) and contains every state of `tail`.
    pub(super) fn find_lcca(&self, head: StateId, tail: &[StateId]) -> StateId {
        let document = &self.document;
        let mut ancestor = document.state(head).parent;
        while let Some(a) = ancestor {
            if (a == StateId::ROOT || document.state(a).is_compound())
                && tail.iter().all(|&s| document.is_descendant(s, a))
            {
                return a;
            }
            ancestor = document.state(a).parent;
        }
        StateId::ROOT
    }

    /// App. D `getEffectiveTargetStates`: targets with history states
    /// replaced by their recorded value or their default targets.
    pub(super) fn get_effective_target_states(&self, t: TransitionId, out: &mut Vec<StateId>) {
        let document = &self.document;
        for &s in &document.transition(t).targets {
            if document.state(s).is_history() {
                if let Some((_, recorded)) = self.history_value.iter().find(|(h, _)| *h == s) {
                    for &r in recorded {
                        if !out.contains(&r) {
                            out.push(r);
                        }
                    }
                } else if let Some(&default) = document.state(s).transitions.first() {
                    self.get_effective_target_states(default, out);
                }
            } else if !out.contains(&s) {
                out.push(s);
            }
        }
    }

    /// Whether any state in the set is `child` or one of its descendants.
    pub(super) fn has_descendant_or_self(&self, set: &StateSet, child: StateId) -> bool {
        set.any_in_range(child, self.document.state(child).descendants_end)
    }
}
