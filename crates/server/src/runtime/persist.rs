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
//! Events and starts that arrive by HTTP commands take a faster path with
//! the same promise: the worker journals a whole batch of them ahead of
//! delivery in one group commit (`worker::batch`;
//! [`PersistSession::journal_ahead`] and [`Journaling::Grouped`]), and the
//! machine then takes each with the time and sequence number it was
//! journaled with, writing nothing more. Every other input (a `<send>`, a
//! Basic HTTP POST, an ORS request's completion, a timer) is journaled when
//! the session takes it, as above.
//!
//! What is journaled: top-level sessions started by the server whose
//! document does not say `_persist="false"` on `<scxml>` (ORS), and the
//! sessions they invoke (`<invoke type="scxml">`), each under its own id,
//! with its parent and invoke id in its start record and its document found
//! again as [`super::journaled`] says (a child whose document says
//! `_persist="false"` is not journaled, and is invoked afresh at recovery).
//! At recovery the worker reserves each live child's id for its parent's
//! `<invoke>`; the parent's replay ends with its active invocations, which
//! the runner carries out again, and the factory then rebuilds the child
//! from its own journal instead of starting it anew.
//!
//! The start record is written by the machine's `start`, with the time the
//! initial macrostep gets. A start scheduled for later (ORS `idealtime`) is
//! journaled when it is accepted (`Start::scheduled` later than `Start::at`),
//! with the events sent to it while it waits; when its time comes the
//! machine appends [`Entry::Began`], starts, and takes those events.
//!
//! Snapshots (see [`super::snapshots`]): a journaled session puts itself on
//! its worker's due list every `journal_snapshot_every` records, and the
//! worker snapshots it once it is idle; a session with a snapshot is
//! restored from it ([`SessionFactory::restore`], or in `create_child` for
//! a child invoked again) and replays only the records after it.
//!
//! Replay rule: while a session is replayed every action it makes is
//! dropped — logs are not printed again, sends to other sessions and HTTP
//! posts are not made again (what other sessions received was journaled by
//! them), delayed sends are kept inside the interpreter and fire when due.
//! Only the `<invoke>`s still active at the end are carried out again, and
//! the ORS requests still under way get the events [`super::inflight`]
//! decides, as the session's first inputs after recovery.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use journal::{ContentHash, DocumentRef, Entry, Journal, Parent, Record, Recovered, Start, Value};
use runner::{ChildOrigin, EcmaFactory, EcmaSession, Machine, SessionFactory};
use scxml::{
    Action, Data, DataModelError, Document, Event, NotSnapshottable, Observer, Outcome,
    RestoreError, SessionOptions, Snapshot, Timestamp,
};

use super::inflight::InFlight;
use super::journaled::{Documents, JournaledDocument};
use super::replay::Inputs;
use super::snapshots::{DueList, Schedule, ServerSnapshot};

/// What the worker tells the factory about the top-level session it is
/// about to create (the runner's `spawn` cannot carry it).
pub(crate) struct StartInfo {
    /// The `src` of the start request.
    pub(crate) src: String,
    /// Whether and how the session is journaled.
    pub(crate) journaling: Journaling,
    /// When the start was requested and, if scheduled, for when.
    pub(crate) created: Timestamp,
    pub(crate) scheduled: Option<Timestamp>,
    /// Events sent to a scheduled session while it waited, taken right
    /// after its initial macrostep.
    pub(crate) waiting: Vec<Event>,
}

/// Whether and how a new top-level session is journaled.
pub(crate) enum Journaling {
    /// Not journaled (no journal, `_persist="false"`, an unreadable source).
    Off,
    /// A new journal: the start record, with this source, is written when
    /// the session starts.
    New { text: Arc<str>, hash: ContentHash },
    /// A scheduled start whose start record (and waiting events) were
    /// journaled when it was accepted: the session appends `Began`.
    Accepted {
        document: JournaledDocument,
        seed: u64,
        next_seq: u64,
    },
    /// A new journal whose start record, with this source, the worker wrote
    /// itself in a group commit (see `worker::batch`): the session runs with
    /// that record's seed and starts at its time, and writes no start
    /// record.
    Grouped {
        text: Arc<str>,
        hash: ContentHash,
        start: JournaledStart,
    },
}

