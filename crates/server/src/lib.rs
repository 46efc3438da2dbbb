//! The Orca orchestration server: the ORS HTTP API over a runtime of SCXML
//! sessions on worker threads, with the operations endpoints around it.
//!
//! # Brief overview
//!
//! - [`run`] serves the API on a listener until a shutdown future
//!   completes, then drains: no new sessions, requests in flight answered,
//!   workers stopped after the macrostep they are in, all within
//!   [`Config::shutdown_timeout_ms`]. The `orca serve` binary binds the
//!   socket and passes a ctrl-c/SIGTERM future; tests pass `127.0.0.1:0`.
//! - [`app`] builds the router from an [`AppState`] (for tests without a
//!   socket). Routes: the ORS session API under `/scxml/session/`
//!   (ors-dialect.md §4), the sessions' Basic HTTP access URIs
//!   `/basichttp/{id}`, `GET /sessions[/{id}]`, `/health`, `/ready`,
//!   `/metrics` (Prometheus) and `/openapi.json`, which documents every body.
//! - The runtime runs one worker thread per core, each owning a
//!   [`runner::Runner`] and the sessions pinned to it; handlers reach workers
//!   through bounded channels, and each session has a bounded mailbox. A full
//!   one is a 503 with `Retry-After`, never a dropped event.
//! - The enterprise services run beside the ORS API on one relational store
//!   (SQLite `services.db` in the data directory, or PostgreSQL by
//!   `database_url`): Context Services under `/cs` (crate
//!   `contextservices`). [`run`] opens and migrates the store
//!   ([`open_store`]); tests give [`AppState::with_store`] one of their own.
//! - [`Config`]: defaults, a TOML file, `ORCA_*` variables.
//! - [`DocumentSource`] turns a start's `src` into a document;
//!   [`UrlSource`] (the default) reads files and fetches `http(s)` URLs with
//!   HTTP caching.
//! - Persistence: every input of a session is journaled (SQLite, group
//!   commit, fsync'd) before the session sees it, and at start the server
//!   replays the journal to rebuild every live session (`runtime::persist`).
//! - Sessions speak the ORS dialect (ors-dialect.md §2.1, §4): the workers
//!   carry out `<session:start>`, `<session:fetch>` (off the worker thread,
//!   under a host allowlist and a response-size limit), `<session:terminate>`
//!   and `<ws:response>`, which answers `POST /scxml/session/{id}/request/{name}`;
//!   and the Basic HTTP Event I/O Processor (SCXML 1.0 App. C.2): sends to
//!   URLs, and access URIs `/basichttp/{id}` on the server's own listener.

#![warn(missing_docs, unreachable_pub)]

mod config;
mod document;
mod error;
mod http;
mod metrics;
mod runtime;
mod services;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use config::{Config, ConfigError, FetchConfig, Limits, DEFAULT_DATA_DIR, DEFAULT_PORT};
pub use document::{
    DocumentSource, DocumentSourceError, FileSource, HttpLoader, HttpSource, UrlSource,
    DEFAULT_FETCH_TIMEOUT,
};
pub use error::ApiError;
pub use http::{app, AppState};
pub use runtime::{Answer, Runtime, SessionError, SessionInfo, Status, TraceRecord};
pub use services::{migrate as migrate_services, open_store, DATABASE_CONNECTIONS};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory cannot be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The worker threads cannot be started.
    #[error("cannot start the worker threads: {0}")]
    Workers(std::io::Error),
    /// Serving failed.
    #[error("server error: {0}")]
    Serve(std::io::Error),
    /// The enterprise services' database cannot be opened or migrated.
    #[error("services database: {0}")]
    Store(#[from] store::StoreError),
}

/// Re-runs the journaled session `session` of the server whose data
/// directory is `data_dir` and answers its trace, in the records of
/// `orca run --trace`: for each journaled input an `input` record, the
/// `microstep`s and `log`s it caused and the `configuration` after it, and
/// `done` or `stopped` if the session ended. Nothing is performed; the
/// journal is only read (the session may be live in a running server,
/// ended and kept, or left by a crash).
pub fn replay(data_dir: &std::path::Path, session: &str) -> Result<Vec<TraceRecord>, SessionError> {
    let path = data_dir.join("journal.db");
    if !path.exists() {
        return Err(SessionError::NotFound(session.to_owned()));
    }
    let journal = journal::Journal::open(journal::Config::new(path))
        .map_err(|e| SessionError::StartFailed(e.to_string()))?;
    let trace = runtime::replay_trace(&journal, session);
    journal.close();
    trace
}

/// Serves the API on `listener` until `shutdown` completes, then shuts down
/// gracefully within the configured time.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let grace = config.shutdown_timeout();
    let mut config = config;
    // Sessions advertise the address really listened on (port 0 is a
    // free port chosen now).
    if let Ok(address) = listener.local_addr() {
        config.listen = address;
    }
    let store = open_store(&config).await?;
    let state = AppState::new(config)
        .map_err(ServerError::Workers)?
        .with_store(store.clone());
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, workers = state.runtime.worker_count(), "orca serve listening");
    }
    let runtime = Arc::clone(&state.runtime);
    // Told when the shutdown signal came, to start the drain's clock.
    let signalled = Arc::new(Notify::new());
    let notify = Arc::clone(&signalled);
    let on_signal = {
        let runtime = Arc::clone(&runtime);
        async move {
            shutdown.await;
            tracing::info!("shutting down: no new sessions, draining requests");
            runtime.stop_accepting();
            notify.notify_one();
        }
    };
    let serve = axum::serve(listener, app(state)).with_graceful_shutdown(on_signal);
    let drain_limit = async {
        signalled.notified().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = serve => result.map_err(ServerError::Serve)?,
        () = drain_limit => tracing::warn!("requests still running after {grace:?}: dropped"),
    }
    if !runtime.shutdown(grace).await {
        tracing::warn!("workers still busy after {grace:?}: abandoned");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
