//! Measures what the ECMAScript data model costs: context creation, a cached
//! condition, an event, a whole short session, and memory and GC pauses for
//! different numbers of sessions per runtime. The numbers and the choices
//! they led to are in `docs/design/ecmascript.md`.
//!
//! Run: `cargo run --release -p scxml --example ecmascript_costs` (all
//! measurements; the memory ones each run in a child process so that one
//! configuration's freed heap does not hide the next one's growth), or
//! `... -- memory <sessions per runtime> <sessions>` for one configuration.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::context::intrinsic;
use rquickjs::{Context, Runtime};
use scxml::datamodel::ecmascript::{EcmaScript, EcmaScriptOptions, JsRuntime};
use scxml::datamodel::{AssignFrom, DataModel, DeclareValue, SystemVariables};
use scxml::document::{Code, CodeId, CodeKind, Document, Location, State, StateId, StateKind};
use scxml::{Data, Event, Timestamp};

/// The code of the `sessions` benchmark chart (shared/bench/sessions), in the
/// order the `Step`s below use it.
const CODE: &[(&str, CodeKind)] = &[
    // 0..=10: the <data> expressions
    ("0", CodeKind::Expression),
    ("''", CodeKind::Expression),
    ("''", CodeKind::Expression),
    ("'en'", CodeKind::Expression),
    ("false", CodeKind::Expression),
    ("'general'", CodeKind::Expression),
    ("1", CodeKind::Expression),
    ("''", CodeKind::Expression),
    ("null", CodeKind::Expression),
    ("0", CodeKind::Expression),
    (
        "({ maxPriority: 10, timeout: 30, skillByDnis: { '8001': 'sales', '8002': 'support', '8003': 'billing' } })",
        CodeKind::Expression,
    ),
    // 11..=18: the first transition's <assign>s
    ("callid", CodeKind::Location),
    ("_event.data.callid", CodeKind::Expression),
    ("ani", CodeKind::Location),
    ("_event.data.ani", CodeKind::Expression),
    ("dnis", CodeKind::Location),
    ("_event.data.dnis", CodeKind::Expression),
    ("lang", CodeKind::Location),
    ("_event.data.lang", CodeKind::Expression),
    // 19: classify's <script>
    (
        "vip = ani.indexOf('+1800') == 0;\n skill = config.skillByDnis[dnis] || 'general';\n priority = vip ? config.maxPriority : (lang == 'en' ? 1 : 2);",
        CodeKind::Script,
    ),
    // 20..=22: guard and request id
    ("vip", CodeKind::Expression),
    ("reqid", CodeKind::Location),
    ("callid + '-vip-' + skill", CodeKind::Expression),
    // 23..=25: target.selected
    ("_event.data.callid == callid && _event.data.requestid == reqid", CodeKind::Expression),
    ("target", CodeKind::Location),
    ("_event.data.agent", CodeKind::Expression),
    // 26: interaction.released
    ("_event.data.callid == callid && errors == 0", CodeKind::Expression),
    // 27: a plain condition
    ("priority > 0 && lang == 'en'", CodeKind::Expression),
];

const DATA_IDS: [&str; 11] = [
    "callid", "ani", "dnis", "lang", "vip", "skill", "priority", "reqid", "target", "errors",
    "config",
];

fn document() -> Arc<Document> {
    let root = State {
        id: "root".into(),
        kind: StateKind::Compound,
        parent: None,
        depth: 0,
        children: Vec::new(),
        descendants_end: StateId(1),
        initial: None,
        transitions: Vec::new(),
        onentry: Vec::new(),
        onexit: Vec::new(),
        invokes: Vec::new(),
        data: Vec::new(),
        donedata: None,
        has_eventless: false,
        location: Location::default(),
    };
    Arc::new(Document {
        name: Some("bench_sessions".into()),
        datamodel: "ecmascript".into(),
        late_binding: false,
        source_name: "costs".into(),
        states: vec![root],
        transitions: Vec::new(),
        code: CODE
            .iter()
            .map(|(text, kind)| Code {
                text: (*text).into(),
                kind: *kind,
                location: Location::default(),
            })
            .collect(),
        script: None,
        state_ids: HashMap::from([("root".to_owned(), StateId(0))]),
        descriptors: Vec::new(),
        uses_in: false,
        has_eventless: false,
    })
}

