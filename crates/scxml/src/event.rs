//! Events: what the interpreter consumes (SCXML 1.0 §5.10.1, the `_event` variable).

use crate::data::Data;

/// The `type` field of `_event` (§5.10.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum EventKind {
    /// Raised by the platform itself (errors, `done.*`).
    Platform,
    /// Raised by `<raise>` or `<send target="#_internal">`.
    Internal,
    /// Everything that came through the external queue.
    #[default]
    External,
}

impl EventKind {
    /// The string `_event.type` holds.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Platform => "platform",
            EventKind::Internal => "internal",
            EventKind::External => "external",
        }
    }
}

/// One event with all the fields of `_event`.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The event name, e.g. `interaction.added`.
    pub name: String,
    /// Platform, internal or external.
    pub kind: EventKind,
    /// The `id` of the `<send>` that produced it, if any.
    pub sendid: Option<String>,
    /// A URI to which a reply can be sent (e.g. `#_scxml_<sessionid>`).
    pub origin: Option<String>,
    /// The I/O processor type of `origin`.
    pub origintype: Option<String>,
    /// The id of the invocation that produced it, if it came from a child.
    pub invokeid: Option<String>,
    /// The payload.
    pub data: Data,
    /// The message as an event I/O processor received it (for Basic HTTP,
    /// the HTTP request as text). Not a §5.10.1 field: the W3C IRP tests of
    /// App. D.2 (509, 518-520, 534) read it as `_event.raw`, as uSCXML
    /// provides it. `_event.raw` is `undefined` when absent.
    pub raw: Option<String>,
}

impl Event {
    /// An external event with a name and payload and no other fields.
    pub fn external(name: impl Into<String>, data: Data) -> Self {
        Event {
            name: name.into(),
            data,
            ..Event::default()
        }
    }

    /// A platform event such as `error.execution` or `done.invoke.<id>`.
    pub fn platform(name: impl Into<String>, data: Data) -> Self {
        Event {
            name: name.into(),
            kind: EventKind::Platform,
            data,
            ..Event::default()
        }
    }
}

/// The event I/O processor type URI of the SCXML Event I/O Processor (App. D.1).
pub const SCXML_EVENT_PROCESSOR: &str = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor";

/// The event I/O processor type URI of the Basic HTTP Event I/O Processor (App. D.2).
pub const BASIC_HTTP_EVENT_PROCESSOR: &str = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor";

/// The invoke type URI for SCXML children (§6.4.1).
pub const SCXML_INVOKE_TYPE: &str = "http://www.w3.org/TR/scxml/";
