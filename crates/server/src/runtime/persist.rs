//! Persistence by journal: every input of a persistent session is appended
//! to the [`journal::Journal`] and fsync'd before the session sees it, and
//! recovery replays a session's records through a fresh interpreter.
//!
//! The hook is the runner's [`SessionFactory`]: [`PersistFactory`] wraps
//! [`EcmaFactory`] and its machines ([`PersistSession`]) write a record in
//! front of each input the runner gives them (`start`, `handle_event`,
//! `handle_timeout`, `terminate`), so every path an input takes — an HTTP
//! event, a `<send>` from another session of the worker or of another
//! worker, a timer firing — is journaled at the receiver, in the order the
//! session saw it, with the `now` it saw (which is what `Date.now()`
//! returns during that macrostep). The worker thread waits for each ticket:
//! the HTTP request that carried an event is answered after its macrostep,
//! hence after its record is durable.
//!
//! Events and starts that arrive by HTTP take a faster path with the same
//! promise: the worker journals a whole batch of them ahead of delivery in
//! one group commit (`worker::batch`; [`PersistSession::journal_ahead`] and
//! [`JournaledStart`]), and the machine then takes each with the time and
//! sequence number it was journaled with, writing nothing more.
//!
//! What is journaled: top-level sessions started by the server whose
//! document does not say `_persist="false"` on `<scxml>` (ORS). Invoked
//! children are not journaled on their own: at recovery the parent's replay
//! finds which `<invoke>`s were still active and invokes them again, so a
//! child restarts from its initial state (its inputs from outside its
//! parent — its own timers, events from other sessions — are not replayed).
//! Journaling children faithfully needs the runner to re-attach a replayed
//! child to its parent; until then this is the documented limit.
//!
//! The start record is written by the machine's `start`, with the time the
//! initial macrostep gets (for a scheduled start, when it really started;
//! `Start::scheduled` keeps the `idealtime`). A start still waiting for its
//! `idealtime` is not journaled yet: a crash before it loses it.
//!
//! Replay rule: while a session is replayed every action it makes is
//! dropped — logs are not printed again, sends to other sessions and HTTP
//! posts are not made again (what other sessions received was journaled by
//! them), delayed sends are kept inside the interpreter and fire when due.
//! Only the `<invoke>`s still active at the end are carried out again.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use journal::{ContentHash, DocumentRef, Entry, Journal, Record, Recovered, Start, Value};
use runner::{EcmaFactory, EcmaSession, Machine, SessionFactory};
use scxml::{Action, Data, DataModelError, Document, Event, Outcome, SessionOptions, Timestamp};

/// What the worker tells the factory about the session it is about to
/// create (the runner's `spawn` cannot carry it).
pub(crate) struct StartInfo {
    /// The `src` of the start request.
    pub(crate) src: String,
    /// The document's source text and hash; `None`: not journaled.
    pub(crate) source: Option<(Arc<str>, ContentHash)>,
    /// When the start was requested and, if scheduled, for when.
    pub(crate) created: Timestamp,
    pub(crate) scheduled: Option<Timestamp>,
    /// Set when the worker journaled the start itself, in a group commit
    /// (see `worker::batch`): the session runs with this seed and starts at
    /// this time, and writes no start record.
    pub(crate) journaled: Option<JournaledStart>,
}

/// A start the worker journaled before creating the session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JournaledStart {
    /// The `Math.random()` seed in the record.
    pub(crate) seed: u64,
    /// The time of the initial macrostep in the record.
    pub(crate) at: Timestamp,
}

/// The start record of a top-level session of the server.
pub(crate) fn start_record(
    src: String,
    hash: ContentHash,
    params: &[(String, Data)],
    seed: u64,
    at: Timestamp,
    scheduled: Option<Timestamp>,
) -> Start {
    Start {
        document: DocumentRef {
            url: Some(src),
            hash,
        },
        params: params
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v)))
            .collect(),
        seed,
        at,
        scheduled,
        parent: None,
        host: Value::Undefined,
    }
}

