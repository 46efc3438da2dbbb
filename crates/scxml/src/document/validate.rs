//! The second pass over a parsed document: generated ids, target resolution,
//! the rules that need the whole state tree (§3.3, §3.6, §3.10, §3.14), and
//! the transition domains of SCXML 1.0 App. D.

use std::collections::HashSet;

use super::model::*;
use super::parse::{DocumentError, Parser, Role, Targets};

impl Parser<'_, '_> {
    /// Resolves and checks everything that needs the whole tree, then
    /// assembles the [`Document`].
    pub(super) fn finish(mut self) -> Result<Document, DocumentError> {
        self.generate_ids();
        self.resolve_targets()?;
        for t in 0..self.transitions.len() {
            let domain = get_transition_domain(&self.states, &self.transitions[t]);
            self.transitions[t].domain = domain;
        }
        let uses_in = self.code.iter().any(|c| c.text.contains("In("));
        Ok(Document {
            name: self.name,
            datamodel: "ecmascript".to_owned(),
            late_binding: self.late_binding,
            source_name: self.ctx.source_name.to_owned(),
            states: self.states,
            transitions: self.transitions,
            code: self.code,
            script: self.script,
            state_ids: self.state_ids,
            descriptors: self.descriptors,
            uses_in,
        })
    }

    /// Gives every state without an `id` one that starts with `__` and
    /// differs from every written id (§3.14: the processor generates ids).
    fn generate_ids(&mut self) {
        let mut taken: HashSet<String> = self.state_ids.keys().cloned().collect();
        for (index, state) in self.states.iter_mut().enumerate() {
            if self.explicit_id[index] {
                continue;
            }
            let mut id = match state.kind {
                _ if index == 0 => "__scxml".to_owned(),
                StateKind::Compound | StateKind::Atomic => format!("__state{index}"),
                StateKind::Parallel => format!("__parallel{index}"),
                StateKind::Final => format!("__final{index}"),
                StateKind::History { .. } => format!("__history{index}"),
            };
            while taken.contains(&id) {
                id.push('_');
            }
            taken.insert(id.clone());
            state.id = id;
        }
    }

    /// Resolves the targets of every transition and checks them against the
    /// transition's role.
    fn resolve_targets(&mut self) -> Result<(), DocumentError> {
        let pending = std::mem::take(&mut self.pending);
        let mut parent_defaults = Vec::new();
        for (index, p) in pending.iter().enumerate() {
            let source = self.transitions[index].source;
            let targets = match &p.targets {
                Targets::Ids(ids) => {
                    let mut resolved = Vec::with_capacity(ids.len());
                    for id in ids {
                        resolved.push(self.resolve(index, id, p.role)?);
                    }
                    resolved
                }
                Targets::FirstChild => {
                    // A compound state has a child state (it is why it is compound).
                    let first = self.states[source.index()]
                        .children
                        .iter()
                        .copied()
                        .find(|c| !self.states[c.index()].is_history());
                    first.into_iter().collect()
                }
                Targets::ParentDefault => {
                    parent_defaults.push(index);
                    continue;
                }
            };
            for &target in &targets {
                self.check_role(index, target, p.role)?;
            }
            self.transitions[index].targets = targets;
        }
        // §3.10: a history without a transition enters its parent's default:
        // the initial state(s) of a compound parent, all regions of a parallel one.
        for index in parent_defaults {
            let history = self.transitions[index].source;
            let parent = self.states[history.index()].parent.unwrap_or(StateId::ROOT);
            let parent_state = &self.states[parent.index()];
            let targets: Vec<StateId> = match (parent_state.kind, parent_state.initial) {
                (StateKind::Compound, Some(initial)) => {
                    self.transitions[initial.index()].targets.clone()
                }
                (StateKind::Parallel, _) => parent_state
                    .children
                    .iter()
                    .copied()
                    .filter(|c| !self.states[c.index()].is_history())
                    .collect(),
                _ => Vec::new(),
            };
            if targets.is_empty() {
                return Err(self.error_at(
                    self.states[history.index()].location,
                    "<history>: its parent has no child states to default to".to_owned(),
                ));
            }
            self.transitions[index].targets = targets;
        }
        Ok(())
    }

