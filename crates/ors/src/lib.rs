//! The Genesys ORS core dialect for Orca: the `session:` and `ws:` action
//! handlers and the script built-ins (`_genesys.session`, `_data`,
//! `uneval`, `toSource`, `__GetDocumentURL`, `__Log`, `__Raise`,
//! `__GetCurrentStates`).
//!
//! The crate does no I/O. [`OrsHandler`] runs inside the interpreter's
//! macrostep (a [`scxml::CustomHandler`]): it evaluates the element's value
//! expressions and children in the session, stores a generated request id in
//! the `requestid` location, and hands the work to the host as a typed
//! [`Request`] ([`scxml::Action::Extension`]). The host carries it out and
//! reports completion with the events built by [`events`]. [`prelude`] builds
//! the per-document script that defines the built-ins; the ECMAScript data
//! model installs it lazily, only in sessions whose code names one of them.
//!
//! Actions of the other Genesys modules (`ixn:`, `queue:`, `dialog:`, ...)
//! raise `error.unsupported.element` until their platform exists.

pub mod events;
mod handler;
mod prelude;

pub use handler::{OrsHandler, Request, GENESYS_MODULES, SESSION_NS, WS_NS};
pub use prelude::{prelude, OrsConfig, TRIGGERS};

use std::rc::Rc;

/// The handlers of the dialect, for [`scxml::SessionOptions::custom`].
pub fn handlers() -> scxml::CustomHandlers {
    scxml::CustomHandlers(vec![Rc::new(OrsHandler)])
}
