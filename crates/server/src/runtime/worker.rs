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
//! saw it. An event to a journaled session that is held or has events
//! queued is journaled when the session takes it, and its request is
//! answered then ([`deferred`]). Invoked children stay on their parent's worker, inside the
//! runner.
//!
//! What sessions ask beyond their runner — `#_scxml_<id>` to a session of
//! another worker ([`Peers`]: the id names the worker), Basic HTTP sends,
//! the ORS session actions — goes through the runner's gateway
//! ([`super::actions`]); ORS `<session:start>` comes back to the worker,
//! which starts the new top-level session ([`starts`]).
//!
//! With a journal, each session's inputs are journaled by its machine (see
//! [`super::persist`]), ahead of delivery for those of a group ([`batch`]),
//! and the worker re-creates the live sessions of its
//! index from the journal before serving ([`recover`]); starts scheduled
//! for later are journaled when accepted ([`schedule`]).

mod batch;
mod deferred;
mod recover;
mod schedule;
mod snapshot;
mod starts;

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
use runner::trace::TraceRecord;
use runner::{ClockMode, Inbox, LogEntry, Runner, RunnerOptions, SessionKey};
use scxml::datamodel::ecmascript::EcmaScriptOptions;
use scxml::{Document, Event, Outcome, Timestamp};
use tokio::sync::oneshot;

use super::actions::{ecma_factory, ActionGateway, Services, StartQueue};
use super::persist::{Journaling, PersistFactory, Shared, SharedRef, Sources, StartInfo};
use schedule::Scheduled;

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
        reply: Reply<Vec<TraceRecord>>,
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
    /// Records of a journaled session between two snapshots (0: none).
    pub(crate) snapshot_every: u64,
    /// Where the ids of this run's sessions start (past every earlier run's).
    pub(crate) first_number: u64,
    pub(crate) peers: Arc<Peers>,
    pub(crate) wake: SyncSender<Command>,
    /// Loads what invoked documents name (`<invoke src>`), relative to the
    /// invoking document: files for local documents, HTTP for fetched ones.
    pub(crate) loader: crate::document::HttpLoader,
    /// I/O and answers shared by the workers (see [`super::actions`]).
    pub(crate) services: Arc<Services>,
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
        snapshot_every: setup.snapshot_every,
        ..Shared::default()
    }));
    let ecmascript = EcmaScriptOptions {
        random_seed: super::random_u64(),
        ..EcmaScriptOptions::default()
    };
    let factory = PersistFactory::new(
        ecma_factory(ecmascript, &setup.services.ors),
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
    runner.enable_ors_actions();
    runner.delegate_ors_starts();
    let starts = StartQueue::default();
    runner.set_gateway(ActionGateway::new(
        own,
        Arc::clone(&setup.services),
        Rc::clone(&starts),
    ));
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
        setup,
        sessions: HashMap::new(),
        by_key: HashMap::new(),
        scheduled: BTreeMap::new(),
        ended: VecDeque::new(),
        starts,
        deferred: deferred::Deferred::default(),
    };
    worker.recover(recovered);
    worker.serve();
    worker.answer_shutting_down();
    tracing::debug!("worker stopped");
}

struct Worker {
    runner: PersistRunner,
    shared: SharedRef,
    sources: Sources,
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
    /// ORS `<session:start>`s the gateway took, to carry out.
    starts: StartQueue,
    /// Event requests answered when their sessions take their events.
    deferred: deferred::Deferred,
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
                            self.take_snapshots();
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
            self.take_snapshots();
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
        self.start_requested();
        self.answer_taken();
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
    fn prepare_start(&mut self, document: &Arc<Document>, src: String, created: Timestamp) {
        let journaling = match self.setup.journal {
            Some(_) => match self.sources.of(document) {
                Some((text, hash)) => Journaling::New { text, hash },
                None => Journaling::Off,
            },
            None => Journaling::Off,
        };
        self.shared.borrow_mut().next_start = Some(StartInfo {
            src,
            journaling,
            created,
            scheduled: None,
            waiting: Vec::new(),
        });
    }

    /// Replays a session's journal in an interpreter of its own (nothing
    /// is performed) and answers its trace.
    fn trace(&mut self, id: &str) -> Result<Vec<TraceRecord>, SessionError> {
        let Some(journal) = self.setup.journal.clone() else {
            return Err(SessionError::NotFound(id.to_owned()));
        };
        let documents = &mut self.shared.borrow_mut().documents;
        super::replay::replay_trace(&journal, id, documents)
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
            return Ok(self.schedule(entry, document, params, at));
        }
        let src = entry.src.clone();
        self.prepare_start(&document, src, now);
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

    fn event(&mut self, id: &str, event: Event) -> Result<(), SessionError> {
        let key = match self.running(id)? {
            Some(key) => key,
            None => {
                // Scheduled: the event waits for the start.
                self.wait_for_start(id, event);
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
            None => self.cancel_scheduled(id),
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
        self.start_requested();
        self.answer_taken();
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
            self.answer_ended(key);
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
