//! The SCXML 1.0 interpretation algorithm (Appendix D), cut for a sans-IO host.
//!
//! App. D's `mainEventLoop` blocks on the external queue; this core has no
//! external queue and never blocks. [`Interpreter::start`] is `interpret` up
//! to the first wait, [`Interpreter::handle_event`] is one turn of the loop
//! for one external event (the macrostep to a stable configuration, then the
//! pending invocations), and [`Interpreter::terminate`] is `exitInterpreter`.
//! The internal queue, the history values, the delayed sends and the active
//! invocations live here. The procedures of App. D are in [`select`],
//! [`exit`], [`enter`] and [`content`], under their spec names.

mod content;
mod custom;
mod enter;
mod exit;
mod observe;
mod select;
mod snapshot;
mod state_set;
mod timers;

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use crate::action::Action;
use crate::data::Data;
use crate::datamodel::{DataModel, SystemVariables};
use crate::document::{Document, Invoke, StateId, TransitionId};
use crate::event::{Event, SCXML_EVENT_PROCESSOR};
use crate::time::Timestamp;

use state_set::StateSet;
use timers::Timers;

pub use custom::{CustomContext, CustomError, CustomHandler, CustomHandlers, ExtensionRequest};
pub use observe::{Microstep, Observer};

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
    /// Event I/O processors the host offers besides the SCXML one, as (type
    /// or short name, location) entries of `_ioprocessors` (e.g. `basichttp`
    /// and its URL, App. D.2).
    pub ioprocessors: Vec<(String, String)>,
    /// Which other sessions exist, asked while a `<send>` to
    /// `#_scxml_<sessionid>` runs; `None` lets every such send through.
    pub directory: Option<SessionDirectory>,
    /// Handlers of foreign-namespace actions (a dialect such as ORS); an
    /// element without one becomes [`Action::Custom`] for the host.
    pub custom: Option<CustomHandlers>,
}

/// Answers whether a session id names a session the host can deliver to.
///
/// App. C.1 requires `error.communication` on the internal queue *when the
/// `<send>` executes* if its target session cannot be reached (W3C test 496
/// raises an event right after and expects the error first), so the host
/// must answer synchronously. This is a look-up, not I/O.
#[derive(Clone)]
pub struct SessionDirectory(pub Rc<dyn Fn(&str) -> bool>);

impl SessionDirectory {
    /// Whether a session with this id exists.
    pub fn contains(&self, session_id: &str) -> bool {
        (self.0)(session_id)
    }
}

impl std::fmt::Debug for SessionDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionDirectory")
    }
}

impl SessionOptions {
    /// Default limits for a session with this id.
    pub fn new(session_id: impl Into<String>) -> Self {
        SessionOptions {
            session_id: session_id.into(),
            params: Vec::new(),
            max_microsteps: 100_000,
            ioprocessors: Vec::new(),
            directory: None,
            custom: None,
        }
    }
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// One running session of a [`Document`].
///
/// # Contract
/// The host drives the session with inputs, each given the current time:
/// [`start`](Self::start) once, then [`handle_event`](Self::handle_event) for
/// each external event, [`handle_timeout`](Self::handle_timeout) when the
/// time returned by [`poll_timeout`](Self::poll_timeout) has come (an early or
/// repeated call is harmless), and [`terminate`](Self::terminate) to cancel
/// it. After every input the host drains [`poll_action`](Self::poll_action)
/// until it returns `None` and carries out the actions in order, then reads
/// `poll_timeout` again. Events the session sends to itself come back as
/// [`Action::Send`] with no target: the host appends them to the session's
/// external queue like any other external event. After an
/// [`Action::CancelInvoke`], the host delivers nothing more from that child
/// (§6.4.3), but events the child produced before it ended are still
/// delivered (W3C test 236). The session never reads a clock, a file or a
/// socket.
pub struct Interpreter {
    /// The shared, prepared document.
    document: Arc<Document>,
    /// The data model of this session.
    datamodel: Box<dyn DataModel>,
    /// Session id and limits.
    options: SessionOptions,
    /// The active states (App. D `configuration`), without the root.
    configuration: StateSet,
    /// States entered in this macrostep whose invocations are still to start
    /// (App. D `statesToInvoke`).
    states_to_invoke: StateSet,
    /// States whose `<data>` has been initialised (late binding).
    data_initialized: StateSet,
    /// Recorded history per history state (App. D `historyValue`); a short
    /// list because few documents have many history states.
    history_value: Vec<(StateId, Vec<StateId>)>,
    /// App. D `internalQueue`.
    internal_queue: VecDeque<Event>,
    /// App. D `running`.
    running: bool,
    /// Actions for the host, in order.
    actions: VecDeque<Action>,
    /// Delayed `<send>`s waiting for their time.
    timers: Timers,
    /// Invocations started and not yet cancelled.
    invocations: Vec<Invocation>,
    /// The time of the input being processed.
    now: Timestamp,
    /// Microsteps taken in the current macrostep.
    microsteps: u32,
    /// Counter for generated send and invoke ids.
    next_id: u64,
    /// How the session ended.
    outcome: Option<Outcome>,
    /// Reusable working sets of one microstep.
    step: Step,
    /// The host's observer of microsteps, if it traces the session.
    observing: Option<Box<observe::Observing>>,
}

/// One invocation made by this session.
#[derive(Debug)]
struct Invocation {
    invokeid: String,
    state: StateId,
    invoke: Arc<Invoke>,
}

/// The working sets of a microstep, kept between steps so that a microstep
/// allocates nothing in the common case.
#[derive(Debug, Default)]
struct Step {
    /// Transitions selected for this microstep, in document order of selection.
    enabled: Vec<TransitionId>,
    /// Transitions kept by conflict resolution.
    filtered: Vec<TransitionId>,
    /// App. D `statesToEnter`.
    states_to_enter: StateSet,
    /// App. D `statesForDefaultEntry`.
    states_for_default_entry: StateSet,
    /// App. D `defaultHistoryContent`: parent state to the history's default transition.
    default_history_content: Vec<(StateId, TransitionId)>,
    /// Exit set under construction.
    states_to_exit: StateSet,
    /// A copy of the configuration to iterate while guards run.
    active: StateSet,
    /// Effective targets of one transition.
    targets: Vec<StateId>,
    /// Whether each interned event descriptor matches the current event:
    /// 0 = not computed, 1 = matches, 2 = does not.
    descriptor_match: Vec<u8>,
}

impl Interpreter {
    /// A session of `document`, not started yet.
    pub fn new(
        document: Arc<Document>,
        datamodel: Box<dyn DataModel>,
        options: SessionOptions,
    ) -> Self {
        let n = document.states.len();
        let step = Step {
            states_to_enter: StateSet::with_capacity(n),
            states_for_default_entry: StateSet::with_capacity(n),
            states_to_exit: StateSet::with_capacity(n),
            active: StateSet::with_capacity(n),
            descriptor_match: vec![0; document.descriptors.len()],
            ..Step::default()
        };
        Interpreter {
            configuration: StateSet::with_capacity(n),
            states_to_invoke: StateSet::with_capacity(n),
            data_initialized: StateSet::with_capacity(n),
            history_value: Vec::new(),
            internal_queue: VecDeque::new(),
            running: false,
            actions: VecDeque::new(),
            timers: Timers::default(),
            invocations: Vec::new(),
            now: Timestamp::default(),
            microsteps: 0,
            next_id: 0,
            outcome: None,
            step,
            observing: None,
            document,
            datamodel,
            options,
        }
    }

