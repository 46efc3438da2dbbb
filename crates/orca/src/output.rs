//! The JSON Lines that `orca run` writes on stdout (a stable interface:
//! DESIGN.md, "Interfaces that must stay stable"), through one buffered
//! writer shared by the log sink and the run loop.
//!
//! Line types ([`runner::trace::TraceRecord`], shared with the server's
//! replay): `log` (every `<log>` of every session; lines of invoked
//! sessions add `session` and `invokeid`; `level` appears when the ORS
//! attribute is given), `microstep` and `configuration` (with `--trace`),
//! and last `done` or `stopped`. `--sessions` prints one `sessions` summary
//! instead.

use std::cell::RefCell;
use std::io::{self, BufWriter, Write};
use std::rc::Rc;

use runner::trace::{MicrostepTracer, Tag, TraceRecord};
use runner::LogEntry;
use scxml::Observer;
use serde::Serialize;

/// The shared stdout writer. Write errors are kept, not panicked on, and
/// reported once at the end.
#[derive(Clone)]
pub(crate) struct Output {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    writer: BufWriter<Box<dyn Write>>,
    error: Option<io::Error>,
}

impl Output {
    /// A buffered writer on stdout.
    pub(crate) fn stdout() -> Self {
        Self::to(Box::new(io::stdout()))
    }

    /// A buffered writer on `writer`.
    fn to(writer: Box<dyn Write>) -> Self {
        Output {
            inner: Rc::new(RefCell::new(Inner {
                writer: BufWriter::with_capacity(64 * 1024, writer),
                error: None,
            })),
        }
    }

    /// A log sink writing `log` lines here.
    pub(crate) fn log_sink(&self) -> impl FnMut(&LogEntry<'_>) + 'static {
        let output = self.clone();
        move |entry: &LogEntry<'_>| {
            // A top-level session has no invoke id; only children are tagged.
            let tag = Tag::of(entry.session_id, entry.invokeid);
            output.line(&TraceRecord::log(
                entry.label,
                entry.value,
                entry.level,
                tag,
            ))
        }
    }

    /// An observer writing the `microstep` lines of the session `session_id`
    /// (`invokeid`: `None` for the top-level session).
    pub(crate) fn microsteps(&self, session_id: &str, invokeid: Option<&str>) -> Box<dyn Observer> {
        let output = self.clone();
        let tag = Tag::of(session_id, invokeid);
        Box::new(MicrostepTracer::new(tag, move |record| {
            output.line(&record)
        }))
    }

    /// `{"type":"configuration","states":[...]}`.
    pub(crate) fn configuration(&self, states: &[&str]) {
        self.line(&TraceRecord::Configuration {
            states: owned(states),
        });
    }

    /// `{"type":"done","final":...,"states":[...]}`.
    pub(crate) fn done(&self, final_state: &str, states: &[&str]) {
        self.line(&TraceRecord::Done {
            final_state: final_state.to_owned(),
            states: owned(states),
        });
    }

    /// `{"type":"stopped","reason":...,"states":[...]}`.
    pub(crate) fn stopped(&self, reason: &str, states: &[&str]) {
        self.line(&TraceRecord::Stopped {
            reason: reason.to_owned(),
            states: owned(states),
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

fn owned(states: &[&str]) -> Vec<String> {
    states.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use scxml::Data;

    use super::*;

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(shared: &Shared) -> Vec<String> {
        let bytes = shared.0.borrow();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn line_formats_of_orca_run() {
        let shared = Shared::default();
        let output = Output::to(Box::new(shared.clone()));
        let mut sink = output.log_sink();
        let value = Data::Object(vec![("n".to_owned(), Data::Number(2.0))]);
        sink(&LogEntry {
            session_id: "1",
            invokeid: None,
            label: Some("Outcome"),
            value: &Data::from("pass"),
            level: None,
        });
        sink(&LogEntry {
            session_id: "2",
            invokeid: Some("s0.i1"),
            label: None,
            value: &value,
            level: Some("info"),
        });
        output.configuration(&["a", "b"]);
        output.done("pass", &["pass"]);
        output.stopped("idle", &[]);
        assert!(output.finish().is_ok());
        assert_eq!(
            lines(&shared),
            [
                r#"{"type":"log","label":"Outcome","value":"pass"}"#,
                r#"{"type":"log","label":null,"value":{"n":2},"level":"info","session":"2","invokeid":"s0.i1"}"#,
                r#"{"type":"configuration","states":["a","b"]}"#,
                r#"{"type":"done","final":"pass","states":["pass"]}"#,
                r#"{"type":"stopped","reason":"idle","states":[]}"#,
            ]
        );
    }

    #[test]
    fn write_errors_are_reported_once_at_the_end() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            }
        }
        let output = Output::to(Box::new(Broken));
        // Larger than the buffer, so the write reaches the broken writer.
        let big = "x".repeat(100_000);
        output.stopped(&big, &[]);
        output.configuration(&[]);
        assert!(output.finish().is_err());
    }
}
