//! Measures the journal: payload codecs, single-writer latency, group-commit
//! throughput under concurrent writers, and the recovery scan.
//!
//! ```text
//! cargo run --release -p journal --example journal_bench -- \
//!     [--dir DIR] [--seconds S] [--recover-sessions N] [--inline-checkpoint]
//! ```
//!
//! Numbers go to stdout as plain text; `docs/design/journal.md` records them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use journal::bench_support::{decode, encode};
use journal::{
    Config, ContentHash, DocumentRef, Entry, EventKindRecord, EventRecord, Journal, Record, Start,
    Value,
};
use scxml::Timestamp;

struct Args {
    dir: PathBuf,
    seconds: f64,
    recover_sessions: usize,
    inline_checkpoint: bool,
}

fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.dir).expect("create the bench directory");
    println!("journal bench in {}", args.dir.display());
    codecs();
    let path = args.dir.join("bench.db");
    single_writer(&args, &path);
    for threads in [8, 64, 256] {
        concurrent(&args, &path, threads);
    }
    recovery(&args, &path);
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: std::env::temp_dir().join(format!("journal-bench-{}", std::process::id())),
        seconds: 3.0,
        recover_sessions: 100_000,
        inline_checkpoint: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--dir" => args.dir = it.next().expect("--dir DIR").into(),
            "--seconds" => {
                args.seconds = it.next().and_then(|s| s.parse().ok()).expect("--seconds S")
            }
            "--recover-sessions" => {
                args.recover_sessions = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--recover-sessions N")
            }
            "--inline-checkpoint" => args.inline_checkpoint = true,
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// A typical ORS event: `interaction.added` with a dozen attributes.
fn ors_event(seq: u64) -> Entry {
    let attr = |k: &str, v: Value| (k.to_owned(), v);
    Entry::Event {
        event: EventRecord {
            name: "interaction.added".into(),
            kind: EventKindRecord::External,
            sendid: None,
            origin: None,
            origintype: None,
            invokeid: None,
            raw: None,
            data: Value::Object(vec![
                attr("interactionid", Value::String(format!("01ABCDEF{seq:08}"))),
                attr("type", Value::String("voice".into())),
                attr("ani", Value::String("+33123456789".into())),
                attr("dnis", Value::String("5000".into())),
                attr("routingpoint", Value::String("5000".into())),
                attr("connid", Value::String("006c02a1b3c4d5e6".into())),
                attr("priority", Value::Number(3.0)),
                attr("waittime", Value::Number(12.5)),
                attr(
                    "udata",
                    Value::Object(vec![
                        attr("segment", Value::String("gold".into())),
                        attr("language", Value::String("fr".into())),
                        attr("customer", Value::Number(421337.0)),
                    ]),
                ),
                attr("retry", Value::Bool(false)),
            ]),
        },
        at: Timestamp::from_millis(1_700_000_000_000 + seq),
    }
}

/// Size and speed of the stored payload against JSON of the same types.
fn codecs() {
    let entry = ors_event(1);
    let n = 200_000;
    let binary = encode(&entry).expect("encode");
    let json = serde_json::to_vec(&entry).expect("json");
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(encode(std::hint::black_box(&entry)).expect("encode"));
    }
    let enc_bin = t.elapsed() / n;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(decode::<Entry>(std::hint::black_box(&binary)).expect("decode"));
    }
    let dec_bin = t.elapsed() / n;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(serde_json::to_vec(std::hint::black_box(&entry)).expect("json"));
    }
    let enc_json = t.elapsed() / n;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(
            serde_json::from_slice::<Entry>(std::hint::black_box(&json)).expect("json"),
        );
    }
    let dec_json = t.elapsed() / n;
    println!("\n## codec (one interaction.added event)");
    println!(
        "postcard: {} bytes, encode {:?}, decode {:?}",
        binary.len(),
        enc_bin,
        dec_bin
    );
    println!(
        "json:     {} bytes, encode {:?}, decode {:?}",
        json.len(),
        enc_json,
        dec_json
    );
}

fn fresh(args: &Args, path: &PathBuf) -> Journal {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    let mut config = Config::new(path);
    config.background_checkpoint = !args.inline_checkpoint;
    Journal::open(config).expect("open the journal")
}

fn start_session(journal: &Journal, id: &str, source: &Arc<str>) {
    let start = Start {
        document: DocumentRef {
            url: Some("http://apps.example/main.scxml".into()),
            hash: ContentHash::of(source.as_bytes()),
        },
        params: vec![("customer".into(), Value::String("42".into()))],
        seed: 1,
        at: Timestamp::from_millis(1_700_000_000_000),
        scheduled: None,
        parent: None,
        host: Value::Undefined,
    };
    journal
        .start(id, start, Arc::clone(source))
        .wait()
        .expect("start");
}

