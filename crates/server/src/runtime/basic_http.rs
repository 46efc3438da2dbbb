//! The receiving half of the Basic HTTP Event I/O Processor (SCXML 1.0
//! App. C.2) on the server's own listener: every session's `_ioprocessors`
//! advertise `<base URL>/basichttp/<sessionid>` (the configured public URL,
//! else the address the server listens on), and a POST there becomes an
//! event in the session's worker (its runner inbox, then a wake-up),
//! answered 200 once queued, 404 for a session that is not open. The event
//! is journaled when the session takes it, like every input.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use runner::Inbound;
use scxml::{Event, BASIC_HTTP_EVENT_PROCESSOR};

use super::actions::Services;

/// The access URIs of the server's sessions.
pub(crate) struct Locations {
    base: String,
    /// Sessions (top-level and invoked) that take events: opened when
    /// created, closed when they end.
    open: Mutex<HashSet<String>>,
}

impl Locations {
    pub(crate) fn new(base: String) -> Self {
        Locations {
            base,
            open: Mutex::default(),
        }
    }

    /// The access URI of `session`.
    pub(crate) fn location(&self, session: &str) -> String {
        basichttp::access_uri(&self.base, session)
    }

    /// `session` takes events from now on; its `_ioprocessors` entries.
    pub(crate) fn open(&self, session: &str) -> Vec<(String, String)> {
        self.lock().insert(session.to_owned());
        let location = self.location(session);
        vec![
            ("basichttp".to_owned(), location.clone()),
            (BASIC_HTTP_EVENT_PROCESSOR.to_owned(), location),
        ]
    }

    pub(crate) fn close(&self, session: &str) {
        self.lock().remove(session);
    }

    fn is_open(&self, session: &str) -> bool {
        self.lock().contains(session)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Delivers received POSTs to the sessions' workers.
pub(crate) struct Receiver {
    pub(crate) services: Arc<Services>,
}

impl basichttp::Deliver for Receiver {
    fn deliver(&self, session: &str, event: Event) -> Result<(), basichttp::Unknown> {
        if !self.services.basichttp.is_open(session) {
            return Err(basichttp::Unknown);
        }
        let index = self
            .services
            .peers
            .worker_of(session)
            .ok_or(basichttp::Unknown)?;
        let message = Inbound::Event {
            session: session.to_owned(),
            event,
        };
        // Queued before the 200 goes out, so before a sender of this server
        // learns its POST succeeded (the order W3C test 201 needs).
        match self.services.notifier(index).notify(message) {
            true => Ok(()),
            false => Err(basichttp::Unknown),
        }
    }
}
