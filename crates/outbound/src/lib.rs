//! Outbound records for Orca: campaigns, calling lists and their records,
//! a do-not-call list, and the Outbound Contact Server (OCS) HTTP interface
//! that strategies reach with `<session:fetch>` (seed 003; ors-dialect.md
//! §7) — served by Orca itself, on the services' store (SQLite by default,
//! PostgreSQL by URL).
//!
//! # Brief overview
//!
//! - [`SCHEMA`]: the tables, as migrations; apply it with
//!   [`store::Store::migrate`] before serving.
//! - [`router`]: the HTTP API over a [`store::Store`], paths relative to
//!   where the server mounts it (`/ocs`): the OCS interface
//!   `POST /records/{id}?req=AddRecord|RecordReschedule|UpdateCallCompletionStats|RecordReject|RequestRecordCancel|RecordProcessed|DoNotCall`
//!   (also `/phones/{phone}` and `/customer_ids/{id}` for DoNotCall), and
//!   REST resources to create and read campaigns and calling lists and to
//!   read records.
//! - [`openapi`]: the OpenAPI paths and schemas of that router, for the
//!   server to merge into its document.
//!
//! What this crate does not do: dial. Orca has no dialer; records wait in
//! their lists for strategies and clients to act on them, and the
//! do-not-call list is enforced when a record is added (docs/design/outbound.md).

#![warn(missing_docs, unreachable_pub)]

mod codes;
mod error;
mod http;
mod ocs;
mod record;
mod schema;
mod storage;

pub use error::Error;
pub use http::router;
pub use ocs::Req;
pub use schema::SCHEMA;

/// The OpenAPI 3.1 paths and component schemas of [`router`], written by
/// hand next to this crate's sources: `{"paths": {...}, "components":
/// {"schemas": {...}}}`, paths relative to the mount point, schema names
/// prefixed `Ocs`.
pub fn openapi() -> serde_json::Value {
    // The text is part of the build and a test parses it, so it always
    // parses; an empty document would still be a valid one to merge.
    serde_json::from_str(include_str!("../openapi.json"))
        .unwrap_or_else(|_| serde_json::json!({"paths": {}, "components": {"schemas": {}}}))
}