    /// Looks up a target id.
    fn resolve(&self, transition: usize, id: &str, role: Role) -> Result<StateId, DocumentError> {
        self.state_ids.get(id).copied().ok_or_else(|| {
            let t = &self.transitions[transition];
            let message = match role {
                Role::InitialAttribute => format!(
                    "<{}>: initial state {id:?} does not exist",
                    tag(&self.states, t.source)
                ),
                Role::InitialElement => {
                    format!("<transition> in <initial>: target state {id:?} does not exist")
                }
                Role::History { .. } => {
                    format!("<transition> in <history>: target state {id:?} does not exist")
                }
                Role::Normal => format!("<transition>: target state {id:?} does not exist"),
            };
            self.error_at(t.location, message)
        })
    }

    /// §3.3, §3.6: initial states are proper descendants of their state.
    /// §3.10: a shallow history's default is a child of its parent, a deep
    /// history's any proper descendant of its parent.
    fn check_role(
        &self,
        transition: usize,
        target: StateId,
        role: Role,
    ) -> Result<(), DocumentError> {
        let t = &self.transitions[transition];
        let source = &self.states[t.source.index()];
        let descendant = |ancestor: StateId| {
            target > ancestor && target < self.states[ancestor.index()].descendants_end
        };
        let target_id = &self.states[target.index()].id;
        let problem = match role {
            Role::Normal => None,
            Role::InitialAttribute if !descendant(t.source) => Some(format!(
                "<{}>: initial state {target_id:?} is not a descendant of {:?}",
                tag(&self.states, t.source),
                source.id
            )),
            Role::InitialElement if !descendant(t.source) => Some(format!(
                "<transition> in <initial>: target {target_id:?} is not a descendant of {:?}",
                source.id
            )),
            Role::History { deep } => {
                let parent = source.parent.unwrap_or(StateId::ROOT);
                let parent_id = &self.states[parent.index()].id;
                if deep && !descendant(parent) {
                    Some(format!(
                        "<transition> in deep <history>: target {target_id:?} is not a descendant of {parent_id:?}"
                    ))
                } else if !deep && self.states[target.index()].parent != Some(parent) {
                    Some(format!(
                        "<transition> in shallow <history>: target {target_id:?} is not a child of {parent_id:?}"
                    ))
                } else {
                    None
                }
            }
            Role::InitialAttribute | Role::InitialElement => None,
        };
        match problem {
            Some(message) => Err(self.error_at(t.location, message)),
            None => Ok(()),
        }
    }

    fn error_at(&self, location: Location, message: String) -> DocumentError {
        DocumentError {
            file: self.ctx.source_name.to_owned(),
            line: location.line,
            column: location.column,
            message,
        }
    }
}

/// The element name of a state, for messages.
fn tag(states: &[State], id: StateId) -> &'static str {
    if id == StateId::ROOT {
        return "scxml";
    }
    match states[id.index()].kind {
        StateKind::Compound | StateKind::Atomic => "state",
        StateKind::Parallel => "parallel",
        StateKind::Final => "final",
        StateKind::History { .. } => "history",
    }
}

/// SCXML 1.0 App. D `getTransitionDomain`, computed once when the domain does
/// not depend on history: `None` for a targetless transition or one that
/// targets a history state. The root's own initial transition, which App. D
/// treats apart (it has no proper ancestor), gets the root.
fn get_transition_domain(states: &[State], t: &Transition) -> Option<StateId> {
    if t.targets.is_empty() || t.targets.iter().any(|&s| states[s.index()].is_history()) {
        return None;
    }
    let is_descendant = |s: StateId, ancestor: StateId| {
        s > ancestor && s < states[ancestor.index()].descendants_end
    };
    if t.kind == TransitionKind::Internal
        && states[t.source.index()].is_compound()
        && t.targets.iter().all(|&s| is_descendant(s, t.source))
    {
        return Some(t.source);
    }
    if t.source == StateId::ROOT {
        return Some(StateId::ROOT);
    }
    find_lcca(states, t.source, &t.targets)
}

/// SCXML 1.0 App. D `findLCCA` for the list `[head] + tail`: the nearest
/// proper ancestor of `head` that is compound (the root is) and contains every
/// state of `tail`.
fn find_lcca(states: &[State], head: StateId, tail: &[StateId]) -> Option<StateId> {
    let mut ancestor = states[head.index()].parent;
    while let Some(a) = ancestor {
        let state = &states[a.index()];
        if state.is_compound() && tail.iter().all(|&s| s > a && s < state.descendants_end) {
            return Some(a);
        }
        ancestor = state.parent;
    }
    None
}
