//! Snapshot and restore of hosted sessions: for each document and each `k`,
//! a session that is snapshotted after `k` inputs, restored in a fresh
//! runner and given the remaining inputs must produce exactly what the
//! uninterrupted session produced (logs, `Date.now()` and `Math.random()`
//! values included), and end in the same configuration with the same data.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use runner::{EcmaRunner, RunnerOptions};
use scxml::datamodel::ecmascript::EcmaScriptOptions;
use scxml::{Data, Document, Event, NotSnapshottable, Timestamp};

/// One input: an event and the time it arrives (ms after the start).
struct Input {
    at: u64,
    event: Event,
}

type Logs = Rc<RefCell<Vec<String>>>;

fn runner(ors: bool) -> (EcmaRunner, Logs) {
    let logs: Logs = Rc::default();
    let sink = Rc::clone(&logs);
    let options = RunnerOptions {
        clock: runner::ClockMode::Virtual {
            start: Timestamp(START),
        },
        ..RunnerOptions::default()
    };
    let ecmascript = EcmaScriptOptions {
        random_seed: 42,
        ..EcmaScriptOptions::default()
    };
    let mut runner = EcmaRunner::new(options, ecmascript, move |entry: &runner::LogEntry<'_>| {
        sink.borrow_mut()
            .push(format!("{:?} {}", entry.label, entry.value));
    });
    if ors {
        runner.enable_ors(ors::OrsConfig::default());
    }
    (runner, logs)
}

const START: u64 = 1_700_000_000_000;

/// What a run leaves: the logs from input `k` on, configuration and data.
#[derive(Clone, Debug, PartialEq)]
struct Observed {
    logs: Vec<String>,
    configuration: Vec<String>,
    data: String,
    next_timeout: Option<Timestamp>,
}

fn feed(runner: &mut EcmaRunner, key: runner::SessionKey, inputs: &[Input]) {
    for input in inputs {
        runner.advance(Timestamp(START + input.at)).unwrap();
        runner.enqueue(key, input.event.clone());
        runner.run_until_idle().unwrap();
    }
    // Let every pending timer of the session fire.
    runner.advance(Timestamp(START + 1_000_000)).unwrap();
}

fn observe(runner: &mut EcmaRunner, key: runner::SessionKey, logs: Vec<String>) -> Observed {
    Observed {
        logs,
        configuration: runner
            .configuration(key)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        data: runner
            .data(key)
            .map(|d| format!("{d:?}"))
            .unwrap_or_default(),
        next_timeout: runner.next_timeout(),
    }
}

/// Runs the whole input list, and for every k snapshots after k inputs,
/// restores in a new runner and feeds the rest; compares.
fn check(document: &Arc<Document>, inputs: &[Input], ors: bool) -> usize {
    let (mut whole, whole_logs) = runner(ors);
    let id = whole.reserve_session_id();
    let key = whole
        .spawn_reserved(id, Arc::clone(document), Vec::new())
        .unwrap();
    let mut marks = vec![whole_logs.borrow().len()];
    for input in inputs {
        feed_one(&mut whole, key, input);
        marks.push(whole_logs.borrow().len());
    }
    whole.advance(Timestamp(START + 1_000_000)).unwrap();
    let all = whole_logs.borrow().clone();
    let end = observe(&mut whole, key, Vec::new());

    let mut snapshotted = 0;
    for k in 0..=inputs.len() {
        let (mut first, _) = runner(ors);
        let id = first.reserve_session_id();
        let key = first
            .spawn_reserved(id, Arc::clone(document), Vec::new())
            .unwrap();
        for input in &inputs[..k] {
            feed_one(&mut first, key, input);
        }
        let snapshot = match first.snapshot_session(key) {
            Ok(snapshot) => snapshot,
            Err(e) => panic!("no snapshot after {k} inputs: {e}"),
        };
        snapshotted += 1;
        // Through the serialized form, as a host stores it.
        let bytes = postcard::to_stdvec(&snapshot).unwrap();
        let snapshot: runner::HostedSnapshot = postcard::from_bytes(&bytes).unwrap();
        let now = first.now();
        drop(first);

        let (mut second, logs) = runner(ors);
        second.advance(now).unwrap();
        let id = second.reserve_session_id();
        let key = second
            .restore_session(id, Arc::clone(document), Vec::new(), &snapshot, None)
            .unwrap();
        second.run_until_idle().unwrap();
        feed(&mut second, key, &inputs[k..]);
        let restored = observe(&mut second, key, logs.borrow().clone());
        let expected = Observed {
            logs: all[marks[k]..].to_vec(),
            ..end.clone()
        };
        assert_eq!(restored, expected, "restored after {k} inputs");
    }
    snapshotted
}

