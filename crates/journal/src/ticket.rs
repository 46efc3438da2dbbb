//! [`Ticket`]: the completion of a journal command, resolved by the writer
//! thread after the transaction that carried it has committed.
//!
//! A ticket can be waited on from a plain thread ([`Ticket::wait`], for the
//! JS workers) or awaited as a future (for HTTP handlers), so the journal
//! needs no async runtime of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::error::Error;

/// The promise of a command's result: `Ok` once the batch holding it is
/// durably committed, `Err` if that batch failed.
#[must_use = "a ticket says when the record is durable; dropping it gives up knowing"]
#[derive(Debug)]
pub struct Ticket<T = ()> {
    slot: Arc<Slot<T>>,
}

impl<T> Ticket<T> {
    /// Blocks the thread until the command completes.
    pub fn wait(self) -> Result<T, Error> {
        let mut state = lock(&self.slot.state);
        loop {
            if let Some(result) = state.result.take() {
                return result;
            }
            state = self
                .slot
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Whether the command has completed (then `wait` does not block).
    pub fn is_done(&self) -> bool {
        lock(&self.slot.state).result.is_some()
    }
}

impl<T> Future for Ticket<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.slot.state);
        match state.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The writer's end of a ticket. Dropping it unresolved (the writer died)
/// resolves the ticket with [`Error::Closed`], so no waiter hangs.
#[derive(Debug)]
pub(crate) struct Completer<T> {
    slot: Option<Arc<Slot<T>>>,
}

impl<T> Completer<T> {
    /// Resolves the ticket and wakes its waiter.
    pub(crate) fn complete(mut self, result: Result<T, Error>) {
        if let Some(slot) = self.slot.take() {
            slot.resolve(result);
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.resolve(Err(Error::Closed));
        }
    }
}

/// A new pending ticket and the means to resolve it.
pub(crate) fn pair<T>() -> (Ticket<T>, Completer<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State {
            result: None,
            waker: None,
        }),
        ready: Condvar::new(),
    });
    (
        Ticket {
            slot: Arc::clone(&slot),
        },
        Completer { slot: Some(slot) },
    )
}

/// A ticket already resolved (a command refused before it was queued).
pub(crate) fn resolved<T>(result: Result<T, Error>) -> Ticket<T> {
    let (ticket, completer) = pair();
    completer.complete(result);
    ticket
}

#[derive(Debug)]
struct Slot<T> {
    state: Mutex<State<T>>,
    /// Signalled once, when `result` is set.
    ready: Condvar,
}

#[derive(Debug)]
struct State<T> {
    result: Option<Result<T, Error>>,
    /// The task awaiting the ticket, if it is polled as a future.
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn resolve(&self, result: Result<T, Error>) {
        let waker = {
            let mut state = lock(&self.state);
            state.result = Some(result);
            state.waker.take()
        };
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A poisoned lock only means another waiter panicked; the slot's data is a
/// plain value and still valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Flag(Mutex<bool>);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            *lock(&self.0) = true;
        }
    }

    #[test]
    fn wait_returns_the_result_from_another_thread() {
        let (ticket, completer) = pair::<u32>();
        let writer = std::thread::spawn(move || completer.complete(Ok(7)));
        assert_eq!(ticket.wait().unwrap(), 7);
        writer.join().unwrap();
    }

    #[test]
    fn polling_registers_a_waker_that_completion_wakes() {
        let (mut ticket, completer) = pair::<()>();
        let flag = Arc::new(Flag(Mutex::new(false)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut ticket).poll(&mut cx).is_pending());
        completer.complete(Ok(()));
        assert!(*lock(&flag.0));
        assert!(matches!(
            Pin::new(&mut ticket).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
    }

    #[test]
    fn a_dropped_completer_closes_the_ticket() {
        let (ticket, completer) = pair::<()>();
        drop(completer);
        assert!(matches!(ticket.wait(), Err(Error::Closed)));
    }
}
