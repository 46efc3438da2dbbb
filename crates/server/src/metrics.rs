//! Prometheus metrics of the server, served at `/metrics` in the text
//! exposition format.
//!
//! The metric handles are atomics shared by the HTTP handlers and the worker
//! threads; only encoding takes the registry's lock.

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The server's metrics.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    /// Sessions running or scheduled.
    pub(crate) sessions_active: Gauge,
    /// Sessions started (including scheduled starts when they happen).
    pub(crate) sessions_started: Counter,
    /// Sessions that ended, however.
    pub(crate) sessions_ended: Counter,
    /// External events accepted through the API.
    pub(crate) events_in: Counter,
    /// Time to process one API event: from handing it (with the other
    /// inputs journaled in the same group) to the sessions until the worker
    /// is idle — its macrostep, the others', and whatever the sessions of
    /// the worker did as a consequence.
    pub(crate) macrostep_seconds: Histogram,
    /// Commands waiting for each worker.
    pub(crate) queue_depth: Family<WorkerLabel, Gauge>,
    /// Time from sending an ORS `<session:fetch>` to its outcome (answer,
    /// HTTP error or no response); refused fetches are not sent and not
    /// counted.
    pub(crate) fetch_seconds: Histogram,
    /// How long a worker waits for the inputs it journaled in one group to
    /// be durable (queueing behind other batches, writing, fsync).
    pub(crate) journal_wait_seconds: Histogram,
    /// One journal transaction, `BEGIN` to the end of `COMMIT` (fsync
    /// included), as the journal's writer thread measures it.
    pub(crate) journal_commit_seconds: Histogram,
    /// Records per journal transaction.
    pub(crate) journal_batch_records: Histogram,
    /// Session snapshots stored in the journal, and refused (a value the
    /// snapshot cannot capture exactly).
    pub(crate) journal_snapshots: Family<SnapshotResult, Counter>,
    /// Journal records replayed at recovery (those after a snapshot, for a
    /// session restored from one).
    pub(crate) recovery_records_replayed: Counter,
    /// Sessions restored from a snapshot at recovery.
    pub(crate) recovery_snapshots_restored: Counter,
}

/// The `result` label of `orca_journal_snapshots_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SnapshotResult {
    pub(crate) result: &'static str,
}

impl Metrics {
    /// Counts a snapshot stored (`true`) or refused.
    pub(crate) fn snapshot(&self, stored: bool) {
        let result = if stored { "stored" } else { "refused" };
        self.journal_snapshots
            .get_or_create(&SnapshotResult { result })
            .inc();
    }
}

/// The `worker` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct WorkerLabel {
    pub(crate) worker: u32,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let sessions_active = Gauge::default();
        let sessions_started = Counter::default();
        let sessions_ended = Counter::default();
        let events_in = Counter::default();
        // 20 µs to ~1.3 s.
        let macrostep_seconds = Histogram::new(exponential_buckets(0.000_02, 2.0, 17));
        let queue_depth = Family::<WorkerLabel, Gauge>::default();
        // 1 ms to ~33 s (the default fetch time limit is 30 s).
        let fetch_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        // 50 µs to ~1.6 s.
        let journal_wait_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        let journal_commit_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        // 1 to 4096 records.
        let journal_batch_records = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        let journal_snapshots = Family::<SnapshotResult, Counter>::default();
        let recovery_records_replayed = Counter::default();
        let recovery_snapshots_restored = Counter::default();
        let mut registry = Registry::default();
        registry.register(
            "orca_journal_snapshots",
            "Session snapshots stored in the journal, or refused (a value cannot be captured exactly)",
            journal_snapshots.clone(),
        );
        registry.register(
            "orca_recovery_records_replayed",
            "Journal records replayed at recovery",
            recovery_records_replayed.clone(),
        );
        registry.register(
            "orca_recovery_snapshots_restored",
            "Sessions restored from a snapshot at recovery",
            recovery_snapshots_restored.clone(),
        );
        registry.register(
            "orca_sessions_active",
            "Sessions running or scheduled",
            sessions_active.clone(),
        );
        registry.register(
            "orca_sessions_started",
            "Sessions started",
            sessions_started.clone(),
        );
        registry.register(
            "orca_sessions_ended",
            "Sessions ended",
            sessions_ended.clone(),
        );
        registry.register(
            "orca_events_in",
            "External events accepted through the HTTP API",
            events_in.clone(),
        );
        registry.register(
            "orca_macrostep_seconds",
            "Time from handing an API event (with the rest of its group) to the sessions until its worker is idle",
            macrostep_seconds.clone(),
        );
        registry.register(
            "orca_worker_queue_depth",
            "Commands waiting for each worker thread",
            queue_depth.clone(),
        );
        registry.register(
            "orca_fetch_seconds",
            "Time from sending an ORS session:fetch to its outcome",
            fetch_seconds.clone(),
        );
        registry.register(
            "orca_journal_wait_seconds",
            "Time a worker waits for the inputs it journaled together to be durable",
            journal_wait_seconds.clone(),
        );
        registry.register(
            "orca_journal_commit_seconds",
            "Journal transactions, BEGIN to the end of COMMIT with its fsync",
            journal_commit_seconds.clone(),
        );
        registry.register(
            "orca_journal_batch_records",
            "Records per journal transaction",
            journal_batch_records.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            fetch_seconds,
            sessions_active,
            sessions_started,
            sessions_ended,
            events_in,
            macrostep_seconds,
            queue_depth,
            journal_wait_seconds,
            journal_commit_seconds,
            journal_batch_records,
            journal_snapshots,
            recovery_records_replayed,
            recovery_snapshots_restored,
        }
    }

    /// The journal's observer: each committed batch into the histograms
    /// (called on the journal's writer thread; two atomic updates).
    pub(crate) fn journal_observer(&self) -> journal::Observer {
        let commit = self.journal_commit_seconds.clone();
        let records = self.journal_batch_records.clone();
        Arc::new(move |report: &journal::BatchReport| {
            commit.observe(report.commit.as_secs_f64());
            records.observe(report.records as f64);
        })
    }

    /// The gauge of worker `index`'s queue.
    pub(crate) fn queue_gauge(&self, index: usize) -> Gauge {
        let worker = u32::try_from(index).unwrap_or(u32::MAX);
        self.queue_depth
            .get_or_create(&WorkerLabel { worker })
            .clone()
    }

    /// The text exposition of every metric.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}
