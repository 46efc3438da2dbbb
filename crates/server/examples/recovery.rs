//! Time to recover N journaled idle sessions: starts N sessions of a small
//! chart (each with a delayed send pending and one event), stops the
//! runtime, then measures a fresh runtime on the same data directory until
//! every worker has replayed its sessions and answers.
//!
//! `cargo run --release -p server --example recovery -- 10000 [DIR]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request};
use http_body_util::BodyExt;
use server::{app, AppState, Config};
use tower::ServiceExt;

const CHART: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="idle">
  <datamodel><data id="count" expr="0"/><data id="r" expr="Math.random()"/></datamodel>
  <state id="idle">
    <onentry><send event="timeout" delay="3600s"/></onentry>
    <transition event="inc"><assign location="count" expr="count + 1"/></transition>
  </state>
</scxml>"#;

fn post(uri: String, body: String) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("orca-recovery-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let chart = dir.join("idle.scxml");
    std::fs::write(&chart, CHART).unwrap();
    let config = Config {
        data_dir: dir.join("data"),
        limits: server::Limits {
            max_sessions: n + 10,
            ..server::Limits::default()
        },
        ..Config::default()
    };

    let state = AppState::new(config.clone()).unwrap();
    let api = app(state.clone());
    let started = Instant::now();
    let src = Arc::new(format!("src={}", chart.display()));
    let mut tasks = Vec::new();
    for part in 0..64 {
        let api = api.clone();
        let src = Arc::clone(&src);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in (part..n).step_by(64) {
                let response = api
                    .clone()
                    .oneshot(post("/scxml/session/start".into(), src.to_string()))
                    .await
                    .unwrap();
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                let id = body["sessionid"].as_str().unwrap().to_owned();
                let response = api
                    .clone()
                    .oneshot(post(
                        format!("/scxml/session/{id}/event/inc"),
                        String::new(),
                    ))
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                ids.push(id);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    eprintln!(
        "{n} sessions started and given an event in {:.2?}",
        started.elapsed()
    );
    state.runtime().shutdown(Duration::from_secs(30)).await;
    drop(api);
    drop(state);
    let size = std::fs::metadata(dir.join("data/journal.db")).map_or(0, |m| m.len());

    let started = Instant::now();
    let state = AppState::new(config).unwrap();
    let api = app(state.clone());
    // A query is answered after the worker's recovery: one per worker (the
    // last two ids are on different workers) tells when all are done.
    for id in ids.iter().rev().take(2) {
        let request = Request::get(format!("/scxml/session/{id}/query"))
            .body(Body::empty())
            .unwrap();
        let response = api.clone().oneshot(request).await.unwrap();
        assert!(response.status().is_success(), "{id} not recovered");
    }
    let elapsed = started.elapsed();
    println!(
        "recovered {n} sessions in {elapsed:.2?} ({:.1} µs per session); journal {:.1} MiB",
        elapsed.as_secs_f64() * 1e6 / n as f64,
        size as f64 / 1048576.0
    );
    state.runtime().shutdown(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
