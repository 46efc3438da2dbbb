//! Feeding one top-level session from event lines: the run loop of
//! `orca run` (event file contract of shared/bench/README.md).
//!
//! Each line is delivered once the previous one's macrostep is complete —
//! here, once the whole session tree is quiescent: every event queued without
//! delay (by the line's macrostep, by children, by `<send>` to self) has been
//! processed. `after_ms` first lets that much session time pass, firing the
//! delayed events that fall due on the way. When the input is used up, the
//! clock keeps jumping to the next timer until the session ends, nothing is
//! pending, or the time limit is reached.

use std::time::Duration;

use scxml::Timestamp;

use crate::input::{EventFileError, EventLine};
use crate::machine::SessionFactory;
use crate::runner::{RunEnd, RunError, Runner, SessionKey};

/// How [`Runner::feed`] ended.
#[derive(Debug)]
pub enum FeedEnd {
    /// The session ended. `undelivered` is the line it ended before (while
    /// that line's `after_ms` passed), if any.
    Finished {
        /// The number of a line read but not delivered.
        undelivered: Option<u64>,
    },
    /// The input is used up and no delayed event is pending.
    Idle,
    /// The session-time limit was reached.
    TimeLimit,
    /// A line could not be read or parsed; the lines before it were delivered.
    BadInput(EventFileError),
    /// The runner stopped (wall-clock deadline).
    Error(RunError),
}

/// The result of [`Runner::feed`].
#[derive(Debug)]
pub struct Feed {
    /// Why it stopped.
    pub end: FeedEnd,
    /// Lines delivered to the session.
    pub delivered: u64,
}