/// State the worker and its factory share (same thread).
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) journal: Option<Journal>,
    /// Set right before a top-level spawn.
    pub(crate) next_start: Option<StartInfo>,
    /// Set right before a recovered session is created again.
    pub(crate) next_replay: Option<Recovered>,
    /// Traces collected while replaying, when asked for.
    pub(crate) trace: Option<Vec<TraceStep>>,
}

/// One replayed input and what the session did with it (for
/// `GET /sessions/{id}/trace` and `orca replay`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceStep {
    /// Position in the journal.
    pub seq: u64,
    /// `start`, `event`, `timer`, `terminate`.
    pub input: &'static str,
    /// The event name, for events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Host time of the input (ms since the Unix epoch).
    pub at: u64,
    /// Active atomic states after the macrostep.
    pub states: Vec<String>,
    /// The actions the macrostep made (dropped by replay), in words.
    pub actions: Vec<String>,
}

pub(crate) type SharedRef = Rc<RefCell<Shared>>;

/// Makes [`PersistSession`]s.
pub(crate) struct PersistFactory {
    inner: EcmaFactory,
    shared: SharedRef,
}

impl PersistFactory {
    pub(crate) fn new(inner: EcmaFactory, shared: SharedRef) -> Self {
        PersistFactory { inner, shared }
    }

    /// The `Math.random()` seed of the next session, for a start the worker
    /// journals before creating it.
    pub(crate) fn next_seed(&mut self) -> u64 {
        self.inner.next_seed()
    }
}

/// A session's position in its journal.
struct SessionLog {
    journal: Journal,
    id: String,
    next_seq: u64,
    ended: bool,
}

impl SessionLog {
    /// Appends `entry` and waits until it is durable.
    fn write(&mut self, entry: Entry) {
        let record = Record::new(self.id.clone(), self.next_seq, entry);
        self.next_seq += 1;
        if let Err(e) = self.journal.append(record).wait() {
            // The session goes on (refusing the input would not make it
            // durable either); the operator sees why recovery will miss it.
            tracing::error!(session = %self.id, "journal append failed: {e}");
        }
    }
}

/// An interpreter whose inputs are journaled first.
pub(crate) struct PersistSession {
    inner: EcmaSession,
    log: Option<SessionLog>,
    /// Replayed from the journal: the runner's `start` must not start it again.
    replayed: bool,
    /// `<invoke>`s to carry out again after a replay.
    reinvoke: VecDeque<Action>,
    /// The start record, written by `start` with the time the initial
    /// macrostep really gets (the runner reads its clock after creating).
    pending_start: Option<(Start, Arc<str>)>,
    /// Inputs journaled ahead of delivery (see [`Self::journal_ahead`]).
    ahead: Ahead,
}

/// Inputs of one session that the worker journaled in a group commit before
/// handing them to the runner (`worker::batch`), so that several requests
/// share one fsync.
#[derive(Default)]
struct Ahead {
    /// The time of the initial macrostep, when the start was journaled so.
    start_at: Option<Timestamp>,
    /// Events journaled and enqueued, oldest first, with their journaled
    /// time. The runner's queue holds the same events: the worker only
    /// journals ahead for a session whose queue is empty, so they are the
    /// next events the runner hands over.
    events: VecDeque<(Timestamp, Event)>,
    /// Events taken from `events` before the runner handed them over (an
    /// input that is not a queued event came first); their copies still in
    /// the runner's queue are skipped.
    taken: usize,
}

impl PersistSession {
    /// Makes `event`, about to be enqueued for this session, its next
    /// journaled input, and answers the record for the worker to append in
    /// its group; the caller must not enqueue it before the record is
    /// durable. The session will process it with `at` as its time. `None`
    /// when the session is not journaled, or has ended.
    pub(crate) fn journal_ahead(&mut self, event: &Event, at: Timestamp) -> Option<Record> {
        let log = self.log.as_mut().filter(|l| !l.ended)?;
        let record = Record::new(
            log.id.clone(),
            log.next_seq,
            Entry::Event {
                event: event.into(),
                at,
            },
        );
        log.next_seq += 1;
        self.ahead.events.push_back((at, event.clone()));
        Some(record)
    }

