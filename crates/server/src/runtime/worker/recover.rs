//! Recovery: re-creating the live sessions of a worker from the journal
//! before it serves.
//!
//! - A top-level session is replayed under its old id, then its timers are
//!   armed on the real clock (those that fell due while the server was down
//!   fire at once).
//! - An invoked child is not started by the worker: its id is reserved for
//!   its parent's `<invoke>`, which the parent's replay carries out again,
//!   and the factory then replays the child's own journal (its states, data
//!   and timers come back; it does not start again). A child whose parent
//!   is running but does not invoke it again, or whose parent is no longer
//!   live in the journal, is ended in the journal; one whose parent is live
//!   but could not be recovered stays, for a later recovery.
//! - A scheduled start that had not begun waits again for its `idealtime`
//!   (at once if it passed), with the events it was sent.

use std::sync::atomic::Ordering;
use std::time::Instant;

use journal::{Entry as JournalEntry, Journal, OutcomeRecord, Record, Recovered};
use scxml::Data;

use super::super::replay::Inputs;
use super::schedule::{Scheduled, WaitingLog};
use super::{Entry, Status, Worker};

impl Worker {
    /// Re-creates the live sessions of this worker found in the journal.
    pub(super) fn recover(&mut self, recovered: Vec<Recovered>) {
        let Some(journal) = self.setup.journal.clone() else {
            return;
        };
        let started = Instant::now();
        let count = recovered.len();
        let mut failed = 0usize;
        let (children, tops): (Vec<_>, Vec<_>) = recovered
            .into_iter()
            .partition(|s| s.start.parent.is_some());
        for child in children {
            if let Err(e) = self.expect_child(child) {
                failed += 1;
                tracing::error!("cannot recover: {e}");
            }
        }
        for session in tops {
            let id = session.session.clone();
            let result = match waits_for_its_start(&session) {
                true => self.rearm_scheduled(&journal, session),
                false => self.recover_one(&journal, session),
            };
            if let Err(e) = result {
                failed += 1;
                tracing::error!(session = %id, "cannot recover: {e}");
            }
        }
        self.settle();
        failed += self.end_orphans(&journal);
        if count > 0 {
            // Counted in by `Runtime::with_observer` for a worker with
            // sessions to recover: `/ready` answers 503 until every one is
            // done.
            self.setup.recovering.fetch_sub(1, Ordering::SeqCst);
            tracing::info!(
                sessions = count - failed,
                failed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "sessions recovered from the journal"
            );
        }
    }

    /// Reserves a child's id for its parent's `<invoke>` and keeps its
    /// journal for the factory.
    fn expect_child(&mut self, child: Recovered) -> Result<(), String> {
        let id = child.session.clone();
        let Some(parent) = child.start.parent.clone() else {
            return Err(format!("{id} is not an invoked session"));
        };
        let reserved = self
            .runner
            .parse_session_number(&id)
            .and_then(|number| self.runner.reserve_session_number(number))
            .ok_or_else(|| format!("{id} is not a free id of worker {}", self.setup.index))?;
        self.runner
            .reserve_child(&parent.session, &parent.invokeid, reserved);
        self.shared
            .borrow_mut()
            .recovered_children
            .insert(id, child);
        Ok(())
    }

    /// Ends, in the journal, the children that no parent invoked again: the
    /// parent runs and its replay no longer invokes them, or it is not live
    /// in the journal. Those whose parent is live there but failed to
    /// recover are left for a later recovery. Answers how many were not
    /// recovered.
    fn end_orphans(&mut self, journal: &Journal) -> usize {
        self.runner.take_unused_child_reservations();
        let orphans: Vec<Recovered> = self
            .shared
            .borrow_mut()
            .recovered_children
            .drain()
            .map(|(_, child)| child)
            .collect();
        let now = self.runner.now();
        let count = orphans.len();
        for orphan in orphans {
            let parent = orphan
                .start
                .parent
                .as_ref()
                .map_or("", |p| p.session.as_str());
            let parent_runs = self.runner.find_session(parent).is_some();
            let parent_live = parent_runs
                || journal
                    .session(parent)
                    .is_ok_and(|info| info.is_some_and(|info| info.ended_at.is_none()));
            if parent_live && !parent_runs {
                tracing::error!(session = %orphan.session, parent, "invoked session not recovered: its parent was not recovered");
                continue;
            }
            tracing::error!(session = %orphan.session, parent, "invoked session not recovered: its parent did not invoke it again");
            let end = JournalEntry::Ended {
                outcome: OutcomeRecord::Stopped {
                    reason: "its parent did not invoke it again at recovery".to_owned(),
                },
                at: now,
            };
            let record = Record::new(orphan.session.clone(), orphan.next_seq(), end);
            if let Err(e) = journal.append(record).wait() {
                tracing::error!(session = %orphan.session, "journal append failed: {e}");
            }
        }
        count
    }

