//! ORS `<session:start>` in the server: the runner has loaded the document
//! (relative to the requester's) and the gateway queued it
//! ([`super::super::actions`]); once the runner is idle the worker starts it
//! as a top-level session of its own under the id the action chose (the
//! requester's id and a counter, so on the requester's worker), journaled on
//! its own like a session started over HTTP, its `<param>`s setting its
//! top-level `<data>`. It is independent of the requester (seed 000: ending
//! one does not end the other). The requester then gets
//! `session.start.done` or `error.session.start`.

use std::sync::atomic::Ordering;

use runner::{Inbound, SessionStart};
use scxml::Event;

use super::{Entry, Status, Worker};

impl Worker {
    /// Carries out the queued starts, and those the new sessions make in
    /// turn, until none is left.
    pub(super) fn start_requested(&mut self) {
        loop {
            let next = self.starts.borrow_mut().pop_front();
            let Some((ticket, start)) = next else {
                return;
            };
            let event = self.start_named(start);
            self.runner.inbox().send(Inbound::Completed {
                ticket,
                event: Some(event),
            });
            if let Err(e) = self.runner.run_until_idle() {
                tracing::error!("run: {e}");
            }
        }
    }

    /// Starts one session; the requester's completion event.
    fn start_named(&mut self, start: SessionStart) -> Event {
        let SessionStart {
            requestid,
            session_id,
            document,
            params,
        } = start;
        let limit = self.setup.services.max_sessions;
        if self.setup.sessions.fetch_add(1, Ordering::SeqCst) >= limit {
            self.setup.sessions.fetch_sub(1, Ordering::SeqCst);
            let message = format!("the server holds its maximum of {limit} sessions");
            return ors::events::start_error(&requestid, &session_id, &message);
        }
        let now = self.runner.now();
        let src = document.source_name.clone();
        self.prepare_start(&document, src.clone(), now);
        let key = match self
            .runner
            .spawn_named(session_id.clone(), document, params)
        {
            Ok(key) => key,
            Err(e) => {
                // The start information is for this session only.
                self.shared.borrow_mut().next_start = None;
                self.setup.sessions.fetch_sub(1, Ordering::SeqCst);
                return ors::events::start_error(&requestid, &session_id, &e.to_string());
            }
        };
        self.sessions.insert(
            session_id.clone(),
            Entry {
                key: Some(key),
                src,
                status: Status::Running,
                created: now,
                started: Some(now),
                ended: None,
                outcome: None,
                final_states: Vec::new(),
            },
        );
        self.by_key.insert(key, session_id.clone());
        self.setup.metrics.sessions_active.inc();
        self.setup.metrics.sessions_started.inc();
        tracing::info!(session = %session_id, requestid = %requestid, "session started by <session:start>");
        ors::events::start_done(&requestid, &session_id)
    }
}