    /// Before an input other than a queued event: the events journaled
    /// ahead precede it in the journal, so the session takes them first
    /// (their actions are carried out with the input's). Only a termination
    /// (ORS `<session:terminate>` from another session) or a timer can come
    /// between journaling ahead and delivery.
    fn catch_up(&mut self) {
        while let Some((at, event)) = self.ahead.events.pop_front() {
            self.ahead.taken += 1;
            self.inner.handle_event(at, event);
            self.after_input(at);
        }
    }
}

impl PersistSession {
    /// After an input: an ended session gets its `Ended` record.
    fn after_input(&mut self, now: Timestamp) {
        if self.inner.is_running() {
            return;
        }
        let outcome = self.inner.outcome().cloned();
        if let Some(log) = self.log.as_mut().filter(|l| !l.ended) {
            log.ended = true;
            let outcome = outcome.unwrap_or(Outcome::Terminated);
            let record = Record::new(
                log.id.clone(),
                log.next_seq,
                Entry::Ended {
                    outcome: (&outcome).into(),
                    at: now,
                },
            );
            log.next_seq += 1;
            // Nothing waits on the end: losing it to a crash only means the
            // session is replayed to its end once more at recovery.
            drop(log.journal.append(record));
        }
    }
}

impl SessionFactory for PersistFactory {
    type Machine = PersistSession;

    fn create(
        &mut self,
        document: Arc<Document>,
        mut options: SessionOptions,
    ) -> Result<PersistSession, DataModelError> {
        let (journal, start, replay) = {
            let mut shared = self.shared.borrow_mut();
            (
                shared.journal.clone(),
                shared.next_start.take(),
                shared.next_replay.take(),
            )
        };
        if let Some(recovered) = replay {
            return self.replay(document, options, recovered, journal);
        }
        let journaled = start.as_ref().and_then(|s| s.journaled);
        let seed = match journaled {
            Some(journaled) => journaled.seed,
            None => self.inner.next_seed(),
        };
        let params = options.params.clone();
        let id = options.session_id.clone();
        let mut pending_start = None;
        let log = match (journal, start) {
            (
                Some(journal),
                Some(StartInfo {
                    src,
                    source: Some((text, hash)),
                    created,
                    scheduled,
                    journaled,
                }),
            ) => {
                if journaled.is_none() {
                    let start = start_record(src, hash, &params, seed, created, scheduled);
                    pending_start = Some((start, text));
                }
                Some(SessionLog {
                    journal,
                    id,
                    next_seq: 1,
                    ended: false,
                })
            }
            _ => None,
        };
        options.params = params;
        let inner = self.inner.create_seeded(document, options, seed)?;
        Ok(PersistSession {
            inner,
            log,
            replayed: false,
            reinvoke: VecDeque::new(),
            pending_start,
            ahead: Ahead {
                start_at: journaled.map(|j| j.at),
                ..Ahead::default()
            },
        })
    }

    fn release(&mut self, machine: PersistSession) {
        self.inner.release(machine.inner);
    }

    fn collect_garbage(&mut self) {
        self.inner.collect_garbage();
    }
}

