//! The HTTP layer: one module per resource, each exposing `router()`, merged
//! here with the enterprise services (`services`), the shared state, the
//! bearer-token check, the body limit and request tracing.

mod ops;
mod params;
mod session;
mod sessions;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use store::Store;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::document::{DocumentSource, UrlSource, DEFAULT_FETCH_TIMEOUT};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::services;

/// What every handler shares: the session runtime, the document source,
/// the metrics, the settings and, when the enterprise services run, their
/// store. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) documents: Arc<dyn DocumentSource>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: Arc<Config>,
    pub(crate) store: Option<Store>,
}

impl AppState {
    /// Starts the worker threads for `config`, with documents read from
    /// files and fetched over HTTP(S).
    pub fn new(config: Config) -> std::io::Result<AppState> {
        let documents = UrlSource::new(config.limits.max_document_bytes, DEFAULT_FETCH_TIMEOUT)
            .map_err(std::io::Error::other)?;
        let documents = Arc::new(documents);
        Self::with_documents(config, documents)
    }

    /// Like [`new`](Self::new), with another source of documents.
    pub fn with_documents(
        config: Config,
        documents: Arc<dyn DocumentSource>,
    ) -> std::io::Result<AppState> {
        let metrics = Arc::new(Metrics::new());
        let runtime = Arc::new(Runtime::new(&config, Arc::clone(&metrics))?);
        Ok(AppState {
            runtime,
            documents,
            metrics,
            config: Arc::new(config),
            store: None,
        })
    }

    /// Serves the enterprise services (Context Services under `/cs`…) on
    /// `store`, which must be migrated ([`crate::migrate_services`]).
    pub fn with_store(mut self, store: Store) -> AppState {
        self.store = Some(store);
        self
    }

    /// The session runtime (to stop it at shutdown).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

/// The whole API as a router, for [`crate::run`] and for tests.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .merge(session::router())
        .merge(sessions::router())
        .merge(ops::router());
    if let Some(store) = &state.store {
        router = services::mount(router, store);
    }
    router
        .with_state(state.clone())
        // The sessions' Basic HTTP access URIs (SCXML 1.0 App. C.2).
        .merge(basichttp::router(state.runtime.basichttp_receiver()))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let path = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or(request.uri().path(), MatchedPath::as_str);
                tracing::info_span!("http", method = %request.method(), path)
            }),
        )
}

/// Requires `Authorization: Bearer <token>` when a token is configured.
async fn authorize(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(token) = state.config.auth_token.as_deref() {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return Err(ApiError::Unauthorized);
        }
    }
    Ok(next.run(request).await)
}

/// Compares without stopping at the first difference, so that response
/// times do not reveal how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
