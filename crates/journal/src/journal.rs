//! [`Journal`]: the handle callers share — appends go to the writer thread,
//! reads run on pooled connections of the caller's thread.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use scxml::Timestamp;

use crate::codec;
use crate::error::Error;
use crate::record::{ContentHash, DocumentRef, Entry, Record, Snapshot, Start};
use crate::schema;
use crate::ticket::{self, Ticket};
use crate::writer::{self, Command, Counters, Effect, Row, SnapshotRow, Submission};

/// Settings of a [`Journal`].
#[derive(Clone)]
pub struct Config {
    /// The SQLite database file (created if missing, with its directory).
    pub path: PathBuf,
    /// Most records in one transaction. Bigger batches amortize the fsync
    /// over more records; the cap bounds how long the first caller of a
    /// batch waits behind the others.
    pub max_batch: usize,
    /// How long an ended session's journal is kept for replay and traces.
    /// Zero deletes it in the transaction that records the end.
    pub keep_ended: Duration,
    /// How often the writer deletes sessions past `keep_ended` (a bounded
    /// pass each time), when `keep_ended` is not zero.
    pub compact_interval: Duration,
    /// Whether storing a snapshot deletes the records it covers (except the
    /// start record). Saves space for long sessions; loses step-by-step
    /// replay before the snapshot.
    pub prune_on_snapshot: bool,
    /// Checkpoint from a background thread (true) or let each commit that
    /// crosses SQLite's 1000-page threshold do it inline (false).
    pub background_checkpoint: bool,
    /// Size of the WAL (its frames, whole pages) past which the background
    /// checkpointer is woken after a commit. A checkpoint copies the newest
    /// version of each page the WAL holds, so a larger WAL copies a page
    /// rewritten by many commits (a busy session's last leaf) once rather
    /// than once per checkpoint; it costs WAL space and, after a crash, the
    /// time to read the WAL again at open.
    pub checkpoint_bytes: usize,
    /// Called by the writer after each batch (for metrics); it runs on the
    /// writer thread, so it must be quick.
    pub observer: Option<Observer>,
}

impl Config {
    /// Defaults for a database at `path`: batches of up to 4096 records,
    /// ended sessions deleted at once, a background checkpoint whenever the
    /// WAL passes 64 MiB.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Config {
            path: path.into(),
            max_batch: 4096,
            keep_ended: Duration::ZERO,
            compact_interval: Duration::from_secs(60),
            prune_on_snapshot: false,
            background_checkpoint: true,
            checkpoint_bytes: 64 << 20,
            observer: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("max_batch", &self.max_batch)
            .field("keep_ended", &self.keep_ended)
            .field("compact_interval", &self.compact_interval)
            .field("prune_on_snapshot", &self.prune_on_snapshot)
            .field("background_checkpoint", &self.background_checkpoint)
            .field("checkpoint_bytes", &self.checkpoint_bytes)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// A callback told about every batch (see [`Config::observer`]).
pub type Observer = Arc<dyn Fn(&BatchReport) + Send + Sync>;

/// What one committed batch looked like (given to [`Config::observer`]).
#[derive(Clone, Copy, Debug)]
pub struct BatchReport {
    /// Commands in the batch (appends, snapshots, compactions).
    pub commands: usize,
    /// Records committed.
    pub records: usize,
    /// Payload bytes committed.
    pub bytes: usize,
    /// Commands that failed (alone, or all of them if the commit failed).
    pub failed: usize,
    /// From `BEGIN` to the end of `COMMIT`, fsync included.
    pub commit: Duration,
}

/// Totals since the journal was opened (for metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Transactions committed (or attempted).
    pub batches: u64,
    /// Records committed.
    pub records: u64,
    /// Commands that failed.
    pub failed_commands: u64,
    /// Time spent in transactions, fsyncs included.
    pub commit_time: Duration,
    /// The most records one batch held.
    pub max_batch: u64,
    /// Background checkpoints run.
    pub checkpoints: u64,
}

/// What a compaction deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Ended sessions deleted with their records and snapshots.
    pub sessions: usize,
    /// Documents no session runs any more.
    pub documents: usize,
}

