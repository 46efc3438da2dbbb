//! The writer thread: group commit of everything callers queued.
//!
//! Callers on any thread queue [`Command`]s. The writer takes the first one
//! (blocking), then everything else already queued up to the batch limit,
//! writes them all in one `BEGIN IMMEDIATE … COMMIT` and resolves their
//! tickets only after `COMMIT` returned — with `synchronous=FULL`, after the
//! WAL was fsynced. No timer waits for more work: while one batch is being
//! fsynced the next one queues up, so batches grow exactly as fast as load
//! does and a lone caller pays one fsync, not a linger delay.
//!
//! Each command runs inside a savepoint, so one bad command (a duplicate
//! sequence number, an unknown session) fails alone and the rest of the
//! batch commits.

use std::cell::Cell;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{ffi, params, Connection, TransactionBehavior};

use crate::error::Error;
use crate::journal::{BatchReport, CompactReport, Config};
use crate::record::ContentHash;
use crate::schema;
use crate::ticket::Completer;

/// Work for the writer thread.
pub(crate) enum Command {
    /// Append records (one caller's, all or nothing).
    Append { rows: Vec<Row>, done: Completer<()> },
    /// Store a snapshot and drop the older ones of its session.
    Snapshot {
        row: SnapshotRow,
        done: Completer<()>,
    },
    /// Delete sessions ended at or before `before_ms`, then unused documents.
    Compact {
        before_ms: u64,
        done: Completer<CompactReport>,
    },
}

impl Command {
    fn records(&self) -> usize {
        match self {
            Command::Append { rows, .. } => rows.len(),
            Command::Snapshot { .. } | Command::Compact { .. } => 0,
        }
    }
}

/// What callers put on the writer's queue.
pub(crate) enum Submission {
    /// One command.
    One(Command),
    /// Commands queued together (a [`crate::Group`]): the writer puts all of
    /// them in the same transaction, whatever the batch limit; each still
    /// fails alone.
    Group(Vec<Command>),
}

impl Submission {
    /// Adds the commands to `batch`; answers how many records they hold.
    fn add_to(self, batch: &mut Vec<Command>) -> usize {
        match self {
            Submission::One(command) => {
                let records = command.records();
                batch.push(command);
                records
            }
            Submission::Group(commands) => {
                let records = commands.iter().map(Command::records).sum();
                batch.extend(commands);
                records
            }
        }
    }
}

/// One encoded record and what it does to the `sessions` table.
pub(crate) struct Row {
    pub(crate) session: String,
    pub(crate) seq: u64,
    pub(crate) kind: u8,
    pub(crate) at: u64,
    pub(crate) payload: Vec<u8>,
    pub(crate) effect: Effect,
}

/// Side effects of a record on the session index.
pub(crate) enum Effect {
    /// An ordinary record.
    None,
    /// The start: store the document (once per hash) and the session row.
    Start {
        hash: ContentHash,
        url: Option<String>,
        source: Arc<str>,
    },
    /// The end: mark the session ended (or delete it, without retention).
    End,
}

/// One encoded snapshot.
pub(crate) struct SnapshotRow {
    pub(crate) session: String,
    pub(crate) seq: u64,
    pub(crate) at: u64,
    pub(crate) payload: Vec<u8>,
}

/// Counters the writer keeps, read by [`crate::Journal::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) batches: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) failed_commands: AtomicU64,
    pub(crate) commit_nanos: AtomicU64,
    pub(crate) max_batch: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
}

/// Starts the writer (and, if configured, the checkpointer) on `conn`.
pub(crate) fn spawn(
    conn: Connection,
    config: Config,
    counters: Arc<Counters>,
    queue: Receiver<Submission>,
) -> Result<JoinHandle<()>, Error> {
    let checkpointer = if config.background_checkpoint {
        Some(Checkpointer::spawn(&config, Arc::clone(&counters))?)
    } else {
        None
    };
    if checkpointer.is_some() {
        // Tells `commit` how large the WAL is. SQLite's own automatic
        // checkpoint is this hook too, and is off in this mode.
        conn.wal_hook(Some(note_wal_frames));
    }
    std::thread::Builder::new()
        .name("journal-writer".into())
        .spawn(move || {
            Writer {
                conn,
                config,
                counters,
                checkpointer,
                next_compaction: Instant::now(),
            }
            .run(queue)
        })
        .map_err(|e| Error::Io(Arc::new(e)))
}

