//! The JSON Lines that `orca run` writes on stdout (a stable interface:
//! DESIGN.md, "Interfaces that must stay stable"), through one buffered
//! writer shared by the log sink and the run loop.
//!
//! Line types: `log` (every `<log>` of every session; lines of invoked
//! sessions add `session` and `invokeid`; `level` appears when the ORS
//! attribute is given), `configuration` (with `--trace`), and last `done` or
//! `stopped`. `--sessions` prints one `sessions` summary instead.

use std::cell::RefCell;
use std::io::{self, BufWriter, Stdout, Write};
use std::rc::Rc;

use runner::LogEntry;
use serde::Serialize;

/// The shared stdout writer. Write errors are kept, not panicked on, and
/// reported once at the end.
#[derive(Clone)]
pub(crate) struct Output {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    writer: BufWriter<Stdout>,
    error: Option<io::Error>,
}

#[derive(Serialize)]
struct LogLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    label: Option<&'a str>,
    value: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invokeid: Option<&'a str>,
}

#[derive(Serialize)]
struct ConfigurationLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    states: &'a [&'a str],
}

#[derive(Serialize)]
struct DoneLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "final")]
    final_state: &'a str,
    states: &'a [&'a str],
}

#[derive(Serialize)]
struct StoppedLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    reason: &'a str,
    states: &'a [&'a str],
}

impl Output {
    /// A buffered writer on stdout.
    pub(crate) fn stdout() -> Self {
        Output {
            inner: Rc::new(RefCell::new(Inner {
                writer: BufWriter::with_capacity(64 * 1024, io::stdout()),
                error: None,
            })),
        }
    }

    /// A log sink writing `log` lines here.
    pub(crate) fn log_sink(&self) -> impl FnMut(&LogEntry<'_>) + 'static {
        let output = self.clone();
        move |entry: &LogEntry<'_>| {
            output.line(&LogLine {
                kind: "log",
                label: entry.label,
                value: entry.value.to_json(),
                level: entry.level,
                // A top-level session has no invoke id; only children are tagged.
                session: entry.invokeid.map(|_| entry.session_id),
                invokeid: entry.invokeid,
            })
        }
    }

    /// `{"type":"configuration","states":[...]}`.
    pub(crate) fn configuration(&self, states: &[&str]) {
        self.line(&ConfigurationLine {
            kind: "configuration",
            states,
        });
    }

    /// `{"type":"done","final":...,"states":[...]}`.
    pub(crate) fn done(&self, final_state: &str, states: &[&str]) {
        self.line(&DoneLine {
            kind: "done",
            final_state,
            states,
        });
    }

    /// `{"type":"stopped","reason":...,"states":[...]}`.
    pub(crate) fn stopped(&self, reason: &str, states: &[&str]) {
        self.line(&StoppedLine {
            kind: "stopped",
            reason,
            states,
        });
    }

    /// Any serializable value as one line.
    pub(crate) fn line(&self, value: &impl Serialize) {
        let mut inner = self.inner.borrow_mut();
        if inner.error.is_some() {
            return;
        }
        let Inner { writer, error } = &mut *inner;
        let written = serde_json::to_writer(&mut *writer, value)
            .map_err(io::Error::from)
            .and_then(|()| writer.write_all(b"\n"));
        if let Err(e) = written {
            *error = Some(e);
        }
    }

    /// Flushes, returning the first write error of the run.
    pub(crate) fn finish(&self) -> io::Result<()> {
        let mut inner = self.inner.borrow_mut();
        if let Some(e) = inner.error.take() {
            return Err(e);
        }
        inner.writer.flush()
    }
}
