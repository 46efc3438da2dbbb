//! The session runtime: worker threads that own the sessions, and the
//! [`Runtime`] handle through which the HTTP layer reaches them.
//!
//! QuickJS runtimes and contexts are not `Send`, so a session lives and dies
//! on one thread. Each worker thread owns a [`runner::Runner`] on the real
//! clock; a session is pinned to the worker that started it, and its id says
//! which one (`<process nonce><worker index, 2 hex digits><counter>`), so
//! routing a request needs no shared table. Handlers talk to workers through
//! a bounded channel per worker and get their answer on a oneshot channel;
//! nothing blocks the async threads: a full channel or a full session mailbox
//! is a 503 at once.

mod actions;
mod basic_http;
mod inflight;
mod journaled;
pub(crate) mod persist;
mod replay;
mod responders;
mod snapshots;
mod trace;
mod worker;

pub use responders::Answer;
pub use runner::trace::TraceRecord;

/// Replays a journaled session for its trace (see [`crate::replay`]).
pub(crate) fn replay_trace(
    journal: &journal::Journal,
    id: &str,
) -> Result<Vec<TraceRecord>, SessionError> {
    replay::replay_trace(journal, id, &mut journaled::Documents::default())
}

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use scxml::{Data, Document, Event, Timestamp};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::metrics::Metrics;

use worker::{Command, WorkerSetup};

/// Why the runtime could not do what was asked of a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No session has this id.
    #[error("no session {0}")]
    NotFound(String),
    /// The session has ended.
    #[error("session {0} has ended")]
    Ended(String),
    /// Too many events are waiting for the session.
    #[error("the mailbox of session {0} is full")]
    MailboxFull(String),
    /// Too many commands are waiting for the session's worker.
    #[error("the server is busy")]
    Busy,
    /// The server holds as many sessions as it may.
    #[error("the server holds its maximum of {0} sessions")]
    SessionLimit(usize),
    /// The server is shutting down and takes no new work.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The session could not be created (its data model failed).
    #[error("cannot start the session: {0}")]
    StartFailed(String),
    /// The session did not answer a request (`<ws:response>`) in time.
    #[error("session {id} did not answer the request within {timeout_ms} ms")]
    RequestTimeout {
        /// The session.
        id: String,
        /// The time limit.
        timeout_ms: u64,
    },
    /// The session ended without answering a request.
    #[error("session {0} ended without answering the request")]
    Unanswered(String),
}

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for its `idealtime`.
    Scheduled,
    /// Started and not ended.
    Running,
    /// Ended (final state, terminated, or stopped by a limit).
    Ended,
}

/// What `GET /sessions` and `GET /sessions/{id}` tell about a session.
#[derive(Clone, Debug, Serialize)]
pub struct SessionInfo {
    /// The session id.
    pub sessionid: String,
    /// The `src` it was started from.
    pub src: String,
    /// Where it is in its life.
    pub status: Status,
    /// Active atomic states (for an ended session, those it ended in).
    pub states: Vec<String>,
    /// When the start was requested (ms since the Unix epoch).
    pub created: u64,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<u64>,
    /// How it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// A session's state and data, for `/query`.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Active atomic states in document order.
    pub states: Vec<String>,
    /// The values of the document's `<data>`, as JSON.
    pub data: serde_json::Value,
}

/// Which sessions `GET /sessions` lists.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only sessions with this status.
    pub status: Option<Status>,
    /// Only sessions with this state among their active states.
    pub state: Option<String>,
    /// Only sessions whose `src` contains this text.
    pub document: Option<String>,
}

impl Filter {
    fn accepts(&self, info: &SessionInfo) -> bool {
        self.status.is_none_or(|s| s == info.status)
            && self
                .state
                .as_ref()
                .is_none_or(|s| info.states.iter().any(|a| a == s))
            && self
                .document
                .as_ref()
                .is_none_or(|d| info.src.contains(d.as_str()))
    }
}

/// A start request, handed to a worker.
pub struct StartRequest {
    /// The parsed document.
    pub document: Arc<Document>,
    /// Its `src`, as given.
    pub src: String,
    /// Values for top-level `<data>` of the same names.
    pub params: Vec<(String, Data)>,
    /// When to start (ORS `idealtime`); now when `None` or past.
    pub at: Option<Timestamp>,
}

