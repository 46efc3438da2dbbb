//! The runner: a single-threaded host for a tree of sessions.
//!
//! It owns the sessions (each a [`Machine`] with a FIFO external queue), the
//! clock and the timer table, and carries out what the sessions ask for:
//! sends through the SCXML Event I/O Processor (SCXML 1.0 App. C.1, D.1),
//! invocations of SCXML children (§6.4), cancellations, forwarding, logs and
//! `done.invoke`. Events are delivered one macrostep at a time: after every
//! input the runner drains the session's actions, performs them (which can
//! only queue events, start children or stop them — never re-enter a
//! session), then re-arms the session's timer.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use scxml::document::{parse, Loader};
use scxml::{
    Action, CustomHandlers, Data, DataModelError, Document, Event, EventKind, ExtensionRequest,
    InvokeRequest, InvokeSource, Observer, Outcome, RestoreError, SendRequest, SessionDirectory,
    SessionOptions, Snapshot, Timestamp, SCXML_EVENT_PROCESSOR,
};

use crate::clock::{Clock, ClockMode, TimerTable};
use crate::gateway::{
    Delivery, ExtensionHandoff, Gateway, Handoff, Inbound, Inbox, SessionStart, Ticket,
};
use crate::machine::{ChildOrigin, ChildSource, Machine, SessionFactory};

mod snapshot;
use crate::route::{is_scxml_invoke_type, is_scxml_processor, parse_target, Target};
pub use snapshot::{HostedSnapshot, SnapshotError};

/// Answers whether an id outside the runner names a reachable session.
type RemoteDirectory = Rc<dyn Fn(&str) -> bool>;

/// Makes the observer of a new session from its `_sessionid` and its invoke
/// id (`None` for a top-level session); `None` leaves it unobserved.
type ObserverHook = Box<dyn FnMut(&str, Option<&str>) -> Option<Box<dyn Observer>>>;

/// Settings of a [`Runner`].
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Virtual or real time.
    pub clock: ClockMode,
    /// Given to every session ([`SessionOptions::max_microsteps`]).
    pub max_microsteps: u32,
    /// How deep invocations may nest (a chart invoking itself would
    /// otherwise recurse without end); deeper invokes get `error.execution`.
    pub max_invoke_depth: u32,
    /// Put before the counter in every `_sessionid` (`<prefix>1`,
    /// `<prefix>2`, ...), so that hosts running several runners give every
    /// session of the process a distinct id. Empty by default.
    pub session_id_prefix: String,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            clock: ClockMode::virtual_from_now(),
            max_microsteps: 100_000,
            max_invoke_depth: 32,
            session_id_prefix: String::new(),
        }
    }
}

/// A handle on a session of a [`Runner`]. Keys are never reused: a key of a
/// released session finds nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey {
    index: u32,
    generation: u32,
}

/// A session id taken with [`Runner::reserve_session_id`] for a session
/// started later with [`Runner::spawn_reserved`].
#[derive(Debug)]
pub struct ReservedId {
    number: u64,
    id: String,
}

impl ReservedId {
    /// The `_sessionid` the session will have.
    pub fn as_str(&self) -> &str {
        &self.id
    }
}

/// One `<log>` of any session of the tree.
#[derive(Debug)]
pub struct LogEntry<'a> {
    /// `_sessionid` of the session that logged.
    pub session_id: &'a str,
    /// The invoke id of that session in its parent; `None` for a top-level session.
    pub invokeid: Option<&'a str>,
    /// The `label` attribute.
    pub label: Option<&'a str>,
    /// The value of `expr`.
    pub value: &'a Data,
    /// The ORS `level` attribute.
    pub level: Option<&'a str>,
}

/// Where `<log>` output goes.
pub trait LogSink {
    /// Records one log entry.
    fn log(&mut self, entry: &LogEntry<'_>);
}

impl<F: FnMut(&LogEntry<'_>)> LogSink for F {
    fn log(&mut self, entry: &LogEntry<'_>) {
        self(entry)
    }
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A session could not be restored from its snapshot.
    #[error("cannot restore a session: {0}")]
    Restore(#[from] RestoreError),
    /// The wall-clock deadline set with [`Runner::set_deadline`] passed.
    #[error("deadline reached")]
    Deadline,
    /// A top-level session could not be created.
    #[error("cannot create a session: {0}")]
    Session(#[from] DataModelError),
    /// [`Runner::spawn_named`]: a session has this id.
    #[error("session id {0} is taken")]
    IdTaken(String),
}

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
enum CreateError {
    #[error("{0}")]
    DataModel(#[from] DataModelError),
    #[error("{0}")]
    Restore(#[from] RestoreError),
}

impl From<CreateError> for RunError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::DataModel(e) => RunError::Session(e),
            CreateError::Restore(e) => RunError::Restore(e),
        }
    }
}

/// How [`Runner::run_to_end`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The session ended (see [`Runner::outcome`]).
    Finished,
    /// No event is queued and no timer is armed: nothing can happen without input.
    Quiet,
    /// The next timer is due after the time limit.
    TimeLimit,
}

/// Runs sessions and their invoked children on one thread.
///
/// Usage: [`spawn`](Self::spawn) a top-level session, [`enqueue`](Self::enqueue)
/// events for it, [`run_until_idle`](Self::run_until_idle) to process every
/// queued event of every session, and let time pass with
/// [`advance`](Self::advance) or [`run_to_end`](Self::run_to_end). A finished
/// top-level session stays readable ([`outcome`](Self::outcome),
/// [`configuration`](Self::configuration)) until [`release`](Self::release)d;
/// finished children are removed at once.
pub struct Runner<F: SessionFactory> {
    /// Creates the sessions.
    factory: F,
    /// Resolves and reads invoke `src` (and what the child documents load).
    loader: Box<dyn Loader>,
    /// Receives `<log>` output.
    sink: Box<dyn LogSink>,
    options: RunnerOptions,
    clock: Clock,
    /// Session arena; a slot's generation changes when its session goes, so
    /// stale keys (in `ready`, held by callers) find nothing.
    slots: Vec<Slot<F::Machine>>,
    /// Indices of empty slots.
    free: Vec<u32>,
    /// Session number (the `_sessionid`) to key, for `#_scxml_<sessionid>`.
    by_number: HashMap<u64, SessionKey>,
    /// Numbers of the sessions that have not ended, shared with each
    /// session's [`SessionDirectory`] so a `<send>` can tell at once whether
    /// `#_scxml_<id>` is reachable.
    running_ids: Rc<RefCell<HashSet<u64>>>,
    /// Sessions whose id was chosen by a dialect request (ORS
    /// `<session:start>` picks the id itself) rather than the counter.
    by_name: HashMap<String, SessionKey>,
    /// Ids of `by_name` sessions that have not ended, for the directory.
    running_names: Rc<RefCell<HashSet<String>>>,
    /// Custom action handlers given to every new session (the ORS dialect
    /// under `orca run`); none by default, so W3C sessions pay nothing.
    custom: Option<CustomHandlers>,
    /// ORS `<session:start>` goes to the gateway once its document is
    /// loaded (see [`Runner::delegate_ors_starts`]).
    delegate_starts: bool,
    /// The next session number: ids are a counter, unique for the runner's life.
    next_number: u64,
    /// Sessions with queued events, each once, served round-robin one event
    /// at a time, so that no session starves another.
    ready: VecDeque<SessionKey>,
    timers: TimerTable<SessionKey>,
    /// Wall-clock limit checked while running (a watchdog against sessions
    /// that keep each other busy forever).
    deadline: Option<Instant>,
    /// Sessions in the arena.
    live: usize,
    /// Top-level sessions that ended since [`Runner::take_ended`] was last
    /// called, so that a host learns of ends caused by timers or by other
    /// sessions' events without scanning every session.
    ended: Vec<SessionKey>,
    /// Where sends the runner cannot deliver go (see [`crate::gateway`]).
    gateway: Option<Box<dyn Gateway>>,
    /// The sending half, cloned into every [`Inbox`]; keeping one here
    /// means `inbound` never disconnects.
    inbox: mpsc::Sender<Inbound>,
    /// Events and send results from other threads.
    inbound: mpsc::Receiver<Inbound>,
    /// Pending handoffs: the sending session and the send's `sendid`.
    in_flight: HashMap<Ticket, (SessionKey, Option<String>)>,
    /// The next ticket number.
    next_ticket: u64,
    /// Answers for `#_scxml_<id>` ids outside this runner's prefix (sessions
    /// of other runners of the host, reached through the gateway).
    remote: Option<RemoteDirectory>,
    /// Gives new sessions their microstep observer (`orca run --trace`).
    observers: Option<ObserverHook>,
    /// Ids to give the children that sessions will invoke, by (parent id,
    /// invoke id): a host re-creating a journaled tree gives each child
    /// back the id it had.
    reserved_children: HashMap<(String, String), ReservedId>,
}

struct Slot<M> {
    generation: u32,
    session: Option<Session<M>>,
}

/// One session and its place in the tree.
struct Session<M> {
    machine: M,
    /// `_sessionid`: the decimal form of `number`, or a name a dialect
    /// request chose (`named`).
    id: String,
    number: u64,
    /// `id` is in `Runner::by_name`.
    named: bool,
    /// The invoking session, if any.
    parent: Option<SessionKey>,
    /// The invoke id this session has in its parent.
    invokeid: Option<String>,
    /// Live children by invoke id; few, so a vector.
    children: Vec<(String, SessionKey)>,
    /// The external event queue (FIFO), each event with its number in
    /// the order the session's events were enqueued.
    queue: VecDeque<(u64, Event)>,
    /// The number of the last event enqueued.
    enqueued: u64,
    /// The number of the last event handed to the machine (events are
    /// taken in number order; some are dropped unseen).
    taken: u64,
    /// Whether the key is in `Runner::ready`.
    queued: bool,
    /// The due time under which the session is in the timer table.
    armed: Option<Timestamp>,
    /// 0 for a top-level session, parent's + 1 for a child.
    depth: u32,
    /// Cancelled by its parent (§6.4): only its logs and its own
    /// cancellations are still carried out.
    cancelled: bool,
    /// `done.invoke` has been sent to the parent.
    done_reported: bool,
    /// Ended; takes no more events.
    finished: bool,
    /// Pending handoffs of this session: while non-zero the session is held
    /// (its actions wait in `backlog`, its queue is not served).
    held: u32,
    /// Actions made before or during the hold, carried out in order once
    /// the hold ends.
    backlog: VecDeque<Action>,
}

impl<F: SessionFactory> Runner<F> {
    /// A runner creating sessions with `factory`, loading invoked documents
    /// with `loader` and logging to `sink`.
    pub fn with_factory(
        factory: F,
        loader: Box<dyn Loader>,
        options: RunnerOptions,
        sink: impl LogSink + 'static,
    ) -> Self {
        let (inbox, inbound) = mpsc::channel();
        Runner {
            factory,
            loader,
            sink: Box::new(sink),
            clock: Clock::new(options.clock),
            options,
            slots: Vec::new(),
            free: Vec::new(),
            by_number: HashMap::new(),
            running_ids: Rc::default(),
            by_name: HashMap::new(),
            running_names: Rc::default(),
            custom: None,
            delegate_starts: false,
            next_number: 1,
            ready: VecDeque::new(),
            timers: TimerTable::new(),
            deadline: None,
            live: 0,
            ended: Vec::new(),
            gateway: None,
            inbox,
            inbound,
            in_flight: HashMap::new(),
            next_ticket: 0,
            remote: None,
            observers: None,
            reserved_children: HashMap::new(),
        }
    }

