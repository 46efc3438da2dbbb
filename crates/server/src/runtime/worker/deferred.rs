//! Event requests answered when their session takes the event.
//!
//! An HTTP event (`/event/{name}`, `/request/{name}`) to a journaled session
//! that is held (a `<session:fetch>` or another handoff under way) or has
//! events queued cannot be journaled ahead of delivery ([`super::batch`]):
//! its record must take its place in the journal when the session takes it,
//! behind what is queued before it, so that the journal stays in the order
//! the session processed its inputs. Answering such a request as soon as the
//! event is queued would acknowledge an event a crash could still lose.
//!
//! So the request waits here, with the event's number in the session's
//! queue ([`runner::Runner::enqueue_numbered`]). The session's machine
//! journals an event it takes and waits for the record to be durable before
//! processing it ([`PersistSession`](super::super::persist::PersistSession)),
//! so once the runner has handed the event over
//! ([`runner::Runner::has_taken`]) the request is answered: after every run
//! of the runner, the worker answers the requests whose events were taken.
//! A session that ends first drops its queue: the requests still waiting
//! are answered "session ended" (410). When the worker stops, those still
//! waiting are answered "shutting down" (503). Each keeps its place in the
//! session's mailbox until it is answered, so the mailbox depth bounds how
//! many requests can wait.

use std::collections::{HashMap, VecDeque};

use runner::SessionKey;
use scxml::Event;

use super::{Reply, Worker};
use crate::runtime::SessionError;

/// Event requests waiting for their sessions to take their events.
#[derive(Default)]
pub(super) struct Deferred {
    by_session: HashMap<SessionKey, Waiting>,
}

/// The requests of one session, in the order of their events' numbers.
struct Waiting {
    id: String,
    replies: VecDeque<(u64, Reply<()>)>,
}

impl Worker {
    /// Queues `event` for session `key` (`id`) and answers `reply` once the
    /// session has taken it; at once with "ended" if it takes no events.
    pub(super) fn enqueue_answered_when_taken(
        &mut self,
        key: SessionKey,
        id: String,
        event: Event,
        reply: Reply<()>,
    ) {
        let Some(number) = self.runner.enqueue_numbered(key, event) else {
            self.setup.mailboxes.release(&id);
            let _ = reply.send(Err(SessionError::Ended(id)));
            return;
        };
        let waiting = self.deferred.by_session.entry(key).or_insert(Waiting {
            id,
            replies: VecDeque::new(),
        });
        waiting.replies.push_back((number, reply));
    }

    /// Answers the requests whose events their sessions have taken.
    pub(super) fn answer_taken(&mut self) {
        if self.deferred.by_session.is_empty() {
            return;
        }
        let runner = &self.runner;
        let setup = &self.setup;
        self.deferred.by_session.retain(|key, waiting| {
            while let Some((number, _)) = waiting.replies.front() {
                if !runner.has_taken(*key, *number) {
                    break;
                }
                if let Some((_, reply)) = waiting.replies.pop_front() {
                    setup.mailboxes.release(&waiting.id);
                    setup.metrics.events_in.inc();
                    let _ = reply.send(Ok(()));
                }
            }
            !waiting.replies.is_empty()
        });
    }

    /// Session `key` has ended: the requests whose events it took are
    /// answered, the others learn it ended. Call before the runner releases
    /// the session.
    pub(super) fn answer_ended(&mut self, key: SessionKey) {
        let Some(waiting) = self.deferred.by_session.remove(&key) else {
            return;
        };
        for (number, reply) in waiting.replies {
            self.setup.mailboxes.release(&waiting.id);
            let answer = if self.runner.has_taken(key, number) {
                self.setup.metrics.events_in.inc();
                Ok(())
            } else {
                Err(SessionError::Ended(waiting.id.clone()))
            };
            let _ = reply.send(answer);
        }
    }

    /// The worker stops: nothing will take the events still queued.
    pub(super) fn answer_shutting_down(&mut self) {
        for (_, waiting) in std::mem::take(&mut self.deferred.by_session) {
            for (_, reply) in waiting.replies {
                self.setup.mailboxes.release(&waiting.id);
                let _ = reply.send(Err(SessionError::ShuttingDown));
            }
        }
    }
}
