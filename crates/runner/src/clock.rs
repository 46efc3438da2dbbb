//! The session clock (virtual or real) and the table of armed timers.
//!
//! The interpreter never reads a clock: every input carries `now`, and each
//! session reports only its earliest delayed send through `poll_timeout`
//! (DESIGN.md, "Time is an argument"). The runner keeps one entry per session
//! in a [`TimerTable`] ordered by due time, so finding the next wake-up is
//! `O(log n)` however many sessions are alive, and the clock decides what
//! "waiting until then" means: a jump (virtual) or a sleep (real).

use std::collections::BTreeSet;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use scxml::Timestamp;

/// How the runner's clock advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Time stands still while sessions work and jumps to the next timer when
    /// nothing else can happen: a 5 s `<send delay>` costs nothing, and runs
    /// are deterministic. The clock starts at `start`.
    Virtual {
        /// The first reading of the clock.
        start: Timestamp,
    },
    /// Milliseconds since the Unix epoch; waiting for a timer sleeps. For
    /// charts that talk to the outside world.
    Real,
}

impl ClockMode {
    /// A virtual clock starting at the current wall-clock time, so that
    /// `Date.now()` looks plausible while delays still cost nothing.
    pub fn virtual_from_now() -> Self {
        ClockMode::Virtual {
            start: wall_clock_now(),
        }
    }
}

/// The clock of one runner.
#[derive(Debug)]
pub(crate) enum Clock {
    /// A reading that only [`Clock::wait_until`] moves.
    Virtual { now: Timestamp },
    /// The wall clock, read through a monotonic `Instant` so that it never
    /// goes backwards while the runner is alive.
    Real {
        origin: Instant,
        origin_ts: Timestamp,
    },
}

impl Clock {
    pub(crate) fn new(mode: ClockMode) -> Self {
        match mode {
            ClockMode::Virtual { start } => Clock::Virtual { now: start },
            ClockMode::Real => Clock::Real {
                origin: Instant::now(),
                origin_ts: wall_clock_now(),
            },
        }
    }

    /// The current reading.
    pub(crate) fn now(&self) -> Timestamp {
        match self {
            Clock::Virtual { now } => *now,
            Clock::Real { origin, origin_ts } => *origin_ts + origin.elapsed(),
        }
    }

    /// Whether time only passes when the runner says so.
    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual { .. })
    }

    /// Lets time pass until `t`: a jump for the virtual clock (never
    /// backwards), a sleep for the real one.
    pub(crate) fn wait_until(&mut self, t: Timestamp) {
        match self {
            Clock::Virtual { now } => *now = (*now).max(t),
            Clock::Real { .. } => {
                let wait = t.saturating_since(self.now());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the system clock is before it).
pub fn wall_clock_now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

/// One armed timer per key, ordered by due time, then by key (so that two
/// sessions due at the same instant fire in a fixed order).
#[derive(Debug)]
pub(crate) struct TimerTable<K> {
    /// `(due, key)`: a B-tree set gives the earliest entry and removal of a
    /// re-armed entry in `O(log n)`, which matters with thousands of sessions.
    entries: BTreeSet<(Timestamp, K)>,
}

impl<K: Ord + Copy> TimerTable<K> {
    pub(crate) fn new() -> Self {
        TimerTable {
            entries: BTreeSet::new(),
        }
    }

    /// Moves `key` from its previous due time `old` to `new` (either may be
    /// `None`). The caller remembers `old`; the table holds no other index.
    pub(crate) fn rearm(&mut self, key: K, old: Option<Timestamp>, new: Option<Timestamp>) {
        if old == new {
            return;
        }
        if let Some(t) = old {
            self.entries.remove(&(t, key));
        }
        if let Some(t) = new {
            self.entries.insert((t, key));
        }
    }

    /// The earliest due time.
    pub(crate) fn next(&self) -> Option<Timestamp> {
        self.entries.first().map(|(t, _)| *t)
    }

    /// Removes and returns the earliest entry if it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, K)> {
        match self.entries.first() {
            Some(&(t, _)) if t <= now => self.entries.pop_first(),
            _ => None,
        }
    }

    /// Number of armed timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn timers_pop_in_due_order_then_key_order() {
        let mut table = TimerTable::new();
        table.rearm(3, None, Some(ts(500)));
        table.rearm(1, None, Some(ts(1500)));
        table.rearm(2, None, Some(ts(500)));
        assert_eq!(table.next(), Some(ts(500)));
        assert_eq!(table.pop_due(ts(499)), None);
        assert_eq!(table.pop_due(ts(2000)), Some((ts(500), 2)));
        assert_eq!(table.pop_due(ts(2000)), Some((ts(500), 3)));
        assert_eq!(table.pop_due(ts(2000)), Some((ts(1500), 1)));
        assert_eq!(table.pop_due(ts(2000)), None);
        assert_eq!(table.next(), None);
    }

    #[test]
    fn rearming_moves_and_disarming_removes() {
        let mut table = TimerTable::new();
        table.rearm(7, None, Some(ts(100)));
        table.rearm(7, Some(ts(100)), Some(ts(50)));
        assert_eq!(table.len(), 1);
        assert_eq!(table.next(), Some(ts(50)));
        // Re-arming with the same time is a no-op, not a duplicate.
        table.rearm(7, Some(ts(50)), Some(ts(50)));
        assert_eq!(table.len(), 1);
        table.rearm(7, Some(ts(50)), None);
        assert_eq!(table.next(), None);
    }

    #[test]
    fn virtual_clock_jumps_forward_only() {
        let mut clock = Clock::new(ClockMode::Virtual { start: ts(1000) });
        assert!(clock.is_virtual());
        clock.wait_until(ts(6000));
        assert_eq!(clock.now(), ts(6000));
        clock.wait_until(ts(10));
        assert_eq!(clock.now(), ts(6000));
    }

    #[test]
    fn real_clock_does_not_sleep_for_past_instants() {
        let mut clock = Clock::new(ClockMode::Real);
        let before = clock.now();
        clock.wait_until(ts(0));
        assert!(clock.now() >= before);
        assert!(!clock.is_virtual());
    }
}