    /// Gives every session created from now on the microstep observer
    /// `hook` makes from its `_sessionid` and invoke id (`None` for a
    /// top-level session), if it makes one.
    pub fn set_observers(
        &mut self,
        hook: impl FnMut(&str, Option<&str>) -> Option<Box<dyn Observer>> + 'static,
    ) {
        self.observers = Some(Box::new(hook));
    }

    /// Makes the next `<invoke>` with id `invokeid` by the session
    /// `parent` (a `_sessionid`) create its child under `id`, for a host
    /// re-creating a journaled tree of sessions: the parent's replay
    /// invokes its children again, and each gets back the id its journal
    /// is kept under.
    pub fn reserve_child(&mut self, parent: &str, invokeid: &str, id: ReservedId) {
        self.reserved_children
            .insert((parent.to_owned(), invokeid.to_owned()), id);
    }

    /// Drops the child reservations no invocation used, answering their ids.
    pub fn take_unused_child_reservations(&mut self) -> Vec<String> {
        self.reserved_children
            .drain()
            .map(|(_, reserved)| reserved.id)
            .collect()
    }

    /// Hands the sends this runner cannot deliver itself to `gateway`, and
    /// asks it for the extra `_ioprocessors` entries of every new session.
    pub fn set_gateway(&mut self, gateway: impl Gateway + 'static) {
        self.gateway = Some(Box::new(gateway));
    }

    /// Tells sessions created from now on which `#_scxml_<id>` ids outside
    /// this runner name reachable sessions (of other runners of the host,
    /// reached through the [`Gateway`]). Without it, such a `<send>` raises
    /// `error.communication` at once (SCXML App. C.1).
    pub fn set_remote_directory(&mut self, remote: impl Fn(&str) -> bool + 'static) {
        self.remote = Some(Rc::new(remote));
    }

    /// Gives every session created from now on these custom action
    /// handlers ([`SessionOptions::custom`]), e.g. `ors::handlers()`.
    pub fn set_custom_handlers(&mut self, handlers: CustomHandlers) {
        self.custom = Some(handlers);
    }

    /// From now on ORS `<session:start>` is not carried out here: once
    /// its document is loaded (a failure is `error.session.start` at once)
    /// it goes to the gateway's `extension` as a [`SessionStart`], pending,
    /// for a host that keeps its own books of top-level sessions (which
    /// journals them, lists them, routes to them). The host starts it with
    /// [`Runner::spawn_named`] and completes the handoff with
    /// `session.start.done` or `error.session.start`. It can do so only
    /// between runs: with the virtual clock `run_until_idle` waits for
    /// pending handoffs, so this is for hosts on the real clock.
    pub fn delegate_ors_starts(&mut self) {
        self.delegate_starts = true;
    }

    /// The session factory, for host settings it offers.
    pub fn factory_mut(&mut self) -> &mut F {
        &mut self.factory
    }

    /// The session whose `_sessionid` is `id`, if it has not ended.
    pub fn find_session(&self, id: &str) -> Option<SessionKey> {
        self.session_by_id(id)
    }

    /// A handle through which other threads send this runner events and
    /// the results of pending sends.
    pub fn inbox(&self) -> Inbox {
        Inbox(self.inbox.clone())
    }

    /// Number of handed-off sends whose result has not come back.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Waits up to `timeout` (for ever if `None`) for a message in the
    /// inbox and takes in every one queued. Returns whether one came. For
    /// real-time hosts that would otherwise sleep.
    pub fn wait_for_input(&mut self, timeout: Option<std::time::Duration>) -> bool {
        let message = match timeout {
            Some(timeout) => self.inbound.recv_timeout(timeout).ok(),
            None => self.inbound.recv().ok(),
        };
        let Some(message) = message else {
            return false;
        };
        self.take_in(message);
        self.receive();
        true
    }

    /// The clock's current reading.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Whether the clock is virtual.
    pub fn is_virtual(&self) -> bool {
        self.clock.is_virtual()
    }

    /// Sets or clears the wall-clock deadline after which running methods
    /// return [`RunError::Deadline`].
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Creates and starts a top-level session; its initial macrostep has run
    /// and its actions are carried out, but events it queued are not yet
    /// processed (call [`run_until_idle`](Self::run_until_idle)).
    pub fn spawn(
        &mut self,
        document: Arc<Document>,
        params: Vec<(String, Data)>,
    ) -> Result<SessionKey, RunError> {
        let number = self.take_number();
        Ok(self.create_session(number, None, document, params, None, None)?)
    }

    /// Takes the next session id without creating a session, for hosts that
    /// must name a session before it starts (a scheduled start).
    pub fn reserve_session_id(&mut self) -> ReservedId {
        let number = self.take_number();
        ReservedId {
            number,
            id: self.format_id(number),
        }
    }

    /// Makes new session ids count from `number` on (never backwards), so
    /// that a host restarting on a journal can keep the ids of a previous
    /// run apart from the new ones.
    pub fn set_next_session_number(&mut self, number: u64) {
        self.next_number = self.next_number.max(number);
    }

    /// Reserves the id `<prefix><number>` for a session the host re-creates
    /// under the id it had before (recovery from a journal); `None` if the
    /// number is taken by a live session.
    pub fn reserve_session_number(&mut self, number: u64) -> Option<ReservedId> {
        if self.by_number.contains_key(&number) {
            return None;
        }
        Some(ReservedId {
            number,
            id: self.format_id(number),
        })
    }

    /// The number in a session id of this runner (`<prefix><number>`).
    pub fn parse_session_number(&self, id: &str) -> Option<u64> {
        session_number(&self.options.session_id_prefix, id)
    }

    /// Like [`spawn`](Self::spawn), under an id of the host's choosing
    /// rather than the counter's (the id an ORS `<session:start>` chose,
    /// see [`SessionStart`]). Fails if a session that has not ended has it.
    pub fn spawn_named(
        &mut self,
        name: String,
        document: Arc<Document>,
        params: Vec<(String, Data)>,
    ) -> Result<SessionKey, RunError> {
        if self.by_name.contains_key(&name) || self.session_by_id(&name).is_some() {
            return Err(RunError::IdTaken(name));
        }
        let number = self.take_number();
        Ok(self.create_session(number, Some(name), document, params, None, None)?)
    }

    /// Like [`spawn`](Self::spawn), under a reserved id.
    pub fn spawn_reserved(
        &mut self,
        id: ReservedId,
        document: Arc<Document>,
        params: Vec<(String, Data)>,
    ) -> Result<SessionKey, RunError> {
        Ok(self.create_session(id.number, None, document, params, None, None)?)
    }

    /// Puts an external event on a session's queue. Returns `false` (and
    /// drops the event) if the session is gone or has ended.
    pub fn enqueue(&mut self, key: SessionKey, event: Event) -> bool {
        self.enqueue_numbered(key, event).is_some()
    }

    /// Like [`enqueue`](Self::enqueue), and answers the event's number
    /// among the session's events, for [`has_taken`](Self::has_taken);
    /// `None` (the event is dropped) if the session is gone or has ended.
    pub fn enqueue_numbered(&mut self, key: SessionKey, event: Event) -> Option<u64> {
        let session = session_mut(&mut self.slots, key)?;
        if session.finished {
            return None;
        }
        session.enqueued += 1;
        let number = session.enqueued;
        session.queue.push_back((number, event));
        if !session.queued {
            session.queued = true;
            self.ready.push_back(key);
        }
        Some(number)
    }

    /// Whether the session has been handed event `number` (see
    /// [`enqueue_numbered`](Self::enqueue_numbered)): `false` while it
    /// waits in the queue (a held session takes none), and for good if the
    /// session ended first (its queue is dropped) or is gone. Events are
    /// taken in number order; the only ones dropped unseen from a running
    /// session are those of a child it cancels (`true` once it is past
    /// them).
    pub fn has_taken(&self, key: SessionKey, number: u64) -> bool {
        session(&self.slots, key).is_some_and(|s| s.taken >= number)
    }

    /// Processes queued events, one macrostep at a time, until no session
    /// has any. Time does not pass (a virtual clock stands still).
    ///
    /// Messages of the [`inbox`](Self::inbox) are taken in on the way. With
    /// the virtual clock, handed-off sends take no time: the runner waits
    /// for their results before it calls itself idle.
    pub fn run_until_idle(&mut self) -> Result<(), RunError> {
        let mut delivered: u32 = 0;
        loop {
            let Some(key) = self.ready.pop_front() else {
                if self.receive() {
                    continue;
                }
                if self.clock.is_virtual() && !self.in_flight.is_empty() {
                    self.await_inbound()?;
                    continue;
                }
                return Ok(());
            };
            let now = self.clock.now();
            let Some(session) = session_mut(&mut self.slots, key) else {
                continue;
            };
            session.queued = false;
            if session.held > 0 {
                // Put back in `ready` when the hold ends.
                continue;
            }
            let Some((number, event)) = session.queue.pop_front() else {
                continue;
            };
            session.taken = number;
            if !session.queue.is_empty() {
                session.queued = true;
                self.ready.push_back(key);
            }
            session.machine.handle_event(now, event);
            self.drain(key);
            // Reading the clock after every macrostep would cost more than
            // the macrostep itself on the benchmarks.
            delivered += 1;
            if delivered == 256 {
                delivered = 0;
                self.check_deadline()?;
                self.receive();
            }
        }
    }

    /// When the earliest armed timer of any session is due.
    pub fn next_timeout(&self) -> Option<Timestamp> {
        self.timers.next()
    }

    /// Fires every timer due at the clock's current reading, then processes
    /// the events that follow. For real-time hosts that wait themselves.
    pub fn fire_due(&mut self) -> Result<(), RunError> {
        self.fire_timers();
        self.run_until_idle()
    }

    /// Lets time pass until `to`, firing the timers that fall due in order
    /// (each at its own due time) and processing what follows each. A
    /// virtual clock jumps; a real one sleeps.
    pub fn advance(&mut self, to: Timestamp) -> Result<(), RunError> {
        loop {
            self.run_until_idle()?;
            let due = self.timers.next().filter(|t| *t <= to);
            if !self.pass_time(due.unwrap_or(to)) {
                continue;
            }
            self.check_deadline()?;
            match due {
                Some(_) => self.fire_timers(),
                None => return Ok(()),
            }
        }
    }

