//! Parsing and validation: XML text to a prepared [`Document`].

use super::model::*;

/// A document that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct DocumentError {
    /// The document's source name (path or URL).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong, naming the element.
    pub message: String,
}

/// A resource referenced by `src` could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot load {src}: {reason}")]
pub struct LoadError {
    /// The `src` as written.
    pub src: String,
    /// Why.
    pub reason: String,
}

/// Loads what `src` attributes name while a document is read (`<data src>`,
/// `<script src>`). Loading happens when a document is prepared, never during
/// a macrostep.
pub trait Loader {
    /// Loads `src`, relative to the document named `base`. Returns the
    /// resolved name and the text.
    fn load(&self, base: &str, src: &str) -> Result<(String, String), LoadError>;
}

/// Loads `file:` URLs and plain paths, relative to the directory of the base document.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileLoader;

// WORKTREE STUB (wip-runner): the parser branch implements this.
impl Loader for FileLoader {
    fn load(&self, base: &str, src: &str) -> Result<(String, String), LoadError> {
        let _ = (base, src);
        todo!("file loader")
    }
}

/// Parses and validates an SCXML document.
pub fn parse(text: &str, source_name: &str, loader: &dyn Loader) -> Result<Document, DocumentError> {
    let _ = (text, source_name, loader);
    todo!("document parser")
}
