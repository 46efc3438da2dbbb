//! Times as Context Services writes them: ISO 8601 UTC with milliseconds,
//! `[YYYY]-[MM]-[DD]T[HH]:[mm]:[ss].[SSS]Z` (the seed's `timestamp` field:
//! "If the application does not specify this timestamp, the server does
//! it"), and the check that a client's date/time has that form.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `ms` (since the Unix epoch) as `YYYY-MM-DDTHH:MM:SS.sssZ`.
pub(crate) fn iso8601(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hours, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the
/// well-known era-based conversion: 400-year eras of 146,097 days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `text` is an ISO 8601 date or date-time: `YYYY-MM-DD`, optionally
/// followed by `THH:MM`, `:SS`, a fraction, and `Z` or an offset `±HH:MM`.
/// The seed's own example (`2009-05-07T12:05:20.157`) has no zone, so the
/// zone is optional.
pub(crate) fn is_iso8601(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .filter(|s| s.iter().all(u8::is_ascii_digit))
            .map(|s| s.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (Some(_), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return false;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return false;
    }
    let (Some(hours), Some(minutes)) = (digits(11..13), digits(14..16)) else {
        return false;
    };
    if b.get(13) != Some(&b':') || hours > 23 || minutes > 59 {
        return false;
    }
    let mut at = 16;
    if b.get(at) == Some(&b':') {
        match digits(at + 1..at + 3) {
            Some(seconds) if seconds <= 60 => at += 3,
            _ => return false,
        }
        if b.get(at) == Some(&b'.') {
            let fraction = b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if fraction == 0 {
                return false;
            }
            at += 1 + fraction;
        }
    }
    match &b[at..] {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', rest @ ..] => {
            let zone = std::str::from_utf8(rest).unwrap_or("");
            let (h, m) = zone
                .split_once(':')
                .unwrap_or((zone.get(..2).unwrap_or(""), zone.get(2..).unwrap_or("")));
            h.len() == 2 && m.len() == 2 && h.bytes().chain(m.bytes()).all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        // The seed's example instant.
        assert_eq!(iso8601(1_241_697_920_157), "2009-05-07T12:05:20.157Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn recognises_iso_dates_and_times() {
        for good in [
            "2009-05-07T12:05:20.157",
            "2009-12-18T18:30:00.000Z",
            "1962-05-10",
            "2010-05-18T15:23:34+02:00",
            "2010-05-18T15:23",
            "2010-05-18T15:23:34.5-0500",
        ] {
            assert!(is_iso8601(good), "{good}");
        }
        for bad in [
            "",
            "yesterday",
            "2009-13-07",
            "2009-05-07T25:00",
            "2009-05-07T12:05:20.",
            "2009-05-07T12:05:20Q",
            "2009/05/07",
        ] {
            assert!(!is_iso8601(bad), "{bad}");
        }
    }
}
