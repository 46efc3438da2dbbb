//! The ORS session actions through the server (`app()`, no socket of its
//! own): seed 000's parent and child run to their first `ixn:` action and
//! `<session:start>` starts the child as a session of the server; seed
//! 003's `IdentifyByPhoneNumber` fetches from a loopback stub of the
//! customer-profile service; the fetch allowlist; `/request/{name}`
//! answered by `<ws:response>`; a fetch under way when the server stopped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::{app, AppState, Config};
use tower::ServiceExt;

/// Seed 000's parent strategy (the two excerpts joined), with the quotes
/// the extraction lost put back and the child's URL relative to the parent.
const SEED_000_PARENT: &str = r#"<scxml version="1.0" xmlns="http://www.w3.org/2005/07/scxml"
    xmlns:queue="http://www.genesyslab.com/modules/queue"
    xmlns:ixn="http://www.genesyslab.com/modules/interaction"
    xmlns:session="http://www.genesyslab.com/modules/session"
    initial='initial'>
    <datamodel>
        <data id="reqid" expr="" />
        <data id="ixnid" expr="" />
        <data id="newsessionid" expr="" />
    </datamodel>
    <state id="initial">
        <transition event="interaction.added" target="detachcall">
            <script>
                _data.ixnid = _event.data.interactionid;
            </script>
        </transition>
    </state>
    <state id="detachcall">
        <onentry>
            <log expr="'Detach call from current session ...'" />
            <ixn:detach requestid="_data.reqid" interactionid="_data.ixnid" />
        </onentry>
        <transition event="error.interaction.detach" target="error">
            <log expr="'Got detach error:'" />
            <log expr="uneval( _event )" />
        </transition>
        <transition event="interaction.detach.done"
            cond="_event.data.requestid == _data.reqid &amp;&amp;
            _event.data.interactionid==_data.ixnid"
            target="create_new_session">
            <log expr="'Got detach confirmation'" />
            <log expr="uneval( _event )" />
        </transition>
    </state>
    <state id="create_new_session">
        <onentry>
            <log expr="'Starting a new session that will attach the interaction ...'" />
            <session:start src="'ixn_attach.scxml'" sessionid="_data.newsessionid">
                <param name="parent_sessionid" expr="_sessionid" />
                <param name="interactionid" expr="_data.ixnid" />
            </session:start>
        </onentry>
        <transition event="session.start.done" target="exit">
            <log expr="'**** Start Session Done'" />
            <log expr="'**** Event details: ' + uneval( _event )" />
            <log expr="'**** New Session ID: ' + _data.newsessionid" />
        </transition>
        <transition event="error.session.start" target="error">
            <log expr="'Start Session Error'" />
            <log expr="uneval( _event )" />
        </transition>
    </state>
    <final id="exit" />
    <final id="error" />
</scxml>"#;

