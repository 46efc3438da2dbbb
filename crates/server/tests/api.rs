//! The HTTP API: every endpoint and error through `app()` with `oneshot`
//! (no socket), and the whole server end to end on `127.0.0.1:0`.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::{app, AppState, Config};
use tower::ServiceExt;

/// A call chart: `idle` --ring--> `talking` --hangup--> final `done`.
const CHART: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="idle">
  <datamodel>
    <data id="customer" expr="'nobody'"/>
    <data id="rings" expr="0"/>
    <data id="last"/>
  </datamodel>
  <state id="idle">
    <transition event="ring" target="talking">
      <assign location="rings" expr="rings + 1"/>
      <assign location="last" expr="_event.data"/>
    </transition>
  </state>
  <state id="talking">
    <onexit><log label="bye" expr="customer"/></onexit>
    <transition event="hangup" target="done"/>
  </state>
  <final id="done"/>
</scxml>"#;

/// A directory with the chart, removed when dropped.
struct Charts {
    dir: PathBuf,
}

impl Charts {
    fn new(name: &str) -> Charts {
        let dir = std::env::temp_dir().join(format!("orca-api-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("call.scxml"), CHART).unwrap();
        std::fs::write(dir.join("broken.scxml"), "<scxml").unwrap();
        Charts { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }
}

impl Drop for Charts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn test_config() -> Config {
    Config {
        workers: 2,
        journal: false,
        ..Config::default()
    }
}

fn router(config: Config) -> Router {
    app(AppState::new(config).unwrap())
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

fn form(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn json_post(uri: &str, body: Value) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str) -> Request<Body> {
    Request::post(uri).body(Body::empty()).unwrap()
}

async fn start(app: &Router, charts: &Charts) -> String {
    let answer = call(
        app,
        form(
            "/scxml/session/start",
            &format!("src={}&customer=Ada", charts.path("call.scxml")),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["sessionid"].as_str().unwrap().to_owned()
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.body["error"], code, "{}", answer.text);
    assert!(answer.body["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn start_event_query_and_end_of_a_session() {
    let charts = Charts::new("life");
    let app = router(test_config());
    let id = start(&app, &charts).await;

    let query = call(&app, get(&format!("/scxml/session/{id}/query"))).await;
    assert_eq!(
        query.body,
        json!({"sessionid": id, "states": ["idle"], "data": {"customer": "Ada", "rings": 0, "last": null}})
    );

    let event = call(
        &app,
        json_post(
            &format!("/scxml/session/{id}/event/ring?line=7"),
            json!({"from": "+3312345", "vip": true}),
        ),
    )
    .await;
    assert_eq!(event.status, StatusCode::OK, "{}", event.text);
    assert_eq!(event.body, json!({"sessionid": id, "event": "ring"}));

    let query = call(&app, post(&format!("/scxml/session/{id}/query"))).await;
    assert_eq!(query.body["states"], json!(["talking"]));
    assert_eq!(query.body["data"]["rings"], 1);
    assert_eq!(
        query.body["data"]["last"],
        json!({"line": "7", "from": "+3312345", "vip": true})
    );

    let listed = call(
        &app,
        get("/sessions?status=running&state=talking&document=call"),
    )
    .await;
    assert_eq!(listed.body["sessions"][0]["sessionid"], id.as_str());
    let none = call(&app, get("/sessions?state=idle")).await;
    assert_eq!(none.body, json!({"sessions": []}));

    let hangup = call(&app, post(&format!("/scxml/session/{id}/event/hangup"))).await;
    assert_eq!(hangup.status, StatusCode::OK);
    let info = call(&app, get(&format!("/sessions/{id}"))).await;
    assert_eq!(info.body["status"], "ended");
    assert_eq!(info.body["states"], json!(["done"]));
    assert_eq!(info.body["outcome"], "done in done");

    let late = call(&app, post(&format!("/scxml/session/{id}/event/ring"))).await;
    assert_error(&late, StatusCode::GONE, "session_ended");
    let query = call(&app, get(&format!("/scxml/session/{id}/query"))).await;
    assert_error(&query, StatusCode::GONE, "session_ended");

    let metrics = call(&app, get("/metrics")).await;
    assert!(
        metrics.text.contains("orca_sessions_started_total 1"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("orca_sessions_ended_total 1"));
    assert!(metrics.text.contains("orca_events_in_total 2"));
    assert!(metrics.text.contains("orca_sessions_active 0"));
    assert!(metrics.text.contains("orca_macrostep_seconds_count 2"));
    assert!(metrics
        .text
        .contains("orca_worker_queue_depth{worker=\"0\"} 0"));
}

#[tokio::test]
async fn start_takes_json_and_refuses_bad_input() {
    let charts = Charts::new("start");
    let app = router(test_config());
    let started = call(
        &app,
        json_post(
            "/scxml/session/start",
            json!({"src": format!("file://{}", charts.path("call.scxml")), "customer": {"name": "Bo"}}),
        ),
    )
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let id = started.body["sessionid"].as_str().unwrap();
    let query = call(&app, get(&format!("/scxml/session/{id}/query"))).await;
    assert_eq!(query.body["data"]["customer"], json!({"name": "Bo"}));

    let missing = call(&app, form("/scxml/session/start", "customer=Ada")).await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "missing_parameter");
    assert!(missing.body["message"].as_str().unwrap().contains("src"));
    let remote = call(
        &app,
        form("/scxml/session/start", "src=ftp://127.0.0.1/a.scxml"),
    )
    .await;
    assert_error(&remote, StatusCode::BAD_REQUEST, "unsupported_src");
    let absent = call(
        &app,
        form("/scxml/session/start", "src=/no/such/chart.scxml"),
    )
    .await;
    assert_error(
        &absent,
        StatusCode::UNPROCESSABLE_ENTITY,
        "document_unreadable",
    );
    let broken = call(
        &app,
        form(
            "/scxml/session/start",
            &format!("src={}", charts.path("broken.scxml")),
        ),
    )
    .await;
    assert_error(
        &broken,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_document",
    );
    let bad_json = call(&app, json_post("/scxml/session/start", json!(["src"]))).await;
    assert_error(&bad_json, StatusCode::BAD_REQUEST, "invalid_body");
    let bad_time = call(
        &app,
        form(
            "/scxml/session/start",
            &format!("src={}&idealtime=tomorrow", charts.path("call.scxml")),
        ),
    )
    .await;
    assert_error(&bad_time, StatusCode::BAD_REQUEST, "invalid_parameter");
}

#[tokio::test]
async fn unknown_sessions_and_bad_names_are_client_errors() {
    let app = router(test_config());
    for request in [
        post("/scxml/session/nosuch/event/ring"),
        get("/scxml/session/nosuch/query"),
        post("/scxml/session/nosuch/terminate"),
        post("/scxml/session/nosuch/request/context"),
        get("/sessions/nosuch"),
    ] {
        let answer = call(&app, request).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "session_not_found");
    }
    let charts = Charts::new("names");
    let id = start(&app, &charts).await;
    let answer = call(&app, post(&format!("/scxml/session/{id}/event/a..b"))).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_parameter");
    let answer = call(&app, get("/sessions?status=sleeping")).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_parameter");
}

#[tokio::test]
async fn terminate_runs_onexit_and_ends_the_session() {
    let charts = Charts::new("terminate");
    let app = router(test_config());
    let id = start(&app, &charts).await;
    call(&app, post(&format!("/scxml/session/{id}/event/ring"))).await;
    let answer = call(&app, post(&format!("/scxml/session/{id}/terminate"))).await;
    assert_eq!(answer.body, json!({"sessionid": id}));
    let info = call(&app, get(&format!("/sessions/{id}"))).await;
    assert_eq!(info.body["status"], "ended");
    assert_eq!(info.body["outcome"], "terminated");
    let again = call(&app, post(&format!("/scxml/session/{id}/terminate"))).await;
    assert_error(&again, StatusCode::GONE, "session_ended");
}

#[tokio::test]
async fn a_request_the_session_does_not_answer_times_out() {
    let charts = Charts::new("request");
    let mut config = test_config();
    config.limits.request_timeout_ms = 50;
    let app = router(config);
    let id = start(&app, &charts).await;
    // The call chart has no `<ws:response>`: the request waits out its limit.
    let answer = call(&app, post(&format!("/scxml/session/{id}/request/ring"))).await;
    assert_error(&answer, StatusCode::GATEWAY_TIMEOUT, "request_timeout");
    // The event is delivered all the same (on a loaded machine perhaps only
    // after the time ran out).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut query = call(&app, get(&format!("/scxml/session/{id}/query"))).await;
    while query.body["states"] != json!(["talking"]) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        query = call(&app, get(&format!("/scxml/session/{id}/query"))).await;
    }
    assert_eq!(query.body["states"], json!(["talking"]));
    let bad = call(&app, post(&format!("/scxml/session/{id}/request/a..b"))).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_parameter");
}

#[tokio::test]
async fn idealtime_schedules_the_start() {
    let charts = Charts::new("schedule");
    let app = router(test_config());
    let chart = charts.path("call.scxml");
    let later = call(
        &app,
        form(
            "/scxml/session/start",
            &format!("src={chart}&idealtime=99999999999999"),
        ),
    )
    .await;
    let id = later.body["sessionid"].as_str().unwrap().to_owned();
    let info = call(&app, get(&format!("/sessions/{id}"))).await;
    assert_eq!(info.body["status"], "scheduled");
    let event = call(&app, post(&format!("/scxml/session/{id}/event/ring"))).await;
    assert_eq!(event.status, StatusCode::OK);
    let query = call(&app, get(&format!("/scxml/session/{id}/query"))).await;
    assert_eq!(
        query.body,
        json!({"sessionid": id, "states": [], "data": null})
    );
    let listed = call(&app, get("/sessions?status=scheduled")).await;
    assert_eq!(listed.body["sessions"].as_array().map(Vec::len), Some(1));
    call(&app, post(&format!("/scxml/session/{id}/terminate"))).await;
    let info = call(&app, get(&format!("/sessions/{id}"))).await;
    assert_eq!(info.body["status"], "ended");

    // A time already past starts at once.
    let past = call(
        &app,
        form(
            "/scxml/session/start",
            &format!("src={chart}&idealtime=1000"),
        ),
    )
    .await;
    let id = past.body["sessionid"].as_str().unwrap().to_owned();
    let info = call(&app, get(&format!("/sessions/{id}"))).await;
    assert_eq!(info.body["status"], "running");
}

#[tokio::test]
async fn limits_answer_503_with_retry_after_or_413() {
    let charts = Charts::new("limits");
    let mut config = test_config();
    config.limits.mailbox_depth = 0;
    config.limits.max_sessions = 1;
    config.limits.max_body_bytes = 200;
    let app = router(config);
    let id = start(&app, &charts).await;
    let full = call(&app, post(&format!("/scxml/session/{id}/event/ring"))).await;
    assert_error(&full, StatusCode::SERVICE_UNAVAILABLE, "mailbox_full");
    assert_eq!(full.headers[header::RETRY_AFTER], "1");
    let second = call(
        &app,
        form(
            "/scxml/session/start",
            &format!("src={}", charts.path("call.scxml")),
        ),
    )
    .await;
    assert_error(&second, StatusCode::SERVICE_UNAVAILABLE, "session_limit");
    assert_eq!(second.headers[header::RETRY_AFTER], "1");
    let big = call(
        &app,
        form(
            &format!("/scxml/session/{id}/event/ring"),
            &"x=1&".repeat(100),
        ),
    )
    .await;
    assert_error(&big, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}

#[tokio::test]
async fn bearer_token_guards_every_route() {
    let mut config = test_config();
    config.auth_token = Some("s3cret".to_owned());
    let app = router(config);
    for uri in ["/health", "/sessions", "/metrics", "/openapi.json"] {
        let answer = call(&app, get(uri)).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
    }
    let wrong = Request::get("/health")
        .header(header::AUTHORIZATION, "Bearer guess")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, wrong).await.status, StatusCode::UNAUTHORIZED);
    let right = Request::get("/health")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, right).await.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn health_ready_and_openapi_describe_the_server() {
    let state = AppState::new(test_config()).unwrap();
    let app = app(state.clone());
    assert_eq!(
        call(&app, get("/health")).await.body,
        json!({"status": "ok"})
    );
    assert_eq!(
        call(&app, get("/ready")).await.body,
        json!({"status": "ready"})
    );
    let openapi = call(&app, get("/openapi.json")).await;
    assert_eq!(openapi.body["openapi"], "3.1.0");
    for path in [
        "/scxml/session/start",
        "/scxml/session/{id}/event/{name}",
        "/scxml/session/{id}/request/{name}",
        "/scxml/session/{id}/query",
        "/scxml/session/{id}/terminate",
        "/basichttp/{session}",
        "/sessions",
        "/sessions/{id}",
        "/sessions/{id}/trace",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(
            openapi.body["paths"][path].is_object(),
            "{path} undocumented"
        );
    }
    state.runtime().stop_accepting();
    let ready = call(&app, get("/ready")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let charts = Charts::new("ready");
    let refused = call(
        &app,
        form(
            "/scxml/session/start",
            &format!("src={}", charts.path("call.scxml")),
        ),
    )
    .await;
    assert_error(&refused, StatusCode::SERVICE_UNAVAILABLE, "shutting_down");
}

mod end_to_end {
    //! The real server on `127.0.0.1:0`, driven over TCP.

    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    use super::*;

    type HttpClient =
        Client<hyper_util::client::legacy::connect::HttpConnector, Full<axum::body::Bytes>>;

    async fn send(
        client: &HttpClient,
        request: Request<Full<axum::body::Bytes>>,
    ) -> (StatusCode, Value) {
        let response = client.request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn request(
        method: &str,
        uri: String,
        content_type: &str,
        body: String,
    ) -> Request<Full<axum::body::Bytes>> {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(body.into()))
            .unwrap()
    }

    #[tokio::test]
    async fn a_session_lives_over_http_and_the_server_drains_on_shutdown() {
        let charts = Charts::new("e2e");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = test_config();
        config.data_dir = charts.dir.join("data");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(server::run(listener, config, async {
            let _ = stopped.await;
        }));
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let form_type = "application/x-www-form-urlencoded";

        let (status, body) = send(
            &client,
            request(
                "POST",
                format!("{base}/scxml/session/start"),
                form_type,
                format!("src={}&customer=Ada", charts.path("call.scxml")),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let id = body["sessionid"].as_str().unwrap().to_owned();

        let (status, _) = send(
            &client,
            request(
                "POST",
                format!("{base}/scxml/session/{id}/event/ring"),
                form_type,
                "line=7".to_owned(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (_, query) = send(
            &client,
            request(
                "GET",
                format!("{base}/scxml/session/{id}/query"),
                form_type,
                String::new(),
            ),
        )
        .await;
        assert_eq!(query["states"], json!(["talking"]));
        assert_eq!(query["data"]["customer"], "Ada");
        assert_eq!(query["data"]["last"], json!({"line": "7"}));

        let (status, _) = send(
            &client,
            request(
                "POST",
                format!("{base}/scxml/session/{id}/terminate"),
                form_type,
                String::new(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (_, info) = send(
            &client,
            request(
                "GET",
                format!("{base}/sessions/{id}"),
                form_type,
                String::new(),
            ),
        )
        .await;
        assert_eq!(info["status"], "ended");

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert!(charts.dir.join("data").is_dir());
    }
}
