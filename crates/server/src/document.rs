//! Where session documents come from: the `src` of a start request turned
//! into a parsed, shared [`Document`].
//!
//! [`DocumentSource`] is the seam for fetching: [`FileSource`] reads `file:`
//! URLs and plain paths, [`HttpSource`] fetches `http(s)` URLs with HTTP
//! caching (module `http`), and [`UrlSource`] serves both.

mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;

pub use http::{HttpLoader, HttpSource, DEFAULT_FETCH_TIMEOUT};

use scxml::document::{FileLoader, Loader};
use scxml::Document;

/// Gives the document named by a start request's `src`.
///
/// Called on a blocking thread: implementations may read files or wait for
/// the network.
pub trait DocumentSource: Send + Sync {
    /// The parsed document at `src`.
    fn load(&self, src: &str) -> Result<Arc<Document>, DocumentSourceError>;
}

/// Why a document could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DocumentSourceError {
    /// The URL scheme is not one this source reads.
    #[error("unsupported document URL {0:?}: the URL scheme is not served here")]
    UnsupportedScheme(String),
    /// The document cannot be read.
    #[error("cannot read the document: {0}")]
    Unreadable(String),
    /// The document is larger than allowed.
    #[error("the document is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The document is not valid SCXML.
    #[error("invalid document: {0}")]
    Invalid(String),
    /// `src` is not a URL.
    #[error("invalid document URL {url:?}: {reason}")]
    BadUrl {
        /// `src` as given.
        url: String,
        /// Why it is not a URL.
        reason: String,
    },
    /// The document's server answered with an error status.
    #[error("cannot fetch the document {url}: the server answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status it answered.
        status: u16,
    },
    /// The document's server cannot be reached, or did not answer in time.
    #[error("cannot fetch the document {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client cannot be built (no TLS roots, ...).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl DocumentSourceError {
    /// The status of a start request that failed with this error, and the
    /// stable code of its JSON body. The client's fault (a bad `src`, a
    /// document that is missing, too large or invalid) is a 4xx; the
    /// document server failing or not answering is a 502 or 504, as for a
    /// gateway (RFC 9110 §15.6.3, §15.6.5).
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use DocumentSourceError as E;
        match self {
            E::UnsupportedScheme(_) => (StatusCode::BAD_REQUEST, "unsupported_src"),
            E::BadUrl { .. } => (StatusCode::BAD_REQUEST, "invalid_src"),
            E::Unreadable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "document_unreadable"),
            E::TooLarge { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "document_too_large"),
            E::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_document"),
            E::Status { status, .. } if (400..500).contains(status) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "document_not_available")
            }
            E::Status { .. } => (StatusCode::BAD_GATEWAY, "document_server_error"),
            E::Unreachable { reason, .. } if reason.contains("timed out") => {
                (StatusCode::GATEWAY_TIMEOUT, "document_fetch_timeout")
            }
            E::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "document_unreachable"),
            E::Client(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// Files and `http(s)` URLs: [`FileSource`] and [`HttpSource`] behind one
/// source, each with its own cache.
pub struct UrlSource {
    files: FileSource,
    http: HttpSource,
}

impl UrlSource {
    /// A source refusing documents larger than `max_bytes`, fetches giving
    /// up after `timeout`.
    pub fn new(max_bytes: usize, timeout: Duration) -> Result<Self, DocumentSourceError> {
        Ok(UrlSource {
            files: FileSource::new(max_bytes),
            http: HttpSource::new(max_bytes, timeout)?,
        })
    }

    /// The HTTP half (its loader, its request count).
    pub fn http(&self) -> &HttpSource {
        &self.http
    }
}

impl DocumentSource for UrlSource {
    fn load(&self, src: &str) -> Result<Arc<Document>, DocumentSourceError> {
        if is_remote(src) {
            self.http.load(src)
        } else if has_other_scheme(src) {
            Err(DocumentSourceError::UnsupportedScheme(src.to_owned()))
        } else {
            self.files.load(src)
        }
    }
}

/// Reads documents from files, keeping each parsed document while its text
/// is unchanged, so that starting many sessions of one chart parses it once.
pub struct FileSource {
    max_bytes: usize,
    /// Resolved file name to its text and document. The text is compared on
    /// each load (reading a file costs far less than parsing it) so that an
    /// edited chart is picked up by the next start.
    cache: Mutex<HashMap<String, (String, Arc<Document>)>>,
}

impl FileSource {
    /// A source refusing documents larger than `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        FileSource {
            max_bytes,
            cache: Mutex::default(),
        }
    }
}

impl DocumentSource for FileSource {
    fn load(&self, src: &str) -> Result<Arc<Document>, DocumentSourceError> {
        if is_remote(src) {
            return Err(DocumentSourceError::UnsupportedScheme(src.to_owned()));
        }
        let (name, text) = FileLoader
            .load("", src)
            .map_err(|e| DocumentSourceError::Unreadable(e.to_string()))?;
        if text.len() > self.max_bytes {
            return Err(DocumentSourceError::TooLarge {
                limit: self.max_bytes,
            });
        }
        // A poisoned lock only means another start panicked while holding
        // it; the map itself is still consistent.
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(&name)
                .filter(|(old, _)| *old == text)
                .map(|(_, document)| Arc::clone(document))
        };
        if let Some(document) = cached {
            return Ok(document);
        }
        let document = scxml::document::parse(&text, &name, &FileLoader)
            .map_err(|e| DocumentSourceError::Invalid(e.to_string()))?;
        let document = Arc::new(document);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(name, (text, Arc::clone(&document)));
        Ok(document)
    }
}

/// Whether `src` names a document on another host.
fn is_remote(src: &str) -> bool {
    http::is_http(src)
}

/// Whether `src` starts with a URL scheme other than `file`, `http` and
/// `https` (RFC 3986 §3.1). One letter before `:` is a drive letter.
fn has_other_scheme(src: &str) -> bool {
    let Some((scheme, _)) = src.split_once(':') else {
        return false;
    };
    scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !["file", "http", "https"]
            .iter()
            .any(|known| scheme.eq_ignore_ascii_case(known))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_schemes_are_unsupported() {
        assert!(has_other_scheme("ftp://127.0.0.1/a.scxml"));
        assert!(has_other_scheme("urn:x"));
        for src in [
            "file:/a",
            "HTTP://h/a",
            "https://h/a",
            "C:/charts/a.scxml",
            "a.scxml",
            "/a:b",
        ] {
            assert!(!has_other_scheme(src), "{src}");
        }
    }

    #[test]
    fn reads_parses_and_caches_files() {
        let dir = std::env::temp_dir().join(format!("orca-doc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.scxml");
        std::fs::write(
            &path,
            r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"><state id="s"/></scxml>"#,
        )
        .unwrap();
        let source = FileSource::new(1 << 20);
        let src = format!("file://{}", path.display());
        let a = source.load(&src).unwrap();
        let b = source.load(path.to_str().unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(matches!(
            source.load("https://example.com/x.scxml"),
            Err(DocumentSourceError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            source.load(dir.join("missing.scxml").to_str().unwrap()),
            Err(DocumentSourceError::Unreadable(_))
        ));
        std::fs::write(&path, "<scxml").unwrap();
        assert!(matches!(
            source.load(&src),
            Err(DocumentSourceError::Invalid(_))
        ));
        assert!(matches!(
            FileSource::new(3).load(&src),
            Err(DocumentSourceError::TooLarge { limit: 3 })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
