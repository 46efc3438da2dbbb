//! The Context Services benchmark: identify-by-phone look-ups per second
//! and state transitions per second, through HTTP with concurrent clients,
//! at a million profiles.
//!
//! ```sh
//! cargo run --release -p contextservices --example bench -- \
//!     [--database URL] [--pg-schema NAME] [--profiles 1000000] \
//!     [--concurrency 32] [--seconds 10] [--connections 16]
//! ```
//!
//! The database defaults to SQLite `/tmp/orca-cs-bench/services.db`. With
//! `--pg-schema`, the tables go into that PostgreSQL schema (created if
//! missing). Profiles are loaded once (`import_profiles`, 10,000 per
//! transaction) and kept for the next runs: each has a `Phone` extension
//! record with a unique number, indexed by a unique identification key.
//!
//! The server (the crate's router, without `orca serve`'s auth, tracing and
//! body-limit layers) and the clients run in this process on one tokio
//! runtime, so they share the machine's cores. Look-ups are
//! `GET /profiles?Phone.PhoneNumber=<random loaded number>&include_profile=no&include_extensions=unique`
//! (seed 003's options); transitions are seed 001's body (with its three
//! state extensions), each client walking its own service from state to
//! state. Output: one JSON line per figure.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Map, Value};
use store::sqlx::{self, Row};
use store::Store;

/// Profiles per bulk-load transaction.
const LOAD_BATCH: usize = 10_000;

struct Options {
    database: Option<String>,
    pg_schema: Option<String>,
    profiles: usize,
    concurrency: usize,
    seconds: u64,
    connections: u32,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        database: None,
        pg_schema: None,
        profiles: 1_000_000,
        concurrency: 32,
        seconds: 10,
        connections: 16,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: String| text.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--database" => options.database = Some(value()?),
            "--pg-schema" => options.pg_schema = Some(value()?),
            "--profiles" => options.profiles = number(value()?)? as usize,
            "--concurrency" => options.concurrency = number(value()?)?.max(1) as usize,
            "--seconds" => options.seconds = number(value()?)?.max(1),
            "--connections" => options.connections = number(value()?)?.max(1) as u32,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(options)
}

/// The phone number of profile `i`.
fn phone(i: usize) -> String {
    format!("+1555{i:07}")
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One request; the status and body.
async fn call(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<(u16, Bytes), String> {
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(Value::to_string).unwrap_or_default(),
        )))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, bytes))
}

async fn setup(client: &HttpClient, base: &str) -> Result<(), String> {
    let definitions = [
        (
            "/metadata/profiles/extensions",
            json!({"name": "Phone", "type": "multi-valued",
            "attributes": [{"name": "PhoneNumber", "type": "string", "length": 20, "mandatory": true},
                           {"name": "PhoneType", "type": "integer", "default": 0}],
            "unique": ["PhoneNumber"]}),
        ),
        (
            "/metadata/identification-keys",
            json!({"name": "idPhone", "source": "Phone", "attributes": ["PhoneNumber"], "unique": true}),
        ),
        (
            "/metadata/states/extensions",
            json!({"name": "Feedback", "type": "single-valued", "attributes": [
            {"name": "FeedbackType", "type": "string", "length": 10, "mandatory": true},
            {"name": "rating", "type": "integer", "mandatory": true},
            {"name": "notes", "type": "string", "length": 256}]}),
        ),
        (
            "/metadata/states/extensions",
            json!({"name": "Satisfaction", "type": "multi-valued", "attributes": [
            {"name": "rating", "type": "integer"}, {"name": "pertinence", "type": "integer"},
            {"name": "usefull", "type": "boolean"}, {"name": "place", "type": "string"}]}),
        ),
        (
            "/metadata/states/extensions",
            json!({"name": "Sponsoring", "type": "single-valued", "attributes": [
            {"name": "Rank", "type": "string"}, {"name": "expire", "type": "integer"}, {"name": "notes", "type": "string"}]}),
        ),
    ];
    for (path, body) in definitions {
        let (status, text) = call(client, "POST", &format!("{base}{path}"), Some(&body)).await?;
        // 403: created by an earlier run.
        if status != 201 && status != 403 {
            return Err(format!(
                "{path}: {status} {}",
                String::from_utf8_lossy(&text)
            ));
        }
    }
    Ok(())
}

async fn load(store: &Store, wanted: usize) -> Result<usize, String> {
    let have: i64 = sqlx::query("SELECT COUNT(*) FROM cs_profiles WHERE tenant = ''")
        .fetch_one(store.pool())
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| e.to_string())?;
    let mut next = usize::try_from(have).unwrap_or(0);
    if next >= wanted {
        return Ok(next);
    }
    let started = Instant::now();
    let from = next;
    while next < wanted {
        let end = (next + LOAD_BATCH).min(wanted);
        let batch: Vec<Map<String, Value>> = (next..end)
            .map(|i| {
                let profile = json!({
                    "customer_id": format!("c{i:08}"),
                    "FirstName": "Ada",
                    "LastName": format!("Customer{i}"),
                    "Phone": [{"PhoneNumber": phone(i), "PhoneType": 1}]
                });
                match profile {
                    Value::Object(map) => map,
                    _ => Map::new(),
                }
            })
            .collect();
        contextservices::import_profiles(store, "", batch)
            .await
            .map_err(|e| e.to_string())?;
        next = end;
        if next % 100_000 == 0 {
            eprintln!("loaded {next} profiles");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"figure": "load", "profiles": next - from, "seconds": round(seconds), "profiles_per_second": round((next - from) as f64 / seconds)})
    );
    Ok(next)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Runs `workers` loops of `work` for the warm-up then the measured time;