/// The handle on the worker threads.
pub struct Runtime {
    /// Random, per process: ids of a previous run never name a session of
    /// this one.
    nonce: String,
    workers: Vec<WorkerHandle>,
    /// Round-robin choice of the worker for the next start.
    next_worker: AtomicUsize,
    /// Sessions running or scheduled on all workers, against `max_sessions`.
    sessions: Arc<AtomicUsize>,
    accepting: AtomicBool,
    /// Workers still re-creating their sessions from the journal.
    recovering: Arc<AtomicUsize>,
    max_sessions: usize,
    mailbox_depth: usize,
    /// How long a request waits for its `<ws:response>`.
    request_timeout: Duration,
    /// I/O and answers shared with the workers.
    services: Arc<actions::Services>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct WorkerHandle {
    sender: SyncSender<Command>,
    mailboxes: Arc<Mailboxes>,
    queue: Gauge,
}

/// Events accepted for the sessions of one worker and not yet processed,
/// per session id: the session's mailbox depth. Shared by the handlers
/// (which count up before sending) and the worker (which counts down when it
/// takes the event).
#[derive(Default)]
pub(crate) struct Mailboxes {
    waiting: Mutex<HashMap<String, usize>>,
}

impl Mailboxes {
    fn reserve(&self, id: &str, depth: usize) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let count = waiting.entry(id.to_owned()).or_default();
        if *count >= depth {
            return false;
        }
        *count += 1;
        true
    }

    pub(crate) fn release(&self, id: &str) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = waiting.get_mut(id) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(id);
            }
        }
    }
}

impl Runtime {
    /// Starts the worker threads.
    pub(crate) fn new(config: &Config, metrics: Arc<Metrics>) -> std::io::Result<Runtime> {
        Self::with_observer(config, metrics, None)
    }

