//! SCXML documents: the prepared model ([`model`]) and the parser that builds
//! and validates it from XML ([`parse`]).

mod model;
mod parse;

pub use model::*;
pub use parse::{parse, DocumentError, FileLoader, Loader, LoadError};
