//! Group commit per worker: the events and starts a worker takes in one
//! turn are journaled together, and the worker waits for one fsync'd commit
//! before any session sees them.
//!
//! A batch of commands is served in runs. A run gathers consecutive event
//! and start commands: for each event to a journaled session the session's
//! machine assigns the next sequence number and keeps the event
//! ([`PersistSession::journal_ahead`](super::super::persist::PersistSession::journal_ahead)),
//! for each start the worker reserves the id and draws the seed; the records
//! go into one [`journal::Group`]. The worker waits for the group's tickets
//! (one transaction, one fsync, shared with the other workers' groups queued
//! meanwhile), then enqueues the events, creates the sessions, lets the
//! runner process everything until idle, and answers the requests. Any
//! other command (a query, a termination, a trace...) ends the run: it is
//! served after the run's inputs, in the order it came.
//!
//! Why the order of each session's inputs stays the order of its journal:
//! nothing runs between journaling ahead and delivery, and an event is only
//! journaled ahead for a session whose runner queue is empty and that no
//! pending send holds ([`runner::Runner::takes_next`]). Its events of the
//! run are enqueued first, before the new sessions start, so they are the
//! next events it takes; anything sent to it while the run is processed
//! queues behind them and is journaled when taken, with a later sequence
//! number. That holds for what other threads hand the worker too: `<send>`s
//! from sessions of other workers, Basic HTTP POSTs and the completions of
//! ORS actions wait in the runner's inbox, which the runner takes in (onto
//! the sessions' queues) only while it runs, after the run's events are
//! enqueued — even when they arrived while the worker waited for the
//! commit. `/request/{name}` events are event commands like any other. An
//! input that can bypass the queue (a termination by another session of
//! the worker, a timer) makes the session take its journaled events first.
//! Events to other sessions (not journaled, held, or with events queued)
//! are enqueued behind what is queued and journaled when the session takes
//! them — their requests are answered then, not after the run
//! ([`super::deferred`]) — and so are the inputs that are not commands: `<session:start>`s, scheduled
//! starts (`Began`), the events completing requests interrupted by a
//! restart, invoked children's inputs.
//!
//! A journaled event is processed with the time it was journaled with (a
//! few milliseconds before the macrostep, at most), which is what replay
//! gives it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use journal::{ContentHash, DocumentRef, Entry, Group, Record, Ticket};
use runner::{ReservedId, SessionKey};
use scxml::{Event, Outcome, Timestamp};

use super::super::persist::{start_record, JournaledStart, Journaling, StartInfo};
use super::{Command, Entry as SessionEntry, Reply, Status, Worker};
use crate::runtime::{SessionError, StartRequest};

/// The inputs of one run, gathered and journaled, not yet delivered.
struct Run {
    /// The worker's clock when the run began: the time of its inputs.
    now: Timestamp,
    /// The journal records of the run; `None` without a journal.
    group: Option<Group>,
    /// Tickets of the group's commands, with their session ids.
    tickets: Vec<(String, Ticket)>,
    /// Sessions with events journaled ahead in this run.
    ahead: HashSet<SessionKey>,
    events: Vec<RunEvent>,
    starts: Vec<RunStart>,
    /// A `Wake` came: the runner's inbox has events (taken in by the
    /// run's processing).
    wake: bool,
}

struct RunEvent {
    key: SessionKey,
    id: String,
    event: Event,
    reply: Reply<()>,
    /// Journaled when the session takes it: answered then
    /// ([`super::deferred`]), not after the run.
    when_taken: bool,
}

struct RunStart {
    request: StartRequest,
    reply: Reply<String>,
    /// The reserved id and the journaled seed and source, when the start
    /// record is in the group.
    journaled: Option<(ReservedId, u64, (Arc<str>, ContentHash))>,
}

