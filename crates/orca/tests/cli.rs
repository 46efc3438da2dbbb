//! The `orca run` and `orca validate` contract, checked through the built binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn orca() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orca"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch file in a fresh temporary directory.
fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "orca-cli-{}-{}",
        std::process::id(),
        name.replace('.', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// The lines other than `microstep` (which have their own test), for tests
/// of the order of the other lines.
fn without_microsteps(output: &Output) -> Vec<serde_json::Value> {
    lines(output)
        .into_iter()
        .filter(|l| l["type"] != "microstep")
        .collect()
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = orca()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn example_from_the_readme_runs_to_its_final_state() {
    let root = repo();
    let output = orca()
        .arg("run")
        .arg(root.join("examples/callflow.scxml"))
        .arg("--events")
        .arg(root.join("examples/callflow.jsonl"))
        .arg("--trace")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let got = lines(&output);
    let configurations: Vec<_> = got
        .iter()
        .filter(|l| l["type"] == "configuration")
        .map(|l| l["states"].clone())
        .collect();
    // One after start, then one per line of the event file.
    assert_eq!(
        configurations,
        vec![
            serde_json::json!(["greeting"]),
            serde_json::json!(["queued"]),
            serde_json::json!(["queued"]),
            serde_json::json!(["connected"]),
            serde_json::json!(["handled"]),
        ]
    );
    assert_eq!(
        got.last().unwrap(),
        &serde_json::json!({"type": "done", "final": "handled", "states": ["handled"]})
    );
    assert!(got.contains(
        &serde_json::json!({"type": "log", "label": "routed", "value": "+15551230000 to kim"})
    ));
}

const TIMER_CHART: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="wait">
  <state id="wait">
    <onentry><send event="tick" delay="10s"/></onentry>
    <transition event="tick" target="ticked"/>
    <transition event="go" target="end"><log label="data" expr="_event.data.n + 1"/></transition>
  </state>
  <state id="ticked">
    <transition event="go" target="end"/>
  </state>
  <final id="end"/>
</scxml>"#;

#[test]
fn after_ms_lets_session_time_pass_and_fires_due_timers() {
    let chart = scratch("timer.scxml", TIMER_CHART);
    // 9.999 s: the timer has not fired yet.
    let early = run_with_stdin(
        &["run", chart.to_str().unwrap(), "--events", "-", "--trace"],
        "{\"name\":\"go\",\"data\":{\"n\":41},\"after_ms\":9999}\n",
    );
    let got = without_microsteps(&early);
    assert_eq!(
        got[0],
        serde_json::json!({"type":"configuration","states":["wait"]})
    );
    assert_eq!(
        got[1],
        serde_json::json!({"type":"log","label":"data","value":42})
    );
    assert_eq!(
        got[2],
        serde_json::json!({"type":"configuration","states":["end"]})
    );
    assert_eq!(early.status.code(), Some(0));
    // 10 s: the timer fires first (its macrostep prints no configuration).
    let late = run_with_stdin(
        &["run", chart.to_str().unwrap(), "--events", "-", "--trace"],
        "{\"name\":\"go\",\"after_ms\":10000}\n",
    );
    let got = without_microsteps(&late);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got[1],
        serde_json::json!({"type":"configuration","states":["end"]})
    );
    assert_eq!(got[2]["final"], "end");
}

#[test]
fn without_input_the_virtual_clock_jumps_to_pending_timers() {
    let chart = scratch("idle.scxml", TIMER_CHART);
    let started = std::time::Instant::now();
    let output = orca().arg("run").arg(&chart).output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let got = lines(&output);
    // The 10 s timer fired, then nothing else can happen: the run stops.
    assert_eq!(got.last().unwrap()["type"], "stopped");
    assert_eq!(got.last().unwrap()["states"], serde_json::json!(["ticked"]));
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn invalid_documents_exit_2_with_file_line_column() {
    let chart = scratch(
        "bad.scxml",
        "<scxml xmlns=\"http://www.w3.org/2005/07/scxml\" version=\"1.0\" initial=\"a\">\n  <state id=\"a\">\n    <transition target=\"nowhere\"/>\n  </state>\n</scxml>\n",
    );
    for command in ["run", "validate"] {
        let output = orca().arg(command).arg(&chart).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("bad.scxml:3:5:") && stderr.contains("nowhere"),
            "{command}: {stderr}"
        );
    }
    let malformed = scratch(
        "malformed.scxml",
        "<scxml xmlns=\"http://www.w3.org/2005/07/scxml\">\n<state id=\"a\">\n</scxml>\n",
    );
    let output = orca().arg("validate").arg(&malformed).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("malformed.scxml:3:"));
}

