//! The ORS session actions under `orca run`: `<session:fetch>` against a
//! loopback stub of a customer-profile service (modelled on the Context
//! Services `/profiles` lookup), and `<session:start>` of a second session.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// A scratch folder of its own for each test.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orca-ors-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `orca run` on `chart`; its output lines.
fn run(chart: &Path) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["run", chart.to_str().unwrap(), "--timeout", "20"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "orca run failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The value of the log line labelled `label`.
fn log<'a>(lines: &'a [Value], label: &str) -> &'a Value {
    let line = lines
        .iter()
        .find(|l| l["type"] == "log" && l["label"] == label)
        .unwrap_or_else(|| panic!("no log {label:?} in {lines:#?}"));
    &line["value"]
}

/// The profile lookup: one known phone number; any other is 404.
async fn profiles(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    if body["PhoneNumber"] == "5551234" && body["include_extensions"] == "unique" {
        let found = json!([{"customer_id": "cust-0007", "LastName": "Okafor"}]);
        return (StatusCode::OK, Json(found));
    }
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": "no profile"})),
    )
}

/// Serves the stub on an ephemeral loopback port, on a runtime of its own.
fn stub() -> (tokio::runtime::Runtime, SocketAddr) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().route("/profiles", post(profiles));
    runtime.spawn(async move { axum::serve(listener, app).await });
    (runtime, address)
}

/// A caller-identification chart in the style of the seed's lookup state.
fn lookup_chart(base_url: &str, phone: &str) -> String {
    format!(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"
       xmlns:session="http://www.genesyslab.com/modules/session"
       version="1.0" datamodel="ecmascript" initial="FindCaller">
  <datamodel>
    <data id="profileService" expr="'{base_url}'"/>
    <data id="callerNumber" expr="'{phone}'"/>
    <data id="lookupId"/>
    <data id="customers"/>
  </datamodel>
  <state id="FindCaller">
    <onentry>
      <script>var wantExtensions = "unique";</script>
      <session:fetch requestid="_data.lookupId"
                     srcexpr="_data.profileService + '/profiles'"
                     method="'post'" enctype="'application/json'"
                     type="'application/json'">
        <param name="include_profile" expr="'no'"/>
        <param name="include_extensions" expr="wantExtensions"/>
        <param name="PhoneNumber" expr="callerNumber"/>
      </session:fetch>
    </onentry>
    <transition event="error.session.fetch" target="Failed">
      <log label="error" expr="_event.data.error"/>
      <log label="same-request" expr="_event.data.requestid == lookupId"/>
    </transition>
    <transition event="session.fetch.done" target="Found">
      <script>
        customers = _event.data.content != '' ? eval('(' + _event.data.content + ')') : [];
      </script>
      <log label="count" expr="customers.length"/>
      <log label="customer" expr="customers[0].customer_id"/>
      <log label="status" expr="_event.data.hints.status"/>
      <log label="same-request" expr="_event.data.requestid == lookupId"/>
    </transition>
  </state>
  <final id="Found"/>
  <final id="Failed"/>
</scxml>"#
    )
}

#[test]
fn a_profile_lookup_fetch_delivers_the_answer_to_the_chart() {
    let (_runtime, address) = stub();
    let dir = folder("fetch-found");
    let chart = dir.join("lookup.scxml");
    std::fs::write(
        &chart,
        lookup_chart(&format!("http://{address}"), "5551234"),
    )
    .unwrap();
    let lines = run(&chart);
    assert_eq!(log(&lines, "count"), &json!(1));
    assert_eq!(log(&lines, "customer"), &json!("cust-0007"));
    assert_eq!(log(&lines, "status"), &json!(200));
    assert_eq!(log(&lines, "same-request"), &json!(true));
    assert_eq!(lines.last().unwrap()["final"], "Found");
}

#[test]
fn an_unknown_caller_gets_error_session_fetch_with_http_404() {
    let (_runtime, address) = stub();
    let dir = folder("fetch-missing");
    let chart = dir.join("lookup.scxml");
    std::fs::write(
        &chart,
        lookup_chart(&format!("http://{address}"), "5550000"),
    )
    .unwrap();
    let lines = run(&chart);
    assert_eq!(log(&lines, "error"), &json!("http.404"));
    assert_eq!(log(&lines, "same-request"), &json!(true));
    assert_eq!(lines.last().unwrap()["final"], "Failed");
}

#[test]
fn session_start_runs_a_child_session_with_its_params() {
    let dir = folder("start");
    let parent = dir.join("parent.scxml");
    std::fs::write(
        &parent,
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"
       xmlns:session="http://www.genesyslab.com/modules/session"
       version="1.0" datamodel="ecmascript" initial="Starting">
  <datamodel>
    <data id="startId"/>
    <data id="childId"/>
  </datamodel>
  <state id="Starting">
    <onentry>
      <session:start requestid="startId" sessionid="childId" src="'callback.scxml'">
        <param name="queueName" expr="'vip-' + 'callbacks'"/>
      </session:start>
    </onentry>
    <transition event="session.start.done" target="Started">
      <log label="started" expr="_event.data.sessionid"/>
      <log label="same-id" expr="_event.data.sessionid == childId"/>
      <log label="same-request" expr="_event.data.requestid == startId"/>
    </transition>
    <transition event="error.session.start" target="Failed"/>
  </state>
  <final id="Started"/>
  <final id="Failed"/>
</scxml>"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("callback.scxml"),
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
       datamodel="ecmascript" initial="Waiting">
  <datamodel>
    <data id="queueName" expr="'none'"/>
  </datamodel>
  <state id="Waiting">
    <onentry>
      <log label="child-queue" expr="queueName"/>
      <log label="child-id" expr="_sessionid"/>
    </onentry>
  </state>
</scxml>"#,
    )
    .unwrap();
    let lines = run(&parent);
    let child_id = log(&lines, "child-id").clone();
    assert_eq!(log(&lines, "child-queue"), &json!("vip-callbacks"));
    assert_eq!(log(&lines, "started"), &child_id);
    assert_eq!(log(&lines, "same-id"), &json!(true));
    assert_eq!(log(&lines, "same-request"), &json!(true));
    assert_eq!(lines.last().unwrap()["final"], "Started");
}