/// The index row of a journaled session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    /// The session id.
    pub id: String,
    /// Its document.
    pub document: DocumentRef,
    /// Host time of the start.
    pub started_at: Timestamp,
    /// Host time of the end, if it ended (and is kept for replay).
    pub ended_at: Option<Timestamp>,
}

/// A live session as recovery needs it: how to create it, where to resume,
/// and the inputs to replay.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovered {
    /// The session id.
    pub session: String,
    /// Its start record (always kept).
    pub start: Start,
    /// The newest snapshot, if any: resume from it.
    pub snapshot: Option<Snapshot>,
    /// The records after the snapshot (after the start without one), in
    /// order; the sequence number to append next is one past the last.
    pub records: Vec<Record>,
}

impl Recovered {
    /// The sequence number of the session's next record.
    pub fn next_seq(&self) -> u64 {
        let after_snapshot = self.snapshot.as_ref().map_or(0, |s| s.seq);
        self.records
            .last()
            .map_or(after_snapshot, |r| r.seq)
            .max(after_snapshot)
            + 1
    }
}

/// The session journal: a SQLite database with one writer thread.
///
/// # Contract
/// - Appends ([`start`](Self::start), [`append`](Self::append),
///   [`append_all`](Self::append_all), [`snapshot`](Self::snapshot)) queue a
///   command and return a [`Ticket`] at once. The ticket resolves `Ok` only
///   after the transaction holding the command committed with an fsync of
///   the WAL; answer a client (or let the session see the input) only then.
/// - Commands are applied in the order they were queued: from one thread,
///   FIFO; across threads, in some interleaving. A session's records must
///   come from one thread (its driver) with sequence numbers 0, 1, 2, ...;
///   the journal refuses a number used twice.
/// - Reads see everything committed before they start.
/// - `Journal` is cheap to clone; the writer stops when the last clone is
///   dropped, after committing what was queued.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

