//! The session journal of the Orca server: every input of a persistent SCXML
//! session, appended to SQLite before the session sees it, so that replaying
//! the journal through the deterministic interpreter rebuilds the session
//! after a crash, on another node, or step by step for debugging.
//!
//! # Brief overview
//!
//! - [`Record`]s are (session, sequence number, [`Entry`]): the start
//!   ([`Start`]: document, parameters, random seed, time), external events,
//!   timer firings, fetched results, termination and the end. Each carries
//!   the host time the session was given with it. [`Snapshot`]s bound
//!   replay. [`Value`], [`EventRecord`] and [`OutcomeRecord`] are
//!   serializable mirrors of `scxml::Data`, `Event` and `Outcome`.
//! - [`Journal`] stores them in one SQLite database in WAL mode. Appends
//!   from any thread are group-committed by one writer thread and answered
//!   with a [`Ticket`] that resolves once the batch is fsynced; reads (a
//!   session's records, its latest snapshot, the live sessions, a whole
//!   [`Journal::recover`] scan) run on the caller's thread.
//!
//! What this crate does not do: run sessions, decide when to snapshot, or
//! replay. The server drives the interpreter and calls this crate; the
//! design and the measured numbers are in `docs/design/journal.md`.
//!
//! ```no_run
//! # fn main() -> Result<(), journal::Error> {
//! use std::sync::Arc;
//! use journal::{Config, ContentHash, DocumentRef, Entry, Journal, Record, Start, Value};
//! use scxml::Timestamp;
//!
//! let journal = Journal::open(Config::new("data/journal.db"))?;
//! let source: Arc<str> = Arc::from("<scxml xmlns='http://www.w3.org/2005/07/scxml'/>");
//! let start = Start {
//!     document: DocumentRef { url: None, hash: ContentHash::of(source.as_bytes()) },
//!     params: vec![],
//!     seed: 42,
//!     at: Timestamp::from_millis(1_700_000_000_000),
//!     scheduled: None,
//!     parent: None,
//!     host: Value::Undefined,
//! };
//! journal.start("s1", start, source).wait()?;
//! let timer = Entry::Timer { at: Timestamp::from_millis(1_700_000_000_500) };
//! journal.append(Record::new("s1", 1, timer)).wait()?; // durable from here on
//! # Ok(()) }
//! ```

#![warn(missing_docs, unreachable_pub)]

mod codec;
mod error;
mod journal;
mod record;
mod schema;
mod ticket;
mod writer;

pub use error::Error;
pub use journal::{
    BatchReport, CompactReport, Config, Group, Journal, Observer, Recovered, SessionInfo, Stats,
};
pub use record::{
    ActiveInvoke, ContentHash, DocumentRef, Entry, EventKindRecord, EventRecord, Kind,
    OutcomeRecord, Parent, PendingTimer, Record, Snapshot, Start, Value,
};
pub use ticket::Ticket;

/// Payload encoding, exposed for the benchmark that compares it with JSON.
#[doc(hidden)]
pub mod bench_support {
    /// Encodes a payload as the journal stores it.
    pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, String> {
        crate::codec::encode(value)
    }

    /// Decodes a stored payload.
    pub fn decode<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
        crate::codec::decode(payload)
    }
}
