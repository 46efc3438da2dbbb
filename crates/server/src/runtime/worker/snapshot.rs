//! Taking the snapshots of the worker's journaled sessions (what they hold:
//! [`super::super::snapshots`]).
//!
//! After each turn (its commands or its timers served, the runner idle), the
//! worker takes the sessions its machines put on the due list — those that
//! wrote `journal_snapshot_every` records since their last attempt. A
//! session is snapshotted with its invoked children, recursively, all or
//! none: recovery restores a child that was running when its parent's
//! snapshot was taken from the child's own snapshot (its parent no longer
//! invokes it again), so every child the parent's snapshot names must have
//! one at least as new. The children's snapshots are queued to the journal
//! before their parent's, and the journal commits in queue order, so a
//! stored parent snapshot implies its children's.
//!
//! A snapshot the engine refuses (a value it cannot capture exactly, a
//! child that is not journaled) is counted and tried again
//! `journal_snapshot_every` records later; one that cannot be taken at this
//! moment (inputs or actions of the session still waiting in the host) is
//! tried again after the next turn. Snapshots are queued without waiting
//! for their commit: nothing depends on them until the next recovery, and a
//! lost one only means a longer replay.

use journal::{Journal, Snapshot as JournalSnapshot, Value};
use runner::{SessionKey, SnapshotError};

use super::super::snapshots::ServerSnapshot;
use super::Worker;

/// Why a session was not snapshotted.
enum NotTaken {
    /// Not now: it is between two steps of the host.
    PutOff,
    /// Not at this state: why.
    Refused(String),
}

impl Worker {
    /// Snapshots the sessions due for one.
    pub(super) fn take_snapshots(&mut self) {
        let due = std::mem::take(&mut *self.shared.borrow().due.borrow_mut());
        if due.is_empty() {
            return;
        }
        let Some(journal) = self.setup.journal.clone() else {
            return;
        };
        for id in due {
            // Ended since: nothing to do.
            let Some(key) = self.runner.find_session(&id) else {
                continue;
            };
            let seq = self
                .runner
                .machine_mut(key)
                .and_then(|m| m.snapshot_point())
                .map(|p| p.seq);
            let mut taken = Vec::new();
            let result = match seq {
                Some(_) => self.snapshot_tree(key, &mut taken),
                None => Err(NotTaken::PutOff),
            };
            match (result, seq) {
                (Ok(()), _) => self.store(&journal, taken),
                (Err(NotTaken::Refused(reason)), Some(seq)) => {
                    tracing::debug!(session = %id, "no snapshot: {reason}");
                    self.setup.metrics.snapshot(false);
                    if let Some(machine) = self.runner.machine_mut(key) {
                        machine.snapshot_attempted(seq);
                    }
                }
                (Err(_), _) => {
                    if let Some(machine) = self.runner.machine_mut(key) {
                        machine.snapshot_put_off();
                    }
                }
            }
        }
    }

    /// Queues the snapshots (children first) and counts them.
    fn store(&mut self, journal: &Journal, taken: Vec<(SessionKey, JournalSnapshot)>) {
        for (key, snapshot) in taken {
            // Not waited for (see the module's notes); a failed write is
            // reported by the journal's next ticket that waits.
            drop(journal.snapshot(&snapshot));
            self.setup.metrics.snapshot(true);
            if let Some(machine) = self.runner.machine_mut(key) {
                machine.snapshot_attempted(snapshot.seq);
            }
        }
    }

    /// The snapshots of a session and of its children, children first.
    fn snapshot_tree(
        &mut self,
        key: SessionKey,
        taken: &mut Vec<(SessionKey, JournalSnapshot)>,
    ) -> Result<(), NotTaken> {
        let machine = self.runner.machine_mut(key).ok_or(NotTaken::PutOff)?;
        let point = match machine.snapshot_point() {
            Some(point) => point,
            None if machine.is_journaled() => return Err(NotTaken::PutOff),
            None => {
                return Err(NotTaken::Refused(
                    "an invoked session is not journaled".into(),
                ))
            }
        };
        let hosted = match self.runner.snapshot_session(key) {
            Ok(hosted) => hosted,
            Err(SnapshotError::NotSnapshottable(why)) => {
                return Err(NotTaken::Refused(why.to_string()))
            }
            Err(SnapshotError::NoSession | SnapshotError::Busy) => return Err(NotTaken::PutOff),
        };
        // Queued events are not journaled yet: they will be when taken,
        // after the snapshot's record.
        if !hosted.queue.is_empty() {
            return Err(NotTaken::PutOff);
        }
        for (_, child) in &hosted.children {
            let child = self.runner.find_session(child).ok_or(NotTaken::PutOff)?;
            self.snapshot_tree(child, taken)?;
        }
        let id = self.runner.session_id(key).unwrap_or_default().to_owned();
        let configuration = self
            .runner
            .configuration(key)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let data = self.runner.data(key).map_or(Value::Undefined, Value::from);
        let host = ServerSnapshot::new(hosted, point.requests)
            .to_host()
            .map_err(NotTaken::Refused)?;
        taken.push((
            key,
            JournalSnapshot {
                session: id,
                seq: point.seq,
                at: self.runner.now(),
                configuration,
                data,
                // What recovery uses is in `host`; these two summaries are
                // not filled.
                timers: Vec::new(),
                invokes: Vec::new(),
                host,
            },
        ));
        Ok(())
    }
}