    /// Starts the worker threads; `observer` is also told of each journal
    /// batch, on the journal's writer thread, after its commit and before
    /// its tickets resolve (tests hold batches there).
    pub(crate) fn with_observer(
        config: &Config,
        metrics: Arc<Metrics>,
        observer: Option<journal::Observer>,
    ) -> std::io::Result<Runtime> {
        let count = config.worker_count();
        let (journal, nonce, first_number, mut recovered) = if config.journal {
            open_journal(config, count, &metrics, observer)?
        } else {
            let nonce = format!("{:016X}", random_u64());
            (None, nonce, 1, (0..count).map(|_| Vec::new()).collect())
        };
        let peers = Arc::new(worker::Peers {
            nonce: nonce.clone(),
            slots: Mutex::new((0..count).map(|_| None).collect()),
        });
        let sessions = Arc::new(AtomicUsize::new(0));
        let invalid = |e: crate::config::ConfigError| std::io::Error::other(e.to_string());
        let services = Arc::new(actions::Services::new(
            Arc::clone(&peers),
            Arc::clone(&metrics),
            config.base_url().map_err(invalid)?,
            config.limits.max_sessions,
            config.fetch.policy().map_err(invalid)?,
        )?);
        let recovering = Arc::new(AtomicUsize::new(
            recovered.iter().filter(|r| !r.is_empty()).count(),
        ));
        // Invoked documents resolve against their parent's URL: over HTTP for
        // documents fetched over HTTP (never a local file for those).
        let loader = crate::document::HttpLoader::new(
            config.limits.max_document_bytes,
            crate::document::DEFAULT_FETCH_TIMEOUT,
        )
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut workers = Vec::new();
        let mut threads = Vec::new();
        for (index, recovered) in recovered.iter_mut().enumerate() {
            let (sender, receiver) = mpsc::sync_channel(config.limits.worker_queue.max(1));
            let mailboxes = Arc::new(Mailboxes::default());
            let queue = metrics.queue_gauge(index);
            let setup = WorkerSetup {
                index,
                id_prefix: format!("{nonce}{index:02X}"),
                receiver,
                mailboxes: Arc::clone(&mailboxes),
                queue: queue.clone(),
                metrics: Arc::clone(&metrics),
                sessions: Arc::clone(&sessions),
                journal: journal.clone(),
                recovered: std::mem::take(recovered),
                recovering: Arc::clone(&recovering),
                first_number,
                peers: Arc::clone(&peers),
                wake: sender.clone(),
                loader: loader.clone(),
                services: Arc::clone(&services),
                snapshot_every: config.journal_snapshot_every,
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("orca-worker-{index}"))
                    .spawn(move || worker::run(setup))?,
            );
            workers.push(WorkerHandle {
                sender,
                mailboxes,
                queue,
            });
        }
        Ok(Runtime {
            nonce,
            workers,
            next_worker: AtomicUsize::new(0),
            sessions,
            accepting: AtomicBool::new(true),
            recovering,
            max_sessions: config.limits.max_sessions,
            mailbox_depth: config.limits.mailbox_depth,
            request_timeout: config.request_timeout(),
            services,
            threads: Mutex::new(threads),
        })
    }

    /// Starts (or schedules) a session; answers its id.
    pub async fn start(&self, request: StartRequest) -> Result<String, SessionError> {
        if !self.is_accepting() {
            return Err(SessionError::ShuttingDown);
        }
        if self.sessions.fetch_add(1, Ordering::SeqCst) >= self.max_sessions {
            self.sessions.fetch_sub(1, Ordering::SeqCst);
            return Err(SessionError::SessionLimit(self.max_sessions));
        }
        let worker = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let result = self
            .call(worker, |reply| Command::Start { request, reply })
            .await;
        // The worker counts a session out when it ends; one that never
        // started is counted out here.
        if result.is_err() {
            self.sessions.fetch_sub(1, Ordering::SeqCst);
        }
        result
    }

    /// Delivers an external event; answers once its record is durable and
    /// the session has taken it (a session that is not journaled: once
    /// taken if it takes it at once, else once queued); `Ended` if the
    /// session ends before taking it.
    pub async fn send_event(&self, id: &str, event: Event) -> Result<(), SessionError> {
        let worker = self.worker_of(id)?;
        let mailboxes = &self.workers[worker].mailboxes;
        if !mailboxes.reserve(id, self.mailbox_depth) {
            return Err(SessionError::MailboxFull(id.to_owned()));
        }
        let command = |reply| Command::Event {
            id: id.to_owned(),
            event,
            reply,
        };
        let result = self.call(worker, command).await;
        if matches!(result, Err(SessionError::Busy)) {
            // The command never reached the worker, which would have counted
            // it out.
            mailboxes.release(id);
        }
        result
    }

    /// Delivers a request event (ORS `/request/{name}`): `event` gets a
    /// fresh request id as its `sendid`, and the answer is the session's
    /// `<ws:response requestid="_event.sendid">`. Fails when the session
    /// ends first, or when no answer comes within the request time limit.
    pub async fn request(&self, id: &str, mut event: Event) -> Result<Answer, SessionError> {
        let requestid = format!("{:016X}{:016X}", random_u64(), random_u64());
        let answer = self.services.responders.register(&requestid, id);
        event.sendid = Some(requestid.clone());
        let exchange = async {
            self.send_event(id, event).await?;
            match answer.await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(responders::Unanswered::ShuttingDown)) => Err(SessionError::ShuttingDown),
                // The sender is dropped only with its session's end.
                Ok(Err(responders::Unanswered::SessionEnded)) | Err(_) => {
                    Err(SessionError::Unanswered(id.to_owned()))
                }
            }
        };
        let result = match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(SessionError::RequestTimeout {
                id: id.to_owned(),
                timeout_ms: self.request_timeout.as_millis() as u64,
            }),
        };
        if result.is_err() {
            self.services.responders.forget(&requestid);
        }
        result
    }

    /// Where Basic HTTP POSTs to the sessions' access URIs go (for the
    /// receiver route, `basichttp::router`).
    pub(crate) fn basichttp_receiver(&self) -> Arc<dyn basichttp::Deliver> {
        Arc::new(basic_http::Receiver {
            services: Arc::clone(&self.services),
        })
    }

    /// The session's active states and data.
    pub async fn query(&self, id: &str) -> Result<Snapshot, SessionError> {
        let worker = self.worker_of(id)?;
        let id = id.to_owned();
        self.call(worker, |reply| Command::Query { id, reply })
            .await
    }

    /// Replays a journaled session (live, or ended and kept) without
    /// touching it, and answers its trace.
    pub async fn trace(&self, id: &str) -> Result<Vec<TraceRecord>, SessionError> {
        let worker = self.worker_of(id)?;
        let id = id.to_owned();
        self.call(worker, |reply| Command::Trace { id, reply })
            .await
    }

    /// Terminates a session (its `<onexit>` handlers run).
    pub async fn terminate(&self, id: &str) -> Result<(), SessionError> {
        let worker = self.worker_of(id)?;
        let id = id.to_owned();
        self.call(worker, |reply| Command::Terminate { id, reply })
            .await
    }

    /// What the runtime knows of one session.
    pub async fn info(&self, id: &str) -> Result<SessionInfo, SessionError> {
        let worker = self.worker_of(id)?;
        let id = id.to_owned();
        self.call(worker, |reply| Command::Info { id, reply }).await
    }

    /// The sessions of every worker that pass `filter`, ordered by creation.
    pub async fn list(&self, filter: Filter) -> Result<Vec<SessionInfo>, SessionError> {
        let filter = Arc::new(filter);
        let mut all = Vec::new();
        for worker in 0..self.workers.len() {
            let filter = Arc::clone(&filter);
            let mut some = self
                .call(worker, |reply| Command::List { filter, reply })
                .await?;
            all.append(&mut some);
        }
        all.sort_by(|a, b| (a.created, &a.sessionid).cmp(&(b.created, &b.sessionid)));
        Ok(all)
    }

    /// The number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// Whether new sessions are taken.
    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    /// Whether every worker has re-created its sessions from the journal
    /// (until then, requests for them wait behind the recovery).
    pub fn is_recovered(&self) -> bool {
        self.recovering.load(Ordering::SeqCst) == 0
    }

    /// Refuses new sessions from now on; running ones go on.
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }

    /// Stops every worker after the command it is running, and waits for
    /// them at most `timeout`. Returns whether all stopped in time.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.stop_accepting();
        let senders: Vec<_> = self.workers.iter().map(|w| w.sender.clone()).collect();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let services = Arc::clone(&self.services);
        let join = tokio::task::spawn_blocking(move || {
            for sender in senders {
                // Waits for room in a full queue; a worker that is gone
                // needs no stop.
                let _ = sender.send(Command::Stop);
            }
            for thread in threads {
                let _ = thread.join();
            }
            // Nothing answers requests any more.
            services.responders.shut_down();
        });
        tokio::time::timeout(timeout, join).await.is_ok()
    }

    /// The worker that owns session `id`, read from the id itself.
    fn worker_of(&self, id: &str) -> Result<usize, SessionError> {
        let not_found = || SessionError::NotFound(id.to_owned());
        let rest = id.strip_prefix(self.nonce.as_str()).ok_or_else(not_found)?;
        let index = rest
            .get(..2)
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .filter(|i| *i < self.workers.len())
            .ok_or_else(not_found)?;
        Ok(index)
    }

    /// Sends a command to a worker without waiting for room, then waits for
    /// its answer.
    async fn call<T>(
        &self,
        worker: usize,
        command: impl FnOnce(oneshot::Sender<Result<T, SessionError>>) -> Command,
    ) -> Result<T, SessionError> {
        let handle = &self.workers[worker];
        let (reply, answer) = oneshot::channel();
        // Counted in before sending: the worker counts it out when it takes
        // it, which may be before `try_send` returns.
        handle.queue.inc();
        match handle.sender.try_send(command(reply)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                handle.queue.dec();
                return Err(SessionError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                handle.queue.dec();
                return Err(SessionError::ShuttingDown);
            }
        };
        // A dropped reply means the worker stopped before answering.
        answer.await.unwrap_or(Err(SessionError::ShuttingDown))
    }
}