/// A start the worker journaled before creating the session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JournaledStart {
    /// The `Math.random()` seed in the record.
    pub(crate) seed: u64,
    /// The time of the initial macrostep in the record.
    pub(crate) at: Timestamp,
}

/// The start record of a top-level session of the server (`scheduled` for
/// a start accepted for later).
pub(crate) fn start_record(
    document: DocumentRef,
    params: &[(String, Data)],
    seed: u64,
    at: Timestamp,
    scheduled: Option<Timestamp>,
) -> Start {
    Start {
        document,
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

/// A journaled session to bring back: what the journal holds of it, with
/// its newest snapshot's server state when recovery uses it.
pub(crate) struct Resume {
    pub(crate) recovered: Recovered,
    pub(crate) snapshot: Option<ServerSnapshot>,
}

/// State the worker and its factory share (same thread).
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) journal: Option<Journal>,
    /// Records between two snapshots of a journaled session (0: none).
    pub(crate) snapshot_every: u64,
    /// Sessions due for a snapshot.
    pub(crate) due: DueList,
    /// Set right before a top-level spawn.
    pub(crate) next_start: Option<StartInfo>,
    /// Set right before a recovered session is created (replayed from its
    /// start) or restored (from its snapshot) again.
    pub(crate) next_replay: Option<Resume>,
    /// Live journaled children found at recovery, by session id: their
    /// parents' replays invoke them again, or (running when their parent's
    /// snapshot was taken) the worker restores them.
    pub(crate) recovered_children: HashMap<String, Resume>,
    /// Children of sessions restored from snapshots, still running after
    /// their parent's later records: (parent, invoke id, child), for the
    /// worker to restore from their own snapshots.
    pub(crate) restore_children: Vec<(String, String, String)>,
    /// Records replayed at recovery, and sessions restored from snapshots.
    pub(crate) replayed_records: u64,
    pub(crate) restored_snapshots: u64,
    /// The journaled sessions alive on this worker, by id, with where
    /// their document is (their children's start records name it).
    pub(crate) journaled: HashMap<String, JournaledDocument>,
    /// Journaled documents, parsed once per hash.
    pub(crate) documents: Documents,
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

    /// The `Math.random()` seed of the next session (for a start journaled
    /// before its session exists: scheduled, or in a group commit).
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
    /// When it is due for a snapshot (`None`: snapshots off).
    schedule: Option<Schedule>,
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

/// What a session's `start` writes before its initial macrostep.
enum Opening {
    /// Nothing (not journaled, or replayed).
    Nothing,
    /// Its start record, with the time of the initial macrostep.
    Start(Box<Start>, Arc<str>),
    /// `Began`: its start record was written when it was scheduled.
    Began,
}

/// An interpreter whose inputs are journaled first.
pub(crate) struct PersistSession {
    inner: EcmaSession,
    id: String,
    log: Option<SessionLog>,
    /// Replayed from the journal: the runner's `start` must not start it again.
    replayed: bool,
    /// `<invoke>`s to carry out again after a replay.
    reinvoke: VecDeque<Action>,
    /// ORS requests the replay found under way, completed at `start`.
    interrupted: InFlight,
    opening: Opening,
    /// Events sent while it waited for its scheduled start, taken in its
    /// start input right after the initial macrostep.
    waiting: Vec<Event>,
    /// Inputs journaled ahead of delivery (see [`Self::journal_ahead`]).
    ahead: Ahead,
    /// The ORS requests under way, followed while it is journaled, for its
    /// snapshots.
    requests: InFlight,
}

/// Where a session stands for a snapshot: its last record, and its ORS
/// requests under way.
pub(crate) struct SnapshotPoint {
    pub(crate) seq: u64,
    pub(crate) requests: InFlight,
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
    /// journals ahead for a session whose queue is empty and that no
    /// pending send holds, and enqueues them before anything else can be,
    /// so they are the next events the runner hands over.
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
    /// (their actions are carried out with the input's). Every other input
    /// reaches the session through its runner queue, behind them; only a
    /// termination (ORS `<session:terminate>` from another session of the
    /// worker) or a timer can come between journaling ahead and delivery.
    fn catch_up(&mut self) {
        while let Some((at, event)) = self.ahead.events.pop_front() {
            self.ahead.taken += 1;
            self.deliver(at, event);
            self.after_input(at);
        }
    }

    /// Hands an event to the interpreter.
    fn deliver(&mut self, now: Timestamp, event: Event) {
        if self.log.is_some() {
            self.requests.note_event(&event);
        }
        self.inner.handle_event(now, event);
    }

    /// Where the session stands for a snapshot; `None` when it is not
    /// journaled, has ended, or has inputs or actions of this layer still
    /// waiting (it is due again at the next idle moment).
    pub(crate) fn snapshot_point(&self) -> Option<SnapshotPoint> {
        let log = self.log.as_ref().filter(|l| !l.ended)?;
        let quiet = self.ahead.events.is_empty()
            && self.ahead.taken == 0
            && self.ahead.start_at.is_none()
            && self.reinvoke.is_empty()
            && self.interrupted.is_empty()
            && self.waiting.is_empty()
            && matches!(self.opening, Opening::Nothing)
            && self.inner.is_running();
        quiet.then(|| SnapshotPoint {
            seq: log.next_seq - 1,
            requests: self.requests.clone(),
        })
    }

    /// Whether the session is journaled (and so can be snapshotted): an
    /// event it takes is durable before it is processed.
    pub(crate) fn is_journaled(&self) -> bool {
        self.log.as_ref().is_some_and(|l| !l.ended)
    }

    /// A snapshot at `seq` was stored or refused: the next one is due
    /// `journal_snapshot_every` records later.
    pub(crate) fn snapshot_attempted(&mut self, seq: u64) {
        if let Some(schedule) = self.log.as_mut().and_then(|l| l.schedule.as_mut()) {
            schedule.attempted(seq);
        }
    }

    /// The snapshot could not be taken now: due again at the next idle
    /// moment.
    pub(crate) fn snapshot_put_off(&mut self) {
        if let Some(log) = self.log.as_mut() {
            if let Some(schedule) = log.schedule.as_mut() {
                schedule.requeue(&log.id);
            }
        }
    }

    /// ORS requests a restored session found under way: their completion
    /// events, for the worker to enqueue (a restored session is not
    /// started, so [`Machine::start`] cannot give them).
    pub(crate) fn take_interrupted(&mut self) -> Vec<Event> {
        let inflight = std::mem::take(&mut self.interrupted);
        let journal = self.log.as_ref().map(|l| l.journal.clone());
        inflight.into_events(journal.as_ref())
    }

    /// Journals `event` as the session's next input, then processes it.
    fn take_event(&mut self, now: Timestamp, event: Event) {
        if let Some(log) = self.log.as_mut().filter(|l| !l.ended) {
            log.write(Entry::Event {
                event: (&event).into(),
                at: now,
            });
        }
        self.deliver(now, event);
        self.after_input(now);
    }
}

impl PersistSession {
    /// A session that journals nothing, for replays: `waiting` are the
    /// events it gets right after its initial macrostep.
    pub(crate) fn unjournaled(inner: EcmaSession, id: String, waiting: Vec<Event>) -> Self {
        PersistSession {
            inner,
            id,
            log: None,
            replayed: false,
            reinvoke: VecDeque::new(),
            interrupted: InFlight::default(),
            opening: Opening::Nothing,
            waiting,
            ahead: Ahead::default(),
            requests: InFlight::default(),
        }
    }

    /// The interpreter, for the factory that made it to take back.
    pub(crate) fn into_inner(self) -> EcmaSession {
        self.inner
    }

    /// After an input: an ended session gets its `Ended` record.
    fn after_input(&mut self, now: Timestamp) {
        if self.inner.is_running() {
            if let Some(log) = self.log.as_mut() {
                if let Some(schedule) = log.schedule.as_mut() {
                    schedule.after(&log.id, log.next_seq - 1);
                }
            }
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
        if let Some(resume) = replay {
            let journaled =
                self.journaled_document(journal.as_ref(), &resume.recovered.start, &document);
            return self
                .recover(document, options, resume, journal, journaled)
                .map_err(|e| DataModelError::Script(e.to_string()));
        }
        let id = options.session_id.clone();
        let Some(info) = start else {
            // No start information from the worker: not journaled.
            let inner = self.inner.create(document, options)?;
            return Ok(PersistSession::unjournaled(inner, id, Vec::new()));
        };
        let params = options.params.clone();
        let mut start_at = None;
        let (seed, opening, next_seq, journaled) = match (journal.is_some(), info.journaling) {
            (true, Journaling::New { text, hash }) => {
                let reference = DocumentRef {
                    url: Some(info.src),
                    hash,
                };
                let seed = self.inner.next_seed();
                let start = start_record(
                    reference.clone(),
                    &params,
                    seed,
                    info.created,
                    info.scheduled,
                );
                let journaled = JournaledDocument::top_level(reference, &text, &document);
                let opening = Opening::Start(Box::new(start), text);
                (seed, opening, 1, Some(journaled))
            }
            (true, Journaling::Grouped { text, hash, start }) => {
                let reference = DocumentRef {
                    url: Some(info.src),
                    hash,
                };
                let journaled = JournaledDocument::top_level(reference, &text, &document);
                start_at = Some(start.at);
                (start.seed, Opening::Nothing, 1, Some(journaled))
            }
            (
                true,
                Journaling::Accepted {
                    document: journaled,
                    seed,
                    next_seq,
                },
            ) => (seed, Opening::Began, next_seq, Some(journaled)),
            _ => (self.inner.next_seed(), Opening::Nothing, 0, None),
        };
        options.params = params;
        let inner = self.inner.create_seeded(document, options, seed)?;
        let mut session = PersistSession::unjournaled(inner, id, info.waiting);
        if let (Some(journal), Some(journaled)) = (journal, journaled) {
            session.opening = opening;
            session.ahead.start_at = start_at;
            session.log = Some(self.log(journal, &session.id, next_seq, 0));
            self.shared
                .borrow_mut()
                .journaled
                .insert(session.id.clone(), journaled);
        }
        Ok(session)
    }

    fn create_child(
        &mut self,
        document: Arc<Document>,
        options: SessionOptions,
        origin: &ChildOrigin<'_>,
    ) -> Result<PersistSession, DataModelError> {
        let (journal, recovered, parent) = {
            let mut shared = self.shared.borrow_mut();
            (
                shared.journal.clone(),
                shared.recovered_children.remove(&options.session_id),
                shared.journaled.get(origin.parent).cloned(),
            )
        };
        if let Some(resume) = recovered {
            let journaled =
                self.journaled_document(journal.as_ref(), &resume.recovered.start, &document);
            // Its journaled document, so that a changed `src` cannot swap
            // the document under its records.
            let document = journaled
                .as_ref()
                .map_or(document, |j| Arc::clone(&j.document));
            return self
                .recover(document, options, resume, journal, journaled)
                .map_err(|e| DataModelError::Script(e.to_string()));
        }
        let id = options.session_id.clone();
        let child = match (&journal, &parent) {
            (Some(_), Some(parent)) => parent
                .child(&document, &origin.source)
                .filter(|child| persists(&child.text)),
            _ => None,
        };
        let seed = self.inner.next_seed();
        let start = child.as_ref().map(|child| Start {
            document: child.reference.clone(),
            params: options
                .params
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v)))
                .collect(),
            seed,
            // Set by `start` to the time of the initial macrostep.
            at: Timestamp::default(),
            scheduled: None,
            parent: Some(Parent {
                session: origin.parent.to_owned(),
                invokeid: origin.invokeid.to_owned(),
            }),
            host: child.host.clone(),
        });
        let inner = self.inner.create_seeded(document, options, seed)?;
        let mut session = PersistSession::unjournaled(inner, id, Vec::new());
        if let (Some(journal), Some(child), Some(start)) = (journal, child, start) {
            session.opening = Opening::Start(Box::new(start), child.text);
            session.log = Some(self.log(journal, &session.id, 1, 0));
            self.shared
                .borrow_mut()
                .journaled
                .insert(session.id.clone(), child.journaled);
        }
        Ok(session)
    }

    /// A session restored from its snapshot by the worker
    /// ([`runner::Runner::restore_session`]): the snapshot is the one in
    /// [`Shared::next_replay`], whose later records are replayed.
    fn restore(
        &mut self,
        document: Arc<Document>,
        options: SessionOptions,
        snapshot: &Snapshot,
    ) -> Result<PersistSession, RestoreError> {
        let (journal, replay) = {
            let mut shared = self.shared.borrow_mut();
            (shared.journal.clone(), shared.next_replay.take())
        };
        let Some(resume) = replay.filter(|r| r.snapshot.is_some()) else {
            // Not a recovery: nothing to replay or journal.
            let id = options.session_id.clone();
            let inner = self.inner.restore(document, options, snapshot)?;
            return Ok(PersistSession::unjournaled(inner, id, Vec::new()));
        };
        let journaled =
            self.journaled_document(journal.as_ref(), &resume.recovered.start, &document);
        self.recover(document, options, resume, journal, journaled)
    }

    fn release(&mut self, machine: PersistSession) {
        if machine.log.is_some() {
            self.shared.borrow_mut().journaled.remove(&machine.id);
        }
        self.inner.release(machine.inner);
    }

    fn collect_garbage(&mut self) {
        self.inner.collect_garbage();
    }
}

