//! Watching a session's microsteps, for hosts that trace sessions
//! (`orca run --trace`, the replay of a journal).
//!
//! A host sets an [`Observer`] with [`Interpreter::set_observer`]; after
//! every microstep (App. D `microstep`: exit, transition content, entry) and
//! after the initial entry of [`Interpreter::start`], the observer gets a
//! [`Microstep`]: the event, the transitions taken, the states exited and
//! entered. Without an observer a microstep only tests an `Option`, so
//! untraced sessions pay nothing measurable.

use crate::document::{Document, State, Transition, TransitionId};
use crate::event::Event;

use super::state_set::StateSet;
use super::Interpreter;

/// Told of each microstep of a session.
pub trait Observer {
    /// Called once the microstep's states are entered (its `<onentry>` ran).
    fn microstep(&mut self, step: &Microstep<'_>);
}

/// What one microstep did.
pub struct Microstep<'a> {
    document: &'a Document,
    event: Option<&'a Event>,
    transitions: &'a [TransitionId],
    exited: &'a StateSet,
    entered: &'a StateSet,
}

impl<'a> Microstep<'a> {
    /// The session's document, to look up states and transitions.
    pub fn document(&self) -> &'a Document {
        self.document
    }

    /// The event that enabled the transitions; `None` for eventless
    /// transitions and for the initial entry.
    pub fn event(&self) -> Option<&'a Event> {
        self.event
    }

    /// The transitions taken, in the order their content ran (App. D
    /// `executeTransitionContent`). For the initial entry, the `<scxml>`
    /// element's initial transition (its source is the root state).
    pub fn transitions(&self) -> impl Iterator<Item = &'a Transition> + 'a {
        let document = self.document;
        self.transitions
            .iter()
            .map(move |&t| document.transition(t))
    }

    /// The states exited, in exit order (reverse document order).
    pub fn exited(&self) -> impl Iterator<Item = &'a State> + 'a {
        let document = self.document;
        self.exited.iter_rev().map(move |s| document.state(s))
    }

    /// The states entered, in entry order (document order).
    pub fn entered(&self) -> impl Iterator<Item = &'a State> + 'a {
        let document = self.document;
        self.entered.iter().map(move |s| document.state(s))
    }
}

/// An observer and the scratch set it needs, allocated only when a host
/// sets an observer (one pointer in every interpreter otherwise).
pub(super) struct Observing {
    observer: Box<dyn Observer>,
    /// The configuration before entry, then the states entry added.
    entered: StateSet,
}

impl Interpreter {
    /// Reports every microstep of this session to `observer` from now on;
    /// `None` stops the reports.
    pub fn set_observer(&mut self, observer: Option<Box<dyn Observer>>) {
        self.observing = observer.map(|observer| {
            Box::new(Observing {
                observer,
                entered: StateSet::with_capacity(self.document.states.len()),
            })
        });
    }

    /// Called between transition content and entry when observed: notes the
    /// configuration, so that the states entry adds can be told apart.
    pub(super) fn note_before_entry(&mut self) {
        if let Some(observing) = self.observing.as_mut() {
            observing.entered.copy_from(&self.configuration);
        }
    }

    /// Tells the observer, if any, what the microstep whose transitions are
    /// `step.enabled` did.
    pub(super) fn report_microstep(&mut self, event: Option<&Event>) {
        let Some(observing) = self.observing.as_mut() else {
            return;
        };
        let Observing { observer, entered } = &mut **observing;
        entered.become_added_in(&self.configuration);
        observer.microstep(&Microstep {
            document: &self.document,
            event,
            transitions: &self.step.enabled,
            exited: &self.step.states_to_exit,
            entered,
        });
    }
}

impl std::fmt::Debug for Microstep<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids =
            |states: Vec<&State>| states.into_iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        f.debug_struct("Microstep")
            .field("event", &self.event.map(|e| e.name.as_str()))
            .field(
                "transitions",
                &self
                    .transitions
                    .iter()
                    .map(|t| t.index())
                    .collect::<Vec<_>>(),
            )
            .field("exited", &ids(self.exited().collect()))
            .field("entered", &ids(self.entered().collect()))
            .finish()
    }
}
