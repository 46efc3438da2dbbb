//! One worker thread: a [`runner::Runner`] on the real clock, the sessions
//! pinned to it, and the loop that serves their commands and timers.
//!
//! The loop waits on its channel with a timeout equal to its next timer (a
//! delayed `<send>` of any session, or a scheduled start), takes every
//! command waiting (up to [`BATCH`]), serves them, then fires what is due.
//! Events and starts are served in groups ([`batch`]): their inputs are
//! journaled together and fsync'd once, then the sessions process them
//! (until the worker is idle) and the requests are answered, so an HTTP
//! event request is answered after its record is durable and the session
//! saw it. Invoked children stay on their parent's worker, inside the
//! runner.
//!
//! `#_scxml_<id>` to a session of another worker goes through the runner's
//! gateway ([`Peers`]): the id names the worker, the event goes to that
//! worker's runner inbox and the worker is woken; the receiver journals it
//! when its session takes it.
//!
//! With a journal, each session's inputs are journaled by its machine (see
//! [`super::persist`]) and the worker re-creates the live sessions of its
//! index from the journal before serving.

mod batch;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::gauge::Gauge;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::SyncSender;

use journal::{Journal, Recovered};
use runner::{
    ClockMode, Delivery, EcmaFactory, Gateway, Handoff, Inbound, Inbox, LogEntry, Refusal,
    ReservedId, Runner, RunnerOptions, SessionKey,
};
use scxml::datamodel::ecmascript::EcmaScriptOptions;
use scxml::{Data, Document, Event, Outcome, Timestamp};
use tokio::sync::oneshot;

use super::persist::{Documents, PersistFactory, Shared, SharedRef, Sources, StartInfo, TraceStep};

use super::{Filter, Mailboxes, SessionError, SessionInfo, Snapshot, StartRequest, Status};
use crate::metrics::Metrics;

/// Ended sessions a worker remembers (for `GET /sessions` and to answer 410
/// rather than 404); older ones are forgotten.
const REMEMBERED_ENDED: usize = 1000;

/// Commands taken in one turn before timers get their chance; the events
/// and starts among them share one journal commit.
const BATCH: usize = 256;

type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

/// What the HTTP side asks of a worker.
pub(crate) enum Command {
    Start {
        request: StartRequest,
        reply: Reply<String>,
    },
    Event {
        id: String,
        event: Event,
        reply: Reply<()>,
    },
    Query {
        id: String,
        reply: Reply<Snapshot>,
    },
    Terminate {
        id: String,
        reply: Reply<()>,
    },
    Info {
        id: String,
        reply: Reply<SessionInfo>,
    },
    List {
        filter: Arc<Filter>,
        reply: Reply<Vec<SessionInfo>>,
    },
    /// Replay a session from the journal and answer its trace.
    Trace {
        id: String,
        reply: Reply<Vec<TraceStep>>,
    },
    /// Events for the runner arrived in its inbox.
    Wake,
    /// Finish the current command and exit.
    Stop,
}

type PersistRunner = Runner<PersistFactory>;

/// A worker's runner inbox and command channel (to wake it).
pub(crate) type Peer = (Inbox, SyncSender<Command>);

/// How a worker reaches the others: their runner inboxes and command
/// channels, filled in as the workers start.
pub(crate) struct Peers {
    pub(crate) nonce: String,
    pub(crate) slots: std::sync::Mutex<Vec<Option<Peer>>>,
}

impl Peers {
    /// The worker index an id of this server names.
    pub(crate) fn worker_of(&self, id: &str) -> Option<usize> {
        let rest = id.strip_prefix(self.nonce.as_str())?;
        rest.get(..2)
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
    }
}

/// The runner's gateway: `#_scxml_<id>` sends to sessions of other workers.
struct PeerGateway {
    peers: Arc<Peers>,
}