#[test]
fn runaway_scripts_and_endless_macrosteps_are_stopped() {
    let chart = scratch(
        "loop.scxml",
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="a">
  <state id="a">
    <onentry><script>while (true) {}</script></onentry>
    <transition event="error.execution" target="b"><log label="error" expr="_event.name"/></transition>
  </state>
  <state id="b"><transition target="c"/></state>
  <state id="c"><transition target="b"/></state>
</scxml>"#,
    );
    let output = orca()
        .arg("run")
        .arg(&chart)
        .args(["--script-budget-ms", "20", "--max-microsteps", "500"])
        .output()
        .unwrap();
    let got = lines(&output);
    assert_eq!(
        got[0],
        serde_json::json!({"type":"log","label":"error","value":"error.execution"})
    );
    assert_eq!(got[1]["type"], "stopped");
    assert!(got[1]["reason"]
        .as_str()
        .unwrap()
        .contains("500 microsteps"));
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn a_bad_event_line_is_reported_with_its_number() {
    let chart = scratch("timer2.scxml", TIMER_CHART);
    let output = run_with_stdin(
        &["run", chart.to_str().unwrap(), "--events", "-"],
        "{\"name\":\"nothing\"}\n{\"name\": 5}\n",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 2"));
    assert_eq!(lines(&output).last().unwrap()["type"], "stopped");
}

#[test]
fn sessions_mode_runs_every_session_to_done() {
    let chart = repo().join("../shared/bench/sessions/CHART.scxml");
    if !chart.exists() {
        eprintln!("skipped: {} not found", chart.display());
        return;
    }
    let mut events = String::new();
    for s in 0..3 {
        let callid = 100 + s;
        events.push_str(&format!("{{\"session\":{s},\"name\":\"interaction.present\",\"data\":{{\"callid\":{callid},\"ani\":\"+1555\",\"dnis\":\"8002\",\"lang\":\"en\"}}}}\n"));
        events.push_str(&format!("{{\"session\":{s},\"name\":\"target.selected\",\"data\":{{\"callid\":{callid},\"requestid\":\"{callid}-support-1\",\"agent\":\"a1\"}}}}\n"));
        events.push_str(&format!("{{\"session\":{s},\"name\":\"interaction.released\",\"data\":{{\"callid\":{callid}}}}}\n"));
    }
    let file = scratch("sessions.jsonl", &events);
    for live in [false, true] {
        let mut command = orca();
        command
            .arg("run")
            .arg(&chart)
            .arg("--events")
            .arg(&file)
            .arg("--sessions");
        if live {
            command.arg("--live");
        }
        let output = command.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary = lines(&output).pop().unwrap();
        assert_eq!(summary["sessions"], 3);
        assert_eq!(summary["completed"], 3);
    }
}

const INVOKING_CHART: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="wait">
  <state id="wait">
    <invoke id="kid"><content><scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="k">
      <state id="k"><transition event="poke" target="kdone"/></state>
      <final id="kdone"/>
    </scxml></content></invoke>
    <transition event="go"><send target="#_kid" event="poke"/></transition>
    <transition event="done.invoke.kid" target="end"/>
  </state>
  <final id="end"/>
</scxml>"##;

#[test]
fn trace_prints_each_microstep_with_its_transitions_and_tags_invoked_sessions() {
    let chart = scratch("invoking.scxml", INVOKING_CHART);
    let output = run_with_stdin(
        &["run", chart.to_str().unwrap(), "--events", "-", "--trace"],
        "{\"name\":\"go\"}\n",
    );
    assert_eq!(output.status.code(), Some(0));
    let steps: Vec<serde_json::Value> = lines(&output)
        .into_iter()
        .filter(|l| l["type"] == "microstep")
        .collect();
    let step = |event: serde_json::Value,
                source: &str,
                targets: serde_json::Value,
                line: u32,
                column: u32,
                exited: serde_json::Value,
                entered: serde_json::Value| {
        serde_json::json!({
            "type": "microstep",
            "event": event,
            "transitions": [{"source": source, "targets": targets, "line": line, "column": column}],
            "exited": exited,
            "entered": entered,
        })
    };
    let mut child_start = step(
        serde_json::Value::Null,
        "__scxml",
        serde_json::json!(["k"]),
        3,
        31,
        serde_json::json!([]),
        serde_json::json!(["k"]),
    );
    child_start["session"] = "2".into();
    child_start["invokeid"] = "kid".into();
    let mut child_poke = step(
        "poke".into(),
        "k",
        serde_json::json!(["kdone"]),
        4,
        21,
        serde_json::json!(["k"]),
        serde_json::json!(["kdone"]),
    );
    child_poke["session"] = "2".into();
    child_poke["invokeid"] = "kid".into();
    assert_eq!(
        steps,
        [
            step(
                serde_json::Value::Null,
                "__scxml",
                serde_json::json!(["wait"]),
                1,
                1,
                serde_json::json!([]),
                serde_json::json!(["wait"])
            ),
            child_start,
            step(
                "go".into(),
                "wait",
                serde_json::json!([]),
                7,
                5,
                serde_json::json!([]),
                serde_json::json!([])
            ),
            child_poke,
            step(
                "done.invoke.kid".into(),
                "wait",
                serde_json::json!(["end"]),
                8,
                5,
                serde_json::json!(["wait"]),
                serde_json::json!(["end"])
            ),
        ]
    );
    // Without --trace, no microstep lines.
    let quiet = run_with_stdin(
        &["run", chart.to_str().unwrap(), "--events", "-"],
        "{\"name\":\"go\"}\n",
    );
    assert!(lines(&quiet).iter().all(|l| l["type"] != "microstep"));
}
