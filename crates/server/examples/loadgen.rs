//! Load generator for a running `orca serve` (used by `bench/server.sh`):
//! keep-alive HTTP/1.1 connections on loopback, each sending its next
//! request when the answer to the last one came, one thread for all of
//! them. Prints one JSON line per measurement.
//!
//! ```sh
//! loadgen start  URL --src CHART --count N [--concurrency C] [--ids FILE]
//! loadgen events URL --ids FILE (--count N | --seconds S) [--concurrency C] [--name NAME]
//! loadgen ready  URL [--timeout S]
//! ```
//!
//! - `start` starts N sessions of CHART (a path the server can read),
//!   writes their ids to FILE, one per line, and reports starts/s with the
//!   latency of the start requests.
//! - `events` posts `/scxml/session/{id}/event/{name}` with a body `n=<i>`
//!   to the sessions of FILE in turn, N events or for S seconds, and
//!   reports events/s with the latency percentiles.
//! - `ready` polls `/ready` every 5 ms until it answers 200 and reports how
//!   long that took.
//!
//! Any answer but 2xx stops the run with an error: a benchmark that counts
//! refusals as answers measures nothing.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line: a command, the server's base URL, then `--key value`
/// options.
struct Args {
    command: String,
    host: String,
    options: Vec<(String, String)>,
}

