//! What the journal stores: one [`Record`] per input a session received, and
//! [`Snapshot`]s that bound replay.
//!
//! `scxml` types are not serde types (the engine has no serialization
//! format to commit to), so this module mirrors the ones a journal needs —
//! [`Value`] for [`scxml::Data`], [`EventRecord`] for [`scxml::Event`],
//! [`OutcomeRecord`] for [`scxml::Outcome`] — with lossless conversions both
//! ways. Lossless matters: replay must give the interpreter exactly the
//! inputs it saw, so `undefined` stays apart from `null`, XML from strings,
//! and NaN or infinite numbers survive (JSON could not carry them).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use scxml::{Data, Event, EventKind, Outcome, Timestamp};

/// One journaled input of one session.
///
/// Sequence numbers are per session, start at 0 with [`Entry::Started`] and
/// go up by one with each record; the session's driver assigns them (it is
/// the only writer of its session and knows, after recovery, where it left
/// off). The journal refuses a sequence number used twice.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The session (`_sessionid`).
    pub session: String,
    /// Position in the session's journal.
    pub seq: u64,
    /// What happened.
    pub entry: Entry,
}

impl Record {
    /// A record of `entry` at position `seq` of `session`'s journal.
    pub fn new(session: impl Into<String>, seq: u64, entry: Entry) -> Self {
        Record {
            session: session.into(),
            seq,
            entry,
        }
    }
}

/// An input of a session, in the order the session saw them.
///
/// Every variant carries `at`, the host's time when the input was taken:
/// it is the `now` the interpreter got with it (`Date.now()` during that
/// macrostep), so the clock readings of a session are journaled with the
/// inputs that caused them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// The session was created (always sequence 0).
    Started(Start),
    /// An external event was delivered (`Interpreter::handle_event`).
    Event {
        /// The event, all `_event` fields.
        event: EventRecord,
        /// Host time of delivery.
        #[serde(with = "millis")]
        at: Timestamp,
    },
    /// The session's timer fired (`Interpreter::handle_timeout`).
    Timer {
        /// Host time of the firing.
        #[serde(with = "millis")]
        at: Timestamp,
    },
    /// A result the host fetched for the session (an HTTP response, a
    /// looked-up resource), keyed by the request it answers, so replay uses
    /// the answer given then instead of fetching again.
    Fetched {
        /// The request it answers (the send id or action id).
        request: String,
        /// The result as the session received it.
        result: Value,
        /// Host time the result was taken.
        #[serde(with = "millis")]
        at: Timestamp,
    },
    /// The host cancelled the session (`Interpreter::terminate`).
    Terminated {
        /// Host time of the cancellation.
        #[serde(with = "millis")]
        at: Timestamp,
    },
    /// The session is over: nothing more will be appended. The journal marks
    /// it ended and keeps or deletes its records by the retention setting.
    Ended {
        /// How it ended.
        outcome: OutcomeRecord,
        /// Host time of the end (retention counts from it).
        #[serde(with = "millis")]
        at: Timestamp,
    },
    /// A scheduled session's `idealtime` came and its interpreter started
    /// (`Interpreter::start`), then took the events it had been sent while
    /// it waited, which are the [`Entry::Event`]s between its start record
    /// and this one.
    Began {
        /// Host time of the start.
        #[serde(with = "millis")]
        at: Timestamp,
    },
}

impl Entry {
    /// The host time the entry carries.
    pub fn at(&self) -> Timestamp {
        match self {
            Entry::Started(start) => start.at,
            Entry::Event { at, .. }
            | Entry::Timer { at }
            | Entry::Fetched { at, .. }
            | Entry::Terminated { at }
            | Entry::Ended { at, .. }
            | Entry::Began { at } => *at,
        }
    }

    /// The stored kind code (the `kind` column, for look-ups without
    /// decoding payloads). Codes are part of the schema: never renumber.
    pub fn kind(&self) -> Kind {
        match self {
            Entry::Started(_) => Kind::Started,
            Entry::Event { .. } => Kind::Event,
            Entry::Timer { .. } => Kind::Timer,
            Entry::Fetched { .. } => Kind::Fetched,
            Entry::Terminated { .. } => Kind::Terminated,
            Entry::Ended { .. } => Kind::Ended,
            Entry::Began { .. } => Kind::Began,
        }
    }
}

/// The kind of an [`Entry`], as stored in the `kind` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// [`Entry::Started`].
    Started = 0,
    /// [`Entry::Event`].
    Event = 1,
    /// [`Entry::Timer`].
    Timer = 2,
    /// [`Entry::Fetched`].
    Fetched = 3,
    /// [`Entry::Terminated`].
    Terminated = 4,
    /// [`Entry::Ended`].
    Ended = 5,
    /// [`Entry::Began`].
    Began = 6,
}

