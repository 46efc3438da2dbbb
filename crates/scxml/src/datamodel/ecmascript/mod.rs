//! The ECMAScript data model (SCXML 1.0 App. B.2) on QuickJS.
//!
//! - [`JsRuntime`]: one QuickJS runtime, shared by the sessions of a thread;
//!   it owns the memory limit and the interrupt handler that enforces each
//!   macrostep's time budget.
//! - [`EcmaScript`]: one session's context on a runtime; implements
//!   [`DataModel`].
//!
//! Each piece of document code is compiled the first time it runs and kept:
//! an expression as a function `function(){return (expr)}`, a location as a
//! strict-mode setter `function(v){'use strict'; (location) = v}` (so an
//! undeclared name is an error instead of a new global, §5.4), a `<script>`
//! as global code (so `var` and function declarations make globals, §5.8).
//! Time (`Date`) and randomness (`Math.random`) come from the host, so a
//! session replays exactly. How sessions map onto runtimes, and what each
//! costs, is in `docs/design/ecmascript.md`.

mod convert;
mod dom;
mod host;
mod js;
mod runtime;
mod snapshot;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::{qjs, Context};

pub use runtime::JsRuntime;

use self::convert::Conversion;
use self::host::{EventSlot, Host};
use self::js::{Owned, RawCtx};
use crate::data::Data;
use crate::datamodel::{
    AssignFrom, DataModel, DataModelError, DeclareValue, ScriptEffect, SystemVariables,
};
use crate::document::{CodeId, CodeKind, Document};
use crate::event::Event;
use crate::snapshot::{DataModelSnapshot, NotSnapshottable, RestoreError};
use crate::time::Timestamp;

/// The system variables scripts may read but never change (§5.10).
const SYSTEM_VARIABLES: [&str; 5] = ["_sessionid", "_name", "_ioprocessors", "_event", "_x"];

/// Limits and seeds of the ECMAScript data model.
#[derive(Clone, Debug)]
pub struct EcmaScriptOptions {
    /// Wall-clock time all the scripts of one macrostep may take together.
    pub script_budget: Duration,
    /// Heap limit of a runtime, in bytes (shared by all its sessions).
    pub memory_limit: usize,
    /// Seed of `Math.random()`.
    pub random_seed: u64,
    /// Dialect built-ins (ORS `_genesys`, `uneval`, ...), installed lazily.
    pub prelude: Option<Arc<Prelude>>,
}

/// Global code that defines a dialect's built-ins in a session.
///
/// Like `Date` and `Math`, it is installed only when the first piece of code
/// naming one of its `triggers` is compiled, so that sessions that do not
/// use the dialect pay nothing (the benchmarks' documents never do). Its
/// script can push effects to the global array `__orca_effects`, as objects
/// `{raise: name, data}` or `{log: value, label, level}`; they are read by
/// [`DataModel::take_effects`].
#[derive(Debug)]
pub struct Prelude {
    /// Names whose appearance in compiled code installs the prelude.
    pub triggers: Vec<String>,
    /// The global code.
    pub source: String,
}

impl Default for EcmaScriptOptions {
    fn default() -> Self {
        EcmaScriptOptions {
            script_budget: Duration::from_secs(1),
            memory_limit: 64 * 1024 * 1024,
            random_seed: 0,
            prelude: None,
        }
    }
}

/// One session's ECMAScript data model: a QuickJS context on a [`JsRuntime`].
///
/// Create it with [`EcmaScript::new`], then call [`DataModel::bind_system`]
/// before anything else. It must stay on the thread of its runtime.
pub struct EcmaScript {
    context: Context,
    session: Session,
}

/// Everything but the context, so that methods can borrow it mutably while
/// the context is locked.
struct Session {
    runtime: JsRuntime,
    document: Arc<Document>,
    /// Boxed so that its address, which the context's natives use, is stable.
    host: Box<Host>,
    /// Compiled code for reading (expressions, locations read as values,
    /// scripts), indexed by `CodeId`.
    read: Vec<Compiled>,
    /// Compiled setters of locations, indexed by `CodeId`; empty until the
    /// first assignment.
    write: Vec<Compiled>,
    /// Shallow copies of the arrays of the `<foreach>` elements running (owned).
    foreach: Vec<qjs::JSValue>,
    budget: Duration,
    /// When the current macrostep's budget runs out.
    deadline: Option<Instant>,
    /// Whether the injected `Date` and `Math.random` are in place. They are
    /// installed when the first code naming them is compiled, because doing
    /// it for every context (instantiating `Math`) cost a fifth of context
    /// creation and most sessions never read the clock.
    clock_installed: bool,
    /// The dialect prelude to install, until it is.
    prelude: Option<Arc<Prelude>>,
    /// Whether the prelude is installed (then effects may be pending).
    prelude_installed: bool,
    /// The global names the prelude defined (left out of snapshots, which
    /// install the prelude again).
    prelude_globals: Vec<String>,
    /// Whether a `<script>` ran as global code that may declare global
    /// `let`/`const`/`class` bindings (which snapshots cannot see).
    lexical_globals: bool,
}

/// What a piece of code is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Slot {
    /// An expression (or location read as a value), wrapped in a function.
    Read,
    /// A location, wrapped in a setter.
    Write,
    /// A `<script>`, as global bytecode.
    Script,
}

/// One cache slot.
enum Compiled {
    /// Not compiled yet.
    Pending,
    /// A function (or, for scripts, global bytecode); owned.
    Ready(qjs::JSValue),
    /// Did not compile: every use fails the same way.
    Failed(DataModelError),
}

impl EcmaScript {
    /// A new session context on `runtime`, for `document`.
    pub fn new(
        runtime: &JsRuntime,
        document: Arc<Document>,
        options: &EcmaScriptOptions,
    ) -> Result<EcmaScript, DataModelError> {
        let context = new_context(runtime)?;
        let code_count = document.code.len();
        let host = Box::new(Host::new(Arc::clone(&document), options.random_seed));
        let session = Session {
            runtime: runtime.clone(),
            document,
            host,
            read: std::iter::repeat_with(|| Compiled::Pending)
                .take(code_count)
                .collect(),
            write: Vec::new(),
            foreach: Vec::new(),
            budget: options.script_budget,
            deadline: None,
            clock_installed: false,
            prelude: options.prelude.clone(),
            prelude_installed: false,
            prelude_globals: Vec::new(),
            lexical_globals: false,
        };
        let ctx = context.as_raw().as_ptr();
        let host_ptr: *const Host = &*session.host;
        // SAFETY: the host is boxed and owned by the session next to this
        // context; `Drop` clears the pointer before either goes away.
        unsafe { qjs::JS_SetContextOpaque(ctx, host_ptr.cast_mut().cast()) };
        runtime.inner.sessions.set(runtime.inner.sessions.get() + 1);
        Ok(EcmaScript { context, session })
    }

    fn raw(&self) -> RawCtx {
        self.context.as_raw().as_ptr()
    }
}