/// operations per second over the measured time.
async fn measure<F, Fut>(workers: usize, seconds: u64, work: F) -> Result<f64, String>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let work = Arc::new(work);
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (work, counting, stop, done) = (
            Arc::clone(&work),
            Arc::clone(&counting),
            Arc::clone(&stop),
            Arc::clone(&done),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                work(worker, n).await?;
                n += 1;
                if counting.load(Ordering::Relaxed) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<(), String>(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let count = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(count as f64 / elapsed)
}

async fn bench(options: Options) -> Result<(), String> {
    let url = match (&options.database, &options.pg_schema) {
        (Some(url), Some(schema)) => {
            let admin = Store::open(url, 1).await.map_err(|e| e.to_string())?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(admin.pool())
            .await
            .map_err(|e| e.to_string())?;
            admin.close().await;
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}options=-c%20search_path%3D{schema}")
        }
        (Some(url), None) => url.clone(),
        (None, _) => {
            let dir = std::env::temp_dir().join("orca-cs-bench");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            format!("sqlite://{}", dir.join(store::SQLITE_FILE).display())
        }
    };
    let store = Store::open(&url, options.connections)
        .await
        .map_err(|e| e.to_string())?;
    store
        .migrate(&contextservices::SCHEMA)
        .await
        .map_err(|e| e.to_string())?;
    let backend = format!("{:?}", store.backend()).to_lowercase();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let app = contextservices::router(store.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let base = Arc::new(format!("http://{address}"));
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(options.concurrency)
        .build_http();

    setup(&client, &base).await?;
    let profiles = load(&store, options.profiles).await?;

    // Look-ups: random loaded numbers (a xorshift per worker).
    let lookups = {
        let (client, base) = (client.clone(), Arc::clone(&base));
        measure(options.concurrency, options.seconds, move |worker, n| {
            let (client, base) = (client.clone(), Arc::clone(&base));
            async move {
                let mut x = (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                x ^= x >> 31;
                x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
                x ^= x >> 29;
                let i = (x % profiles as u64) as usize;
                let url = format!(
                    "{base}/profiles?Phone.PhoneNumber={}&include_profile=no&include_extensions=unique",
                    phone(i).replace('+', "%2B")
                );
                let (status, body) = call(&client, "GET", &url, None).await?;
                let expected = format!("\"c{i:08}\"");
                if status != 200 || !String::from_utf8_lossy(&body).contains(&expected) {
                    return Err(format!("look-up of {}: {status} {}", phone(i), String::from_utf8_lossy(&body)));
                }
                Ok(())
            }
        })
        .await?
    };
    println!(
        "{}",
        json!({"figure": "identify_by_phone", "backend": backend, "profiles": profiles, "concurrency": options.concurrency, "per_second": lookups.round()})
    );

    // Transitions: one service per worker, each walking from state to state.
    let mut states = Vec::new();
    for worker in 0..options.concurrency {
        let start =
            json!({"customer_id": format!("c{:08}", worker % profiles.max(1)), "service_type": 1});
        let (status, body) = call(
            &client,
            "POST",
            &format!("{base}/services/start"),
            Some(&start),
        )
        .await?;
        let service: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let service_id = service["service_id"]
            .as_i64()
            .ok_or(format!("start service: {status}"))?;
        let (_, body) = call(
            &client,
            "POST",
            &format!("{base}/services/{service_id}/states/start"),
            Some(&json!({"state_type": 1})),
        )
        .await?;
        let state: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let state_id = state["state_id"].as_i64().ok_or("start state")?;
        states.push(Arc::new(tokio::sync::Mutex::new((service_id, state_id))));
    }
    let states = Arc::new(states);
    let transitions = {
        let (client, base) = (client.clone(), Arc::clone(&base));
        measure(options.concurrency, options.seconds, move |worker, _| {
            let (client, base, states) = (client.clone(), Arc::clone(&base), Arc::clone(&states));
            async move {
                let mut current = states[worker].lock().await;
                let (service_id, state_id) = *current;
                // Seed 001's first example, from this worker's current state.
                let body = json!({ "timestamp": "2009-05-07T12:05:20.157", "session_id": "11000ABC-80236C1A-1010", "interaction_id": "123ABC908ABFFD8080", "from": { "state_id": state_id, "disposition": 1, "disposition_desc": "SUCCESS", "Feedback": { "FeedbackType":"survey","rating":7, "notes":"warm welcome at frontdesk, thanks for the nice trip" }, "Satisfaction": [ { "rating":2, "pertinence":8, "usefull":true, "place":"Terranova mexico resort" }, { "rating":8, "pertinence":4, "usefull":false, "place":"Fancy resort Paris" } ] }, "to": { "state_type": 8, "est_duration": 500, "Sponsoring": { "Rank":"first","expire":7, "notes":"give customer free meal" } } });
                let (status, answer) = call(&client, "POST", &format!("{base}/services/{service_id}/states/transition"), Some(&body)).await?;
                if status != 201 {
                    return Err(format!("transition: {status} {}", String::from_utf8_lossy(&answer)));
                }
                let answer: Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
                current.1 = answer["state_id"].as_i64().ok_or("no state_id")?;
                Ok(())
            }
        })
        .await?
    };
    println!(
        "{}",
        json!({"figure": "state_transitions", "backend": backend, "concurrency": options.concurrency, "per_second": transitions.round()})
    );
    store.close().await;
    Ok(())
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(bench(options)) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