/// Seed 000's child strategy, quotes put back. The seed lists the two
/// parameters from the parent in a comment of the datamodel; here they are
/// declared `<data>`, which is what a `<param>` fills (ORS `<data
/// _type="parameter">`; undeclared parameters are dropped by Orca).
const SEED_000_CHILD: &str = r#"<scxml version="1.0" xmlns="http://www.w3.org/2005/07/scxml"
    xmlns:queue="http://www.genesyslab.com/modules/queue"
    xmlns:ixn="http://www.genesyslab.com/modules/interaction"
    xmlns:session="http://www.genesyslab.com/modules/session"
    initial='initial'>
    <datamodel>
        <data id="reqid" expr="''" />
        <data id="ixnid" expr="''" />
        <data id="newsessionid" expr="''" />
        <data id="DN2" expr="'702'" />
        <!-- Parameters passed in from parent session -->
        <data id="parent_sessionid" />
        <data id="interactionid" />
    </datamodel>
    <state id="initial">
        <onentry>
            <log expr="'New session has been started ...'" />
            <log expr="'Datamodel = ' + uneval(_data)" />
        </onentry>
        <transition target="attachcall" />
    </state>
    <state id="attachcall">
        <onentry>
            <log expr="'Attach call to this new session ...'" />
            <ixn:attach requestid="_data.reqid"
                interactionid="_data.interactionid" />
        </onentry>
        <transition event="error.interaction.attach" target="error">
            <log expr="'Got attach error:'" />
            <log expr="uneval( _event )" />
        </transition>
        <transition event="interaction.attach.done"
            cond="_event.data.requestid == _data.reqid &amp;&amp; _event.data.interactionid ==_data.interactionid"
            target="acceptcall">
            <log expr="'Got attach confirmation:'" />
            <log expr="uneval( _event )" />
        </transition>
    </state>
    <state id="acceptcall">
        <onentry>
            <log expr="'Answering call on dn = ' + _data.DN2" />
            <ixn:accept requestid="_data.reqid" interactionid="_data.interactionid"
                resource="_data.DN2" />
        </onentry>
        <transition event="error.interaction.accept" cond="_event.data.requestid == _data.reqid"
            target="error">
            <log expr="'*** Got accept error:'" />
            <log expr="uneval( _event )" />
        </transition>
        <transition event="interaction.accept.done"
            cond="_event.data.requestid == _data.reqid &amp;&amp; _event.data.interactionid == _data.interactionid"
            target="exit">
            <log expr="'*** Got accept confirmation on DN = ' + _data.DN2" />
            <log expr="'event details = ' + uneval( _event )" />
        </transition>
    </state>
    <final id="exit" />
    <final id="error" />
</scxml>"#;

/// Seed 003's `IdentifyByPhoneNumber` state in a chart of its own: the
/// extraction's lost underscores and quotes put back (`var data.X = ...`,
/// which is no JavaScript, as the assignment it means). The exit states are
/// not shown by the seed: here they are plain states, so that the test can
/// read the data, and the error transition also keeps `error`.
const SEED_003: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"
    xmlns:session="http://www.genesyslab.com/modules/session"
    version="1.0" datamodel="ecmascript" initial="IdentifyByPhoneNumber">
  <datamodel>
    <data id="context_management_services_url"/>
    <data id="requestid"/>
    <data id="CustomerCount" expr="-1"/>
    <data id="CustomerData"/>
    <data id="ANI" expr="'5551234'"/>
    <data id="App_IdentifyByPhoneNumber_IncludeExtension" expr="'unique'"/>
    <data id="lastError"/>
  </datamodel>
  <state id="IdentifyByPhoneNumber">
    <onentry>
      <if cond="_data.context_management_services_url == undefined || _data.context_management_services_url == ''">
        <raise event="servererror">
          <param name="description" expr="'context_management_services_url property not configured'" />
        </raise>
      <else/>
        <script>
          _data.CustomerCount = 0;
          var includeProfile = "no";
          var includeExtension = "unique";
          includeProfile="no";
          includeExtension="unique";
        </script>
        <session:fetch requestid="_data.requestid"
                       srcexpr="_data.context_management_services_url + '/profiles'"
                       method="'get'" type="'application/json'">
          <param name="include_profile" expr="includeProfile"/>
          <param name="include_extensions" expr="includeExtension"/>
          <param name="PhoneNumber" expr="ANI"/>
        </session:fetch>
      </if>
    </onentry>
    <transition event="error.session.fetch" target="Exit_Error">
      <log expr="'Error ' + _event.data.error + ':' + _event.data.description" />
      <assign location="lastError" expr="_event.data.error"/>
    </transition>
    <transition event="session.fetch.done" cond="_event.data.content == ''" target="Exit_Error">
      <assign location="CustomerCount" expr="0" />
      <log expr="'Error No customer found'" />
    </transition>
    <transition event="session.fetch.done" target="Exit_final">
      <script>
        _data.CustomerData = _event.data.content != '' ? eval('(' + _event.data.content + ')') : new Array();
        if (_data.CustomerData.length == 1) {
          if (App_IdentifyByPhoneNumber_IncludeExtension=="unique") {
            _data.CustomerData = [{'customer_id' : _data.CustomerData[0].customer_id}];
          }
        }
      </script>
      <log expr="'IdentifyByPhoneNumber: ' + CustomerData.length + ' Customer record(s) found'"/>
    </transition>
  </state>
  <state id="Exit_Error"/>
  <state id="Exit_final"/>