    /// Runs until `key` ends, nothing more can happen without input, or the
    /// next timer is due after `limit`.
    pub fn run_to_end(
        &mut self,
        key: SessionKey,
        limit: Option<Timestamp>,
    ) -> Result<RunEnd, RunError> {
        loop {
            self.run_until_idle()?;
            if !self.is_running(key) {
                return Ok(RunEnd::Finished);
            }
            let Some(due) = self.timers.next() else {
                if !self.clock.is_virtual() && !self.in_flight.is_empty() {
                    self.await_inbound()?;
                    continue;
                }
                return Ok(RunEnd::Quiet);
            };
            if let Some(limit) = limit.filter(|limit| due > *limit) {
                if !self.pass_time(limit) {
                    continue;
                }
                return Ok(RunEnd::TimeLimit);
            }
            if !self.pass_time(due) {
                continue;
            }
            self.check_deadline()?;
            self.fire_timers();
        }
    }

    /// Whether the session exists and has not ended.
    pub fn is_running(&self, key: SessionKey) -> bool {
        session(&self.slots, key).is_some_and(|s| !s.finished && s.machine.is_running())
    }

    /// How the session ended, once it has.
    pub fn outcome(&self, key: SessionKey) -> Option<&Outcome> {
        session(&self.slots, key).and_then(|s| s.machine.outcome())
    }

    /// The active atomic states of the session, in document order.
    pub fn configuration(&self, key: SessionKey) -> Vec<&str> {
        session(&self.slots, key).map_or_else(Vec::new, |s| s.machine.configuration())
    }

    /// The values of the session's `<data>` variables (for queries).
    pub fn data(&mut self, key: SessionKey) -> Option<Data> {
        session_mut(&mut self.slots, key).map(|s| s.machine.data())
    }

    /// The machine of a session, for hosts that keep state of their own in
    /// it (the server journals inputs through its machines).
    pub fn machine_mut(&mut self, key: SessionKey) -> Option<&mut F::Machine> {
        session_mut(&mut self.slots, key).map(|s| &mut s.machine)
    }

    /// Whether an event [`enqueue`](Self::enqueue)d now is the next event
    /// the session takes: it is running, has no event queued and no send
    /// holding it. (A termination or a timer may still come first.)
    pub fn takes_next(&self, key: SessionKey) -> bool {
        session(&self.slots, key).is_some_and(|s| {
            !s.finished && s.machine.is_running() && s.queue.is_empty() && s.held == 0
        })
    }

    /// The `_sessionid` of the session.
    pub fn session_id(&self, key: SessionKey) -> Option<&str> {
        session(&self.slots, key).map(|s| s.id.as_str())
    }

    /// Drops a session and its children at once (no `<onexit>`, no events).
    pub fn release(&mut self, key: SessionKey) {
        let Some(session) = session_mut(&mut self.slots, key) else {
            return;
        };
        let children = std::mem::take(&mut session.children);
        for (_, child) in children {
            self.release(child);
        }
        self.remove(key);
    }

    /// Terminates a top-level session as a host command (App. D
    /// `exitInterpreter`): its `<onexit>` handlers run and what they send is
    /// delivered, its children are cancelled. Returns `false` if the session
    /// is gone or has already ended.
    pub fn terminate(&mut self, key: SessionKey) -> bool {
        let now = self.clock.now();
        let Some(session) = session_mut(&mut self.slots, key) else {
            return false;
        };
        if session.finished || !session.machine.is_running() {
            return false;
        }
        session.machine.terminate(now);
        self.drain(key);
        true
    }

    /// The top-level sessions that ended since the last call, in the order
    /// they ended. They stay readable until [`release`](Self::release)d.
    pub fn take_ended(&mut self) -> Vec<SessionKey> {
        std::mem::take(&mut self.ended)
    }

    /// Number of sessions alive (or ended and not yet released).
    pub fn live_sessions(&self) -> usize {
        self.live
    }

    /// Asks the factory to free unreachable script objects.
    pub fn collect_garbage(&mut self) {
        self.factory.collect_garbage();
    }

