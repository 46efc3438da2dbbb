//! `orca run CHART`: one top-level session (and what it invokes), fed from an
//! event file, with a virtual clock unless `--real-time`.
//!
//! Each line of the event file is delivered once the previous macrostep is
//! complete; "complete" here means the whole session tree is quiescent:
//! every event queued without delay (by the line's macrostep, by children,
//! by `<send>` to self) has been processed. With `--trace` the configuration
//! is printed then, once per line (macrosteps caused by delayed events print
//! no configuration of their own), and every microstep of every session of
//! the tree is printed as it happens (`microstep` lines: the event, the
//! transitions taken with their source position, the states exited and
//! entered).
//!
//! The Basic HTTP Event I/O Processor (SCXML 1.0 App. C.2) is there only for
//! charts that need it, so that others pay nothing: when the chart's text, or
//! the text of a document it invokes through a literal `src` (recursively),
//! mentions `basichttp` in any case — the type URI `...#BasicHTTPEventProcessor`,
//! the short name, `_ioprocessors['basichttp']` — every session gets an
//! access URI on an ephemeral loopback port and sends of that type become
//! POSTs. Otherwise such sends fail with `error.communication`.
//!
//! The ORS dialect (`session:` and `ws:` actions, the `_genesys` built-ins)
//! is switched on the same way: when the chart or a document it invokes
//! names a Genesys module namespace or one of `ors::TRIGGERS`. Then
//! `<session:start>` and `<session:terminate>` act on the runner's sessions
//! and `<session:fetch>` makes real HTTP requests (see [`crate::fetch`]);
//! a session's fetch holds it like a pending send, so the virtual clock
//! does not pass while the request is out.

use std::collections::HashSet;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runner::input::{parse_event_line, EventFileError, EventLine, EventReader};
use runner::{ClockMode, EcmaRunner, FeedEnd, Inbound, Inbox, RunError, RunnerOptions, SessionKey};
use scxml::datamodel::ecmascript::EcmaScriptOptions;
use scxml::document::{FileLoader, Loader, Text};
use scxml::{Document, Outcome, Timestamp};

use crate::fetch::RunGateway;
use crate::output::Output;

/// What `orca run` was asked to do.
pub(crate) struct RunArgs {
    /// `--events`: a path, or `-` for stdin.
    pub(crate) events: Option<String>,
    pub(crate) trace: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) real_time: bool,
    pub(crate) stats: bool,
    /// `--max-microsteps`.
    pub(crate) max_microsteps: u32,
    /// `--script-budget-ms` and `--memory-limit-mib`.
    pub(crate) ecmascript: EcmaScriptOptions,
}

/// Why the run loop stopped.
enum Stop {
    /// The top-level session ended.
    Finished,
    /// The input is used up and no delayed event is pending.
    Idle,
    /// `--timeout` passed.
    Timeout,
    /// A line of the event file is bad (already reported on stderr).
    BadInput { line: u64 },
}

