//! The interpreter's sans-IO contract, driven by a small deterministic host:
//! inputs with an explicit clock, actions drained after each input, timers
//! reported through `poll_timeout`.

use std::collections::VecDeque;
use std::sync::Arc;

use scxml::datamodel::ecmascript::{EcmaScript, EcmaScriptOptions, JsRuntime};
use scxml::document::{parse, FileLoader};
use scxml::{Action, Data, Event, Interpreter, Outcome, SessionOptions, Timestamp};

/// One session and what it asked for, with a virtual clock.
struct TestHost {
    session: Interpreter,
    now: Timestamp,
    /// Events the session sent to itself, waiting for delivery.
    queue: VecDeque<Event>,
    /// Everything else it asked for, in order.
    actions: Vec<Action>,
    _runtime: JsRuntime,
}

impl TestHost {
    fn new(chart: &str, options: SessionOptions) -> TestHost {
        let document = Arc::new(parse(chart, "test.scxml", &FileLoader).expect("valid chart"));
        let js = EcmaScriptOptions::default();
        let runtime = JsRuntime::new(&js).unwrap();
        let datamodel = EcmaScript::new(&runtime, Arc::clone(&document), &js).unwrap();
        TestHost {
            session: Interpreter::new(document, Box::new(datamodel), options),
            now: Timestamp::from_millis(1_000),
            queue: VecDeque::new(),
            actions: Vec::new(),
            _runtime: runtime,
        }
    }

    fn start(chart: &str) -> TestHost {
        let mut host = TestHost::new(chart, SessionOptions::new("t1"));
        host.session.start(host.now);
        host.drain();
        host
    }

    /// Takes the session's actions: self-sends are queued, the rest kept.
    fn drain(&mut self) {
        while let Some(action) = self.session.poll_action() {
            match action {
                Action::Send(request) if request.target.is_none() => {
                    self.queue.push_back(request.event)
                }
                other => self.actions.push(other),
            }
        }
    }

    /// Delivers an event and everything it causes, without moving the clock.
    fn send(&mut self, name: &str, data: Data) {
        self.queue.push_back(Event::external(name, data));
        self.settle();
    }

    fn settle(&mut self) {
        while let Some(event) = self.queue.pop_front() {
            self.session.handle_event(self.now, event);
            self.drain();
        }
    }

    /// Jumps the clock to the next timer and fires it.
    fn step_timer(&mut self) -> bool {
        let Some(due) = self.session.poll_timeout() else {
            return false;
        };
        assert!(due >= self.now, "timers never fall due in the past");
        self.now = due;
        self.session.handle_timeout(self.now);
        self.drain();
        self.settle();
        true
    }

    fn logs(&self) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Log { label, value, .. } => {
                    Some(format!("{}={value}", label.as_deref().unwrap_or("")))
                }
                _ => None,
            })
            .collect()
    }
}

const SCXML: &str =
    r#"xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript""#;

#[test]
fn delayed_sends_wait_for_the_host_clock_and_can_be_cancelled() {
    let chart = format!(
        r#"<scxml {SCXML} initial="a">
  <state id="a">
    <onentry>
      <send event="slow" delay="5s"/>
      <send id="doomed" event="never" delay="2s"/>
      <send event="fast" delay="1s"/>
    </onentry>
    <transition event="fast" target="b"><cancel sendid="doomed"/><log label="at" expr="Date.now()"/></transition>
  </state>
  <state id="b">
    <transition event="never" target="wrong"/>
    <transition event="slow" target="done"><log label="at" expr="Date.now()"/></transition>
  </state>
  <final id="wrong"/>
  <final id="done"/>
</scxml>"#
    );
    let mut host = TestHost::start(&chart);
    assert_eq!(
        host.session.poll_timeout(),
        Some(Timestamp::from_millis(2_000))
    );
    assert!(host.step_timer());
    assert_eq!(host.session.configuration(), vec!["b"]);
    // The cancelled send is gone: the next timer is the 5 s one.
    assert_eq!(
        host.session.poll_timeout(),
        Some(Timestamp::from_millis(6_000))
    );
    assert!(host.step_timer());
    assert_eq!(host.logs(), vec!["at=2000", "at=6000"]);
    assert_eq!(
        host.session.outcome(),
        Some(&Outcome::Done {
            final_state: "done".into()
        })
    );
    assert_eq!(host.session.poll_timeout(), None);
}

