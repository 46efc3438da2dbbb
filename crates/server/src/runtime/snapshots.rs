//! What the server keeps in a journal snapshot, and when a session is due
//! for one.
//!
//! Every `journal_snapshot_every` records of a journaled session, once the
//! session is idle between macrosteps, the worker takes
//! [`runner::Runner::snapshot_session`] of it (and of its invoked children,
//! all or none: see `worker::snapshot`) and stores it with
//! [`journal::Journal::snapshot`], so that recovery restores the session
//! from it and replays only the records after it.
//!
//! The journal's [`journal::Snapshot`] carries the configuration and data
//! for inspection; what recovery uses is in its `host`: a
//! [`ServerSnapshot`], postcard-encoded and written as hexadecimal text
//! (the journal's `Value` has no bytes). It holds the runner's
//! [`HostedSnapshot`] (the interpreter's exact state, with the
//! `Math.random()` generator's position, the delayed sends, the active
//! invocations; the ids of the running children) and the ORS requests under
//! way. The document, the parameters and the seed are those of the start
//! record, which the journal always keeps; the next record's sequence
//! number is one past the snapshot's.

use std::cell::RefCell;
use std::rc::Rc;

use journal::Value;
use runner::HostedSnapshot;
use serde::{Deserialize, Serialize};

use super::inflight::InFlight;

/// The format of [`ServerSnapshot`]; a snapshot of another format is not
/// used (the session is replayed from its start instead).
const FORMAT: u32 = 1;

/// What the server stores in `Snapshot::host`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServerSnapshot {
    format: u32,
    /// The runner's snapshot of the session.
    pub(crate) hosted: HostedSnapshot,
    /// ORS requests the session made whose completion it had not received.
    pub(crate) requests: InFlight,
}

impl ServerSnapshot {
    pub(crate) fn new(hosted: HostedSnapshot, requests: InFlight) -> Self {
        ServerSnapshot {
            format: FORMAT,
            hosted,
            requests,
        }
    }

    /// The `host` value of a journal snapshot.
    pub(crate) fn to_host(&self) -> Result<Value, String> {
        let bytes = postcard::to_stdvec(self).map_err(|e| e.to_string())?;
        Ok(Value::String(to_hex(&bytes)))
    }

    /// Reads back what [`Self::to_host`] wrote.
    pub(crate) fn from_host(host: &Value) -> Result<ServerSnapshot, String> {
        let Value::String(text) = host else {
            return Err("the snapshot has no server state".to_owned());
        };
        let bytes = from_hex(text).ok_or("the snapshot's server state is not hexadecimal")?;
        let snapshot: ServerSnapshot = postcard::from_bytes(&bytes).map_err(|e| e.to_string())?;
        if snapshot.format != FORMAT {
            return Err(format!("snapshot format {} is not known", snapshot.format));
        }
        Ok(snapshot)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[(byte >> 4) as usize] as char);
        text.push(DIGITS[(byte & 15) as usize] as char);
    }
    text
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Ids of sessions due for a snapshot, filled by their machines after an
/// input and taken by the worker once it is idle.
pub(crate) type DueList = Rc<RefCell<Vec<String>>>;

/// A journaled session's snapshot schedule.
pub(crate) struct Schedule {
    /// Records between two snapshots.
    every: u64,
    /// The record of the last snapshot taken or refused (0: none).
    last: u64,
    /// Whether the session is on the due list.
    queued: bool,
    due: DueList,
}

impl Schedule {
    /// A schedule for a session whose last snapshot (or start) is at `last`;
    /// `None` when snapshots are off (`every` 0).
    pub(crate) fn new(every: u64, last: u64, due: &DueList) -> Option<Schedule> {
        (every > 0).then(|| Schedule {
            every,
            last,
            queued: false,
            due: Rc::clone(due),
        })
    }

    /// After an input: puts the session on the due list when `every`
    /// records were written since the last attempt. `written` is the
    /// sequence number of the last record.
    pub(crate) fn after(&mut self, id: &str, written: u64) {
        if !self.queued && written >= self.last + self.every {
            self.queued = true;
            self.due.borrow_mut().push(id.to_owned());
        }
    }

    /// A snapshot at `seq` was stored or refused: the next attempt is
    /// `every` records later.
    pub(crate) fn attempted(&mut self, seq: u64) {
        self.last = seq;
        self.queued = false;
    }

    /// The attempt is put off to the next idle moment (the session was
    /// between two steps of the host); it stays due.
    pub(crate) fn requeue(&mut self, id: &str) {
        self.queued = true;
        self.due.borrow_mut().push(id.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_other_text() {
        let bytes = [0u8, 1, 0x7f, 0x80, 0xff, 0x3c];
        assert_eq!(to_hex(&bytes), "00017f80ff3c");
        assert_eq!(from_hex(&to_hex(&bytes)).unwrap(), bytes);
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn a_session_is_due_every_n_records_after_the_last_attempt() {
        let due = DueList::default();
        let mut schedule = Schedule::new(10, 0, &due).unwrap();
        schedule.after("s", 9);
        assert!(due.borrow().is_empty());
        schedule.after("s", 10);
        schedule.after("s", 11);
        assert_eq!(*due.borrow(), ["s"]);
        due.borrow_mut().clear();
        schedule.attempted(12);
        schedule.after("s", 21);
        assert!(due.borrow().is_empty());
        schedule.after("s", 22);
        assert_eq!(*due.borrow(), ["s"]);
        assert!(Schedule::new(0, 0, &due).is_none());
    }
}
