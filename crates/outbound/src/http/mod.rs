//! The HTTP face of the service: the OCS interface
//! (`POST /{resource}/{id}?req=…`, module [`ocs`]) and the REST resources
//! that set up and read campaigns, calling lists and records (module
//! [`resources`]), merged here with one state. Paths are relative to where
//! the server mounts the router (`/ocs`).
//!
//! Every error is a 4xx (or, for a storage failure, 5xx) with the JSON
//! body `{"error": "<code>", "message": "<what went wrong>"}`, including
//! malformed paths, queries and bodies, unknown paths and wrong methods.

mod error;
mod input;
mod ocs;
mod resources;

use axum::http::{Method, Uri};
use axum::routing::get;
use axum::Router;
use store::Store;

use crate::error::Error;
use crate::storage::Outbound;

/// The router of the Outbound service over `store` (migrated with
/// [`crate::SCHEMA`] beforehand), its state applied.
pub fn router(store: Store) -> Router {
    Router::new()
        .route(
            "/campaigns",
            get(resources::list_campaigns).post(resources::create_campaign),
        )
        .route("/campaigns/{id}", get(resources::get_campaign))
        .route(
            "/callinglists",
            get(resources::list_calling_lists).post(resources::create_calling_list),
        )
        .route("/callinglists/{id}", get(resources::get_calling_list))
        .route("/callinglists/{id}/records", get(resources::list_records))
        .route(
            "/records/{id}",
            get(resources::get_record).post(ocs::record_request),
        )
        .route(
            "/phones/{phone}",
            get(resources::get_phone).post(ocs::phone_request),
        )
        .route(
            "/customer_ids/{id}",
            get(resources::get_customer).post(ocs::customer_request),
        )
        .fallback(no_such_path)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Outbound::new(store))
}

async fn no_such_path(uri: Uri) -> Error {
    Error::NoSuchPath(uri.path().to_owned())
}

async fn method_not_allowed(method: Method) -> Error {
    Error::MethodNotAllowed(method.to_string())
}