#[test]
fn done_reports_the_final_state_and_its_donedata() {
    let chart = format!(
        r#"<scxml {SCXML} initial="a">
  <datamodel><data id="n" expr="41"/></datamodel>
  <state id="a"><transition event="go" target="end"/></state>
  <final id="end"><donedata><param name="answer" expr="n + 1"/></donedata></final>
</scxml>"#
    );
    let mut host = TestHost::start(&chart);
    assert!(host.session.is_running());
    host.send("go", Data::Undefined);
    assert!(!host.session.is_running());
    let done = host.actions.iter().find_map(|a| match a {
        Action::Done {
            final_state,
            donedata,
        } => Some((final_state.clone(), donedata.clone())),
        _ => None,
    });
    assert_eq!(
        done,
        Some((
            "end".to_owned(),
            Data::Object(vec![("answer".into(), Data::Number(42.0))])
        ))
    );
    // The configuration the session ended in stays readable.
    assert_eq!(host.session.configuration(), vec!["end"]);
}

#[test]
fn a_failing_expression_raises_error_execution_and_the_session_goes_on() {
    let chart = format!(
        r#"<scxml {SCXML} initial="a">
  <datamodel><data id="seen" expr="''"/></datamodel>
  <state id="a">
    <onentry>
      <assign location="seen" expr="seen + 'x'"/>
      <assign location="seen" expr="undefined.boom"/>
      <assign location="seen" expr="seen + 'never'"/>
    </onentry>
    <transition event="error.execution" target="b"><log label="seen" expr="seen"/></transition>
  </state>
  <state id="b"><transition event="go" target="end"/></state>
  <final id="end"/>
</scxml>"#
    );
    let mut host = TestHost::start(&chart);
    assert_eq!(host.logs(), vec!["seen=x"]);
    assert_eq!(host.session.configuration(), vec!["b"]);
    host.send("go", Data::Undefined);
    assert!(matches!(host.session.outcome(), Some(Outcome::Done { .. })));
}

#[test]
fn an_endless_macrostep_stops_the_session_with_a_reason() {
    let chart = format!(
        r#"<scxml {SCXML} initial="a">
  <state id="a"><onentry><raise event="again"/></onentry><transition event="again" target="a"/></state>
</scxml>"#
    );
    let mut options = SessionOptions::new("t1");
    options.max_microsteps = 50;
    let mut host = TestHost::new(&chart, options);
    host.session.start(host.now);
    host.drain();
    assert!(!host.session.is_running());
    match host.session.outcome() {
        Some(Outcome::Stopped { reason }) => assert!(reason.contains("50 microsteps"), "{reason}"),
        other => panic!("expected a stop, got {other:?}"),
    }
}

#[test]
fn terminate_runs_exit_handlers_and_cancels_children_without_done() {
    let chart = format!(
        r#"<scxml {SCXML} initial="a">
  <state id="a">
    <onexit><log label="bye" expr="'a'"/></onexit>
    <invoke id="child" type="scxml"><content><scxml {SCXML}><final id="f"/></scxml></content></invoke>
  </state>
</scxml>"#
    );
    let mut host = TestHost::start(&chart);
    assert!(host
        .actions
        .iter()
        .any(|a| matches!(a, Action::Invoke(r) if r.invokeid == "child")));
    host.session.terminate(host.now);
    host.drain();
    assert_eq!(host.logs(), vec!["bye=a"]);
    assert!(host
        .actions
        .iter()
        .any(|a| matches!(a, Action::CancelInvoke { invokeid } if invokeid == "child")));
    assert!(!host
        .actions
        .iter()
        .any(|a| matches!(a, Action::Done { .. })));
    assert_eq!(host.session.outcome(), Some(&Outcome::Terminated));
}

#[test]
fn conflicting_transitions_in_parallel_regions_resolve_in_document_order() {
    // App. D removeConflictingTransitions: both regions enable a transition;
    // the first one (document order) leaves the parallel state, which
    // preempts the second.
    let chart = format!(
        r#"<scxml {SCXML} initial="p">
  <parallel id="p">
    <state id="r1"><transition event="e" target="out"><log label="t" expr="'r1'"/></transition></state>
    <state id="r2"><transition event="e" target="r2"><log label="t" expr="'r2'"/></transition></state>
  </parallel>
  <state id="out"/>
</scxml>"#
    );
    let mut host = TestHost::start(&chart);
    assert_eq!(host.session.configuration(), vec!["r1", "r2"]);
    host.send("e", Data::Undefined);
    assert_eq!(host.logs(), vec!["t=r1"]);
    assert_eq!(host.session.configuration(), vec!["out"]);
}

#[test]
fn deep_history_restores_the_exact_configuration() {
    let chart = format!(
        r#"<scxml {SCXML} initial="work">
  <state id="work" initial="w1">
    <history id="h" type="deep"><transition target="w1"/></history>
    <state id="w1" initial="w1a"><state id="w1a"/><state id="w1b"/></state>
    <state id="w2"/>
    <transition event="next" target="w1b"/>
    <transition event="pause" target="paused"/>
  </state>
  <state id="paused"><transition event="resume" target="h"/></state>
</scxml>"#
    );
    let mut host = TestHost::start(&chart);
    assert_eq!(host.session.configuration(), vec!["w1a"]);
    host.send("next", Data::Undefined);
    host.send("pause", Data::Undefined);
    assert_eq!(host.session.configuration(), vec!["paused"]);
    host.send("resume", Data::Undefined);
    assert_eq!(host.session.configuration(), vec!["w1b"]);
}

