//! Documents fetched over HTTP: the caching rules of `HttpSource` and the
//! start request's errors, against a stub document server on `127.0.0.1:0`
//! that counts the requests it gets.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use server::{app, AppState, Config, DocumentSource, DocumentSourceError, UrlSource};
use tower::ServiceExt;

const CHART: &str =
    r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"><state id="s"/></scxml>"#;

/// A Composer-like application: a script from a sibling folder, a workflow
/// included with a resolve id, and `<data src>` relative to the document.
const APP: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude" version="1.0" initial="leg">
  <datamodel><data id="config" src="config.json"/></datamodel>
  <script><xi:include href="../include/common.js" parse="text"/></script>
  <state id="leg"><xi:include href="default.scxml" parse="xml" resolveid="wf" xpointer="_composer_entry"/></state>
</scxml>"#;

const WORKFLOW: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0">
  <state id="_composer_entry" initial="$$_MY_PREFIX_$$.Entry"><state id="$$_MY_PREFIX_$$.Entry"/></state>
</scxml>"#;

/// `_my_prefix` is the resolve id inside the included workflow.
const PREFIX_APP: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude" version="1.0">
  <state id="leg"><xi:include href="prefix-wf.scxml" resolveid="wf7"/></state>
</scxml>"#;

const PREFIX_WF: &str = r#"<state xmlns="http://www.w3.org/2005/07/scxml" id="$$_MY_PREFIX_$$.main" initial="$$_MY_PREFIX_$$.check">
  <state id="$$_MY_PREFIX_$$.check">
    <transition cond="_my_prefix === 'wf7'" target="$$_MY_PREFIX_$$.right"/>
    <transition target="$$_MY_PREFIX_$$.wrong"/>
  </state>
  <state id="$$_MY_PREFIX_$$.right"/>
  <state id="$$_MY_PREFIX_$$.wrong"/>
</state>"#;

/// Invokes a child by a relative `src`: it must come from the same server.
const INVOKER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="waiting">
  <state id="waiting">
    <invoke src="children/child.scxml"/>
    <transition event="ready" target="invoked"/>
  </state>
  <state id="invoked"/>
</scxml>"#;

const CHILD: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="c">
  <state id="c"><onentry><send target="#_parent" event="ready"/></onentry></state>
</scxml>"##;

/// Requests the stub got: path and `If-None-Match`.
type Log = Arc<Mutex<Vec<(String, Option<String>)>>>;