impl Run {
    fn new(worker: &Worker) -> Run {
        Run {
            now: worker.runner.now(),
            group: worker.setup.journal.as_ref().map(journal::Journal::group),
            tickets: Vec::new(),
            ahead: HashSet::new(),
            events: Vec::new(),
            starts: Vec::new(),
            wake: false,
        }
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.starts.is_empty() && !self.wake
    }
}

impl Worker {
    /// Serves the commands taken in one turn, in order; `false` to stop.
    pub(super) fn handle_batch(&mut self, commands: Vec<Command>) -> bool {
        let mut run = Run::new(self);
        for command in commands {
            if !matches!(command, Command::Stop) {
                // Counted in by `Runtime::call`, or by the `Notifier` and
                // `<session:terminate>` of another worker.
                self.setup.queue.dec();
            }
            match command {
                Command::Event { id, event, reply } => {
                    self.gather_event(&mut run, id, event, reply)
                }
                Command::Start { request, reply } if request.at.is_none_or(|at| at <= run.now) => {
                    self.gather_start(&mut run, request, reply)
                }
                Command::Wake => run.wake = true,
                other => {
                    if !run.is_empty() {
                        self.deliver(run);
                        run = Run::new(self);
                    }
                    if !self.handle(other) {
                        return false;
                    }
                }
            }
        }
        if !run.is_empty() {
            self.deliver(run);
        }
        true
    }

    /// Adds an event to the run, journaled ahead when its session allows.
    fn gather_event(&mut self, run: &mut Run, id: String, event: Event, reply: Reply<()>) {
        let key = match self.running(&id) {
            Ok(Some(key)) => key,
            // Ended, unknown, or scheduled (the event is journaled with the
            // scheduled start and waits for it): nothing to process now.
            _ => {
                self.setup.mailboxes.release(&id);
                let _ = reply.send(self.event(&id, event));
                return;
            }
        };
        let mut when_taken = false;
        if let Some(group) = run.group.as_mut() {
            let ahead = run.ahead.contains(&key) || self.runner.takes_next(key);
            let record = ahead
                .then(|| self.runner.machine_mut(key))
                .flatten()
                .and_then(|machine| machine.journal_ahead(&event, run.now));
            match record {
                Some(record) => {
                    run.ahead.insert(key);
                    run.tickets.push((id.clone(), group.append(record)));
                }
                // Held or with events queued: journaled when taken.
                None => {
                    when_taken = self
                        .runner
                        .machine_mut(key)
                        .is_some_and(|machine| machine.is_journaled())
                }
            }
        }
        if !when_taken {
            self.setup.mailboxes.release(&id);
        }
        run.events.push(RunEvent {
            key,
            id,
            event,
            reply,
            when_taken,
        });
    }

    /// Adds a start to the run, its start record in the group when the
    /// session is journaled.
    fn gather_start(&mut self, run: &mut Run, request: StartRequest, reply: Reply<String>) {
        let source = match run.group {
            Some(_) => self.sources.of(&request.document),
            None => None,
        };
        let journaled = match (run.group.as_mut(), source) {
            (Some(group), Some((text, hash))) => {
                let reserved = self.runner.reserve_session_id();
                let seed = self.runner.factory_mut().next_seed();
                let document = DocumentRef {
                    url: Some(request.src.clone()),
                    hash,
                };
                let start = start_record(document, &request.params, seed, run.now, None);
                let ticket = group.start(reserved.as_str(), start, Arc::clone(&text));
                run.tickets.push((reserved.as_str().to_owned(), ticket));
                Some((reserved, seed, (text, hash)))
            }
            _ => None,
        };
        run.starts.push(RunStart {
            request,
            reply,
            journaled,
        });
    }