impl PersistFactory {
    /// Re-creates a journaled session and runs its records through it.
    fn replay(
        &mut self,
        document: Arc<Document>,
        mut options: SessionOptions,
        recovered: Recovered,
        journal: Option<Journal>,
    ) -> Result<PersistSession, DataModelError> {
        let next_seq = recovered.next_seq();
        let Recovered {
            session,
            start,
            records,
            ..
        } = recovered;
        options.params = start
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Data::from(v.clone())))
            .collect();
        let mut inner = self.inner.create_seeded(document, options, start.seed)?;
        let mut trace = self.shared.borrow_mut().trace.take();
        let mut invokes: Vec<Action> = Vec::new();
        inner.start(start.at);
        drain(
            &mut inner,
            &mut invokes,
            trace.as_mut(),
            0,
            "start",
            None,
            start.at,
        );
        let mut ended = false;
        let mut last_at = start.at;
        for record in records {
            let at = record.entry.at();
            last_at = at;
            let (input, name) = match record.entry {
                Entry::Started(_) | Entry::Fetched { .. } => continue,
                Entry::Ended { .. } => {
                    ended = true;
                    break;
                }
                Entry::Event { event, at } => {
                    let event: Event = event.into();
                    let name = event.name.clone();
                    // A child's done.invoke ends its invoke.
                    if let Some(invokeid) = event.invokeid.as_deref() {
                        if name.starts_with("done.invoke") {
                            invokes.retain(
                                |a| !matches!(a, Action::Invoke(r) if r.invokeid == invokeid),
                            );
                        }
                    }
                    inner.handle_event(at, event);
                    ("event", Some(name))
                }
                Entry::Timer { at } => {
                    inner.handle_timeout(at);
                    ("timer", None)
                }
                Entry::Terminated { at } => {
                    inner.terminate(at);
                    ("terminate", None)
                }
            };
            drain(
                &mut inner,
                &mut invokes,
                trace.as_mut(),
                record.seq,
                input,
                name,
                at,
            );
        }
        self.shared.borrow_mut().trace = trace;
        let log = journal.map(|journal| SessionLog {
            journal,
            id: session,
            next_seq,
            ended,
        });
        let mut session = PersistSession {
            inner,
            log,
            replayed: true,
            reinvoke: invokes.into(),
            pending_start: None,
            ahead: Ahead::default(),
        };
        // Ended before the crash but its end record was lost: write it now,
        // so that the session is not recovered again.
        session.after_input(last_at);
        Ok(session)
    }
}

/// Drops the actions of a replayed macrostep, keeping track of the
/// `<invoke>`s still active and noting the step in the trace.
fn drain(
    inner: &mut EcmaSession,
    invokes: &mut Vec<Action>,
    trace: Option<&mut Vec<TraceStep>>,
    seq: u64,
    input: &'static str,
    event: Option<String>,
    at: Timestamp,
) {
    let mut actions = Vec::new();
    while let Some(action) = inner.poll_action() {
        if trace.is_some() {
            actions.push(describe(&action));
        }
        match action {
            Action::Invoke(request) => invokes.push(Action::Invoke(request)),
            Action::CancelInvoke { invokeid, .. } => {
                invokes.retain(|a| !matches!(a, Action::Invoke(r) if r.invokeid == invokeid));
            }
            _ => {}
        }
    }
    if let Some(trace) = trace {
        trace.push(TraceStep {
            seq,
            input,
            event,
            at: at.as_millis(),
            states: inner
                .configuration()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            actions,
        });
    }
}