struct Writer {
    conn: Connection,
    config: Config,
    counters: Arc<Counters>,
    checkpointer: Option<Checkpointer>,
    /// When automatic compaction runs next (only with a retention period).
    next_compaction: Instant,
}

impl Writer {
    fn run(mut self, queue: Receiver<Submission>) {
        let mut batch = Vec::new();
        'serve: loop {
            let first = match self.idle_wait() {
                Some(wait) => match queue.recv_timeout(wait) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break 'serve,
                },
                None => match queue.recv() {
                    Ok(command) => Some(command),
                    Err(_) => break 'serve,
                },
            };
            if let Some(first) = first {
                let mut records = first.add_to(&mut batch);
                while records < self.config.max_batch {
                    match queue.try_recv() {
                        Ok(submission) => records += submission.add_to(&mut batch),
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                self.commit(&mut batch);
            }
            self.compact_if_due();
        }
        // Every sender is gone: stop the checkpointer, then fold the WAL
        // into the database so the next open starts from a short WAL.
        if let Some(checkpointer) = self.checkpointer.take() {
            checkpointer.stop();
        }
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// How long to wait for work before compacting; `None` waits forever.
    fn idle_wait(&self) -> Option<Duration> {
        (!self.config.keep_ended.is_zero()).then(|| {
            self.next_compaction
                .saturating_duration_since(Instant::now())
        })
    }

    /// Writes one batch in one transaction and resolves its tickets.
    fn commit(&mut self, batch: &mut Vec<Command>) {
        let started = Instant::now();
        let mut results: Vec<Result<Outcome, Error>> = Vec::with_capacity(batch.len());
        let mut records = 0usize;
        let mut bytes = 0usize;
        let committed = (|| -> Result<(), Error> {
            let mut tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for command in batch.iter() {
                let result = if needs_savepoint(command) {
                    let sp = tx.savepoint()?;
                    let result = apply(&sp, command, &self.config);
                    if result.is_ok() {
                        sp.commit()?;
                    }
                    // Otherwise dropping the savepoint rolls the command
                    // back alone.
                    result
                } else {
                    apply(&tx, command, &self.config)
                };
                if result.is_ok() {
                    records += command.records();
                    bytes += command_bytes(command);
                }
                results.push(result);
            }
            tx.set_drop_behavior(rusqlite::DropBehavior::Rollback);
            tx.commit()?;
            Ok(())
        })();
        let elapsed = started.elapsed();
        let commands = batch.len();
        let mut results = results.into_iter();
        let outcomes: Vec<Result<Outcome, Error>> = (0..commands)
            .map(|_| match (&committed, results.next()) {
                (Err(e), _) => Err(e.clone()),
                (Ok(()), Some(result)) => result,
                // apply() ran for every command when the commit succeeded.
                (Ok(()), None) => Err(Error::Closed),
            })
            .collect();
        let failed = outcomes.iter().filter(|r| r.is_err()).count();
        if committed.is_err() {
            records = 0;
            bytes = 0;
        }
        // Counters and the observer first, so that whoever holds a resolved
        // ticket also sees its batch in the metrics.
        let c = &self.counters;
        c.batches.fetch_add(1, Ordering::Relaxed);
        c.records.fetch_add(records as u64, Ordering::Relaxed);
        c.failed_commands
            .fetch_add(failed as u64, Ordering::Relaxed);
        c.commit_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        c.max_batch.fetch_max(records as u64, Ordering::Relaxed);
        if let Some(observer) = &self.config.observer {
            observer(&BatchReport {
                commands,
                records,
                bytes,
                commit: elapsed,
                failed,
            });
        }
        for (command, outcome) in batch.drain(..).zip(outcomes) {
            resolve(command, outcome);
        }
        if let Some(checkpointer) = &self.checkpointer {
            // Frames, not payload: a commit writes whole pages, so a small
            // batch grows the WAL by several pages for a few hundred bytes.
            let frames = WAL_FRAMES.with(Cell::get);
            if frames.saturating_mul(checkpointer.page_size) >= self.config.checkpoint_bytes {
                checkpointer.wake();
            }
        }
    }

    /// One bounded pass of automatic compaction, when its time has come.
    fn compact_if_due(&mut self) {
        if self.config.keep_ended.is_zero() || Instant::now() < self.next_compaction {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let before = now.saturating_sub(self.config.keep_ended.as_millis() as u64);
        let deleted = compact(&mut self.conn, before, COMPACTION_CHUNK)
            .map(|report| report.sessions)
            .unwrap_or(0);
        // A full chunk means more is waiting: come back right after the
        // queued appends instead of a whole interval later.
        self.next_compaction = if deleted >= COMPACTION_CHUNK {
            Instant::now()
        } else {
            Instant::now() + self.config.compact_interval
        };
    }
}

/// Sessions deleted per automatic compaction pass, so that a pass holds the
/// write lock for milliseconds, not seconds.
const COMPACTION_CHUNK: usize = 1_000;

/// What a successful command yields.
enum Outcome {
    Done,
    Compacted(CompactReport),
}

fn resolve(command: Command, result: Result<Outcome, Error>) {
    match command {
        Command::Append { done, .. } | Command::Snapshot { done, .. } => {
            done.complete(result.map(|_| ()));
        }
        Command::Compact { done, .. } => done.complete(result.map(|outcome| match outcome {
            Outcome::Compacted(report) => report,
            Outcome::Done => CompactReport::default(),
        })),
    }
}

/// Whether a failure could leave part of the command applied. A single
/// record fails in its one `INSERT` (SQLite undoes a failed statement by
/// itself) before its follow-up statements run; the savepoint, which costs
/// two more statements, is only for commands of several inserts.
fn needs_savepoint(command: &Command) -> bool {
    match command {
        Command::Append { rows, .. } => {
            rows.len() > 1
                || rows
                    .iter()
                    .any(|r| matches!(r.effect, Effect::Start { .. }))
        }
        Command::Snapshot { .. } => false,
        Command::Compact { .. } => true,
    }
}

fn command_bytes(command: &Command) -> usize {
    match command {
        Command::Append { rows, .. } => rows.iter().map(|r| r.payload.len()).sum(),
        Command::Snapshot { row, .. } => row.payload.len(),
        Command::Compact { .. } => 0,
    }
}

/// Carries out one command inside the batch's transaction.
fn apply(conn: &Connection, command: &Command, config: &Config) -> Result<Outcome, Error> {
    match command {
        Command::Append { rows, .. } => {
            for row in rows {
                append(conn, row, config)?;
            }
            Ok(Outcome::Done)
        }
        Command::Snapshot { row, .. } => {
            conn.prepare_cached(
                "INSERT INTO snapshots (session_id, seq, at, payload) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                row.session,
                row.seq as i64,
                row.at as i64,
                row.payload
            ])
            .map_err(|e| constraint(e, &row.session, row.seq))?;
            // Replay needs only the newest snapshot.
            conn.prepare_cached("DELETE FROM snapshots WHERE session_id = ?1 AND seq < ?2")?
                .execute(params![row.session, row.seq as i64])?;
            if config.prune_on_snapshot {
                // The start record stays: recovery reads the document and
                // parameters from it.
                conn.prepare_cached(
                    "DELETE FROM records WHERE session_id = ?1 AND seq > 0 AND seq <= ?2",
                )?
                .execute(params![row.session, row.seq as i64])?;
            }
            Ok(Outcome::Done)
        }
        Command::Compact { before_ms, .. } => {
            compact_in(conn, *before_ms, usize::MAX).map(Outcome::Compacted)
        }
    }
}

fn append(conn: &Connection, row: &Row, config: &Config) -> Result<(), Error> {
    if let Effect::Start { hash, url, source } = &row.effect {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO documents (hash, url, source, stored_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![&hash.0[..], url, source.as_bytes(), row.at as i64])?;
        conn.prepare_cached(
            "INSERT INTO sessions (id, document_hash, document_url, started_at) \
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![row.session, &hash.0[..], url, row.at as i64])
        .map_err(|e| match constraint(e, &row.session, row.seq) {
            Error::DuplicateRecord { session, .. } => Error::DuplicateSession { session },
            other => other,
        })?;
    }
    conn.prepare_cached(
        "INSERT INTO records (session_id, seq, kind, at, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        row.session,
        row.seq as i64,
        row.kind,
        row.at as i64,
        row.payload
    ])
    .map_err(|e| constraint(e, &row.session, row.seq))?;
    if let Effect::End = row.effect {
        if config.keep_ended.is_zero() {
            conn.prepare_cached("DELETE FROM sessions WHERE id = ?1")?
                .execute([&row.session])?;
        } else {
            conn.prepare_cached("UPDATE sessions SET ended_at = ?2 WHERE id = ?1")?
                .execute(params![row.session, row.at as i64])?;
        }
    }
    Ok(())
}

/// Names constraint failures after what they mean for the caller.
fn constraint(e: rusqlite::Error, session: &str, seq: u64) -> Error {
    if let rusqlite::Error::SqliteFailure(failure, _) = &e {
        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
                return Error::DuplicateRecord {
                    session: session.to_owned(),
                    seq,
                }
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                return Error::UnknownSession {
                    session: session.to_owned(),
                }
            }
            _ => {}
        }
    }
    e.into()
}