/// Runs one chart; returns the process exit status.
pub(crate) fn run(
    args: &RunArgs,
    document: Arc<Document>,
    load_time: Duration,
) -> anyhow::Result<ExitCode> {
    let output = Output::stdout();
    let clock = if args.real_time {
        ClockMode::Real
    } else {
        ClockMode::virtual_from_now()
    };
    let options = RunnerOptions {
        clock,
        max_microsteps: args.max_microsteps,
        ..RunnerOptions::default()
    };
    let mut runner = EcmaRunner::new(options, args.ecmascript.clone(), output.log_sink());
    let http = match uses_basichttp(&document) {
        true => Some(basichttp::HttpGateway::start(runner.inbox())?),
        false => None,
    };
    let ors = uses_ors(&document);
    if ors {
        runner.enable_ors(ors::OrsConfig::default());
    }
    if http.is_some() || ors {
        runner.set_gateway(RunGateway::new(http, runner.inbox()));
    }
    if args.trace {
        let output = output.clone();
        runner.set_observers(move |id, invokeid| Some(output.microsteps(id, invokeid)));
    }
    let limit = args.timeout.map(|t| runner.now() + t);
    runner.set_deadline(args.timeout.map(|t| Instant::now() + t));

    let started = Instant::now();
    let root = runner.spawn(document, Vec::new())?;
    let mut driver = Driver {
        runner,
        root,
        output: output.clone(),
        trace: args.trace,
        limit,
        delivered: 0,
    };
    let input = open_events(args.events.as_deref())?;
    let stop = if args.real_time {
        driver.run_real_time(input)
    } else {
        driver.run_virtual(input, args.events.as_deref() != Some("-"))
    };
    let elapsed = started.elapsed();

    let Driver {
        runner,
        root,
        delivered,
        ..
    } = driver;
    let states = runner.configuration(root);
    let status = match (&stop, runner.outcome(root)) {
        // Reaching a top-level final state is the result, however the loop stopped.
        (_, Some(Outcome::Done { final_state })) => {
            // The top-level final state is the whole configuration at the end.
            let states: Vec<&str> = if states.is_empty() {
                vec![final_state]
            } else {
                states
            };
            output.done(final_state, &states);
            0
        }
        (stop, outcome) => {
            let reason = match (stop, outcome) {
                (_, Some(Outcome::Stopped { reason })) => reason.clone(),
                (_, Some(Outcome::Terminated)) => "terminated".to_owned(),
                (Stop::Timeout, _) => "timeout".to_owned(),
                (Stop::BadInput { line }, _) => format!("bad input at line {line}"),
                (Stop::Idle | Stop::Finished, _) => "idle".to_owned(),
            };
            output.stopped(&reason, &states);
            1
        }
    };
    if let Err(e) = output.finish() {
        eprintln!("orca: cannot write the output: {e}");
        return Ok(ExitCode::from(1));
    }
    if args.stats {
        print_stats(delivered, elapsed, load_time);
    }
    Ok(ExitCode::from(status))
}

/// The run loop's state.
struct Driver {
    runner: EcmaRunner,
    root: SessionKey,
    output: Output,
    trace: bool,
    /// `--timeout` on the session clock.
    limit: Option<Timestamp>,
    /// Lines delivered.
    delivered: u64,
}

impl Driver {
    /// Virtual clock: the runner's [`runner::Runner::feed`] loop. `check_rest`
    /// peeks after an early end to warn about unread lines (not on stdin,
    /// where peeking could block).
    fn run_virtual(&mut self, input: Option<Box<dyn BufRead + Send>>, check_rest: bool) -> Stop {
        let mut lines: Box<dyn Iterator<Item = _>> = match input {
            Some(input) => Box::new(EventReader::new(input)),
            None => Box::new(std::iter::empty()),
        };
        let (output, trace) = (self.output.clone(), self.trace);
        let feed = self
            .runner
            .feed(self.root, &mut lines, self.limit, &mut |runner, root| {
                if trace {
                    output.configuration(&runner.configuration(root));
                }
            });
        self.delivered = feed.delivered;
        match feed.end {
            FeedEnd::Finished { undelivered } => {
                let unread = match undelivered {
                    Some(line) => Some(line),
                    None if check_rest => lines.next().and_then(Result::ok).map(|(line, _)| line),
                    None => None,
                };
                if let Some(line) = unread {
                    warn_unread(line);
                }
                Stop::Finished
            }
            FeedEnd::Idle => Stop::Idle,
            FeedEnd::TimeLimit => Stop::Timeout,
            FeedEnd::BadInput(e) => {
                let line = match &e {
                    EventFileError::Syntax { line, .. } | EventFileError::Io { line, .. } => *line,
                };
                bad_input(&e.to_string(), line)
            }
            FeedEnd::Error(e) => self.run_error(e),
        }
    }