impl<F: SessionFactory> Runner<F> {
    /// Feeds the lines to the top-level session `root`, which must have been
    /// spawned. `observe` is called at each point where `orca run --trace`
    /// prints the configuration: after the initial macrostep, and after each
    /// delivered line. `limit` bounds the session clock.
    ///
    /// Meant for the virtual clock: with a real one, the timers cannot fire
    /// while `lines` blocks waiting for input.
    pub fn feed(
        &mut self,
        root: SessionKey,
        lines: &mut dyn Iterator<Item = Result<(u64, EventLine), EventFileError>>,
        limit: Option<Timestamp>,
        observe: &mut dyn FnMut(&Self, SessionKey),
    ) -> Feed {
        let mut delivered = 0;
        let end = 'run: {
            if let Err(e) = self.run_until_idle() {
                break 'run FeedEnd::Error(e);
            }
            observe(self, root);
            if !self.is_running(root) {
                break 'run FeedEnd::Finished { undelivered: None };
            }
            for item in lines {
                let (number, line) = match item {
                    Ok(item) => item,
                    Err(e) => break 'run FeedEnd::BadInput(e),
                };
                let due = self.now() + Duration::from_millis(line.after_ms.unwrap_or(0));
                let wait_until = limit.map_or(due, |limit| due.min(limit));
                if let Err(e) = self.advance(wait_until) {
                    break 'run FeedEnd::Error(e);
                }
                if !self.is_running(root) {
                    break 'run FeedEnd::Finished {
                        undelivered: Some(number),
                    };
                }
                if wait_until < due {
                    break 'run FeedEnd::TimeLimit;
                }
                self.enqueue(root, line.into_event());
                delivered += 1;
                if let Err(e) = self.run_until_idle() {
                    break 'run FeedEnd::Error(e);
                }
                observe(self, root);
                if !self.is_running(root) {
                    break 'run FeedEnd::Finished { undelivered: None };
                }
            }
            match self.run_to_end(root, limit) {
                Ok(RunEnd::Finished) => FeedEnd::Finished { undelivered: None },
                Ok(RunEnd::Quiet) => FeedEnd::Idle,
                Ok(RunEnd::TimeLimit) => FeedEnd::TimeLimit,
                Err(e) => FeedEnd::Error(e),
            }
        };
        Feed { end, delivered }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scxml::Data;

    use super::*;
    use crate::input::EventReader;
    use crate::testing::{event_name, harness, ts, Harness, Input};

    /// Feeds `text` to a new session of `name`; returns the result and the
    /// number of trace points.
    fn feed(h: &mut Harness, name: &str, text: &str, limit: Option<Timestamp>) -> (Feed, usize) {
        let root = h.spawn(name);
        let mut lines = EventReader::new(text.as_bytes());
        let mut traces = 0;
        let result = h
            .runner
            .feed(root, &mut lines, limit, &mut |_, _| traces += 1);
        (result, traces)
    }

    #[test]
    fn lines_wait_for_quiescence_and_after_ms_fires_due_timers_first() {
        let mut h = harness(|fake, input| match (event_name(input), input) {
            (_, Input::Start) => {
                fake.send(None, "boot", None);
                fake.timeout = Some(fake.now + Duration::from_millis(500));
            }
            (_, Input::Timeout) => fake.send(None, "tick", None),
            (Some("a"), _) => fake.send(None, "echo", None),
            _ => {}
        });
        let text = "{\"name\":\"a\"}\n{\"name\":\"b\",\"after_ms\":1000}\n";
        let (result, traces) = feed(&mut h, "chart", text, None);
        assert!(matches!(result.end, FeedEnd::Idle), "{:?}", result.end);
        assert_eq!(result.delivered, 2);
        // Initial macrostep, then one per line; the timer's macrostep has none.
        assert_eq!(traces, 3);
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "1 external boot from #_scxml_1",
                "1 external a",
                "1 external echo from #_scxml_1",
                "1 timeout@500",
                "1 external tick from #_scxml_1",
                "1 external b",
            ]
        );
        assert_eq!(h.runner.now(), ts(1000));
    }

    #[test]
    fn a_session_that_ends_while_time_passes_misses_the_line() {
        let mut h = harness(|fake, input| match input {
            Input::Start => fake.timeout = Some(fake.now + Duration::from_millis(500)),
            Input::Timeout => fake.finish("done", Data::Undefined),
            _ => {}
        });
        let text = "\n{\"name\":\"late\",\"after_ms\":1000}\n{\"name\":\"later\"}\n";
        let (result, traces) = feed(&mut h, "chart", text, None);
        assert!(
            matches!(
                result.end,
                FeedEnd::Finished {
                    undelivered: Some(2)
                }
            ),
            "{:?}",
            result.end
        );
        assert_eq!(result.delivered, 0);
        assert_eq!(traces, 1);
        assert_eq!(h.journal(), ["1 start", "1 timeout@500"]);
    }

    #[test]
    fn the_time_limit_stops_waiting_lines_and_pending_timers() {
        let mut h = harness(|fake, input| {
            if matches!(input, Input::Start) {
                fake.timeout = Some(fake.now + Duration::from_millis(10_000));
            }
        });
        let (result, _) = feed(
            &mut h,
            "chart",
            "{\"name\":\"x\",\"after_ms\":5000}",
            Some(ts(3000)),
        );
        assert!(matches!(result.end, FeedEnd::TimeLimit), "{:?}", result.end);
        assert_eq!(result.delivered, 0);
        assert_eq!(h.runner.now(), ts(3000));

        let (result, _) = feed(&mut h, "chart", "{\"name\":\"x\"}", Some(ts(4000)));
        assert!(matches!(result.end, FeedEnd::TimeLimit), "{:?}", result.end);
        assert_eq!(result.delivered, 1);
        assert_eq!(h.runner.now(), ts(4000));
    }

    #[test]
    fn a_bad_line_stops_the_feed_after_the_good_ones() {
        let mut h = harness(|_, _| {});
        let text = "{\"name\":\"a\"}\n{\"name\":\"b\"}\n{\"name\": 3}\n{\"name\":\"c\"}\n";
        let (result, traces) = feed(&mut h, "chart", text, None);
        match result.end {
            FeedEnd::BadInput(EventFileError::Syntax { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected a syntax error on line 3, got {other:?}"),
        }
        assert_eq!(result.delivered, 2);
        assert_eq!(traces, 3);
    }

    #[test]
    fn a_session_that_ends_on_a_line_stops_the_feed() {
        let mut h = harness(|fake, input| {
            if event_name(input) == Some("end") {
                fake.finish("done", Data::Undefined);
            }
        });
        let root = h.spawn("chart");
        let mut lines = EventReader::new("{\"name\":\"end\"}\n{\"name\":\"extra\"}\n".as_bytes());
        let result = h.runner.feed(root, &mut lines, None, &mut |_, _| {});
        assert!(matches!(
            result.end,
            FeedEnd::Finished { undelivered: None }
        ));
        assert_eq!(result.delivered, 1);
        // The caller can still see what was left.
        assert!(matches!(lines.next(), Some(Ok((2, _)))));
    }
}