impl Gateway for PeerGateway {
    fn send(&mut self, handoff: Handoff) -> Result<Delivery, Refusal> {
        let request = handoff.request;
        let is_scxml = request.kind == scxml::SCXML_EVENT_PROCESSOR || request.kind == "scxml";
        let target = request.target.as_deref().unwrap_or("");
        let Some(id) = target.strip_prefix("#_scxml_").filter(|_| is_scxml) else {
            return Err(Refusal::Execution(format!(
                "the server cannot send to {target:?} with processor {}",
                request.kind
            )));
        };
        let unreachable = || Refusal::Communication(format!("no session {id}"));
        let index = self.peers.worker_of(id).ok_or_else(unreachable)?;
        let slots = self.peers.slots.lock().unwrap_or_else(|e| e.into_inner());
        let (inbox, wake) = slots
            .get(index)
            .and_then(Option::as_ref)
            .ok_or_else(unreachable)?;
        let event = request.event;
        if !inbox.send(Inbound::Event {
            session: id.to_owned(),
            event,
        }) {
            return Err(unreachable());
        }
        // A full command queue means the worker is awake anyway.
        let _ = wake.try_send(Command::Wake);
        Ok(Delivery::Sent)
    }
}

/// What a worker thread is given.
pub(crate) struct WorkerSetup {
    pub(crate) index: usize,
    pub(crate) id_prefix: String,
    pub(crate) receiver: Receiver<Command>,
    pub(crate) mailboxes: Arc<Mailboxes>,
    pub(crate) queue: Gauge,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) sessions: Arc<AtomicUsize>,
    pub(crate) journal: Option<Journal>,
    /// Live sessions of this worker found in the journal.
    pub(crate) recovered: Vec<Recovered>,
    /// Workers still recovering; this one counts itself out when done
    /// (if it had sessions to recover).
    pub(crate) recovering: Arc<AtomicUsize>,
    /// Where the ids of this run's sessions start (past every earlier run's).
    pub(crate) first_number: u64,
    pub(crate) peers: Arc<Peers>,
    pub(crate) wake: SyncSender<Command>,
    /// Loads what invoked documents name (`<invoke src>`), relative to the
    /// invoking document: files for local documents, HTTP for fetched ones.
    pub(crate) loader: crate::document::HttpLoader,
}

/// The body of a worker thread.
pub(crate) fn run(mut setup: WorkerSetup) {
    let span = tracing::info_span!("worker", index = setup.index);
    let _entered = span.enter();
    let options = RunnerOptions {
        clock: ClockMode::Real,
        session_id_prefix: setup.id_prefix.clone(),
        ..RunnerOptions::default()
    };
    let shared: SharedRef = Rc::new(RefCell::new(Shared {
        journal: setup.journal.clone(),
        ..Shared::default()
    }));
    let factory = PersistFactory::new(
        EcmaFactory::new(EcmaScriptOptions {
            random_seed: super::random_u64(),
            ..EcmaScriptOptions::default()
        }),
        Rc::clone(&shared),
    );
    let mut runner = Runner::with_factory(
        factory,
        Box::new(setup.loader.clone()),
        options,
        log_to_tracing,
    );
    runner.set_next_session_number(setup.first_number);
    let own = setup.index;
    let peers = Arc::clone(&setup.peers);
    runner.set_remote_directory(move |id| peers.worker_of(id).is_some_and(|w| w != own));
    runner.set_gateway(PeerGateway {
        peers: Arc::clone(&setup.peers),
    });
    {
        let mut slots = setup.peers.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(own) {
            *slot = Some((runner.inbox(), setup.wake.clone()));
        }
    }
    let recovered = std::mem::take(&mut setup.recovered);
    let mut worker = Worker {
        runner,
        shared,
        sources: Sources::default(),
        documents: Documents::default(),
        setup,
        sessions: HashMap::new(),
        by_key: HashMap::new(),
        scheduled: BTreeMap::new(),
        ended: VecDeque::new(),
    };
    worker.recover(recovered);
    worker.serve();
    tracing::debug!("worker stopped");
}