    /// Real clock: a thread reads the input so that the loop can wait for
    /// a line or the next timer, whichever comes first.
    fn run_real_time(&mut self, input: Option<Box<dyn BufRead + Send>>) -> Stop {
        if let Some(stop) = self.settle_and_trace() {
            return stop;
        }
        let lines = input.map(|input| spawn_reader(input, self.runner.inbox()));
        let mut number: u64 = 0;
        // A line waiting for its `after_ms` to pass; no further line is read meanwhile.
        let mut pending: Option<(Timestamp, EventLine)> = None;
        let mut input_open = lines.is_some();
        loop {
            if let Err(e) = self.runner.fire_due() {
                return self.run_error(e);
            }
            if !self.running() {
                return Stop::Finished;
            }
            let now = self.runner.now();
            if self.limit.is_some_and(|limit| now >= limit) {
                return Stop::Timeout;
            }
            if pending.as_ref().is_some_and(|(due, _)| *due <= now) {
                if let Some((_, line)) = pending.take() {
                    if let Some(stop) = self.deliver(line) {
                        return stop;
                    }
                }
                continue;
            }
            let wake = [
                self.runner.next_timeout(),
                pending.as_ref().map(|p| p.0),
                self.limit,
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = wake.map(|wake| wake.saturating_since(now));
            let receiver = match &lines {
                Some(receiver) if input_open && pending.is_none() => receiver,
                _ => {
                    if wake.is_none() && self.runner.in_flight() == 0 {
                        return Stop::Idle;
                    }
                    // Sleeps until the next wake-up unless an HTTP event
                    // or the result of a POST comes first.
                    self.runner.wait_for_input(timeout);
                    continue;
                }
            };
            // The reader nudges the runner's inbox after every line, so
            // one wait serves lines, HTTP events and timers alike.
            let received = match receiver.try_recv() {
                Ok(received) => received,
                Err(TryRecvError::Empty) => {
                    self.runner.wait_for_input(timeout);
                    continue;
                }
                Err(TryRecvError::Disconnected) => {
                    input_open = false;
                    continue;
                }
            };
            match received {
                Ok(text) => {
                    number += 1;
                    match parse_event_line(&text) {
                        Ok(Some(line)) => {
                            let due = self.runner.now()
                                + Duration::from_millis(line.after_ms.unwrap_or(0));
                            pending = Some((due, line));
                        }
                        Ok(None) => {}
                        Err(message) => {
                            return bad_input(&format!("line {number}: {message}"), number)
                        }
                    }
                }
                Err(e) => {
                    return bad_input(
                        &format!("line {}: cannot read: {e}", number + 1),
                        number + 1,
                    )
                }
            }
        }
    }

    /// Delivers one line and processes everything it causes without delay.
    fn deliver(&mut self, line: EventLine) -> Option<Stop> {
        self.delivered += 1;
        self.runner.enqueue(self.root, line.into_event());
        self.settle_and_trace()
    }

    /// Runs to quiescence, prints the configuration with `--trace`, and says
    /// whether the run is over.
    fn settle_and_trace(&mut self) -> Option<Stop> {
        if let Err(e) = self.runner.run_until_idle() {
            return Some(self.run_error(e));
        }
        if self.trace {
            self.output
                .configuration(&self.runner.configuration(self.root));
        }
        (!self.running()).then_some(Stop::Finished)
    }

    fn running(&self) -> bool {
        self.runner.is_running(self.root)
    }

    fn run_error(&self, error: RunError) -> Stop {
        match error {
            RunError::Deadline => Stop::Timeout,
            error @ (RunError::Session(_) | RunError::IdTaken(_) | RunError::Restore(_)) => {
                eprintln!("orca: {error}");
                Stop::Idle
            }
        }
    }
}

/// Opens `--events`: a file, or stdin for `-`.
fn open_events(events: Option<&str>) -> anyhow::Result<Option<Box<dyn BufRead + Send>>> {
    use anyhow::Context;
    Ok(match events {
        None => None,
        Some("-") => Some(Box::new(std::io::BufReader::new(std::io::stdin()))),
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open the event file {path}"))?;
            Some(Box::new(std::io::BufReader::with_capacity(64 * 1024, file)))
        }
    })
}

/// Reads lines on a thread, for the real-time loop, waking the runner
/// after each line and at the end.
fn spawn_reader(
    mut input: Box<dyn BufRead + Send>,
    inbox: Inbox,
) -> Receiver<std::io::Result<String>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let mut line = String::new();
            let (item, last) = match input.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => (Ok(line), false),
                Err(e) => (Err(e), true),
            };
            if sender.send(item).is_err() {
                return;
            }
            inbox.send(Inbound::Wake);
            if last {
                break;
            }
        }
        // Disconnect first, so that the woken loop sees the end.
        drop(sender);
        inbox.send(Inbound::Wake);
    });
    receiver
}

/// Whether the chart needs the Basic HTTP Event I/O Processor: its text, or
/// that of a document it invokes through a literal `src` (recursively),
/// mentions `basichttp` in any case (see the module doc).
fn uses_basichttp(document: &Document) -> bool {
    mentions(document, &|text| {
        text.to_ascii_lowercase().contains("basichttp")
    })
}

