//! ORS requests that were under way when the server stopped, found while a
//! session is replayed from its journal: a `<session:fetch>`,
//! `<session:start>` or `<session:terminate>` the session made whose
//! completion event is not in its journal. Replay drops actions, so nothing
//! would ever complete them; after recovery the session gets one event per
//! such request instead (journaled like any input), decided here:
//!
//! - fetch: `error.session.fetch` with `error` = `request.interrupted`. The
//!   request is not made again: it may have reached its server, and a POST
//!   is not safe to repeat; the application decides.
//! - start: `session.start.done` if the journal holds the started session
//!   (it is recovered too), else `error.session.start` (`request.interrupted`).
//! - terminate: `session.terminate.done` if the journal shows the target
//!   ended, else `error.session.terminate` (`request.interrupted`).
//!
//! A `/request/{name}` that was waiting for the session's `<ws:response>`
//! needs nothing here: its HTTP client lost the connection with the server,
//! the request event is in the journal like any event, and an answer the
//! session gives after recovery finds nothing waiting and is dropped.

use journal::Journal;
use scxml::{Action, Data, Event};

/// One request without its completion.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Pending {
    Fetch { requestid: String },
    Start { requestid: String, session: String },
    Terminate { requestid: String, session: String },
}

impl Pending {
    fn requestid(&self) -> &str {
        match self {
            Pending::Fetch { requestid }
            | Pending::Start { requestid, .. }
            | Pending::Terminate { requestid, .. } => requestid,
        }
    }
}

/// The completion events of ORS requests.
const COMPLETIONS: [&str; 6] = [
    "session.fetch.done",
    "error.session.fetch",
    "session.start.done",
    "error.session.start",
    "session.terminate.done",
    "error.session.terminate",
];

/// The requests of one replayed session still waiting for completion (also
/// kept live for a journaled session, so that a snapshot carries them).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct InFlight {
    pending: Vec<Pending>,
}

impl InFlight {
    /// A replayed action: an ORS request starts waiting.
    pub(crate) fn note_action(&mut self, action: &Action) {
        let Action::Extension(request) = action else {
            return;
        };
        let pending = match request.request.downcast_ref::<ors::Request>() {
            Some(ors::Request::Fetch { requestid, .. }) => Pending::Fetch {
                requestid: requestid.clone(),
            },
            Some(ors::Request::Start {
                requestid,
                session_id,
                ..
            }) => Pending::Start {
                requestid: requestid.clone(),
                session: session_id.clone(),
            },
            Some(ors::Request::Terminate {
                requestid,
                session_id,
            }) => Pending::Terminate {
                requestid: requestid.clone(),
                session: session_id.clone(),
            },
            _ => return,
        };
        self.pending.push(pending);
    }

    /// A replayed event: a completion ends its request's wait.
    pub(crate) fn note_event(&mut self, event: &Event) {
        if !COMPLETIONS.contains(&event.name.as_str()) {
            return;
        }
        let Data::Object(fields) = &event.data else {
            return;
        };
        let requestid = fields.iter().find_map(|(k, v)| match (k.as_str(), v) {
            ("requestid", Data::String(id)) => Some(id.as_str()),
            _ => None,
        });
        if let Some(requestid) = requestid {
            self.pending.retain(|p| p.requestid() != requestid);
        }
    }

    /// Whether no request is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The events that end the waits, in the order the requests were made;
    /// `journal` tells what became of starts and terminations.
    pub(crate) fn into_events(self, journal: Option<&Journal>) -> Vec<Event> {
        let known = |session: &str| journal.and_then(|j| j.session(session).ok().flatten());
        const LOST: &str = "the server stopped while this request was under way";
        self.pending
            .into_iter()
            .map(|pending| match pending {
                Pending::Fetch { requestid } => {
                    let description = format!("{LOST}; it was not sent again");
                    ors::events::fetch_failed(&requestid, ors::events::INTERRUPTED, &description)
                }
                Pending::Start { requestid, session } => match known(&session) {
                    Some(_) => ors::events::start_done(&requestid, &session),
                    None => ors::events::start_failed(
                        &requestid,
                        &session,
                        ors::events::INTERRUPTED,
                        &format!("{LOST}; the session was not started"),
                    ),
                },
                Pending::Terminate { requestid, session } => {
                    match known(&session).and_then(|s| s.ended_at) {
                        Some(_) => ors::events::terminate_done(&requestid, &session),
                        None => ors::events::terminate_failed(
                            &requestid,
                            &session,
                            ors::events::INTERRUPTED,
                            LOST,
                        ),
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use scxml::ExtensionRequest;

    use super::*;

    fn request(request: ors::Request) -> Action {
        Action::Extension(ExtensionRequest {
            request: Box::new(request),
        })
    }

    fn fetch(requestid: &str) -> Action {
        request(ors::Request::Fetch {
            requestid: requestid.to_owned(),
            url: "http://127.0.0.1:9/x".to_owned(),
            method: "POST".to_owned(),
            enctype: "application/json".to_owned(),
            accept: None,
            headers: Vec::new(),
            timeout_ms: None,
            params: Vec::new(),
            content: None,
        })
    }

    #[test]
    fn completed_requests_are_forgotten_and_the_rest_fail() {
        let mut inflight = InFlight::default();
        inflight.note_action(&fetch("s-1"));
        inflight.note_action(&fetch("s-2"));
        inflight.note_action(&request(ors::Request::Start {
            requestid: "s-3".to_owned(),
            session_id: "s-3-s".to_owned(),
            src: "child.scxml".to_owned(),
            params: Vec::new(),
        }));
        inflight.note_event(&ors::events::fetch_done(
            "s-1",
            200,
            String::new(),
            Vec::new(),
        ));
        // Another event with a request id is no completion.
        let other = Event::external(
            "reply",
            Data::Object(vec![("requestid".to_owned(), Data::from("s-2"))]),
        );
        inflight.note_event(&other);
        assert!(!inflight.is_empty());
        let events = inflight.into_events(None);
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["error.session.fetch", "error.session.start"]);
        let data = events[0].data.to_json();
        assert_eq!(data["requestid"], "s-2");
        assert_eq!(data["error"], ors::events::INTERRUPTED);
    }
}
