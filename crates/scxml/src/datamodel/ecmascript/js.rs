//! A thin layer over the QuickJS C API (`rquickjs::qjs`): an owned value that
//! frees itself, and the handful of conversions the data model needs.
//!
//! The data model talks to QuickJS directly rather than through rquickjs's
//! typed wrappers because those clone the context on every value and route
//! calls through generic argument marshalling; on the paths that run once per
//! event (a cached condition, `_event`) that overhead is most of the cost.
//! Every function here must be called while the runtime is locked
//! (inside `rquickjs::Context::with`), with the `ctx` of that context.

use std::ffi::c_char;

use rquickjs::qjs;

pub(super) type RawCtx = *mut qjs::JSContext;

pub(super) const UNDEFINED: qjs::JSValue = qjs::JS_UNDEFINED;
pub(super) const NULL: qjs::JSValue = qjs::JS_NULL;

/// Property flags of a `var`: writable and enumerable, not configurable.
pub(super) const VAR_FLAGS: i32 = (qjs::JS_PROP_WRITABLE | qjs::JS_PROP_ENUMERABLE) as i32;
/// A read-only, non-configurable, enumerable property (system variables).
pub(super) const READ_ONLY_FLAGS: i32 = qjs::JS_PROP_ENUMERABLE as i32;
/// An ordinary data property (`obj.key = value`).
pub(super) const CWE: i32 = qjs::JS_PROP_C_W_E as i32;
/// A built-in's flags: writable and configurable, not enumerable.
pub(super) const BUILTIN_FLAGS: i32 = (qjs::JS_PROP_WRITABLE | qjs::JS_PROP_CONFIGURABLE) as i32;

/// A value owned by this handle: freed when dropped.
pub(super) struct Owned {
    ctx: RawCtx,
    raw: qjs::JSValue,
}

impl Owned {
    /// Takes ownership of `raw`; `None` (and nothing to free) if it is the exception marker.
    pub(super) fn new(ctx: RawCtx, raw: qjs::JSValue) -> Option<Owned> {
        // SAFETY: reading the tag of a value is always valid.
        if unsafe { qjs::JS_IsException(raw) } {
            None
        } else {
            Some(Owned { ctx, raw })
        }
    }

    /// The value, still owned by `self`.
    pub(super) fn raw(&self) -> qjs::JSValue {
        self.raw
    }

    /// Gives the value's reference to the caller.
    pub(super) fn into_raw(self) -> qjs::JSValue {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: `raw` is a reference we own, in the context it came from.
        unsafe { qjs::JS_FreeValue(self.ctx, self.raw) }
    }
}

pub(super) fn is_exception(v: qjs::JSValue) -> bool {
    // SAFETY: reading a tag.
    unsafe { qjs::JS_IsException(v) }
}

pub(super) fn tag(v: qjs::JSValue) -> i32 {
    // SAFETY: reading a tag.
    unsafe { qjs::JS_VALUE_GET_NORM_TAG(v) }
}

pub(super) fn new_bool(b: bool) -> qjs::JSValue {
    qjs::JS_MKVAL(qjs::JS_TAG_BOOL, i32::from(b))
}

/// A number, as an integer value when it is one (QuickJS computes faster on those).
pub(super) fn new_number(n: f64) -> qjs::JSValue {
    qjs::JS_NewFloat64(n)
}

pub(super) fn new_string(ctx: RawCtx, s: &str) -> qjs::JSValue {
    // SAFETY: pointer and length describe valid UTF-8; QuickJS copies it.
    unsafe { qjs::JS_NewStringLen(ctx, s.as_ptr().cast::<c_char>(), s.len() as _) }
}

/// `String(v)`; `None` if the conversion threw (the exception stays pending).
pub(super) fn to_string(ctx: RawCtx, v: qjs::JSValue) -> Option<String> {
    let mut len: qjs::size_t = 0;
    // SAFETY: QuickJS returns a NUL-terminated buffer of `len` bytes (or null on
    // exception) that we copy and then release with JS_FreeCString.
    unsafe {
        let ptr = qjs::JS_ToCStringLen2(ctx, &mut len, v, false);
        if ptr.is_null() {
            return None;
        }
        let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize);
        let s = String::from_utf8_lossy(bytes).into_owned();
        qjs::JS_FreeCString(ctx, ptr);
        Some(s)
    }
}

