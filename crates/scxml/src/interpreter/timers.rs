//! Delayed `<send>`s (§6.2.4), ordered by due time, then by the order in
//! which they were sent.

use std::collections::BTreeMap;

use crate::action::SendRequest;
use crate::event::Event;
use crate::snapshot::{Delivery, PendingSend};
use crate::time::Timestamp;

/// What a timer does when it falls due.
#[derive(Debug)]
pub(super) enum Due {
    /// Hand the event to the host.
    Send(SendRequest),
    /// Put the event on the session's internal queue (`#_internal`).
    Internal(Event),
}

/// The pending delayed sends of one session.
#[derive(Debug, Default)]
pub(super) struct Timers {
    /// Keyed by (due time, sequence number) so that events due at the same
    /// time fire in the order they were sent.
    pending: BTreeMap<(Timestamp, u64), (Option<String>, Due)>,
    sequence: u64,
}

impl Timers {
    /// Schedules `due` at `at`; `sendid` lets `<cancel>` find it.
    pub(super) fn schedule(&mut self, at: Timestamp, sendid: Option<String>, due: Due) {
        self.sequence += 1;
        self.pending.insert((at, self.sequence), (sendid, due));
    }

    /// Removes every pending send with this id (§6.3); returns whether one was found.
    pub(super) fn cancel(&mut self, sendid: &str) -> bool {
        let before = self.pending.len();
        self.pending
            .retain(|_, (id, _)| id.as_deref() != Some(sendid));
        before != self.pending.len()
    }

    /// The earliest pending send that is due at `now`.
    pub(super) fn pop_due(&mut self, now: Timestamp) -> Option<Due> {
        let (&key, _) = self.pending.first_key_value()?;
        if key.0 > now {
            return None;
        }
        self.pending.remove(&key).map(|(_, due)| due)
    }

    /// When the earliest pending send falls due.
    pub(super) fn next_due(&self) -> Option<Timestamp> {
        self.pending.first_key_value().map(|(key, _)| key.0)
    }

    /// Drops everything (the session ended).
    pub(super) fn clear(&mut self) {
        self.pending.clear();
    }

    /// The pending sends in firing order, and the sequence counter.
    pub(super) fn export(&self) -> (Vec<PendingSend>, u64) {
        let pending = self
            .pending
            .iter()
            .map(|(&(due, sequence), (sendid, what))| PendingSend {
                due,
                sequence,
                sendid: sendid.clone(),
                delivery: match what {
                    Due::Send(request) => Delivery::Send(request.clone()),
                    Due::Internal(event) => Delivery::Internal(event.clone()),
                },
            })
            .collect();
        (pending, self.sequence)
    }

    /// Timers holding exactly what [`export`](Self::export) gave.
    pub(super) fn import(pending: &[PendingSend], sequence: u64) -> Timers {
        Timers {
            pending: pending
                .iter()
                .map(|p| {
                    let due = match &p.delivery {
                        Delivery::Send(request) => Due::Send(request.clone()),
                        Delivery::Internal(event) => Due::Internal(event.clone()),
                    };
                    ((p.due, p.sequence), (p.sendid.clone(), due))
                })
                .collect(),
            sequence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal(name: &str) -> Due {
        Due::Internal(Event::external(name, crate::Data::Undefined))
    }

    fn name(due: Due) -> String {
        match due {
            Due::Internal(e) => e.name,
            Due::Send(r) => r.event.name,
        }
    }

    #[test]
    fn fires_in_time_then_send_order_and_cancels_by_id() {
        let mut timers = Timers::default();
        timers.schedule(Timestamp(20), None, internal("late"));
        timers.schedule(Timestamp(10), Some("a".into()), internal("first"));
        timers.schedule(Timestamp(10), Some("b".into()), internal("second"));
        timers.schedule(Timestamp(10), Some("c".into()), internal("cancelled"));
        assert!(timers.cancel("c"));
        assert!(!timers.cancel("c"));
        assert_eq!(timers.next_due(), Some(Timestamp(10)));
        assert!(timers.pop_due(Timestamp(9)).is_none());
        assert_eq!(
            timers.pop_due(Timestamp(15)).map(name).as_deref(),
            Some("first")
        );
        assert_eq!(
            timers.pop_due(Timestamp(15)).map(name).as_deref(),
            Some("second")
        );
        assert!(timers.pop_due(Timestamp(15)).is_none());
        assert_eq!(
            timers.pop_due(Timestamp(20)).map(name).as_deref(),
            Some("late")
        );
        assert_eq!(timers.next_due(), None);
    }
}