/// A context with the built-ins sessions get (see `docs/design/ecmascript.md`).
fn new_context(runtime: &JsRuntime) -> Result<Context, DataModelError> {
    Context::custom::<(
        rquickjs::context::intrinsic::Date,
        rquickjs::context::intrinsic::Eval,
        rquickjs::context::intrinsic::RegExpCompiler,
        rquickjs::context::intrinsic::RegExp,
        rquickjs::context::intrinsic::Json,
    )>(&runtime.inner.runtime)
    .map_err(|_| DataModelError::OutOfMemory)
}

impl DataModel for EcmaScript {
    fn bind_system(&mut self, system: &SystemVariables) -> Result<(), DataModelError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| session.bind_system(ctx, system))
    }

    fn begin_macrostep(&mut self, now: Timestamp) {
        self.session.host.now_ms.set(now.as_millis() as f64);
        // The deadline is set on the first evaluation of the macrostep
        // (`arm_budget`): most macrosteps of a routing strategy run no script,
        // and reading the clock for each would cost more than they do.
        self.session.deadline = None;
    }

    fn set_configuration(&mut self, active: &[u64]) {
        let mut bits = self.session.host.configuration.borrow_mut();
        bits.clear();
        bits.extend_from_slice(active);
    }

    fn declare(&mut self, id: &str, value: DeclareValue<'_>) -> Result<(), DataModelError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| session.declare(ctx, id, value))
    }

    fn evaluate_bool(&mut self, code: CodeId) -> Result<bool, DataModelError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| {
            let v = session.run(ctx, code)?;
            // SAFETY: ToBoolean never throws.
            Ok(unsafe { qjs::JS_ToBool(ctx, v.raw()) } > 0)
        })
    }

    fn evaluate(&mut self, code: CodeId) -> Result<Data, DataModelError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| {
            let v = session.run(ctx, code)?;
            session.value_to_data(ctx, v.raw(), Some(code))
        })
    }

    fn take_effects(&mut self) -> Vec<ScriptEffect> {
        if !self.session.prelude_installed {
            return Vec::new();
        }
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| session.take_effects(ctx))
    }

    fn snapshot(&mut self) -> Result<DataModelSnapshot, NotSnapshottable> {
        self.take_snapshot()
    }

    fn restore(&mut self, snapshot: &DataModelSnapshot) -> Result<(), RestoreError> {
        self.restore_snapshot(snapshot)
    }

    fn data_snapshot(&mut self) -> Data {
        let ctx = self.raw();
        let session = &mut self.session;
        let document = Arc::clone(&session.document);
        self.context.with(|_| {
            let global = js::global(ctx);
            let mut entries: Vec<(String, Data)> = Vec::new();
            for item in document.states.iter().flat_map(|s| &s.data) {
                if entries.iter().any(|(k, _)| *k == item.id) {
                    continue;
                }
                let value = match js::get(ctx, global.raw(), &item.id) {
                    Some(v) => session
                        .value_to_data(ctx, v.raw(), None)
                        .unwrap_or(Data::Undefined),
                    None => {
                        // A throwing getter: drop its exception.
                        let _ = session.exception(ctx, None);
                        Data::Undefined
                    }
                };
                entries.push((item.id.clone(), value));
            }
            Data::Object(entries)
        })
    }

    fn evaluate_string(&mut self, code: CodeId) -> Result<String, DataModelError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| {
            let v = session.run(ctx, code)?;
            match js::to_string(ctx, v.raw()) {
                Some(s) => Ok(s),
                None => Err(session.exception(ctx, Some(code))),
            }
        })
    }

    fn assign(&mut self, location: CodeId, value: AssignFrom<'_>) -> Result<(), DataModelError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| {
            let text = session.code_text(location)?;
            if is_system_variable(text.trim()) {
                return Err(DataModelError::InvalidLocation(format!(
                    "{} is a read-only system variable",
                    text.trim()
                )));
            }
            // §5.4: the value is evaluated before the location is written.
            let value = match value {
                AssignFrom::Expr(code) => session.run(ctx, code)?,
                AssignFrom::Data(data) => session.data_to_js(ctx, data)?,
            };
            session.store(ctx, location, value)
        })
    }

    fn execute(&mut self, script: CodeId) -> Result<(), DataModelError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| session.run(ctx, script).map(drop))
    }

    fn foreach_begin(&mut self, array: CodeId) -> Result<usize, DataModelError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| session.foreach_begin(ctx, array))
    }

    fn foreach_bind(
        &mut self,
        item: CodeId,
        index: Option<CodeId>,
        i: usize,
    ) -> Result<(), DataModelError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context
            .with(|_| session.foreach_bind(ctx, item, index, i))
    }

    fn foreach_end(&mut self) {
        if let Some(copy) = self.session.foreach.pop() {
            let ctx = self.raw();
            // SAFETY: the stack owned this reference.
            self.context
                .with(|_| unsafe { qjs::JS_FreeValue(ctx, copy) });
        }
    }

    fn set_event(&mut self, event: &Event) {
        // Only keep the event: the object is built the first time a script
        // reads `_event` (see `EventSlot`).
        let old = self
            .session
            .host
            .event
            .replace(EventSlot::Pending(event.clone()));
        if let EventSlot::Ready(v, _) = old {
            let ctx = self.raw();
            // SAFETY: the slot owned this reference.
            self.context.with(|_| unsafe { qjs::JS_FreeValue(ctx, v) });
        }
    }
}

impl Drop for EcmaScript {
    fn drop(&mut self) {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| {
            for slot in session.read.iter_mut().chain(session.write.iter_mut()) {
                if let Compiled::Ready(v) = std::mem::replace(slot, Compiled::Pending) {
                    // SAFETY: the cache owned this reference.
                    unsafe { qjs::JS_FreeValue(ctx, v) };
                }
            }
            for v in session.foreach.drain(..) {
                // SAFETY: the stack owned this reference.
                unsafe { qjs::JS_FreeValue(ctx, v) };
            }
            session.host.release(ctx);
            // SAFETY: from now on the natives of this context see no host.
            unsafe { qjs::JS_SetContextOpaque(ctx, std::ptr::null_mut()) };
        });
        let sessions = &self.session.runtime.inner.sessions;
        sessions.set(sessions.get().saturating_sub(1));
    }
}

