//! A strategy works Outbound records through `<session:fetch>` against
//! Orca's own OCS interface (the `outbound` router served on a loopback
//! port), as seed 003 shows: `method="post"`, `enctype` and `type`
//! `application/json`, the fields in `<param name="record">`. The test then
//! reads the record in the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use store::sqlx::{self, Row};
use store::testing::TestStore;

/// A scratch folder of its own for each run.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orca-ocs-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `orca run` on `chart`; its output lines.
fn run(chart: &Path) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_orca"))
        .args(["run", chart.to_str().unwrap(), "--timeout", "30"])
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

/// A state that sends one OCS request and goes to `next` on its
/// acknowledgement, or to `Failed` logging the error.
fn ocs_state(id: &str, path_expr: &str, req: &str, record_expr: &str, next: &str) -> String {
    format!(
        r#"
  <state id="{id}">
    <onentry>
      <session:fetch requestid="_data.requestid"
                     srcexpr="_data.ocs + {path_expr} + '?req={req}'"
                     method="'post'" enctype="'application/json'" type="'application/json'">
        <param name="record" expr="{record_expr}"/>
      </session:fetch>
    </onentry>
    <transition event="session.fetch.done" target="{next}">
      <script>answer = eval('(' + _event.data.content + ')');</script>
      <log label="{id}" expr="answer.notificationType"/>
    </transition>
    <transition event="error.session.fetch" target="Failed">
      <log label="failed-{id}" expr="_event.data.error + ': ' + _event.data.description"/>
    </transition>
  </state>"#
    )
}

/// The campaign-handling chart: add a record for the caller, reschedule it
/// after no answer, record the answered call's result and a custom field,
/// mark it processed, put the number on the do-not-call list, then try to
/// add the number again (refused: 409).
fn chart(base_url: &str) -> String {
    let record = "'/records/' + handle";
    let states = [
        ocs_state(
            "AddRecord",
            "'/records/crm-4711'",
            "AddRecord",
            "newRecord",
            "Added",
        ),
        ocs_state(
            "RecordReschedule",
            record,
            "RecordReschedule",
            "{timestamp: 1900000000, callbackType: 'Campaign', callResult: 'NoAnswer'}",
            "UpdateCallCompletionStats",
        ),
        ocs_state(
            "UpdateCallCompletionStats",
            record,
            "UpdateCallCompletionStats",
            "{callResult: 'Answer', otherFields: {Outcome: 'renewed', Amount: 120}}",
            "RecordProcessed",
        ),
        ocs_state(
            "RecordProcessed",
            record,
            "RecordProcessed",
            "{}",
            "DoNotCall",
        ),
        ocs_state("DoNotCall", record, "DoNotCall", "{}", "AddAgain"),
    ]
    .concat();
    format!(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"
       xmlns:session="http://www.genesyslab.com/modules/session"
       version="1.0" datamodel="ecmascript" initial="AddRecord">
  <datamodel>
    <data id="ocs" expr="'{base_url}'"/>
    <data id="requestid"/>
    <data id="answer"/>
    <data id="handle"/>
    <data id="newRecord" expr="{{callingList: 'Spring', campaignName: 'Renewals',
        phoneNumber: '+1 555 010 0100', phoneType: 'HomePhone', timeZone: 'EST',
        from: 9 * 3600, until: 20 * 3600, customerId: 'cust-0007'}}"/>
  </datamodel>
  {states}
  <state id="Added">
    <onentry>
      <script>handle = answer.GSW_RECORD_HANDLE;</script>
      <log label="handle" expr="handle"/>
      <log label="status" expr="answer.record.recordStatus"/>
    </onentry>
    <transition target="RecordReschedule"/>
  </state>
  <state id="AddAgain">
    <onentry>
      <session:fetch requestid="_data.requestid"
                     srcexpr="_data.ocs + '/records/crm-4712?req=AddRecord'"
                     method="'post'" enctype="'application/json'" type="'application/json'">
        <param name="record" expr="newRecord"/>
      </session:fetch>
    </onentry>
    <transition event="error.session.fetch" target="Done">
      <log label="refused" expr="_event.data.error"/>
    </transition>
    <transition event="session.fetch.done" target="Failed"/>
  </state>
  <final id="Done"/>
  <final id="Failed"/>