impl PersistFactory {
    /// Where a recovered session's document is in the journal; `None` (its
    /// children are then not journaled) if the journal cannot say.
    fn journaled_document(
        &mut self,
        journal: Option<&Journal>,
        start: &Start,
        document: &Arc<Document>,
    ) -> Option<JournaledDocument> {
        let journal = journal?;
        match self.shared.borrow_mut().documents.of_start(journal, start) {
            Ok(journaled) => Some(journaled),
            Err(e) => {
                tracing::warn!(document = %document.source_name, "journaled document not found: {e}");
                None
            }
        }
    }

    /// The journal position of a journaled session.
    fn log(&self, journal: Journal, id: &str, next_seq: u64, last_snapshot: u64) -> SessionLog {
        let shared = self.shared.borrow();
        SessionLog {
            journal,
            id: id.to_owned(),
            next_seq,
            ended: false,
            schedule: Schedule::new(shared.snapshot_every, last_snapshot, &shared.due),
        }
    }

    /// Re-creates a journaled session, from its snapshot when it has one,
    /// and runs its (later) records through it.
    fn recover(
        &mut self,
        document: Arc<Document>,
        mut options: SessionOptions,
        resume: Resume,
        journal: Option<Journal>,
        journaled: Option<JournaledDocument>,
    ) -> Result<PersistSession, RestoreError> {
        let Resume {
            recovered,
            snapshot,
        } = resume;
        let next_seq = recovered.next_seq();
        let snapshot_seq = recovered.snapshot.as_ref().map_or(0, |s| s.seq);
        let snapshot_at = recovered.snapshot.as_ref().map(|s| s.at);
        let Recovered {
            session: id,
            start,
            records,
            ..
        } = recovered;
        options.params = start
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Data::from(v.clone())))
            .collect();
        let replayed = records.len() as u64;
        let (inner, inputs, requests, children) = match (snapshot, snapshot_at) {
            (Some(snapshot), Some(at)) => {
                let inner = self
                    .inner
                    .restore(document, options, &snapshot.hosted.machine)?;
                let inputs = Inputs::after_snapshot(at, records);
                (inner, inputs, snapshot.requests, snapshot.hosted.children)
            }
            _ => {
                let inner = self
                    .inner
                    .create_seeded(document, options, start.seed)
                    .map_err(|e| RestoreError::DataModel(e.to_string()))?;
                (
                    inner,
                    Inputs::of(&start, records),
                    InFlight::default(),
                    Vec::new(),
                )
            }
        };
        let mut session = PersistSession::unjournaled(inner, id, inputs.waiting);
        let done = super::replay::run(&mut session, inputs.steps, requests);
        session.replayed = true;
        session.reinvoke = done.invokes.into();
        session.interrupted = done.inflight;
        // The children of the snapshot whose invocation is still active
        // (not ended, not made again) come back from their own snapshots.
        let again = |invokeid: &str| {
            session
                .reinvoke
                .iter()
                .any(|a| matches!(a, Action::Invoke(r) if r.invokeid == invokeid))
        };
        let alive: Vec<(String, String, String)> = children
            .into_iter()
            .filter(|(invokeid, _)| !done.ended.contains(invokeid) && !again(invokeid))
            .map(|(invokeid, child)| (session.id.clone(), invokeid, child))
            .collect();
        session.log = journal.map(|journal| {
            let mut log = self.log(journal, &session.id, next_seq, snapshot_seq);
            log.ended = inputs.ended;
            log
        });
        {
            let mut shared = self.shared.borrow_mut();
            shared.replayed_records += replayed;
            shared.restored_snapshots += u64::from(snapshot_at.is_some());
            if session.inner.is_running() {
                shared.restore_children.extend(alive);
            }
            if let (Some(_), Some(journaled)) = (&session.log, journaled) {
                shared.journaled.insert(session.id.clone(), journaled);
            }
        }
        // Ended before the crash but its end record was lost: write it now,
        // so that the session is not recovered again.
        session.after_input(inputs.last_at);
        Ok(session)
    }
}