    fn check_deadline(&self) -> Result<(), RunError> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(RunError::Deadline),
            _ => Ok(()),
        }
    }

    /// The next session number: ids are a counter, unique for the runner's life.
    fn take_number(&mut self) -> u64 {
        let number = self.next_number;
        self.next_number += 1;
        number
    }

    fn format_id(&self, number: u64) -> String {
        format!("{}{number}", self.options.session_id_prefix)
    }

    /// Creates, registers and starts a session.
    /// `name`, if given, is the id instead of the counter's form.
    fn create_session(
        &mut self,
        number: u64,
        name: Option<String>,
        document: Arc<Document>,
        params: Vec<(String, Data)>,
        parent: Option<Invoker>,
        restored: Option<&Snapshot>,
    ) -> Result<SessionKey, CreateError> {
        let named = name.is_some();
        let id = name.unwrap_or_else(|| self.format_id(number));
        let ioprocessors = match self.gateway.as_mut() {
            Some(gateway) => gateway.open(&id),
            None => Vec::new(),
        };
        let options = SessionOptions {
            session_id: id.clone(),
            params,
            max_microsteps: self.options.max_microsteps,
            ioprocessors,
            directory: Some(self.directory()),
            custom: self.custom.clone(),
        };
        let parent_id = parent
            .as_ref()
            .and_then(|p| session(&self.slots, p.key))
            .map(|p| p.id.clone());
        let (created, depth) = match (&parent, parent_id.as_deref(), restored) {
            (_, _, Some(snapshot)) => (
                self.factory
                    .restore(document, options, snapshot)
                    .map_err(CreateError::Restore),
                parent.as_ref().map_or(0, |p| p.depth),
            ),
            (Some(invoker), Some(parent_id), None) => {
                let origin = ChildOrigin {
                    parent: parent_id,
                    invokeid: &invoker.invokeid,
                    source: invoker.source.clone(),
                };
                let created = self
                    .factory
                    .create_child(document, options, &origin)
                    .map_err(CreateError::DataModel);
                (created, invoker.depth)
            }
            _ => (
                self.factory
                    .create(document, options)
                    .map_err(CreateError::DataModel),
                0,
            ),
        };
        let mut machine = match created {
            Ok(machine) => machine,
            Err(e) => {
                if let Some(gateway) = self.gateway.as_mut() {
                    gateway.close(&id);
                }
                return Err(e);
            }
        };
        if named {
            self.running_names.borrow_mut().insert(id.clone());
        } else {
            self.running_ids.borrow_mut().insert(number);
        }
        let (parent_key, invokeid) = match parent {
            Some(invoker) => (Some(invoker.key), Some(invoker.invokeid)),
            None => (None, None),
        };
        if let Some(hook) = self.observers.as_mut() {
            if let Some(observer) = hook(&id, invokeid.as_deref()) {
                machine.set_observer(observer);
            }
        }
        let key = self.insert(Session {
            machine,
            id: id.clone(),
            number,
            named,
            parent: parent_key,
            invokeid: invokeid.clone(),
            children: Vec::new(),
            queue: VecDeque::new(),
            enqueued: 0,
            taken: 0,
            queued: false,
            armed: None,
            depth,
            cancelled: false,
            done_reported: false,
            finished: false,
            held: 0,
            backlog: VecDeque::new(),
        });
        if named {
            self.by_name.insert(id, key);
        } else {
            self.by_number.insert(number, key);
        }
        if let (Some(parent), Some(invokeid)) = (parent_key, invokeid) {
            if let Some(parent) = session_mut(&mut self.slots, parent) {
                parent.children.push((invokeid, key));
            }
        }
        if restored.is_none() {
            let now = self.clock.now();
            if let Some(session) = session_mut(&mut self.slots, key) {
                session.machine.start(now);
            }
        }
        self.drain(key);
        Ok(key)
    }

    fn insert(&mut self, session: Session<F::Machine>) -> SessionKey {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.session = Some(session);
            return SessionKey {
                index,
                generation: slot.generation,
            };
        }
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            generation: 0,
            session: Some(session),
        });
        SessionKey {
            index,
            generation: 0,
        }
    }

    /// Takes a session out of the arena and gives its machine back to the factory.
    fn remove(&mut self, key: SessionKey) {
        let Some(slot) = self.slots.get_mut(key.index as usize) else {
            return;
        };
        if slot.generation != key.generation {
            return;
        }
        let Some(session) = slot.session.take() else {
            return;
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.live -= 1;
        self.timers.rearm(key, session.armed, None);
        if session.named {
            self.by_name.remove(&session.id);
            self.running_names.borrow_mut().remove(&session.id);
        } else {
            self.by_number.remove(&session.number);
        }
        if !session.finished {
            if let Some(gateway) = self.gateway.as_mut() {
                gateway.close(&session.id);
            }
        }
        self.factory.release(session.machine);
    }

    /// Carries out every pending action of a session, then settles it. A
    /// held session only collects its actions in its backlog; they are
    /// carried out, and the session settled, when the hold ends.
    fn drain(&mut self, key: SessionKey) {
        loop {
            let Some(session) = session_mut(&mut self.slots, key) else {
                return;
            };
            // A cancelled session sends nothing (§6.4), so nothing can hold it.
            if session.held > 0 && !session.cancelled {
                while let Some(action) = session.machine.poll_action() {
                    session.backlog.push_back(action);
                }
                return;
            }
            let next = match session.backlog.pop_front() {
                Some(action) => Some(action),
                None => session.machine.poll_action(),
            };
            match next {
                Some(action) => self.perform(key, action),
                None => break,
            }
        }
        self.settle(key);
    }

    /// After an input: re-arms the timer of a running session, or winds up
    /// one that ended.
    fn settle(&mut self, key: SessionKey) {
        let Some(session) = session_mut(&mut self.slots, key) else {
            return;
        };
        if session.finished {
            return;
        }
        if session.machine.is_running() && !session.cancelled {
            let due = session.machine.poll_timeout();
            let old = std::mem::replace(&mut session.armed, due);
            self.timers.rearm(key, old, due);
            return;
        }
        session.finished = true;
        if session.named {
            self.running_names.borrow_mut().remove(&session.id);
        } else {
            self.running_ids.borrow_mut().remove(&session.number);
        }
        if let Some(gateway) = self.gateway.as_mut() {
            gateway.close(&session.id);
        }
        session.queue = VecDeque::new();
        let old = session.armed.take();
        let children = std::mem::take(&mut session.children);
        let parent = session.parent;
        let unreported = !session.done_reported && !session.cancelled;
        let why = describe_end(session.machine.outcome());
        let invokeid = session.invokeid.clone().unwrap_or_default();
        self.timers.rearm(key, old, None);
        // A session that ends takes its invocations with it (App. D
        // `exitInterpreter` cancels them; this catches any left over).
        for (_, child) in children {
            self.terminate_tree(child);
        }
        let Some(parent) = parent else {
            // Top-level sessions stay readable until released.
            self.ended.push(key);
            return;
        };
        if unreported {
            let message = format!("invoked session {invokeid} stopped: {why}");
            self.raise_error(parent, "error.execution", None, message);
        }
        if let Some(parent) = session_mut(&mut self.slots, parent) {
            parent.children.retain(|(_, child)| *child != key);
        }
        self.remove(key);
    }

    /// Carries out one action of session `key`.
    fn perform(&mut self, key: SessionKey, action: Action) {
        let cancelled = session(&self.slots, key).is_none_or(|s| s.cancelled);
        match action {
            Action::Log {
                label,
                value,
                level,
            } => {
                if let Some(session) = session(&self.slots, key) {
                    self.sink.log(&LogEntry {
                        session_id: &session.id,
                        invokeid: session.invokeid.as_deref(),
                        label: label.as_deref(),
                        value: &value,
                        level: level.as_deref(),
                    });
                }
            }
            Action::CancelInvoke { invokeid } => self.cancel_invoke(key, &invokeid),
            // §6.4: once cancelled, nothing a child does may reach anyone.
            _ if cancelled => {}
            Action::Send(request) => self.route_send(key, request),
            Action::Invoke(request) => self.invoke(key, request),
            Action::Forward { invokeid, event } => {
                if let Some(child) = self.child(key, &invokeid) {
                    // A child that already ended simply misses the event.
                    self.enqueue(child, event);
                }
            }
            Action::Custom(custom) => {
                let element = &custom.element;
                let message = format!(
                    "no handler for custom action <{}> of namespace {:?}",
                    element.name, element.namespace
                );
                self.raise_error(key, "error.execution", None, message);
            }
            Action::Extension(request) => self.extension(key, request),
            Action::Done { donedata, .. } => self.report_done(key, donedata),
        }
    }

    /// Routes a `<send>` through the SCXML Event I/O Processor (App. C.1, D.1).
    fn route_send(&mut self, key: SessionKey, request: SendRequest) {
        let SendRequest {
            target,
            kind,
            mut event,
        } = request;
        let Some(sender) = session(&self.slots, key) else {
            return;
        };
        if !is_scxml_processor(&kind) {
            self.hand_off(
                key,
                SendRequest {
                    target,
                    kind,
                    event,
                },
            );
            return;
        }
        let sender_parent = sender.parent;
        // C.1: events arrive through the external queue, with a reply address.
        event.kind = EventKind::External;
        if event.origin.is_none() {
            event.origin = Some(format!("#_scxml_{}", sender.id));
        }
        if event.origintype.is_none() {
            event.origintype = Some(SCXML_EVENT_PROCESSOR.to_owned());
        }
        let destination = match parse_target(target.as_deref()) {
            Target::Own | Target::Internal => Ok(key),
            Target::Parent => sender_parent.ok_or(Unreachable::NoParent),
            Target::Session(id) => match self.session_by_id(id) {
                Some(destination) => Ok(destination),
                // Perhaps a session of another runner of the host.
                None if self.gateway.is_some() => {
                    let target = target.clone();
                    self.hand_off(
                        key,
                        SendRequest {
                            target,
                            kind,
                            event,
                        },
                    );
                    return;
                }
                None => Err(Unreachable::NoSession),
            },
            Target::Invocation(id) => self.child(key, id).ok_or(Unreachable::NoInvocation),
            Target::Unsupported(_) => Err(Unreachable::Unsupported),
        };
        let destination = match destination {
            Ok(destination) => destination,
            Err(why) => {
                let target = target.unwrap_or_default();
                let (name, message) = why.error(&target);
                self.raise_error(key, name, event.sendid, message);
                return;
            }
        };
        // §5.10.1: an event from an invoked child carries its invoke id,
        // whichever target form reached the parent.
        if Some(destination) == sender_parent {
            event.invokeid = session(&self.slots, key).and_then(|s| s.invokeid.clone());
        }
        let sendid = event.sendid.clone();
        if !self.enqueue(destination, event) {
            let message = "the target session has ended".to_owned();
            self.raise_error(key, "error.communication", sendid, message);
        }
    }

    /// Gives a send to the gateway (see [`crate::gateway`]); without one,
    /// the target is unreachable.
    fn hand_off(&mut self, key: SessionKey, request: SendRequest) {
        let sendid = request.event.sendid.clone();
        let Some(session_id) = session(&self.slots, key).map(|s| s.id.clone()) else {
            return;
        };
        let Some(gateway) = self.gateway.as_mut() else {
            let message = format!(
                "this host cannot deliver through event I/O processor {}",
                request.kind
            );
            self.raise_error(key, "error.communication", sendid, message);
            return;
        };
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        let handoff = Handoff {
            ticket,
            session_id,
            request,
        };
        match gateway.send(handoff) {
            Ok(Delivery::Sent) => {}
            Ok(Delivery::Pending) => self.hold(key, ticket, sendid),
            Err(refusal) => {
                let name = refusal.event_name();
                self.raise_error(key, name, sendid, refusal.to_string());
            }
        }
    }

    /// Takes in every message already in the inbox; whether there was one.
    fn receive(&mut self) -> bool {
        let mut any = false;
        while let Ok(message) = self.inbound.try_recv() {
            self.take_in(message);
            any = true;
        }
        any
    }

    /// Blocks for one inbox message (until the deadline, if any).
    fn await_inbound(&mut self) -> Result<(), RunError> {
        let message = match self.deadline {
            Some(deadline) => self
                .inbound
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| RunError::Deadline)?,
            // `self.inbox` keeps the channel open, so `recv` cannot fail.
            None => self.inbound.recv().map_err(|_| RunError::Deadline)?,
        };
        self.take_in(message);
        Ok(())
    }

    /// Lets time pass until `t`: a jump for the virtual clock; for the real
    /// one, a wait that input from the inbox cuts short. Returns whether
    /// `t` was reached.
    fn pass_time(&mut self, t: Timestamp) -> bool {
        if self.clock.is_virtual() {
            self.clock.wait_until(t);
            return true;
        }
        let wait = t.saturating_since(self.clock.now());
        if wait.is_zero() {
            return true;
        }
        match self.inbound.recv_timeout(wait) {
            Ok(message) => {
                self.take_in(message);
                self.clock.now() >= t
            }
            Err(_) => true,
        }
    }

    /// Carries out one inbox message.
    fn take_in(&mut self, message: Inbound) {
        match message {
            Inbound::Event { session, event } => {
                if let Some(key) = self.session_by_id(&session) {
                    self.enqueue(key, event);
                }
            }
            Inbound::Sent { ticket, result } => {
                let Some((key, sendid)) = self.in_flight.remove(&ticket) else {
                    return;
                };
                if let Err(message) = result {
                    self.raise_error(key, "error.communication", sendid, message);
                }
                self.release_hold(key);
            }
            Inbound::Completed { ticket, event } => {
                let Some((key, _)) = self.in_flight.remove(&ticket) else {
                    return;
                };
                if let Some(event) = event {
                    self.enqueue(key, event);
                }
                self.release_hold(key);
            }
            Inbound::Wake => {}
        }
    }

    /// One pending send of `key` is over: at the last one, its backlog is
    /// carried out and its queue served again.
    fn release_hold(&mut self, key: SessionKey) {
        let Some(session) = session_mut(&mut self.slots, key) else {
            return;
        };
        session.held = session.held.saturating_sub(1);
        if session.held > 0 {
            return;
        }
        self.drain(key);
        if let Some(session) = session_mut(&mut self.slots, key) {
            if !session.queue.is_empty() && !session.queued {
                session.queued = true;
                self.ready.push_back(key);
            }
        }
    }

    /// Carries out a dialect request. ORS `<session:start>` and
    /// `<session:terminate>` act on this runner's own sessions, so the
    /// runner does them (a start goes to the gateway once loaded if the host
    /// asked for it with [`Runner::delegate_ors_starts`], a terminate of a
    /// session of another runner of the host goes to the gateway); anything
    /// else (`<session:fetch>`, `<ws:response>`, other dialects) is I/O and
    /// goes to the gateway.
    fn extension(&mut self, key: SessionKey, request: ExtensionRequest) {
        let request = match request.request.downcast::<ors::Request>() {
            Ok(request) => match *request {
                ors::Request::Start {
                    requestid,
                    session_id,
                    src,
                    params,
                } => return self.ors_start(key, requestid, session_id, src, params),
                ors::Request::Terminate {
                    requestid,
                    session_id,
                } => return self.ors_terminate(key, requestid, session_id),
                other => Box::new(other) as Box<dyn std::any::Any + Send>,
            },
            Err(other) => other,
        };
        self.hand_extension(key, request);
    }

    /// Gives a dialect request to the gateway; a refusal, or no gateway, is
    /// the request's own error event (`error.execution` for requests
    /// without one).
    fn hand_extension(&mut self, key: SessionKey, request: Box<dyn std::any::Any + Send>) {
        let Some(session_id) = session(&self.slots, key).map(|s| s.id.clone()) else {
            return;
        };
        let Some(gateway) = self.gateway.as_mut() else {
            let message = "this host does not do I/O for dialects".to_owned();
            let event = refused_request(&*request, "error.execution", message);
            self.enqueue(key, event);
            return;
        };
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        // Keep what a refusal needs: the request moves into the handoff.
        let refused = RefusedRequest::of(&*request);
        let handoff = ExtensionHandoff {
            ticket,
            session_id,
            request,
        };
        match gateway.extension(handoff) {
            Ok(Delivery::Sent) => {}
            Ok(Delivery::Pending) => self.hold(key, ticket, None),
            Err(refusal) => {
                let event = refused.event(refusal.event_name(), refusal.to_string());
                self.enqueue(key, event);
            }
        }
    }

    /// ORS `<session:start>`: a new top-level session of `src` (resolved
    /// against the requester's document) under the id the request chose;
    /// or, for a host that keeps its own books of top-level sessions, the
    /// loaded document handed to the gateway as a [`SessionStart`].
    fn ors_start(
        &mut self,
        key: SessionKey,
        requestid: String,
        session_id: String,
        src: String,
        params: Vec<(String, Data)>,
    ) {
        let Some(base) =
            session(&self.slots, key).map(|s| s.machine.document().source_name.clone())
        else {
            return;
        };
        let document = if self.session_by_id(&session_id).is_some() {
            Err(format!("session id {session_id} is taken"))
        } else {
            self.child_document(&base, InvokeSource::Url(src))
                .map(|(document, _)| document)
                .map_err(|(_, message)| message)
        };
        let started = match document {
            Err(message) => Err(message),
            Ok(document) if self.delegate_starts => {
                let start = SessionStart {
                    requestid,
                    session_id,
                    document,
                    params,
                };
                self.hand_extension(key, Box::new(start));
                return;
            }
            Ok(document) => {
                let number = self.take_number();
                let name = Some(session_id.clone());
                self.create_session(number, name, document, params, None, None)
                    .map(|_| ())
                    .map_err(|e| format!("cannot start the session: {e}"))
            }
        };
        let event = match started {
            Ok(()) => ors::events::start_done(&requestid, &session_id),
            Err(message) => ors::events::start_error(&requestid, &session_id, &message),
        };
        self.enqueue(key, event);
    }

    /// ORS `<session:terminate>`: ends the named session (App. D
    /// `exitInterpreter`, as [`Runner::terminate`]), a child as if cancelled.
    /// A session of another runner of the host goes to the gateway.
    fn ors_terminate(&mut self, key: SessionKey, requestid: String, session_id: String) {
        let Some(target) = self.session_by_id(&session_id) else {
            let elsewhere = self.gateway.is_some()
                && self
                    .remote
                    .as_ref()
                    .is_some_and(|remote| remote(&session_id));
            if elsewhere {
                let request = ors::Request::Terminate {
                    requestid,
                    session_id,
                };
                self.hand_extension(key, Box::new(request));
                return;
            }
            let message = format!("no session {session_id}");
            let event = ors::events::terminate_error(&requestid, &session_id, &message);
            self.enqueue(key, event);
            return;
        };
        // The requester hears of it first: a session ending itself gets
        // nothing after its end, a session ending another gets the event.
        self.enqueue(key, ors::events::terminate_done(&requestid, &session_id));
        if target == key {
            // Ending the session that is being drained: its remaining
            // actions are carried out by the drain under way.
            let now = self.clock.now();
            if let Some(session) = session_mut(&mut self.slots, key) {
                if session.machine.is_running() {
                    session.machine.terminate(now);
                }
            }
            return;
        }
        let is_child = session(&self.slots, target).is_some_and(|s| s.parent.is_some());
        if is_child {
            self.terminate_tree(target);
        } else {
            self.terminate(target);
        }
    }

    /// Starts an invoked child (§6.4).
    fn invoke(&mut self, key: SessionKey, request: InvokeRequest) {
        let InvokeRequest {
            invokeid,
            kind,
            source,
            params,
            autoforward: _,
        } = request;
        let Some(parent) = session(&self.slots, key) else {
            return;
        };
        let depth = parent.depth + 1;
        let base = parent.machine.document().source_name.clone();
        let parent_id = parent.id.clone();
        if !is_scxml_invoke_type(&kind) {
            let message = format!("unsupported invoke type {kind:?}");
            self.raise_error(key, "error.execution", None, message);
            return;
        }
        if depth > self.options.max_invoke_depth {
            let message = format!(
                "invocations nested deeper than {}",
                self.options.max_invoke_depth
            );
            self.raise_error(key, "error.execution", None, message);
            return;
        }
        let (document, source) = match self.child_document(&base, source) {
            Ok(found) => found,
            Err((name, message)) => {
                self.raise_error(key, name, None, message);
                return;
            }
        };
        // An invoke id names one live child; a new one replaces the old.
        self.cancel_invoke(key, &invokeid);
        let reserved = match self.reserved_children.is_empty() {
            true => None,
            false => self
                .reserved_children
                .remove(&(parent_id, invokeid.clone()))
                .filter(|r| !self.by_number.contains_key(&r.number)),
        };
        let number = match reserved {
            Some(reserved) => reserved.number,
            None => self.take_number(),
        };
        let parent = Some(Invoker {
            key,
            invokeid,
            source,
            depth,
        });
        if let Err(e) = self.create_session(number, None, document, params, parent, None) {
            self.raise_error(
                key,
                "error.execution",
                None,
                format!("cannot start the invoked session: {e}"),
            );
        }
    }

    /// The document of an invocation. A `src` that cannot be fetched is a
    /// communication failure; a document that is not valid SCXML is an
    /// execution error (§6.4 leaves the choice to the platform; no W3C test
    /// depends on it).
    fn child_document(
        &self,
        base: &str,
        source: InvokeSource,
    ) -> Result<(Arc<Document>, ChildSource), (&'static str, String)> {
        let invalid =
            |e: scxml::DocumentError| ("error.execution", format!("invalid invoked document: {e}"));
        match source {
            InvokeSource::Document(document) => Ok((document, ChildSource::Inline)),
            InvokeSource::Url(url) => {
                let (name, text) = self
                    .loader
                    .load(base, &url)
                    .map_err(|e| ("error.communication", e.to_string()))?;
                let document = parse(&text, &name, &*self.loader).map_err(invalid)?;
                Ok((Arc::new(document), ChildSource::Loaded(Arc::from(text))))
            }
            // Relative `src` inside the text resolve against the parent.
            InvokeSource::Text(text) => {
                let document = parse(&text, base, &*self.loader).map_err(invalid)?;
                Ok((Arc::new(document), ChildSource::Text(Arc::from(text))))
            }
        }
    }

    /// Cancels the child `invokeid` of `key` (§6.4.4): it is terminated with
    /// its own children, and events from it still queued in the parent are
    /// dropped, so that nothing from it is processed after cancellation.
    fn cancel_invoke(&mut self, key: SessionKey, invokeid: &str) {
        let Some(parent) = session_mut(&mut self.slots, key) else {
            return;
        };
        let Some(position) = parent.children.iter().position(|(id, _)| id == invokeid) else {
            return;
        };
        let (_, child) = parent.children.remove(position);
        parent
            .queue
            .retain(|(_, e)| e.invokeid.as_deref() != Some(invokeid));
        self.terminate_tree(child);
    }

    /// Terminates a session: its `<onexit>` logs still appear, its sends do
    /// not; `settle` then cancels its children and removes it.
    fn terminate_tree(&mut self, key: SessionKey) {
        let now = self.clock.now();
        let Some(session) = session_mut(&mut self.slots, key) else {
            return;
        };
        session.cancelled = true;
        if session.machine.is_running() {
            session.machine.terminate(now);
        }
        self.drain(key);
    }

    /// Sends `done.invoke.<invokeid>` with the done data to the parent (§6.4).
    fn report_done(&mut self, key: SessionKey, donedata: Data) {
        let Some(session) = session_mut(&mut self.slots, key) else {
            return;
        };
        session.done_reported = true;
        let (Some(parent), Some(invokeid)) = (session.parent, session.invokeid.clone()) else {
            return;
        };
        let event = Event {
            name: format!("done.invoke.{invokeid}"),
            kind: EventKind::External,
            sendid: None,
            origin: Some(format!("#_scxml_{}", session.id)),
            origintype: Some(SCXML_EVENT_PROCESSOR.to_owned()),
            invokeid: Some(invokeid),
            data: donedata,
            raw: None,
        };
        self.enqueue(parent, event);
    }

    /// Puts a platform error event on a session's external queue. The host
    /// cannot reach the internal queue, so the error follows whatever the
    /// session already queued (see the crate docs on `error.communication`).
    fn raise_error(
        &mut self,
        key: SessionKey,
        name: &str,
        sendid: Option<String>,
        message: String,
    ) {
        let mut event = Event::platform(
            name,
            Data::Object(vec![("message".to_owned(), Data::String(message))]),
        );
        event.sendid = sendid;
        self.enqueue(key, event);
    }

    /// The live child `invokeid` of `key`.
    fn child(&self, key: SessionKey, invokeid: &str) -> Option<SessionKey> {
        let session = session(&self.slots, key)?;
        session
            .children
            .iter()
            .find(|(id, _)| id == invokeid)
            .map(|(_, child)| *child)
    }

    /// The session whose `_sessionid` is `id`, if it still takes events.
    /// Holds session `key` until the pending handoff `ticket` completes;
    /// `sendid` goes on the error event if it fails.
    fn hold(&mut self, key: SessionKey, ticket: Ticket, sendid: Option<String>) {
        if let Some(session) = session_mut(&mut self.slots, key) {
            session.held += 1;
        }
        self.in_flight.insert(ticket, (key, sendid));
    }

    /// The directory given to each session: ids of sessions still running.
    fn directory(&self) -> SessionDirectory {
        let running = Rc::clone(&self.running_ids);
        let prefix = self.options.session_id_prefix.clone();
        let remote = self.remote.clone();
        let names = Rc::clone(&self.running_names);
        SessionDirectory(Rc::new(move |id: &str| match session_number(&prefix, id) {
            Some(n) => running.borrow().contains(&n),
            None if names.borrow().contains(id) => true,
            None => remote.as_ref().is_some_and(|remote| remote(id)),
        }))
    }

    fn session_by_id(&self, id: &str) -> Option<SessionKey> {
        let key = match self.by_name.get(id) {
            Some(key) => *key,
            None => {
                let number = session_number(&self.options.session_id_prefix, id)?;
                *self.by_number.get(&number)?
            }
        };
        session(&self.slots, key)
            .filter(|s| !s.finished)
            .map(|_| key)
    }

    /// Fires the timers due now, each session once.
    fn fire_timers(&mut self) {
        let now = self.clock.now();
        let mut due = Vec::new();
        while let Some((_, key)) = self.timers.pop_due(now) {
            due.push(key);
        }
        for key in due {
            let Some(session) = session_mut(&mut self.slots, key) else {
                continue;
            };
            session.armed = None;
            if session.held > 0 && !session.cancelled {
                // The hold's end settles the session, which re-arms the timer.
                continue;
            }
            session.machine.handle_timeout(now);
            self.drain(key);
        }
    }
}