    /// Runs the initial macrostep (App. D `interpret` up to the first wait):
    /// binds the system variables, initialises the data model, runs the
    /// top-level `<script>` and enters the initial configuration.
    pub fn start(&mut self, now: Timestamp) {
        if self.running || self.outcome.is_some() {
            return;
        }
        self.now = now;
        self.running = true;
        self.datamodel.begin_macrostep(now);
        if let Err(e) = self.bind_system_variables() {
            self.stop(format!("cannot bind system variables: {e}"));
            return;
        }
        // §5.3.3: early binding initialises every <data> now, late binding
        // only the top level (the rest on first entry).
        if self.document.late_binding {
            self.initialize_data(StateId::ROOT);
        } else {
            for i in 0..self.document.states.len() {
                self.initialize_data(StateId(i as u32));
            }
        }
        let document = Arc::clone(&self.document);
        if let Some(script) = document.script.as_ref() {
            let _ = self.execute_block(script);
        }
        if let Some(initial) = self.document.state(StateId::ROOT).initial {
            self.step.enabled.clear();
            self.step.enabled.push(initial);
            if self.observing.is_some() {
                self.note_before_entry();
                self.enter_states();
                self.report_microstep(None);
            } else {
                self.enter_states();
            }
        }
        self.run_macrostep();
    }

    /// Binds `_sessionid`, `_name`, `_ioprocessors` and `In()` (§5.10).
    fn bind_system_variables(&mut self) -> Result<(), crate::DataModelError> {
        let location = format!("#_scxml_{}", self.options.session_id);
        let mut ioprocessors = vec![
            (SCXML_EVENT_PROCESSOR.to_owned(), location.clone()),
            ("scxml".to_owned(), location),
        ];
        ioprocessors.extend(self.options.ioprocessors.iter().cloned());
        let system = SystemVariables {
            session_id: self.options.session_id.clone(),
            name: self.document.name.clone(),
            ioprocessors,
        };
        self.datamodel.bind_system(&system)
    }

    /// Processes one external event: one turn of App. D `mainEventLoop`.
    pub fn handle_event(&mut self, now: Timestamp, event: Event) {
        if !self.running {
            return;
        }
        self.now = now;
        self.microsteps = 0;
        self.datamodel.begin_macrostep(now);
        self.datamodel.set_event(&event);
        self.finalize_and_forward(&event);
        self.select_transitions(&event);
        if !self.step.enabled.is_empty() {
            self.microstep(Some(&event));
        }
        self.run_macrostep();
    }

