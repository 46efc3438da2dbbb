//! Persistence through `app()`: sessions survive a restart of the runtime on
//! the same data directory, `_persist="false"` sessions do not, traces
//! replay the journal, and `#_scxml_` sends cross workers.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use server::{app, AppState, Config};
use tower::ServiceExt;

const COUNTER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="run">
  <datamodel><data id="count" expr="0"/><data id="peer" expr="''"/></datamodel>
  <state id="run">
    <transition event="inc"><assign location="count" expr="count + 1"/></transition>
    <transition event="go"><send targetexpr="'#_scxml_' + peer" event="inc"/></transition>
  </state>
</scxml>"#;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("orca-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("counter.scxml"), COUNTER).unwrap();
        let volatile = COUNTER.replace("<scxml ", "<scxml _persist=\"false\" ");
        std::fs::write(dir.join("volatile.scxml"), volatile).unwrap();
        Dir(dir)
    }

    fn chart(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
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
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post(uri: &str, body: String) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn start(app: &Router, src: &str, extra: &str) -> String {
    let (status, body) = call(
        app,
        post("/scxml/session/start", format!("src={src}{extra}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["sessionid"].as_str().unwrap().to_owned()
}

async fn count(app: &Router, id: &str) -> (StatusCode, Value) {
    let (status, body) = call(app, get(&format!("/scxml/session/{id}/query"))).await;
    (status, body["data"]["count"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_and_volatile_ones_do_not() {
    let dir = Dir::new("restart");
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    let kept = start(&api, &dir.chart("counter.scxml"), "").await;
    let volatile = start(&api, &dir.chart("volatile.scxml"), "").await;
    for _ in 0..3 {
        for id in [&kept, &volatile] {
            let (status, _) = call(
                &api,
                post(&format!("/scxml/session/{id}/event/inc"), String::new()),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
    drop(api);
    drop(state);

    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    assert_eq!(count(&api, &kept).await, (StatusCode::OK, Value::from(3)));
    assert_eq!(count(&api, &volatile).await.0, StatusCode::NOT_FOUND);
    let (status, trace) = call(&api, get(&format!("/sessions/{kept}/trace"))).await;
    assert_eq!(status, StatusCode::OK, "{trace}");
    let steps = trace["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4, "{trace}");
    assert_eq!(steps[3]["event"], "inc");
    assert_eq!(steps[3]["states"], serde_json::json!(["run"]));
    // The journal goes on where it stopped.
    let (status, _) = call(
        &api,
        post(&format!("/scxml/session/{kept}/event/inc"), String::new()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count(&api, &kept).await.1, Value::from(4));
    let (_, trace) = call(&api, get(&format!("/sessions/{kept}/trace"))).await;
    assert_eq!(trace["steps"].as_array().unwrap().len(), 5);
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scxml_sends_reach_sessions_of_other_workers() {
    let dir = Dir::new("peers");
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    // Round-robin placement: consecutive starts land on different workers.
    let receiver = start(&api, &dir.chart("counter.scxml"), "").await;
    let sender = start(
        &api,
        &dir.chart("counter.scxml"),
        &format!("&peer={receiver}"),
    )
    .await;
    assert_ne!(receiver[16..18], sender[16..18], "{receiver} {sender}");
    let (status, _) = call(
        &api,
        post(&format!("/scxml/session/{sender}/event/go"), String::new()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The event crosses threads after the sender's answer: ask until it
    // arrived (each query is a round trip through the receiver's worker).
    let mut seen = Value::Null;
    for _ in 0..10_000 {
        seen = count(&api, &receiver).await.1;
        if seen == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(seen, Value::from(1));
    assert_eq!(count(&api, &sender).await.1, Value::from(0));
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}