/// Whether the chart is written in the ORS dialect: it, or a document it
/// invokes through a literal `src`, names a Genesys module namespace or
/// uses an ORS built-in (`_data.x`, `__Log(...)`: a bare substring would
/// catch names such as `bench_datamodel`).
fn uses_ors(document: &Document) -> bool {
    mentions(document, &|text| {
        text.contains(ors::GENESYS_MODULES)
            || ors::TRIGGERS.iter().any(|t| {
                text.match_indices(t)
                    .any(|(at, _)| matches!(text[at + t.len()..].chars().next(), Some('.' | '(')))
            })
    })
}

/// Whether `found` holds for the text of the chart or of a document it
/// invokes through a literal `src` (recursively).
fn mentions(document: &Document, found: &dyn Fn(&str) -> bool) -> bool {
    let name = &document.source_name;
    let Ok(text) = std::fs::read_to_string(name) else {
        return false;
    };
    mentions_in(name, &text, document, found, &mut HashSet::new())
}

fn mentions_in(
    name: &str,
    text: &str,
    document: &Document,
    found: &dyn Fn(&str) -> bool,
    seen: &mut HashSet<String>,
) -> bool {
    if !seen.insert(name.to_owned()) {
        return false;
    }
    if found(text) {
        return true;
    }
    let sources = document
        .states
        .iter()
        .flat_map(|state| &state.invokes)
        .filter_map(|invoke| match &invoke.src {
            Some(Text::Literal(src)) => Some(src.as_str()),
            _ => None,
        });
    for src in sources {
        let Ok((child_name, child_text)) = FileLoader.load(name, src) else {
            continue;
        };
        let Ok(child) = scxml::document::parse(&child_text, &child_name, &FileLoader) else {
            continue;
        };
        if mentions_in(&child_name, &child_text, &child, found, seen) {
            return true;
        }
    }
    false
}

fn bad_input(message: &str, line: u64) -> Stop {
    eprintln!("orca: bad event file: {message}");
    Stop::BadInput { line }
}

fn warn_unread(line: u64) {
    eprintln!(
        "orca: the session ended before line {line} of the event file; the rest was not delivered"
    );
}

/// `--stats`: one JSON line on stderr.
fn print_stats(events: u64, elapsed: Duration, load_time: Duration) {
    let seconds = elapsed.as_secs_f64();
    let stats = serde_json::json!({
        "type": "stats",
        "events": events,
        "seconds": seconds,
        "events_per_second": if seconds > 0.0 { events as f64 / seconds } else { 0.0 },
        "load_ms": load_time.as_secs_f64() * 1000.0,
        "vm_hwm_kib": runner::memory::vm_hwm_kib(),
    });
    eprintln!("{stats}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` in a fresh folder and loads the first as the chart.
    fn chart(folder: &str, files: &[(&str, &str)]) -> Document {
        let dir = std::env::temp_dir().join(format!("orca-run-{folder}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        runner::load_document(&dir.join(files[0].0), &FileLoader).unwrap()
    }

    const PLAIN: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"><final id="f"/></scxml>"#;

    #[test]
    fn only_charts_that_use_the_ors_dialect_get_it() {
        let plain = PLAIN.replace("version=", "name=\"bench_datamodel\" version=");
        assert!(!uses_ors(&chart("ors-plain", &[("main.scxml", &plain)])));
        let builtin = PLAIN.replace(
            "<final id=\"f\"/>",
            "<final id=\"f\"><onentry><log expr=\"_data.x\"/></onentry></final>",
        );
        assert!(uses_ors(&chart("ors-builtin", &[("main.scxml", &builtin)])));
    }

    #[test]
    fn only_charts_that_mention_basichttp_get_the_listener() {
        let plain = chart("plain", &[("main.scxml", PLAIN)]);
        assert!(!uses_basichttp(&plain));

        let direct = PLAIN.replace(
            "<final id=\"f\"/>",
            "<state id=\"s\"><onentry><send type=\"BasicHTTP\" target=\"http://127.0.0.1:1/\"/></onentry></state>",
        );
        assert!(uses_basichttp(&chart("direct", &[("main.scxml", &direct)])));

        let parent = PLAIN.replace(
            "<final id=\"f\"/>",
            "<state id=\"s\"><invoke src=\"child.scxml\"/></state>",
        );
        let child = PLAIN.replace(
            "<final id=\"f\"/>",
            "<final id=\"f\"><onentry><log expr=\"_ioprocessors.basichttp.location\"/></onentry></final>",
        );
        let invoking = chart(
            "invoke",
            &[("main.scxml", &parent), ("child.scxml", &child)],
        );
        assert!(uses_basichttp(&invoking));
    }
}