    /// Fires the delayed sends that are due at `now`: each becomes an
    /// [`Action::Send`] (an event for the session itself too, which the host
    /// queues), or, for `#_internal`, an internal event processed at once.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if !self.running {
            return;
        }
        self.now = now;
        let mut internal = false;
        while let Some(due) = self.timers.pop_due(now) {
            match due {
                timers::Due::Send(request) => self.actions.push_back(Action::Send(request)),
                timers::Due::Internal(event) => {
                    self.internal_queue.push_back(event);
                    internal = true;
                }
            }
        }
        if internal {
            self.microsteps = 0;
            self.datamodel.begin_macrostep(now);
            self.run_macrostep();
        }
    }

    /// Stops the session as its parent cancelling it would (App. D
    /// `exitInterpreter`, without a done event).
    pub fn terminate(&mut self, now: Timestamp) {
        if !self.running {
            return;
        }
        self.now = now;
        self.datamodel.begin_macrostep(now);
        self.running = false;
        self.exit_interpreter(false);
        self.outcome = Some(Outcome::Terminated);
    }

    /// The next action to carry out, in the order the session asked for them.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.running {
            self.timers.next_due()
        } else {
            None
        }
    }

    /// The document.
    pub fn document(&self) -> &Arc<Document> {
        &self.document
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.options.session_id
    }

    /// The ids of the active atomic states, in document order. After the
    /// session ended: those it ended in.
    pub fn configuration(&self) -> Vec<&str> {
        self.configuration
            .iter()
            .map(|s| self.document.state(s))
            .filter(|s| s.is_atomic())
            .map(|s| s.id.as_str())
            .collect()
    }

    /// All active states (compound, parallel and atomic), in document order.
    pub fn active_states(&self) -> impl Iterator<Item = StateId> + '_ {
        self.configuration.iter()
    }

    /// Whether `state` is active.
    pub fn is_in(&self, state: StateId) -> bool {
        self.configuration.contains(state)
    }

    /// Whether the session has started and not ended.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// How the session ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The values of the document's `<data>` variables (for queries).
    pub fn data(&mut self) -> Data {
        self.datamodel.data_snapshot()
    }

    /// The session's data model (for hosts that inspect or snapshot it).
    pub fn datamodel_mut(&mut self) -> &mut dyn DataModel {
        self.datamodel.as_mut()
    }

    /// The macrostep loop of App. D `mainEventLoop`: eventless transitions,
    /// then internal events, until the configuration is stable; then the
    /// invocations of the states entered, and again if they raised errors.
    fn run_macrostep(&mut self) {
        loop {
            while self.running {
                self.select_eventless_transitions();
                if !self.step.enabled.is_empty() {
                    self.microstep(None);
                    continue;
                }
                let Some(event) = self.internal_queue.pop_front() else {
                    break;
                };
                self.datamodel.set_event(&event);
                self.select_transitions(&event);
                if !self.step.enabled.is_empty() {
                    self.microstep(Some(&event));
                }
            }
            if !self.running {
                if self.outcome.is_none() {
                    self.exit_interpreter(true);
                }
                return;
            }
            self.start_invocations();
            if self.internal_queue.is_empty() {
                return;
            }
        }
    }

    /// App. D `microstep`: exit, transition content, entry. `event` enabled
    /// the transitions (`None`: eventless); only an observer reads it.
    fn microstep(&mut self, event: Option<&Event>) {
        self.microsteps += 1;
        if self.microsteps > self.options.max_microsteps {
            let limit = self.options.max_microsteps;
            self.internal_queue.clear();
            self.stop(format!(
                "macrostep exceeded {limit} microsteps (eventless transitions or raised events loop forever)"
            ));
            return;
        }
        self.exit_states();
        self.execute_transition_content();
        if self.observing.is_some() {
            self.note_before_entry();
            self.enter_states();
            self.report_microstep(event);
        } else {
            self.enter_states();
        }
    }

    /// Adds a state to the configuration, keeping `In()` up to date.
    fn activate(&mut self, state: StateId) {
        self.configuration.insert(state);
        if self.document.uses_in {
            self.datamodel.set_configuration(self.configuration.words());
        }
    }

    /// Removes a state from the configuration, keeping `In()` up to date.
    fn deactivate(&mut self, state: StateId) {
        self.configuration.remove(state);
        if self.document.uses_in {
            self.datamodel.set_configuration(self.configuration.words());
        }
    }

    /// Stops the session for breaking a limit: no more macrosteps, pending
    /// sends dropped, children cancelled.
    fn stop(&mut self, reason: String) {
        self.running = false;
        self.timers.clear();
        for invocation in std::mem::take(&mut self.invocations) {
            self.actions.push_back(Action::CancelInvoke {
                invokeid: invocation.invokeid,
            });
        }
        self.outcome = Some(Outcome::Stopped { reason });
    }

    /// A fresh id for a send or an invocation.
    fn generate_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Queues a platform error event (§5.10: `error.execution`, ...).
    fn raise_error(&mut self, name: &str, message: String) {
        let data = Data::Object(vec![("message".to_owned(), Data::String(message))]);
        self.internal_queue.push_back(Event::platform(name, data));
    }
}