fn system(i: usize) -> SystemVariables {
    SystemVariables {
        session_id: format!("session-{i}"),
        name: Some("bench_sessions".into()),
        ioprocessors: vec![("scxml".into(), format!("#_scxml_session-{i}"))],
    }
}

fn object(fields: &[(&str, Data)]) -> Data {
    Data::Object(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn present(i: usize) -> Event {
    Event::external(
        "interaction.present",
        object(&[
            ("callid", Data::Number(i as f64)),
            ("ani", Data::from("+18005551234")),
            ("dnis", Data::from("8002")),
            ("lang", Data::from("en")),
            ("channel", Data::from("voice")),
        ]),
    )
}

fn selected(i: usize) -> Event {
    Event::external(
        "target.selected",
        object(&[
            ("callid", Data::Number(i as f64)),
            ("requestid", Data::from(format!("{i}-vip-support"))),
            ("agent", Data::from("agent-7")),
            ("dn", Data::from("7001")),
            ("reason", Data::from("ok")),
        ]),
    )
}

fn released(i: usize) -> Event {
    Event::external(
        "interaction.released",
        object(&[("callid", Data::Number(i as f64))]),
    )
}

fn expr(i: u32) -> CodeId {
    CodeId(i)
}

/// Creates a session and runs its data-model work up to `connected` (the
/// state where a live session of the `sessions` workload waits).
fn start_session(
    runtime: &JsRuntime,
    doc: &Arc<Document>,
    i: usize,
    options: &EcmaScriptOptions,
) -> EcmaScript {
    let mut m = EcmaScript::new(runtime, Arc::clone(doc), options).expect("context");
    m.bind_system(&system(i)).expect("bind");
    run_start(&mut m, i);
    m
}

/// The data-model work of starting a session and taking it to `connected`.
fn run_start(m: &mut EcmaScript, i: usize) {
    m.begin_macrostep(Timestamp::from_millis(1));
    for (k, id) in DATA_IDS.iter().enumerate() {
        m.declare(id, DeclareValue::Expr(expr(k as u32)))
            .expect("declare");
    }
    m.begin_macrostep(Timestamp::from_millis(2));
    m.set_event(&present(i));
    for k in 0..4 {
        m.assign(CodeId(11 + 2 * k), AssignFrom::Expr(CodeId(12 + 2 * k)))
            .expect("assign");
    }
    m.execute(CodeId(19)).expect("script");
    m.set_event(&Event {
        name: "classified".into(),
        ..Event::default()
    });
    assert!(m.evaluate_bool(CodeId(20)).expect("cond"));
    m.assign(CodeId(21), AssignFrom::Expr(CodeId(22)))
        .expect("assign");
    m.begin_macrostep(Timestamp::from_millis(3));
    m.set_event(&selected(i));
    assert!(m.evaluate_bool(CodeId(23)).expect("cond"));
    m.assign(CodeId(24), AssignFrom::Expr(CodeId(25)))
        .expect("assign");
}

fn finish_session(m: &mut EcmaScript, i: usize) {
    m.begin_macrostep(Timestamp::from_millis(4));
    m.set_event(&released(i));
    assert!(m.evaluate_bool(CodeId(26)).expect("cond"));
}

fn per(d: Duration, n: usize) -> String {
    let ns = d.as_nanos() as f64 / n as f64;
    if ns >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn bare_contexts(options: &EcmaScriptOptions, doc: &Arc<Document>) {
    const N: usize = 1000;
    const ROUNDS: usize = 5;
    /// Best of `ROUNDS` batches of `N` creations on a fresh runtime: the
    /// machine is noisy, and the minimum is the cost without interference.
    fn measure<T, F: Fn(&Runtime) -> T>(label: &str, make: F) -> f64 {
        let mut best = f64::MAX;
        let mut heap = 0.0;
        for _ in 0..ROUNDS {
            let rt = Runtime::new().expect("runtime");
            let before = rt.memory_usage().malloc_size;
            let start = Instant::now();
            let contexts: Vec<T> = (0..N).map(|_| make(&rt)).collect();
            best = best.min(start.elapsed().as_secs_f64() * 1e6 / N as f64);
            heap = (rt.memory_usage().malloc_size - before) as f64 / N as f64 / 1024.0;
            drop(contexts);
        }
        println!("  {label:<48} {best:>7.1} µs per context, {heap:>5.1} KiB of JS heap each");
        best
    }
    println!("context creation, best of {ROUNDS} x {N} on one runtime:");
    measure("base objects only (Object, Function, Array, ...)", |rt| {
        Context::base(rt).expect("context")
    });
    measure("base + Date", |rt| {
        Context::custom::<intrinsic::Date>(rt).expect("context")
    });
    measure("base + RegExp (compiler and constructor)", |rt| {
        Context::custom::<(intrinsic::RegExpCompiler, intrinsic::RegExp)>(rt).expect("context")
    });
    measure("base + JSON", |rt| {
        Context::custom::<intrinsic::Json>(rt).expect("context")
    });
    measure("base + Eval", |rt| {
        Context::custom::<intrinsic::Eval>(rt).expect("context")
    });
    measure("base + Date, Eval, RegExp, JSON (ours)", |rt| {
        Context::custom::<(
            intrinsic::Date,
            intrinsic::Eval,
            intrinsic::RegExpCompiler,
            intrinsic::RegExp,
            intrinsic::Json,
        )>(rt)
        .expect("context")
    });
    measure("ours + MapSet, Promise, Proxy", |rt| {
        Context::custom::<(
            intrinsic::Date,
            intrinsic::Eval,
            intrinsic::RegExpCompiler,
            intrinsic::RegExp,
            intrinsic::Json,
            intrinsic::MapSet,
            intrinsic::Promise,
            intrinsic::Proxy,
        )>(rt)
        .expect("context")
    });
    measure("full (JS_NewContext)", |rt| {
        Context::full(rt).expect("context")
    });
    let runtime = JsRuntime::new(options).expect("runtime");
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let models: Vec<EcmaScript> = (0..N)
            .map(|_| EcmaScript::new(&runtime, Arc::clone(doc), options).expect("context"))
            .collect();
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / N as f64);
        drop(models);
    }
    println!(
        "  {:<48} {best:>7.1} µs per context",
        "EcmaScript::new (ours + injected Date, random)"
    );
}

fn sessions_creation(options: &EcmaScriptOptions, doc: &Arc<Document>) {
    const N: usize = 2000;
    let runtime = JsRuntime::new(options).expect("runtime");
    let start = Instant::now();
    let models: Vec<EcmaScript> = (0..N)
        .map(|_| EcmaScript::new(&runtime, Arc::clone(doc), options).expect("context"))
        .collect();
    println!(
        "EcmaScript::new (context + injected Date, Math.random): {}",
        per(start.elapsed(), N)
    );
    let start = Instant::now();
    let models: Vec<EcmaScript> = models
        .into_iter()
        .enumerate()
        .map(|(i, mut m)| {
            m.bind_system(&system(i)).expect("bind");
            m
        })
        .collect();
    println!("bind_system: {}", per(start.elapsed(), N));
    let start = Instant::now();
    drop(models);
    println!("drop: {}", per(start.elapsed(), N));

    // Sequential create / start / finish / drop, one session alive at a time.
    let start = Instant::now();
    let n = 10_000;
    for i in 0..n {
        let mut m = start_session(&runtime, doc, i, options);
        finish_session(&mut m, i);
    }
    let elapsed = start.elapsed();
    println!(
        "whole session, data-model part of the sessions workload: {} ({:.0} sessions/s)",
        per(elapsed, n),
        n as f64 / elapsed.as_secs_f64()
    );
    // The same work again in one context whose code is already compiled:
    // the difference to the above is creation plus compilation.
    let mut m = start_session(&runtime, doc, 0, options);
    finish_session(&mut m, 0);
    let start = Instant::now();
    for i in 0..n {
        run_start(&mut m, i);
        finish_session(&mut m, i);
    }
    println!(
        "  the same data-model work with all code compiled: {}",
        per(start.elapsed(), n)
    );
}

fn hot_paths(options: &EcmaScriptOptions, doc: &Arc<Document>) {
    const N: usize = 1_000_000;
    let runtime = JsRuntime::new(options).expect("runtime");
    // The budget is per macrostep; these loops are one long macrostep each.
    let options = EcmaScriptOptions {
        script_budget: Duration::from_secs(3600),
        ..options.clone()
    };
    let mut m = start_session(&runtime, doc, 1, &options);
    m.begin_macrostep(Timestamp::from_millis(10));
    let start = Instant::now();
    for _ in 0..N {
        black_box(m.evaluate_bool(CodeId(27)).expect("cond"));
    }
    println!(
        "cached condition `priority > 0 && lang == 'en'`: {}",
        per(start.elapsed(), N)
    );

    let events: Vec<Event> = (0..1000).map(selected).collect();
    let start = Instant::now();
    for k in 0..N {
        m.set_event(&events[k % 1000]);
    }
    println!(
        "set_event (5-field data, never read): {}",
        per(start.elapsed(), N)
    );

    // Each event is its own macrostep, as in the interpreter.
    let start = Instant::now();
    for k in 0..N {
        m.begin_macrostep(Timestamp::from_millis(k as u64));
        m.set_event(&events[k % 1000]);
        black_box(m.evaluate_bool(CodeId(23)).expect("cond"));
    }
    println!(
        "begin_macrostep + set_event + guard reading _event.data twice: {}",
        per(start.elapsed(), N)
    );

    let start = Instant::now();
    for k in 0..N {
        m.begin_macrostep(Timestamp::from_millis(k as u64));
        m.set_event(&events[k % 1000]);
        black_box(m.evaluate_bool(CodeId(23)).expect("cond"));
        m.assign(CodeId(24), AssignFrom::Expr(CodeId(25)))
            .expect("assign");
    }
    println!(
        "  ... + <assign> from _event.data: {}",
        per(start.elapsed(), N)
    );

    m.begin_macrostep(Timestamp::from_millis(0));
    let start = Instant::now();
    for _ in 0..N / 10 {
        black_box(m.evaluate(CodeId(10)).expect("value"));
    }
    println!(
        "evaluate to Data (3-level object, 5 keys): {}",
        per(start.elapsed(), N / 10)
    );
}

/// `sessions` live sessions on runtimes of `per_runtime` sessions each.
fn memory(per_runtime: usize, sessions: usize) {
    let options = EcmaScriptOptions {
        memory_limit: 1 << 30,
        ..EcmaScriptOptions::default()
    };
    let doc = document();
    let before = rss_kib();
    let start = Instant::now();
    let mut runtimes = Vec::new();
    let mut models = Vec::with_capacity(sessions);
    for i in 0..sessions {
        if i % per_runtime == 0 {
            runtimes.push(JsRuntime::new(&options).expect("runtime"));
        }
        let runtime = runtimes.last().expect("pushed above");
        models.push(start_session(runtime, &doc, i, &options));
    }
    let created = start.elapsed();
    let gc_start = Instant::now();
    for r in &runtimes {
        r.run_gc();
    }
    let gc = gc_start.elapsed() / runtimes.len() as u32;
    let after = rss_kib();
    let heap: usize = runtimes.iter().map(JsRuntime::memory_used).sum();
    println!(
        "{per_runtime:>6} per runtime: {:>6.1} KiB RSS per session ({:>5.1} KiB JS heap), GC pause {:>9.3} ms per runtime, {:>6.0} sessions/s started",
        (after.saturating_sub(before)) as f64 / sessions as f64,
        heap as f64 / sessions as f64 / 1024.0,
        gc.as_secs_f64() * 1000.0,
        sessions as f64 / created.as_secs_f64(),
    );
    for (i, m) in models.iter_mut().enumerate() {
        finish_session(m, i);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("memory") {
        let per_runtime = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
        let sessions = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000);
        memory(per_runtime, sessions);
        return;
    }
    // Room for thousands of sessions on one runtime (the default, 64 MiB, is
    // sized for about a hundred).
    let options = EcmaScriptOptions {
        memory_limit: 1 << 30,
        ..EcmaScriptOptions::default()
    };
    let doc = document();
    bare_contexts(&options, &doc);
    sessions_creation(&options, &doc);
    hot_paths(&options, &doc);
    println!("10,000 live sessions (each in `connected`), by sessions per runtime:");
    let exe = std::env::current_exe().expect("own path");
    for per_runtime in [1, 10, 50, 100, 500, 1000, 10_000] {
        let status = std::process::Command::new(&exe)
            .args(["memory", &per_runtime.to_string(), "10000"])
            .status()
            .expect("child");
        assert!(status.success());
    }
}
