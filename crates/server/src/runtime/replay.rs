//! Giving a journaled session its inputs again: for recovery (the factory
//! rebuilds a live session, [`super::persist`]) and for traces
//! ([`replay_trace`]: `orca replay`, `GET /sessions/{id}/trace`).
//!
//! Both drive the session through the same [`Machine`] calls the runner
//! makes while it is live — `start`, `handle_event`, `handle_timeout`,
//! `terminate`, each followed by draining its actions — with each record's
//! time as `now`, so that `Date.now()` and the `Math.random()` sequence
//! (seeded from the start record) are those the session saw.

use journal::{Entry, Journal, Record, Start};
use runner::trace::{Tag, TraceRecord};
use runner::{Machine, SessionFactory};
use scxml::datamodel::ecmascript::EcmaScriptOptions;
use scxml::{Action, Data, Event, SessionOptions, Timestamp};

use super::actions::ecma_factory;
use super::inflight::InFlight;
use super::journaled::Documents;
use super::persist::PersistSession;
use super::trace::TracedMachine;
use super::SessionError;

/// One input as the session got it.
pub(crate) enum Input {
    /// The initial macrostep (then the waiting events of a scheduled start).
    Start(Timestamp),
    Event(Timestamp, Event),
    Timer(Timestamp),
    Terminate(Timestamp),
}

/// What a session's records say to replay.
pub(crate) struct Inputs {
    /// The inputs in order.
    pub(crate) steps: Vec<Input>,
    /// Events sent to a scheduled session while it waited (journaled before
    /// `Began`), taken in its start input.
    pub(crate) waiting: Vec<Event>,
    /// Whether the interpreter started (a scheduled start may still wait).
    pub(crate) begun: bool,
    /// Whether the journal says the session ended.
    pub(crate) ended: bool,
    /// The time of the last record.
    pub(crate) last_at: Timestamp,
}

impl Inputs {
    /// The inputs of a session with this start record and these later
    /// records (in sequence order).
    ///
    /// A start record whose `scheduled` is later than its `at` was written
    /// when a scheduled start was accepted: the session starts at its
    /// `Began` record, and the events before that are the ones it was sent
    /// while it waited. Otherwise the start record is the start.
    pub(crate) fn of(start: &Start, records: Vec<Record>) -> Inputs {
        let waits = start.scheduled.is_some_and(|due| due > start.at);
        let mut inputs = Inputs {
            steps: Vec::new(),
            waiting: Vec::new(),
            begun: !waits,
            ended: false,
            last_at: start.at,
        };
        if inputs.begun {
            inputs.steps.push(Input::Start(start.at));
        }
        inputs.read(records);
        inputs
    }

    /// The inputs of a session restored from a snapshot taken at `at`:
    /// the records after it (it had begun: a snapshot is of a running
    /// session).
    pub(crate) fn after_snapshot(at: Timestamp, records: Vec<Record>) -> Inputs {
        let mut inputs = Inputs {
            steps: Vec::new(),
            waiting: Vec::new(),
            begun: true,
            ended: false,
            last_at: at,
        };
        inputs.read(records);
        inputs
    }

    fn read(&mut self, records: Vec<Record>) {
        let inputs = self;
        for record in records {
            inputs.last_at = record.entry.at();
            let step = match record.entry {
                Entry::Started(_) | Entry::Fetched { .. } => continue,
                Entry::Ended { .. } => {
                    inputs.ended = true;
                    break;
                }
                Entry::Began { at } if !inputs.begun => {
                    inputs.begun = true;
                    Input::Start(at)
                }
                Entry::Began { .. } => continue,
                Entry::Event { event, .. } if !inputs.begun => {
                    inputs.waiting.push(event.into());
                    continue;
                }
                Entry::Event { event, at } => Input::Event(at, event.into()),
                Entry::Timer { at } => Input::Timer(at),
                Entry::Terminated { at } => Input::Terminate(at),
            };
            inputs.steps.push(step);
        }
    }
}

