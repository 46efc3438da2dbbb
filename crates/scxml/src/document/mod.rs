//! SCXML documents: the prepared model ([`model`]) and the parser that builds
//! and validates it from XML ([`parse`]).

mod content;
mod delay;
mod executable;
mod include;
mod model;
mod parse;
mod validate;

// The interpreter parses the result of `delayexpr` with the same rules (§6.2).
pub(crate) use delay::parse_delay;
pub use model::*;
pub use parse::{parse, DocumentError, FileLoader, LoadError, Loader};
