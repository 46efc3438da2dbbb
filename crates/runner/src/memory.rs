//! Memory figures of this process from `/proc/self/status` (Linux), for the
//! benchmark reports: `VmRSS` (resident now) and `VmHWM` (peak resident).

/// Current resident set size in KiB, if the platform reports it.
pub fn vm_rss_kib() -> Option<u64> {
    status_field("VmRSS:")
}

/// Peak resident set size in KiB, if the platform reports it.
pub fn vm_hwm_kib() -> Option<u64> {
    status_field("VmHWM:")
}

fn status_field(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_field(&status, field)
}

/// The number of a `Field:   123 kB` line.
fn parse_field(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields() {
        let status = "Name:\torca\nVmHWM:\t   10240 kB\nVmRSS:\t    8192 kB\n";
        assert_eq!(parse_field(status, "VmRSS:"), Some(8192));
        assert_eq!(parse_field(status, "VmHWM:"), Some(10240));
        assert_eq!(parse_field(status, "VmSwap:"), None);
    }
}
