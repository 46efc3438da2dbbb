//! Addressing for the SCXML Event I/O Processor (SCXML 1.0 App. C.1, D.1)
//! and the invoke types this host supports (§6.4.1).
//!
//! Pure functions on strings, kept apart from the runner so that the target
//! forms can be tested without sessions.

use scxml::{SCXML_EVENT_PROCESSOR, SCXML_INVOKE_TYPE};

/// Where a `<send>` through the SCXML Event I/O Processor goes (App. C.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// No target: the sender's own external queue (§6.2.4).
    Own,
    /// `#_internal`. The core handles it itself; the runner treats one that
    /// reaches it as the sender's own queue.
    Internal,
    /// `#_parent`: the session that invoked the sender.
    Parent,
    /// `#_scxml_<sessionid>`.
    Session(&'a str),
    /// `#_<invokeid>`: a child the sender invoked.
    Invocation(&'a str),
    /// Any other URI: not a form this processor knows (§6.2.4 asks for
    /// `error.execution`).
    Unsupported(&'a str),
}

/// Classifies a `<send>` target of the SCXML Event I/O Processor.
pub(crate) fn parse_target(target: Option<&str>) -> Target<'_> {
    let Some(target) = target else {
        return Target::Own;
    };
    match target.strip_prefix("#_") {
        Some("internal") => Target::Internal,
        Some("parent") => Target::Parent,
        Some(rest) => match rest.strip_prefix("scxml_") {
            Some(session) if !session.is_empty() => Target::Session(session),
            _ if !rest.is_empty() => Target::Invocation(rest),
            _ => Target::Unsupported(target),
        },
        None => Target::Unsupported(target),
    }
}

/// Whether an event I/O processor type names the SCXML Event I/O Processor:
/// its URI, or the short form `scxml` that `_ioprocessors` also lists
/// (App. C.1; test 253 accepts either).
pub(crate) fn is_scxml_processor(kind: &str) -> bool {
    kind == SCXML_EVENT_PROCESSOR || kind == "scxml"
}

/// Whether an invoke type names SCXML (§6.4.1): the URI with or without its
/// trailing slash, or the short form `scxml` (test 220).
pub(crate) fn is_scxml_invoke_type(kind: &str) -> bool {
    let trimmed = SCXML_INVOKE_TYPE.trim_end_matches('/');
    kind == "scxml" || kind.trim_end_matches('/') == trimmed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_forms_of_app_c1() {
        assert_eq!(parse_target(None), Target::Own);
        assert_eq!(parse_target(Some("#_internal")), Target::Internal);
        assert_eq!(parse_target(Some("#_parent")), Target::Parent);
        assert_eq!(parse_target(Some("#_scxml_17")), Target::Session("17"));
        assert_eq!(parse_target(Some("#_scxml_foo")), Target::Session("foo"));
        assert_eq!(
            parse_target(Some("#_s0.inv1")),
            Target::Invocation("s0.inv1")
        );
        assert_eq!(parse_target(Some("#_foo")), Target::Invocation("foo"));
    }

    #[test]
    fn other_uris_are_unsupported() {
        assert_eq!(parse_target(Some("baz")), Target::Unsupported("baz"));
        assert_eq!(
            parse_target(Some("http://example.com/")),
            Target::Unsupported("http://example.com/")
        );
        assert_eq!(parse_target(Some("#_")), Target::Unsupported("#_"));
        assert_eq!(parse_target(Some("#foo")), Target::Unsupported("#foo"));
        // `#_scxml_` without a session id is an invoke id `scxml_`.
        assert_eq!(parse_target(Some("#_scxml_")), Target::Invocation("scxml_"));
    }

    #[test]
    fn processor_and_invoke_types() {
        assert!(is_scxml_processor(SCXML_EVENT_PROCESSOR));
        assert!(is_scxml_processor("scxml"));
        assert!(!is_scxml_processor(scxml::BASIC_HTTP_EVENT_PROCESSOR));
        assert!(is_scxml_invoke_type("http://www.w3.org/TR/scxml/"));
        assert!(is_scxml_invoke_type("http://www.w3.org/TR/scxml"));
        assert!(is_scxml_invoke_type("scxml"));
        assert!(!is_scxml_invoke_type("foo"));
        assert!(!is_scxml_invoke_type("http://www.w3.org/TR/ccxml/"));
    }
}