impl Machine for PersistSession {
    fn start(&mut self, now: Timestamp) {
        if self.replayed {
            // The runner starts a recovered session here: what was under
            // way when the server stopped completes first (see
            // `super::inflight`), journaled like any input.
            if self.inner.is_running() && !self.interrupted.is_empty() {
                let inflight = std::mem::take(&mut self.interrupted);
                let journal = self.log.as_ref().map(|l| l.journal.clone());
                for event in inflight.into_events(journal.as_ref()) {
                    tracing::info!(session = %self.id, event = %event.name, "completing a request interrupted by the restart");
                    self.take_event(now, event);
                }
            }
            return;
        }
        // Journaled by the worker with its time (`Journaling::Grouped`).
        let now = self.ahead.start_at.take().unwrap_or(now);
        if let Some(log) = self.log.as_mut() {
            match std::mem::replace(&mut self.opening, Opening::Nothing) {
                Opening::Start(mut start, text) => {
                    start.at = now;
                    if let Err(e) = log.journal.start(&log.id, *start, text).wait() {
                        tracing::error!(session = %log.id, "journal start failed: {e}");
                    }
                }
                Opening::Began => log.write(Entry::Began { at: now }),
                Opening::Nothing => {}
            }
        }
        self.inner.start(now);
        // Journaled when they were accepted, before `Began`.
        for event in std::mem::take(&mut self.waiting) {
            self.deliver(now, event);
        }
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
            self.deliver(at, journaled);
            self.after_input(at);
            return;
        }
        self.take_event(now, event);
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
        let action = self
            .reinvoke
            .pop_front()
            .or_else(|| self.inner.poll_action())?;
        if self.log.is_some() {
            self.requests.note_action(&action);
        }
        Some(action)
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

    fn set_observer(&mut self, observer: Box<dyn Observer>) {
        self.inner.set_observer(observer);
    }

    fn snapshot(&mut self) -> Result<Snapshot, NotSnapshottable> {
        self.inner.snapshot()
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