fn feed_one(runner: &mut EcmaRunner, key: runner::SessionKey, input: &Input) {
    runner.advance(Timestamp(START + input.at)).unwrap();
    runner.enqueue(key, input.event.clone());
    runner.run_until_idle().unwrap();
}

fn event(name: &str, data: serde_json::Value) -> Event {
    Event::external(name, Data::from(data))
}

fn parse(text: &str, name: &str) -> Arc<Document> {
    Arc::new(scxml::document::parse(text, name, &scxml::document::FileLoader).unwrap())
}

/// Data-model-heavy chart in the style of the W3C tests: nested data,
/// `<foreach>`, `<script>` globals, history, delayed sends and `<cancel>`,
/// internal events, `In()`, `Date.now()` and `Math.random()`.
const DATAMODEL_CHART: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="main">
  <datamodel>
    <data id="calls" expr="[]"/>
    <data id="totals" expr="({count: 0, sum: 0, tags: {}})"/>
    <data id="last" expr="null"/>
    <data id="weird" expr="[-0, NaN, Infinity, 'é', {'__proto__x': 1, '2': 'two', 'a': undefined}]"/>
  </datamodel>
  <state id="main" initial="idle">
    <history id="hist" type="deep"/>
    <state id="idle">
      <transition event="call" target="busy">
        <script>var seen = (typeof seen === 'undefined' ? 0 : seen) + 1; loose = seen * 2;</script>
        <assign location="last" expr="_event.data"/>
        <foreach array="_event.data.tags" item="t" index="i">
          <assign location="totals.tags[t]" expr="(totals.tags[t] || 0) + i + 1"/>
        </foreach>
        <send event="tick" delay="3s" id="tick"/>
        <send event="late" delay="20s" id="late"/>
      </transition>
    </state>
    <state id="busy" initial="b1">
      <state id="b1">
        <transition event="tick" target="b2">
          <raise event="inner"/>
          <log label="tick" expr="Date.now() + ' ' + Math.random()"/>
        </transition>
      </state>
      <state id="b2">
        <transition event="inner" cond="In('b2')">
          <assign location="totals.count" expr="totals.count + 1"/>
        </transition>
      </state>
      <transition event="pause" target="paused"/>
      <transition event="done" target="idle">
        <cancel sendid="late"/>
        <script>calls.push({n: calls.length, at: Date.now(), r: Math.random(), s: seen});</script>
        <assign location="totals.sum" expr="totals.sum + (_event.data &amp;&amp; _event.data.amount || 0)"/>
        <log label="done" expr="JSON.stringify(calls) + ' ' + JSON.stringify(totals) + ' ' + loose"/>
      </transition>
    </state>
    <state id="paused">
      <transition event="resume" target="hist"/>
    </state>
    <transition event="late">
      <log label="late" expr="_event.name + ' ' + JSON.stringify(weird) + ' ' + (1 / weird[0])"/>
    </transition>
    <transition event="show">
      <log label="event" expr="JSON.stringify(_event.data) + ' ' + _sessionid"/>
    </transition>
  </state>
</scxml>"#;

#[test]
fn datamodel_chart_restores_at_every_point() {
    let document = parse(DATAMODEL_CHART, "datamodel.scxml");
    let inputs = vec![
        Input {
            at: 0,
            event: event("call", serde_json::json!({"tags": ["a", "b", "a"]})),
        },
        Input {
            at: 1_000,
            event: event("show", serde_json::json!({"x": [1, {"y": 2}]})),
        },
        Input {
            at: 4_000,
            event: event("pause", serde_json::Value::Null),
        },
        Input {
            at: 5_000,
            event: event("resume", serde_json::Value::Null),
        },
        Input {
            at: 6_000,
            event: event("done", serde_json::json!({"amount": 12.5})),
        },
        Input {
            at: 7_000,
            event: event("call", serde_json::json!({"tags": ["c"]})),
        },
        Input {
            at: 30_000,
            event: event("show", serde_json::json!(null)),
        },
        Input {
            at: 31_000,
            event: event("done", serde_json::json!({"amount": -1})),
        },
    ];
    assert_eq!(check(&document, &inputs, false), inputs.len() + 1);
}

