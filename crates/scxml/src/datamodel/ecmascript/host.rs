//! What a session's scripts can reach of the host: `In()` (SCXML 1.0 §5.9.1),
//! the lazily built `_event` (§5.10.1), and the injected clock and random
//! numbers behind `Date` and `Math.random()` (so sessions replay exactly).
//!
//! The native functions find their session's [`Host`] through the context's
//! opaque pointer, which the session sets when it creates the context and
//! clears before it drops it; no native holds a JS value or a reference
//! count, so nothing here can keep a context alive.

use std::cell::{Cell, RefCell};
use std::ffi::c_int;
use std::sync::Arc;

use rquickjs::qjs;

use super::convert;
use super::dom::Dom;
use super::js::{self, Owned, RawCtx};
use crate::document::Document;
use crate::event::Event;

/// The per-session state the native functions read.
pub(super) struct Host {
    pub(super) document: Arc<Document>,
    /// `Date.now()` in milliseconds, from `begin_macrostep`.
    pub(super) now_ms: Cell<f64>,
    /// SplitMix64 state behind `Math.random()`.
    pub(super) rng: Cell<u64>,
    /// Active states as a bitset indexed by `StateId`, for `In()`.
    pub(super) configuration: RefCell<Vec<u64>>,
    /// `_event`, as the interpreter gave it or once built.
    pub(super) event: RefCell<EventSlot>,
    /// The engine's own `Date` constructor, which the injected one wraps (owned).
    pub(super) original_date: Cell<qjs::JSValue>,
    /// The XML DOM prelude, evaluated the first time XML meets this session.
    pub(super) dom: RefCell<Option<Dom>>,
    /// Atoms of the `_event` field names, made on the first event and held
    /// so that building `_event` looks no name up (owned).
    pub(super) event_atoms: Cell<Option<[qjs::JSAtom; EVENT_FIELDS.len()]>>,
    /// The prototype of every `_event` object: all fields, `undefined` and
    /// read-only, so an event defines as own properties only the fields it
    /// has (owned; `undefined` until the first event is built).
    pub(super) event_proto: Cell<qjs::JSValue>,
}

/// The fields of `_event` in the order they are defined (§5.10.1).
pub(super) const EVENT_FIELDS: [&str; 8] = [
    "name",
    "type",
    "sendid",
    "origin",
    "origintype",
    "invokeid",
    "data",
    "raw",
];

/// The state of `_event`. Building the object is deferred to the first read,
/// because most events are handled by transitions that never look at it.
pub(super) enum EventSlot {
    /// No event yet: `_event` is `undefined` (test 319).
    Unbound,
    /// An event not yet converted.
    Pending(Event),
    /// The object scripts see; kept so that `_event` is the same object for
    /// the whole event (test 329 compares it with a copy). Owned; the event
    /// itself is kept for snapshots.
    Ready(qjs::JSValue, Event),
}

impl Host {
    pub(super) fn new(document: Arc<Document>, seed: u64) -> Host {
        Host {
            document,
            now_ms: Cell::new(0.0),
            rng: Cell::new(seed),
            configuration: RefCell::new(Vec::new()),
            event: RefCell::new(EventSlot::Unbound),
            original_date: Cell::new(js::UNDEFINED),
            dom: RefCell::new(None),
            event_atoms: Cell::new(None),
            event_proto: Cell::new(js::UNDEFINED),
        }
    }

    /// Frees every JS value this host holds. Must run before the context is freed.
    pub(super) fn release(&self, ctx: RawCtx) {
        if let EventSlot::Ready(v, _) = self.event.replace(EventSlot::Unbound) {
            // SAFETY: the slot owned this reference.
            unsafe { qjs::JS_FreeValue(ctx, v) };
        }
        // SAFETY: owned reference (or undefined, which needs no freeing).
        unsafe { qjs::JS_FreeValue(ctx, self.original_date.replace(js::UNDEFINED)) };
        if let Some(dom) = self.dom.borrow_mut().take() {
            dom.release(ctx);
        }
        // SAFETY: owned reference (or undefined).
        unsafe { qjs::JS_FreeValue(ctx, self.event_proto.replace(js::UNDEFINED)) };
        for atom in self.event_atoms.take().into_iter().flatten() {
            js::free_atom(ctx, atom);
        }
    }

    /// The prototype of `_event` objects (borrowed), made on first use.
    pub(super) fn event_proto(&self, ctx: RawCtx) -> Option<qjs::JSValue> {
        let proto = self.event_proto.get();
        if js::tag(proto) == qjs::JS_TAG_OBJECT {
            return Some(proto);
        }
        // SAFETY: a new empty object.
        let object = js::Owned::new(ctx, unsafe { qjs::JS_NewObject(ctx) })?;
        for atom in self.event_atoms(ctx) {
            if !js::define_atom(ctx, object.raw(), atom, js::UNDEFINED, js::READ_ONLY_FLAGS) {
                return None;
            }
        }
        let raw = object.into_raw();
        self.event_proto.set(raw);
        Some(raw)
    }

