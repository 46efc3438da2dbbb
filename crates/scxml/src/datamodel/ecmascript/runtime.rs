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

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::time::Instant;

use rquickjs::Runtime;

use super::{EcmaScriptOptions, Slot};
use crate::datamodel::DataModelError;
use crate::document::{CodeId, Document};

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
    /// The heap limit given to QuickJS, in bytes.
    memory_limit: usize,
    /// Serialized bytecode of the code of the documents run here, so that
    /// each piece is parsed once per runtime rather than once per session.
    bytecode: RefCell<Vec<DocumentBytecode>>,
    /// The global names of a fresh context (built-ins), made on the first
    /// snapshot taken on this runtime.
    pub(super) builtin_globals: RefCell<Option<Rc<BuiltinGlobals>>>,
}

/// What the global object of a context holds before any session code runs.
#[derive(Debug, Default)]
pub(super) struct BuiltinGlobals {
    /// String-keyed property names.
    pub(super) names: std::collections::HashSet<String>,
    /// Number of symbol-keyed properties.
    pub(super) symbols: u32,
}

/// The compiled code of one document, by `CodeId` and [`Slot`].
struct DocumentBytecode {
    /// Weak, so that the cache does not keep a finished document alive; also
    /// tells a new document apart from a dropped one at the same address.
    document: Weak<Document>,
    code: HashMap<(u32, Slot), Rc<[u8]>>,
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
                memory_limit: options.memory_limit,
                bytecode: RefCell::new(Vec::new()),
                builtin_globals: RefCell::new(None),
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

impl JsRuntime {
    /// The cached bytecode of a piece of code, if a session compiled it before.
    pub(super) fn bytecode(
        &self,
        document: &Arc<Document>,
        code: CodeId,
        slot: Slot,
    ) -> Option<Rc<[u8]>> {
        let cache = self.inner.bytecode.borrow();
        let entry = cache
            .iter()
            .find(|e| std::ptr::eq(e.document.as_ptr(), Arc::as_ptr(document)))?;
        entry.code.get(&(code.0, slot)).cloned()
    }

    pub(super) fn keep_bytecode(
        &self,
        document: &Arc<Document>,
        code: CodeId,
        slot: Slot,
        bytes: Rc<[u8]>,
    ) {
        let mut cache = self.inner.bytecode.borrow_mut();
        // Forget documents no session holds any more.
        cache.retain(|e| e.document.strong_count() > 0);
        let index = match cache
            .iter()
            .position(|e| std::ptr::eq(e.document.as_ptr(), Arc::as_ptr(document)))
        {
            Some(i) => i,
            None => {
                cache.push(DocumentBytecode {
                    document: Arc::downgrade(document),
                    code: HashMap::new(),
                });
                cache.len() - 1
            }
        };
        cache[index].code.insert((code.0, slot), bytes);
    }

    /// The built-in globals of a fresh context, computed once per runtime
    /// (in a throwaway context, so call it while no context is locked).
    pub(super) fn builtin_globals(&self) -> Result<Rc<BuiltinGlobals>, DataModelError> {
        if let Some(known) = self.inner.builtin_globals.borrow().as_ref() {
            return Ok(Rc::clone(known));
        }
        let context = super::new_context(self)?;
        let ctx = context.as_raw().as_ptr();
        let globals = context
            .with(|_| super::snapshot::builtin_globals(ctx))
            .ok_or(DataModelError::OutOfMemory)?;
        let globals = Rc::new(globals);
        *self.inner.builtin_globals.borrow_mut() = Some(Rc::clone(&globals));
        Ok(globals)
    }

    /// Whether the heap is within 1/16 of its limit (an allocation just failed).
    pub(super) fn is_nearly_full(&self) -> bool {
        let limit = self.inner.memory_limit;
        self.memory_used() >= limit - limit / 16
    }
}

impl std::fmt::Debug for JsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsRuntime")
            .field("sessions", &self.inner.sessions.get())
            .finish_non_exhaustive()
    }
}