/// Everything needed to create the session again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// The document the session runs (its source is stored once per content
    /// hash in the journal, so replay runs the same version even if the URL
    /// now serves another).
    pub document: DocumentRef,
    /// Start parameters, in request order: values for top-level `<data>`
    /// (`SessionOptions::params`).
    pub params: Vec<(String, Value)>,
    /// Seed of `Math.random()` and of generated ids.
    pub seed: u64,
    /// Host time of the start request.
    #[serde(with = "millis")]
    pub at: Timestamp,
    /// Host time the interpreter is to start, when the start was scheduled
    /// for later (ORS `idealtime`); `None` starts at once.
    #[serde(with = "millis_opt")]
    pub scheduled: Option<Timestamp>,
    /// The session that invoked this one, if it is an `<invoke>` child.
    pub parent: Option<Parent>,
    /// What else the host needs to recreate the session exactly (its
    /// `_ioprocessors`, request metadata...), in a shape the host chooses:
    /// the journal does not read it. `Undefined` when there is nothing.
    pub host: Value,
}

/// The parent of an invoked session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    /// The parent's session id.
    pub session: String,
    /// The `<invoke>` id in the parent.
    pub invokeid: String,
}

/// Which document a session runs: where it came from and which content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRef {
    /// The URL it was fetched from; `None` for an inline document (a
    /// request body, `<invoke>` `<content>`).
    pub url: Option<String>,
    /// SHA-256 of the source, the key of the stored content.
    pub hash: ContentHash,
}

/// The SHA-256 of a document's source.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash of `source`.
    pub fn of(source: &[u8]) -> Self {
        ContentHash(Sha256::digest(source).into())
    }

    /// Lowercase hex, for logs and APIs.
    pub fn to_hex(&self) -> String {
        use std::fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

/// [`scxml::Data`] in a serializable form; converts both ways without loss.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub enum Value {
    /// ECMAScript `undefined`.
    #[default]
    Undefined,
    /// ECMAScript `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number, NaN and infinities included.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, keys in insertion order.
    Object(Vec<(String, Value)>),
    /// An XML fragment, serialized.
    Xml(String),
}

impl From<&Data> for Value {
    fn from(data: &Data) -> Self {
        match data {
            Data::Undefined => Value::Undefined,
            Data::Null => Value::Null,
            Data::Bool(b) => Value::Bool(*b),
            Data::Number(n) => Value::Number(*n),
            Data::String(s) => Value::String(s.clone()),
            Data::Array(items) => Value::Array(items.iter().map(Value::from).collect()),
            Data::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v)))
                    .collect(),
            ),
            Data::Xml(s) => Value::Xml(s.clone()),
        }
    }
}

impl From<Data> for Value {
    fn from(data: Data) -> Self {
        match data {
            Data::Undefined => Value::Undefined,
            Data::Null => Value::Null,
            Data::Bool(b) => Value::Bool(b),
            Data::Number(n) => Value::Number(n),
            Data::String(s) => Value::String(s),
            Data::Array(items) => Value::Array(items.into_iter().map(Value::from).collect()),
            Data::Object(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, Value::from(v)))
                    .collect(),
            ),
            Data::Xml(s) => Value::Xml(s),
        }
    }
}

impl From<Value> for Data {
    fn from(value: Value) -> Self {
        match value {
            Value::Undefined => Data::Undefined,
            Value::Null => Data::Null,
            Value::Bool(b) => Data::Bool(b),
            Value::Number(n) => Data::Number(n),
            Value::String(s) => Data::String(s),
            Value::Array(items) => Data::Array(items.into_iter().map(Data::from).collect()),
            Value::Object(entries) => Data::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, Data::from(v)))
                    .collect(),
            ),
            Value::Xml(s) => Data::Xml(s),
        }
    }
}

/// [`scxml::Event`] in a serializable form: every `_event` field (§5.10.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// `_event.name`.
    pub name: String,
    /// `_event.type`.
    pub kind: EventKindRecord,
    /// `_event.sendid`.
    pub sendid: Option<String>,
    /// `_event.origin`.
    pub origin: Option<String>,
    /// `_event.origintype`.
    pub origintype: Option<String>,
    /// `_event.invokeid`.
    pub invokeid: Option<String>,
    /// `_event.data`.
    pub data: Value,
    /// `_event.raw`: the message as it arrived (Basic HTTP).
    pub raw: Option<String>,
}

/// [`scxml::EventKind`] in a serializable form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKindRecord {
    /// `platform`.
    Platform,
    /// `internal`.
    Internal,
    /// `external`.
    External,
}

impl From<EventKind> for EventKindRecord {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::Platform => EventKindRecord::Platform,
            EventKind::Internal => EventKindRecord::Internal,
            EventKind::External => EventKindRecord::External,
        }
    }
}

impl From<EventKindRecord> for EventKind {
    fn from(kind: EventKindRecord) -> Self {
        match kind {
            EventKindRecord::Platform => EventKind::Platform,
            EventKindRecord::Internal => EventKind::Internal,
            EventKindRecord::External => EventKind::External,
        }
    }
}

impl From<&Event> for EventRecord {
    fn from(event: &Event) -> Self {
        EventRecord {
            name: event.name.clone(),
            kind: event.kind.into(),
            sendid: event.sendid.clone(),
            origin: event.origin.clone(),
            origintype: event.origintype.clone(),
            invokeid: event.invokeid.clone(),
            data: Value::from(&event.data),
            raw: event.raw.clone(),
        }
    }
}