/// An action in a few words, for traces.
fn describe(action: &Action) -> String {
    let text = format!("{action:?}");
    // Debug output of data can be long; a trace line stays readable.
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

impl Machine for PersistSession {
    fn start(&mut self, now: Timestamp) {
        if self.replayed {
            return;
        }
        if let Some(at) = self.ahead.start_at.take() {
            // Journaled by the worker with this time.
            self.inner.start(at);
            self.after_input(at);
            return;
        }
        if let (Some((mut start, text)), Some(log)) = (self.pending_start.take(), self.log.as_ref())
        {
            start.at = now;
            if let Err(e) = log.journal.start(&log.id, start, text).wait() {
                tracing::error!(session = %log.id, "journal start failed: {e}");
            }
        }
        self.inner.start(now);
        self.after_input(now);
    }

    fn handle_event(&mut self, now: Timestamp, event: Event) {
        if self.ahead.taken > 0 {
            // The runner's copy of an event `catch_up` took already.
            self.ahead.taken -= 1;
            return;
        }
        if let Some((at, journaled)) = self.ahead.events.pop_front() {
            // `event` is the runner's copy of the event journaled ahead.
            debug_assert_eq!(event.name, journaled.name);
            self.inner.handle_event(at, journaled);
            self.after_input(at);
            return;
        }
        if let Some(log) = self.log.as_mut().filter(|l| !l.ended) {
            log.write(Entry::Event {
                event: (&event).into(),
                at: now,
            });
        }
        self.inner.handle_event(now, event);
        self.after_input(now);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.catch_up();
        if let Some(log) = self.log.as_mut().filter(|l| !l.ended) {
            log.write(Entry::Timer { at: now });
        }
        self.inner.handle_timeout(now);
        self.after_input(now);
    }

    fn terminate(&mut self, now: Timestamp) {
        self.catch_up();
        if let Some(log) = self.log.as_mut().filter(|l| !l.ended) {
            log.write(Entry::Terminated { at: now });
        }
        self.inner.terminate(now);
        self.after_input(now);
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.reinvoke
            .pop_front()
            .or_else(|| self.inner.poll_action())
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.inner.poll_timeout()
    }

    fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    fn outcome(&self) -> Option<&Outcome> {
        self.inner.outcome()
    }

    fn configuration(&self) -> Vec<&str> {
        self.inner.configuration()
    }

    fn document(&self) -> &Arc<Document> {
        self.inner.document()
    }

    fn data(&mut self) -> Data {
        self.inner.data()
    }
}

/// The source text and hash of documents, read once per parsed document
/// (the server's document source hands out parsed documents only), with
/// whether `<scxml>` says `_persist="false"`.
#[derive(Default)]
pub(crate) struct Sources {
    by_name: HashMap<String, Option<(Arc<str>, ContentHash)>>,
}

impl Sources {
    /// The text to journal for `document`, `None` when it is not to be
    /// journaled (`_persist="false"`) or cannot be read again.
    pub(crate) fn of(&mut self, document: &Document) -> Option<(Arc<str>, ContentHash)> {
        let name = &document.source_name;
        if let Some(known) = self.by_name.get(name) {
            return known.clone();
        }
        let path = name.strip_prefix("file://").unwrap_or(name);
        let found = match std::fs::read_to_string(path) {
            Ok(text) if persists(&text) => {
                let hash = ContentHash::of(text.as_bytes());
                Some((Arc::from(text), hash))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(document = %name, "cannot read the document again to journal it: {e}");
                None
            }
        };
        self.by_name.insert(name.clone(), found.clone());
        found
    }
}

/// Whether a document's `<scxml>` start tag lacks `_persist="false"`
/// (ors-dialect.md §5). Read from the text: the parsed model keeps no
/// unknown attributes.
pub(crate) fn persists(text: &str) -> bool {
    let Some(open) = text.find("<scxml") else {
        return true;
    };
    let tag = match text[open..].find('>') {
        Some(end) => &text[open..open + end],
        None => &text[open..],
    };
    let Some(at) = tag.find("_persist") else {
        return true;
    };
    let value = tag[at + "_persist".len()..]
        .trim_start()
        .trim_start_matches('=')
        .trim_start();
    !(value.starts_with("\"false\"") || value.starts_with("'false'"))
}

/// Parses journaled documents once per content hash.
#[derive(Default)]
pub(crate) struct Documents {
    by_hash: HashMap<ContentHash, Arc<Document>>,
}

impl Documents {
    pub(crate) fn get(
        &mut self,
        journal: &Journal,
        document: &DocumentRef,
    ) -> Result<Arc<Document>, String> {
        if let Some(found) = self.by_hash.get(&document.hash) {
            return Ok(Arc::clone(found));
        }
        let text = journal
            .document(&document.hash)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("document {} is not in the journal", document.hash.to_hex()))?;
        let name = document.url.clone().unwrap_or_else(|| "inline".to_owned());
        let name = name
            .strip_prefix("file://")
            .map(str::to_owned)
            .unwrap_or(name);
        let parsed = scxml::document::parse(&text, &name, &scxml::document::FileLoader)
            .map_err(|e| e.to_string())?;
        let parsed = Arc::new(parsed);
        self.by_hash.insert(document.hash, Arc::clone(&parsed));
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::persists;

    #[test]
    fn reads_persist_false_from_the_scxml_tag() {
        assert!(persists("<scxml xmlns='x'/>"));
        assert!(!persists("<scxml _persist=\"false\" xmlns='x'>"));
        assert!(!persists("<?xml?><scxml xmlns='x' _persist = 'false'>"));
        assert!(persists("<scxml _persist=\"true\">"));
        assert!(persists("<scxml><state _persist='false'/></scxml>"));
    }
}