impl Journal {
    /// Opens (creating and migrating if needed) the database and starts the
    /// writer thread.
    pub fn open(config: Config) -> Result<Journal, Error> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io(Arc::new(e)))?;
        }
        let conn = schema::open_writer(&config.path, !config.background_checkpoint)?;
        let counters = Arc::new(Counters::default());
        let (queue, commands) = mpsc::channel();
        let path = config.path.clone();
        let writer = writer::spawn(conn, config, Arc::clone(&counters), commands)?;
        Ok(Journal {
            inner: Arc::new(Inner {
                queue: RwLock::new(Some(queue)),
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Vec::new()),
                counters,
                path,
            }),
        })
    }

    /// Journals the start of a session: record 0, the session's index row,
    /// and `source` under `start.document.hash` (stored once per hash).
    /// `source` must be the text whose [`ContentHash`] is in `start`.
    pub fn start(&self, session: &str, start: Start, source: Arc<str>) -> Ticket {
        match start_command(session, start, source) {
            Ok((command, ticket)) => {
                self.submit(Submission::One(command));
                ticket
            }
            Err(ticket) => ticket,
        }
    }

    /// Journals one input of a started session (anything but
    /// [`Entry::Started`], which goes through [`start`](Self::start)).
    pub fn append(&self, record: Record) -> Ticket {
        self.append_all(vec![record])
    }

    /// Journals several inputs in one command: all commit or none does.
    pub fn append_all(&self, records: Vec<Record>) -> Ticket {
        match append_command(records) {
            Ok((command, ticket)) => {
                self.submit(Submission::One(command));
                ticket
            }
            Err(ticket) => ticket,
        }
    }

    /// Starts a [`Group`]: starts and appends of any sessions, queued
    /// together when it is submitted, so that they commit in one
    /// transaction (one fsync) with their own tickets.
    pub fn group(&self) -> Group {
        Group {
            journal: self.clone(),
            commands: Vec::new(),
        }
    }

    /// Stores a snapshot of a session; older snapshots of it are dropped.
    pub fn snapshot(&self, snapshot: &Snapshot) -> Ticket {
        let payload = match codec::encode(snapshot) {
            Ok(payload) => payload,
            Err(reason) => {
                return ticket::resolved(Err(Error::Encode {
                    session: snapshot.session.clone(),
                    reason,
                }))
            }
        };
        let (ticket, done) = ticket::pair();
        self.submit(Submission::One(Command::Snapshot {
            row: SnapshotRow {
                session: snapshot.session.clone(),
                seq: snapshot.seq,
                at: snapshot.at.as_millis(),
                payload,
            },
            done,
        }));
        ticket
    }

    /// Deletes every session that ended at or before `before` (records,
    /// snapshots and unused documents with it), in one transaction.
    pub fn compact(&self, before: Timestamp) -> Ticket<CompactReport> {
        let (ticket, done) = ticket::pair();
        self.submit(Submission::One(Command::Compact {
            before_ms: before.as_millis(),
            done,
        }));
        ticket
    }

    /// A session's records with sequence numbers from `from` on, in order.
    pub fn records(&self, session: &str, from: u64) -> Result<Vec<Record>, Error> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, payload FROM records WHERE session_id = ?1 AND seq >= ?2 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![session, from as i64], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
            })?;
            let mut records = Vec::new();
            for row in rows {
                let (seq, payload) = row?;
                records.push(decode_record(session, seq as u64, &payload)?);
            }
            Ok(records)
        })
    }

    /// The newest snapshot of a session.
    pub fn latest_snapshot(&self, session: &str) -> Result<Option<Snapshot>, Error> {
        self.read(|conn| {
            let found = conn
                .prepare_cached(
                    "SELECT seq, payload FROM snapshots WHERE session_id = ?1 \
                     ORDER BY seq DESC LIMIT 1",
                )?
                .query_row([session], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            found
                .map(|(seq, payload)| decode_snapshot(session, seq as u64, &payload))
                .transpose()
        })
    }

    /// Ids of the sessions started and not ended, in id order.
    pub fn live_sessions(&self) -> Result<Vec<String>, Error> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id FROM sessions WHERE ended_at IS NULL ORDER BY id")?;
            let ids = stmt
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
    }

    /// The index row of a session, if it is in the journal.
    pub fn session(&self, id: &str) -> Result<Option<SessionInfo>, Error> {
        self.read(|conn| {
            let found = conn
                .prepare_cached(
                    "SELECT document_hash, document_url, started_at, ended_at \
                     FROM sessions WHERE id = ?1",
                )?
                .query_row([id], |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                    ))
                })
                .optional()?;
            Ok(found.map(|(hash, url, started, ended)| SessionInfo {
                id: id.to_owned(),
                document: DocumentRef {
                    url,
                    hash: hash_from(&hash),
                },
                started_at: Timestamp::from_millis(started as u64),
                ended_at: ended.map(|ms| Timestamp::from_millis(ms as u64)),
            }))
        })
    }

    /// The stored source of a document.
    pub fn document(&self, hash: &ContentHash) -> Result<Option<String>, Error> {
        self.read(|conn| {
            let found = conn
                .prepare_cached("SELECT source FROM documents WHERE hash = ?1")?
                .query_row([&hash.0[..]], |row| row.get::<_, Vec<u8>>(0))
                .optional()?;
            Ok(found.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
        })
    }

    /// Calls `visit` once per live session, in id order, with what its
    /// recovery needs, reading everything in one consistent scan (one
    /// transaction, two range scans), so that recovering many sessions does
    /// not cost a query each. Returns how many sessions were visited.
    pub fn recover(&self, mut visit: impl FnMut(Recovered)) -> Result<usize, Error> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction()?;
            let mut snapshots = std::collections::HashMap::new();
            {
                let mut stmt = tx.prepare(
                    "SELECT s.session_id, s.seq, s.payload FROM sessions JOIN snapshots s \
                     ON s.session_id = sessions.id WHERE sessions.ended_at IS NULL",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    let session: String = row.get(0)?;
                    let seq = row.get::<_, i64>(1)? as u64;
                    let snapshot = decode_snapshot(&session, seq, blob(row, 2)?)?;
                    // Only the newest is kept, but be robust to several.
                    let newer = snapshots
                        .get(&session)
                        .is_none_or(|old: &Snapshot| old.seq < seq);
                    if newer {
                        snapshots.insert(session, snapshot);
                    }
                }
            }
            let mut count = 0;
            let mut current: Option<Recovered> = None;
            let mut stmt = tx.prepare(
                "SELECT r.session_id, r.seq, r.payload FROM sessions JOIN records r \
                 ON r.session_id = sessions.id WHERE sessions.ended_at IS NULL \
                 ORDER BY r.session_id, r.seq",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let session = text(row, 0)?;
                let seq = row.get::<_, i64>(1)? as u64;
                if current.as_ref().is_none_or(|c| c.session != session) {
                    if let Some(done) = current.take() {
                        visit(done);
                        count += 1;
                    }
                    let record = decode_record(session, seq, blob(row, 2)?)?;
                    let Entry::Started(start) = record.entry else {
                        return Err(Error::Decode {
                            session: session.to_owned(),
                            seq,
                            reason: "the first record of a session is not its start".into(),
                        });
                    };
                    current = Some(Recovered {
                        session: session.to_owned(),
                        start,
                        snapshot: snapshots.remove(session),
                        records: Vec::new(),
                    });
                    continue;
                }
                let Some(recovered) = current.as_mut() else {
                    continue;
                };
                if recovered.snapshot.as_ref().is_some_and(|s| seq <= s.seq) {
                    continue;
                }
                recovered
                    .records
                    .push(decode_record(session, seq, blob(row, 2)?)?);
            }
            if let Some(done) = current.take() {
                visit(done);
                count += 1;
            }
            Ok(count)
        })
    }

    /// Totals of the writer so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            batches: c.batches.load(Ordering::Relaxed),
            records: c.records.load(Ordering::Relaxed),
            failed_commands: c.failed_commands.load(Ordering::Relaxed),
            commit_time: Duration::from_nanos(c.commit_nanos.load(Ordering::Relaxed)),
            max_batch: c.max_batch.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting commands, waits until the writer committed what was
    /// queued and checkpointed, and returns. Later appends fail with
    /// [`Error::Closed`]; reads still work.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Queues commands; if the writer is gone, dropping them resolves their
    /// tickets with [`Error::Closed`].
    fn submit(&self, command: Submission) {
        let queue = self
            .inner
            .queue
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(queue) = queue.as_ref() {
            let _ = queue.send(command);
        }
    }

    /// Runs `f` on a pooled read connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let pooled = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => schema::open_reader(&self.inner.path)?,
        };
        let result = f(&conn);
        self.inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        result
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// The writer's queue; `None` once closed. Senders share it under a
    /// read lock (`Sender` is `Sync`); only closing takes the write lock.
    queue: RwLock<Option<Sender<Submission>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Idle read connections (SQLite connections are not shareable between
    /// threads at once; one per concurrent reader).
    readers: Mutex<Vec<Connection>>,
    counters: Arc<Counters>,
    path: PathBuf,
}

