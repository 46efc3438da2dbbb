//! The enterprise services `orca serve` runs beside the ORS API, on one
//! relational store: each mounted under a path of its own, its migrations
//! applied at start, its operations documented in `/openapi.json` under
//! that path. The bearer token and the body limit of the server apply to
//! them like to every route (`http::app` adds its layers after mounting).
//!
//! A service is a crate providing `SCHEMA: store::Schema`,
//! `router(store::Store) -> axum::Router` (paths relative to its mount
//! point) and `openapi() -> serde_json::Value` (`{"paths", "components":
//! {"schemas"}}`, schema names prefixed to stay apart); adding one is one
//! line of [`SERVICES`].

use axum::Router;
use serde_json::{Map, Value};
use store::{Schema, Store, StoreError};

use crate::config::Config;

/// Connections in the services' pool. SQLite readers run in parallel on
/// them (one writer at a time); PostgreSQL serves them all at once.
pub const DATABASE_CONNECTIONS: u32 = 16;

/// One mounted service.
pub(crate) struct Service {
    /// Where its paths start, e.g. `/cs`.
    pub(crate) mount: &'static str,
    pub(crate) schema: Schema,
    pub(crate) router: fn(Store) -> Router,
    pub(crate) openapi: fn() -> Value,
}

/// The service crate `$krate`, mounted at `$mount`.
macro_rules! service {
    ($mount:literal, $krate:ident) => {
        Service {
            mount: $mount,
            schema: $krate::SCHEMA,
            router: $krate::router,
            openapi: $krate::openapi,
        }
    };
}

/// Every service, one line each.
pub(crate) const SERVICES: &[Service] =
    &[service!("/cs", contextservices), service!("/ocs", outbound)];

/// Opens the services' store: the configured `database_url`, or SQLite
/// `services.db` in the data directory (which must exist), then applies
/// every service's migrations.
pub async fn open_store(config: &Config) -> Result<Store, StoreError> {
    let store = match &config.database_url {
        Some(url) => Store::open(url, DATABASE_CONNECTIONS).await?,
        None => Store::open_in(&config.data_dir, DATABASE_CONNECTIONS).await?,
    };
    migrate(&store).await?;
    Ok(store)
}

/// Applies every service's migrations to `store` (what [`open_store`]
/// does; for tests that bring their own store).
pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    for service in SERVICES {
        store.migrate(&service.schema).await?;
    }
    Ok(())
}

/// `router` with every service mounted on `store`.
pub(crate) fn mount<S: Clone + Send + Sync + 'static>(
    mut router: Router<S>,
    store: &Store,
) -> Router<S> {
    for service in SERVICES {
        router = router.nest_service(service.mount, (service.router)(store.clone()));
    }
    router
}

/// `document` (the server's OpenAPI document) with every service's paths
/// under its mount point and its schemas added.
pub(crate) fn document_with_services(mut document: Value) -> Value {
    for service in SERVICES {
        let fragment = (service.openapi)();
        if let (Some(Value::Object(paths)), Some(Value::Object(own))) =
            (document.get_mut("paths"), fragment.get("paths"))
        {
            for (path, item) in own {
                paths.insert(format!("{}{path}", service.mount), item.clone());
            }
        }
        let schemas = document
            .get_mut("components")
            .and_then(|c| c.as_object_mut())
            .map(|c| {
                c.entry("schemas")
                    .or_insert_with(|| Value::Object(Map::new()))
            });
        if let (Some(Value::Object(schemas)), Some(Value::Object(own))) =
            (schemas, fragment.pointer("/components/schemas"))
        {
            for (name, schema) in own {
                schemas.insert(name.clone(), schema.clone());
            }
        }
    }
    document
}