</scxml>"#;

/// Answers requests with `<ws:response>`: `balance` positively with
/// parameters, `refuse` negatively; `quit` ends the session without
/// answering.
const SERVICE: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"
    xmlns:ws="http://www.genesyslab.com/modules/ws"
    version="1.0" datamodel="ecmascript" initial="serving">
  <datamodel><data id="asked" expr="0"/></datamodel>
  <state id="serving">
    <transition event="balance">
      <assign location="asked" expr="asked + 1"/>
      <ws:response requestid="_event.sendid" resultcode="'ok'">
        <param name="account" expr="_event.data.account"/>
        <param name="balance" expr="42.5"/>
        <param name="paramtype" expr="_event.data.paramtype"/>
        <param name="param" expr="_event.data.param"/>
      </ws:response>
    </transition>
    <transition event="refuse">
      <ws:response requestid="_event.sendid" type="'negative'" resultcode="'nofunds'"/>
    </transition>
    <transition event="quit" target="done"/>
  </state>
  <final id="done"/>
</scxml>"#;

/// POSTs to `url` and waits in `Waiting` for the answer; `Got` keeps the
/// content, `Failed` the error.
fn slow_fetch_chart(url: &str) -> String {
    format!(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"
    xmlns:session="http://www.genesyslab.com/modules/session"
    version="1.0" datamodel="ecmascript" initial="Waiting">
  <datamodel><data id="rid"/><data id="lastError"/><data id="same"/></datamodel>
  <state id="Waiting">
    <onentry>
      <session:fetch requestid="_data.rid" srcexpr="'{url}'" method="'post'"
                     enctype="'application/json'">
        <param name="record" expr="'r-1'"/>
      </session:fetch>
    </onentry>
    <transition event="session.fetch.done" target="Got"/>
    <transition event="error.session.fetch" target="Failed">
      <assign location="lastError" expr="_event.data.error"/>
      <assign location="same" expr="_event.data.requestid == rid"/>
    </transition>
  </state>
  <state id="Got"/>
  <state id="Failed"/>
</scxml>"#
    )
}

