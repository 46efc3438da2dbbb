//! Starts scheduled for later (ORS `idealtime`): journaled when accepted,
//! with the events sent to them while they wait, so that a crash loses
//! neither; started once when their time comes (the session appends
//! `Began`, then takes the waiting events); re-armed at recovery
//! ([`super::recover`]).

use std::sync::Arc;

use journal::{DocumentRef, Entry as JournalEntry, Journal, OutcomeRecord, Record};
use runner::ReservedId;
use scxml::{Data, Document, Event, Timestamp};

use super::super::journaled::JournaledDocument;
use super::super::persist::{start_record, Journaling, StartInfo};
use super::{Entry, Worker};

/// A start waiting for its `idealtime`.
pub(super) struct Scheduled {
    pub(super) id: ReservedId,
    pub(super) document: Arc<Document>,
    pub(super) src: String,
    pub(super) at: Timestamp,
    pub(super) params: Vec<(String, Data)>,
    /// Events sent to it before it started, taken right after its start.
    pub(super) events: Vec<Event>,
    /// Its journal, when it is journaled.
    pub(super) log: Option<WaitingLog>,
}

/// The journal of a scheduled session that has not started.
pub(super) struct WaitingLog {
    pub(super) journal: Journal,
    pub(super) document: JournaledDocument,
    /// The `Math.random()` seed in its start record.
    pub(super) seed: u64,
    pub(super) next_seq: u64,
}

impl WaitingLog {
    /// Appends `entry` and waits until it is durable.
    fn write(&mut self, id: &str, entry: JournalEntry) {
        let record = Record::new(id, self.next_seq, entry);
        self.next_seq += 1;
        if let Err(e) = self.journal.append(record).wait() {
            tracing::error!(session = %id, "journal append failed: {e}");
        }
    }
}

impl Worker {
    /// Accepts a start for `at` (later than now): reserves its id, journals
    /// its start record, and answers the id.
    pub(super) fn schedule(
        &mut self,
        entry: Entry,
        document: Arc<Document>,
        params: Vec<(String, Data)>,
        at: Timestamp,
    ) -> String {
        let id = self.runner.reserve_session_id();
        let name = id.as_str().to_owned();
        let src = entry.src.clone();
        let log = self.journal_schedule(&name, &document, &src, &params, entry.created, at);
        self.sessions.insert(name.clone(), entry);
        self.scheduled.insert(
            (at, name.clone()),
            Scheduled {
                id,
                document,
                src,
                at,
                params,
                events: Vec::new(),
                log,
            },
        );
        self.setup.metrics.sessions_active.inc();
        tracing::info!(session = %name, at = at.as_millis(), "session scheduled");
        name
    }

    /// Writes the start record of a scheduled session (`scheduled` later
    /// than `at` says it waits); `None` when it is not journaled.
    fn journal_schedule(
        &mut self,
        id: &str,
        document: &Arc<Document>,
        src: &str,
        params: &[(String, Data)],
        created: Timestamp,
        at: Timestamp,
    ) -> Option<WaitingLog> {
        let journal = self.setup.journal.clone()?;
        let (text, hash) = self.sources.of(document)?;
        let seed = self.runner.factory_mut().next_seed();
        let reference = DocumentRef {
            url: Some(src.to_owned()),
            hash,
        };
        let start = start_record(reference.clone(), params, seed, created, Some(at));
        if let Err(e) = journal.start(id, start, Arc::clone(&text)).wait() {
            tracing::error!(session = %id, "journal start failed: {e}");
            return None;
        }
        Some(WaitingLog {
            journal,
            document: JournaledDocument::top_level(reference, &text, document),
            seed,
            next_seq: 1,
        })
    }

    /// An event for a scheduled session: journaled now, taken at its start.
    pub(super) fn wait_for_start(&mut self, id: &str, event: Event) {
        let now = self.runner.now();
        let Some(scheduled) = self.scheduled.values_mut().find(|s| s.id.as_str() == id) else {
            return;
        };
        if let Some(log) = scheduled.log.as_mut() {
            log.write(
                id,
                JournalEntry::Event {
                    event: (&event).into(),
                    at: now,
                },
            );
        }
        scheduled.events.push(event);
    }

    /// Terminates a session before its start: it ends in the journal too.
    pub(super) fn cancel_scheduled(&mut self, id: &str) {
        let now = self.runner.now();
        let key = self
            .scheduled
            .iter()
            .find(|(_, s)| s.id.as_str() == id)
            .map(|(key, _)| key.clone());
        if let Some(mut scheduled) = key.and_then(|key| self.scheduled.remove(&key)) {
            if let Some(log) = scheduled.log.as_mut() {
                log.write(
                    id,
                    JournalEntry::Ended {
                        outcome: OutcomeRecord::Terminated,
                        at: now,
                    },
                );
            }
        }
        self.end(
            id,
            Some("terminated before its start".to_owned()),
            Vec::new(),
        );
    }

    /// Its time has come: the session starts under its reserved id (and,
    /// journaled, appends `Began`), then takes the events it was sent.
    pub(super) fn start_scheduled(&mut self, scheduled: Scheduled) {
        let Scheduled {
            id,
            document,
            src,
            at,
            params,
            events,
            log,
        } = scheduled;
        let name = id.as_str().to_owned();
        let now = self.runner.now();
        // Kept to write the end if the session cannot be created.
        let journal = log.as_ref().map(|log| (log.journal.clone(), log.next_seq));
        let journaling = match log {
            Some(log) => Journaling::Accepted {
                document: log.document,
                seed: log.seed,
                next_seq: log.next_seq,
            },
            None => Journaling::Off,
        };
        self.shared.borrow_mut().next_start = Some(StartInfo {
            src,
            journaling,
            created: now,
            scheduled: Some(at),
            waiting: events,
        });
        match self.runner.spawn_reserved(id, document, params) {
            Ok(key) => {
                if let Some(entry) = self.sessions.get_mut(&name) {
                    entry.key = Some(key);
                    entry.status = super::Status::Running;
                    entry.started = Some(now);
                }
                self.by_key.insert(key, name.clone());
                self.setup.metrics.sessions_started.inc();
                tracing::info!(session = %name, "scheduled session started");
                self.settle();
            }
            Err(e) => {
                tracing::warn!(session = %name, "scheduled session failed to start: {e}");
                if let Some((journal, seq)) = journal {
                    let outcome = OutcomeRecord::Stopped {
                        reason: format!("failed to start: {e}"),
                    };
                    let end = JournalEntry::Ended { outcome, at: now };
                    if let Err(e) = journal.append(Record::new(&name, seq, end)).wait() {
                        tracing::error!(session = %name, "journal append failed: {e}");
                    }
                }
                self.end(&name, Some(format!("failed to start: {e}")), Vec::new());
            }
        }
    }
}
