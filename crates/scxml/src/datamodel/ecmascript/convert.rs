//! [`Data`] to ECMAScript values and back (SCXML 1.0 App. B.2).
//!
//! Objects keep their key order both ways. XML becomes a DOM node (through
//! the [`dom`](super::dom) prelude) and a DOM node becomes XML again.
//! Functions, symbols and other values that are not data become `undefined`;
//! a `Date` becomes its JSON string, as `JSON.stringify` would write it.

use std::ffi::c_void;

use rquickjs::qjs;

use super::host::Host;
use super::js::{self, Owned, RawCtx};
use crate::data::Data;
use crate::datamodel::DataModelError;
use crate::event::Event;

/// How deep a value may nest before conversion gives up (also bounds the
/// native stack the recursion uses).
const MAX_DEPTH: usize = 256;

/// Converts `data` to a new JS value; `None` if QuickJS threw (the exception
/// is pending).
pub(super) fn to_js(ctx: RawCtx, host: &Host, data: &Data) -> Option<Owned> {
    let raw = match data {
        Data::Undefined => js::UNDEFINED,
        Data::Null => js::NULL,
        Data::Bool(b) => js::new_bool(*b),
        Data::Number(n) => js::new_number(*n),
        Data::String(s) => js::new_string(ctx, s),
        Data::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                match to_js(ctx, host, item) {
                    Some(v) => values.push(v.into_raw()),
                    None => {
                        for v in values {
                            // SAFETY: each was an owned reference.
                            unsafe { qjs::JS_FreeValue(ctx, v) };
                        }
                        return None;
                    }
                }
            }
            // A `Vec<Data>` that fits in memory has far fewer than 2^31 items.
            let count = values.len() as i32;
            // SAFETY: JS_NewArrayFrom takes ownership of `count` values.
            unsafe { qjs::JS_NewArrayFrom(ctx, count, values.as_ptr()) }
        }
        Data::Object(entries) => {
            // SAFETY: a new empty object.
            let object = Owned::new(ctx, unsafe { qjs::JS_NewObject(ctx) })?;
            for (key, value) in entries {
                let value = to_js(ctx, host, value)?;
                if !js::define(ctx, object.raw(), key, value.into_raw(), js::CWE) {
                    return None;
                }
            }
            object.into_raw()
        }
        Data::Xml(xml) => return super::dom::xml_to_js(ctx, host, xml),
    };
    Owned::new(ctx, raw)
}

/// Builds `_event` (§5.10.1): every field present (`'sendid' in _event`
/// holds, W3C test 331), `undefined` when absent, read-only and not
/// extensible, since `_event` is a system variable.
///
/// The absent fields come from a shared prototype whose fields are all
/// `undefined`; the object itself defines only the fields the event has.
/// Building QuickJS objects costs per property, and most events have only a
/// name, a type and data.
pub(super) fn event_to_js(ctx: RawCtx, host: &Host, event: &Event) -> Option<Owned> {
    let proto = host.event_proto(ctx)?;
    // SAFETY: a new empty object with a live prototype.
    let object = Owned::new(ctx, unsafe { qjs::JS_NewObjectProto(ctx, proto) })?;
    let atoms = host.event_atoms(ctx);
    let optional = [
        &event.sendid,
        &event.origin,
        &event.origintype,
        &event.invokeid,
    ];
    let name = js::new_string(ctx, &event.name);
    let kind = js::new_string(ctx, event.kind.as_str());
    let named = js::define_atom(ctx, object.raw(), atoms[0], name, js::READ_ONLY_FLAGS);
    let typed = js::define_atom(ctx, object.raw(), atoms[1], kind, js::READ_ONLY_FLAGS);
    let mut ok = named && typed;
    for (atom, value) in atoms[2..6].iter().zip(optional) {
        if let Some(value) = value {
            let value = js::new_string(ctx, value);
            // `define_atom` consumes the value even when it fails.
            let defined = js::define_atom(ctx, object.raw(), *atom, value, js::READ_ONLY_FLAGS);
            ok = ok && defined;
        }
    }
    if !ok {
        return None;
    }
    if !event.data.is_undefined() {
        let data = to_js(ctx, host, &event.data)?;
        if !js::define_atom(
            ctx,
            object.raw(),
            atoms[6],
            data.into_raw(),
            js::READ_ONLY_FLAGS,
        ) {
            return None;
        }
    }
    if let Some(raw) = &event.raw {
        let value = js::new_string(ctx, raw);
        if !js::define_atom(ctx, object.raw(), atoms[7], value, js::READ_ONLY_FLAGS) {
            return None;
        }
    }
    // SAFETY: plain call on an object we own.
    if unsafe { qjs::JS_PreventExtensions(ctx, object.raw()) } < 0 {
        return None;
    }
    Some(object)
}

