//! Documents over HTTP(S): [`HttpSource`] fetches a start's `src`, keeps the
//! prepared [`Document`] per URL with HTTP caching semantics, and
//! [`HttpLoader`] fetches what such a document references while it is read.
//!
//! Caching (RFC 9111, the parts a document cache needs):
//! - a response with `Cache-Control: max-age=N` is used without a request for
//!   N seconds;
//! - `no-cache`, an expired `max-age`, or no freshness information at all:
//!   the cached document is revalidated on each start with `If-None-Match`
//!   (the `ETag`) and `If-Modified-Since` (the `Last-Modified` as received);
//!   `304 Not Modified` keeps the cached document, and its headers renew
//!   the freshness; a response with neither validator nor `max-age` is not
//!   worth keeping;
//! - `no-store`: never kept, fetched on each start.
//!
//! `Expires`, `Age`, `Vary` and heuristic freshness are not implemented: a
//! document without `max-age` is revalidated, which is always correct.
//! Concurrent starts of a stale URL may each revalidate; the result is the
//! same document.
//!
//! Blocking: the [`scxml::document::Loader`] trait is synchronous, and
//! [`DocumentSource::load`](super::DocumentSource::load) runs on a blocking
//! thread (`spawn_blocking`). Both hand each fetch to one "orca-fetch"
//! thread that runs the async reqwest client on its own current-thread
//! runtime, and wait for the answer on a channel. That works from any
//! thread (a runner worker loading an `<invoke src>`, a `spawn_blocking`
//! thread), never nests runtimes, and drops the client's runtime on its own
//! thread (reqwest's blocking client panics when built or dropped inside an
//! async context, which the server's setup and shutdown are). Fetching
//! everything a document references before parsing would need the parser's
//! knowledge of which attributes are URLs; loading on demand through the
//! loader keeps the parser the only reader. A call waits for the network,
//! so it must not be made on an async worker thread.
//!
//! Safety: what a document fetched over HTTP references resolves against
//! its URL, and a `file:` URL or path from such a document is refused: a
//! remote document must not read the server's files.
//!
//! Sub-resources (`<script src>`, `<data src>`, XInclude) are fetched when
//! the document is prepared and are part of the cached document: they are
//! fetched again only when the document itself is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{
    HeaderMap, HeaderName, CACHE_CONTROL, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use reqwest::{StatusCode, Url};
use scxml::document::{LoadError, Loader};
use scxml::Document;

use super::DocumentSourceError;