async fn stub(State(log): State<Log>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    log.lock()
        .unwrap()
        .push((path.clone(), if_none_match.clone()));
    let ok = |cache: &'static str, body: &'static str| {
        (
            [(header::CACHE_CONTROL, HeaderValue::from_static(cache))],
            body,
        )
            .into_response()
    };
    match path.as_str() {
        "/max-age.scxml" => ok("max-age=3600", CHART),
        "/no-store.scxml" => ok("no-store", CHART),
        "/etag.scxml" if if_none_match.as_deref() == Some("\"v1\"") => {
            (StatusCode::NOT_MODIFIED, [(header::ETAG, "\"v1\"")]).into_response()
        }
        "/etag.scxml" => (
            [
                (header::CACHE_CONTROL, "no-cache"),
                (header::ETAG, "\"v1\""),
            ],
            CHART,
        )
            .into_response(),
        "/app/src/main.scxml" => ok("max-age=3600", APP),
        "/app/src/default.scxml" => ok("max-age=3600", WORKFLOW),
        "/app/src/config.json" => ok("max-age=3600", r#"{"queue": "sales"}"#),
        "/app/include/common.js" => ok("max-age=3600", "var common = 1;"),
        "/prefix.scxml" => ok("max-age=3600", PREFIX_APP),
        "/invoker.scxml" => ok("max-age=3600", INVOKER),
        "/children/child.scxml" => ok("max-age=3600", CHILD),
        "/prefix-wf.scxml" => ok("max-age=3600", PREFIX_WF),
        "/big.scxml" => ok(
            "no-store",
            Box::leak(format!("{CHART}{}", " ".repeat(4096)).into_boxed_str()),
        ),
        "/invalid.scxml" => ok("no-store", "<scxml"),
        "/fails.scxml" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The stub's base URL and its request log.
async fn serve_stub() -> (String, Log) {
    let log = Log::default();
    let router = Router::new().fallback(stub).with_state(Arc::clone(&log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{address}"), log)
}

fn requests(log: &Log, path: &str) -> Vec<Option<String>> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, inm)| inm.clone())
        .collect()
}

fn source(max_bytes: usize) -> Arc<UrlSource> {
    Arc::new(UrlSource::new(max_bytes, server::DEFAULT_FETCH_TIMEOUT).unwrap())
}

/// `load` on a blocking thread, as the start handler calls it.
async fn load(
    source: &Arc<UrlSource>,
    url: String,
) -> Result<Arc<scxml::Document>, DocumentSourceError> {
    let source = Arc::clone(source);
    tokio::task::spawn_blocking(move || source.load(&url))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_is_served_from_the_cache() {
    let (base, log) = serve_stub().await;
    let source = source(1 << 20);
    let url = format!("{base}/max-age.scxml");
    let a = load(&source, url.clone()).await.unwrap();
    let b = load(&source, url).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b), "one document shared by every start");
    assert_eq!(requests(&log, "/max-age.scxml").len(), 1);
    assert_eq!(source.http().requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_revalidate_and_304_keeps_the_document() {
    let (base, log) = serve_stub().await;
    let source = source(1 << 20);
    let url = format!("{base}/etag.scxml");
    let a = load(&source, url.clone()).await.unwrap();
    let b = load(&source, url.clone()).await.unwrap();
    let c = load(&source, url).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&b, &c));
    assert_eq!(
        requests(&log, "/etag.scxml"),
        [None, Some("\"v1\"".to_owned()), Some("\"v1\"".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_store_is_fetched_every_time() {
    let (base, log) = serve_stub().await;
    let source = source(1 << 20);
    let url = format!("{base}/no-store.scxml");
    let a = load(&source, url.clone()).await.unwrap();
    let b = load(&source, url).await.unwrap();
    assert!(!Arc::ptr_eq(&a, &b));
    assert_eq!(requests(&log, "/no-store.scxml"), [None, None]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_name_the_url_and_the_problem() {
    let (base, _log) = serve_stub().await;
    let source = source(1024);
    let url = format!("{base}/missing.scxml");
    match load(&source, url.clone()).await {
        Err(DocumentSourceError::Status {
            url: u,
            status: 404,
        }) => assert_eq!(u, url),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(matches!(
        load(&source, format!("{base}/fails.scxml")).await,
        Err(DocumentSourceError::Status { status: 500, .. })
    ));
    assert!(matches!(
        load(&source, format!("{base}/big.scxml")).await,
        Err(DocumentSourceError::TooLarge { limit: 1024 })
    ));
    assert!(matches!(
        load(&source, format!("{base}/invalid.scxml")).await,
        Err(DocumentSourceError::Invalid(_))
    ));
    // Nothing listens on the port of a closed listener.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    assert!(matches!(
        load(&source, format!("http://{address}/x.scxml")).await,
        Err(DocumentSourceError::Unreachable { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_resolve_against_the_document_url() {
    let (base, log) = serve_stub().await;
    let source = source(1 << 20);
    let document = load(&source, format!("{base}/app/src/main.scxml"))
        .await
        .unwrap();
    assert!(document.state_by_id("wf.Entry").is_some());
    assert!(document.code.iter().any(|c| c.text == "var common = 1;"));
    assert_eq!(document.source_name, format!("{base}/app/src/main.scxml"));
    for path in [
        "/app/src/default.scxml",
        "/app/src/config.json",
        "/app/include/common.js",
    ] {
        assert_eq!(requests(&log, path).len(), 1, "{path}");
    }
    // The whole prepared document is cached: nothing is fetched again.
    load(&source, format!("{base}/app/src/main.scxml"))
        .await
        .unwrap();
    assert_eq!(log.lock().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_requests_map_fetch_failures_to_json_errors() {
    let (base, log) = serve_stub().await;
    let config = Config {
        workers: 1,
        journal: false,
        ..Config::default()
    };
    let state = AppState::with_documents(config, source(1 << 20)).unwrap();
    let router = app(state);
    let start = |src: String| {
        Request::post("/scxml/session/start")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("src={src}")))
            .unwrap()
    };
    let call = |request: Request| {
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let missing = format!("{base}/missing.scxml");
    let (status, body) = call(start(missing.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "document_not_available");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&missing) && message.contains("404"),
        "{message}"
    );
    let (status, body) = call(start(format!("{base}/fails.scxml"))).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], "document_server_error");
    let (status, body) = call(start(format!("{base}/prefix.scxml"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["sessionid"].as_str().unwrap();
    let query = Request::get(format!("/scxml/session/{id}/query"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["states"], serde_json::json!(["wf7.right"]));

    // An invoked document named relative to an HTTP document is fetched
    // from the same server, never read from a local file.
    let (status, body) = call(start(format!("{base}/invoker.scxml"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["sessionid"].as_str().unwrap().to_owned();
    let mut states = Value::Null;
    for _ in 0..10_000 {
        let query = Request::get(format!("/scxml/session/{id}/query"))
            .body(Body::empty())
            .unwrap();
        let (status, body) = call(query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        states = body["states"].clone();
        if states == serde_json::json!(["invoked"]) {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(states, serde_json::json!(["invoked"]));
    assert_eq!(requests(&log, "/children/child.scxml").len(), 1);
}