    /// Makes the run's records durable, then lets the sessions process its
    /// inputs and answers its requests.
    fn deliver(&mut self, run: Run) {
        let Run {
            now,
            group,
            tickets,
            events,
            starts,
            ..
        } = run;
        if let Some(group) = group {
            let waited = Instant::now();
            group.submit();
            if !tickets.is_empty() {
                for (session, ticket) in tickets {
                    if let Err(e) = ticket.wait() {
                        // The session goes on (refusing the input would not
                        // make it durable either); the operator sees why
                        // recovery will miss it.
                        tracing::error!(session = %session, "journal append failed: {e}");
                    }
                }
                self.setup
                    .metrics
                    .journal_wait_seconds
                    .observe(waited.elapsed().as_secs_f64());
            }
        }
        let started = Instant::now();
        // Events first: those journaled ahead are then the next events of
        // their sessions, before anything the new sessions send.
        let mut replies = Vec::with_capacity(events.len());
        for RunEvent {
            key,
            id,
            event,
            reply,
            when_taken,
        } in events
        {
            if when_taken {
                self.enqueue_answered_when_taken(key, id, event, reply);
            } else {
                self.runner.enqueue(key, event);
                replies.push(reply);
            }
        }
        let mut answers = Vec::with_capacity(starts.len());
        for start in starts {
            let result = self.spawn_started(start.request, start.journaled, now);
            answers.push((start.reply, result));
        }
        self.settle();
        let elapsed = started.elapsed().as_secs_f64();
        let metrics = &self.setup.metrics;
        for reply in replies {
            metrics.events_in.inc();
            metrics.macrostep_seconds.observe(elapsed);
            let _ = reply.send(Ok(()));
        }
        for (reply, result) in answers {
            let _ = reply.send(result);
        }
    }