impl Args {
    fn parse(args: Vec<String>) -> Result<Args, Error> {
        let mut args = args.into_iter();
        let usage = "usage: loadgen (start|events|ready) http://HOST:PORT [--option value]...";
        let command = args.next().ok_or(usage)?;
        let url = args.next().ok_or(usage)?;
        let host = url
            .strip_prefix("http://")
            .ok_or("the URL must be http://HOST:PORT")?
            .trim_end_matches('/')
            .to_owned();
        let mut options = Vec::new();
        while let Some(key) = args.next() {
            let key = key
                .strip_prefix("--")
                .ok_or_else(|| format!("expected an --option, not {key}"))?
                .to_owned();
            let value = args
                .next()
                .ok_or_else(|| format!("--{key} needs a value"))?;
            options.push((key, value));
        }
        Ok(Args {
            command,
            host,
            options,
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, key: &str) -> Result<Option<f64>, Error> {
        self.get(key)
            .map(|v| v.parse().map_err(|e| format!("--{key} {v}: {e}").into()))
            .transpose()
    }

    fn required(&self, key: &str) -> Result<&str, Error> {
        self.get(key)
            .ok_or_else(|| format!("{} needs --{key}", self.command).into())
    }
}

async fn run(args: Vec<String>) -> Result<(), Error> {
    let args = Args::parse(args)?;
    let concurrency = args.number("concurrency")?.unwrap_or(64.0).max(1.0) as usize;
    match args.command.as_str() {
        "start" => {
            let count = args.number("count")?.ok_or("start needs --count")? as usize;
            let body = Bytes::from(form(&[("src", args.required("src")?)]));
            let mut ids = Vec::with_capacity(count);
            let load = Load {
                host: args.host.clone(),
                concurrency,
                limit: Limit::Count(count),
            };
            let make: Make = Arc::new(move |_| ("/scxml/session/start".to_owned(), body.clone()));
            let (report, answers) = load.run(make, true).await?;
            for answer in &answers {
                let value: serde_json::Value = serde_json::from_slice(answer)?;
                let id = value["sessionid"]
                    .as_str()
                    .ok_or("a start answered no sessionid")?;
                ids.push(id.to_owned());
            }
            if let Some(path) = args.get("ids") {
                std::fs::write(path, ids.join("\n") + "\n")
                    .map_err(|e| format!("cannot write {path}: {e}"))?;
            }
            report.print("starts");
        }
        "events" => {
            let path = args.required("ids")?;
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let ids: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
            if ids.is_empty() {
                return Err(format!("no session ids in {path}").into());
            }
            let name = args.get("name").unwrap_or("ping");
            let limit = match (args.number("count")?, args.number("seconds")?) {
                (Some(count), _) => Limit::Count(count as usize),
                (None, Some(seconds)) => Limit::Time(Duration::from_secs_f64(seconds)),
                (None, None) => return Err("events needs --count or --seconds".into()),
            };
            let paths: Vec<String> = ids
                .iter()
                .map(|id| format!("/scxml/session/{id}/event/{name}"))
                .collect();
            let load = Load {
                host: args.host.clone(),
                concurrency,
                limit,
            };
            let make: Make = Arc::new(move |n| {
                let path = paths[n % paths.len()].clone();
                (path, Bytes::from(format!("n={n}")))
            });
            let (report, _) = load.run(make, false).await?;
            report.print("events");
        }
        "ready" => {
            let timeout = Duration::from_secs_f64(args.number("timeout")?.unwrap_or(300.0));
            let started = Instant::now();
            loop {
                let answered = match connect(&args.host).await {
                    Ok(mut sender) => {
                        request(&mut sender, &args.host, Method::GET, "/ready", Bytes::new())
                            .await
                            .is_ok()
                    }
                    Err(_) => false,
                };
                if answered {
                    break;
                }
                if started.elapsed() > timeout {
                    return Err(format!("not ready after {timeout:?}").into());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            println!(
                "{{\"what\":\"ready\",\"seconds\":{:.3}}}",
                started.elapsed().as_secs_f64()
            );
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}

/// How long a load runs.
#[derive(Clone, Copy)]
enum Limit {
    Count(usize),
    Time(Duration),
}

/// `concurrency` connections sending requests back to back.
struct Load {
    host: String,
    concurrency: usize,
    limit: Limit,
}

/// Builds request `n`: its path and body.
type Make = Arc<dyn Fn(usize) -> (String, Bytes) + Send + Sync>;

impl Load {
    /// Sends requests `make(n)` for n = 0, 1, 2... until the limit; answers
    /// the latencies and, if `keep`, the answers' bodies.
    async fn run(&self, make: Make, keep: bool) -> Result<(Report, Vec<Bytes>), Error> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::with_capacity(self.concurrency);
        for _ in 0..self.concurrency {
            senders.push(connect(&self.host).await?);
        }
        let started = Instant::now();
        let deadline = match self.limit {
            Limit::Time(duration) => Some(started + duration),
            Limit::Count(_) => None,
        };
        let count = match self.limit {
            Limit::Count(count) => count,
            Limit::Time(_) => usize::MAX,
        };
        let mut tasks = Vec::with_capacity(self.concurrency);
        for mut sender in senders {
            let (next, make, host) = (Arc::clone(&next), Arc::clone(&make), self.host.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut bodies = Vec::new();
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break;
                    }
                    let (path, body) = make(n);
                    let sent = Instant::now();
                    let answer = request(&mut sender, &host, Method::POST, &path, body).await?;
                    latencies.push(sent.elapsed());
                    if keep {
                        bodies.push(answer);
                    }
                }
                Ok::<_, Error>((latencies, bodies))
            }));
        }
        let mut latencies = Vec::new();
        let mut bodies = Vec::new();
        let mut failure = None;
        for task in tasks {
            match task.await {
                Ok(Ok((mut some, mut answers))) => {
                    latencies.append(&mut some);
                    bodies.append(&mut answers);
                }
                Ok(Err(e)) => failure = Some(e),
                Err(e) => failure = Some(e.into()),
            }
        }
        let elapsed = started.elapsed();
        match failure {
            Some(e) => Err(e),
            None => Ok((Report { elapsed, latencies }, bodies)),
        }
    }
}

struct Report {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Report {
    fn print(mut self, what: &str) {
        self.latencies.sort();
        let count = self.latencies.len();
        let at = |q: f64| {
            let i = ((count as f64 * q) as usize).min(count.saturating_sub(1));
            self.latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let seconds = self.elapsed.as_secs_f64();
        println!(
            "{{\"what\":\"{what}\",\"count\":{count},\"seconds\":{seconds:.3},\"per_second\":{:.0},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
            count as f64 / seconds,
            at(0.50),
            at(0.99),
            at(1.0),
        );
    }
}

/// A keep-alive HTTP/1.1 connection to `host`.
async fn connect(host: &str) -> Result<SendRequest<Full<Bytes>>, Error> {
    let stream = TcpStream::connect(host)
        .await
        .map_err(|e| format!("cannot connect to {host}: {e}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One request; the body of a 2xx answer, an error for anything else.
async fn request(
    sender: &mut SendRequest<Full<Bytes>>,
    host: &str,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<Bytes, Error> {
    sender.ready().await?;
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != StatusCode::OK && !status.is_success() {
        return Err(format!("{path}: {status}: {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(body)
}

/// A form body from pairs (values percent-encoded).
fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}
