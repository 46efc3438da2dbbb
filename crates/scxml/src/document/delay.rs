//! CSS2 time values (`500ms`, `2s`, `.5s`), the syntax of `<send delay>` and
//! of the result of `delayexpr` (SCXML 1.0 §6.2).

/// Parses a CSS2 time: a non-negative decimal number immediately followed by
/// `ms` or `s` (units case-insensitive, surrounding white space ignored), in
/// milliseconds rounded to the nearest one. `None` if it is not a CSS2 time
/// or does not fit.
pub(crate) fn parse_delay(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let factor = if unit.eq_ignore_ascii_case("ms") {
        1.0
    } else if unit.eq_ignore_ascii_case("s") {
        1000.0
    } else {
        return None;
    };
    // At least one digit and at most one point: `1`, `1.5`, `.5`, `1.`.
    if !number.bytes().any(|b| b.is_ascii_digit())
        || number.bytes().filter(|&b| b == b'.').count() > 1
    {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let millis = (value * factor).round();
    // `u64::MAX as f64` rounds up to 2^64, so `<` keeps the cast in range.
    (millis.is_finite() && millis < u64::MAX as f64).then_some(millis as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_delay;

    #[test]
    fn css2_times_in_milliseconds() {
        assert_eq!(parse_delay("1s"), Some(1000));
        assert_eq!(parse_delay("500ms"), Some(500));
        assert_eq!(parse_delay(".5s"), Some(500));
        assert_eq!(parse_delay("2.5s"), Some(2500));
        assert_eq!(parse_delay(" 0s "), Some(0));
        assert_eq!(parse_delay("1.S"), Some(1000));
        assert_eq!(parse_delay("0.0004s"), Some(0));
        assert_eq!(parse_delay("1.5ms"), Some(2));
    }

    #[test]
    fn rejects_what_is_not_a_css2_time() {
        for bad in [
            "",
            "1",
            "s",
            ".s",
            "1.2.3s",
            "-1s",
            "1 s",
            "1m",
            "1h",
            "abc",
            "1e3ms",
            "99999999999999999999999s",
        ] {
            assert_eq!(parse_delay(bad), None, "{bad:?}");
        }
    }
}