fn source() -> Arc<str> {
    // About the size of a small ORS strategy.
    Arc::from(format!(
        "<scxml xmlns='http://www.w3.org/2005/07/scxml' initial='a'>{}<state id='a'/></scxml>",
        "<!-- padding to a realistic document size -->".repeat(200)
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// One thread, one append at a time: the latency a lone request sees.
fn single_writer(args: &Args, path: &PathBuf) {
    let journal = fresh(args, path);
    let source = source();
    start_session(&journal, "solo", &source);
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let mut latencies = Vec::new();
    let mut seq = 1;
    while Instant::now() < deadline {
        let t = Instant::now();
        journal
            .append(Record::new("solo", seq, ors_event(seq)))
            .wait()
            .expect("append");
        latencies.push(t.elapsed());
        seq += 1;
    }
    latencies.sort();
    println!(
        "\n## single writer, append + wait ({} appends)",
        latencies.len()
    );
    println!(
        "{:.0} appends/s, p50 {:?}, p99 {:?}, max {:?}",
        latencies.len() as f64 / args.seconds,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
}

/// `threads` writers, each appending to its own session and waiting for
/// each ticket: group commit is what makes this scale.
fn concurrent(args: &Args, path: &PathBuf, threads: usize) {
    let journal = fresh(args, path);
    let source = source();
    for t in 0..threads {
        start_session(&journal, &format!("w{t}"), &source);
    }
    let before = journal.stats();
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let journal = journal.clone();
                scope.spawn(move || {
                    let id = format!("w{t}");
                    let mut latencies = Vec::new();
                    let mut seq = 1;
                    while Instant::now() < deadline {
                        let at = Instant::now();
                        journal
                            .append(Record::new(id.as_str(), seq, ors_event(seq)))
                            .wait()
                            .expect("append");
                        latencies.push(at.elapsed());
                        seq += 1;
                    }
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    let stats = journal.stats();
    latencies.sort();
    let batches = stats.batches - before.batches;
    let records = stats.records - before.records;
    println!("\n## {threads} writers, append + wait each");
    println!(
        "{:.0} appends/s, p50 {:?}, p99 {:?}, max {:?}; {} batches, mean {:.1} records/batch, \
         max {}, mean commit {:?}, {} checkpoints",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        batches,
        records as f64 / batches.max(1) as f64,
        stats.max_batch,
        (stats.commit_time - before.commit_time) / batches.max(1) as u32,
        stats.checkpoints
    );
}

/// Writes `recover_sessions` live sessions (start + 3 events each) and
/// times the recovery scan that decodes them all.
fn recovery(args: &Args, path: &PathBuf) {
    let journal = fresh(args, path);
    let source = source();
    let n = args.recover_sessions;
    let t = Instant::now();
    // Write in pipelined chunks so the setup itself is group-committed.
    let mut tickets = Vec::with_capacity(4096);
    for i in 0..n {
        let id = format!("{i:08}-5f0c-4c1e-9a7e-00000000000");
        let start = Start {
            document: DocumentRef {
                url: Some("http://apps.example/main.scxml".into()),
                hash: ContentHash::of(source.as_bytes()),
            },
            params: vec![("customer".into(), Value::String(i.to_string()))],
            seed: i as u64,
            at: Timestamp::from_millis(1_700_000_000_000),
            scheduled: None,
            parent: None,
            host: Value::Undefined,
        };
        tickets.push(journal.start(&id, start, Arc::clone(&source)));
        tickets.push(
            journal.append_all(
                (1..=3)
                    .map(|seq| Record::new(id.as_str(), seq, ors_event(seq)))
                    .collect(),
            ),
        );
        if tickets.len() >= 4096 {
            for ticket in tickets.drain(..) {
                ticket.wait().expect("setup append");
            }
        }
    }
    for ticket in tickets.drain(..) {
        ticket.wait().expect("setup append");
    }
    let written = t.elapsed();
    journal.close();
    drop(journal);
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);

    let t = Instant::now();
    let journal = Journal::open(Config::new(path)).expect("reopen");
    let opened = t.elapsed();
    let mut records = 0;
    let sessions = journal
        .recover(|r| records += 1 + r.records.len())
        .expect("recover");
    let scanned = t.elapsed();
    println!("\n## recovery of {n} live sessions (start + 3 events each)");
    println!(
        "written in {written:?} ({:.0} records/s pipelined); database {:.1} MiB",
        (n * 4) as f64 / written.as_secs_f64(),
        size as f64 / (1 << 20) as f64
    );
    println!(
        "open {opened:?}; recover scan of {sessions} sessions, {records} records: {scanned:?}"
    );
}
