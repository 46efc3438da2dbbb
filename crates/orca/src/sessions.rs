//! `orca run CHART --events FILE --sessions [--live]`: the `sessions`
//! benchmark (shared/bench/README.md, "sessions").
//!
//! The chart is parsed once and the whole event file is read before timing.
//! Sequential mode creates, starts, runs, checks and releases one session at
//! a time; `--live` keeps every session alive after all but its last event,
//! samples the resident memory (after a garbage collection) before and after
//! that phase, then delivers the last events. Each session has its own JS
//! context; contexts share QuickJS runtimes in groups of
//! [`runner::RUNTIME_GROUP_SIZE`].

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use runner::input::EventReader;
use runner::{EcmaRunner, RunnerOptions, SessionKey};
use scxml::{Document, Event, Outcome};
use serde::Serialize;

use crate::output::Output;

/// The summary line.
#[derive(Serialize)]
struct Summary {
    #[serde(rename = "type")]
    kind: &'static str,
    sessions: usize,
    completed: usize,
    seconds: f64,
    sessions_per_second: f64,
    /// `--live` only: (VmRSS after phase 1 - VmRSS before) / sessions.
    kib_per_live_session: Option<f64>,
    /// `--live` only: the time of phase 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    phase1_seconds: Option<f64>,
}

/// Runs the benchmark; exit status 0 when every session reached a
/// top-level final state.
pub(crate) fn run_sessions(
    document: Arc<Document>,
    events: &str,
    live: bool,
    limits: &crate::Limits,
) -> anyhow::Result<ExitCode> {
    let sessions = read_sessions(events)?;
    let output = Output::stdout();
    let options = RunnerOptions {
        max_microsteps: limits.max_microsteps,
        ..RunnerOptions::default()
    };
    let mut runner = EcmaRunner::new(options, limits.ecmascript(), output.log_sink());
    let summary = if live {
        run_live(&mut runner, &document, sessions)?
    } else {
        run_sequential(&mut runner, &document, sessions)?
    };
    let status = u8::from(summary.completed != summary.sessions);
    output.line(&summary);
    output.finish().context("cannot write the output")?;
    Ok(ExitCode::from(status))
}

/// Reads the whole file: one list of events per session, in file order.
fn read_sessions(path: &str) -> anyhow::Result<Vec<Vec<Event>>> {
    let input: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open the event file {path}"))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut sessions: Vec<Vec<Event>> = Vec::new();
    let mut current: Option<u64> = None;
    for item in EventReader::new(input) {
        let (number, line) = item.with_context(|| format!("bad event file {path}"))?;
        let Some(session) = line.session else {
            bail!("bad event file {path}: line {number}: `session` is missing");
        };
        match current {
            Some(c) if c == session => {}
            Some(c) if session < c => {
                bail!("bad event file {path}: line {number}: session {session} after session {c}; sessions must be consecutive and increasing")
            }
            _ => {
                current = Some(session);
                sessions.push(Vec::new());
            }
        }
        if let Some(events) = sessions.last_mut() {
            events.push(line.into_event());
        }
    }
    Ok(sessions)
}

fn run_sequential(
    runner: &mut EcmaRunner,
    document: &Arc<Document>,
    sessions: Vec<Vec<Event>>,
) -> anyhow::Result<Summary> {
    let count = sessions.len();
    let mut completed = 0;
    let started = Instant::now();
    for events in sessions {
        let key = runner.spawn(Arc::clone(document), Vec::new())?;
        deliver(runner, key, events)?;
        completed += usize::from(reached_final(runner, key));
        runner.release(key);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(summary(count, completed, seconds, None, None))
}

fn run_live(
    runner: &mut EcmaRunner,
    document: &Arc<Document>,
    sessions: Vec<Vec<Event>>,
) -> anyhow::Result<Summary> {
    let count = sessions.len();
    runner.collect_garbage();
    let before = runner::memory::vm_rss_kib();

    let started = Instant::now();
    let mut alive: Vec<(SessionKey, Option<Event>)> = Vec::with_capacity(count);
    for mut events in sessions {
        let last = events.pop();
        let key = runner.spawn(Arc::clone(document), Vec::new())?;
        deliver(runner, key, events)?;
        alive.push((key, last));
    }
    let phase1 = started.elapsed();

    // Not timed: measuring memory is not part of the work.
    runner.collect_garbage();
    let after = runner::memory::vm_rss_kib();

    let started = Instant::now();
    let mut completed = 0;
    for (key, last) in alive {
        deliver(runner, key, last)?;
        completed += usize::from(reached_final(runner, key));
        runner.release(key);
    }
    let phase2 = started.elapsed();

    let per_session = match (before, after) {
        (Some(before), Some(after)) if count > 0 => {
            Some((after as f64 - before as f64) / count as f64)
        }
        _ => None,
    };
    let seconds = (phase1 + phase2).as_secs_f64();
    Ok(summary(
        count,
        completed,
        seconds,
        per_session,
        Some(phase1),
    ))
}

/// Runs the initial macrostep's consequences, then each event, each after
/// the previous macrostep completed.
fn deliver(
    runner: &mut EcmaRunner,
    key: SessionKey,
    events: impl IntoIterator<Item = Event>,
) -> anyhow::Result<()> {
    runner.run_until_idle()?;
    for event in events {
        runner.enqueue(key, event);
        runner.run_until_idle()?;
    }
    Ok(())
}

fn reached_final(runner: &EcmaRunner, key: SessionKey) -> bool {
    matches!(runner.outcome(key), Some(Outcome::Done { .. }))
}

fn summary(
    sessions: usize,
    completed: usize,
    seconds: f64,
    kib: Option<f64>,
    phase1: Option<Duration>,
) -> Summary {
    Summary {
        kind: "sessions",
        sessions,
        completed,
        seconds,
        sessions_per_second: if seconds > 0.0 {
            sessions as f64 / seconds
        } else {
            0.0
        },
        kib_per_live_session: kib,
        phase1_seconds: phase1.map(|p| p.as_secs_f64()),
    }
}