/// What a replay leaves to do.
pub(crate) struct Replayed {
    /// The `<invoke>`s made during the replay and still active at its end.
    pub(crate) invokes: Vec<Action>,
    /// The ORS requests still under way.
    pub(crate) inflight: InFlight,
    /// Invoke ids whose invocation ended (cancelled, done) during the
    /// replay: a child of an earlier snapshot with one of them is gone.
    pub(crate) ended: Vec<String>,
}

/// Gives `machine` the inputs, draining its actions after each (nothing is
/// carried out), and answers what is left to do ([`Replayed`]); `inflight`
/// are the requests under way before the first input (from a snapshot).
pub(crate) fn run<M: Machine>(machine: &mut M, steps: Vec<Input>, inflight: InFlight) -> Replayed {
    let mut invokes: Vec<Action> = Vec::new();
    let mut inflight = inflight;
    let mut ended: Vec<String> = Vec::new();
    for step in steps {
        match step {
            Input::Start(at) => machine.start(at),
            Input::Event(at, event) => {
                inflight.note_event(&event);
                // A child's done.invoke ends its invoke.
                if let Some(invokeid) = event.invokeid.as_deref() {
                    if event.name.starts_with("done.invoke") {
                        invokes
                            .retain(|a| !matches!(a, Action::Invoke(r) if r.invokeid == invokeid));
                        ended.push(invokeid.to_owned());
                    }
                }
                machine.handle_event(at, event);
            }
            Input::Timer(at) => machine.handle_timeout(at),
            Input::Terminate(at) => machine.terminate(at),
        }
        while let Some(action) = machine.poll_action() {
            inflight.note_action(&action);
            match action {
                Action::Invoke(request) => invokes.push(Action::Invoke(request)),
                Action::CancelInvoke { invokeid } => {
                    invokes.retain(|a| !matches!(a, Action::Invoke(r) if r.invokeid == invokeid));
                    ended.push(invokeid);
                }
                _ => {}
            }
        }
    }
    Replayed {
        invokes,
        inflight,
        ended,
    }
}

/// Replays one session's whole journal through a fresh interpreter and
/// answers its trace (see [`TracedMachine`]); nothing is performed.
pub(crate) fn replay_trace(
    journal: &Journal,
    id: &str,
    documents: &mut Documents,
) -> Result<Vec<TraceRecord>, SessionError> {
    let not_found = || SessionError::NotFound(id.to_owned());
    let records = journal
        .records(id, 0)
        .map_err(|e| SessionError::StartFailed(e.to_string()))?;
    let mut records = records.into_iter();
    let Some(first) = records.next() else {
        return Err(not_found());
    };
    let Entry::Started(start) = first.entry else {
        return Err(not_found());
    };
    let document = documents
        .of_start(journal, &start)
        .map_err(SessionError::StartFailed)?
        .document;
    let inputs = Inputs::of(&start, records.collect());
    // As the worker makes sessions: the ORS built-ins and action handlers.
    let mut factory = ecma_factory(EcmaScriptOptions::default(), &ors::OrsConfig::default());
    let mut options = SessionOptions::new(id);
    options.custom = Some(ors::handlers());
    options.params = start
        .params
        .iter()
        .map(|(k, v)| (k.clone(), Data::from(v.clone())))
        .collect();
    let inner = factory
        .create_seeded(document, options, start.seed)
        .map_err(|e| SessionError::StartFailed(e.to_string()))?;
    let session = PersistSession::unjournaled(inner, id.to_owned(), inputs.waiting);
    let tag = Tag::of(id, start.parent.as_ref().map(|p| p.invokeid.as_str()));
    let mut traced = TracedMachine::new(session, tag);
    run(&mut traced, inputs.steps, InFlight::default());
    let (session, trace) = traced.into_parts();
    factory.release(session.into_inner());
    Ok(trace)
}