    /// Creates a session of the run (its initial macrostep runs, its queued
    /// events wait for the run's processing).
    fn spawn_started(
        &mut self,
        request: StartRequest,
        journaled: Option<(ReservedId, u64, (Arc<str>, ContentHash))>,
        now: Timestamp,
    ) -> Result<String, SessionError> {
        let StartRequest {
            document,
            src,
            params,
            ..
        } = request;
        let entry = SessionEntry {
            key: None,
            src: src.clone(),
            status: Status::Scheduled,
            created: now,
            started: None,
            ended: None,
            outcome: None,
            final_states: Vec::new(),
        };
        let Some((reserved, seed, source)) = journaled else {
            self.prepare_start(&document, src, now);
            let key = self
                .runner
                .spawn(document, params)
                .map_err(|e| SessionError::StartFailed(e.to_string()))?;
            return Ok(self.started(key, entry));
        };
        let (text, hash) = source;
        self.shared.borrow_mut().next_start = Some(StartInfo {
            src,
            journaling: Journaling::Grouped {
                text,
                hash,
                start: JournaledStart { seed, at: now },
            },
            created: now,
            scheduled: None,
            waiting: Vec::new(),
        });
        let id = reserved.as_str().to_owned();
        match self.runner.spawn_reserved(reserved, document, params) {
            Ok(key) => Ok(self.started(key, entry)),
            Err(e) => {
                // The start information is for this session only.
                self.shared.borrow_mut().next_start = None;
                // The start is journaled: its end keeps recovery from
                // trying again.
                if let Some(journal) = &self.setup.journal {
                    let reason = format!("failed to start: {e}");
                    let end = Entry::Ended {
                        outcome: (&Outcome::Stopped { reason }).into(),
                        at: now,
                    };
                    drop(journal.append(Record::new(id, 1, end)));
                }
                Err(SessionError::StartFailed(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    use std::time::{Duration, Instant};

    use scxml::{Data, Event};

    use crate::config::Config;
    use crate::metrics::Metrics;
    use crate::runtime::{Runtime, StartRequest};

    /// Records `e` events in `seen`; with a `peer`, relays each to it, so
    /// that the peer's journal mixes events journaled ahead (from requests)
    /// and events journaled when taken (from the other session).
    const CHART: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="on">
  <datamodel><data id="peer" expr="''"/><data id="seen" expr="[]"/></datamodel>
  <state id="on">
    <transition event="e">
      <script>seen.push(_event.data.n)</script>
      <if cond="peer != ''">
        <send event="e" targetexpr="'#_scxml_' + peer"><param name="n" expr="'relay ' + _event.data.n"/></send>
      </if>
    </transition>
  </state>
</scxml>"#;

    /// Holds the journal's writer after a commit, before the batch's
    /// tickets resolve, while closed; notes the records of every batch.
    #[derive(Default)]
    struct Gate {
        state: Mutex<GateState>,
        changed: Condvar,
    }

    #[derive(Default)]
    struct GateState {
        closed: bool,
        /// Batches that reached the gate while it was closed.
        held: usize,
        batches: Vec<usize>,
    }

    impl Gate {
        fn observer(self: &Arc<Self>) -> journal::Observer {
            let gate = Arc::clone(self);
            Arc::new(move |report: &journal::BatchReport| {
                let mut state = gate.lock();
                state.batches.push(report.records);
                if state.closed {
                    state.held += 1;
                    gate.changed.notify_all();
                }
                while state.closed {
                    state = gate.changed.wait(state).unwrap();
                }
            })
        }

        fn lock(&self) -> MutexGuard<'_, GateState> {
            self.state.lock().unwrap()
        }

        fn set_closed(&self, closed: bool) {
            self.lock().closed = closed;
            self.changed.notify_all();
        }

        /// Waits until a batch is held at the closed gate.
        fn wait_held(&self) {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut state = self.lock();
            while state.held == 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "no batch reached the gate");
                state = self.changed.wait_timeout(state, left).unwrap().0;
            }
        }
    }

    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn config(dir: &Path) -> Config {
        Config {
            data_dir: dir.join("data"),
            workers: 1,
            ..Config::default()
        }
    }

    async fn start(runtime: &Runtime, chart: &Path, params: Vec<(String, Data)>) -> String {
        let name = chart.display().to_string();
        let text = std::fs::read_to_string(chart).unwrap();
        let document = scxml::document::parse(&text, &name, &scxml::document::FileLoader).unwrap();
        let request = StartRequest {
            document: Arc::new(document),
            src: name,
            params,
            at: None,
        };
        runtime.start(request).await.unwrap()
    }

    fn event(n: &str) -> Event {
        Event::external("e", Data::Object(vec![("n".into(), Data::from(n))]))
    }

    /// The `n` of each event in the session's journal, in journal order.
    fn journaled(reader: &journal::Journal, id: &str) -> Vec<serde_json::Value> {
        reader
            .records(id, 1)
            .unwrap()
            .into_iter()
            .filter_map(|record| match record.entry {
                journal::Entry::Event { event, .. } => {
                    let event: Event = event.into();
                    event.data.get("n").map(Data::to_json)
                }
                _ => None,
            })
            .collect()
    }

    async fn seen(runtime: &Runtime, id: &str) -> Vec<serde_json::Value> {
        let data = runtime.query(id).await.unwrap().data;
        data["seen"].as_array().cloned().unwrap_or_default()
    }

    /// A termination that reaches a session before its event journaled
    /// ahead (ORS `<session:terminate>` from another session): the session
    /// takes the event first, as its journal says, and skips the runner's
    /// copy of it afterwards.
    #[test]
    fn a_termination_after_an_event_journaled_ahead_takes_the_event_first() {
        use std::cell::RefCell;
        use std::rc::Rc;

        use runner::{EcmaFactory, Machine, SessionFactory};
        use scxml::datamodel::ecmascript::EcmaScriptOptions;
        use scxml::Timestamp;

        use crate::runtime::persist::{Journaling, PersistFactory, Shared, StartInfo};

        let dir = std::env::temp_dir().join(format!("orca-ahead-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let _scratch = Scratch(dir.clone());
        let chart = dir.join("relay.scxml");
        std::fs::write(&chart, CHART).unwrap();
        let name = chart.display().to_string();
        let document =
            Arc::new(scxml::document::parse(CHART, &name, &scxml::document::FileLoader).unwrap());
        let mut config = journal::Config::new(dir.join("journal.db"));
        // Ended sessions stay readable.
        config.keep_ended = Duration::from_secs(3600);
        let journal = journal::Journal::open(config).unwrap();
        let at = Timestamp::from_millis;
        let shared = Rc::new(RefCell::new(Shared {
            journal: Some(journal.clone()),
            next_start: Some(StartInfo {
                src: name,
                journaling: Journaling::New {
                    text: Arc::from(CHART),
                    hash: journal::ContentHash::of(CHART.as_bytes()),
                },
                created: at(1_000),
                scheduled: None,
                waiting: Vec::new(),
            }),
            ..Shared::default()
        }));
        let mut factory = PersistFactory::new(
            EcmaFactory::new(EcmaScriptOptions::default()),
            Rc::clone(&shared),
        );
        let mut session = factory
            .create(document, scxml::SessionOptions::new("s1"))
            .unwrap();
        session.start(at(1_000));
        let record = session.journal_ahead(&event("x"), at(1_001)).unwrap();
        journal.append(record).wait().unwrap();
        session.terminate(at(1_002));
        // The runner's copy arrives later, or never (the queue of an ended
        // session is dropped): either way it is not taken twice.
        session.handle_event(at(1_003), event("x"));
        assert_eq!(
            session.data().get("seen"),
            Some(&Data::Array(vec![Data::from("x")]))
        );
        factory.release(session);
        // Waits for the end record, queued without waiting.
        journal.close();
        let kinds: Vec<_> = journal
            .records("s1", 0)
            .unwrap()
            .into_iter()
            .map(|r| (r.seq, r.entry.kind()))
            .collect();
        use journal::Kind;
        assert_eq!(
            kinds,
            [
                (0, Kind::Started),
                (1, Kind::Event),
                (2, Kind::Terminated),
                (3, Kind::Ended)
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_is_answered_after_its_commit_and_keeps_each_sessions_order() {
        let dir = std::env::temp_dir().join(format!("orca-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let scratch = Scratch(dir.clone());
        let chart = dir.join("relay.scxml");
        std::fs::write(&chart, CHART).unwrap();
        let gate = Arc::new(Gate::default());
        let metrics = Arc::new(Metrics::new());
        let runtime = Arc::new(
            Runtime::with_observer(&config(&dir), Arc::clone(&metrics), Some(gate.observer()))
                .unwrap(),
        );
        let b = start(&runtime, &chart, Vec::new()).await;
        let a = start(
            &runtime,
            &chart,
            vec![("peer".into(), Data::from(b.as_str()))],
        )
        .await;
        // Reads see what is committed, nothing else.
        let reader = Arc::new(
            journal::Journal::open(journal::Config::new(dir.join("data/journal.db"))).unwrap(),
        );

        // Each answer must find its event in the journal already.
        let send = |id: String, n: String| {
            let (runtime, reader) = (Arc::clone(&runtime), Arc::clone(&reader));
            tokio::spawn(async move {
                runtime.send_event(&id, event(&n)).await.unwrap();
                let journaled = journaled(&reader, &id);
                assert!(
                    journaled.contains(&n.clone().into()),
                    "{n} answered before it was durable"
                );
            })
        };
        gate.set_closed(true);
        // The worker takes the first event alone and waits at the gate.
        let mut answers = vec![send(b.clone(), "b0".into())];
        gate.wait_held();
        const EACH: usize = 20;
        for i in 1..=EACH {
            answers.push(send(a.clone(), format!("a{i}")));
            answers.push(send(b.clone(), format!("b{i}")));
        }
        // All of them wait in the worker's queue, none is answered.
        let queue = metrics.queue_gauge(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while queue.get() < 2 * EACH as i64 && !answers.iter().any(|task| task.is_finished()) {
            assert!(Instant::now() < deadline, "events did not reach the worker");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(answers.iter().all(|task| !task.is_finished()));
        gate.set_closed(false);
        for answer in answers {
            answer.await.unwrap();
        }

        // The events that waited were journaled in one transaction.
        assert!(
            gate.lock().batches.contains(&(2 * EACH)),
            "{:?}",
            gate.lock().batches
        );
        // Each session saw its inputs in journal order: its own events
        // and the relayed ones, journaled when taken, interleaved.
        let seen_b = seen(&runtime, &b).await;
        assert_eq!(seen_b.len(), 2 * EACH + 1);
        assert_eq!(journaled(&reader, &b), seen_b);
        assert_eq!(journaled(&reader, &a), seen(&runtime, &a).await);

        // The metrics saw it: every command counted out of the queue, the
        // worker's waits and the journal's batches in their histograms.
        let text = metrics.encode();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        assert_eq!(value("orca_worker_queue_depth{worker=\"0\"}"), 0.0);
        assert!(value("orca_journal_wait_seconds_count") >= 2.0);
        assert!(value("orca_journal_commit_seconds_count") >= 2.0);
        // Two starts, the events from requests and those A relayed to B.
        let records = 2 + (2 * EACH + 1) + EACH;
        assert_eq!(value("orca_journal_batch_records_sum"), records as f64);

        // Replay gives the same order.
        assert!(runtime.shutdown(Duration::from_secs(30)).await);
        drop(runtime);
        let runtime = Runtime::new(&config(&dir), Arc::new(Metrics::new())).unwrap();
        assert_eq!(seen(&runtime, &b).await, seen_b);
        assert!(runtime.shutdown(Duration::from_secs(30)).await);
        reader.close();
        drop(scratch);
    }

    /// An event that reaches a session through its worker's runner inbox
    /// while the worker waits for the commit of an event journaled ahead
    /// for it (a Basic HTTP POST here; sends from other workers and the
    /// completions of ORS actions come the same way) is taken after that
    /// event, as its journal says, although it arrived first; a restart
    /// replays the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_inbox_event_arriving_during_a_group_commit_is_taken_after_the_group() {
        let dir = std::env::temp_dir().join(format!("orca-batch-inbox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let scratch = Scratch(dir.clone());
        let chart = dir.join("relay.scxml");
        std::fs::write(&chart, CHART).unwrap();
        let gate = Arc::new(Gate::default());
        let runtime = Arc::new(
            Runtime::with_observer(
                &config(&dir),
                Arc::new(Metrics::new()),
                Some(gate.observer()),
            )
            .unwrap(),
        );
        let b = start(&runtime, &chart, Vec::new()).await;

        gate.set_closed(true);
        let answer = {
            let (runtime, b) = (Arc::clone(&runtime), b.clone());
            tokio::spawn(async move { runtime.send_event(&b, event("b0")).await.unwrap() })
        };
        // The worker journaled b0 ahead and waits for its commit.
        gate.wait_held();
        runtime
            .basichttp_receiver()
            .deliver(&b, event("p0"))
            .unwrap();
        gate.set_closed(false);
        answer.await.unwrap();

        // The POST is answered once queued: it may be taken after b0's answer.
        let deadline = Instant::now() + Duration::from_secs(30);
        let seen_b = loop {
            let seen_b = seen(&runtime, &b).await;
            if seen_b.len() == 2 {
                break seen_b;
            }
            assert!(Instant::now() < deadline, "B saw {seen_b:?}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        assert_eq!(seen_b, ["b0", "p0"]);
        let reader =
            journal::Journal::open(journal::Config::new(dir.join("data/journal.db"))).unwrap();
        assert_eq!(journaled(&reader, &b), seen_b);

        assert!(runtime.shutdown(Duration::from_secs(30)).await);
        drop(runtime);
        let runtime = Runtime::new(&config(&dir), Arc::new(Metrics::new())).unwrap();
        assert_eq!(seen(&runtime, &b).await, seen_b);
        assert!(runtime.shutdown(Duration::from_secs(30)).await);
        reader.close();
        drop(scratch);
    }
}