impl std::fmt::Debug for EcmaScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcmaScript")
            .field("document", &self.session.document.source_name)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Reads and empties `__orca_effects` (see [`Prelude`]).
    fn take_effects(&mut self, ctx: RawCtx) -> Vec<ScriptEffect> {
        let global = js::global(ctx);
        let Some(array) = js::get(ctx, global.raw(), "__orca_effects") else {
            return Vec::new();
        };
        if convert::length(ctx, array.raw()).unwrap_or(0) == 0 {
            return Vec::new();
        }
        let data = convert::from_js(ctx, &self.host, array.raw()).unwrap_or(Data::Undefined);
        // `length` stays writable (flags 0 would freeze it, and every later
        // `push` of the prelude would throw).
        js::define(
            ctx,
            array.raw(),
            "length",
            js::new_number(0.0),
            qjs::JS_PROP_WRITABLE as i32,
        );
        let Data::Array(items) = data else {
            return Vec::new();
        };
        let text = |d: Option<&Data>| match d {
            Some(Data::String(s)) => Some(s.clone()),
            Some(Data::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        items
            .into_iter()
            .filter_map(|item| {
                let Data::Object(fields) = item else {
                    return None;
                };
                let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v);
                if let Some(name) = text(field("raise")) {
                    Some(ScriptEffect::Raise {
                        name,
                        data: field("data").cloned().unwrap_or(Data::Undefined),
                    })
                } else {
                    field("log").map(|value| ScriptEffect::Log {
                        label: text(field("label")),
                        value: value.clone(),
                        level: text(field("level")),
                    })
                }
            })
            .collect()
    }

    fn bind_system(&mut self, ctx: RawCtx, system: &SystemVariables) -> Result<(), DataModelError> {
        let global = js::global(ctx);
        let name = match &system.name {
            Some(name) => js::new_string(ctx, name),
            None => js::UNDEFINED,
        };
        // SAFETY: new empty objects.
        let ioprocessors = Owned::new(ctx, unsafe { qjs::JS_NewObject(ctx) });
        let x = Owned::new(ctx, unsafe { qjs::JS_NewObject(ctx) });
        let (Some(ioprocessors), Some(x)) = (ioprocessors, x) else {
            return Err(self.exception(ctx, None));
        };
        let mut ok = true;
        for (kind, location) in &system.ioprocessors {
            // SAFETY: a new empty object.
            let Some(entry) = Owned::new(ctx, unsafe { qjs::JS_NewObject(ctx) }) else {
                return Err(self.exception(ctx, None));
            };
            ok =
                ok && js::define(
                    ctx,
                    entry.raw(),
                    "location",
                    js::new_string(ctx, location),
                    js::READ_ONLY_FLAGS,
                ) && js::define(
                    ctx,
                    ioprocessors.raw(),
                    kind,
                    entry.into_raw(),
                    js::READ_ONLY_FLAGS,
                );
        }
        ok =
            ok && js::define(
                ctx,
                global.raw(),
                "_sessionid",
                js::new_string(ctx, &system.session_id),
                js::READ_ONLY_FLAGS,
            ) && js::define(ctx, global.raw(), "_name", name, js::READ_ONLY_FLAGS)
                && js::define(
                    ctx,
                    global.raw(),
                    "_ioprocessors",
                    ioprocessors.into_raw(),
                    js::READ_ONLY_FLAGS,
                )
                && js::define(ctx, global.raw(), "_x", x.into_raw(), js::READ_ONLY_FLAGS)
                && host::install_in_and_event(ctx);
        if ok {
            Ok(())
        } else {
            Err(self.exception(ctx, None))
        }
    }

    fn declare(
        &mut self,
        ctx: RawCtx,
        id: &str,
        value: DeclareValue<'_>,
    ) -> Result<(), DataModelError> {
        if is_system_variable(id) {
            return Err(DataModelError::InvalidLocation(format!(
                "{id} is a read-only system variable"
            )));
        }
        let global = js::global(ctx);
        // §5.3: the variable exists even when its value fails (test 277).
        if !js::define(ctx, global.raw(), id, js::UNDEFINED, js::VAR_FLAGS) {
            return Err(self.exception(ctx, None));
        }
        let value = match value {
            DeclareValue::Undefined => return Ok(()),
            DeclareValue::Expr(code) => self.run(ctx, code)?,
            DeclareValue::Data(data) => self.data_to_js(ctx, data)?,
        };
        if js::define(ctx, global.raw(), id, value.into_raw(), js::VAR_FLAGS) {
            Ok(())
        } else {
            Err(self.exception(ctx, None))
        }
    }

    fn foreach_begin(&mut self, ctx: RawCtx, array: CodeId) -> Result<usize, DataModelError> {
        let v = self.run(ctx, array)?;
        // SAFETY: type test.
        if !unsafe { qjs::JS_IsArray(v.raw()) } {
            // C.2: `array` must be an ECMAScript array (test 457).
            return Err(DataModelError::Type(format!(
                "<foreach> array `{}` is not an array",
                self.code_text(array).unwrap_or_default()
            )));
        }
        let Some(len) = convert::length(ctx, v.raw()) else {
            return Err(self.exception(ctx, Some(array)));
        };
        // §4.6: iterate a shallow copy, so the body may change the array (test 460).
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            // SAFETY: indexed read.
            let item = unsafe { qjs::JS_GetPropertyUint32(ctx, v.raw(), i) };
            if js::is_exception(item) {
                for v in items {
                    // SAFETY: owned references.
                    unsafe { qjs::JS_FreeValue(ctx, v) };
                }
                return Err(self.exception(ctx, Some(array)));
            }
            items.push(item);
        }
        // SAFETY: takes ownership of the items; `len` came from a u32 below 2^31
        // items in practice (an array that large cannot be copied anyway).
        let copy = unsafe { qjs::JS_NewArrayFrom(ctx, len as i32, items.as_ptr()) };
        let Some(copy) = Owned::new(ctx, copy) else {
            return Err(self.exception(ctx, Some(array)));
        };
        self.foreach.push(copy.into_raw());
        Ok(len as usize)
    }

    fn foreach_bind(
        &mut self,
        ctx: RawCtx,
        item: CodeId,
        index: Option<CodeId>,
        i: usize,
    ) -> Result<(), DataModelError> {
        let Some(&copy) = self.foreach.last() else {
            return Err(DataModelError::Type(
                "foreach_bind outside <foreach>".into(),
            ));
        };
        let Ok(i32_index) = u32::try_from(i) else {
            return Err(DataModelError::Type("<foreach> index out of range".into()));
        };
        // SAFETY: indexed read of our own copy.
        let value = Owned::new(ctx, unsafe {
            qjs::JS_GetPropertyUint32(ctx, copy, i32_index)
        })
        .ok_or_else(|| self.exception(ctx, Some(item)))?;
        self.bind_variable(ctx, item, value)?;
        if let Some(index) = index {
            let n = Owned::new(ctx, js::new_number(i as f64))
                .ok_or_else(|| self.exception(ctx, Some(index)))?;
            self.bind_variable(ctx, index, n)?;
        }
        Ok(())
    }

    /// Assigns a `<foreach>` item or index, declaring a plain name first if it
    /// does not exist yet (§4.6).
    fn bind_variable(
        &mut self,
        ctx: RawCtx,
        location: CodeId,
        value: Owned,
    ) -> Result<(), DataModelError> {
        let text = self.code_text(location)?.trim().to_owned();
        if is_system_variable(&text) {
            return Err(DataModelError::InvalidLocation(format!(
                "{text} is a read-only system variable"
            )));
        }
        // Compile first: an illegal location must not declare anything.
        self.setter(ctx, location)?;
        if is_identifier(&text) {
            let global = js::global(ctx);
            let atom = js::atom(ctx, &text);
            // SAFETY: property lookup on the global object.
            let exists = unsafe { qjs::JS_HasProperty(ctx, global.raw(), atom) };
            js::free_atom(ctx, atom);
            if exists == 0 && !js::define(ctx, global.raw(), &text, js::UNDEFINED, js::VAR_FLAGS) {
                return Err(self.exception(ctx, Some(location)));
            }
        }
        self.store(ctx, location, value)
    }

    /// Writes `value` to a location through its compiled setter.
    fn store(&mut self, ctx: RawCtx, location: CodeId, value: Owned) -> Result<(), DataModelError> {
        let setter = self.setter(ctx, location)?;
        let mut args = [value.raw()];
        self.arm_budget();
        // SAFETY: calling our setter with one borrowed argument.
        let result = unsafe { qjs::JS_Call(ctx, setter, js::UNDEFINED, 1, args.as_mut_ptr()) };
        match Owned::new(ctx, result) {
            Some(_) => Ok(()),
            None => Err(match self.exception(ctx, Some(location)) {
                DataModelError::Script(message) => DataModelError::InvalidLocation(message),
                other => other,
            }),
        }
    }

    /// Runs a piece of code for its value: calls an expression's function or
    /// evaluates a script's bytecode.
    fn run(&mut self, ctx: RawCtx, code: CodeId) -> Result<Owned, DataModelError> {
        let f = self.compiled(ctx, code)?;
        self.arm_budget();
        let result = if js::tag(f) == qjs::JS_TAG_FUNCTION_BYTECODE {
            // SAFETY: JS_EvalFunction consumes a reference, so give it a new one.
            unsafe { qjs::JS_EvalFunction(ctx, qjs::JS_DupValue(ctx, f)) }
        } else {
            // SAFETY: calling a cached function with no arguments.
            unsafe { qjs::JS_Call(ctx, f, js::UNDEFINED, 0, std::ptr::null_mut()) }
        };
        Owned::new(ctx, result).ok_or_else(|| self.exception(ctx, Some(code)))
    }

    /// Tells the runtime's interrupt handler this session's deadline.
    fn arm_budget(&mut self) {
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.budget);
        let budget = &self.runtime.inner.budget;
        budget.deadline.set(Some(deadline));
        budget.interrupted.set(false);
    }

    /// The cached function (or bytecode) that reads `code`, compiling it on first use.
    fn compiled(&mut self, ctx: RawCtx, code: CodeId) -> Result<qjs::JSValue, DataModelError> {
        match self.read.get(code.index()) {
            Some(Compiled::Ready(f)) => return Ok(*f),
            Some(Compiled::Failed(e)) => return Err(e.clone()),
            Some(Compiled::Pending) => {}
            None => return Err(unknown_code(code)),
        }
        let document = Arc::clone(&self.document);
        let source = &document.code[code.index()];
        let result = match source.kind {
            CodeKind::Expression | CodeKind::Location => {
                // Authors (W3C test 452, Composer) end expressions with `;`.
                let text = source.text.trim_end().trim_end_matches(';');
                let wrapped = format!("(function(){{return ({text}\n);}})");
                self.compile(ctx, code, &wrapped, Slot::Read)
            }
            // A script that declares nothing behaves the same inside a
            // function, and a function call is much cheaper than evaluating
            // global code (which instantiates its bytecode every time).
            CodeKind::Script if !may_declare_globals(&source.text) => {
                let wrapped = format!("(function(){{{}\n}})", source.text);
                self.compile(ctx, code, &wrapped, Slot::Read)
            }
            CodeKind::Script => self.compile(ctx, code, &source.text, Slot::Script),
        };
        self.read[code.index()] = match &result {
            Ok(f) => Compiled::Ready(*f),
            Err(e) => Compiled::Failed(e.clone()),
        };
        result
    }

    /// The cached setter of a location, compiling it on first use.
    fn setter(&mut self, ctx: RawCtx, location: CodeId) -> Result<qjs::JSValue, DataModelError> {
        if self.write.is_empty() {
            self.write = std::iter::repeat_with(|| Compiled::Pending)
                .take(self.read.len())
                .collect();
        }
        match self.write.get(location.index()) {
            Some(Compiled::Ready(f)) => return Ok(*f),
            Some(Compiled::Failed(e)) => return Err(e.clone()),
            Some(Compiled::Pending) => {}
            None => return Err(unknown_code(location)),
        }
        let document = Arc::clone(&self.document);
        let text = &document.code[location.index()].text;
        // Strict mode: assigning an undeclared name or a read-only property throws.
        // A named parameter rather than `arguments[0]`: building the
        // `arguments` object on every call would double the cost of `<assign>`.
        let wrapped = format!("(function($orca$value){{'use strict';({text}\n)=$orca$value;}})");
        let result = self
            .compile(ctx, location, &wrapped, Slot::Write)
            .map_err(|e| match e {
                DataModelError::Script(message) => DataModelError::InvalidLocation(message),
                other => other,
            });
        self.write[location.index()] = match &result {
            Ok(f) => Compiled::Ready(*f),
            Err(e) => Compiled::Failed(e.clone()),
        };
        result
    }

    /// Compiles `source` for `slot`: a script to global bytecode, an
    /// expression or setter wrapper to the function it evaluates to.
    ///
    /// The first session of a runtime to compile a piece of code keeps its
    /// bytecode, serialized, in the runtime; the others load it from there
    /// instead of parsing again (bytecode is tied to the context it was made
    /// in, so it cannot be shared as a value).
    fn compile(
        &mut self,
        ctx: RawCtx,
        code: CodeId,
        source: &str,
        slot: Slot,
    ) -> Result<qjs::JSValue, DataModelError> {
        if !self.clock_installed
            && ["Date", "Math", "random"]
                .iter()
                .any(|w| source.contains(w))
        {
            // Code can reach them only by naming them (short of building the
            // name at run time, which we accept to miss).
            if !host::install_clock_and_random(ctx, &self.host) {
                return Err(self.exception(ctx, Some(code)));
            }
            self.clock_installed = true;
        }
        if let Some(prelude) = &self.prelude {
            if prelude.triggers.iter().any(|w| source.contains(w.as_str()))
                && !self.install_prelude(ctx)
            {
                return Err(self.exception(ctx, Some(code)));
            }
        }
        if slot == Slot::Script && !self.lexical_globals && declares_lexical(source) {
            self.lexical_globals = true;
        }
        self.arm_budget();
        let cached = self.runtime.bytecode(&self.document, code, slot);
        let bytecode = match cached {
            // SAFETY: bytes written by JS_WriteObject of this QuickJS build.
            Some(bytes) => unsafe {
                qjs::JS_ReadObject(
                    ctx,
                    bytes.as_ptr(),
                    bytes.len() as _,
                    qjs::JS_READ_OBJ_BYTECODE as i32,
                )
            },
            None => {
                // QuickJS needs a NUL terminator after the source.
                let mut text = Vec::with_capacity(source.len() + 1);
                text.extend_from_slice(source.as_bytes());
                text.push(0);
                // SAFETY: `text` is NUL-terminated and the length excludes the NUL.
                let bytecode = unsafe {
                    qjs::JS_Eval(
                        ctx,
                        text.as_ptr().cast(),
                        source.len() as _,
                        c"<scxml>".as_ptr(),
                        (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32,
                    )
                };
                if !js::is_exception(bytecode) {
                    let mut len: qjs::size_t = 0;
                    // SAFETY: serializing a bytecode function; the buffer is
                    // copied and then released with js_free.
                    unsafe {
                        let ptr = qjs::JS_WriteObject(
                            ctx,
                            &mut len,
                            bytecode,
                            qjs::JS_WRITE_OBJ_BYTECODE as i32,
                        );
                        if ptr.is_null() {
                            // Not cached; the compiled value is still good.
                            drop(js::take_exception(ctx));
                        } else {
                            let bytes = std::slice::from_raw_parts(ptr, len as usize).into();
                            qjs::js_free(ctx, ptr.cast());
                            self.runtime
                                .keep_bytecode(&self.document, code, slot, bytes);
                        }
                    }
                }
                bytecode
            }
        };
        let Some(bytecode) = Owned::new(ctx, bytecode) else {
            return Err(self.exception(ctx, Some(code)));
        };
        if slot == Slot::Script {
            return Ok(bytecode.into_raw());
        }
        // SAFETY: runs the wrapper's global code, which evaluates to the
        // function; JS_EvalFunction consumes the bytecode reference.
        let function = unsafe { qjs::JS_EvalFunction(ctx, bytecode.into_raw()) };
        match Owned::new(ctx, function) {
            Some(f) => Ok(f.into_raw()),
            None => Err(self.exception(ctx, Some(code))),
        }
    }

    /// Evaluates the dialect prelude (and the clock it may read); false
    /// with the exception pending if it threw.
    fn install_prelude(&mut self, ctx: RawCtx) -> bool {
        let Some(prelude) = self.prelude.take() else {
            return true;
        };
        // The prelude may read the clock (`dayInZone`).
        if !self.clock_installed {
            if !host::install_clock_and_random(ctx, &self.host) {
                return false;
            }
            self.clock_installed = true;
        }
        let before = snapshot::global_names(ctx).unwrap_or_default();
        let mut text = Vec::with_capacity(prelude.source.len() + 1);
        text.extend_from_slice(prelude.source.as_bytes());
        text.push(0);
        // SAFETY: `text` is NUL-terminated and the length excludes the NUL.
        let result = Owned::new(ctx, unsafe {
            qjs::JS_Eval(
                ctx,
                text.as_ptr().cast(),
                prelude.source.len() as _,
                c"<prelude>".as_ptr(),
                qjs::JS_EVAL_TYPE_GLOBAL as i32,
            )
        });
        if result.is_none() {
            return false;
        }
        self.prelude_globals = snapshot::global_names(ctx)
            .unwrap_or_default()
            .into_iter()
            .filter(|name| !before.contains(name))
            .collect();
        self.prelude_installed = true;
        true
    }

    fn data_to_js(&mut self, ctx: RawCtx, data: &Data) -> Result<Owned, DataModelError> {
        convert::to_js(ctx, &self.host, data).ok_or_else(|| self.exception(ctx, None))
    }

    fn value_to_data(
        &mut self,
        ctx: RawCtx,
        v: qjs::JSValue,
        code: Option<CodeId>,
    ) -> Result<Data, DataModelError> {
        self.arm_budget();
        match convert::from_js(ctx, &self.host, v) {
            Ok(data) => Ok(data),
            Err(Conversion::Invalid(e)) => Err(e),
            Err(Conversion::Exception) => Err(self.exception(ctx, code)),
        }
    }

    /// Takes the pending exception and classifies it.
    fn exception(&self, ctx: RawCtx, code: Option<CodeId>) -> DataModelError {
        let exception = js::take_exception(ctx);
        if self.runtime.inner.budget.interrupted.replace(false) {
            return DataModelError::Interrupted {
                budget_ms: u64::try_from(self.budget.as_millis()).unwrap_or(u64::MAX),
            };
        }
        let Some(message) = js::to_string(ctx, exception.raw()) else {
            // Even the message could not be made: the heap is exhausted.
            drop(js::take_exception(ctx));
            return DataModelError::OutOfMemory;
        };
        if message == "InternalError: out of memory" {
            return DataModelError::OutOfMemory;
        }
        // When even the error object cannot be allocated QuickJS throws `null`
        // instead; tell that apart from a script's `throw null` by how full
        // the heap is (measuring walks the heap, but only on this rare path).
        // SAFETY: reading a tag.
        if unsafe { qjs::JS_IsNull(exception.raw()) } && self.runtime.is_nearly_full() {
            return DataModelError::OutOfMemory;
        }
        match code.and_then(|c| self.document.code.get(c.index())) {
            Some(source) => DataModelError::Script(format!(
                "{message} (in `{}` at {})",
                snippet(&source.text),
                source.location
            )),
            None => DataModelError::Script(message),
        }
    }

    fn code_text(&self, code: CodeId) -> Result<&str, DataModelError> {
        self.document
            .code
            .get(code.index())
            .map(|c| c.text.as_str())
            .ok_or_else(|| unknown_code(code))
    }
}