    /// A top-level session, replayed under its old id (for one started by
    /// ORS `<session:start>`, the id the action chose).
    fn recover_one(&mut self, journal: &Journal, session: Recovered) -> Result<(), String> {
        let id = session.session.clone();
        let reserved = match self.runner.parse_session_number(&id) {
            Some(number) => Some(
                self.runner
                    .reserve_session_number(number)
                    .ok_or_else(|| format!("{id} is already running"))?,
            ),
            None if self.setup.peers.worker_of(&id) == Some(self.setup.index) => None,
            None => return Err(format!("{id} is not an id of worker {}", self.setup.index)),
        };
        let document = self
            .shared
            .borrow_mut()
            .documents
            .of_start(journal, &session.start)?
            .document;
        let src = session.start.document.url.clone().unwrap_or_default();
        let created = session.start.at;
        self.shared.borrow_mut().next_replay = Some(session);
        let key = match reserved {
            Some(reserved) => self.runner.spawn_reserved(reserved, document, Vec::new()),
            None => self.runner.spawn_named(id.clone(), document, Vec::new()),
        }
        .map_err(|e| e.to_string())?;
        self.sessions.insert(
            id.clone(),
            Entry {
                key: Some(key),
                src,
                status: Status::Running,
                created,
                started: Some(created),
                ended: None,
                outcome: None,
                final_states: Vec::new(),
            },
        );
        self.by_key.insert(key, id);
        self.setup.sessions.fetch_add(1, Ordering::SeqCst);
        self.setup.metrics.sessions_active.inc();
        Ok(())
    }

    /// A scheduled start that had not begun waits again, with its events.
    fn rearm_scheduled(&mut self, journal: &Journal, session: Recovered) -> Result<(), String> {
        let id = session.session.clone();
        let next_seq = session.next_seq();
        let reserved = self
            .runner
            .parse_session_number(&id)
            .and_then(|number| self.runner.reserve_session_number(number))
            .ok_or_else(|| format!("{id} is not a free id of worker {}", self.setup.index))?;
        let Recovered { start, records, .. } = session;
        let at = start.scheduled.unwrap_or(start.at);
        let document = self
            .shared
            .borrow_mut()
            .documents
            .of_start(journal, &start)?;
        let inputs = Inputs::of(&start, records);
        let src = start.document.url.clone().unwrap_or_default();
        self.sessions.insert(
            id.clone(),
            Entry {
                key: None,
                src: src.clone(),
                status: Status::Scheduled,
                created: start.at,
                started: None,
                ended: None,
                outcome: None,
                final_states: Vec::new(),
            },
        );
        self.scheduled.insert(
            (at, id),
            Scheduled {
                id: reserved,
                document: std::sync::Arc::clone(&document.document),
                src,
                at,
                params: start
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), Data::from(v.clone())))
                    .collect(),
                events: inputs.waiting,
                log: Some(WaitingLog {
                    journal: journal.clone(),
                    document,
                    seed: start.seed,
                    next_seq,
                }),
            },
        );
        self.setup.sessions.fetch_add(1, Ordering::SeqCst);
        self.setup.metrics.sessions_active.inc();
        Ok(())
    }
}

/// Whether a journaled top-level session is a scheduled start that had not
/// begun (see [`Inputs::of`]).
fn waits_for_its_start(session: &Recovered) -> bool {
    let start = &session.start;
    start.scheduled.is_some_and(|due| due > start.at)
        && !session
            .records
            .iter()
            .any(|r| matches!(r.entry, JournalEntry::Began { .. }))
}