/// Converts a JS value to [`Data`].
pub(super) fn from_js(ctx: RawCtx, host: &Host, v: qjs::JSValue) -> Result<Data, Conversion> {
    let mut ancestors = Vec::new();
    from_js_inner(ctx, host, v, &mut ancestors)
}

/// Why a value could not be converted.
pub(super) enum Conversion {
    /// QuickJS threw (a getter, out of memory ...); the exception is pending.
    Exception,
    /// The value cannot be data (cyclic or too deep).
    Invalid(DataModelError),
}

fn from_js_inner(
    ctx: RawCtx,
    host: &Host,
    v: qjs::JSValue,
    ancestors: &mut Vec<*mut c_void>,
) -> Result<Data, Conversion> {
    let tag = js::tag(v);
    // SAFETY (all reads below): `v` is a live value of the matching tag.
    Ok(match tag {
        qjs::JS_TAG_UNDEFINED | qjs::JS_TAG_UNINITIALIZED => Data::Undefined,
        qjs::JS_TAG_NULL => Data::Null,
        qjs::JS_TAG_BOOL => Data::Bool(unsafe { qjs::JS_VALUE_GET_BOOL(v) }),
        qjs::JS_TAG_INT => Data::Number(f64::from(unsafe { qjs::JS_VALUE_GET_INT(v) })),
        qjs::JS_TAG_FLOAT64 => Data::Number(unsafe { qjs::JS_VALUE_GET_FLOAT64(v) }),
        qjs::JS_TAG_STRING | qjs::JS_TAG_STRING_ROPE => {
            Data::String(js::to_string(ctx, v).ok_or(Conversion::Exception)?)
        }
        qjs::JS_TAG_BIG_INT | qjs::JS_TAG_SHORT_BIG_INT => {
            let mut n = 0.0;
            if unsafe { qjs::JS_ToFloat64(ctx, &mut n, v) } < 0 {
                return Err(Conversion::Exception);
            }
            Data::Number(n)
        }
        qjs::JS_TAG_OBJECT => object_from_js(ctx, host, v, ancestors)?,
        _ => Data::Undefined,
    })
}

fn object_from_js(
    ctx: RawCtx,
    host: &Host,
    v: qjs::JSValue,
    ancestors: &mut Vec<*mut c_void>,
) -> Result<Data, Conversion> {
    // SAFETY: `v` is an object.
    if unsafe { qjs::JS_IsFunction(ctx, v) } {
        return Ok(Data::Undefined);
    }
    if let Some(xml) = super::dom::node_to_xml(ctx, host, v)? {
        return Ok(Data::Xml(xml));
    }
    // SAFETY: `v` is an object.
    if unsafe { qjs::JS_IsDate(v) } {
        let to_json = js::get(ctx, v, "toISOString").ok_or(Conversion::Exception)?;
        // SAFETY: calling a method on its object with no arguments.
        let s = Owned::new(ctx, unsafe {
            qjs::JS_Call(ctx, to_json.raw(), v, 0, std::ptr::null_mut())
        });
        return match s {
            Some(s) => Ok(Data::String(
                js::to_string(ctx, s.raw()).ok_or(Conversion::Exception)?,
            )),
            // An invalid date: JSON writes null.
            None => {
                drop(js::take_exception(ctx));
                Ok(Data::Null)
            }
        };
    }
    // SAFETY: `v` is an object, so it has a pointer.
    let ptr = unsafe { qjs::JS_VALUE_GET_PTR(v) };
    if ancestors.contains(&ptr) {
        return Err(Conversion::Invalid(DataModelError::Type(
            "a cyclic value cannot be converted to data".into(),
        )));
    }
    if ancestors.len() >= MAX_DEPTH {
        return Err(Conversion::Invalid(DataModelError::Type(
            "a value nested too deep cannot be converted to data".into(),
        )));
    }
    ancestors.push(ptr);
    let result = if unsafe { qjs::JS_IsArray(v) } {
        array_from_js(ctx, host, v, ancestors)
    } else {
        plain_object_from_js(ctx, host, v, ancestors)
    };
    ancestors.pop();
    result
}

