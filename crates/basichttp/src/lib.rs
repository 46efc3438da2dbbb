//! The Basic HTTP Event I/O Processor of SCXML 1.0 (App. C.2, type
//! `http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor`, short name
//! `basichttp`): sessions receive events as HTTP POSTs at their access URI
//! and send events to URLs as HTTP POSTs.
//!
//! # Brief overview
//!
//! - [`codec`]: a `<send>` to a POST ([`encode`]), a request to an event
//!   ([`decode`]); pure, the wire rules are documented there.
//! - [`receiver`]: the access URIs `/basichttp/{sessionid}` as an axum
//!   [`router`](receiver::router), answering 200 once the event is queued.
//! - [`Sender`]: the POSTs (reqwest with rustls), failing after a timeout.
//! - [`Processor`]: both on a tokio runtime of their own, for a synchronous
//!   host; [`HttpGateway`] plugs it into a [`runner::Runner`] as its
//!   [`runner::Gateway`] (`orca run` uses it).
//!
//! Not here: which sessions exist (the host says, through [`Deliver`] or the
//! runner's gateway calls), TLS on the receiving side, authentication.

#![warn(missing_docs, unreachable_pub)]

pub mod codec;
mod processor;
pub mod receiver;
mod sender;

pub use codec::{decode, encode, DecodeError, EncodeError, Post};
pub use processor::{serve, HttpGateway, Processor, StartError};
pub use receiver::{access_uri, router, Deliver, Unknown, PATH};
pub use sender::{SendError, Sender, DEFAULT_TIMEOUT};
