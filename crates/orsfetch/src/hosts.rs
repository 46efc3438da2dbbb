//! Which hosts a `<session:fetch>` may reach: a list of host patterns, each
//! `*` (any host), a host name or IP address (`profiles.example.com`,
//! `10.0.0.7`, `[::1]`), or `*.` and a domain (`*.example.com`: every host
//! under the domain, not the domain itself), any of them optionally with
//! `:port` (then only that port; the scheme's default port counts when the
//! URL gives none). Names compare without case and without a trailing dot.

use std::str::FromStr;

/// An entry that is not a host pattern.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid host pattern {entry:?}: {reason}")]
pub struct HostPatternError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// One allowed host, domain or everything.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// A host name or address, lower case; IPv6 in brackets.
    Host {
        host: String,
        port: Option<u16>,
    },
    /// `*.domain`: `suffix` is `.domain`, lower case.
    Domain {
        suffix: String,
        port: Option<u16>,
    },
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let error = |reason| HostPatternError {
            entry: entry.to_owned(),
            reason,
        };
        let text = entry.trim().to_ascii_lowercase();
        if text == "*" {
            return Ok(HostPattern::Any);
        }
        if text.is_empty() {
            return Err(error("empty"));
        }
        let (host, port) = split_port(&text).map_err(error)?;
        let host = host.trim_end_matches('.');
        let (domain, host) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host),
        };
        let bracketed = host.starts_with('[') && host.ends_with(']');
        let valid = !host.is_empty()
            && (bracketed
                || host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
        if !valid {
            return Err(error("expected a host name, an IP address or *.domain"));
        }
        Ok(if domain {
            HostPattern::Domain {
                suffix: format!(".{host}"),
                port,
            }
        } else {
            HostPattern::Host {
                host: host.to_owned(),
                port,
            }
        })
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_port(text: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if text.starts_with('[') {
        match text.find(']') {
            Some(end) => match text[end + 1..].strip_prefix(':') {
                Some(port) => (&text[..=end], Some(port)),
                None if end + 1 == text.len() => (text, None),
                None => return Err("unexpected text after the IPv6 address"),
            },
            None => return Err("unclosed ["),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    match port {
        None => Ok((host, None)),
        Some(port) => port
            .parse::<u16>()
            .map(|p| (host, Some(p)))
            .map_err(|_| "the port is not a number from 0 to 65535"),
    }
}

impl HostPattern {
    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        let port_ok = |wanted: &Option<u16>| wanted.is_none() || *wanted == port;
        match self {
            HostPattern::Any => true,
            HostPattern::Host { host: h, port: p } => h == host && port_ok(p),
            HostPattern::Domain { suffix, port: p } => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str()) && port_ok(p)
            }
        }
    }
}

/// The hosts a fetch may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostList {
    patterns: Vec<HostPattern>,
}

impl HostList {
    /// Every host.
    pub fn any() -> Self {
        HostList {
            patterns: vec![HostPattern::Any],
        }
    }

    /// The hosts the entries allow (none for no entries).
    pub fn parse<S: AsRef<str>>(
        entries: impl IntoIterator<Item = S>,
    ) -> Result<Self, HostPatternError> {
        let patterns = entries
            .into_iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<_, _>>()?;
        Ok(HostList { patterns })
    }

    /// Whether every host is allowed.
    pub fn allows_any(&self) -> bool {
        self.patterns.contains(&HostPattern::Any)
    }

    /// Whether `url` names an allowed host (and port).
    pub fn allows(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        let port = url.port_or_known_default();
        self.patterns.iter().any(|p| p.matches(host, port))
    }
}

impl Default for HostList {
    fn default() -> Self {
        HostList::any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(list: &HostList, url: &str) -> bool {
        list.allows(&reqwest::Url::parse(url).unwrap())
    }

    #[test]
    fn hosts_domains_and_ports_match() {
        let list = HostList::parse([
            "Profiles.Example.com",
            "*.corp.example",
            "127.0.0.1:8080",
            "[::1]",
        ])
        .unwrap();
        assert!(allows(&list, "https://profiles.example.com/profiles"));
        assert!(allows(&list, "http://PROFILES.example.com.:81/x"));
        assert!(!allows(&list, "http://example.com/"));
        assert!(!allows(&list, "http://profiles.example.com.evil.net/"));
        assert!(allows(&list, "http://ocs.corp.example/records"));
        assert!(allows(&list, "http://a.b.corp.example/"));
        assert!(!allows(&list, "http://corp.example/"));
        assert!(!allows(&list, "http://xcorp.example/"));
        assert!(allows(&list, "http://127.0.0.1:8080/"));
        assert!(!allows(&list, "http://127.0.0.1/"));
        assert!(allows(&list, "http://[::1]:9000/"));
        let default_port = HostList::parse(["h.example:443"]).unwrap();
        assert!(allows(&default_port, "https://h.example/"));
        assert!(!allows(&default_port, "http://h.example/"));
    }

    #[test]
    fn any_and_none() {
        assert!(allows(&HostList::any(), "http://anything.example/"));
        assert!(HostList::any().allows_any());
        let none = HostList::parse(Vec::<String>::new()).unwrap();
        assert!(!allows(&none, "http://127.0.0.1/"));
        assert!(!none.allows_any());
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["", "a/b", "user@h", "h:http", "[::1", "[::1]x", "**.x"] {
            let error = HostList::parse([bad]).unwrap_err();
            assert_eq!(error.entry, bad);
        }
    }
}
