//! The W3C SCXML 1.0 IRP tests (ECMAScript data model) through a real
//! server on `127.0.0.1:0`: each document is started with
//! `POST /scxml/session/start`, and passes when the session ends in its
//! top-level final state `pass` (`GET /sessions/{id}`). The Basic HTTP tests
//! send to and receive at the access URIs the server advertises, on its own
//! listener. Rows of `shared/conformance/w3c-ecma/MANIFEST.tsv` that need a
//! person are left out; 301 must be refused at start and 415 must end at
//! once, as in the runner's harness (`crates/runner/tests/w3c.rs`).
//!
//! Unlike the runner's harness the server runs on the real clock, so the
//! tests' delays really pass; the documents run concurrently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use server::Config;

/// The corpus, relative to this crate; the files stay there.
const CORPUS: &str = "../../../shared/conformance/w3c-ecma";

/// How long one document may run (its own time-outs are a few seconds).
const TIME_LIMIT: Duration = Duration::from_secs(30);

/// One row of MANIFEST.tsv.
#[derive(Clone, Debug)]
struct Row {
    id: String,
    file: String,
    needs: Vec<String>,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS)
}

fn rows() -> Vec<Row> {
    let manifest = corpus().join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("the W3C corpus is missing: {}: {e}", manifest.display()));
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert!(fields.len() >= 5, "bad manifest line {line:?}");
            Row {
                id: fields[0].to_owned(),
                file: fields[1].to_owned(),
                needs: fields[3].split(',').map(str::to_owned).collect(),
            }
        })
        .collect()
}

/// The rows run automatically (no `manual` need, as the runner's harness
/// has it: 301 and 415 are judged by their own rule).
fn automatic(row: &Row) -> bool {
    !row.needs.iter().any(|n| n == "manual") || matches!(row.id.as_str(), "301" | "415")
}

/// A server on `127.0.0.1:0` for the length of a test.
struct Server {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::ServerError>>>,
    dir: PathBuf,
}

impl Server {
    async fn start(name: &str) -> Server {
        let dir =
            std::env::temp_dir().join(format!("orca-w3c-server-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = Config {
            workers: 2,
            data_dir: dir.clone(),
            ..Config::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, config, async {
            let _ = stopped.await;
        }));
        Server {
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            dir,
        }
    }

    /// Runs the rows concurrently; the failures by test id.
    async fn run_all(&self, rows: Vec<Row>) -> BTreeMap<String, String> {
        let mut runs = tokio::task::JoinSet::new();
        for row in rows {
            let (client, base) = (self.client.clone(), self.base.clone());
            runs.spawn(async move {
                let outcome = run(&client, &base, &row).await;
                (row, outcome)
            });
        }
        let mut failures = BTreeMap::new();
        while let Some(joined) = runs.join_next().await {
            let (row, outcome) = joined.unwrap();
            if let Err(why) = outcome {
                failures.insert(format!("{} ({})", row.id, row.file), why);
            }
        }
        failures
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs one document on the server at `base`; `Err` says why it did not
/// pass.
async fn run(client: &reqwest::Client, base: &str, row: &Row) -> Result<(), String> {
    let path = corpus().join(&row.file);
    let started = client
        .post(format!("{base}/scxml/session/start"))
        .form(&[("src", path.display().to_string())])
        .send()
        .await
        .map_err(|e| format!("start: {e}"))?;
    let status = started.status();
    let text = started.text().await.map_err(|e| format!("start: {e}"))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if row.id == "301" {
        return match status.as_u16() {
            422 => Ok(()),
            other => Err(format!(
                "the document was accepted ({other}): it must be rejected"
            )),
        };
    }
    let Some(id) = body["sessionid"].as_str() else {
        return Err(format!("start answered {status}: {body}"));
    };
    let deadline = Instant::now() + TIME_LIMIT;
    loop {
        let text = client
            .get(format!("{base}/sessions/{id}"))
            .send()
            .await
            .map_err(|e| format!("info: {e}"))?
            .text()
            .await
            .map_err(|e| format!("info: {e}"))?;
        let info: Value = serde_json::from_str(&text).map_err(|e| format!("info: {e}: {text}"))?;
        if info["status"] == "ended" {
            return match info["outcome"].as_str() {
                Some("done in pass") => Ok(()),
                Some(outcome) if row.id == "415" && outcome.starts_with("done in") => Ok(()),
                _ => Err(format!("ended: {info}")),
            };
        }
        if row.id == "415" {
            return Err(format!("still running after its start: {info}"));
        }
        if Instant::now() > deadline {
            return Err(format!("still running after {TIME_LIMIT:?}: {info}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_basic_http_tests_pass_through_the_server() {
    let rows: Vec<Row> = rows()
        .into_iter()
        .filter(|r| automatic(r) && r.needs.iter().any(|n| n == "basichttp"))
        .collect();
    assert_eq!(rows.len(), 12, "{rows:?}");
    let server = Server::start("basichttp").await;
    let failures = server.run_all(rows).await;
    server.stop().await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_automatic_test_passes_through_the_server() {
    let rows: Vec<Row> = rows().into_iter().filter(automatic).collect();
    let count = rows.len();
    let tests: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    // 191 automatic tests (193 documents: 403 has three), and 301 and 415.
    assert_eq!((tests.len(), count), (193, 195));
    let server = Server::start("all").await;
    let failures = server.run_all(rows).await;
    server.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {count} documents failed: {failures:#?}",
        failures.len()
    );
}