struct Worker {
    runner: PersistRunner,
    shared: SharedRef,
    sources: Sources,
    documents: Documents,
    setup: WorkerSetup,
    /// Top-level sessions of this worker by id: running, scheduled, and the
    /// last [`REMEMBERED_ENDED`] ended ones.
    sessions: HashMap<String, Entry>,
    /// Runner key to session id, for the running ones.
    by_key: HashMap<SessionKey, String>,
    /// Starts waiting for their time, by (time, id).
    scheduled: BTreeMap<(Timestamp, String), Scheduled>,
    /// Ids of ended sessions, oldest first.
    ended: VecDeque<String>,
}

/// A top-level session as the worker tracks it.
struct Entry {
    key: Option<SessionKey>,
    src: String,
    status: Status,
    created: Timestamp,
    started: Option<Timestamp>,
    ended: Option<Timestamp>,
    outcome: Option<String>,
    /// The states it ended in.
    final_states: Vec<String>,
}

/// A start waiting for its `idealtime`.
struct Scheduled {
    id: ReservedId,
    document: Arc<Document>,
    src: String,
    at: Timestamp,
    params: Vec<(String, Data)>,
    /// Events sent to it before it started, delivered after its start.
    events: Vec<Event>,
}

impl Worker {
    fn serve(&mut self) {
        loop {
            let first = match self.next_wake() {
                None => self.setup.receiver.recv().map_err(|_| ()),
                Some(due) => {
                    let wait = due.saturating_since(self.runner.now());
                    match self.setup.receiver.recv_timeout(wait) {
                        Ok(command) => Ok(command),
                        Err(RecvTimeoutError::Timeout) => {
                            self.tick();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => Err(()),
                    }
                }
            };
            let Ok(first) = first else {
                return;
            };
            let mut commands = vec![first];
            let mut disconnected = false;
            while commands.len() < BATCH {
                match self.setup.receiver.try_recv() {
                    Ok(command) => commands.push(command),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            if !self.handle_batch(commands) || disconnected {
                return;
            }
            self.tick();
        }
    }

    /// The earliest timer or scheduled start.
    fn next_wake(&self) -> Option<Timestamp> {
        let start = self.scheduled.keys().next().map(|(at, _)| *at);
        match (self.runner.next_timeout(), start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts what is scheduled for now and fires the due timers.
    fn tick(&mut self) {
        let now = self.runner.now();
        while let Some(entry) = self.scheduled.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let scheduled = entry.remove();
            self.start_scheduled(scheduled);
        }
        if let Err(e) = self.runner.fire_due() {
            tracing::error!("timers: {e}");
        }
        self.collect_ended();
    }

    /// Handles one command; `false` to stop.
    fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Start { request, reply } => {
                let _ = reply.send(self.start(request));
            }
            Command::Event { id, event, reply } => {
                self.setup.mailboxes.release(&id);
                let span = tracing::debug_span!("session", id = %id, event = %event.name);
                let _entered = span.enter();
                let _ = reply.send(self.event(&id, event));
            }
            Command::Query { id, reply } => {
                let _ = reply.send(self.query(&id));
            }
            Command::Terminate { id, reply } => {
                let span = tracing::debug_span!("session", id = %id);
                let _entered = span.enter();
                let _ = reply.send(self.terminate(&id));
            }
            Command::Info { id, reply } => {
                let info = self.info(&id);
                let _ = reply.send(info);
            }
            Command::List { filter, reply } => {
                let ids: Vec<String> = self.sessions.keys().cloned().collect();
                let list = ids
                    .iter()
                    .filter_map(|id| self.info(id).ok())
                    .filter(|info| filter.accepts(info))
                    .collect();
                let _ = reply.send(Ok(list));
            }
            Command::Trace { id, reply } => {
                let _ = reply.send(self.trace(&id));
            }
            Command::Wake => self.settle(),
            Command::Stop => return false,
        }
        true
    }

    /// Tells the factory what to journal for the top-level session the next
    /// spawn creates.
    fn prepare_start(
        &mut self,
        document: &Arc<Document>,
        src: String,
        created: Timestamp,
        scheduled: Option<Timestamp>,
    ) {
        let source = match self.setup.journal {
            Some(_) => self.sources.of(document),
            None => None,
        };
        self.shared.borrow_mut().next_start = Some(StartInfo {
            src,
            source,
            created,
            scheduled,
            journaled: None,
        });
    }

    /// Re-creates the live sessions of this worker from the journal: each
    /// replayed under its old id, then its timers armed on the real clock
    /// (those that fell due while the server was down fire at once).
    fn recover(&mut self, recovered: Vec<Recovered>) {
        let Some(journal) = self.setup.journal.clone() else {
            return;
        };
        let started = Instant::now();
        let count = recovered.len();
        let mut failed = 0usize;
        for session in recovered {
            let id = session.session.clone();
            match self.recover_one(&journal, session) {
                Ok(()) => {}
                Err(e) => {
                    failed += 1;
                    tracing::error!(session = %id, "cannot recover: {e}");
                }
            }
        }
        self.settle();
        if count > 0 {
            self.setup.recovering.fetch_sub(1, Ordering::SeqCst);
            tracing::info!(
                sessions = count - failed,
                failed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "sessions recovered from the journal"
            );
        }
    }

    fn recover_one(&mut self, journal: &Journal, session: Recovered) -> Result<(), String> {
        let id = session.session.clone();
        let number = self
            .runner
            .parse_session_number(&id)
            .ok_or_else(|| format!("{id} is not an id of worker {}", self.setup.index))?;
        let reserved = self
            .runner
            .reserve_session_number(number)
            .ok_or_else(|| format!("{id} is already running"))?;
        let document = self.documents.get(journal, &session.start.document)?;
        let src = session.start.document.url.clone().unwrap_or_default();
        let created = session.start.at;
        self.shared.borrow_mut().next_replay = Some(session);
        let key = self
            .runner
            .spawn_reserved(reserved, document, Vec::new())
            .map_err(|e| e.to_string())?;
        self.sessions.insert(
            id.clone(),
            Entry {
                key: Some(key),
                src,
                status: Status::Running,
                created,
                started: Some(created),
                ended: None,
                outcome: None,
                final_states: Vec::new(),
            },
        );
        self.by_key.insert(key, id);
        self.setup.sessions.fetch_add(1, Ordering::SeqCst);
        self.setup.metrics.sessions_active.inc();
        Ok(())
    }

    /// Replays a session's journal in a runner of its own (nothing is
    /// performed) and answers the trace of its macrosteps.
    fn trace(&mut self, id: &str) -> Result<Vec<TraceStep>, SessionError> {
        let Some(journal) = self.setup.journal.clone() else {
            return Err(SessionError::NotFound(id.to_owned()));
        };
        replay_trace(&journal, id, &mut self.documents)
    }

    fn start(&mut self, request: StartRequest) -> Result<String, SessionError> {
        let StartRequest {
            document,
            src,
            params,
            at,
        } = request;
        let now = self.runner.now();
        let entry = Entry {
            key: None,
            src,
            status: Status::Scheduled,
            created: now,
            started: None,
            ended: None,
            outcome: None,
            final_states: Vec::new(),
        };
        if let Some(at) = at.filter(|at| *at > now) {
            let id = self.runner.reserve_session_id();
            let name = id.as_str().to_owned();
            self.sessions.insert(name.clone(), entry);
            self.scheduled.insert(
                (at, name.clone()),
                Scheduled {
                    id,
                    document,
                    src: self
                        .sessions
                        .get(&name)
                        .map(|e| e.src.clone())
                        .unwrap_or_default(),
                    at,
                    params,
                    events: Vec::new(),
                },
            );
            self.setup.metrics.sessions_active.inc();
            tracing::info!(session = %name, at = at.as_millis(), "session scheduled");
            return Ok(name);
        }
        let src = entry.src.clone();
        self.prepare_start(&document, src, now, None);
        let key = self
            .runner
            .spawn(document, params)
            .map_err(|e| SessionError::StartFailed(e.to_string()))?;
        let id = self.started(key, entry);
        self.settle();
        Ok(id)
    }

    /// Registers a top-level session the runner has just spawned; answers
    /// its id.
    fn started(&mut self, key: SessionKey, mut entry: Entry) -> String {
        let id = self.runner.session_id(key).unwrap_or_default().to_owned();
        entry.key = Some(key);
        entry.status = Status::Running;
        entry.started = Some(entry.created);
        self.sessions.insert(id.clone(), entry);
        self.by_key.insert(key, id.clone());
        self.setup.metrics.sessions_active.inc();
        self.setup.metrics.sessions_started.inc();
        tracing::info!(session = %id, "session started");
        id
    }

    fn start_scheduled(&mut self, scheduled: Scheduled) {
        let Scheduled {
            id,
            document,
            src,
            at,
            params,
            events,
        } = scheduled;
        let name = id.as_str().to_owned();
        let now = self.runner.now();
        self.prepare_start(&document, src, now, Some(at));
        match self.runner.spawn_reserved(id, document, params) {
            Ok(key) => {
                if let Some(entry) = self.sessions.get_mut(&name) {
                    entry.key = Some(key);
                    entry.status = Status::Running;
                    entry.started = Some(now);
                }
                self.by_key.insert(key, name.clone());
                self.setup.metrics.sessions_started.inc();
                tracing::info!(session = %name, "scheduled session started");
                for event in events {
                    self.runner.enqueue(key, event);
                }
                self.settle();
            }
            Err(e) => {
                tracing::warn!(session = %name, "scheduled session failed to start: {e}");
                self.end(&name, Some(format!("failed to start: {e}")), Vec::new());
            }
        }
    }

    fn event(&mut self, id: &str, event: Event) -> Result<(), SessionError> {
        let key = match self.running(id)? {
            Some(key) => key,
            None => {
                // Scheduled: the event waits for the start.
                if let Some(scheduled) = self.scheduled.values_mut().find(|s| s.id.as_str() == id) {
                    scheduled.events.push(event);
                }
                self.setup.metrics.events_in.inc();
                return Ok(());
            }
        };
        let started = Instant::now();
        self.runner.enqueue(key, event);
        self.settle();
        self.setup
            .metrics
            .macrostep_seconds
            .observe(started.elapsed().as_secs_f64());
        self.setup.metrics.events_in.inc();
        Ok(())
    }

    fn query(&mut self, id: &str) -> Result<Snapshot, SessionError> {
        let Some(key) = self.running(id)? else {
            return Ok(Snapshot {
                states: Vec::new(),
                data: serde_json::Value::Null,
            });
        };
        let states = self
            .runner
            .configuration(key)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let data = self.runner.data(key).unwrap_or_default().to_json();
        Ok(Snapshot { states, data })
    }

    fn terminate(&mut self, id: &str) -> Result<(), SessionError> {
        match self.running(id)? {
            Some(key) => {
                self.runner.terminate(key);
                self.settle();
            }
            None => {
                self.scheduled.retain(|(_, name), _| name != id);
                self.end(
                    id,
                    Some("terminated before its start".to_owned()),
                    Vec::new(),
                );
            }
        }
        tracing::info!(session = %id, "session terminated");
        Ok(())
    }

    fn info(&self, id: &str) -> Result<SessionInfo, SessionError> {
        let entry = self
            .sessions
            .get(id)
            .ok_or_else(|| SessionError::NotFound(id.to_owned()))?;
        let states = match entry.key {
            Some(key) => self
                .runner
                .configuration(key)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            None => entry.final_states.clone(),
        };
        Ok(SessionInfo {
            sessionid: id.to_owned(),
            src: entry.src.clone(),
            status: entry.status,
            states,
            created: entry.created.as_millis(),
            started: entry.started.map(Timestamp::as_millis),
            ended: entry.ended.map(Timestamp::as_millis),
            outcome: entry.outcome.clone(),
        })
    }

    /// The runner key of a running session; `None` for a scheduled one.
    fn running(&self, id: &str) -> Result<Option<SessionKey>, SessionError> {
        let entry = self
            .sessions
            .get(id)
            .ok_or_else(|| SessionError::NotFound(id.to_owned()))?;
        match entry.status {
            Status::Ended => Err(SessionError::Ended(id.to_owned())),
            Status::Scheduled => Ok(None),
            Status::Running => Ok(entry.key),
        }
    }

    /// Processes what the last input queued, then winds up ended sessions.
    fn settle(&mut self) {
        if let Err(e) = self.runner.run_until_idle() {
            tracing::error!("run: {e}");
        }
        self.collect_ended();
    }

    /// Records the sessions the runner reports ended and frees them.
    fn collect_ended(&mut self) {
        for key in self.runner.take_ended() {
            let Some(id) = self.by_key.remove(&key) else {
                continue;
            };
            let states = self
                .runner
                .configuration(key)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let outcome = describe(self.runner.outcome(key));
            self.runner.release(key);
            tracing::info!(session = %id, outcome = %outcome, "session ended");
            self.end(&id, Some(outcome), states);
        }
    }

    /// Marks a session ended, counts it out, and forgets the oldest ended
    /// sessions beyond [`REMEMBERED_ENDED`].
    fn end(&mut self, id: &str, outcome: Option<String>, states: Vec<String>) {
        let now = self.runner.now();
        let Some(entry) = self.sessions.get_mut(id) else {
            return;
        };
        if entry.status == Status::Ended {
            return;
        }
        entry.status = Status::Ended;
        entry.key = None;
        entry.ended = Some(now);
        entry.outcome = outcome;
        entry.final_states = states;
        self.setup.sessions.fetch_sub(1, Ordering::SeqCst);
        self.setup.metrics.sessions_active.dec();
        self.setup.metrics.sessions_ended.inc();
        self.ended.push_back(id.to_owned());
        while self.ended.len() > REMEMBERED_ENDED {
            if let Some(old) = self.ended.pop_front() {
                self.sessions.remove(&old);
            }
        }
    }
}

/// `<log>` output goes to the tracing subscriber, with the session id.
fn log_to_tracing(entry: &LogEntry<'_>) {
    tracing::info!(
        target: "orca::log",
        session = entry.session_id,
        invokeid = entry.invokeid,
        label = entry.label,
        level = entry.level,
        "{}",
        entry.value
    );
}

/// How a session ended, in words.
fn describe(outcome: Option<&Outcome>) -> String {
    match outcome {
        Some(Outcome::Done { final_state }) => format!("done in {final_state}"),
        Some(Outcome::Terminated) => "terminated".to_owned(),
        Some(Outcome::Stopped { reason }) => format!("stopped: {reason}"),
        None => "ended".to_owned(),
    }
}

/// Replays one session's whole journal through a fresh interpreter and
/// answers its trace: the session is not touched, nothing is performed.
pub(crate) fn replay_trace(
    journal: &Journal,
    id: &str,
    documents: &mut Documents,
) -> Result<Vec<TraceStep>, SessionError> {
    let not_found = || SessionError::NotFound(id.to_owned());
    let records = journal
        .records(id, 0)
        .map_err(|e| SessionError::StartFailed(e.to_string()))?;
    let mut records = records.into_iter();
    let Some(first) = records.next() else {
        return Err(not_found());
    };
    let journal::Entry::Started(start) = first.entry else {
        return Err(not_found());
    };
    let document = documents
        .get(journal, &start.document)
        .map_err(SessionError::StartFailed)?;
    let recovered = Recovered {
        session: id.to_owned(),
        start,
        snapshot: None,
        records: records.collect(),
    };
    let shared: SharedRef = Rc::new(RefCell::new(Shared {
        next_replay: Some(recovered),
        trace: Some(Vec::new()),
        ..Shared::default()
    }));
    let mut factory = PersistFactory::new(
        EcmaFactory::new(EcmaScriptOptions::default()),
        Rc::clone(&shared),
    );
    let options = scxml::SessionOptions::new(id);
    let machine = runner::SessionFactory::create(&mut factory, document, options)
        .map_err(|e| SessionError::StartFailed(e.to_string()))?;
    runner::SessionFactory::release(&mut factory, machine);
    let trace = shared.borrow_mut().trace.take().unwrap_or_default();
    Ok(trace)
}
