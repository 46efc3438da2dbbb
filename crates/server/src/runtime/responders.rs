//! The HTTP requests waiting for a session's answer:
//! `POST /scxml/session/{id}/request/{name}` delivers an event whose
//! `sendid` is a fresh request id, and waits here until the session's
//! `<ws:response requestid="_event.sendid">` (ors-dialect.md §2.1, §4)
//! comes through the worker's gateway, the session ends, or the time limit
//! passes.
//!
//! Shared by the HTTP handlers and the worker threads; every critical
//! section is a map operation.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::oneshot;

/// A session's `<ws:response>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The request answered.
    pub requestid: String,
    /// `positive` or `negative` (the element's `type`).
    pub kind: String,
    /// The element's `resultcode`, if any.
    pub resultcode: Option<String>,
    /// The `<param>`s, as a JSON object.
    pub params: Value,
}

/// Why a request got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unanswered {
    /// The session ended first.
    SessionEnded,
    /// The server is stopping.
    ShuttingDown,
}

type Outcome = Result<Answer, Unanswered>;

struct Waiting {
    /// The session the request went to (an answer may come from it or from
    /// a session it invoked and told the request id).
    session: String,
    reply: oneshot::Sender<Outcome>,
}

/// The requests waiting for answers, by request id.
#[derive(Default)]
pub(crate) struct Responders {
    waiting: Mutex<HashMap<String, Waiting>>,
}

impl Responders {
    /// Registers request `requestid` to session `session`; its outcome comes
    /// on the receiver.
    pub(crate) fn register(&self, requestid: &str, session: &str) -> oneshot::Receiver<Outcome> {
        let (reply, outcome) = oneshot::channel();
        let waiting = Waiting {
            session: session.to_owned(),
            reply,
        };
        self.lock().insert(requestid.to_owned(), waiting);
        outcome
    }

    /// Gives up waiting for `requestid` (its time ran out, or the event
    /// could not be delivered).
    pub(crate) fn forget(&self, requestid: &str) {
        self.lock().remove(requestid);
    }

    /// Answers `requestid`; `false` if nothing waits for it (never a
    /// request, answered already, timed out, or from before a restart).
    pub(crate) fn answer(&self, requestid: &str, answer: Answer) -> bool {
        let Some(waiting) = self.lock().remove(requestid) else {
            return false;
        };
        // The handler may have given up in between: then nobody listens.
        waiting.reply.send(Ok(answer)).is_ok()
    }

    /// Session `session` ended: its requests get no answer.
    pub(crate) fn session_ended(&self, session: &str) {
        let mut waiting = self.lock();
        if waiting.is_empty() {
            return;
        }
        let ended: Vec<String> = waiting
            .iter()
            .filter(|(_, w)| w.session == session)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            if let Some(w) = waiting.remove(&id) {
                let _ = w.reply.send(Err(Unanswered::SessionEnded));
            }
        }
    }

    /// The server stopped: nothing will be answered.
    pub(crate) fn shut_down(&self) {
        for (_, w) in self.lock().drain() {
            let _ = w.reply.send(Err(Unanswered::ShuttingDown));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        // A poisoned map is still consistent: every operation is one call.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: &str) -> Answer {
        Answer {
            requestid: "r".to_owned(),
            kind: "positive".to_owned(),
            resultcode: Some(code.to_owned()),
            params: Value::Null,
        }
    }

    #[test]
    fn answers_reach_their_request_once() {
        let responders = Responders::default();
        let mut first = responders.register("r1", "s1");
        let mut second = responders.register("r2", "s1");
        let mut other = responders.register("r3", "s2");
        assert!(responders.answer("r1", answer("ok")));
        assert!(!responders.answer("r1", answer("again")));
        assert_eq!(first.try_recv().unwrap(), Ok(answer("ok")));
        responders.session_ended("s1");
        assert_eq!(second.try_recv().unwrap(), Err(Unanswered::SessionEnded));
        assert!(other.try_recv().is_err());
        responders.forget("r3");
        assert!(!responders.answer("r3", answer("late")));
        let mut last = responders.register("r4", "s3");
        responders.shut_down();
        assert_eq!(last.try_recv().unwrap(), Err(Unanswered::ShuttingDown));
    }
}
