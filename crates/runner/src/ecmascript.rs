//! Sessions with the ECMAScript data model, their QuickJS runtimes shared in
//! groups.
//!
//! Every session gets its own JS context (isolation: no global leaks from one
//! session to another), but a QuickJS runtime costs far more memory than a
//! context, so up to [`RUNTIME_GROUP_SIZE`] sessions share one runtime. The
//! bound is there because a runtime's garbage collector walks every context
//! of the runtime: one runtime for ten thousand sessions would make each
//! collection, and so each session's pause, proportional to all of them.

use std::sync::Arc;

use scxml::datamodel::ecmascript::{EcmaScript, EcmaScriptOptions, JsRuntime, Prelude};
use scxml::{
    Action, Data, DataModelError, Document, Event, Interpreter, NotSnapshottable, Observer,
    Outcome, RestoreError, SessionOptions, Snapshot, Timestamp,
};

use crate::machine::{Machine, SessionFactory};

/// How many sessions share one QuickJS runtime. Tune with the `sessions`
/// benchmark (`--live` reports memory per session, sequential mode speed).
pub const RUNTIME_GROUP_SIZE: usize = 128;

/// Makes [`Interpreter`]s with an [`EcmaScript`] data model.
pub struct EcmaFactory {
    /// Settings given to every data model; `random_seed` is varied per session.
    options: EcmaScriptOptions,
    /// Sessions per runtime.
    group_size: usize,
    /// Runtimes by group index; `None` once a group emptied (its index is
    /// reused). Group 0 is kept even when empty, so that a run of one session
    /// at a time creates one runtime, not one per session.
    groups: Vec<Option<Group>>,
    /// Sessions created so far, to derive a distinct seed for each.
    created: u64,
    /// Builds a per-document prelude (the ORS built-ins), if the host set one.
    prelude: Option<PreludeBuilder>,
}

/// Makes the dialect prelude of a document (see [`EcmaFactory::set_prelude`]).
type PreludeBuilder = Box<dyn Fn(&Document) -> Option<Arc<Prelude>>>;

/// One shared runtime and how many live sessions use it.
struct Group {
    runtime: JsRuntime,
    live: usize,
}

/// An interpreter and the runtime group its context lives in.
pub struct EcmaSession {
    interpreter: Interpreter,
    group: usize,
}

impl EcmaFactory {
    /// A factory with these data-model settings and the default group size.
    pub fn new(options: EcmaScriptOptions) -> Self {
        Self::with_group_size(options, RUNTIME_GROUP_SIZE)
    }

    /// A factory sharing each runtime between at most `group_size` sessions.
    pub fn with_group_size(options: EcmaScriptOptions, group_size: usize) -> Self {
        EcmaFactory {
            options,
            group_size: group_size.max(1),
            groups: Vec::new(),
            created: 0,
            prelude: None,
        }
    }

    /// The first group with room, creating a runtime if none has.
    fn group_with_room(&mut self) -> Result<usize, DataModelError> {
        let room = self
            .groups
            .iter()
            .position(|g| g.as_ref().is_some_and(|g| g.live < self.group_size));
        if let Some(index) = room {
            return Ok(index);
        }
        let group = Some(Group {
            runtime: JsRuntime::new(&self.options)?,
            live: 0,
        });
        match self.groups.iter().position(Option::is_none) {
            Some(index) => {
                self.groups[index] = group;
                Ok(index)
            }
            None => {
                self.groups.push(group);
                Ok(self.groups.len() - 1)
            }
        }
    }
}

impl EcmaFactory {
    /// Gives every session created from now on the prelude `builder` makes
    /// for its document (installed lazily by the data model, only when the
    /// session's code names one of its triggers), e.g. the ORS built-ins.
    pub fn set_prelude(&mut self, builder: impl Fn(&Document) -> Option<Arc<Prelude>> + 'static) {
        self.prelude = Some(Box::new(builder));
    }

