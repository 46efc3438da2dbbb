//! Snapshots of hosted sessions: the interpreter's own snapshot plus what
//! the runner keeps about the session (its external queue, its children).
//!
//! Timers need nothing of their own: the delayed sends are in the
//! interpreter's snapshot, and restoring re-arms the session's timer from
//! `poll_timeout` on the runner's clock (one that fell due meanwhile fires
//! at once). Children are not part of their parent's snapshot: each is a
//! session of its own (the server journals and snapshots it on its own);
//! the parent's snapshot names them, and the host restores them with
//! [`Runner::restore_session`] giving the parent, after the parent.

use std::sync::Arc;

use scxml::{Data, Document, Event, NotSnapshottable, Snapshot};
use serde::{Deserialize, Serialize};

use super::{session, session_mut, Invoker, ReservedId, RunError, Runner, SessionKey};
use crate::machine::{ChildSource, Machine, SessionFactory};

/// A hosted session's state between inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostedSnapshot {
    /// The interpreter's state.
    pub machine: Snapshot,
    /// External events queued for the session and not processed yet.
    pub queue: Vec<Event>,
    /// Running invoked children: (invoke id, child session id).
    pub children: Vec<(String, String)>,
}

/// Why [`Runner::snapshot_session`] gave no snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No such live session.
    #[error("no such session")]
    NoSession,
    /// The session is held or has actions waiting to be carried out.
    #[error("the session is between two steps of the host")]
    Busy,
    /// The interpreter's state cannot be captured exactly now.
    #[error(transparent)]
    NotSnapshottable(#[from] NotSnapshottable),
}

impl<F: SessionFactory> Runner<F> {
    /// The state of a live session, between inputs.
    pub fn snapshot_session(&mut self, key: SessionKey) -> Result<HostedSnapshot, SnapshotError> {
        let slots = &self.slots;
        let Some(current) = session(slots, key) else {
            return Err(SnapshotError::NoSession);
        };
        if current.held > 0 || !current.backlog.is_empty() {
            return Err(SnapshotError::Busy);
        }
        let children = current
            .children
            .iter()
            .filter_map(|(invokeid, child)| {
                session(slots, *child).map(|c| (invokeid.clone(), c.id.clone()))
            })
            .collect();
        let queue = current.queue.iter().map(|(_, e)| e.clone()).collect();
        let Some(current) = session_mut(&mut self.slots, key) else {
            return Err(SnapshotError::NoSession);
        };
        let machine = current.machine.snapshot()?;
        Ok(HostedSnapshot {
            machine,
            queue,
            children,
        })
    }

    /// Brings a session back under a reserved id from its snapshot, with
    /// the `params` it was started with, re-arming its timer. An invoked
    /// child gives its parent's key and its invoke id: it is linked to the
    /// parent as if the parent had invoked it (restore the parent first).
    pub fn restore_session(
        &mut self,
        id: ReservedId,
        document: Arc<Document>,
        params: Vec<(String, Data)>,
        snapshot: &HostedSnapshot,
        parent: Option<(SessionKey, String)>,
    ) -> Result<SessionKey, RunError> {
        let invoker = parent.and_then(|(key, invokeid)| {
            let depth = session(&self.slots, key)?.depth + 1;
            Some(Invoker {
                key,
                invokeid,
                source: ChildSource::Inline,
                depth,
            })
        });
        let key = self.create_session(
            id.number,
            None,
            document,
            params,
            invoker,
            Some(&snapshot.machine),
        )?;
        for event in &snapshot.queue {
            self.enqueue(key, event.clone());
        }
        Ok(key)
    }
}