fn unknown_code(code: CodeId) -> DataModelError {
    DataModelError::Script(format!("no code with id {} in this document", code.0))
}

fn is_system_variable(name: &str) -> bool {
    SYSTEM_VARIABLES.contains(&name)
}

/// A plain ECMAScript identifier (ASCII subset; anything else goes through the setter only).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// The start of a piece of code, for error messages.
fn snippet(text: &str) -> String {
    const MAX: usize = 60;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Whether a script may create global bindings (or otherwise depend on
/// running as global code): it contains a declaration keyword or `eval`
/// anywhere, even in a string or comment. Conservative by design: a false
/// positive only costs speed.
fn may_declare_globals(text: &str) -> bool {
    const WORDS: [&str; 6] = ["var", "let", "const", "function", "class", "eval"];
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    WORDS.iter().any(|word| {
        text.match_indices(word).any(|(at, _)| {
            let end = at + word.len();
            (at == 0 || !is_word(bytes[at - 1])) && (end == bytes.len() || !is_word(bytes[end]))
        })
    })
}

/// Whether a script, run as global code, may declare global lexical
/// bindings: it contains `let`, `const` or `class` as a word anywhere.
/// Conservative like [`may_declare_globals`].
fn declares_lexical(text: &str) -> bool {
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    ["let", "const", "class"].iter().any(|word| {
        text.match_indices(word).any(|(at, _)| {
            let end = at + word.len();
            (at == 0 || !is_word(bytes[at - 1])) && (end == bytes.len() || !is_word(bytes[end]))
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::document::StateId;
    use crate::document::{Code, Location, State, StateKind};
    use crate::event::EventKind;

    /// A document whose code is `sources` (ids 0..n in order) and whose
    /// states are the root plus atomic `s1` and `s2`.
    fn document(sources: &[(&str, CodeKind)]) -> Arc<Document> {
        let state = |id: &str, parent: Option<StateId>, n: u32| State {
            id: id.to_owned(),
            kind: if parent.is_none() {
                StateKind::Compound
            } else {
                StateKind::Atomic
            },
            parent,
            depth: u32::from(parent.is_some()),
            children: if parent.is_none() {
                vec![StateId(1), StateId(2)]
            } else {
                Vec::new()
            },
            descendants_end: StateId(if parent.is_none() { 3 } else { n + 1 }),
            initial: None,
            transitions: Vec::new(),
            onentry: Vec::new(),
            onexit: Vec::new(),
            invokes: Vec::new(),
            data: Vec::new(),
            donedata: None,
            has_eventless: false,
            location: Location::default(),
        };
        let states = vec![
            state("__root", None, 0),
            state("s1", Some(StateId::ROOT), 1),
            state("s2", Some(StateId::ROOT), 2),
        ];
        let state_ids: HashMap<String, StateId> = states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), StateId(i as u32)))
            .collect();
        Arc::new(Document {
            name: Some("test".into()),
            datamodel: "ecmascript".into(),
            late_binding: false,
            source_name: "test.scxml".into(),
            states,
            transitions: Vec::new(),
            code: sources
                .iter()
                .map(|(text, kind)| Code {
                    text: (*text).to_owned(),
                    kind: *kind,
                    location: Location { line: 1, column: 1 },
                })
                .collect(),
            script: None,
            state_ids,
            descriptors: Vec::new(),
            uses_in: true,
            has_eventless: false,
        })
    }

    fn system() -> SystemVariables {
        SystemVariables {
            session_id: "session-1".into(),
            name: Some("machine".into()),
            ioprocessors: vec![("scxml".into(), "#_scxml_session-1".into())],
        }
    }

    /// A bound session on its own runtime, at macrostep time 1,000,000 ms.
    fn session_with(sources: &[(&str, CodeKind)], options: &EcmaScriptOptions) -> EcmaScript {
        let runtime = JsRuntime::new(options).unwrap();
        let mut model = EcmaScript::new(&runtime, document(sources), options).unwrap();
        model.bind_system(&system()).unwrap();
        model.begin_macrostep(Timestamp::from_millis(1_000_000));
        model
    }

    fn session(sources: &[(&str, CodeKind)]) -> EcmaScript {
        session_with(sources, &EcmaScriptOptions::default())
    }

    use CodeKind::{Expression as E, Location as L, Script as S};

    fn truthy(model: &mut EcmaScript, code: u32) -> bool {
        model.evaluate_bool(CodeId(code)).unwrap()
    }

    #[test]
    fn expressions_evaluate_and_are_compiled_once() {
        let mut m = session(&[("1 + 2", E), ("[1, 'a'] // a comment", E), ("0", E)]);
        assert!(matches!(m.session.read[0], Compiled::Pending));
        assert_eq!(m.evaluate(CodeId(0)).unwrap(), Data::Number(3.0));
        let Compiled::Ready(first) = m.session.read[0] else {
            panic!("not cached")
        };
        assert_eq!(m.evaluate(CodeId(0)).unwrap(), Data::Number(3.0));
        let Compiled::Ready(second) = m.session.read[0] else {
            panic!("not cached")
        };
        // SAFETY (test): comparing object pointers of the cached function.
        assert_eq!(unsafe { qjs::JS_VALUE_GET_PTR(first) }, unsafe {
            qjs::JS_VALUE_GET_PTR(second)
        });
        assert_eq!(m.evaluate_string(CodeId(1)).unwrap(), "1,a");
        assert!(!m.evaluate_bool(CodeId(2)).unwrap());
        assert!(matches!(m.session.read[2], Compiled::Ready(_)));
    }

    #[test]
    fn a_statement_is_not_an_expression_and_the_failure_is_cached() {
        let mut m = session(&[("return", E), ("1 +", E), ("undefinedName", E)]);
        for _ in 0..2 {
            assert!(matches!(
                m.evaluate(CodeId(0)),
                Err(DataModelError::Script(_))
            ));
        }
        assert!(matches!(m.session.read[0], Compiled::Failed(_)));
        assert!(matches!(
            m.evaluate_bool(CodeId(1)),
            Err(DataModelError::Script(_))
        ));
        let Err(DataModelError::Script(message)) = m.evaluate(CodeId(2)) else {
            panic!()
        };
        assert!(message.contains("ReferenceError"), "{message}");
        assert!(message.contains("undefinedName"), "{message}");
    }

    #[test]
    fn scripts_run_as_global_code() {
        let mut m = session(&[
            ("var x = 40; function plus2(n) { return n + 2; }", S),
            ("plus2(x)", E),
        ]);
        m.execute(CodeId(0)).unwrap();
        assert_eq!(m.evaluate(CodeId(1)).unwrap(), Data::Number(42.0));
        // A script can run again (it is cached as bytecode, not consumed).
        m.execute(CodeId(0)).unwrap();
        assert_eq!(m.evaluate(CodeId(1)).unwrap(), Data::Number(42.0));
    }

    #[test]
    fn declare_and_assign_follow_section_5_4() {
        let mut m = session(&[
            ("undeclared", L),
            ("a.b", L),
            ("a.list[1]", L),
            ("'literal'", L),
            ("5", E),
            ("a.b + a.list[1]", E),
            ("return", E),
            ("typeof v === 'undefined'", E),
            ("v", L),
            ("v", E),
        ]);
        assert!(matches!(
            m.assign(CodeId(0), AssignFrom::Expr(CodeId(4))),
            Err(DataModelError::InvalidLocation(_))
        ));
        let a = Data::Object(vec![
            ("b".into(), Data::Null),
            ("list".into(), Data::Array(vec![Data::Null; 2])),
        ]);
        m.declare("a", DeclareValue::Data(&a)).unwrap();
        m.assign(CodeId(1), AssignFrom::Expr(CodeId(4))).unwrap();
        m.assign(CodeId(2), AssignFrom::Data(&Data::Number(2.0)))
            .unwrap();
        assert_eq!(m.evaluate(CodeId(5)).unwrap(), Data::Number(7.0));
        assert!(matches!(
            m.assign(CodeId(3), AssignFrom::Expr(CodeId(4))),
            Err(DataModelError::InvalidLocation(_))
        ));
        // A failing initial value still declares the variable (test 277).
        assert!(m.declare("v", DeclareValue::Expr(CodeId(6))).is_err());
        assert!(truthy(&mut m, 7));
        m.assign(CodeId(8), AssignFrom::Expr(CodeId(4))).unwrap();
        assert_eq!(m.evaluate(CodeId(9)).unwrap(), Data::Number(5.0));
        // An invalid right-hand side leaves the location unchanged (test 487).
        assert!(m.assign(CodeId(8), AssignFrom::Expr(CodeId(6))).is_err());
        assert_eq!(m.evaluate(CodeId(9)).unwrap(), Data::Number(5.0));
    }

    #[test]
    fn system_variables_are_bound_and_read_only() {
        let mut m = session(&[
            ("_sessionid", L),
            ("_event", L),
            ("'x'", E),
            ("_sessionid = 'x'; _name = 'x'; _ioprocessors = 1; _event = 2; _x = 3; var _sessionid = 4;", S),
            (
                "_sessionid === 'session-1' && _name === 'machine' && _ioprocessors.scxml.location === '#_scxml_session-1' \
                 && typeof _x === 'object' && Object.keys(_x).length === 0 && _event === undefined",
                E,
            ),
            ("_ioprocessors.scxml", L),
            ("_sessionid", E),
        ]);
        assert!(truthy(&mut m, 4));
        for location in [0, 1] {
            assert!(matches!(
                m.assign(CodeId(location), AssignFrom::Expr(CodeId(2))),
                Err(DataModelError::InvalidLocation(_))
            ));
        }
        assert!(matches!(
            m.declare("_name", DeclareValue::Undefined),
            Err(DataModelError::InvalidLocation(_))
        ));
        m.execute(CodeId(3)).unwrap();
        assert!(truthy(&mut m, 4));
        // Nested properties of system variables are read-only too.
        assert!(m.assign(CodeId(5), AssignFrom::Expr(CodeId(2))).is_err());
        assert_eq!(m.evaluate(CodeId(6)).unwrap(), Data::from("session-1"));
    }

    #[test]
    fn in_reads_the_configuration() {
        let mut m = session(&[("In('s1')", E), ("In('s2')", E), ("In('nowhere')", E)]);
        assert!(!truthy(&mut m, 0));
        m.set_configuration(&[1 << 1]);
        assert!(truthy(&mut m, 0));
        assert!(!truthy(&mut m, 1));
        assert!(!truthy(&mut m, 2));
        m.set_configuration(&[1 << 2]);
        assert!(!truthy(&mut m, 0));
        assert!(truthy(&mut m, 1));
    }

    #[test]
    fn event_has_every_field_and_stays_the_same_object() {
        let mut m = session(&[
            ("typeof _event === 'undefined'", E),
            (
                "['name','type','sendid','origin','origintype','invokeid','data'].every(k => k in _event)",
                E,
            ),
            ("_event.name + ' ' + _event.type + ' ' + _event.sendid + ' ' + _event.origin + ' ' + _event.invokeid", E),
            ("_event.data.b.c[1]", E),
            ("saved", L),
            ("_event", E),
            ("saved === _event", E),
            ("(_event.name = 'changed', _event.name)", E),
            ("_event.data", E),
        ]);
        assert!(truthy(&mut m, 0));
        let data = Data::Object(vec![
            ("a".into(), Data::Number(1.0)),
            (
                "b".into(),
                Data::Object(vec![(
                    "c".into(),
                    Data::Array(vec![Data::Null, Data::from("x")]),
                )]),
            ),
        ]);
        let event = Event {
            name: "foo.bar".into(),
            kind: EventKind::External,
            sendid: Some("s-1".into()),
            origin: None,
            origintype: None,
            invokeid: Some("inv".into()),
            data: data.clone(),
            raw: None,
        };
        m.set_event(&event);
        assert!(truthy(&mut m, 1));
        assert_eq!(
            m.evaluate_string(CodeId(2)).unwrap(),
            "foo.bar external s-1 undefined inv"
        );
        assert_eq!(m.evaluate(CodeId(3)).unwrap(), Data::from("x"));
        m.declare("saved", DeclareValue::Undefined).unwrap();
        m.assign(CodeId(4), AssignFrom::Expr(CodeId(5))).unwrap();
        assert!(truthy(&mut m, 6));
        assert_eq!(m.evaluate_string(CodeId(7)).unwrap(), "foo.bar");
        assert_eq!(m.evaluate(CodeId(8)).unwrap(), data);
        // The next event is a new object.
        m.set_event(&Event::platform("error.execution", Data::Undefined));
        assert!(!truthy(&mut m, 6));
        assert_eq!(
            m.evaluate_string(CodeId(2)).unwrap(),
            "error.execution platform undefined undefined undefined"
        );
    }

    #[test]
    fn data_round_trips_and_non_data_becomes_undefined() {
        let mut m = session(&[
            ("v", E),
            (
                "({f: function() {}, s: Symbol('x'), n: -0.5, i: 7, u: undefined, d: new Date(0)})",
                E,
            ),
            ("(function() { var o = {}; o.self = o; return o; })()", E),
            ("JSON.stringify(v)", E),
        ]);
        let value = Data::Object(vec![
            ("z".into(), Data::Number(1.5)),
            (
                "a".into(),
                Data::Array(vec![
                    Data::Bool(true),
                    Data::Null,
                    Data::Undefined,
                    Data::from("s"),
                ]),
            ),
            (
                "m".into(),
                Data::Object(vec![("k".into(), Data::Number(-3.0))]),
            ),
        ]);
        m.declare("v", DeclareValue::Data(&value)).unwrap();
        assert_eq!(m.evaluate(CodeId(0)).unwrap(), value);
        assert_eq!(
            m.evaluate_string(CodeId(3)).unwrap(),
            r#"{"z":1.5,"a":[true,null,null,"s"],"m":{"k":-3}}"#
        );
        assert_eq!(
            m.evaluate(CodeId(1)).unwrap(),
            Data::Object(vec![
                ("f".into(), Data::Undefined),
                ("s".into(), Data::Undefined),
                ("n".into(), Data::Number(-0.5)),
                ("i".into(), Data::Number(7.0)),
                ("u".into(), Data::Undefined),
                ("d".into(), Data::from("1970-01-01T00:00:00.000Z")),
            ])
        );
        assert!(matches!(
            m.evaluate(CodeId(2)),
            Err(DataModelError::Type(_))
        ));
    }

    #[test]
    fn xml_becomes_a_dom_and_back() {
        let mut m = session(&[
            (
                "var1.getElementsByTagName('book')[1].getAttribute('title')",
                E,
            ),
            (
                "var1.documentElement.firstElementChild.nextSibling.nextSibling.tagName",
                E,
            ),
            ("var1.documentElement.textContent.trim()", E),
            ("var1.getElementsByTagName('book')[0]", E),
            ("var1", E),
            ("_event.data.getElementsByTagName('item').length", E),
        ]);
        let xml = "<?xml version=\"1.0\"?>\n<books xmlns=\"\">\n  <book title=\"title1\"/>\n  <book title=\"title2\">text &amp; more</book>\n</books>";
        m.declare("var1", DeclareValue::Data(&Data::Xml(xml.into())))
            .unwrap();
        assert_eq!(m.evaluate_string(CodeId(0)).unwrap(), "title2");
        assert_eq!(m.evaluate_string(CodeId(1)).unwrap(), "book");
        assert_eq!(m.evaluate_string(CodeId(2)).unwrap(), "text & more");
        assert_eq!(
            m.evaluate(CodeId(3)).unwrap(),
            Data::Xml("<book title=\"title1\"/>".into())
        );
        let Data::Xml(whole) = m.evaluate(CodeId(4)).unwrap() else {
            panic!("not XML")
        };
        assert!(
            whole.starts_with("<books>") && whole.contains("text &amp; more"),
            "{whole}"
        );
        m.set_event(&Event::external(
            "x",
            Data::Xml("<list><item/><item/></list>".into()),
        ));
        assert_eq!(m.evaluate(CodeId(5)).unwrap(), Data::Number(2.0));
    }

    #[test]
    fn time_and_randomness_are_injected() {
        let sources = [
            ("Date.now() === 1000000 && new Date().getTime() === 1000000 && new Date() instanceof Date", E),
            ("new Date(5).getTime() === 5 && typeof Date() === 'string' && Date.UTC(1970, 0, 1) === 0", E),
            ("[Math.random(), Math.random()]", E),
            ("Date.now()", E),
        ];
        let mut a = session(&sources);
        assert!(truthy(&mut a, 0));
        assert!(truthy(&mut a, 1));
        a.begin_macrostep(Timestamp::from_millis(2_000));
        assert_eq!(a.evaluate(CodeId(3)).unwrap(), Data::Number(2000.0));
        let mut b = session(&sources);
        let ra = a.evaluate(CodeId(2)).unwrap();
        assert_eq!(ra, b.evaluate(CodeId(2)).unwrap());
        let Data::Array(values) = &ra else { panic!() };
        assert_ne!(values[0], values[1]);
        assert!(values
            .iter()
            .all(|v| matches!(v, Data::Number(n) if (0.0..1.0).contains(n))));
        let other = EcmaScriptOptions {
            random_seed: 7,
            ..EcmaScriptOptions::default()
        };
        let mut c = session_with(&sources, &other);
        assert_ne!(ra, c.evaluate(CodeId(2)).unwrap());
    }

    #[test]
    fn a_runaway_script_is_interrupted_and_the_session_goes_on() {
        let options = EcmaScriptOptions {
            script_budget: Duration::from_millis(20),
            ..EcmaScriptOptions::default()
        };
        let mut m = session_with(
            &[
                ("for (;;) {}", S),
                ("1 + 1", E),
                ("try { for (;;) {} } catch (e) {} 'caught'", S),
            ],
            &options,
        );
        assert_eq!(
            m.execute(CodeId(0)),
            Err(DataModelError::Interrupted { budget_ms: 20 })
        );
        // The uncatchable interrupt also stops a script that tries to catch it.
        m.begin_macrostep(Timestamp::from_millis(1));
        assert_eq!(
            m.execute(CodeId(2)),
            Err(DataModelError::Interrupted { budget_ms: 20 })
        );
        m.begin_macrostep(Timestamp::from_millis(2));
        assert_eq!(m.evaluate(CodeId(1)).unwrap(), Data::Number(2.0));
    }

    #[test]
    fn running_out_of_memory_is_reported_and_the_session_goes_on() {
        let options = EcmaScriptOptions {
            memory_limit: 16 << 20,
            ..EcmaScriptOptions::default()
        };
        let mut m = session_with(
            &[
                ("(function() { var a = []; for (;;) a.push(new Array(10000).fill(a.length)); })()", S),
                ("[1, 2, 3].map(x => x * 2).join()", E),
                ("(function f(n) { return f(n + 1); })(0)", E),
            ],
            &options,
        );
        assert_eq!(m.execute(CodeId(0)), Err(DataModelError::OutOfMemory));
        assert_eq!(m.evaluate_string(CodeId(1)).unwrap(), "2,4,6");
        // Unbounded recursion hits the stack cap, not the process's stack.
        let Err(DataModelError::Script(message)) = m.evaluate(CodeId(2)) else {
            panic!()
        };
        assert!(message.contains("RangeError"), "{message}");
        assert_eq!(m.evaluate_string(CodeId(1)).unwrap(), "2,4,6");
    }

    #[test]
    fn foreach_iterates_a_shallow_copy_and_declares_its_variables() {
        let mut m = session(&[
            ("list", E),
            ("item", L),
            ("index", L),
            ("list.push(99)", E),
            ("[typeof item, item, index]", E),
            ("7", E),
            ("'continue'", L),
        ]);
        m.declare(
            "list",
            DeclareValue::Data(&Data::Array(vec![Data::from("a"), Data::from("b")])),
        )
        .unwrap();
        let n = m.foreach_begin(CodeId(0)).unwrap();
        assert_eq!(n, 2);
        for i in 0..n {
            m.foreach_bind(CodeId(1), Some(CodeId(2)), i).unwrap();
            m.evaluate(CodeId(3)).unwrap();
        }
        m.foreach_end();
        assert_eq!(
            m.evaluate(CodeId(4)).unwrap(),
            Data::Array(vec![
                Data::from("string"),
                Data::from("b"),
                Data::Number(1.0)
            ])
        );
        assert!(matches!(
            m.foreach_begin(CodeId(5)),
            Err(DataModelError::Type(_))
        ));
        assert_eq!(m.foreach_begin(CodeId(0)).unwrap(), 4);
        assert!(m.foreach_bind(CodeId(6), None, 0).is_err());
        m.foreach_end();
    }

    #[test]
    fn sessions_on_one_runtime_are_isolated() {
        let options = EcmaScriptOptions::default();
        let runtime = JsRuntime::new(&options).unwrap();
        let doc = document(&[
            ("var shared = 'mine'; Object.prototype.polluted = 1;", S),
            ("typeof shared + typeof ({}).polluted", E),
        ]);
        let mut a = EcmaScript::new(&runtime, Arc::clone(&doc), &options).unwrap();
        let mut b = EcmaScript::new(&runtime, doc, &options).unwrap();
        assert_eq!(runtime.sessions(), 2);
        a.bind_system(&system()).unwrap();
        b.bind_system(&system()).unwrap();
        a.execute(CodeId(0)).unwrap();
        assert_eq!(a.evaluate_string(CodeId(1)).unwrap(), "stringnumber");
        assert_eq!(b.evaluate_string(CodeId(1)).unwrap(), "undefinedundefined");
        drop(a);
        assert_eq!(runtime.sessions(), 1);
        runtime.run_gc();
        assert_eq!(b.evaluate_string(CodeId(1)).unwrap(), "undefinedundefined");
        // b loads the script a compiled (from the runtime's bytecode cache),
        // and it runs against b's own globals.
        assert!(runtime
            .bytecode(&b.session.document, CodeId(0), Slot::Script)
            .is_some());
        b.execute(CodeId(0)).unwrap();
        assert_eq!(b.evaluate_string(CodeId(1)).unwrap(), "stringnumber");
    }

    #[test]
    fn scripts_that_declare_run_as_global_code() {
        assert!(may_declare_globals("var x = 1;"));
        assert!(may_declare_globals("function f() {}"));
        assert!(may_declare_globals("x = 1; let y = 2"));
        assert!(!may_declare_globals("segments.push({ kind: 'talk' });"));
        assert!(!may_declare_globals("variable = functional + classy;"));
        let mut m = session(&[
            (
                "function twice(n) { return 2 * n; } var declared = twice(2);",
                S,
            ),
            ("declared + twice(1)", E),
            ("declared = declared * 10;", S),
            ("declared", E),
        ]);
        m.execute(CodeId(0)).unwrap();
        assert_eq!(m.evaluate(CodeId(1)).unwrap(), Data::Number(6.0));
        m.execute(CodeId(2)).unwrap();
        assert_eq!(m.evaluate(CodeId(3)).unwrap(), Data::Number(40.0));
    }
}