</scxml>"#
    )
}

/// Serves the Outbound router over `store` on an ephemeral loopback port.
fn serve(runtime: &tokio::runtime::Runtime, store: store::Store) -> SocketAddr {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let app = outbound::router(store);
    runtime.spawn(async move { axum::serve(listener, app).await });
    address
}

/// Sets up the campaign and calling list the chart uses.
async fn campaign(test: &TestStore, base: &str) {
    test.store.migrate(&outbound::SCHEMA).await.unwrap();
    let client = reqwest::Client::new();
    for (path, body) in [
        ("/campaigns", json!({"name": "Renewals"})),
        (
            "/callinglists",
            json!({"name": "Spring", "campaignName": "Renewals"}),
        ),
    ] {
        let response = client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{path}");
    }
}

#[test]
fn a_strategy_works_an_outbound_record_through_session_fetch() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for test in runtime.block_on(store::testing::all()).unwrap() {
        let backend = format!("{:?}", test.backend());
        let address = serve(&runtime, test.store.clone());
        let base = format!("http://{address}");
        runtime.block_on(campaign(&test, &base));

        let dir = folder(&backend);
        let path = dir.join("outbound.scxml");
        std::fs::write(&path, chart(&base)).unwrap();
        let lines = run(&path);
        assert_eq!(
            lines.last().unwrap()["final"],
            "Done",
            "{backend}: {lines:#?}"
        );
        assert_eq!(log(&lines, "AddRecord"), &json!("AddRecordAcknowledge"));
        assert_eq!(log(&lines, "status"), &json!("Ready"));
        for req in [
            "RecordReschedule",
            "UpdateCallCompletionStats",
            "RecordProcessed",
            "DoNotCall",
        ] {
            let ack = format!("{req}Acknowledge");
            assert_eq!(log(&lines, req), &json!(ack), "{backend}");
        }
        assert_eq!(log(&lines, "refused"), &json!("http.409"));
        let handle = log(&lines, "handle").as_i64().expect("a record handle");

        // The store holds what the strategy did.
        runtime.block_on(async {
            let row = sqlx::query(
                "SELECT reference_id, contact_info, daily_from, daily_till, record_status, \
                 call_result, record_type, dial_sched_time, other_fields \
                 FROM ocs_records WHERE record_handle = $1",
            )
            .bind(handle)
            .fetch_one(test.store.pool())
            .await
            .unwrap();
            assert_eq!(row.get::<String, _>(0), "crm-4711");
            assert_eq!(row.get::<String, _>(1), "+1 555 010 0100");
            assert_eq!(row.get::<i64, _>(2), 9 * 3600);
            assert_eq!(row.get::<i64, _>(3), 20 * 3600);
            // Updated (processed), call result Answer (33), record type
            // CampaignRescheduled (3) from the reschedule.
            assert_eq!(row.get::<i64, _>(4), 3, "{backend}: record status");
            assert_eq!(row.get::<i64, _>(5), 33, "{backend}: call result");
            assert_eq!(row.get::<i64, _>(6), 3, "{backend}: record type");
            assert_eq!(row.get::<Option<i64>, _>(7), Some(1_900_000_000));
            let fields: Value = serde_json::from_str(&row.get::<String, _>(8)).unwrap();
            assert_eq!(fields, json!({"Outcome": "renewed", "Amount": 120}));
            let records: i64 = sqlx::query("SELECT COUNT(*) FROM ocs_records")
                .fetch_one(test.store.pool())
                .await
                .unwrap()
                .get(0);
            assert_eq!(records, 1, "{backend}: the second AddRecord was refused");
            let barred = sqlx::query("SELECT value FROM ocs_do_not_call WHERE kind = 'phone'")
                .fetch_all(test.store.pool())
                .await
                .unwrap();
            assert_eq!(barred.len(), 1);
            assert_eq!(barred[0].get::<String, _>(0), "15550100100");
        });
        runtime.block_on(test.cleanup());
    }
}