/// How long a fetch may take, connection to last byte, unless configured.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `src` is an `http:` or `https:` URL.
pub(crate) fn is_http(src: &str) -> bool {
    let lower = src.get(..8).unwrap_or(src).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Fetches with limits; shared by the source and its loaders.
#[derive(Clone)]
struct Fetcher {
    client: reqwest::Client,
    thread: Arc<FetchThread>,
    max_bytes: usize,
}

/// A thread running the runtime the HTTP client lives on. Callers on any
/// thread hand it a fetch and wait on a channel: no caller needs (or may
/// be inside) a runtime of its own, and the runtime is dropped on its own
/// thread when the last [`Fetcher`] goes, never in an async context.
struct FetchThread {
    handle: tokio::runtime::Handle,
    /// Dropping it ends the thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A response: its status, final URL and headers, and its body unless 304.
struct Fetched {
    status: StatusCode,
    url: Url,
    headers: HeaderMap,
    body: Option<String>,
}

/// A fetch that did not give a body.
enum FetchFailure {
    /// No response (connection, timeout, TLS, bad URL), or a body cut short.
    Unreachable(String),
    /// An error status.
    Status(StatusCode),
    /// The body is larger than the limit.
    TooLarge,
}

impl Fetcher {
    fn new(max_bytes: usize, timeout: Duration) -> Result<Fetcher, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| error_chain(&e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("orca-fetch".to_owned())
            .spawn(move || {
                // Runs the spawned fetches until every `Fetcher` is gone.
                let _ = runtime.block_on(stopped);
            })
            .map_err(|e| e.to_string())?;
        Ok(Fetcher {
            client,
            thread: Arc::new(FetchThread {
                handle,
                _stop: stop,
            }),
            max_bytes,
        })
    }

    /// GETs `url` with `validators` as conditional headers, waiting for the
    /// answer. A 304 has no body; other non-success statuses are failures.
    fn get(
        &self,
        url: &Url,
        validators: Vec<(HeaderName, String)>,
    ) -> Result<Fetched, FetchFailure> {
        let (reply, answer) = std::sync::mpsc::channel();
        let client = self.client.clone();
        let url = url.clone();
        let limit = self.max_bytes;
        self.thread.handle.spawn(async move {
            let _ = reply.send(fetch(client, url, validators, limit).await);
        });
        answer.recv().unwrap_or_else(|_| {
            Err(FetchFailure::Unreachable(
                "the fetch was dropped".to_owned(),
            ))
        })
    }
}

async fn fetch(
    client: reqwest::Client,
    url: Url,
    validators: Vec<(HeaderName, String)>,
    limit: usize,
) -> Result<Fetched, FetchFailure> {
    let unreachable = |e: reqwest::Error| FetchFailure::Unreachable(error_chain(&e));
    let mut request = client.get(url);
    for (name, value) in validators {
        request = request.header(name, value);
    }
    let mut response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let url = response.url().clone();
    let headers = response.headers().clone();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched {
            status,
            url,
            headers,
            body: None,
        });
    }
    if !status.is_success() {
        return Err(FetchFailure::Status(status));
    }
    // Refused past the limit without reading it all.
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(FetchFailure::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8(body)
        .map_err(|_| FetchFailure::Unreachable("the body is not UTF-8".to_owned()))?;
    Ok(Fetched {
        status,
        url,
        headers,
        body: Some(body),
    })
}

/// The message of an error with its causes (reqwest's own says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// What `Cache-Control` and the validators of a response allow.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct CachePolicy {
    pub(crate) max_age: Option<Duration>,
    pub(crate) no_cache: bool,
    pub(crate) no_store: bool,
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
}

impl CachePolicy {
    pub(crate) fn from_headers(headers: &HeaderMap) -> CachePolicy {
        let mut policy = CachePolicy::default();
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(value) = value.to_str() else { continue };
            for directive in value.split(',') {
                let directive = directive.trim();
                let (name, argument) = match directive.split_once('=') {
                    Some((name, argument)) => {
                        (name.trim(), Some(argument.trim().trim_matches('"')))
                    }
                    None => (directive, None),
                };
                if name.eq_ignore_ascii_case("max-age") {
                    // RFC 9111 §4.2.1: an invalid max-age makes the response stale.
                    let seconds = argument.and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
                    policy.max_age = Some(Duration::from_secs(seconds));
                } else if name.eq_ignore_ascii_case("no-cache") {
                    policy.no_cache = true;
                } else if name.eq_ignore_ascii_case("no-store") {
                    policy.no_store = true;
                }
            }
        }
        let header = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        policy.etag = header(ETAG);
        policy.last_modified = header(LAST_MODIFIED);
        policy
    }

    /// Until when the response may be used without asking, from `now`.
    fn fresh_until(&self, now: Instant) -> Option<Instant> {
        if self.no_cache {
            return None;
        }
        self.max_age
            .filter(|age| !age.is_zero())
            .and_then(|age| now.checked_add(age))
    }

    /// Whether keeping the response can ever save a fetch.
    fn worth_keeping(&self) -> bool {
        !self.no_store
            && (self.etag.is_some()
                || self.last_modified.is_some()
                || self.fresh_until(Instant::now()).is_some())
    }
}

