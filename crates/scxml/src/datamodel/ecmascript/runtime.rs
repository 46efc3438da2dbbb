//! [`JsRuntime`]: one QuickJS runtime (heap, garbage collector, atoms) that
//! several sessions of one thread share, each in its own context.
//!
//! Sharing is what makes sessions small: a runtime costs about 120 KiB before
//! any context exists, a context about 40 KiB (see `docs/design/ecmascript.md`).
//! The price is that the runtime's limits are shared too: the memory limit
//! bounds all its sessions together, and a garbage collection walks the
//! objects of every context on it, so hosts should cap the number of sessions
//! per runtime (a pool of runtimes of ~100 sessions each is the measured sweet
//! spot).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use rquickjs::Runtime;

use super::EcmaScriptOptions;
use crate::datamodel::DataModelError;

/// Native stack QuickJS may use for one evaluation before it throws a
/// `RangeError`; well below the 2 MiB of a default Rust thread.
const MAX_STACK_SIZE: usize = 512 * 1024;

/// A shared handle to one QuickJS runtime. Cloning it is cheap (`Rc`); the
/// runtime lives until the last handle and the last session on it are dropped.
/// Not `Send`: a runtime and its sessions stay on the thread that created them.
#[derive(Clone)]
pub struct JsRuntime {
    pub(super) inner: Rc<RuntimeInner>,
}

pub(super) struct RuntimeInner {
    pub(super) runtime: Runtime,
    /// Shared with the interrupt handler, which the runtime owns.
    pub(super) budget: Rc<Budget>,
    /// Sessions currently alive on this runtime.
    pub(super) sessions: Cell<usize>,
}

/// The wall-clock deadline of the macrostep being evaluated. Each session
/// writes its own deadline here before it runs code, since the interrupt
/// handler belongs to the runtime, not to a context.
pub(super) struct Budget {
    pub(super) deadline: Cell<Option<Instant>>,
    /// Set by the interrupt handler when it stopped a script, so that the
    /// failure is reported as `Interrupted` rather than as a script error.
    pub(super) interrupted: Cell<bool>,
}

impl JsRuntime {
    /// A new runtime with `options.memory_limit` bytes of heap for all its
    /// sessions together.
    pub fn new(options: &EcmaScriptOptions) -> Result<JsRuntime, DataModelError> {
        let runtime = Runtime::new().map_err(|_| DataModelError::OutOfMemory)?;
        runtime.set_memory_limit(options.memory_limit);
        runtime.set_max_stack_size(MAX_STACK_SIZE);
        let budget = Rc::new(Budget {
            deadline: Cell::new(None),
            interrupted: Cell::new(false),
        });
        let handler_budget = Rc::clone(&budget);
        // QuickJS polls this every 10,000 branches or calls, so reading the
        // clock here costs nothing measurable.
        runtime.set_interrupt_handler(Some(Box::new(move || {
            match handler_budget.deadline.get() {
                Some(deadline) if Instant::now() >= deadline => {
                    handler_budget.interrupted.set(true);
                    true
                }
                _ => false,
            }
        })));
        Ok(JsRuntime {
            inner: Rc::new(RuntimeInner {
                runtime,
                budget,
                sessions: Cell::new(0),
            }),
        })
    }

    /// Runs the cycle collector over every context of the runtime.
    pub fn run_gc(&self) {
        self.inner.runtime.run_gc();
    }

    /// Bytes the runtime has allocated (all its sessions together).
    pub fn memory_used(&self) -> usize {
        usize::try_from(self.inner.runtime.memory_usage().malloc_size).unwrap_or(usize::MAX)
    }

    /// How many sessions currently live on this runtime (for pooling).
    pub fn sessions(&self) -> usize {
        self.inner.sessions.get()
    }
}

impl std::fmt::Debug for JsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsRuntime")
            .field("sessions", &self.inner.sessions.get())
            .finish_non_exhaustive()
    }
}