#[test]
fn data_lists_the_document_variables_in_document_order() {
    let chart = format!(
        r#"<scxml {SCXML} initial="a">
  <datamodel><data id="count" expr="1"/><data id="caller" expr="({{ ani: '+1555', vip: true }})"/></datamodel>
  <state id="a">
    <datamodel><data id="handler" expr="function () {{ return 1; }}"/></datamodel>
    <transition event="go"><assign location="count" expr="count + 1"/></transition>
  </state>
</scxml>"#
    );
    let mut host = TestHost::start(&chart);
    host.send("go", Data::Undefined);
    let data = host.session.data();
    assert_eq!(
        data.to_json(),
        serde_json::json!({"count": 2, "caller": {"ani": "+1555", "vip": true}, "handler": null})
    );
}

/// One microstep as an observer saw it: event, transitions as
/// `source->targets@line:column`, exited, entered.
type Seen = (Option<String>, Vec<String>, Vec<String>, Vec<String>);

struct Recorder(std::rc::Rc<std::cell::RefCell<Vec<Seen>>>);

impl scxml::Observer for Recorder {
    fn microstep(&mut self, step: &scxml::Microstep<'_>) {
        let document = step.document();
        let transitions = step
            .transitions()
            .map(|t| {
                let targets: Vec<&str> = t
                    .targets
                    .iter()
                    .map(|&s| document.state(s).id.as_str())
                    .collect();
                let source = &document.state(t.source).id;
                format!("{source}->{}@{}", targets.join(" "), t.location)
            })
            .collect();
        let ids = |states: Vec<&scxml::document::State>| {
            states.into_iter().map(|s| s.id.clone()).collect()
        };
        self.0.borrow_mut().push((
            step.event().map(|e| e.name.clone()),
            transitions,
            ids(step.exited().collect()),
            ids(step.entered().collect()),
        ));
    }
}

#[test]
fn an_observer_sees_each_microstep_with_its_event_transitions_and_states() {
    let chart = format!(
        r#"<scxml {SCXML} initial="idle">
  <state id="idle">
    <transition event="go" target="busy"/>
  </state>
  <state id="busy" initial="b1">
    <state id="b1"><transition target="b2"/></state>
    <state id="b2"><transition event="done" target="idle"><raise event="again"/></transition></state>
    <transition event="again"/>
  </state>
</scxml>"#
    );
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut host = TestHost::new(&chart, SessionOptions::new("t1"));
    host.session
        .set_observer(Some(Box::new(Recorder(std::rc::Rc::clone(&seen)))));
    host.session.start(host.now);
    host.drain();
    host.send("go", Data::Undefined);
    host.send("done", Data::Undefined);
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        *seen.borrow(),
        vec![
            // The initial entry: <scxml initial="idle"> on line 1.
            (None, s(&["__scxml->idle@1:1"]), s(&[]), s(&["idle"])),
            (
                Some("go".into()),
                s(&["idle->busy@3:5"]),
                s(&["idle"]),
                s(&["busy", "b1"])
            ),
            // Eventless, in the same macrostep.
            (None, s(&["b1->b2@6:20"]), s(&["b1"]), s(&["b2"])),
            (
                Some("done".into()),
                s(&["b2->idle@7:20"]),
                s(&["b2", "busy"]),
                s(&["idle"])
            ),
            // The raised event finds no active transition for it in idle:
            // no microstep. Targetless in busy would have been one.
        ]
    );
    // Without an observer the session runs the same.
    host.session.set_observer(None);
    host.send("go", Data::Undefined);
    assert_eq!(seen.borrow().len(), 4);
    assert_eq!(host.session.configuration(), vec!["b2"]);
}

#[test]
fn a_targetless_transition_is_a_microstep_that_exits_and_enters_nothing() {
    let chart = format!(
        r#"<scxml {SCXML} initial="a">
  <state id="a"><transition event="tick"><log expr="1"/></transition></state>
</scxml>"#
    );
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut host = TestHost::new(&chart, SessionOptions::new("t1"));
    host.session
        .set_observer(Some(Box::new(Recorder(std::rc::Rc::clone(&seen)))));
    host.session.start(host.now);
    host.send("tick", Data::Undefined);
    let last = seen.borrow().last().cloned().unwrap();
    assert_eq!(
        last,
        (
            Some("tick".into()),
            vec!["a->@2:17".to_owned()],
            vec![],
            vec![]
        )
    );
}
