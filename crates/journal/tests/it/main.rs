//! Integration tests of the journal: the public API against a real SQLite
//! file, and the crash test that SIGKILLs a writing process.

mod api;
mod crash;
mod util;