    /// The `Math.random()` seed the next [`SessionFactory::create`] would
    /// give its session: the configured seed plus the number of sessions
    /// created so far. Hosts that journal sessions record it.
    pub fn next_seed(&mut self) -> u64 {
        let seed = self.options.random_seed.wrapping_add(self.created);
        self.created += 1;
        seed
    }

    /// Like [`SessionFactory::create`] with an explicit `Math.random()`
    /// seed, for hosts replaying a journaled session.
    pub fn create_seeded(
        &mut self,
        document: Arc<Document>,
        options: SessionOptions,
        seed: u64,
    ) -> Result<EcmaSession, DataModelError> {
        let index = self.group_with_room()?;
        let mut settings = self.options.clone();
        settings.random_seed = seed;
        if let Some(builder) = &self.prelude {
            settings.prelude = builder(&document);
        }
        let Some(group) = self.groups[index].as_mut() else {
            // group_with_room only returns the index of an occupied slot.
            unreachable!("runtime group {index} is empty");
        };
        let datamodel = EcmaScript::new(&group.runtime, Arc::clone(&document), &settings)?;
        group.live += 1;
        Ok(EcmaSession {
            interpreter: Interpreter::new(document, Box::new(datamodel), options),
            group: index,
        })
    }
}

impl SessionFactory for EcmaFactory {
    type Machine = EcmaSession;

    fn create(
        &mut self,
        document: Arc<Document>,
        options: SessionOptions,
    ) -> Result<EcmaSession, DataModelError> {
        let seed = self.next_seed();
        self.create_seeded(document, options, seed)
    }

    fn restore(
        &mut self,
        document: Arc<Document>,
        options: SessionOptions,
        snapshot: &Snapshot,
    ) -> Result<EcmaSession, RestoreError> {
        let failed = |e: DataModelError| RestoreError::DataModel(e.to_string());
        let index = self.group_with_room().map_err(failed)?;
        let mut settings = self.options.clone();
        if let Some(builder) = &self.prelude {
            settings.prelude = builder(&document);
        }
        let Some(group) = self.groups[index].as_mut() else {
            unreachable!("runtime group {index} is empty");
        };
        let datamodel =
            EcmaScript::new(&group.runtime, Arc::clone(&document), &settings).map_err(failed)?;
        let interpreter = Interpreter::restore(document, Box::new(datamodel), options, snapshot)?;
        group.live += 1;
        Ok(EcmaSession {
            interpreter,
            group: index,
        })
    }

    fn release(&mut self, machine: EcmaSession) {
        let index = machine.group;
        // The context goes before the runtime bookkeeping: the runtime must
        // outlive every context created in it.
        drop(machine);
        if let Some(Some(group)) = self.groups.get_mut(index) {
            group.live = group.live.saturating_sub(1);
            if group.live == 0 && index != 0 {
                self.groups[index] = None;
            }
        }
    }

    fn collect_garbage(&mut self) {
        for group in self.groups.iter().flatten() {
            group.runtime.run_gc();
        }
    }
}

impl Machine for EcmaSession {
    fn start(&mut self, now: Timestamp) {
        self.interpreter.start(now);
    }

    fn handle_event(&mut self, now: Timestamp, event: Event) {
        self.interpreter.handle_event(now, event);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.interpreter.handle_timeout(now);
    }

    fn terminate(&mut self, now: Timestamp) {
        self.interpreter.terminate(now);
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.interpreter.poll_action()
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.interpreter.poll_timeout()
    }

    fn is_running(&self) -> bool {
        self.interpreter.is_running()
    }

    fn outcome(&self) -> Option<&Outcome> {
        self.interpreter.outcome()
    }

    fn configuration(&self) -> Vec<&str> {
        self.interpreter.configuration()
    }

    fn document(&self) -> &Arc<Document> {
        self.interpreter.document()
    }

    fn data(&mut self) -> Data {
        self.interpreter.data()
    }

    fn set_observer(&mut self, observer: Box<dyn Observer>) {
        self.interpreter.set_observer(Some(observer));
    }

    fn snapshot(&mut self) -> Result<Snapshot, NotSnapshottable> {
        self.interpreter.snapshot()
    }
}