/// Compaction in its own transaction (the automatic pass).
fn compact(conn: &mut Connection, before_ms: u64, limit: usize) -> Result<CompactReport, Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let report = compact_in(&tx, before_ms, limit)?;
    tx.commit()?;
    Ok(report)
}

/// Deletes up to `limit` sessions ended at or before `before_ms` (their
/// records and snapshots cascade), then documents no session runs.
fn compact_in(conn: &Connection, before_ms: u64, limit: usize) -> Result<CompactReport, Error> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sessions = conn
        .prepare_cached(
            "DELETE FROM sessions WHERE id IN \
             (SELECT id FROM sessions WHERE ended_at IS NOT NULL AND ended_at <= ?1 LIMIT ?2)",
        )?
        .execute(params![before_ms as i64, limit])?;
    let documents = conn
        .prepare_cached(
            "DELETE FROM documents WHERE NOT EXISTS \
             (SELECT 1 FROM sessions WHERE sessions.document_hash = documents.hash)",
        )?
        .execute([])?;
    Ok(CompactReport {
        sessions,
        documents,
    })
}

thread_local! {
    /// Frames in the WAL after the last commit on this thread, as SQLite's
    /// WAL hook reports them (the writer's connection commits on the
    /// writer thread). The hook takes a plain function, hence a thread-local.
    static WAL_FRAMES: Cell<usize> = const { Cell::new(0) };
}