impl From<Event> for EventRecord {
    fn from(event: Event) -> Self {
        EventRecord {
            name: event.name,
            kind: event.kind.into(),
            sendid: event.sendid,
            origin: event.origin,
            origintype: event.origintype,
            invokeid: event.invokeid,
            data: event.data.into(),
            raw: event.raw,
        }
    }
}

impl From<EventRecord> for Event {
    fn from(record: EventRecord) -> Self {
        Event {
            name: record.name,
            kind: record.kind.into(),
            sendid: record.sendid,
            origin: record.origin,
            origintype: record.origintype,
            invokeid: record.invokeid,
            data: record.data.into(),
            raw: record.raw,
        }
    }
}

/// [`scxml::Outcome`] in a serializable form, plus the host's own failures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OutcomeRecord {
    /// Reached the top-level `<final>` with this id.
    Done {
        /// The id of the `<final>`.
        final_state: String,
    },
    /// The host terminated it.
    Terminated,
    /// Stopped for breaking a limit, or the host could not run it (its
    /// document failed to load, its replay failed).
    Stopped {
        /// What happened.
        reason: String,
    },
}

impl From<&Outcome> for OutcomeRecord {
    fn from(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Done { final_state } => OutcomeRecord::Done {
                final_state: final_state.clone(),
            },
            Outcome::Terminated => OutcomeRecord::Terminated,
            Outcome::Stopped { reason } => OutcomeRecord::Stopped {
                reason: reason.clone(),
            },
        }
    }
}

impl From<OutcomeRecord> for Outcome {
    fn from(record: OutcomeRecord) -> Self {
        match record {
            OutcomeRecord::Done { final_state } => Outcome::Done { final_state },
            OutcomeRecord::Terminated => Outcome::Terminated,
            OutcomeRecord::Stopped { reason } => Outcome::Stopped { reason },
        }
    }
}

/// A session's state after the record `seq`: replay starts from here and
/// applies only the records after it.
///
/// The journal stores and returns snapshots; it does not build or apply
/// them. The fields are those DESIGN.md names (configuration, data model as
/// JSON-like data where it serializes, pending timers, the invoke tree);
/// whatever else the host needs goes in `host`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The session.
    pub session: String,
    /// The last record the snapshot includes.
    pub seq: u64,
    /// Host time it was taken.
    #[serde(with = "millis")]
    pub at: Timestamp,
    /// Active state ids, in document order.
    pub configuration: Vec<String>,
    /// The data model (`Interpreter::data`).
    pub data: Value,
    /// Delayed sends not yet due.
    pub timers: Vec<PendingTimer>,
    /// Active invocations.
    pub invokes: Vec<ActiveInvoke>,
    /// Host-defined state (random generator position, history values,
    /// ...), not read by the journal.
    pub host: Value,
}

/// A delayed `<send>` waiting in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingTimer {
    /// When it falls due.
    #[serde(with = "millis")]
    pub due: Timestamp,
    /// The send id (`<cancel>` needs it).
    pub sendid: Option<String>,
    /// Target, if not the session itself.
    pub target: Option<String>,
    /// The event to send.
    pub event: EventRecord,
}

/// An active `<invoke>` in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveInvoke {
    /// The invoke id.
    pub invokeid: String,
    /// The child's session id, for SCXML children.
    pub session: Option<String>,
    /// Whether events are forwarded to the child (`autoforward`).
    pub autoforward: bool,
}

/// Serde helpers: a [`Timestamp`] is stored as its milliseconds.
mod millis {
    use scxml::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(t.as_millis())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        u64::deserialize(d).map(Timestamp::from_millis)
    }
}

/// Serde helpers for an optional [`Timestamp`].
mod millis_opt {
    use scxml::Timestamp;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        t.map(Timestamp::as_millis).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Timestamp::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_without_loss() {
        let data = Data::Object(vec![
            ("u".into(), Data::Undefined),
            ("n".into(), Data::Null),
            ("nan".into(), Data::Number(f64::NAN)),
            ("x".into(), Data::Xml("<a/>".into())),
            ("s".into(), Data::String("<a/>".into())),
            (
                "a".into(),
                Data::Array(vec![Data::Bool(true), Data::Number(1.5)]),
            ),
        ]);
        let back = Data::from(Value::from(&data));
        // NaN != NaN, so compare the debug forms.
        assert_eq!(format!("{back:?}"), format!("{data:?}"));
    }

    #[test]
    fn events_round_trip_with_every_field() {
        let event = Event {
            name: "done.invoke.i1".into(),
            kind: EventKind::Platform,
            sendid: Some("s1".into()),
            origin: Some("#_scxml_2".into()),
            origintype: Some(scxml::SCXML_EVENT_PROCESSOR.into()),
            invokeid: Some("i1".into()),
            data: Data::from("x"),
            raw: Some("_scxmleventname=done".into()),
        };
        assert_eq!(Event::from(EventRecord::from(&event)), event);
        assert_eq!(Event::from(EventRecord::from(event.clone())), event);
    }

    #[test]
    fn content_hash_is_sha256() {
        assert_eq!(
            ContentHash::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
