//! Where session documents come from: the `src` of a start request turned
//! into a parsed, shared [`Document`].
//!
//! [`DocumentSource`] is the seam for fetching: [`FileSource`] reads `file:`
//! URLs and plain paths; an HTTP(S) source with caching can be added beside it
//! without touching the API or the runtime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    #[error("unsupported document URL {0:?}: only file: URLs and paths are served")]
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
    let lower = src.get(..8).unwrap_or(src).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

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