#[cfg(test)]
mod tests {
    //! Faithfulness: a session run live through the server's persistence
    //! (the worker's factory, journal and runner, on a virtual clock) and
    //! replayed from its journal give the same trace, record for record.

    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::Duration;

    use journal::ContentHash;
    use runner::trace::{Tag, TraceRecord};
    use runner::{ChildOrigin, ClockMode, EcmaFactory, Runner, RunnerOptions, SessionFactory};
    use scxml::datamodel::ecmascript::EcmaScriptOptions;
    use scxml::{Data, DataModelError, Document, Event, SessionOptions, Timestamp};

    use super::super::journaled::Documents;
    use super::super::persist::{
        Journaling, PersistFactory, PersistSession, Shared, SharedRef, StartInfo,
    };
    use super::super::trace::TracedMachine;

    type Traces = Rc<RefCell<HashMap<String, Rc<RefCell<Vec<TraceRecord>>>>>>;

    /// The worker's factory, each machine traced live.
    struct LiveTraces {
        inner: PersistFactory,
        traces: Traces,
    }

    impl LiveTraces {
        fn traced(
            &self,
            machine: PersistSession,
            id: &str,
            tag: Tag,
        ) -> TracedMachine<PersistSession> {
            let traced = TracedMachine::new(machine, tag);
            self.traces
                .borrow_mut()
                .insert(id.to_owned(), traced.records());
            traced
        }
    }

    impl SessionFactory for LiveTraces {
        type Machine = TracedMachine<PersistSession>;

        fn create(
            &mut self,
            document: Arc<Document>,
            options: SessionOptions,
        ) -> Result<Self::Machine, DataModelError> {
            let id = options.session_id.clone();
            let machine = self.inner.create(document, options)?;
            Ok(self.traced(machine, &id, Tag::default()))
        }

        fn create_child(
            &mut self,
            document: Arc<Document>,
            options: SessionOptions,
            origin: &ChildOrigin<'_>,
        ) -> Result<Self::Machine, DataModelError> {
            let id = options.session_id.clone();
            let machine = self.inner.create_child(document, options, origin)?;
            Ok(self.traced(machine, &id, Tag::of(&id, Some(origin.invokeid))))
        }

        fn release(&mut self, machine: Self::Machine) {
            self.inner.release(machine.into_inner());
        }
    }

