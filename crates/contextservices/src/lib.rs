//! Context Services for Orca: the REST API of Genesys Context Services
//! (ors-dialect.md §6; seed 001 for the state transition, seed 003 for the
//! identification a strategy makes) on Orca's relational store.
//!
//! - Customer profiles with attributes and extensions, identification by
//!   attributes or extension attributes through identification keys
//!   (unique ones enforced), profile merge.
//! - Extension schemas for profiles, services, states and tasks: an
//!   extension is accepted only once its schema exists (403 before).
//! - Services (for a customer, or anonymous with a contact key, later
//!   associated), their states (start, complete, transition) and tasks.
//! - Tenancy through the `ContactCenterId` header; every error is a JSON
//!   body with a message.
//!
//! The crate exposes what `orca serve` needs to mount it: [`SCHEMA`] (the
//! migrations), [`router`] (paths relative to the mount point, `/cs` under
//! `orca serve`) and [`openapi`] (the fragment of the OpenAPI document).
//! [`import_profiles`] loads profiles in bulk. Design choices where the
//! public documentation is silent: `docs/design/context-services.md`.

#![warn(missing_docs, unreachable_pub)]

mod db;
mod error;
mod http;
mod identity;
mod keys;
mod migrations;
mod openapi;
mod profiles;
mod schema;
mod services;
mod time;

use std::sync::Arc;

use serde_json::{Map, Value};

pub use error::CsError;
pub use migrations::SCHEMA;
pub use schema::Kind;

/// The Context Services API on `store` (migrated with [`SCHEMA`]), its
/// paths relative to where the caller mounts it, its state applied.
pub fn router(store: store::Store) -> axum::Router {
    http::router(Arc::new(db::Db::new(store)))
}

/// The OpenAPI 3.1 fragment of the API: `{"paths": {…}, "components":
/// {"schemas": {…}}}`, paths relative to the mount point, schema names
/// prefixed `Cs`.
pub fn openapi() -> Value {
    openapi::fragment()
}

/// Loads profiles in bulk into `tenant`: each body as `POST /profiles`
/// takes it (a `customer_id` is required), checked the same way, indexed
/// under every identification key, all in one transaction with multi-row
/// inserts. For migrations from another system and for benchmarks; the
/// number loaded.
pub async fn import_profiles(
    store: &store::Store,
    tenant: &str,
    profiles: Vec<Map<String, Value>>,
) -> Result<usize, CsError> {
    profiles::import(&db::Db::new(store.clone()), tenant, profiles).await
}