/// A scratch directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("orca-ors-server-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn config(&self) -> Config {
        Config {
            workers: 2,
            data_dir: self.0.join("data"),
            ..Config::default()
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn form(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn get_(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn start(app: &Router, src: &str, extra: &str) -> String {
    let (status, body) = call(
        app,
        form("/scxml/session/start", &format!("src={src}{extra}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["sessionid"].as_str().unwrap().to_owned()
}

/// The records of a trace with this `type`.
fn of_type(trace: &Value, kind: &str) -> Vec<Value> {
    let records = trace
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {trace}"));
    records
        .iter()
        .filter(|r| r["type"] == kind)
        .cloned()
        .collect()
}

async fn query(app: &Router, id: &str) -> Value {
    let (status, body) = call(app, get_(&format!("/scxml/session/{id}/query"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Queries the session until `done` holds of the answer, for at most
/// ten seconds; the last answer.
async fn wait_for(app: &Router, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = query(app, id).await;
        if done(&body) || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The stub of the customer-profile service (Context Services'
/// `GET /profiles?<attr>=<value>&include_profile=&include_extensions=`):
/// one known phone number. Counts its calls.
#[derive(Clone, Default)]
struct Profiles {
    calls: Arc<AtomicUsize>,
}

async fn profiles(
    State(stub): State<Profiles>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    stub.calls.fetch_add(1, Ordering::SeqCst);
    let known = query.get("PhoneNumber").map(String::as_str) == Some("5551234")
        && query.get("include_extensions").map(String::as_str) == Some("unique")
        && query.get("include_profile").map(String::as_str) == Some("no");
    if known {
        Json(json!([{"customer_id": "cust-0007", "LastName": "Okafor"}]))
    } else {
        Json(json!([]))
    }
}

/// Never answers (until the test ends); counts its calls.
async fn never(State(stub): State<Profiles>) -> &'static str {
    stub.calls.fetch_add(1, Ordering::SeqCst);
    std::future::pending::<()>().await;
    "unreachable"
}

async fn stub(profiles_stub: Profiles) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/profiles", get(profiles))
        .route("/records", post(never))
        .with_state(profiles_stub);
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_parent_and_child_run_to_their_first_interaction_action() {
    let dir = Dir::new("seed000");
    let parent = dir.write("parent.scxml", SEED_000_PARENT);
    dir.write("ixn_attach.scxml", SEED_000_CHILD);
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());

    let id = start(&api, &parent, "").await;
    assert_eq!(query(&api, &id).await["states"], json!(["initial"]));
    let (status, _) = call(
        &api,
        form(
            &format!("/scxml/session/{id}/event/interaction.added"),
            "interactionid=ixn-0001&focusdeviceid=7001",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // `<ixn:detach>` is a platform action Orca does not have: the session
    // waits in `detachcall` (its error event matches no transition).
    let parent_now = query(&api, &id).await;
    assert_eq!(parent_now["states"], json!(["detachcall"]), "{parent_now}");
    assert_eq!(parent_now["data"]["ixnid"], "ixn-0001");

    // The parent's `create_new_session` state: `<session:start>` of the
    // child, with the interaction id the detach would have freed.
    let starter = dir.write(
        "starter.scxml",
        &SEED_000_PARENT.replace("initial='initial'", "initial='create_new_session'"),
    );
    let parent = start(&api, &starter, "&ixnid=ixn-0002").await;
    let (_, info) = call(&api, get_(&format!("/sessions/{parent}"))).await;
    assert_eq!(info["status"], "ended", "{info}");
    assert_eq!(info["outcome"], "done in exit", "{info}");
    let (_, listed) = call(&api, get_("/sessions?document=ixn_attach")).await;
    let children = listed["sessions"].as_array().unwrap();
    assert_eq!(children.len(), 1, "{listed}");
    let child = children[0]["sessionid"].as_str().unwrap().to_owned();
    assert!(
        child.starts_with(&parent),
        "{child} is not named after {parent}"
    );
    assert_eq!(children[0]["status"], "running");
    let child_now = query(&api, &child).await;
    assert_eq!(child_now["states"], json!(["attachcall"]), "{child_now}");
    assert_eq!(child_now["data"]["parent_sessionid"], parent.as_str());
    assert_eq!(child_now["data"]["interactionid"], "ixn-0002");
    assert_eq!(child_now["data"]["DN2"], "702");
    // Journaled as a session of its own: its journal replays.
    let (status, trace) = call(&api, get_(&format!("/sessions/{child}/trace"))).await;
    assert_eq!(status, StatusCode::OK, "{trace}");
    assert_eq!(of_type(&trace, "input")[0]["input"], "start", "{trace}");
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
    drop(api);
    drop(state);

    // And recovered as one after a restart, under its id.
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    let child_again = query(&api, &child).await;
    assert_eq!(child_again["states"], json!(["attachcall"]));
    assert_eq!(child_again["data"]["interactionid"], "ixn-0002");
    let (status, _) = call(&api, form(&format!("/scxml/session/{child}/terminate"), "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_profile_lookup_reaches_its_success_state() {
    let dir = Dir::new("seed003");
    let chart = dir.write("identify.scxml", SEED_003);
    let calls = Profiles::default();
    let address = stub(calls.clone()).await;
    let mut config = dir.config();
    config.fetch.allow_hosts = vec![format!("127.0.0.1:{}", address.port())];
    let state = AppState::new(config).unwrap();
    let api = app(state.clone());

    let url = format!("http://{address}");
    let id = start(
        &api,
        &chart,
        &format!("&context_management_services_url={url}"),
    )
    .await;
    let done = wait_for(&api, &id, |b| {
        b["states"] != json!(["IdentifyByPhoneNumber"])
    })
    .await;
    assert_eq!(done["states"], json!(["Exit_final"]), "{done}");
    assert_eq!(
        done["data"]["CustomerData"],
        json!([{"customer_id": "cust-0007"}])
    );
    assert_eq!(done["data"]["CustomerCount"], 0);
    assert!(done["data"]["requestid"]
        .as_str()
        .is_some_and(|r| r.starts_with(&id)));
    assert_eq!(calls.calls.load(Ordering::SeqCst), 1);

    // An unknown number: an empty list, still a success of the fetch.
    let other = start(
        &api,
        &chart,
        &format!("&context_management_services_url={url}&ANI=5550000"),
    )
    .await;
    let done = wait_for(&api, &other, |b| {
        b["states"] != json!(["IdentifyByPhoneNumber"])
    })
    .await;
    assert_eq!(done["states"], json!(["Exit_final"]), "{done}");
    assert_eq!(done["data"]["CustomerData"], json!([]));

    let (_, metrics) = call(&api, get_("/metrics")).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(metrics.contains("orca_fetch_seconds_count 2"), "{metrics}");
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_to_a_host_off_the_allowlist_is_refused() {
    let dir = Dir::new("allowlist");
    let chart = dir.write("identify.scxml", SEED_003);
    let calls = Profiles::default();
    let address = stub(calls.clone()).await;
    let mut config = dir.config();
    config.fetch.allow_hosts = vec!["profiles.example.com".to_owned()];
    let state = AppState::new(config).unwrap();
    let api = app(state.clone());

    let id = start(
        &api,
        &chart,
        &format!("&context_management_services_url=http://{address}"),
    )
    .await;
    let done = wait_for(&api, &id, |b| {
        b["states"] != json!(["IdentifyByPhoneNumber"])
    })
    .await;
    assert_eq!(done["states"], json!(["Exit_Error"]), "{done}");
    assert_eq!(done["data"]["lastError"], "host.notallowed");
    assert_eq!(calls.calls.load(Ordering::SeqCst), 0, "nothing may be sent");
    let (_, metrics) = call(&api, get_("/metrics")).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(metrics.contains("orca_fetch_seconds_count 0"), "{metrics}");
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_answered_by_ws_response() {
    let dir = Dir::new("request");
    let chart = dir.write("service.scxml", SERVICE);
    let mut config = dir.config();
    config.journal = false;
    // Long enough for a loaded machine: every request here is answered, or
    // ends with its session (api.rs has the time-out).
    config.limits.request_timeout_ms = 10_000;
    let state = AppState::new(config).unwrap();
    let api = app(state.clone());
    let id = start(&api, &chart, "").await;

    let (status, answer) = call(
        &api,
        form(
            &format!("/scxml/session/{id}/request/balance?account=7"),
            "",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["sessionid"], id.as_str());
    assert_eq!(answer["type"], "positive");
    assert_eq!(answer["resultcode"], "ok");
    assert_eq!(answer["params"]["account"], "7");
    assert_eq!(answer["params"]["balance"], 42.5);
    assert!(answer["requestid"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(query(&api, &id).await["data"]["asked"], 1);

    // A JSON body is also given whole, as ORS's `param` with `paramtype`.
    let json_request = Request::post(format!("/scxml/session/{id}/request/balance"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"account":"8"}"#))
        .unwrap();
    let (status, answer) = call(&api, json_request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["params"]["account"], "8");
    assert_eq!(answer["params"]["paramtype"], "application/json");
    assert_eq!(answer["params"]["param"], r#"{"account":"8"}"#);

    let (status, answer) = call(
        &api,
        form(&format!("/scxml/session/{id}/request/refuse"), ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["type"], "negative");
    assert_eq!(answer["resultcode"], "nofunds");
    assert_eq!(answer["params"], json!({}));

    let (status, answer) = call(&api, form(&format!("/scxml/session/{id}/request/quit"), "")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    assert_eq!(answer["error"], "request_unanswered");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains(&id)));

    let (status, answer) = call(
        &api,
        form(&format!("/scxml/session/{id}/request/balance"), ""),
    )
    .await;
    assert_eq!(status, StatusCode::GONE, "{answer}");
    let (status, _) = call(&api, form("/scxml/session/nosuch/request/balance", "")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_under_way_when_the_server_stops_fails_after_recovery() {
    let dir = Dir::new("interrupted");
    let calls = Profiles::default();
    let address = stub(calls.clone()).await;
    let chart = dir.write(
        "slow.scxml",
        &slow_fetch_chart(&format!("http://{address}/records")),
    );
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    let id = start(&api, &chart, "").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls.calls.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(calls.calls.load(Ordering::SeqCst), 1);
    assert_eq!(query(&api, &id).await["states"], json!(["Waiting"]));
    // The server stops with the request out: its outcome is never journaled.
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
    drop(api);
    drop(state);

    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    let after = query(&api, &id).await;
    assert_eq!(after["states"], json!(["Failed"]), "{after}");
    assert_eq!(after["data"]["lastError"], "request.interrupted");
    assert_eq!(after["data"]["same"], true);
    // The completion is an input like any other: journaled, it replays.
    let (_, trace) = call(&api, get_(&format!("/sessions/{id}/trace"))).await;
    let inputs = of_type(&trace, "input");
    assert_eq!(
        inputs.last().unwrap()["event"],
        "error.session.fetch",
        "{trace}"
    );
    let states = of_type(&trace, "configuration").pop().unwrap();
    assert_eq!(states["states"], json!(["Failed"]), "{trace}");
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
    drop(api);
    drop(state);

    // Once only: a second restart replays the journaled error.
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    assert_eq!(query(&api, &id).await["states"], json!(["Failed"]));
    let (_, trace) = call(&api, get_(&format!("/sessions/{id}/trace"))).await;
    assert_eq!(of_type(&trace, "input").len(), inputs.len(), "{trace}");
    assert_eq!(
        calls.calls.load(Ordering::SeqCst),
        1,
        "the POST is never sent again"
    );
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

/// Ends the session named by the `kill` event's `target`, and keeps the
/// outcome.
const KILLER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"
    xmlns:session="http://www.genesyslab.com/modules/session"
    version="1.0" datamodel="ecmascript" initial="armed">
  <datamodel><data id="rid"/><data id="result"/></datamodel>
  <state id="armed">
    <transition event="kill" target="waiting">
      <session:terminate requestid="_data.rid" sessionid="_event.data.target"/>
    </transition>
  </state>
  <state id="waiting">
    <transition event="session.terminate.done" target="killed">
      <assign location="result" expr="_event.data.sessionid"/>
    </transition>
    <transition event="error.session.terminate" target="failed">
      <assign location="result" expr="_event.data.error"/>
    </transition>
  </state>
  <state id="killed"/>
  <state id="failed"/>
</scxml>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_terminate_ends_sessions_of_either_worker() {
    let dir = Dir::new("terminate");
    let service = dir.write("service.scxml", SERVICE);
    let killer = dir.write("killer.scxml", KILLER);
    let mut config = dir.config();
    config.journal = false;
    let state = AppState::new(config).unwrap();
    let api = app(state.clone());
    // Round-robin placement over two workers: 0, 1, 0, 1, 0.
    let here = start(&api, &service, "").await;
    let there = start(&api, &service, "").await;
    let killers = [
        start(&api, &killer, "").await,
        start(&api, &killer, "").await,
        start(&api, &killer, "").await,
    ];
    let worker = |id: &str| id[16..18].to_owned();
    assert_eq!(worker(&killers[0]), worker(&here), "the runner's own case");
    assert_ne!(worker(&killers[2]), worker(&there), "across workers");
    for (killer, victim, outcome) in [
        (&killers[0], here.as_str(), "killed"),
        (&killers[2], there.as_str(), "killed"),
        (&killers[1], "NOSUCHSESSION", "failed"),
    ] {
        let (status, _) = call(
            &api,
            form(
                &format!("/scxml/session/{killer}/event/kill"),
                &format!("target={victim}"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let done = wait_for(&api, killer, |b| b["states"] != json!(["waiting"])).await;
        assert_eq!(done["states"], json!([outcome]), "{done}");
        if outcome == "killed" {
            assert_eq!(done["data"]["result"], victim);
            let (_, info) = call(&api, get_(&format!("/sessions/{victim}"))).await;
            assert_eq!(info["status"], "ended", "{info}");
            assert_eq!(info["outcome"], "terminated");
        } else {
            assert_eq!(done["data"]["result"], "nosuchsession");
        }
    }
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}
