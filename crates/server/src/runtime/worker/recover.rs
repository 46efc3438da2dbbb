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
//! - A session with a snapshot (see [`super::snapshot`]) is restored from it
//!   ([`runner::Runner::restore_session`]) and replays only the records
//!   after it; its timers are re-armed from the restored state. The
//!   children its snapshot names that are still invoked after those records
//!   are restored after it, from their own snapshots, linked to it; the
//!   children it invoked after its snapshot come back through its replay
//!   as above (from their own snapshots when they have one). A snapshot
//!   that cannot be used (unreadable, of a session with a non-numeric id,
//!   naming a live child without a snapshot) is ignored: the session is
//!   replayed from its start.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

use journal::{Entry as JournalEntry, Journal, OutcomeRecord, Record, Recovered};
use runner::ReservedId;
use scxml::Data;

use super::super::persist::Resume;
use super::super::replay::Inputs;
use super::super::snapshots::ServerSnapshot;
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
        let resumes = self.with_snapshots(&journal, recovered, &mut failed);
        // Children named by a snapshot their parent is restored from: the
        // worker restores them, the parent does not invoke them again.
        let named: HashSet<String> = resumes
            .iter()
            .filter_map(|r| r.snapshot.as_ref())
            .flat_map(|s| s.hosted.children.iter().map(|(_, child)| child.clone()))
            .collect();
        let mut reserved = HashMap::new();
        let (children, tops): (Vec<_>, Vec<_>) = resumes
            .into_iter()
            .partition(|r| r.recovered.start.parent.is_some());
        for child in children {
            let restored = named.contains(&child.recovered.session);
            if let Err(e) = self.expect_child(child, restored, &mut reserved) {
                failed += 1;
                tracing::error!("cannot recover: {e}");
            }
        }
        for resume in tops {
            let id = resume.recovered.session.clone();
            let result = match waits_for_its_start(&resume.recovered) {
                true => self.rearm_scheduled(&journal, resume.recovered),
                false => self.recover_one(&journal, resume),
            };
            if let Err(e) = result {
                failed += 1;
                tracing::error!(session = %id, "cannot recover: {e}");
            }
        }
        self.settle();
        failed += self.restore_children(&journal, &mut reserved);
        failed += self.end_orphans(&journal);
        let (replayed, restored) = {
            let mut shared = self.shared.borrow_mut();
            (
                std::mem::take(&mut shared.replayed_records),
                std::mem::take(&mut shared.restored_snapshots),
            )
        };
        let metrics = &self.setup.metrics;
        metrics.recovery_records_replayed.inc_by(replayed);
        metrics.recovery_snapshots_restored.inc_by(restored);
        if count > 0 {
            // Counted in by `Runtime::with_observer` for a worker with
            // sessions to recover: `/ready` answers 503 until every one is
            // done.
            self.setup.recovering.fetch_sub(1, Ordering::SeqCst);
            tracing::info!(
                sessions = count - failed,
                failed,
                from_snapshots = restored,
                records_replayed = replayed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "sessions recovered from the journal"
            );
        }
    }

    /// The sessions to recover with the snapshots they are restored from:
    /// a snapshot that cannot be used is dropped and the session's records
    /// from its start are read instead (and so for its parent, whose
    /// snapshot then names a child that would have nothing to be restored
    /// from).
    fn with_snapshots(
        &mut self,
        journal: &Journal,
        recovered: Vec<Recovered>,
        failed: &mut usize,
    ) -> Vec<Resume> {
        let mut resumes: Vec<Resume> = recovered
            .into_iter()
            .map(|recovered| {
                let numbered = self.runner.parse_session_number(&recovered.session).is_some();
                let snapshot = match &recovered.snapshot {
                    Some(s) if numbered => ServerSnapshot::from_host(&s.host)
                        .map_err(|e| tracing::warn!(session = %recovered.session, "snapshot not used: {e}"))
                        .ok(),
                    _ => None,
                };
                Resume {
                    recovered,
                    snapshot,
                }
            })
            .collect();
        loop {
            let live: HashSet<&str> = resumes
                .iter()
                .map(|r| r.recovered.session.as_str())
                .collect();
            let restorable: HashSet<&str> = resumes
                .iter()
                .filter(|r| r.snapshot.is_some())
                .map(|r| r.recovered.session.as_str())
                .collect();
            let unusable: HashSet<String> = resumes
                .iter()
                .filter(|r| {
                    r.snapshot.as_ref().is_some_and(|s| {
                        s.hosted.children.iter().any(|(_, child)| {
                            live.contains(child.as_str()) && !restorable.contains(child.as_str())
                        })
                    })
                })
                .map(|r| r.recovered.session.clone())
                .collect();
            if unusable.is_empty() {
                break;
            }
            for resume in resumes
                .iter_mut()
                .filter(|r| unusable.contains(&r.recovered.session))
            {
                resume.snapshot = None;
            }
        }
        // Those whose snapshot is not used replay from their start.
        resumes.retain_mut(|resume| {
            let recovered = &mut resume.recovered;
            if resume.snapshot.is_some() || recovered.snapshot.is_none() {
                return true;
            }
            match journal.records(&recovered.session, 1) {
                Ok(records) => {
                    recovered.snapshot = None;
                    recovered.records = records;
                    true
                }
                Err(e) => {
                    *failed += 1;
                    tracing::error!(session = %recovered.session, "cannot recover: {e}");
                    false
                }
            }
        });
        resumes
    }

    /// Reserves a child's id for its parent's `<invoke>` (or, `restored`
    /// from a snapshot its parent's names, for the worker to restore it
    /// with) and keeps its journal for the factory.
    fn expect_child(
        &mut self,
        child: Resume,
        restored: bool,
        reservations: &mut HashMap<String, ReservedId>,
    ) -> Result<(), String> {
        let id = child.recovered.session.clone();
        let Some(parent) = child.recovered.start.parent.clone() else {
            return Err(format!("{id} is not an invoked session"));
        };
        let reserved = self
            .runner
            .parse_session_number(&id)
            .and_then(|number| self.runner.reserve_session_number(number))
            .ok_or_else(|| format!("{id} is not a free id of worker {}", self.setup.index))?;
        if restored {
            reservations.insert(id.clone(), reserved);
        } else {
            self.runner
                .reserve_child(&parent.session, &parent.invokeid, reserved);
        }
        self.shared
            .borrow_mut()
            .recovered_children
            .insert(id, child);
        Ok(())
    }

    /// Restores the children that the snapshots of their restored parents
    /// name and that are still invoked, parents first (a restored child's
    /// own children come next); answers how many failed.
    fn restore_children(
        &mut self,
        journal: &Journal,
        reservations: &mut HashMap<String, ReservedId>,
    ) -> usize {
        let mut failed = 0;
        loop {
            let pending = std::mem::take(&mut self.shared.borrow_mut().restore_children);
            if pending.is_empty() {
                return failed;
            }
            for (parent, invokeid, child) in pending {
                if let Err(e) = self.restore_child(journal, &parent, invokeid, &child, reservations)
                {
                    failed += 1;
                    tracing::error!(session = %child, parent, "cannot recover: {e}");
                }
            }
            self.settle();
        }
    }

    fn restore_child(
        &mut self,
        journal: &Journal,
        parent: &str,
        invokeid: String,
        child: &str,
        reservations: &mut HashMap<String, ReservedId>,
    ) -> Result<(), String> {
        let parent = self
            .runner
            .find_session(parent)
            .ok_or("its parent is not running")?;
        let resume = self.shared.borrow_mut().recovered_children.remove(child);
        let Some(resume) = resume else {
            // Ended in the journal after the parent's snapshot.
            tracing::warn!(session = %child, "invoked session named by its parent's snapshot is not live in the journal");
            return Ok(());
        };
        let reserved = reservations
            .remove(child)
            .ok_or("its id was not reserved")?;
        let hosted = resume
            .snapshot
            .as_ref()
            .map(|s| s.hosted.clone())
            .ok_or("it has no snapshot")?;
        let document = self
            .shared
            .borrow_mut()
            .documents
            .of_start(journal, &resume.recovered.start)?
            .document;
        let params = params_of(&resume.recovered);
        self.shared.borrow_mut().next_replay = Some(resume);
        let key = self
            .runner
            .restore_session(
                reserved,
                document,
                params,
                &hosted,
                Some((parent, invokeid)),
            )
            .map_err(|e| e.to_string())?;
        self.complete_interrupted(key);
        Ok(())
    }

    /// A restored session is not started: the ORS requests its replay
    /// found under way get their completion events through its queue.
    fn complete_interrupted(&mut self, key: runner::SessionKey) {
        let events = self
            .runner
            .machine_mut(key)
            .map(|m| m.take_interrupted())
            .unwrap_or_default();
        for event in events {
            tracing::info!(event = %event.name, "completing a request interrupted by the restart");
            self.runner.enqueue(key, event);
        }
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
            .map(|(_, child)| child.recovered)
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
    fn recover_one(&mut self, journal: &Journal, resume: Resume) -> Result<(), String> {
        let session = &resume.recovered;
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
        let params = params_of(session);
        let hosted = resume.snapshot.as_ref().map(|s| s.hosted.clone());
        self.shared.borrow_mut().next_replay = Some(resume);
        let key = match (reserved, hosted) {
            (Some(reserved), Some(hosted)) => {
                let key = self
                    .runner
                    .restore_session(reserved, document, params, &hosted, None)
                    .map_err(|e| e.to_string())?;
                self.complete_interrupted(key);
                key
            }
            (Some(reserved), None) => self
                .runner
                .spawn_reserved(reserved, document, Vec::new())
                .map_err(|e| e.to_string())?,
            (None, _) => self
                .runner
                .spawn_named(id.clone(), document, Vec::new())
                .map_err(|e| e.to_string())?,
        };
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

/// The parameters a session was started with.
fn params_of(session: &Recovered) -> Vec<(String, Data)> {
    session
        .start
        .params
        .iter()
        .map(|(k, v)| (k.clone(), Data::from(v.clone())))
        .collect()
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