#[test]
fn callflow_example_restores_at_every_point() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/callflow.scxml");
    let text = std::fs::read_to_string(&path).unwrap();
    let document = parse(&text, &path.display().to_string());
    let feed = std::fs::read_to_string(path.with_extension("jsonl")).unwrap();
    let mut at = 0;
    let inputs: Vec<Input> = feed
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            at += value["after_ms"].as_u64().unwrap_or(0);
            Input {
                at,
                event: event(
                    value["name"].as_str().unwrap(),
                    value
                        .get("data")
                        .cloned()
                        .unwrap_or(serde_json::Value::Null),
                ),
            }
        })
        .collect();
    assert_eq!(check(&document, &inputs, false), inputs.len() + 1);
}

/// An ORS strategy: the prelude (`_genesys`, `_data`, `__Log`, `__Raise`)
/// comes back by being run again, the variables by being set after it.
const ORS_CHART: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="wait">
  <datamodel>
    <data id="a" expr="1"/>
    <data id="b" expr="({list: [1, 2]})"/>
  </datamodel>
  <state id="wait">
    <transition event="go">
      <script>_data.a = _data.a + 1; b.list.push(_genesys.session.dayInZone('UTC'));</script>
      <log expr="_data.a + ' ' + JSON.stringify(_data.b) + ' ' + Math.random()"/>
      <script>__Log('from script ' + a, 'L', 4); __Raise('custom.ev', {x: a});</script>
    </transition>
    <transition event="custom.ev">
      <log label="raised" expr="JSON.stringify(_event.data) + ' ' + typeof uneval"/>
    </transition>
    <transition event="stop" target="end"/>
  </state>
  <final id="end"/>
</scxml>"#;

#[test]
fn ors_document_restores_with_its_prelude() {
    let document = parse(ORS_CHART, "ors.scxml");
    let inputs = vec![
        Input {
            at: 0,
            event: event("go", serde_json::Value::Null),
        },
        Input {
            at: 86_400_000,
            event: event("go", serde_json::Value::Null),
        },
        Input {
            at: 90_000_000,
            event: event("go", serde_json::Value::Null),
        },
        Input {
            at: 90_000_001,
            event: event("stop", serde_json::Value::Null),
        },
    ];
    assert_eq!(check(&document, &inputs, true), inputs.len() + 1);
}

/// Values that cannot be written down exactly refuse the snapshot with a
/// reason; once they are gone, snapshots work again.
#[test]
fn inexact_values_refuse_the_snapshot() {
    let cases: &[(&str, &str)] = &[
        ("f = function () { return 1; };", "f"),
        ("f = new Date(5);", "f"),
        ("var s = {}; f = {a: s, b: s};", "f.b"),
        ("f = {}; f.self = f;", "f.self"),
        ("f = Object.create({inherited: 1});", "f"),
        ("f = [1, , 3];", "f"),
        ("f = Object.freeze({a: 1});", "f"),
        ("f = {get a() { return 1; }};", "f.a"),
        ("f = '\\ud800';", "f"),
        ("f = /x/;", "f"),
    ];
    for (script, path) in cases {
        let text = format!(
            r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript">
  <state id="s"><transition event="clear"><script>f = 0;</script></transition></state>
  <state id="t"/>
  <datamodel><data id="f"/></datamodel>
  <script>{}</script>
</scxml>"#,
            script.replace('<', "&lt;")
        );
        let document = parse(&text, "refuse.scxml");
        let (mut runner, _) = runner(false);
        let id = runner.reserve_session_id();
        let key = runner.spawn_reserved(id, document, Vec::new()).unwrap();
        match runner.snapshot_session(key) {
            Err(runner::SnapshotError::NotSnapshottable(NotSnapshottable::Value {
                path: p,
                ..
            })) => assert_eq!(&p, path, "{script}"),
            other => panic!("{script}: expected a refusal, got {other:?}"),
        }
        runner.enqueue(key, event("clear", serde_json::Value::Null));
        runner.run_until_idle().unwrap();
        if !script.contains("var s") {
            assert!(
                runner.snapshot_session(key).is_ok(),
                "{script} after clearing"
            );
        }
    }
}

#[test]
fn lexical_script_globals_refuse_the_snapshot() {
    let document = parse(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript">
  <script>let hidden = 1;</script>
  <state id="s"/>
</scxml>"#,
        "lexical.scxml",
    );
    let (mut runner, _) = runner(false);
    let id = runner.reserve_session_id();
    let key = runner.spawn_reserved(id, document, Vec::new()).unwrap();
    assert!(matches!(
        runner.snapshot_session(key),
        Err(runner::SnapshotError::NotSnapshottable(
            NotSnapshottable::LexicalGlobals
        ))
    ));
}