/// The session invoking a child, as [`Runner::create_session`] needs it.
struct Invoker {
    key: SessionKey,
    invokeid: String,
    source: ChildSource,
    /// The child's depth (the invoker's + 1).
    depth: u32,
}

/// Why a send target cannot be reached.
#[derive(Clone, Copy, Debug)]
enum Unreachable {
    NoParent,
    NoSession,
    NoInvocation,
    Unsupported,
}

impl Unreachable {
    /// The error event (App. D.1: `error.communication` for a session that
    /// does not exist; §6.2.4: `error.execution` for a target the processor
    /// does not support) and its message.
    fn error(self, target: &str) -> (&'static str, String) {
        match self {
            Unreachable::NoParent => (
                "error.communication",
                "the session has no parent".to_owned(),
            ),
            Unreachable::NoSession => ("error.communication", format!("no session {target}")),
            Unreachable::NoInvocation => (
                "error.communication",
                format!("no active invocation {target}"),
            ),
            Unreachable::Unsupported => {
                ("error.execution", format!("unsupported target {target:?}"))
            }
        }
    }
}

fn session<M>(slots: &[Slot<M>], key: SessionKey) -> Option<&Session<M>> {
    let slot = slots.get(key.index as usize)?;
    if slot.generation != key.generation {
        return None;
    }
    slot.session.as_ref()
}