/// 64 random bits from the operating system; a time-derived value if it has
/// none to give (ids must differ between runs, not be unguessable).
/// Opens `<data_dir>/journal.db` and reads what recovery needs: the node's
/// id prefix (kept in `<data_dir>/node-id`, so that recovered sessions keep
/// their ids and stay routable), where this run's session numbers start
/// (a run counter in `<data_dir>/runs`, shifted left 32 bits, so that no id
/// of an earlier run, even of a session whose journal is gone, is given
/// again) and the live sessions per worker (by the index in their id).
#[allow(clippy::type_complexity)]
fn open_journal(
    config: &Config,
    count: usize,
    metrics: &Metrics,
    observer: Option<journal::Observer>,
) -> std::io::Result<(
    Option<journal::Journal>,
    String,
    u64,
    Vec<Vec<journal::Recovered>>,
)> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir)?;
    let node_file = dir.join("node-id");
    let nonce = match std::fs::read_to_string(&node_file) {
        Ok(text) if text.trim().len() == 16 => text.trim().to_owned(),
        _ => {
            let nonce = format!("{:016X}", random_u64());
            write_synced(&node_file, &nonce)?;
            nonce
        }
    };
    let runs_file = dir.join("runs");
    let runs: u64 = std::fs::read_to_string(&runs_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
        + 1;
    write_synced(&runs_file, &runs.to_string())?;
    let mut journal_config = journal::Config::new(dir.join("journal.db"));
    let metered = metrics.journal_observer();
    journal_config.observer = Some(match observer {
        Some(also) => Arc::new(move |report: &journal::BatchReport| {
            metered(report);
            also(report);
        }),
        None => metered,
    });
    let journal = journal::Journal::open(journal_config).map_err(std::io::Error::other)?;
    let started = std::time::Instant::now();
    let mut recovered: Vec<Vec<journal::Recovered>> = (0..count).map(|_| Vec::new()).collect();
    let prefix_len = nonce.len();
    journal
        .recover(|session| {
            let index = session
                .session
                .strip_prefix(nonce.as_str())
                .and_then(|rest| rest.get(..2))
                .and_then(|hex| usize::from_str_radix(hex, 16).ok());
            match index {
                Some(index) if index < count => recovered[index].push(session),
                _ => tracing::error!(
                    session = %session.session,
                    "not recovered: its id names no worker of this server ({count} workers, prefix of {prefix_len})"
                ),
            }
        })
        .map_err(std::io::Error::other)?;
    let total: usize = recovered.iter().map(Vec::len).sum();
    tracing::info!(
        sessions = total,
        scan_ms = started.elapsed().as_millis() as u64,
        "journal read"
    );
    Ok((Some(journal), nonce, runs << 32, recovered))
}

