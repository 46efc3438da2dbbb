//! Persistence through `app()`: sessions survive a restart of the runtime on
//! the same data directory, `_persist="false"` sessions do not, invoked
//! children come back in place rather than anew, scheduled starts survive
//! and start once, traces replay the journal, and `#_scxml_` sends cross
//! workers.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::Poll;
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

/// Invokes the same child twice, inline and from a file; keeps what the
/// children report, by invoke id.
const PARENT: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="run">
  <datamodel><data id="reports" expr="({})"/></datamodel>
  <state id="run">
    <invoke id="inline"><content><scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="c">
      <datamodel><data id="count" expr="0"/><data id="boot" expr="Math.random()"/></datamodel>
      <state id="c">
        <transition event="inc"><assign location="count" expr="count + 1"/></transition>
        <transition event="ask"><send target="#_parent" event="report"><param name="count" expr="count"/><param name="boot" expr="boot"/><param name="id" expr="_sessionid"/><param name="ticked" expr="false"/></send></transition>
        <transition event="arm"><send event="tick" delay="1s"/></transition>
        <transition event="tick" target="ticked"/>
      </state>
      <state id="ticked">
        <onentry><send target="#_parent" event="report"><param name="count" expr="count"/><param name="boot" expr="boot"/><param name="id" expr="_sessionid"/><param name="ticked" expr="true"/></send></onentry>
      </state>
    </scxml></content></invoke>
    <invoke id="file" src="child.scxml"/>
    <transition event="tell"><send targetexpr="'#_inline'" eventexpr="_event.data.what"/><send targetexpr="'#_file'" eventexpr="_event.data.what"/></transition>
    <transition event="report"><script>reports[_event.invokeid] = _event.data;</script></transition>
  </state>
</scxml>"##;

const CHILD: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="c">
  <datamodel><data id="count" expr="0"/><data id="boot" expr="Math.random()"/></datamodel>
  <state id="c">
    <transition event="inc"><assign location="count" expr="count + 1"/></transition>
    <transition event="ask"><send target="#_parent" event="report"><param name="count" expr="count"/><param name="boot" expr="boot"/><param name="id" expr="_sessionid"/><param name="ticked" expr="false"/></send></transition>
    <transition event="arm"><send event="tick" delay="1s"/></transition>
    <transition event="tick" target="ticked"/>
  </state>
  <state id="ticked">
    <onentry><send target="#_parent" event="report"><param name="count" expr="count"/><param name="boot" expr="boot"/><param name="id" expr="_sessionid"/><param name="ticked" expr="true"/></send></onentry>
  </state>
