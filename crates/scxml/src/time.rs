//! Time as the interpreter sees it: a serializable instant given by the host.
//!
//! The core never reads a clock. Every input carries `now`, so that a session
//! replayed from its journal, or moved to another process, sees the same times.

use std::ops::Add;
use std::time::Duration;

/// Milliseconds on the host's clock (for `orca run`, the Unix epoch or a
/// virtual clock; the interpreter only compares and adds them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The instant `ms` milliseconds after the clock's origin.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the clock's origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, rhs: Duration) -> Timestamp {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
}

/// Parses a CSS2 time value as `<send delay>` uses it (§6.2.4): a
/// non-negative decimal number followed by `s` or `ms`, e.g. `2s`, `.5s`,
/// `150ms`. Returns milliseconds, rounded to the nearest.
pub fn parse_css_time(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    let number = number.trim_end();
    let valid = !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.chars().filter(|&c| c == '.').count() <= 1
        && number != ".";
    if !valid {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    Some((value * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn css_times() {
        assert_eq!(parse_css_time("1s"), Some(1000));
        assert_eq!(parse_css_time(".5s"), Some(500));
        assert_eq!(parse_css_time("2.5s"), Some(2500));
        assert_eq!(parse_css_time("150ms"), Some(150));
        assert_eq!(parse_css_time(" 0s "), Some(0));
        assert_eq!(parse_css_time("5"), None);
        assert_eq!(parse_css_time("-1s"), None);
        assert_eq!(parse_css_time("s"), None);
        assert_eq!(parse_css_time("1.2.3s"), None);
    }
}