/// Writes a small file and fsyncs it.
fn write_synced(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_count_per_session_up_to_the_depth() {
        let mailboxes = Mailboxes::default();
        assert!(mailboxes.reserve("a", 2));
        assert!(mailboxes.reserve("a", 2));
        assert!(!mailboxes.reserve("a", 2));
        assert!(mailboxes.reserve("b", 2));
        mailboxes.release("a");
        assert!(mailboxes.reserve("a", 2));
        mailboxes.release("a");
        mailboxes.release("a");
        mailboxes.release("b");
        assert!(mailboxes
            .waiting
            .lock()
            .map(|w| w.is_empty())
            .unwrap_or(false));
    }

    #[test]
    fn filters_combine() {
        let info = SessionInfo {
            sessionid: "X".to_owned(),
            src: "file:///charts/ivr.scxml".to_owned(),
            status: Status::Running,
            states: vec!["menu".to_owned()],
            created: 0,
            started: Some(0),
            ended: None,
            outcome: None,
        };
        assert!(Filter::default().accepts(&info));
        let filter = Filter {
            status: Some(Status::Running),
            state: Some("menu".to_owned()),
            document: Some("ivr".to_owned()),
        };
        assert!(filter.accepts(&info));
        let ended = Filter {
            status: Some(Status::Ended),
            ..Filter::default()
        };
        assert!(!ended.accepts(&info));
    }
}
