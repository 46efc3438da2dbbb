//! The journal's error type.

use std::sync::Arc;

/// What can go wrong when journaling.
///
/// It is `Clone` because one failed commit fails every ticket of its batch.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed (I/O error, disk full, corrupt file...).
    #[error("journal database: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    /// The database directory could not be created.
    #[error("journal directory: {0}")]
    Io(#[source] Arc<std::io::Error>),
    /// SQLite would not put the database in WAL mode (some network file
    /// systems), so the durability argument of the journal would not hold.
    #[error("journal database refuses WAL mode (journal_mode is {mode})")]
    WalUnavailable {
        /// The mode SQLite kept.
        mode: String,
    },
    /// The database was written by a newer Orca with a schema this one does
    /// not know.
    #[error("journal schema version {found} is newer than the supported {supported}")]
    UnsupportedSchema {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A record could not be encoded.
    #[error("cannot encode a record of session {session}: {reason}")]
    Encode {
        /// The session.
        session: String,
        /// The codec's message.
        reason: String,
    },
    /// A stored payload could not be decoded.
    #[error("cannot decode record {seq} of session {session}: {reason}")]
    Decode {
        /// The session.
        session: String,
        /// The record's sequence number (of the snapshot, for snapshots).
        seq: u64,
        /// The codec's message.
        reason: String,
    },
    /// A session with this id was already started.
    #[error("session {session} already exists in the journal")]
    DuplicateSession {
        /// The session.
        session: String,
    },
    /// This sequence number is already used in the session's journal.
    #[error("record {seq} of session {session} already exists")]
    DuplicateRecord {
        /// The session.
        session: String,
        /// The sequence number.
        seq: u64,
    },
    /// A record for a session that was never started (or already
    /// compacted away), or a start whose document was not stored.
    #[error("session {session} is not in the journal")]
    UnknownSession {
        /// The session.
        session: String,
    },
    /// An [`Entry::Started`](crate::Entry::Started) went through
    /// [`Journal::append`](crate::Journal::append) instead of
    /// [`Journal::start`](crate::Journal::start), or the reverse.
    #[error("record {seq} of session {session}: {reason}")]
    Misuse {
        /// The session.
        session: String,
        /// The sequence number.
        seq: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// The writer thread is gone (the journal was closed or it panicked).
    #[error("the journal writer has stopped")]
    Closed,
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(Arc::new(e))
    }
}