</scxml>"##;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("orca-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("counter.scxml"), COUNTER).unwrap();
        let volatile = COUNTER.replace("<scxml ", "<scxml _persist=\"false\" ");
        std::fs::write(dir.join("volatile.scxml"), volatile).unwrap();
        std::fs::write(dir.join("parent.scxml"), PARENT).unwrap();
        std::fs::write(dir.join("child.scxml"), CHILD).unwrap();
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
    let inputs = of_type(&trace, "input");
    assert_eq!(inputs.len(), 4, "{trace}");
    assert_eq!(inputs[3]["event"], "inc");
    let last = of_type(&trace, "configuration").pop().unwrap();
    assert_eq!(last["states"], serde_json::json!(["run"]));
    // The journal goes on where it stopped.
    let (status, _) = call(
        &api,
        post(&format!("/scxml/session/{kept}/event/inc"), String::new()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count(&api, &kept).await.1, Value::from(4));
    let (_, trace) = call(&api, get(&format!("/sessions/{kept}/trace"))).await;
    assert_eq!(of_type(&trace, "input").len(), 5);
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

async fn event(app: &Router, id: &str, name: &str, body: &str) {
    let (status, answer) = call(
        app,
        post(
            &format!("/scxml/session/{id}/event/{name}"),
            body.to_owned(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{name}: {answer}");
}

async fn data(app: &Router, id: &str) -> Value {
    let (status, body) = call(app, get(&format!("/scxml/session/{id}/query"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// Asks `check` of the session's data until it holds, for at most 20 s
/// (the timers of these tests are due within 1.5 s).
async fn await_data(app: &Router, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let seen = data(app, id).await;
        if check(&seen) {
            return seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn restart(state: AppState, api: Router, dir: &Dir) -> (AppState, Router) {
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
    drop(api);
    drop(state);
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    (state, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoked_children_come_back_in_place_with_their_data_and_timers() {
    let dir = Dir::new("children");
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    let parent = start(&api, &dir.chart("parent.scxml"), "").await;
    for _ in 0..2 {
        event(&api, &parent, "tell", "what=inc").await;
    }
    // Events between sessions of a worker are processed before the answer.
    event(&api, &parent, "tell", "what=ask").await;
    let before = data(&api, &parent).await["reports"].clone();
    for child in ["inline", "file"] {
        assert_eq!(before[child]["count"], 2, "{before}");
    }
    event(&api, &parent, "tell", "what=arm").await;
    let (state, api) = restart(state, api, &dir).await;

    // Each child's timer, armed before the restart, fires after it; each
    // reports the count and the Math.random() it had: it was rebuilt from
    // its journal, not started again from its initial state.
    let after = await_data(&api, &parent, |d| {
        ["inline", "file"]
            .iter()
            .all(|c| d["reports"][c]["ticked"] == true)
    })
    .await;
    for child in ["inline", "file"] {
        let (was, is) = (&before[child], &after["reports"][child]);
        assert_eq!(is["count"], 2, "{child}: {after}");
        assert_eq!(is["boot"], was["boot"], "{child}: {after}");
        assert_eq!(is["id"], was["id"], "{child}: {after}");
    }
    // A child's journal replays on its own: started once, its own inputs.
    let kid = before["inline"]["id"].as_str().unwrap();
    let (status, trace) = call(&api, get(&format!("/sessions/{kid}/trace"))).await;
    assert_eq!(status, StatusCode::OK, "{trace}");
    let inputs: Vec<String> = of_type(&trace, "input")
        .iter()
        .map(|i| {
            format!(
                "{}{}",
                i["input"].as_str().unwrap(),
                i["event"]
                    .as_str()
                    .map_or(String::new(), |e| format!(" {e}"))
            )
        })
        .collect();
    assert_eq!(
        inputs,
        [
            "start",
            "event inc",
            "event inc",
            "event ask",
            "event arm",
            "timer",
            "event tick"
        ],
        "{trace}"
    );
    assert!(of_type(&trace, "input")
        .iter()
        .all(|i| i["invokeid"] == "inline"));
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_starts_survive_a_restart_and_start_once() {
    let dir = Dir::new("scheduled");
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let chart = dir.chart("counter.scxml");
    let soon = start(&api, &chart, &format!("&idealtime={}", now + 1_500)).await;
    let later = start(&api, &chart, &format!("&idealtime={}", now + 3_600_000)).await;
    let dropped = start(&api, &chart, &format!("&idealtime={}", now + 3_600_000)).await;
    // Events sent while a session waits are kept for its start.
    event(&api, &soon, "inc", "").await;
    let (status, _) = call(
        &api,
        post(
            &format!("/scxml/session/{dropped}/terminate"),
            String::new(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (state, api) = restart(state, api, &dir).await;

    let (_, info) = call(&api, get(&format!("/sessions/{later}"))).await;
    assert_eq!(info["status"], "scheduled", "{info}");
    let (status, _) = call(&api, get(&format!("/sessions/{dropped}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The near one starts when its time comes and takes its event once.
    let seen = await_data(&api, &soon, |d| !d.is_null()).await;
    assert_eq!(seen["count"], 1, "{seen}");
    let (_, trace) = call(&api, get(&format!("/sessions/{soon}/trace"))).await;
    let starts: Vec<Value> = of_type(&trace, "input")
        .into_iter()
        .filter(|i| i["input"] == "start")
        .collect();
    assert_eq!(starts.len(), 1, "{trace}");
    assert!(starts[0]["at"].as_u64().unwrap() >= now + 1_500, "{trace}");
    let incs = of_type(&trace, "microstep")
        .into_iter()
        .filter(|m| m["event"] == "inc")
        .count();
    assert_eq!(incs, 1, "{trace}");
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_of_a_parent_no_longer_live_are_ended_at_recovery() {
    let dir = Dir::new("orphans");
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    let parent = start(&api, &dir.chart("parent.scxml"), "").await;
    event(&api, &parent, "tell", "what=ask").await;
    let reports = data(&api, &parent).await["reports"].clone();
    let children: Vec<String> = ["inline", "file"]
        .iter()
        .map(|c| reports[c]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
    drop(api);
    drop(state);
    // The parent's end reached the journal, its children's did not (as
    // after a crash between the two).
    let path = dir.config().data_dir.join("journal.db");
    let journal = journal::Journal::open(journal::Config::new(&path)).unwrap();
    let seq = journal.records(&parent, 0).unwrap().len() as u64;
    let end = journal::Entry::Ended {
        outcome: journal::OutcomeRecord::Terminated,
        at: scxml::Timestamp::from_millis(1),
    };
    journal
        .append(journal::Record::new(parent.as_str(), seq, end))
        .wait()
        .unwrap();
    let mut live = journal.live_sessions().unwrap();
    live.sort();
    assert_eq!(live, children);
    journal.close();

    let state = AppState::new(dir.config()).unwrap();
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
    drop(state);
    let journal = journal::Journal::open(journal::Config::new(&path)).unwrap();
    assert!(journal.live_sessions().unwrap().is_empty());
    journal.close();
}

/// Waits in `waiting` on a `<session:fetch>` to `url`; notes in `seen` the
/// fetch's result and each `e` event, in the order it takes them.
fn held_chart(url: &str) -> String {
    format!(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"
    xmlns:session="http://www.genesyslab.com/modules/session"
    version="1.0" datamodel="ecmascript" initial="waiting">
  <datamodel><data id="rid"/><data id="seen" expr="[]"/></datamodel>
  <state id="waiting">
    <onentry>
      <session:fetch requestid="_data.rid" srcexpr="'{url}'" method="'post'"
                     enctype="'application/json'">
        <param name="record" expr="'r-1'"/>
      </session:fetch>
    </onentry>
    <transition event="session.fetch.done"><script>seen.push('fetched')</script></transition>
    <transition event="error.session.fetch"><script>seen.push('failed')</script></transition>
    <transition event="e"><script>seen.push('e ' + _event.data.n)</script></transition>
  </state>
</scxml>"#
    )
}

/// A fetch target that tells the test each call and answers it only when
/// the test lets it.
#[derive(Clone)]
struct HeldFetch {
    called: tokio::sync::mpsc::UnboundedSender<()>,
    release: std::sync::Arc<tokio::sync::Notify>,
}

async fn held_fetch(axum::extract::State(stub): axum::extract::State<HeldFetch>) -> &'static str {
    let _ = stub.called.send(());
    stub.release.notified().await;
    "{}"
}

/// Serves [`held_fetch`] on a local port; answers its URL, its calls and
/// what releases them.
async fn held_fetch_stub() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<()>,
    std::sync::Arc<tokio::sync::Notify>,
) {
    let (called, calls) = tokio::sync::mpsc::unbounded_channel();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let stub = HeldFetch {
        called,
        release: std::sync::Arc::clone(&release),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Router::new()
        .route("/slow", axum::routing::post(held_fetch))
        .with_state(stub);
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}/slow"), calls, release)
}

/// Polls `answer` once: `None` while it waits.
async fn poll_once<T>(answer: &mut Pin<Box<impl Future<Output = T>>>) -> Option<T> {
    match std::future::poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

/// The names of the events in a session's journal, in journal order.
fn journaled_events(dir: &Dir, id: &str) -> Vec<String> {
    let reader =
        journal::Journal::open(journal::Config::new(dir.0.join("data/journal.db"))).unwrap();
    let names = reader
        .records(id, 0)
        .unwrap()
        .into_iter()
        .filter_map(|record| match record.entry {
            journal::Entry::Event { event, .. } => {
                let event: scxml::Event = event.into();
                Some(event.name)
            }
            _ => None,
        })
        .collect();
    reader.close();
    names
}

/// An event to a session held on a `<session:fetch>` is queued behind the
/// hold and journaled when the session takes it: its request is answered
/// then, once its record is durable, not when it is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_to_a_held_session_is_answered_once_taken_and_journaled() {
    let dir = Dir::new("held");
    let (url, mut calls, release) = held_fetch_stub().await;
    std::fs::write(dir.0.join("held.scxml"), held_chart(&url)).unwrap();
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());
    let id = start(&api, &dir.chart("held.scxml"), "").await;
    calls.recv().await.unwrap();

    let mut answer = Box::pin(call(
        &api,
        post(&format!("/scxml/session/{id}/event/e"), "n=1".to_owned()),
    ));
    assert!(poll_once(&mut answer).await.is_none());
    // The worker serves its commands in order: once the query is answered,
    // the event waits in the held session's queue, unanswered.
    assert_eq!(data(&api, &id).await["seen"], serde_json::json!([]));
    assert!(poll_once(&mut answer).await.is_none());
    assert!(journaled_events(&dir, &id).is_empty());

    release.notify_one();
    let (status, body) = answer.await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Answered after its record is durable. The fetch's result came back
    // behind the event: the session takes the event first, and the journal
    // says so.
    assert_eq!(journaled_events(&dir, &id), ["e", "session.fetch.done"]);
    let seen = await_data(&api, &id, |d| {
        d["seen"].as_array().is_some_and(|s| s.len() == 2)
    })
    .await["seen"]
        .clone();
    assert_eq!(seen, serde_json::json!(["e 1", "fetched"]));

    // Recovery replays the same.
    let (_state, api) = restart(state, api, &dir).await;
    assert_eq!(data(&api, &id).await["seen"], seen);
}

/// A session that ends before it takes a queued event answers its request
/// "session ended" (410), and one still waiting when the server stops gets
/// "shutting down" (503): never a hang, never a 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_a_held_session_never_takes_is_refused() {
    let dir = Dir::new("held-ended");
    let (url, mut calls, release) = held_fetch_stub().await;
    std::fs::write(dir.0.join("held.scxml"), held_chart(&url)).unwrap();
    let state = AppState::new(dir.config()).unwrap();
    let api = app(state.clone());

    let ended = start(&api, &dir.chart("held.scxml"), "").await;
    calls.recv().await.unwrap();
    let mut answer = Box::pin(call(
        &api,
        post(&format!("/scxml/session/{ended}/event/e"), "n=1".to_owned()),
    ));
    assert!(poll_once(&mut answer).await.is_none());
    let (status, body) = call(
        &api,
        post(&format!("/scxml/session/{ended}/terminate"), String::new()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A held session ends once its hold does (its `<onexit>` actions wait
    // for it): the fetch's result comes back, the session ends without
    // taking the event.
    assert!(poll_once(&mut answer).await.is_none());
    release.notify_one();
    let (status, body) = answer.await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["error"], "session_ended");
    assert!(journaled_events(&dir, &ended).is_empty());

    let stopped = start(&api, &dir.chart("held.scxml"), "").await;
    calls.recv().await.unwrap();
    let mut answer = Box::pin(call(
        &api,
        post(
            &format!("/scxml/session/{stopped}/event/e"),
            "n=2".to_owned(),
        ),
    ));
    assert!(poll_once(&mut answer).await.is_none());
    assert_eq!(data(&api, &stopped).await["seen"], serde_json::json!([]));
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
    let (status, body) = answer.await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "shutting_down");
    // The fetches still out end now, rather than at their time limit.
    release.notify_waiters();
}

/// A counter with a timer armed early and a random number drawn at start.
const TIMED: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="run">
  <datamodel><data id="count" expr="0"/><data id="boot" expr="Math.random()"/><data id="fired" expr="false"/></datamodel>
  <state id="run">
    <transition event="inc"><assign location="count" expr="count + 1"/></transition>
    <transition event="arm"><send event="tick" delay="4s"/></transition>
    <transition event="tick" target="ticked"/>
  </state>
  <state id="ticked">
    <onentry><assign location="fired" expr="true"/></onentry>
  </state>
</scxml>"#;

/// A counter whose data model holds a function: never snapshottable.
const WITH_FUNCTION: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="run">
  <datamodel><data id="count" expr="0"/><data id="next" expr="function (n) { return n + 1; }"/></datamodel>
  <state id="run">
    <transition event="inc"><assign location="count" expr="next(count)"/></transition>
  </state>
</scxml>"#;

async fn metrics(app: &Router) -> String {
    let response = app.clone().oneshot(get("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The value of a metric line (`name{labels} value`), 0 when absent.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn snapshotting(dir: &Dir) -> Config {
    Config {
        journal_snapshot_every: 10,
        ..dir.config()
    }
}

/// Stops the runtime and starts another on the same data directory.
async fn restart_with(state: AppState, api: Router, config: Config) -> (AppState, Router) {
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
    drop(api);
    drop(state);
    let state = AppState::new(config).unwrap();
    let api = app(state.clone());
    (state, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_restores_a_session_from_its_snapshot_and_replays_the_rest() {
    let dir = Dir::new("snapshot");
    std::fs::write(dir.0.join("timed.scxml"), TIMED).unwrap();
    let state = AppState::new(snapshotting(&dir)).unwrap();
    let api = app(state.clone());
    let id = start(&api, &dir.chart("timed.scxml"), "").await;
    // Records: 0 the start, 1 `arm`, 2..=26 the 25 `inc`s. Each event is
    // its own turn, so the session is idle after records 10 and 20.
    event(&api, &id, "arm", "").await;
    for _ in 0..25 {
        event(&api, &id, "inc", "").await;
    }
    let before = data(&api, &id).await;
    assert_eq!(before["count"], 25, "{before}");
    assert_eq!(before["fired"], false, "the timer fired before the restart");
    let seen = metrics(&api).await;
    assert_eq!(
        metric(&seen, "orca_journal_snapshots_total{result=\"stored\"}"),
        2.0,
        "{seen}"
    );
    let (state, api) = restart_with(state, api, snapshotting(&dir)).await;

    // (A query waits for the session's worker to have recovered.)
    let after = data(&api, &id).await;
    // Restored from the snapshot at record 20: only 21..=26 are replayed.
    let seen = metrics(&api).await;
    assert_eq!(
        metric(&seen, "orca_recovery_snapshots_restored_total"),
        1.0,
        "{seen}"
    );
    assert_eq!(
        metric(&seen, "orca_recovery_records_replayed_total"),
        6.0,
        "{seen}"
    );
    assert_eq!(after["count"], 25, "{after}");
    assert_eq!(after["boot"], before["boot"], "{after}");
    let (status, info) = call(&api, get(&format!("/sessions/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["states"], serde_json::json!(["run"]), "{info}");
    // The timer armed before the snapshot comes back with it.
    await_data(&api, &id, |d| d["fired"] == true).await;
    // The journal goes on after the restored session's records, and the
    // trace (records before the snapshot are kept) is the whole history:
    // the start, `arm`, 25 `inc`s, the timer and its `tick`, `inc`.
    event(&api, &id, "inc", "").await;
    let (status, trace) = call(&api, get(&format!("/sessions/{id}/trace"))).await;
    assert_eq!(status, StatusCode::OK, "{trace}");
    assert_eq!(of_type(&trace, "input").len(), 30, "{trace}");
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_cannot_be_snapshotted_is_counted_and_replayed_in_full() {
    let dir = Dir::new("refused");
    std::fs::write(dir.0.join("function.scxml"), WITH_FUNCTION).unwrap();
    let state = AppState::new(snapshotting(&dir)).unwrap();
    let api = app(state.clone());
    let id = start(&api, &dir.chart("function.scxml"), "").await;
    for _ in 0..25 {
        event(&api, &id, "inc", "").await;
    }
    let seen = metrics(&api).await;
    // Tried after records 10 and 20, refused both times.
    assert_eq!(
        metric(&seen, "orca_journal_snapshots_total{result=\"refused\"}"),
        2.0,
        "{seen}"
    );
    assert_eq!(
        metric(&seen, "orca_journal_snapshots_total{result=\"stored\"}"),
        0.0,
        "{seen}"
    );
    let (state, api) = restart_with(state, api, snapshotting(&dir)).await;
    assert_eq!(count(&api, &id).await, (StatusCode::OK, Value::from(25)));
    let seen = metrics(&api).await;
    assert_eq!(
        metric(&seen, "orca_recovery_snapshots_restored_total"),
        0.0,
        "{seen}"
    );
    assert_eq!(
        metric(&seen, "orca_recovery_records_replayed_total"),
        25.0,
        "{seen}"
    );
    assert_eq!(count(&api, &id).await, (StatusCode::OK, Value::from(25)));
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoked_children_come_back_from_their_snapshots() {
    let dir = Dir::new("child-snapshots");
    let config = || Config {
        journal_snapshot_every: 3,
        ..dir.config()
    };
    let state = AppState::new(config()).unwrap();
    let api = app(state.clone());
    let parent = start(&api, &dir.chart("parent.scxml"), "").await;
    for _ in 0..7 {
        event(&api, &parent, "tell", "what=inc").await;
    }
    event(&api, &parent, "tell", "what=ask").await;
    let before = data(&api, &parent).await["reports"].clone();
    for child in ["inline", "file"] {
        assert_eq!(before[child]["count"], 7, "{before}");
    }
    let seen = metrics(&api).await;
    assert!(
        metric(&seen, "orca_journal_snapshots_total{result=\"stored\"}") >= 3.0,
        "{seen}"
    );
    let (state, api) = restart_with(state, api, config()).await;
    data(&api, &parent).await;
    let seen = metrics(&api).await;
    // The parent and both children.
    assert_eq!(
        metric(&seen, "orca_recovery_snapshots_restored_total"),
        3.0,
        "{seen}"
    );
    // Linked to their parent again, both ways: its events reach them and
    // their reports reach it, with the count and the Math.random() they had.
    event(&api, &parent, "tell", "what=inc").await;
    event(&api, &parent, "tell", "what=ask").await;
    let after = data(&api, &parent).await["reports"].clone();
    for child in ["inline", "file"] {
        let (was, is) = (&before[child], &after[child]);
        assert_eq!(is["count"], 8, "{child}: {after}");
        assert_eq!(is["boot"], was["boot"], "{child}: {after}");
        assert_eq!(is["id"], was["id"], "{child}: {after}");
    }
    assert!(state.runtime().shutdown(Duration::from_secs(5)).await);
}