    /// Date.now() and Math.random() in a parent and in the child it
    /// invokes, eventless transitions, timers of both, events both ways,
    /// a cancelled child.
    const CHART: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="boot">
  <datamodel><data id="seed" expr="Math.random()"/><data id="born" expr="Date.now()"/></datamodel>
  <state id="boot">
    <onentry><log label="seed" expr="seed"/><log label="born" expr="born"/></onentry>
    <transition target="work"/>
  </state>
  <state id="work" initial="idle">
    <invoke id="helper"><content><scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="h">
      <datamodel><data id="r" expr="Math.random()"/></datamodel>
      <state id="h">
        <onentry><send event="tick" delay="2s"/></onentry>
        <transition event="tick" target="h2"><log label="child tick" expr="Date.now() + ':' + r"/><send target="#_parent" event="ticked"/></transition>
        <transition event="poke"><log label="poked" expr="Math.random()"/></transition>
      </state>
      <state id="h2"/>
    </scxml></content></invoke>
    <state id="idle">
      <transition event="go" target="busy"><log label="go" expr="_event.data.n * Math.random()"/></transition>
    </state>
    <state id="busy">
      <onentry><send event="later" delay="1s"/><send target="#_helper" event="poke"/></onentry>
      <transition event="later" target="idle"><log label="later" expr="Date.now()"/></transition>
    </state>
    <transition event="ticked"><log label="ticked" expr="Date.now() + Math.random()"/></transition>
    <transition event="stop" target="end"/>
  </state>
  <final id="end"/>
</scxml>"##;

    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn labels(trace: &[TraceRecord]) -> Vec<String> {
        trace
            .iter()
            .filter_map(|r| match r {
                TraceRecord::Log(log) => log.label.clone(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_live_session_and_its_replay_give_the_same_trace() {
        let dir =
            Scratch(std::env::temp_dir().join(format!("orca-faithful-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).unwrap();
        // Ended sessions are kept, so that both can be replayed at the end.
        let config = journal::Config {
            keep_ended: Duration::from_secs(3600),
            ..journal::Config::new(dir.0.join("j.db"))
        };
        let journal = journal::Journal::open(config).unwrap();
        let shared: SharedRef = Rc::new(RefCell::new(Shared {
            journal: Some(journal.clone()),
            ..Shared::default()
        }));
        let traces = Traces::default();
        let factory = LiveTraces {
            inner: PersistFactory::new(
                EcmaFactory::new(EcmaScriptOptions {
                    random_seed: 0x5EED,
                    ..EcmaScriptOptions::default()
                }),
                Rc::clone(&shared),
            ),
            traces: Rc::clone(&traces),
        };
        let start = Timestamp::from_millis(1_700_000_000_000);
        let mut runner = Runner::with_factory(
            factory,
            Box::new(scxml::document::FileLoader),
            RunnerOptions {
                clock: ClockMode::Virtual { start },
                ..RunnerOptions::default()
            },
            |_: &runner::LogEntry<'_>| {},
        );
        let document = Arc::new(
            scxml::document::parse(CHART, "chart.scxml", &scxml::document::FileLoader).unwrap(),
        );
        shared.borrow_mut().next_start = Some(StartInfo {
            src: "chart.scxml".to_owned(),
            journaling: Journaling::New {
                text: Arc::from(CHART),
                hash: ContentHash::of(CHART.as_bytes()),
            },
            created: start,
            scheduled: None,
            waiting: Vec::new(),
        });
        let root = runner.spawn(document, Vec::new()).unwrap();
        runner.run_until_idle().unwrap();
        let n = Data::Object(vec![("n".to_owned(), Data::Number(3.0))]);
        runner.enqueue(root, Event::external("go", n));
        runner
            .advance(start + Duration::from_millis(1_500))
            .unwrap();
        runner
            .advance(start + Duration::from_millis(3_000))
            .unwrap();
        runner.enqueue(root, Event::external("stop", Data::Undefined));
        runner.run_until_idle().unwrap();
        assert!(!runner.is_running(root));

        let live = |id: &str| traces.borrow()[id].borrow().clone();
        let mut documents = Documents::default();
        for id in ["1", "2"] {
            let replayed = super::replay_trace(&journal, id, &mut documents).unwrap();
            assert_eq!(replayed, live(id), "session {id}");
        }
        // The traces hold what the test is about, so that equality is not
        // that of two empty lists.
        let parent = live("1");
        assert_eq!(labels(&parent), ["seed", "born", "go", "later", "ticked"]);
        assert!(
            matches!(parent.last(), Some(TraceRecord::Done { final_state, .. }) if final_state == "end")
        );
        let boot = parent.iter().find_map(|r| match r {
            TraceRecord::Microstep(m) if m.event.is_none() && m.entered == ["work", "idle"] => {
                Some(m.transitions.clone())
            }
            _ => None,
        });
        let boot = boot.expect("the eventless transition to work");
        assert_eq!((boot[0].source.as_str(), boot[0].line), ("boot", 5));
        let child = live("2");
        assert_eq!(labels(&child), ["poked", "child tick"]);
        assert!(
            matches!(child.last(), Some(TraceRecord::Stopped { reason, .. }) if reason == "terminated")
        );
        // A value read from the clock: the timer fired 2 s after the start.
        let tick = child.iter().find_map(|r| match r {
            TraceRecord::Log(log) if log.label.as_deref() == Some("child tick") => {
                log.value.as_str().map(str::to_owned)
            }
            _ => None,
        });
        assert!(
            tick.is_some_and(|t| t.starts_with("1700000002000:")),
            "{child:?}"
        );
        journal.close();
    }
}