/// The WAL hook of the writer's connection: notes the WAL's frame count.
fn note_wal_frames(_: &rusqlite::hooks::Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(usize::try_from(frames).unwrap_or(0)));
    Ok(())
}

/// A thread that copies the WAL into the database (`PRAGMA
/// wal_checkpoint(PASSIVE)`) when the writer says enough was written, so
/// commits never stall on a checkpoint's copying and fsync. PASSIVE never
/// blocks the writer; once every frame is copied, SQLite restarts the WAL
/// from its beginning at the next commit, which keeps it bounded.
struct Checkpointer {
    wake: SyncSender<()>,
    thread: JoinHandle<()>,
    /// Bytes per WAL frame (one page).
    page_size: usize,
}

impl Checkpointer {
    fn spawn(config: &Config, counters: Arc<Counters>) -> Result<Self, Error> {
        let conn = schema::open_reader(&config.path)?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let page_size = usize::try_from(page_size).unwrap_or(4096).max(512);
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("journal-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    if conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                        .is_ok()
                    {
                        counters.checkpoints.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .map_err(|e| Error::Io(Arc::new(e)))?;
        Ok(Checkpointer {
            wake,
            thread,
            page_size,
        })
    }

    /// Asks for a checkpoint; a request already pending covers this one.
    fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    fn stop(self) {
        drop(self.wake);
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_codes_map_to_caller_errors() {
        let failure = |code| {
            rusqlite::Error::SqliteFailure(
                ffi::Error {
                    code: ffi::ErrorCode::ConstraintViolation,
                    extended_code: code,
                },
                None,
            )
        };
        assert!(matches!(
            constraint(failure(ffi::SQLITE_CONSTRAINT_PRIMARYKEY), "s", 3),
            Error::DuplicateRecord { seq: 3, .. }
        ));
        assert!(matches!(
            constraint(failure(ffi::SQLITE_CONSTRAINT_FOREIGNKEY), "s", 3),
            Error::UnknownSession { .. }
        ));
        assert!(matches!(
            constraint(failure(ffi::SQLITE_CONSTRAINT_CHECK), "s", 3),
            Error::Sqlite(_)
        ));
    }
}