impl Inner {
    fn close(&self) {
        // Dropping the sender ends the writer's loop after the queue drains.
        drop(
            self.queue
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

/// Starts and appends of several sessions, queued together by
/// [`submit`](Self::submit) (or when dropped) so that the writer commits
/// them in one transaction, whatever its batch limit: one fsync for all.
/// Each command has its own [`Ticket`] and fails alone (a duplicate
/// sequence number of one session does not fail the others). Nothing is
/// queued before `submit`, so wait for the tickets only after it.
pub struct Group {
    journal: Journal,
    commands: Vec<Command>,
}

impl Group {
    /// As [`Journal::start`], in the group.
    pub fn start(&mut self, session: &str, start: Start, source: Arc<str>) -> Ticket {
        match start_command(session, start, source) {
            Ok((command, ticket)) => {
                self.commands.push(command);
                ticket
            }
            Err(ticket) => ticket,
        }
    }

    /// As [`Journal::append`], in the group.
    pub fn append(&mut self, record: Record) -> Ticket {
        match append_command(vec![record]) {
            Ok((command, ticket)) => {
                self.commands.push(command);
                ticket
            }
            Err(ticket) => ticket,
        }
    }

    /// Commands in the group.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether the group holds no command.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Queues the group for the writer.
    pub fn submit(self) {
        // Dropping does it.
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.commands.is_empty() {
            let commands = std::mem::take(&mut self.commands);
            self.journal.submit(Submission::Group(commands));
        }
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("commands", &self.commands.len())
            .finish_non_exhaustive()
    }
}

/// The command journaling a start, or the ticket of its refusal.
fn start_command(
    session: &str,
    start: Start,
    source: Arc<str>,
) -> Result<(Command, Ticket), Ticket> {
    debug_assert_eq!(ContentHash::of(source.as_bytes()), start.document.hash);
    let effect = Effect::Start {
        hash: start.document.hash,
        url: start.document.url.clone(),
        source,
    };
    let row = encode_row(session, 0, &Entry::Started(start), effect)
        .map_err(|e| ticket::resolved(Err(e)))?;
    let (ticket, done) = ticket::pair();
    Ok((
        Command::Append {
            rows: vec![row],
            done,
        },
        ticket,
    ))
}

/// The command appending `records` (all or nothing), or the ticket of its
/// refusal.
fn append_command(records: Vec<Record>) -> Result<(Command, Ticket), Ticket> {
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let effect = match record.entry {
            Entry::Started(_) => {
                return Err(ticket::resolved(Err(Error::Misuse {
                    session: record.session,
                    seq: record.seq,
                    reason: "a start record goes through Journal::start",
                })))
            }
            Entry::Ended { .. } => Effect::End,
            _ => Effect::None,
        };
        let row = encode_row(&record.session, record.seq, &record.entry, effect)
            .map_err(|e| ticket::resolved(Err(e)))?;
        rows.push(row);
    }
    let (ticket, done) = ticket::pair();
    Ok((Command::Append { rows, done }, ticket))
}

fn encode_row(session: &str, seq: u64, entry: &Entry, effect: Effect) -> Result<Row, Error> {
    let payload = codec::encode(entry).map_err(|reason| Error::Encode {
        session: session.to_owned(),
        reason,
    })?;
    Ok(Row {
        session: session.to_owned(),
        seq,
        kind: entry.kind() as u8,
        at: entry.at().as_millis(),
        payload,
        effect,
    })
}

fn decode_record(session: &str, seq: u64, payload: &[u8]) -> Result<Record, Error> {
    let entry = codec::decode(payload).map_err(|reason| Error::Decode {
        session: session.to_owned(),
        seq,
        reason,
    })?;
    Ok(Record {
        session: session.to_owned(),
        seq,
        entry,
    })
}

fn decode_snapshot(session: &str, seq: u64, payload: &[u8]) -> Result<Snapshot, Error> {
    codec::decode(payload).map_err(|reason| Error::Decode {
        session: session.to_owned(),
        seq,
        reason,
    })
}

/// Column `idx` of `row` as bytes, without copying.
fn blob<'a>(row: &'a rusqlite::Row<'_>, idx: usize) -> Result<&'a [u8], Error> {
    row.get_ref(idx)?
        .as_bytes()
        .map_err(|e| conversion(idx, rusqlite::types::Type::Blob, e))
}

/// Column `idx` of `row` as text, without copying.
fn text<'a>(row: &'a rusqlite::Row<'_>, idx: usize) -> Result<&'a str, Error> {
    row.get_ref(idx)?
        .as_str()
        .map_err(|e| conversion(idx, rusqlite::types::Type::Text, e))
}

fn conversion(idx: usize, ty: rusqlite::types::Type, e: rusqlite::types::FromSqlError) -> Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, Box::new(e)).into()
}

/// A stored hash column; the schema writes 32 bytes, anything else (a
/// hand-edited file) maps to zeros rather than failing the read.
fn hash_from(bytes: &[u8]) -> ContentHash {
    let mut hash = [0u8; 32];
    if bytes.len() == 32 {
        hash.copy_from_slice(bytes);
    }
    ContentHash(hash)
}
