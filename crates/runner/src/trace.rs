//! Trace records: what `orca run --trace` prints as JSON Lines, and what
//! the server's replay of a journal answers (`orca replay`,
//! `GET /sessions/{id}/trace`), one type so that both stay the same format.
//!
//! | `type` | fields | when |
//! |---|---|---|
//! | `input` | `input` (`start`, `event`, `timer`, `terminate`), `event`, `at` (ms) | replay only: before what one journaled input caused |
//! | `microstep` | `event` (`null`: eventless or the initial entry), `transitions` (`source`, `targets`, `line`, `column`), `exited`, `entered` | after each microstep |
//! | `log` | `label`, `value`, `level` | each `<log>` |
//! | `configuration` | `states` (active atomic states, document order) | `orca run`: after the first macrostep and after each event line; replay: after each input |
//! | `done` | `final`, `states` | last, when the session reached a top-level final state |
//! | `stopped` | `reason`, `states` | last, when it ended otherwise (`orca run`: also when the run stopped) |
//!
//! Records of an invoked session carry `session` (its `_sessionid`) and
//! `invokeid`, so that the lines of a tree of sessions can be told apart.
//! A macrostep's `microstep` records come as it runs; the `log` records of
//! its `<log>`s follow when its actions are carried out.

use serde::{Deserialize, Serialize};

use scxml::{Data, Microstep, Observer, Outcome};

/// One line of a trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TraceRecord {
    /// A journaled input is given to the session again (replay).
    Input(InputRecord),
    /// A microstep.
    Microstep(MicrostepRecord),
    /// A `<log>`.
    Log(LogRecord),
    /// The active atomic states.
    Configuration {
        /// Their ids, in document order.
        states: Vec<String>,
    },
    /// The session reached a top-level final state.
    Done {
        /// The `<final>`'s id.
        #[serde(rename = "final")]
        final_state: String,
        /// The states it ended in.
        states: Vec<String>,
    },
    /// The session (or the run) ended without reaching a final state.
    Stopped {
        /// Why.
        reason: String,
        /// The active states at the end.
        states: Vec<String>,
    },
}

/// Which session a record is about, for the sessions a tree invoked (the
/// top-level session's records carry neither field).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The invoked session's `_sessionid`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session: Option<String>,
    /// Its invoke id in its parent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub invokeid: Option<String>,
}

impl Tag {
    /// The tag of a session: empty for a top-level one (no invoke id).
    pub fn of(session_id: &str, invokeid: Option<&str>) -> Self {
        match invokeid {
            Some(invokeid) => Tag {
                session: Some(session_id.to_owned()),
                invokeid: Some(invokeid.to_owned()),
            },
            None => Tag::default(),
        }
    }
}

/// An input of a journaled session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    /// `start`, `event`, `timer` or `terminate`.
    pub input: String,
    /// The event's name, for `event`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event: Option<String>,
    /// The time the session was given with the input (ms since the Unix
    /// epoch): what `Date.now()` returned while it ran.
    pub at: u64,
    /// The session, when invoked.
    #[serde(flatten)]
    pub tag: Tag,
}

/// One microstep (SCXML 1.0 App. D `microstep`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MicrostepRecord {
    /// The event that enabled the transitions; `None` for eventless
    /// transitions and the initial entry.
    pub event: Option<String>,
    /// The transitions taken, in the order their content ran.
    pub transitions: Vec<TransitionRecord>,
    /// States exited, in exit order.
    pub exited: Vec<String>,
    /// States entered, in entry order.
    pub entered: Vec<String>,
    /// The session, when invoked.
    #[serde(flatten)]
    pub tag: Tag,
}

/// A transition taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRecord {
    /// The id of the state it belongs to (`__scxml` for the document's
    /// initial transition).
    pub source: String,
    /// Its targets as written (empty for a targetless transition).
    pub targets: Vec<String>,
    /// Where the `<transition>` starts in its document (1-based).
    pub line: u32,
    /// Its column (1-based).
    pub column: u32,
}

/// A `<log>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The `label` attribute (`null` when absent).
    pub label: Option<String>,
    /// The value of `expr`, as JSON.
    pub value: serde_json::Value,
    /// The ORS `level` attribute.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub level: Option<String>,
    /// The session, when invoked.
    #[serde(flatten)]
    pub tag: Tag,
}