    /// The atoms of [`EVENT_FIELDS`], made on first use.
    pub(super) fn event_atoms(&self, ctx: RawCtx) -> [qjs::JSAtom; EVENT_FIELDS.len()] {
        if let Some(atoms) = self.event_atoms.get() {
            return atoms;
        }
        let atoms = EVENT_FIELDS.map(|name| js::atom(ctx, name));
        self.event_atoms.set(Some(atoms));
        atoms
    }

    /// The next `Math.random()` value in [0, 1): SplitMix64, top 53 bits.
    fn next_random(&self) -> f64 {
        let state = self.rng.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.rng.set(state);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn is_active(&self, state_id: &str) -> bool {
        let Some(id) = self.document.state_by_id(state_id) else {
            return false;
        };
        let index = id.index();
        self.configuration
            .borrow()
            .get(index / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    /// The value of `_event`, building it on first use. Returns a new reference,
    /// or the exception marker.
    fn event_value(&self, ctx: RawCtx) -> qjs::JSValue {
        let mut slot = self.event.borrow_mut();
        match &*slot {
            EventSlot::Unbound => js::UNDEFINED,
            // SAFETY: duplicating an owned reference for the caller.
            EventSlot::Ready(v, _) => unsafe { qjs::JS_DupValue(ctx, *v) },
            EventSlot::Pending(event) => {
                // The conversion may need the DOM prelude, which borrows
                // `self.dom`, never `self.event`; so holding this borrow is fine.
                let Some(object) = convert::event_to_js(ctx, self, event) else {
                    return qjs::JS_EXCEPTION;
                };
                let raw = object.into_raw();
                if let EventSlot::Pending(event) = std::mem::replace(&mut *slot, EventSlot::Unbound)
                {
                    *slot = EventSlot::Ready(raw, event);
                }
                // SAFETY: one reference for the slot, one for the caller.
                unsafe { qjs::JS_DupValue(ctx, raw) }
            }
        }
    }
}

/// Installs the injected `Date` and `Math.random` in a fresh context.
/// Returns false if QuickJS threw (out of memory).
pub(super) fn install_clock_and_random(ctx: RawCtx, host: &Host) -> bool {
    let global = js::global(ctx);
    let Some(original) = js::get(ctx, global.raw(), "Date") else {
        return false;
    };
    let Some(date) = js::new_constructor(ctx, native_date, c"Date", 7) else {
        return false;
    };
    let Some(prototype) = js::get(ctx, original.raw(), "prototype") else {
        return false;
    };
    let Some(now) = js::new_function(ctx, native_date_now, c"now", 0) else {
        return false;
    };
    // The wrapper shares the original's prototype, so `instanceof Date`,
    // methods and `Date.prototype` extensions all keep working.
    let mut ok = js::define(ctx, date.raw(), "prototype", dup(ctx, prototype.raw()), 0)
        && js::define(
            ctx,
            prototype.raw(),
            "constructor",
            dup(ctx, date.raw()),
            js::BUILTIN_FLAGS,
        )
        && js::define(ctx, date.raw(), "now", now.into_raw(), js::BUILTIN_FLAGS);
    for name in ["UTC", "parse"] {
        ok = ok
            && match js::get(ctx, original.raw(), name) {
                Some(f) => js::define(ctx, date.raw(), name, f.into_raw(), js::BUILTIN_FLAGS),
                None => false,
            };
    }
    ok = ok
        && js::define(
            ctx,
            global.raw(),
            "Date",
            date.into_raw(),
            js::BUILTIN_FLAGS,
        );
    host.original_date.set(original.into_raw());
    if !ok {
        return false;
    }
    let Some(math) = js::get(ctx, global.raw(), "Math") else {
        return false;
    };
    let Some(random) = js::new_function(ctx, native_random, c"random", 0) else {
        return false;
    };
    js::define(
        ctx,
        math.raw(),
        "random",
        random.into_raw(),
        js::BUILTIN_FLAGS,
    )
}

/// Defines `In` and the `_event` accessor on the global object.
pub(super) fn install_in_and_event(ctx: RawCtx) -> bool {
    let global = js::global(ctx);
    let Some(in_fn) = js::new_function(ctx, native_in, c"In", 1) else {
        return false;
    };
    if !js::define(
        ctx,
        global.raw(),
        "In",
        in_fn.into_raw(),
        js::READ_ONLY_FLAGS,
    ) {
        return false;
    }
    let Some(getter) = js::new_function(ctx, native_event_getter, c"_event", 0) else {
        return false;
    };
    let atom = js::atom(ctx, "_event");
    // An accessor without a setter, not configurable: scripts cannot replace
    // `_event` (§5.10: system variables are read-only; tests 329, 346).
    // SAFETY: getter and setter are consumed by the call.
    let ok = unsafe {
        qjs::JS_DefinePropertyGetSet(
            ctx,
            global.raw(),
            atom,
            getter.into_raw(),
            js::UNDEFINED,
            (qjs::JS_PROP_ENUMERABLE | qjs::JS_PROP_THROW) as i32,
        )
    };
    js::free_atom(ctx, atom);
    ok >= 0
}

fn dup(ctx: RawCtx, v: qjs::JSValue) -> qjs::JSValue {
    // SAFETY: duplicating a live value.
    unsafe { qjs::JS_DupValue(ctx, v) }
}

/// The session's host, or `None` when the context has no session (being dropped).
///
/// # Safety
/// The opaque pointer of `ctx` is either null or points to the `Host` of the
/// session that owns `ctx`, which outlives every call into its context.
unsafe fn host<'a>(ctx: RawCtx) -> Option<&'a Host> {
    // SAFETY: see above.
    unsafe { qjs::JS_GetContextOpaque(ctx).cast::<Host>().as_ref() }
}

unsafe extern "C" fn native_in(
    ctx: RawCtx,
    _this: qjs::JSValue,
    argc: c_int,
    argv: *mut qjs::JSValue,
) -> qjs::JSValue {
    // SAFETY: QuickJS passes `argc` arguments; the host pointer contract holds.
    let (args, host) = unsafe { (js::args(argc, argv), host(ctx)) };
    let Some(host) = host else {
        return js::new_bool(false);
    };
    let Some(&arg) = args.first() else {
        return js::new_bool(false);
    };
    match js::to_string(ctx, arg) {
        Some(id) => js::new_bool(host.is_active(&id)),
        None => qjs::JS_EXCEPTION,
    }
}

unsafe extern "C" fn native_event_getter(
    ctx: RawCtx,
    _this: qjs::JSValue,
    _argc: c_int,
    _argv: *mut qjs::JSValue,
) -> qjs::JSValue {
    // SAFETY: the host pointer contract holds.
    match unsafe { host(ctx) } {
        Some(host) => host.event_value(ctx),
        None => js::UNDEFINED,
    }
}

unsafe extern "C" fn native_random(
    ctx: RawCtx,
    _this: qjs::JSValue,
    _argc: c_int,
    _argv: *mut qjs::JSValue,
) -> qjs::JSValue {
    // SAFETY: the host pointer contract holds.
    match unsafe { host(ctx) } {
        Some(host) => js::new_number(host.next_random()),
        None => js::new_number(0.0),
    }
}

unsafe extern "C" fn native_date_now(
    ctx: RawCtx,
    _this: qjs::JSValue,
    _argc: c_int,
    _argv: *mut qjs::JSValue,
) -> qjs::JSValue {
    // SAFETY: the host pointer contract holds.
    match unsafe { host(ctx) } {
        Some(host) => js::new_number(host.now_ms.get()),
        None => js::new_number(0.0),
    }
}

/// `Date(...)`: with no arguments the injected time, otherwise the engine's
/// own constructor. Called without `new` it returns the time as a string,
/// as ECMAScript's `Date()` does, but of the injected time.
unsafe extern "C" fn native_date(
    ctx: RawCtx,
    new_target: qjs::JSValue,
    argc: c_int,
    argv: *mut qjs::JSValue,
) -> qjs::JSValue {
    // SAFETY: QuickJS passes `argc` arguments; the host pointer contract holds.
    let (args, host) = unsafe { (js::args(argc, argv), host(ctx)) };
    let Some(host) = host else {
        return js::UNDEFINED;
    };
    let original = host.original_date.get();
    // SAFETY: reading a tag.
    let as_function = unsafe { qjs::JS_IsUndefined(new_target) };
    let mut now = [js::new_number(host.now_ms.get())];
    if as_function {
        // SAFETY: constructing with a number argument we own (numbers need no freeing).
        let date =
            unsafe { qjs::JS_CallConstructor2(ctx, original, original, 1, now.as_mut_ptr()) };
        let Some(date) = Owned::new(ctx, date) else {
            return qjs::JS_EXCEPTION;
        };
        // SAFETY: ToString of a Date object (its `toString`).
        return unsafe { qjs::JS_ToString(ctx, date.raw()) };
    }
    if args.is_empty() {
        // SAFETY: as above; `new_target` keeps subclassing working.
        unsafe { qjs::JS_CallConstructor2(ctx, original, new_target, 1, now.as_mut_ptr()) }
    } else {
        // SAFETY: forwarding the caller's arguments, which QuickJS keeps alive.
        unsafe { qjs::JS_CallConstructor2(ctx, original, new_target, argc, argv) }
    }
}
