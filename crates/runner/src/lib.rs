//! Runs SCXML sessions on one thread.