impl TraceRecord {
    /// The record of a `<log>`.
    pub fn log(label: Option<&str>, value: &Data, level: Option<&str>, tag: Tag) -> Self {
        TraceRecord::Log(LogRecord {
            label: label.map(str::to_owned),
            value: value.to_json(),
            level: level.map(str::to_owned),
            tag,
        })
    }

    /// The record of a microstep.
    pub fn microstep(step: &Microstep<'_>, tag: Tag) -> Self {
        let document = step.document();
        let transitions = step
            .transitions()
            .map(|t| TransitionRecord {
                source: document.state(t.source).id.clone(),
                targets: t
                    .targets
                    .iter()
                    .map(|&s| document.state(s).id.clone())
                    .collect(),
                line: t.location.line,
                column: t.location.column,
            })
            .collect();
        TraceRecord::Microstep(MicrostepRecord {
            event: step.event().map(|e| e.name.clone()),
            transitions,
            exited: step.exited().map(|s| s.id.clone()).collect(),
            entered: step.entered().map(|s| s.id.clone()).collect(),
            tag,
        })
    }

    /// The last record of a session that ended with `outcome` in `states`.
    pub fn end(outcome: &Outcome, states: Vec<String>) -> Self {
        match outcome {
            Outcome::Done { final_state } => TraceRecord::Done {
                final_state: final_state.clone(),
                states,
            },
            Outcome::Terminated => TraceRecord::Stopped {
                reason: "terminated".to_owned(),
                states,
            },
            Outcome::Stopped { reason } => TraceRecord::Stopped {
                reason: reason.clone(),
                states,
            },
        }
    }
}

/// An [`Observer`] that turns each microstep into a [`TraceRecord`] and
/// hands it to `sink`.
pub struct MicrostepTracer<F> {
    tag: Tag,
    sink: F,
}

impl<F: FnMut(TraceRecord)> MicrostepTracer<F> {
    /// Records of the session `tag` names, given to `sink`.
    pub fn new(tag: Tag, sink: F) -> Self {
        MicrostepTracer { tag, sink }
    }
}

impl<F: FnMut(TraceRecord)> Observer for MicrostepTracer<F> {
    fn microstep(&mut self, step: &Microstep<'_>) {
        (self.sink)(TraceRecord::microstep(step, self.tag.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(record: &TraceRecord) -> String {
        serde_json::to_string(record).unwrap()
    }

    #[test]
    fn records_serialize_as_the_documented_lines_and_read_back() {
        let child = Tag::of("7", Some("i1"));
        let records = [
            (
                TraceRecord::Input(InputRecord {
                    input: "event".into(),
                    event: Some("go".into()),
                    at: 1000,
                    tag: Tag::default(),
                }),
                r#"{"type":"input","input":"event","event":"go","at":1000}"#,
            ),
            (
                TraceRecord::Microstep(MicrostepRecord {
                    event: None,
                    transitions: vec![TransitionRecord {
                        source: "a".into(),
                        targets: vec!["b".into()],
                        line: 3,
                        column: 5,
                    }],
                    exited: vec!["a".into()],
                    entered: vec!["b".into()],
                    tag: child.clone(),
                }),
                r#"{"type":"microstep","event":null,"transitions":[{"source":"a","targets":["b"],"line":3,"column":5}],"exited":["a"],"entered":["b"],"session":"7","invokeid":"i1"}"#,
            ),
            (
                TraceRecord::log(None, &Data::Number(2.0), Some("info"), child),
                r#"{"type":"log","label":null,"value":2,"level":"info","session":"7","invokeid":"i1"}"#,
            ),
            (
                TraceRecord::end(
                    &Outcome::Done {
                        final_state: "f".into(),
                    },
                    vec!["f".into()],
                ),
                r#"{"type":"done","final":"f","states":["f"]}"#,
            ),
            (
                TraceRecord::end(&Outcome::Terminated, vec![]),
                r#"{"type":"stopped","reason":"terminated","states":[]}"#,
            ),
        ];
        for (record, text) in records {
            assert_eq!(line(&record), text);
            let back: TraceRecord = serde_json::from_str(text).unwrap();
            assert_eq!(back, record);
        }
    }
}