fn array_from_js(
    ctx: RawCtx,
    host: &Host,
    v: qjs::JSValue,
    ancestors: &mut Vec<*mut c_void>,
) -> Result<Data, Conversion> {
    let len = length(ctx, v).ok_or(Conversion::Exception)?;
    let mut items = Vec::with_capacity(len.min(1 << 16) as usize);
    for i in 0..len {
        // SAFETY: indexed read of an array.
        let item = Owned::new(ctx, unsafe { qjs::JS_GetPropertyUint32(ctx, v, i) })
            .ok_or(Conversion::Exception)?;
        items.push(from_js_inner(ctx, host, item.raw(), ancestors)?);
    }
    Ok(Data::Array(items))
}

fn plain_object_from_js(
    ctx: RawCtx,
    host: &Host,
    v: qjs::JSValue,
    ancestors: &mut Vec<*mut c_void>,
) -> Result<Data, Conversion> {
    let mut tab: *mut qjs::JSPropertyEnum = std::ptr::null_mut();
    let mut len: u32 = 0;
    let flags = (qjs::JS_GPN_STRING_MASK | qjs::JS_GPN_ENUM_ONLY) as i32;
    // SAFETY: QuickJS fills `tab` with `len` entries, released below.
    if unsafe { qjs::JS_GetOwnPropertyNames(ctx, &mut tab, &mut len, v, flags) } < 0 {
        return Err(Conversion::Exception);
    }
    // SAFETY: `tab` holds `len` initialised entries (or is null when empty).
    let props: &[qjs::JSPropertyEnum] = if tab.is_null() || len == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(tab, len as usize) }
    };
    let mut entries = Vec::with_capacity(props.len());
    let mut result = Ok(());
    for prop in props {
        // SAFETY: property read by an atom QuickJS gave us.
        let value = Owned::new(ctx, unsafe { qjs::JS_GetProperty(ctx, v, prop.atom) });
        // SAFETY: converting the same atom to a string.
        let key = Owned::new(ctx, unsafe { qjs::JS_AtomToString(ctx, prop.atom) });
        let (Some(value), Some(key)) = (value, key) else {
            result = Err(Conversion::Exception);
            break;
        };
        let Some(key) = js::to_string(ctx, key.raw()) else {
            result = Err(Conversion::Exception);
            break;
        };
        match from_js_inner(ctx, host, value.raw(), ancestors) {
            Ok(data) => entries.push((key, data)),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // SAFETY: releasing the table and its atoms.
    unsafe { qjs::JS_FreePropertyEnum(ctx, tab, len) };
    result.map(|()| Data::Object(entries))
}

/// `v.length` as an integer.
pub(super) fn length(ctx: RawCtx, v: qjs::JSValue) -> Option<u32> {
    let mut len: i64 = 0;
    // SAFETY: reads the `length` property.
    if unsafe { qjs::JS_GetLength(ctx, v, &mut len) } < 0 {
        return None;
    }
    Some(u32::try_from(len.max(0)).unwrap_or(u32::MAX))
}