/// An atom for `name` (to be freed with [`free_atom`]).
pub(super) fn atom(ctx: RawCtx, name: &str) -> qjs::JSAtom {
    // SAFETY: pointer and length describe valid UTF-8.
    unsafe { qjs::JS_NewAtomLen(ctx, name.as_ptr().cast::<c_char>(), name.len() as _) }
}

pub(super) fn free_atom(ctx: RawCtx, atom: qjs::JSAtom) {
    // SAFETY: the caller owns the atom.
    unsafe { qjs::JS_FreeAtom(ctx, atom) }
}

/// Defines `obj[name] = value` with `flags`, taking ownership of `value`.
/// Returns false if it threw.
pub(super) fn define(
    ctx: RawCtx,
    obj: qjs::JSValue,
    name: &str,
    value: qjs::JSValue,
    flags: i32,
) -> bool {
    let atom = atom(ctx, name);
    // SAFETY: `value` is owned and consumed by the call; the atom is ours.
    let ok = unsafe {
        qjs::JS_DefinePropertyValue(ctx, obj, atom, value, flags | qjs::JS_PROP_THROW as i32)
    };
    free_atom(ctx, atom);
    ok >= 0
}

/// Defines `obj[atom] = value` with `flags`, taking ownership of `value`.
pub(super) fn define_atom(
    ctx: RawCtx,
    obj: qjs::JSValue,
    atom: qjs::JSAtom,
    value: qjs::JSValue,
    flags: i32,
) -> bool {
    // SAFETY: `value` is owned and consumed by the call; the atom is borrowed.
    let ok = unsafe {
        qjs::JS_DefinePropertyValue(ctx, obj, atom, value, flags | qjs::JS_PROP_THROW as i32)
    };
    ok >= 0
}

/// `obj[name]`, owned.
pub(super) fn get(ctx: RawCtx, obj: qjs::JSValue, name: &str) -> Option<Owned> {
    let atom = atom(ctx, name);
    // SAFETY: plain property read.
    let v = unsafe { qjs::JS_GetProperty(ctx, obj, atom) };
    free_atom(ctx, atom);
    Owned::new(ctx, v)
}

pub(super) fn global(ctx: RawCtx) -> Owned {
    // SAFETY: returns a new reference to the global object.
    Owned {
        ctx,
        raw: unsafe { qjs::JS_GetGlobalObject(ctx) },
    }
}

/// A native function. `f` must not panic (it is called through C).
pub(super) fn new_function(
    ctx: RawCtx,
    f: NativeFn,
    name: &std::ffi::CStr,
    length: i32,
) -> Option<Owned> {
    new_native(ctx, f, name, length, qjs::JSCFunctionEnum_JS_CFUNC_generic)
}

/// A native constructor-or-function: called with `new`, its `this` is `new.target`.
pub(super) fn new_constructor(
    ctx: RawCtx,
    f: NativeFn,
    name: &std::ffi::CStr,
    length: i32,
) -> Option<Owned> {
    new_native(
        ctx,
        f,
        name,
        length,
        qjs::JSCFunctionEnum_JS_CFUNC_constructor_or_func,
    )
}

fn new_native(
    ctx: RawCtx,
    f: NativeFn,
    name: &std::ffi::CStr,
    length: i32,
    kind: qjs::JSCFunctionEnum,
) -> Option<Owned> {
    // SAFETY: `f` has the C calling convention QuickJS expects.
    let v = unsafe { qjs::JS_NewCFunction2(ctx, Some(f), name.as_ptr(), length, kind, 0) };
    Owned::new(ctx, v)
}

pub(super) type NativeFn =
    unsafe extern "C" fn(RawCtx, qjs::JSValue, std::ffi::c_int, *mut qjs::JSValue) -> qjs::JSValue;

/// Takes the pending exception.
pub(super) fn take_exception(ctx: RawCtx) -> Owned {
    // SAFETY: returns the pending exception (a new reference) and clears it.
    Owned {
        ctx,
        raw: unsafe { qjs::JS_GetException(ctx) },
    }
}

/// The arguments of a native call as a slice.
///
/// # Safety
/// `argv` must point to `argc` values (QuickJS guarantees it for native calls).
pub(super) unsafe fn args<'a>(
    argc: std::ffi::c_int,
    argv: *mut qjs::JSValue,
) -> &'a [qjs::JSValue] {
    if argc <= 0 || argv.is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(argv, argc as usize) }
    }
}
