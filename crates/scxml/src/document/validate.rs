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
        // `__GetCurrentStates()` (ORS) reads the configuration through `In()`.
        let uses_in = self
            .code
            .iter()
            .any(|c| calls_in(&c.text) || c.text.contains("__GetCurrentStates"));
        for state in &mut self.states {
            state.has_eventless = !state.is_history()
                && state
                    .transitions
                    .iter()
                    .any(|t| self.transitions[t.index()].events.is_empty());
        }
        let has_eventless = self.states.iter().any(|s| s.has_eventless);
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
            has_eventless,
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

/// Whether code may call the `In()` predicate (§5.9.1): `In` followed by
/// `(`, white space allowed between. A false positive (`isIn(`) only costs
/// the data model a configuration update; a false negative would be wrong.
fn calls_in(code: &str) -> bool {
    code.match_indices("In")
        .any(|(i, _)| code[i + 2..].trim_start().starts_with('('))
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

#[cfg(test)]
mod tests {
    use super::super::parse::tests::{assert_error, doc};
    use super::*;

    const HEAD: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0">"#;

    /// A chart for domains: `p` is parallel with regions `r1` and `r2`.
    const CHART: &str = r#"
  <state id="s">
    <transition event="ext" target="s1"/>
    <transition event="int" type="internal" target="s11"/>
    <transition event="int.self" type="internal" target="s"/>
    <transition event="none"><log expr="1"/></transition>
    <transition event="hist" target="h"/>
    <state id="s1">
      <transition event="sib" target="s2"/>
      <transition event="int.out" type="internal" target="s2"/>
      <transition event="int.child" type="internal" target="s11"/>
      <state id="s11">
        <transition event="self" target="s11"/>
        <transition event="int.atomic" type="internal" target="s11"/>
      </state>
    </state>
    <state id="s2">
      <history id="h" type="deep"><transition target="r1b"/></history>
      <parallel id="p">
        <state id="r1"><state id="r1a"><transition event="cross" target="r2a"/></state><state id="r1b"/></state>
        <state id="r2"><state id="r2a"><transition event="up" target="x"/></state></state>
      </parallel>
    </state>
  </state>
  <state id="x"><transition event="both" target="r1a r2a"/></state>
"#;

    fn domain_of(d: &Document, event: &str) -> Option<String> {
        let t = d
            .transitions
            .iter()
            .find(|t| {
                t.events
                    .first()
                    .is_some_and(|&e| d.descriptors[e as usize].prefix == event)
            })
            .unwrap_or_else(|| panic!("no transition for {event}"));
        t.domain.map(|s| d.state(s).id.clone())
    }

    #[test]
    fn transition_domains_follow_app_d() {
        let d = doc(CHART);
        let expect = [
            // External: the nearest compound proper ancestor of the source containing the targets.
            ("ext", Some("__scxml")),
            // Internal, compound source, descendant targets: the source itself.
            ("int", Some("s")),
            // Internal but the target is the source, not a proper descendant: as external.
            ("int.self", Some("__scxml")),
            ("none", None),
            // A history target: computed at run time.
            ("hist", None),
            ("sib", Some("s")),
            ("int.out", Some("s")),
            ("int.child", Some("s1")),
            // Internal from an atomic source: as external (App. D needs a compound source).
            ("int.atomic", Some("s1")),
            ("self", Some("s1")),
            // Between regions: the parallel is skipped, its compound ancestor contains both.
            ("cross", Some("s2")),
            ("up", Some("__scxml")),
            ("both", Some("__scxml")),
        ];
        for (event, domain) in expect {
            assert_eq!(domain_of(&d, event).as_deref(), domain, "{event}");
        }
        // Initial transitions: the root's own is the root; others by findLCCA.
        let initial = |id: StateId| d.transition(d.state(id).initial.unwrap()).domain;
        assert_eq!(initial(StateId::ROOT), Some(StateId::ROOT));
        assert_eq!(initial(d.state_by_id("s").unwrap()), Some(StateId::ROOT));
        assert_eq!(initial(d.state_by_id("s1").unwrap()), d.state_by_id("s"));
        // The default transition of a history: its parent contains its targets.
        let h = d.state(d.state_by_id("h").unwrap());
        assert_eq!(d.transition(h.transitions[0]).domain, d.state_by_id("s2"));
        assert_eq!(
            d.transition(h.transitions[0]).targets,
            [d.state_by_id("r1b").unwrap()]
        );
    }

    #[test]
    fn in_calls_are_detected() {
        assert!(calls_in("In('s1')"));
        assert!(calls_in("x && In (\"s\")"));
        assert!(!calls_in("Index(1) + In"));
        assert!(!calls_in("var Inx = 1"));
    }

    #[test]
    fn history_in_a_parallel_defaults_to_all_regions() {
        let d =
            doc(r#"<parallel id="p"><history id="h"/><state id="a"/><state id="b"/></parallel>"#);
        let h = d.state(d.state_by_id("h").unwrap());
        let targets: Vec<_> = d
            .transition(h.transitions[0])
            .targets
            .iter()
            .map(|&s| d.state(s).id.as_str())
            .collect();
        assert_eq!(targets, ["a", "b"]);
    }

    #[test]
    fn targets_must_exist() {
        assert_error(
            &format!("{HEAD}<state id=\"a\">\n  <transition target=\"a b\"/></state></scxml>"),
            2,
            3,
            "<transition>: target state \"b\" does not exist",
        );
        assert_error(
            &format!("{HEAD}\n<state id=\"a\" initial=\"zz\"><state id=\"b\"/></state></scxml>"),
            2,
            1,
            "<state>: initial state \"zz\" does not exist",
        );
        assert_error(
            &format!(
                "<scxml xmlns=\"{}\" initial=\"q\"/>",
                super::super::parse::SCXML_NS
            ),
            1,
            1,
            "<scxml>: initial state \"q\" does not exist",
        );
    }

    #[test]
    fn initial_states_must_be_descendants() {
        assert_error(
            &format!("{HEAD}\n<state id=\"a\" initial=\"c\"><state id=\"b\"/></state><state id=\"c\"/></scxml>"),
            2,
            1,
            "<state>: initial state \"c\" is not a descendant of \"a\"",
        );
        assert_error(
            &format!("{HEAD}<state id=\"a\"><initial>\n<transition target=\"a\"/></initial><state id=\"b\"/></state></scxml>"),
            2,
            1,
            "<transition> in <initial>: target \"a\" is not a descendant of \"a\"",
        );
    }

    #[test]
    fn history_defaults_must_be_in_the_parent() {
        // Shallow: children of the parent only.
        assert_error(
            &format!(
                "{HEAD}<state id=\"s\"><history>\n<transition target=\"b1\"/></history><state id=\"b\"><state id=\"b1\"/></state></state></scxml>"
            ),
            2,
            1,
            "<transition> in shallow <history>: target \"b1\" is not a child of \"s\"",
        );
        // Deep: any proper descendant of the parent, but not outside it.
        doc(
            r#"<state id="s"><history type="deep"><transition target="b1"/></history><state id="b"><state id="b1"/></state></state>"#,
        );
        assert_error(
            &format!(
                "{HEAD}<state id=\"s\"><history type=\"deep\">\n<transition target=\"o\"/></history><state id=\"b\"/></state><state id=\"o\"/></scxml>"
            ),
            2,
            1,
            "<transition> in deep <history>: target \"o\" is not a descendant of \"s\"",
        );
    }
}