/// A cached document and what is needed to reuse it.
struct Entry {
    document: Arc<Document>,
    fresh_until: Option<Instant>,
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Entry {
    fn validators(&self) -> Vec<(HeaderName, String)> {
        let mut validators = Vec::new();
        if let Some(etag) = &self.etag {
            validators.push((IF_NONE_MATCH, etag.clone()));
        }
        if let Some(date) = &self.last_modified {
            validators.push((IF_MODIFIED_SINCE, date.clone()));
        }
        validators
    }

    /// Applies the headers of a `304`: they update the stored ones.
    fn renew(&mut self, policy: CachePolicy, now: Instant) {
        self.fresh_until = policy.fresh_until(now);
        if policy.etag.is_some() {
            self.etag = policy.etag;
        }
        if policy.last_modified.is_some() {
            self.last_modified = policy.last_modified;
        }
    }
}

/// Fetches documents over HTTP(S) and keeps them per URL (see the module
/// documentation for the caching rules).
pub struct HttpSource {
    fetcher: Fetcher,
    cache: Mutex<HashMap<String, Entry>>,
    /// Requests sent, for metrics and tests.
    requests: std::sync::atomic::AtomicU64,
}

impl HttpSource {
    /// A source refusing documents (and each resource they load) larger
    /// than `max_bytes`, giving up on a fetch after `timeout`.
    pub fn new(max_bytes: usize, timeout: Duration) -> Result<HttpSource, DocumentSourceError> {
        let fetcher = Fetcher::new(max_bytes, timeout).map_err(DocumentSourceError::Client)?;
        Ok(HttpSource {
            fetcher,
            cache: Mutex::default(),
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many requests this source sent (documents, not their resources).
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A loader for what documents reference, with this source's limits.
    pub fn loader(&self) -> HttpLoader {
        HttpLoader {
            fetcher: self.fetcher.clone(),
        }
    }

    /// The document at the `http(s)` URL `src`.
    pub fn load(&self, src: &str) -> Result<Arc<Document>, DocumentSourceError> {
        let url = Url::parse(src).map_err(|e| DocumentSourceError::BadUrl {
            url: src.to_owned(),
            reason: e.to_string(),
        })?;
        let key = url.as_str().to_owned();
        let now = Instant::now();
        let validators = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(&key) {
                Some(entry) if entry.fresh_until.is_some_and(|until| now < until) => {
                    return Ok(Arc::clone(&entry.document));
                }
                Some(entry) => entry.validators(),
                None => Vec::new(),
            }
        };
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fetched = self
            .fetcher
            .get(&url, validators)
            .map_err(|failure| fetch_error(&key, failure, self.fetcher.max_bytes))?;
        let policy = CachePolicy::from_headers(&fetched.headers);
        let Some(text) = fetched.body else {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = cache.get_mut(&key) {
                entry.renew(policy, now);
                return Ok(Arc::clone(&entry.document));
            }
            // A 304 to an unconditional request (or the entry went away).
            return Err(fetch_error(
                &key,
                FetchFailure::Status(fetched.status),
                self.fetcher.max_bytes,
            ));
        };
        // Relative references resolve against where the document really is.
        let name = fetched.url.as_str().to_owned();
        let document = scxml::document::parse(&text, &name, &self.loader())
            .map_err(|e| DocumentSourceError::Invalid(e.to_string()))?;
        let document = Arc::new(document);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if policy.worth_keeping() {
            cache.insert(
                key,
                Entry {
                    document: Arc::clone(&document),
                    fresh_until: policy.fresh_until(now),
                    etag: policy.etag,
                    last_modified: policy.last_modified,
                },
            );
        } else {
            cache.remove(&key);
        }
        Ok(document)
    }
}

fn fetch_error(url: &str, failure: FetchFailure, limit: usize) -> DocumentSourceError {
    let url = url.to_owned();
    match failure {
        FetchFailure::Unreachable(reason) => DocumentSourceError::Unreachable { url, reason },
        FetchFailure::Status(status) => DocumentSourceError::Status {
            url,
            status: status.as_u16(),
        },
        FetchFailure::TooLarge => DocumentSourceError::TooLarge { limit },
    }
}

/// Loads what a document references: relative to an `http(s)` base by HTTP,
/// absolute `http(s)` URLs by HTTP, and anything else from files only when
/// the base is not remote.
#[derive(Clone)]
pub struct HttpLoader {
    fetcher: Fetcher,
}

impl HttpLoader {
    /// A loader with its own client.
    pub fn new(max_bytes: usize, timeout: Duration) -> Result<HttpLoader, DocumentSourceError> {
        let fetcher = Fetcher::new(max_bytes, timeout).map_err(DocumentSourceError::Client)?;
        Ok(HttpLoader { fetcher })
    }
}

impl Loader for HttpLoader {
    fn load(&self, base: &str, src: &str) -> Result<(String, String), LoadError> {
        let error = |reason: String| LoadError {
            src: src.to_owned(),
            reason,
        };
        let url = if is_http(base) {
            let base = Url::parse(base).map_err(|e| error(format!("base {base:?}: {e}")))?;
            let url = base.join(src).map_err(|e| error(e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(error(format!(
                    "a document fetched over HTTP may not load {} URLs",
                    url.scheme()
                )));
            }
            url
        } else if is_http(src) {
            Url::parse(src).map_err(|e| error(e.to_string()))?
        } else {
            return scxml::document::FileLoader.load(base, src);
        };
        let text = match self.fetcher.get(&url, Vec::new()) {
            Ok(Fetched {
                body: Some(text), ..
            }) => text,
            Ok(Fetched { status, .. }) | Err(FetchFailure::Status(status)) => {
                return Err(error(format!("{url}: HTTP {status}")))
            }
            Err(FetchFailure::Unreachable(reason)) => {
                return Err(error(format!("{url}: {reason}")))
            }
            Err(FetchFailure::TooLarge) => {
                return Err(error(format!(
                    "{url}: larger than {} bytes",
                    self.fetcher.max_bytes
                )))
            }
        };
        Ok((url.to_string(), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn policy(pairs: &[(HeaderName, &'static str)]) -> CachePolicy {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name, HeaderValue::from_static(value));
        }
        CachePolicy::from_headers(&headers)
    }

    #[test]
    fn cache_control_directives() {
        let p = policy(&[(CACHE_CONTROL, "public, Max-Age=60"), (ETAG, "\"v1\"")]);
        assert_eq!(p.max_age, Some(Duration::from_secs(60)));
        assert_eq!(p.etag.as_deref(), Some("\"v1\""));
        assert!(p.worth_keeping());
        let now = Instant::now();
        assert_eq!(p.fresh_until(now), now.checked_add(Duration::from_secs(60)));
        let p = policy(&[(CACHE_CONTROL, "max-age=60"), (CACHE_CONTROL, "no-cache")]);
        assert!(p.no_cache);
        assert_eq!(p.fresh_until(now), None);
        let p = policy(&[(CACHE_CONTROL, "no-store"), (ETAG, "\"v1\"")]);
        assert!(!p.worth_keeping());
        // An unparsable max-age is stale; nothing to revalidate with: not kept.
        let p = policy(&[(CACHE_CONTROL, "max-age=soon")]);
        assert_eq!(p.max_age, Some(Duration::ZERO));
        assert!(!p.worth_keeping());
        assert!(policy(&[(LAST_MODIFIED, "Mon, 01 Jan 2024 00:00:00 GMT")]).worth_keeping());
    }

    #[test]
    fn the_loader_keeps_remote_documents_away_from_files() {
        let loader = HttpLoader::new(1024, DEFAULT_FETCH_TIMEOUT).unwrap();
        let e = loader
            .load("http://127.0.0.1:9/app/main.scxml", "file:///etc/passwd")
            .unwrap_err();
        assert!(e.reason.contains("may not load file URLs"), "{e}");
    }
}
