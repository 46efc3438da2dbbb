//! Load generator for `orca serve`: session starts/s and events/s through
//! `/scxml/session/{id}/event/{name}` with their latency percentiles, on
//! loopback.
//!
//! ```sh
//! cargo run --release -p server --example load -- [SESSIONS] [EVENTS] [CONCURRENCY]
//! ```
//!
//! It runs the server in-process on `127.0.0.1:0` (with its own worker
//! threads, one per core), starts SESSIONS sessions of a small chart, then
//! sends EVENTS events spread over them from CONCURRENCY keep-alive
//! connections at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

const CHART: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="on">
  <datamodel><data id="count" expr="0"/><data id="last"/></datamodel>
  <state id="on">
    <transition event="ping" target="on">
      <assign location="count" expr="count + 1"/>
      <assign location="last" expr="_event.data.n"/>
    </transition>
  </state>
</scxml>"#;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let sessions = args.next().and_then(Result::ok).unwrap_or(1000);
    let events = args.next().and_then(Result::ok).unwrap_or(200_000);
    let concurrency = args.next().and_then(Result::ok).unwrap_or(64);

    let dir = std::env::temp_dir().join(format!("orca-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let chart = dir.join("ping.scxml");
    std::fs::write(&chart, CHART).expect("chart");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let config = server::Config {
        data_dir: dir.join("data"),
        limits: server::Limits {
            max_sessions: sessions + 10,
            ..server::Limits::default()
        },
        ..server::Config::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();

    // Session starts.
    let src = format!("src={}", chart.display());
    let started = Instant::now();
    let ids = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(sessions)));
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(sessions) {
        let (client, base, src, ids, next) = (
            client.clone(),
            base.clone(),
            src.clone(),
            Arc::clone(&ids),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < sessions {
                let t = Instant::now();
                let body = post(&client, format!("{base}/scxml/session/start"), src.clone()).await;
                latencies.push(t.elapsed());
                let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
                let id = value["sessionid"].as_str().expect("sessionid").to_owned();
                ids.lock().await.push(id);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    report(
        "session starts",
        sessions,
        started.elapsed(),
        &mut latencies,
    );

    // Events.
    let ids = Arc::new(std::mem::take(&mut *ids.lock().await));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, ids, next) = (
            client.clone(),
            base.clone(),
            Arc::clone(&ids),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= events {
                    break;
                }
                let id = &ids[n % ids.len()];
                let t = Instant::now();
                post(
                    &client,
                    format!("{base}/scxml/session/{id}/event/ping"),
                    format!("n={n}"),
                )
                .await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    report("events", events, started.elapsed(), &mut latencies);

    let _ = stop.send(());
    let _ = running.await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// POSTs a form; panics on anything but 200 (a benchmark that hides errors
/// measures nothing).
async fn post(client: &HttpClient, uri: String, body: String) -> Bytes {
    let request = Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(status.is_success(), "{status}: {body:?}");
    body
}

fn report(what: &str, count: usize, elapsed: Duration, latencies: &mut [Duration]) {
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).copied().unwrap_or_default()
    };
    println!(
        "{what}: {count} in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}