fn session_mut<M>(slots: &mut [Slot<M>], key: SessionKey) -> Option<&mut Session<M>> {
    let slot = slots.get_mut(key.index as usize)?;
    if slot.generation != key.generation {
        return None;
    }
    slot.session.as_mut()
}

/// The counter of a `_sessionid` made by a runner with this prefix.
/// What a refused dialect request's error event needs, kept while the
/// request itself moves into its handoff.
enum RefusedRequest {
    Fetch {
        requestid: String,
    },
    Start {
        requestid: String,
        session_id: String,
    },
    Terminate {
        requestid: String,
        session_id: String,
    },
    Other,
}

impl RefusedRequest {
    fn of(request: &(dyn std::any::Any + Send)) -> Self {
        if let Some(start) = request.downcast_ref::<SessionStart>() {
            return RefusedRequest::Start {
                requestid: start.requestid.clone(),
                session_id: start.session_id.clone(),
            };
        }
        match request.downcast_ref::<ors::Request>() {
            Some(ors::Request::Fetch { requestid, .. }) => RefusedRequest::Fetch {
                requestid: requestid.clone(),
            },
            Some(ors::Request::Start {
                requestid,
                session_id,
                ..
            }) => RefusedRequest::Start {
                requestid: requestid.clone(),
                session_id: session_id.clone(),
            },
            Some(ors::Request::Terminate {
                requestid,
                session_id,
            }) => RefusedRequest::Terminate {
                requestid: requestid.clone(),
                session_id: session_id.clone(),
            },
            _ => RefusedRequest::Other,
        }
    }

    /// The error event: the request's own (ORS requests always complete
    /// with one of theirs), else `name` (`error.execution` or
    /// `error.communication`) with the message.
    fn event(self, name: &'static str, message: String) -> Event {
        match self {
            RefusedRequest::Fetch { requestid } => {
                ors::events::fetch_error(&requestid, 0, &message)
            }
            RefusedRequest::Start {
                requestid,
                session_id,
            } => ors::events::start_error(&requestid, &session_id, &message),
            RefusedRequest::Terminate {
                requestid,
                session_id,
            } => ors::events::terminate_error(&requestid, &session_id, &message),
            RefusedRequest::Other => {
                let data = Data::Object(vec![("message".to_owned(), Data::String(message))]);
                Event::platform(name, data)
            }
        }
    }
}

/// The error event of a dialect request that could not be handed off.
fn refused_request(
    request: &(dyn std::any::Any + Send),
    name: &'static str,
    message: String,
) -> Event {
    RefusedRequest::of(request).event(name, message)
}

fn session_number(prefix: &str, id: &str) -> Option<u64> {
    id.strip_prefix(prefix)?.parse().ok()
}

