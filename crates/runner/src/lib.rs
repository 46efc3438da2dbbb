//! Runs SCXML sessions on one thread: the host that `orca run` and the W3C
//! conformance test use around the sans-IO [`scxml::Interpreter`].
//!
//! # Brief overview
//!
//! - [`Runner`] owns a tree of sessions — top-level sessions and the children
//!   they invoke — each with its FIFO external queue. It delivers events one
//!   macrostep at a time, carries out every [`scxml::Action`] (SCXML Event
//!   I/O Processor routing, `<invoke>` of SCXML documents, cancellation,
//!   `autoforward`, `done.invoke`, `<log>`), and keeps one timer table for all
//!   sessions.
//! - The clock is virtual by default ([`ClockMode::Virtual`]): it jumps to
//!   the next timer when nothing else can happen, so a 5 s `<send delay>`
//!   costs nothing and runs are deterministic; [`ClockMode::Real`] sleeps.
//! - [`EcmaFactory`] makes sessions with the ECMAScript data model, each in
//!   its own JS context, contexts sharing QuickJS runtimes in groups.
//! - A host may set a [`Gateway`] for the sends the runner cannot deliver
//!   itself (other event I/O processors such as Basic HTTP, sessions of
//!   other runners) and feed events and send results back from any thread
//!   through an [`Inbox`]; a session whose send is pending is held until its
//!   result comes back (see [`gateway`](crate::Gateway)).
//! - [`input`] reads event files (JSON Lines), streamed, and
//!   [`Runner::feed`] delivers them to a session on the virtual clock: the
//!   run loop of `orca run`.
//!
//! # Host decisions
//!
//! - Session ids (`_sessionid`) are a counter (`1`, `2`, ...) per runner:
//!   unique and the same on every run.
//! - Errors the host detects (unreachable target: `error.communication`;
//!   unsupported target, invoke type or invoked document, custom action
//!   without handler: `error.execution`) go to the session's *external*
//!   queue, because the interpreter accepts host input only there. SCXML
//!   wants them on the internal queue; only the core can do that (W3C test
//!   496), so the core should catch what it can decide alone.
//! - Custom actions (foreign namespaces) have no handler by default: the
//!   session gets `error.execution` naming the element. A host may register
//!   handlers ([`Runner::set_custom_handlers`]; [`EcmaRunner::enable_ors`]
//!   for the ORS dialect). Of the ORS requests the runner carries out
//!   `<session:start>` (a top-level session under the id the request chose;
//!   `src` resolves against the requester's document through the loader)
//!   and `<session:terminate>`; `<session:fetch>` and `<ws:response>` go to
//!   [`Gateway::extension`], a pending one holding its session like a
//!   pending send. Without a gateway a fetch fails with
//!   `error.session.fetch` (`http.0`).
//! - A cancelled child (§6.4) still logs (its `<onexit>` runs) but its sends
//!   are dropped, and its events still queued in the parent are discarded.
//! - A child that stops without reaching a final state (a broken limit)
//!   gives its parent `error.execution`.
//!
//! What this crate does not do: HTTP (the `basichttp` crate plugs the Basic
//! HTTP Event I/O Processor in as a gateway), persistence, threads.

#![warn(missing_docs, unreachable_pub)]

mod clock;
mod ecmascript;
mod feed;
mod gateway;
pub mod input;
mod machine;
pub mod memory;
mod route;
mod runner;
#[cfg(test)]
mod testing;
pub mod trace;

use std::path::Path;

use scxml::document::Loader;
use scxml::{Document, DocumentError};

pub use clock::{wall_clock_now, ClockMode};
pub use ecmascript::{EcmaFactory, EcmaSession, RUNTIME_GROUP_SIZE};
pub use feed::{Feed, FeedEnd};
pub use gateway::{
    Delivery, ExtensionHandoff, Gateway, Handoff, Inbound, Inbox, Refusal, SessionStart, Ticket,
};
pub use machine::{ChildOrigin, ChildSource, Machine, SessionFactory};
pub use runner::{
    HostedSnapshot, LogEntry, LogSink, ReservedId, RunEnd, RunError, Runner, RunnerOptions,
    SessionKey, SnapshotError,
};

/// A runner of ECMAScript sessions that loads invoked documents from files.
pub type EcmaRunner = Runner<EcmaFactory>;

impl EcmaRunner {
    /// A runner with the ECMAScript data model and [`scxml::document::FileLoader`].
    pub fn new(
        options: RunnerOptions,
        ecmascript: scxml::datamodel::ecmascript::EcmaScriptOptions,
        sink: impl LogSink + 'static,
    ) -> Self {
        Runner::with_factory(
            EcmaFactory::new(ecmascript),
            Box::new(scxml::document::FileLoader),
            options,
            sink,
        )
    }
}

impl<F: SessionFactory> Runner<F> {
    /// Gives every session created from now on the handlers of the ORS
    /// dialect (`session:` and `ws:` actions). `<session:start>` and
    /// `<session:terminate>` are carried out by the runner; `<session:fetch>`
    /// and `<ws:response>` go to the [`Gateway`]'s `extension`.
    pub fn enable_ors_actions(&mut self) {
        self.set_custom_handlers(ors::handlers());
    }
}

impl EcmaRunner {
    /// The ORS dialect for every session created from now on: its action
    /// handlers ([`Runner::enable_ors_actions`]) and its script built-ins
    /// (`ors::prelude`, installed only in sessions whose code uses them).
    pub fn enable_ors(&mut self, config: ors::OrsConfig) {
        self.enable_ors_actions();
        self.factory_mut().set_prelude(move |document| {
            Some(ors::prelude(document, &document.source_name, &config))
        });
    }
}

/// A chart that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum LoadDocumentError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The document is not valid SCXML (`file:line:column: message`).
    #[error(transparent)]
    Invalid(#[from] DocumentError),
}

/// Reads and parses the chart at `path`. The path is the document's source
/// name, so its relative `src` resolve against its folder whatever the
/// working directory.
pub fn load_document(path: &Path, loader: &dyn Loader) -> Result<Document, LoadDocumentError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadDocumentError::Io {
        path: name.clone(),
        source,
    })?;
    Ok(scxml::document::parse(&text, &name, loader)?)
}