/// A short description of how a session ended, for error messages.
fn describe_end(outcome: Option<&Outcome>) -> String {
    match outcome {
        Some(Outcome::Done { final_state }) => format!("reached final state {final_state}"),
        Some(Outcome::Terminated) => "terminated".to_owned(),
        Some(Outcome::Stopped { reason }) => reason.clone(),
        None => "ended".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use scxml::document::{CustomAction, Element};
    use scxml::{BASIC_HTTP_EVENT_PROCESSOR, SCXML_INVOKE_TYPE};

    use super::*;
    use crate::gateway::Refusal;
    use crate::testing::{doc, event_name, harness, harness_with_prefix, ts, Input};

    #[test]
    fn parent_and_child_reach_each_other_by_every_target_form() {
        let mut h = harness(
            |fake, input| match (fake.name.as_str(), event_name(input), input) {
                ("parent", _, Input::Start) => fake.invoke(
                    "kid",
                    SCXML_INVOKE_TYPE,
                    InvokeSource::Document(doc("child")),
                ),
                ("child", _, Input::Start) => fake.send(Some("#_parent"), "hello", None),
                ("parent", Some("hello"), _) => fake.send(Some("#_kid"), "ping", None),
                ("child", Some("ping"), _) => fake.send(Some("#_scxml_1"), "pong", None),
                ("parent", Some("pong"), _) => fake.send(None, "self", None),
                ("parent", Some("self"), _) => fake.send(Some("#_scxml_1"), "own", None),
                _ => {}
            },
        );
        h.spawn("parent");
        h.settle();
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "2 start",
                "1 external hello <kid> from #_scxml_2",
                "2 external ping from #_scxml_1",
                "1 external pong <kid> from #_scxml_2",
                "1 external self from #_scxml_1",
                "1 external own from #_scxml_1",
            ]
        );
    }

    #[test]
    fn unreachable_and_unsupported_targets_raise_errors_with_the_sendid() {
        let mut h = harness(|fake, input| {
            if matches!(input, Input::Start) {
                fake.send(Some("#_scxml_99"), "a", Some("s1"));
                fake.send(Some("baz"), "b", Some("s2"));
                fake.send(Some("#_nokid"), "c", Some("s3"));
                fake.send(Some("#_parent"), "d", Some("s4"));
                fake.send_via(
                    BASIC_HTTP_EVENT_PROCESSOR,
                    Some("http://localhost/"),
                    "e",
                    Some("s5"),
                );
            }
        });
        h.spawn("lonely");
        h.settle();
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "1 platform error.communication #s1",
                "1 platform error.execution #s2",
                "1 platform error.communication #s3",
                "1 platform error.communication #s4",
                "1 platform error.communication #s5",
            ]
        );
    }

    /// A gateway that answers every send at once through the inbox: an
    /// echo event for the sender first (as a POST to oneself would), then
    /// the result; targets starting with `fail` fail, `refuse` are refused,
    /// SCXML sends (unknown sessions) are unreachable.
    struct EchoGateway {
        inbox: Inbox,
        calls: Rc<RefCell<Vec<String>>>,
    }

    impl Gateway for EchoGateway {
        fn open(&mut self, session_id: &str) -> Vec<(String, String)> {
            self.calls.borrow_mut().push(format!("open {session_id}"));
            Vec::new()
        }

        fn close(&mut self, session_id: &str) {
            self.calls.borrow_mut().push(format!("close {session_id}"));
        }

        fn send(&mut self, handoff: Handoff) -> Result<Delivery, Refusal> {
            let target = handoff.request.target.unwrap_or_default();
            if handoff.request.kind == SCXML_EVENT_PROCESSOR {
                return Err(Refusal::Communication(format!("no session {target}")));
            }
            if target.starts_with("refuse") {
                return Err(Refusal::Execution("refused".to_owned()));
            }
            let result = if target.starts_with("fail") {
                Err("no answer".to_owned())
            } else {
                let name = format!("echo.{}", handoff.request.event.name);
                let event = Event::external(name, Data::Undefined);
                let session = handoff.session_id;
                self.inbox.send(Inbound::Event { session, event });
                Ok(())
            };
            let ticket = handoff.ticket;
            self.inbox.send(Inbound::Sent { ticket, result });
            Ok(Delivery::Pending)
        }

        fn extension(&mut self, handoff: ExtensionHandoff) -> Result<Delivery, Refusal> {
            let Some(ors::Request::Fetch { requestid, .. }) = handoff.request.downcast_ref() else {
                return Err(Refusal::Execution("fetch only".to_owned()));
            };
            // Completed from another thread, as a real fetch would be.
            let event = ors::events::fetch_done(requestid, 200, "{}".to_owned(), Vec::new());
            let (inbox, ticket) = (self.inbox.clone(), handoff.ticket);
            std::thread::spawn(move || {
                let event = Some(event);
                inbox.send(Inbound::Completed { ticket, event });
            });
            Ok(Delivery::Pending)
        }
    }

    fn echo_gateway(h: &mut crate::testing::Harness) -> Rc<RefCell<Vec<String>>> {
        let calls: Rc<RefCell<Vec<String>>> = Rc::default();
        let inbox = h.runner.inbox();
        h.runner.set_gateway(EchoGateway {
            inbox,
            calls: Rc::clone(&calls),
        });
        calls
    }

    #[test]
    fn a_pending_send_holds_its_session_until_its_result_comes_back() {
        let mut h = harness(|fake, input| match (event_name(input), input) {
            (_, Input::Start) => {
                fake.send_via(BASIC_HTTP_EVENT_PROCESSOR, Some("http://me/"), "a", None);
                fake.send(None, "after", None);
            }
            (Some("after"), _) => fake.finish("end", Data::Undefined),
            _ => {}
        });
        let calls = echo_gateway(&mut h);
        h.spawn("chart");
        h.settle();
        // The echo arrives before what the session did after the send.
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "1 external echo.a",
                "1 external after from #_scxml_1"
            ]
        );
        assert_eq!(h.runner.in_flight(), 0);
        assert_eq!(*calls.borrow(), ["open 1", "close 1"]);
    }

    #[test]
    fn numbered_events_are_taken_in_order_and_dropped_at_the_end() {
        let mut h = harness(|fake, input| match (fake.name.as_str(), input) {
            ("held", Input::Start) => {
                fake.send_via(BASIC_HTTP_EVENT_PROCESSOR, Some("http://me/"), "a", None)
            }
            (_, Input::Event(e)) if e.name == "stop" => fake.finish("end", Data::Undefined),
            _ => {}
        });
        echo_gateway(&mut h);
        let held = h.spawn("held");
        let event = |name: &str| Event::external(name, Data::Undefined);
        let first = h.runner.enqueue_numbered(held, event("x")).unwrap();
        let stop = h.runner.enqueue_numbered(held, event("stop")).unwrap();
        let late = h.runner.enqueue_numbered(held, event("y")).unwrap();
        assert_eq!((first, stop, late), (1, 2, 3));
        assert!(!h.runner.has_taken(held, first));
        // The send's result comes back, the hold ends, the queue is served
        // up to the end.
        h.settle();
        assert!(h.runner.has_taken(held, first));
        assert!(h.runner.has_taken(held, stop));
        assert!(!h.runner.has_taken(held, late));
        assert_eq!(h.runner.enqueue_numbered(held, event("z")), None);
    }

    #[test]
    fn takes_next_only_with_nothing_queued_and_no_hold() {
        let mut h = harness(|fake, input| match (fake.name.as_str(), input) {
            ("held", Input::Start) => {
                fake.send_via(BASIC_HTTP_EVENT_PROCESSOR, Some("http://me/"), "a", None)
            }
            (_, Input::Event(e)) if e.name == "stop" => fake.finish("end", Data::Undefined),
            _ => {}
        });
        echo_gateway(&mut h);
        let idle = h.spawn("idle");
        assert!(h.runner.takes_next(idle));
        assert_eq!(
            h.runner.machine_mut(idle).map(|m| m.name.clone()),
            Some("idle".to_owned())
        );
        h.runner
            .enqueue(idle, Event::external("x", Data::Undefined));
        assert!(!h.runner.takes_next(idle));
        h.settle();
        assert!(h.runner.takes_next(idle));
        let held = h.spawn("held");
        assert!(!h.runner.takes_next(held));
        h.settle();
        assert!(h.runner.takes_next(held));
        h.runner
            .enqueue(idle, Event::external("stop", Data::Undefined));
        h.settle();
        assert!(!h.runner.takes_next(idle));
    }

    #[test]
    fn a_pending_fetch_holds_its_session_and_its_timer_until_it_completes() {
        let mut h = harness(|fake, input| match (event_name(input), input) {
            (_, Input::Start) => {
                fake.actions.push_back(ors(ors::Request::Fetch {
                    requestid: "f1".to_owned(),
                    url: "http://127.0.0.1:1/".to_owned(),
                    method: "GET".to_owned(),
                    enctype: String::new(),
                    accept: None,
                    headers: Vec::new(),
                    timeout_ms: None,
                    params: Vec::new(),
                    content: None,
                }));
                fake.send(None, "after", None);
                fake.timeout = Some(fake.now + std::time::Duration::from_millis(5));
            }
            (Some("after"), _) => fake.finish("end", Data::Undefined),
            _ => {}
        });
        echo_gateway(&mut h);
        let key = h.spawn("chart");
        assert_eq!(h.runner.in_flight(), 1);
        let end = h.runner.run_to_end(key, None);
        assert_eq!(end.ok(), Some(RunEnd::Finished));
        let journal: Vec<String> = h
            .journal()
            .into_iter()
            .map(|line| line.split(" data=").next().unwrap_or_default().to_owned())
            .collect();
        // The completion comes before what the session did after the
        // fetch, and no timer fired while it was out.
        assert_eq!(
            journal,
            [
                "1 start",
                "1 external session.fetch.done",
                "1 external after from #_scxml_1"
            ]
        );
    }

    #[test]
    fn failed_and_refused_handoffs_give_errors_with_the_sendid() {
        let mut h = harness(|fake, input| {
            if matches!(input, Input::Start) {
                fake.send_via(BASIC_HTTP_EVENT_PROCESSOR, Some("fail"), "a", Some("s1"));
                fake.send_via(BASIC_HTTP_EVENT_PROCESSOR, Some("refuse"), "b", Some("s2"));
                fake.send(Some("#_scxml_42"), "c", Some("s3"));
            }
        });
        echo_gateway(&mut h);
        h.spawn("chart");
        h.settle();
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "1 platform error.communication #s1",
                "1 platform error.execution #s2",
                // An unknown `#_scxml_` id goes to the gateway, which
                // knows no such session either.
                "1 platform error.communication #s3",
            ]
        );
    }

    #[test]
    fn inbox_events_reach_sessions_by_id_and_unknown_ids_are_dropped() {
        let mut h = harness(|_, _| {});
        let inbox = h.runner.inbox();
        h.spawn("chart");
        assert!(inbox.send(Inbound::Event {
            session: "1".to_owned(),
            event: Event::external("hello", Data::Undefined),
        }));
        assert!(inbox.send(Inbound::Event {
            session: "9".to_owned(),
            event: Event::external("lost", Data::Undefined),
        }));
        assert!(inbox.send(Inbound::Wake));
        h.settle();
        assert_eq!(h.journal(), ["1 start", "1 external hello"]);
    }

    #[test]
    fn done_invoke_follows_the_childs_last_event_and_removes_the_child() {
        let mut h = harness(|fake, input| match (fake.name.as_str(), input) {
            ("parent", Input::Start) => {
                fake.invoke("kid", "scxml", InvokeSource::Document(doc("child")))
            }
            ("child", Input::Start) => {
                fake.send(Some("#_parent"), "last", None);
                fake.finish("end", Data::from("bye"));
            }
            _ => {}
        });
        let parent = h.spawn("parent");
        h.settle();
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "2 start",
                "1 external last <kid> from #_scxml_2",
                "1 external done.invoke.kid <kid> from #_scxml_2 data=bye",
            ]
        );
        assert_eq!(h.runner.live_sessions(), 1);
        assert!(h.runner.is_running(parent));
    }

    #[test]
    fn a_reserved_child_id_is_given_to_the_next_matching_invoke_once() {
        let mut h = harness(|fake, input| match (fake.name.as_str(), input) {
            ("parent", Input::Start) => {
                fake.invoke("kid", "scxml", InvokeSource::Document(doc("child")));
                fake.invoke("other", "scxml", InvokeSource::Document(doc("child")));
            }
            ("parent", Input::Event(_)) => {
                fake.invoke("kid", "scxml", InvokeSource::Document(doc("child")))
            }
            _ => {}
        });
        h.runner.set_next_session_number(100);
        let Some(reserved) = h.runner.reserve_session_number(42) else {
            panic!("42 is free");
        };
        h.runner.reserve_child("100", "kid", reserved);
        let Some(unused) = h.runner.reserve_session_number(43) else {
            panic!("43 is free");
        };
        h.runner.reserve_child("100", "nobody", unused);
        let parent = h.spawn("parent");
        h.settle();
        assert_eq!(h.journal(), ["100 start", "42 start", "101 start"]);
        // A second invoke of the same id gets a fresh number.
        h.runner
            .enqueue(parent, Event::external("again", Data::Undefined));
        h.settle();
        assert_eq!(
            h.journal()[3..],
            ["100 external again", "42 terminate", "102 start"]
        );
        assert_eq!(h.runner.take_unused_child_reservations(), ["43"]);
        assert!(h.runner.take_unused_child_reservations().is_empty());
    }

    #[test]
    fn cancelling_a_child_keeps_its_logs_and_drops_its_events() {
        let mut h = harness(
            |fake, input| match (fake.name.as_str(), event_name(input), input) {
                ("parent", _, Input::Start) => {
                    fake.send(None, "leave", None);
                    fake.invoke(
                        "kid",
                        SCXML_INVOKE_TYPE,
                        InvokeSource::Document(doc("child")),
                    );
                }
                ("parent", Some("leave"), _) => fake.actions.push_back(Action::CancelInvoke {
                    invokeid: "kid".to_owned(),
                }),
                ("child", _, Input::Start) => {
                    fake.send(Some("#_parent"), "early", None);
                    fake.timeout = Some(fake.now + std::time::Duration::from_millis(500));
                }
                ("child", _, Input::Terminate) => {
                    fake.actions.push_back(Action::Log {
                        label: Some("exit".to_owned()),
                        value: Data::from("bye"),
                        level: None,
                    });
                    fake.send(Some("#_parent"), "fromOnexit", None);
                }
                _ => {}
            },
        );
        h.spawn("parent");
        h.settle();
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "2 start",
                "1 external leave from #_scxml_1",
                "2 terminate"
            ]
        );
        assert_eq!(*h.logs.borrow(), ["2 kid exit=bye"]);
        assert_eq!(h.runner.next_timeout(), None);
        assert_eq!(h.runner.live_sessions(), 1);
    }

    #[test]
    fn virtual_clock_fires_timers_in_due_order_at_their_own_time() {
        let mut h = harness(|fake, input| match input {
            Input::Start => {
                let delay = if fake.name == "slow" { 300 } else { 100 };
                fake.timeout = Some(fake.now + std::time::Duration::from_millis(delay));
            }
            Input::Timeout => fake.send(None, "woke", None),
            _ => {}
        });
        h.spawn("slow");
        h.spawn("quick");
        if let Err(e) = h.runner.advance(ts(1000)) {
            panic!("advance: {e}");
        }
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "2 start",
                "2 timeout@100",
                "2 external woke from #_scxml_2",
                "1 timeout@300",
                "1 external woke from #_scxml_1",
            ]
        );
        assert_eq!(h.runner.now(), ts(1000));
        assert_eq!(h.runner.next_timeout(), None);
    }

    #[test]
    fn run_to_end_stops_at_the_time_limit_or_when_quiet() {
        let mut h = harness(|fake, input| {
            if fake.name == "ticker" && matches!(input, Input::Start | Input::Timeout) {
                fake.timeout = Some(fake.now + std::time::Duration::from_millis(1000));
            }
        });
        let ticker = h.spawn("ticker");
        assert!(matches!(
            h.runner.run_to_end(ticker, Some(ts(2500))),
            Ok(RunEnd::TimeLimit)
        ));
        assert_eq!(h.journal(), ["1 start", "1 timeout@1000", "1 timeout@2000"]);
        assert_eq!(h.runner.now(), ts(2500));
        h.runner.release(ticker);
        let idle = h.spawn("idle");
        assert!(matches!(h.runner.run_to_end(idle, None), Ok(RunEnd::Quiet)));
    }

    #[test]
    fn session_ids_count_up_and_are_never_reused() {
        let mut h = harness(|_, _| {});
        let a = h.spawn("a");
        let b = h.spawn("b");
        let c = h.spawn("c");
        let ids: Vec<_> = [a, b, c]
            .iter()
            .map(|k| h.runner.session_id(*k).map(str::to_owned))
            .collect();
        assert_eq!(
            ids,
            [
                Some("1".to_owned()),
                Some("2".to_owned()),
                Some("3".to_owned())
            ]
        );
        h.runner.release(b);
        assert_eq!(h.runner.session_id(b), None);
        let d = h.spawn("d");
        assert_ne!(d, b);
        assert_eq!(h.runner.session_id(d), Some("4"));
        assert_eq!(h.runner.live_sessions(), 3);
        assert!(!h
            .runner
            .enqueue(b, Event::external("late", Data::Undefined)));
    }

    #[test]
    fn prefixed_ids_route_and_host_terminate_reports_the_end() {
        let mut h = harness_with_prefix("W1-", |fake, input| match (fake.name.as_str(), input) {
            ("b", Input::Start) => fake.send(Some("#_scxml_W1-1"), "hi", None),
            ("b", Input::Terminate) => fake.send(Some("#_scxml_W1-1"), "bye", None),
            _ => {}
        });
        let a = h.spawn("a");
        let b = h.spawn("b");
        h.settle();
        assert_eq!(h.runner.session_id(b), Some("W1-2"));
        assert!(h.runner.terminate(b));
        assert!(!h.runner.terminate(b));
        h.settle();
        assert_eq!(h.runner.take_ended(), [b]);
        let reserved = h.runner.reserve_session_id();
        assert_eq!(reserved.as_str(), "W1-3");
        let c = h.spawn("c");
        assert_eq!(h.runner.session_id(c), Some("W1-4"));
        let late = h.runner.spawn_reserved(reserved, doc("late"), Vec::new());
        assert_eq!(
            late.ok()
                .and_then(|k| h.runner.session_id(k).map(str::to_owned)),
            Some("W1-3".to_owned())
        );
        assert_eq!(h.runner.outcome(b), Some(&Outcome::Terminated));
        assert!(h.runner.is_running(a));
        assert_eq!(
            h.journal(),
            [
                "W1-1 start",
                "W1-2 start",
                "W1-1 external hi from #_scxml_W1-2",
                "W1-2 terminate",
                "W1-1 external bye from #_scxml_W1-2",
                "W1-4 start",
                "W1-3 start",
            ]
        );
    }

    #[test]
    fn a_finished_session_takes_no_events_and_stays_readable() {
        let mut h = harness(|fake, input| {
            if matches!(input, Input::Start) {
                fake.finish("pass", Data::Undefined);
            }
        });
        let key = h.spawn("final");
        assert!(!h.runner.is_running(key));
        assert_eq!(
            h.runner.outcome(key),
            Some(&Outcome::Done {
                final_state: "pass".to_owned()
            })
        );
        assert_eq!(h.runner.configuration(key), ["final"]);
        assert!(!h.runner.enqueue(key, Event::external("x", Data::Undefined)));
        h.runner.release(key);
        assert_eq!(h.runner.live_sessions(), 0);
    }

    #[test]
    fn failed_invocations_and_custom_actions_give_errors() {
        let mut h = harness(|fake, input| {
            if matches!(input, Input::Start) {
                fake.invoke(
                    "a",
                    "http://example.com/ccxml",
                    InvokeSource::Document(doc("child")),
                );
                fake.invoke(
                    "b",
                    SCXML_INVOKE_TYPE,
                    InvokeSource::Url("file:missing.scxml".to_owned()),
                );
                fake.actions
                    .push_back(Action::Custom(Arc::new(CustomAction {
                        element: Element {
                            namespace: "http://www.genesyslab.com/modules/queue".to_owned(),
                            name: "submit".to_owned(),
                            attributes: Vec::new(),
                            children: Vec::new(),
                            source: String::new(),
                            location: Default::default(),
                        },
                        attributes: Vec::new(),
                        params: Vec::new(),
                        content: None,
                    })));
            }
        });
        h.spawn("parent");
        h.settle();
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "1 platform error.execution",
                "1 platform error.communication",
                "1 platform error.execution",
            ]
        );
        assert_eq!(h.runner.live_sessions(), 1);
    }

    fn ors(request: ors::Request) -> Action {
        Action::Extension(ExtensionRequest {
            request: Box::new(request),
        })
    }

    #[test]
    fn ors_requests_complete_with_their_events_without_a_gateway() {
        let mut h = harness(|fake, input| {
            if fake.name == "a" && matches!(input, Input::Start) {
                let requestid = |n: &str| n.to_owned();
                fake.actions.push_back(ors(ors::Request::Terminate {
                    requestid: requestid("t1"),
                    session_id: "1".to_owned(),
                }));
                fake.actions.push_back(ors(ors::Request::Terminate {
                    requestid: requestid("t2"),
                    session_id: "nobody".to_owned(),
                }));
                fake.actions.push_back(ors(ors::Request::Start {
                    requestid: requestid("s1"),
                    session_id: "s1-s".to_owned(),
                    src: "missing.scxml".to_owned(),
                    params: Vec::new(),
                }));
                fake.actions.push_back(ors(ors::Request::Fetch {
                    requestid: requestid("f1"),
                    url: "http://127.0.0.1:1/".to_owned(),
                    method: "GET".to_owned(),
                    enctype: String::new(),
                    accept: None,
                    headers: Vec::new(),
                    timeout_ms: None,
                    params: Vec::new(),
                    content: None,
                }));
                fake.actions.push_back(ors(ors::Request::Response {
                    requestid: requestid("r1"),
                    kind: "positive".to_owned(),
                    resultcode: None,
                    params: Vec::new(),
                }));
            }
        });
        let b = h.spawn("b");
        let a = h.spawn("a");
        h.settle();
        assert_eq!(h.runner.outcome(b), Some(&Outcome::Terminated));
        assert!(h.runner.is_running(a));
        let events: Vec<String> = h
            .journal()
            .into_iter()
            .filter(|line| line.starts_with("2 ") && !line.ends_with(" start"))
            .map(|line| line.split(" data=").next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            events,
            [
                "2 external session.terminate.done",
                "2 external error.session.terminate",
                "2 external error.session.start",
                "2 external error.session.fetch",
                "2 platform error.execution",
            ]
        );
    }

    /// Loads one tiny document, named `kid`, for every `src`.
    struct KidLoader;

    impl Loader for KidLoader {
        fn load(
            &self,
            _base: &str,
            src: &str,
        ) -> Result<(String, String), scxml::document::LoadError> {
            let text =
                r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" name="kid"/>"#;
            Ok((format!("/charts/{src}"), text.to_owned()))
        }
    }

    /// Takes delegated starts (pending) and refuses terminations.
    struct Delegate {
        starts: Rc<RefCell<Vec<(Ticket, SessionStart)>>>,
    }

    impl Gateway for Delegate {
        fn send(&mut self, _handoff: Handoff) -> Result<Delivery, Refusal> {
            Err(Refusal::Communication("no sends".to_owned()))
        }

        fn extension(&mut self, handoff: ExtensionHandoff) -> Result<Delivery, Refusal> {
            match handoff.request.downcast::<SessionStart>() {
                Ok(start) => {
                    self.starts.borrow_mut().push((handoff.ticket, *start));
                    Ok(Delivery::Pending)
                }
                Err(_) => Err(Refusal::Execution("busy".to_owned())),
            }
        }
    }

    #[test]
    fn delegated_starts_and_remote_terminations_go_to_the_gateway() {
        let journal = crate::testing::Journal::default();
        let script = |fake: &mut crate::testing::Fake, input: &Input<'_>| {
            if fake.name == "a" && matches!(input, Input::Start) {
                fake.actions.push_back(ors(ors::Request::Start {
                    requestid: "a-1".to_owned(),
                    session_id: "a-1-s".to_owned(),
                    src: "kid.scxml".to_owned(),
                    params: vec![("x".to_owned(), Data::from("y"))],
                }));
                fake.actions.push_back(ors(ors::Request::Terminate {
                    requestid: "a-2".to_owned(),
                    session_id: "elsewhere-7".to_owned(),
                }));
            }
        };
        // The real clock: the host completes the start between runs (with
        // the virtual one `run_until_idle` would wait for it).
        let mut runner = Runner::with_factory(
            crate::testing::FakeFactory {
                script: Rc::new(script),
                journal: Rc::clone(&journal),
            },
            Box::new(KidLoader),
            RunnerOptions {
                clock: ClockMode::Real,
                ..RunnerOptions::default()
            },
            |_: &LogEntry<'_>| {},
        );
        let starts = Rc::new(RefCell::new(Vec::new()));
        runner.set_gateway(Delegate {
            starts: Rc::clone(&starts),
        });
        runner.set_remote_directory(|id| id.starts_with("elsewhere-"));
        runner.delegate_ors_starts();
        let a = runner.spawn(doc("a"), Vec::new()).unwrap();
        runner.run_until_idle().unwrap();
        // Held by its start: the termination waits behind it.
        let (ticket, start) = starts.borrow_mut().pop().unwrap();
        assert_eq!(start.session_id, "a-1-s");
        assert_eq!(start.document.source_name, "/charts/kid.scxml");
        assert_eq!(start.params, [("x".to_owned(), Data::from("y"))]);
        assert_eq!(journal.borrow().len(), 1, "{:?}", journal.borrow());
        let kid = runner
            .spawn_named(
                start.session_id.clone(),
                Arc::clone(&start.document),
                start.params,
            )
            .unwrap();
        assert_eq!(runner.session_id(kid), Some("a-1-s"));
        assert_eq!(runner.find_session("a-1-s"), Some(kid));
        assert!(matches!(
            runner.spawn_named("a-1-s".to_owned(), start.document, Vec::new()),
            Err(RunError::IdTaken(_))
        ));
        let done = ors::events::start_done(&start.requestid, "a-1-s");
        runner.inbox().send(Inbound::Completed {
            ticket,
            event: Some(done),
        });
        runner.run_until_idle().unwrap();
        assert!(runner.is_running(a));
        let events: Vec<String> = journal
            .borrow()
            .iter()
            .map(|line| line.split(" data=").next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            events,
            [
                "1 start",
                "a-1-s start",
                "1 external session.start.done",
                "1 external error.session.terminate",
            ]
        );
    }

    #[test]
    fn forwarded_events_reach_the_child() {
        let mut h = harness(
            |fake, input| match (fake.name.as_str(), event_name(input), input) {
                ("parent", _, Input::Start) => fake.invoke(
                    "kid",
                    SCXML_INVOKE_TYPE,
                    InvokeSource::Document(doc("child")),
                ),
                ("parent", Some("call"), Input::Event(e)) => {
                    fake.actions.push_back(Action::Forward {
                        invokeid: "kid".to_owned(),
                        event: (*e).clone(),
                    })
                }
                _ => {}
            },
        );
        let parent = h.spawn("parent");
        assert!(h
            .runner
            .enqueue(parent, Event::external("call", Data::from("x"))));
        h.settle();
        assert_eq!(
            h.journal(),
            [
                "1 start",
                "2 start",
                "1 external call data=x",
                "2 external call data=x"
            ]
        );
    }

    #[test]
    fn a_child_stopped_without_final_state_reports_an_error() {
        let mut h = harness(|fake, input| match (fake.name.as_str(), input) {
            ("parent", Input::Start) => fake.invoke(
                "kid",
                SCXML_INVOKE_TYPE,
                InvokeSource::Document(doc("child")),
            ),
            ("child", Input::Start) => {
                fake.running = false;
                fake.outcome = Some(Outcome::Stopped {
                    reason: "too many microsteps".to_owned(),
                });
            }
            _ => {}
        });
        h.spawn("parent");
        h.settle();
        assert_eq!(
            h.journal(),
            ["1 start", "2 start", "1 platform error.execution"]
        );
        assert_eq!(h.runner.live_sessions(), 1);
    }

    #[test]
    fn ending_a_parent_cancels_its_children() {
        let mut h = harness(
            |fake, input| match (fake.name.as_str(), event_name(input), input) {
                ("parent", _, Input::Start) => fake.invoke(
                    "kid",
                    SCXML_INVOKE_TYPE,
                    InvokeSource::Document(doc("child")),
                ),
                ("parent", Some("stop"), _) => fake.finish("end", Data::Undefined),
                ("child", _, Input::Start) => {
                    fake.timeout = Some(fake.now + std::time::Duration::from_millis(50))
                }
                _ => {}
            },
        );
        let parent = h.spawn("parent");
        assert!(h
            .runner
            .enqueue(parent, Event::external("stop", Data::Undefined)));
        h.settle();
        assert_eq!(
            h.journal(),
            ["1 start", "2 start", "1 external stop", "2 terminate"]
        );
        assert_eq!(h.runner.next_timeout(), None);
        assert_eq!(h.runner.live_sessions(), 1);
    }
}
