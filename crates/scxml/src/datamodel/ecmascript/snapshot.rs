//! Snapshots of an ECMAScript session: its global variables as exact data,
//! the random generator's position and `_event` (see [`crate::snapshot`]).
//!
//! Only what can be rebuilt exactly is accepted: `undefined`, `null`,
//! booleans, numbers (NaN and `-0` included), strings that are valid
//! Unicode, and plain extensible objects (prototype `Object.prototype`) and
//! dense arrays (prototype `Array.prototype`) whose properties are all
//! ordinary writable, enumerable, configurable data properties. Every object
//! must be reachable once: two variables sharing an object, or a cycle,
//! would come back as separate copies. Anything else (functions, `Date`s,
//! `RegExp`s, DOM nodes, accessors, frozen objects, symbols...) refuses the
//! snapshot and names where the value is.
//!
//! What the engine defines (built-ins, system variables, `In`, `_event`)
//! and what the dialect prelude defines are not captured: restore binds the
//! system variables and re-runs the prelude, then defines the captured
//! variables. Changes a script made to built-in objects or to the prelude's
//! objects (`Array.prototype.x = ...`, `_genesys.foo = ...`) are not seen;
//! `docs/design/interpreter.md` lists this limit.

use std::collections::HashSet;
use std::ffi::c_void;

use rquickjs::qjs;

use super::host::EventSlot;
use super::js::{self, Owned, RawCtx};
use super::runtime::BuiltinGlobals;
use super::{convert, host, EcmaScript, Session, SYSTEM_VARIABLES};
use crate::snapshot::{DataModelSnapshot, GlobalVariable, NotSnapshottable, RestoreError};

/// QuickJS class ids (`quickjs.c`, enum starting at `JS_CLASS_OBJECT = 1`).
const CLASS_OBJECT: u32 = 1;
const CLASS_ARRAY: u32 = 2;
/// Nesting deeper than this is refused (like `convert::MAX_DEPTH`).
const MAX_DEPTH: usize = 256;

/// Own property names of an object: string keys (all, enumerable or not),
/// or only symbols.
fn own_names(ctx: RawCtx, obj: qjs::JSValue, symbols: bool) -> Option<Vec<qjs::JSAtom>> {
    let mut tab: *mut qjs::JSPropertyEnum = std::ptr::null_mut();
    let mut len: u32 = 0;
    let flags = if symbols {
        qjs::JS_GPN_SYMBOL_MASK
    } else {
        qjs::JS_GPN_STRING_MASK
    } as i32;
    // SAFETY: QuickJS fills `tab` with `len` entries; the atoms are duplicated
    // before the table is released.
    unsafe {
        if qjs::JS_GetOwnPropertyNames(ctx, &mut tab, &mut len, obj, flags) < 0 {
            return None;
        }
        let atoms = if tab.is_null() || len == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(tab, len as usize)
                .iter()
                .map(|p| qjs::JS_DupAtom(ctx, p.atom))
                .collect()
        };
        qjs::JS_FreePropertyEnum(ctx, tab, len);
        Some(atoms)
    }
}

fn free_atoms(ctx: RawCtx, atoms: Vec<qjs::JSAtom>) {
    for atom in atoms {
        js::free_atom(ctx, atom);
    }
}

fn atom_name(ctx: RawCtx, atom: qjs::JSAtom) -> Option<String> {
    // SAFETY: converting an atom we hold to a new string value.
    let value = Owned::new(ctx, unsafe { qjs::JS_AtomToString(ctx, atom) })?;
    js::to_string(ctx, value.raw())
}

/// The string-keyed own property names of the global object.
pub(super) fn global_names(ctx: RawCtx) -> Option<Vec<String>> {
    let global = js::global(ctx);
    let atoms = own_names(ctx, global.raw(), false)?;
    let names = atoms.iter().map(|&a| atom_name(ctx, a)).collect();
    free_atoms(ctx, atoms);
    names
}

/// The globals of a fresh context.
pub(super) fn builtin_globals(ctx: RawCtx) -> Option<BuiltinGlobals> {
    let global = js::global(ctx);
    let symbols = own_names(ctx, global.raw(), true)?;
    let count = symbols.len() as u32;
    free_atoms(ctx, symbols);
    Some(BuiltinGlobals {
        names: global_names(ctx)?.into_iter().collect(),
        symbols: count,
    })
}

/// An own property's descriptor, its values owned.
struct Descriptor {
    flags: i32,
    value: Owned,
    _getter: Owned,
    _setter: Owned,
}

fn descriptor(ctx: RawCtx, obj: qjs::JSValue, atom: qjs::JSAtom) -> Option<Descriptor> {
    let mut desc = qjs::JSPropertyDescriptor {
        flags: 0,
        value: js::UNDEFINED,
        getter: js::UNDEFINED,
        setter: js::UNDEFINED,
    };
    // SAFETY: on success (1) QuickJS gives us owned references in `desc`.
    if unsafe { qjs::JS_GetOwnProperty(ctx, &mut desc, obj, atom) } != 1 {
        return None;
    }
    Some(Descriptor {
        flags: desc.flags,
        value: Owned::new(ctx, desc.value)?,
        _getter: Owned::new(ctx, desc.getter)?,
        _setter: Owned::new(ctx, desc.setter)?,
    })
}

/// Checks that values can be captured exactly.
struct Checker {
    ctx: RawCtx,
    object_proto: Owned,
    array_proto: Owned,
    /// Every object met so far, to refuse sharing and cycles.
    seen: HashSet<*mut c_void>,
}

fn refuse(path: &str, why: &str) -> NotSnapshottable {
    NotSnapshottable::Value {
        path: path.to_owned(),
        why: why.to_owned(),
    }
}

fn engine() -> NotSnapshottable {
    NotSnapshottable::Engine("a property could not be read".into())
}

impl Checker {
    fn new(ctx: RawCtx) -> Option<Checker> {
        // The prototypes the engine gives new objects and arrays: these are
        // the realm's own, whatever scripts did to the `Object` and `Array` globals.
        // SAFETY: new empty object and array, and their prototypes (new references).
        unsafe {
            let object = Owned::new(ctx, qjs::JS_NewObject(ctx))?;
            let array = Owned::new(ctx, qjs::JS_NewArray(ctx))?;
            Some(Checker {
                ctx,
                object_proto: Owned::new(ctx, qjs::JS_GetPrototype(ctx, object.raw()))?,
                array_proto: Owned::new(ctx, qjs::JS_GetPrototype(ctx, array.raw()))?,
                seen: HashSet::new(),
            })
        }
    }

    fn check(&mut self, v: qjs::JSValue, path: &str, depth: usize) -> Result<(), NotSnapshottable> {
        match js::tag(v) {
            qjs::JS_TAG_UNDEFINED
            | qjs::JS_TAG_NULL
            | qjs::JS_TAG_BOOL
            | qjs::JS_TAG_INT
            | qjs::JS_TAG_FLOAT64 => Ok(()),
            qjs::JS_TAG_STRING | qjs::JS_TAG_STRING_ROPE => self.check_string(v, path),
            qjs::JS_TAG_OBJECT => self.check_object(v, path, depth),
            qjs::JS_TAG_BIG_INT | qjs::JS_TAG_SHORT_BIG_INT => Err(refuse(path, "a BigInt")),
            qjs::JS_TAG_SYMBOL => Err(refuse(path, "a Symbol")),
            _ => Err(refuse(path, "an engine-internal value")),
        }
    }

    /// A string with an unpaired surrogate has no exact UTF-8 form.
    fn check_string(&self, v: qjs::JSValue, path: &str) -> Result<(), NotSnapshottable> {
        let mut len: qjs::size_t = 0;
        // SAFETY: QuickJS returns a buffer of `len` bytes (or null) that we
        // release with JS_FreeCString.
        unsafe {
            let ptr = qjs::JS_ToCStringLen2(self.ctx, &mut len, v, false);
            if ptr.is_null() {
                return Err(engine());
            }
            let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize);
            let valid = std::str::from_utf8(bytes).is_ok();
            qjs::JS_FreeCString(self.ctx, ptr);
            if valid {
                Ok(())
            } else {
                Err(refuse(path, "a string with unpaired surrogates"))
            }
        }
    }

    fn check_object(
        &mut self,
        v: qjs::JSValue,
        path: &str,
        depth: usize,
    ) -> Result<(), NotSnapshottable> {
        let ctx = self.ctx;
        // SAFETY: type tests and reads on an object value we borrow.
        unsafe {
            if qjs::JS_IsFunction(ctx, v) {
                return Err(refuse(path, "a function"));
            }
            if depth >= MAX_DEPTH {
                return Err(refuse(path, "a value nested too deep"));
            }
            if !self.seen.insert(qjs::JS_VALUE_GET_PTR(v)) {
                return Err(refuse(
                    path,
                    "an object reachable twice (shared by two places, or a cycle)",
                ));
            }
            let proto = Owned::new(ctx, qjs::JS_GetPrototype(ctx, v)).ok_or_else(engine)?;
            let same = |a: &Owned| {
                js::tag(proto.raw()) == qjs::JS_TAG_OBJECT
                    && qjs::JS_VALUE_GET_PTR(proto.raw()) == qjs::JS_VALUE_GET_PTR(a.raw())
            };
            let class = qjs::JS_GetClassID(v);
            let is_array = if class == CLASS_ARRAY && same(&self.array_proto) {
                true
            } else if class == CLASS_OBJECT && same(&self.object_proto) {
                false
            } else if qjs::JS_IsDate(v) {
                return Err(refuse(path, "a Date"));
            } else {
                return Err(refuse(
                    path,
                    "an object that is not a plain Object or Array (other prototype or class)",
                ));
            };
            if qjs::JS_IsExtensible(ctx, v) != 1 {
                return Err(refuse(path, "a frozen, sealed or non-extensible object"));
            }
            let symbols = own_names(ctx, v, true).ok_or_else(engine)?;
            let has_symbols = !symbols.is_empty();
            free_atoms(ctx, symbols);
            if has_symbols {
                return Err(refuse(path, "an object with symbol-keyed properties"));
            }
            let atoms = own_names(ctx, v, false).ok_or_else(engine)?;
            let result = self.check_properties(v, path, depth, is_array, &atoms);
            free_atoms(ctx, atoms);
            result
        }
    }

    fn check_properties(
        &mut self,
        v: qjs::JSValue,
        path: &str,
        depth: usize,
        is_array: bool,
        atoms: &[qjs::JSAtom],
    ) -> Result<(), NotSnapshottable> {
        let ctx = self.ctx;
        if is_array {
            // Dense: exactly the indices below `length`, plus `length`.
            let len = convert::length(ctx, v).ok_or_else(engine)?;
            if atoms.len() != len as usize + 1 {
                return Err(refuse(
                    path,
                    "an array with holes or with properties besides its elements",
                ));
            }
        }
        for &atom in atoms {
            let name = atom_name(ctx, atom).ok_or_else(engine)?;
            if is_array && name == "length" {
                continue;
            }
            let inner = if is_array {
                format!("{path}[{name}]")
            } else {
                format!("{path}.{name}")
            };
            let desc = descriptor(ctx, v, atom).ok_or_else(engine)?;
            if desc.flags & qjs::JS_PROP_GETSET as i32 != 0 {
                return Err(refuse(&inner, "an accessor property"));
            }
            if desc.flags & js::CWE != js::CWE {
                return Err(refuse(
                    &inner,
                    "a read-only, non-enumerable or non-configurable property",
                ));
            }
            self.check(desc.value.raw(), &inner, depth + 1)?;
        }
        Ok(())
    }
}

impl EcmaScript {
    pub(super) fn take_snapshot(&mut self) -> Result<DataModelSnapshot, NotSnapshottable> {
        if self.session.lexical_globals {
            return Err(NotSnapshottable::LexicalGlobals);
        }
        if self.session.host.dom.borrow().is_some() {
            return Err(NotSnapshottable::Xml);
        }
        let builtins = self
            .session
            .runtime
            .builtin_globals()
            .map_err(|e| NotSnapshottable::Engine(e.to_string()))?;
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| session.take_snapshot(ctx, &builtins))
    }

    pub(super) fn restore_snapshot(
        &mut self,
        snapshot: &DataModelSnapshot,
    ) -> Result<(), RestoreError> {
        let ctx = self.raw();
        let session = &mut self.session;
        self.context.with(|_| session.restore(ctx, snapshot))
    }
}

impl Session {
    fn take_snapshot(
        &mut self,
        ctx: RawCtx,
        builtins: &BuiltinGlobals,
    ) -> Result<DataModelSnapshot, NotSnapshottable> {
        let global = js::global(ctx);
        let symbols = own_names(ctx, global.raw(), true).ok_or_else(engine)?;
        let symbol_count = symbols.len() as u32;
        free_atoms(ctx, symbols);
        if symbol_count != builtins.symbols {
            return Err(refuse("globalThis", "symbol-keyed global properties"));
        }
        let mut checker = Checker::new(ctx).ok_or_else(engine)?;
        let atoms = own_names(ctx, global.raw(), false).ok_or_else(engine)?;
        let result = self.capture_globals(ctx, &global, &atoms, builtins, &mut checker);
        free_atoms(ctx, atoms);
        let globals = result?;
        let event = match &*self.host.event.borrow() {
            EventSlot::Unbound => None,
            EventSlot::Pending(event) | EventSlot::Ready(_, event) => Some(event.clone()),
        };
        Ok(DataModelSnapshot {
            globals,
            random_state: self.host.rng.get(),
            event,
            clock_installed: self.clock_installed,
            prelude_installed: self.prelude_installed,
        })
    }

    fn capture_globals(
        &mut self,
        ctx: RawCtx,
        global: &Owned,
        atoms: &[qjs::JSAtom],
        builtins: &BuiltinGlobals,
        checker: &mut Checker,
    ) -> Result<Vec<GlobalVariable>, NotSnapshottable> {
        let mut globals = Vec::new();
        for &atom in atoms {
            let name = atom_name(ctx, atom).ok_or_else(engine)?;
            if builtins.names.contains(&name)
                || SYSTEM_VARIABLES.contains(&name.as_str())
                || name == "In"
                || self.prelude_globals.contains(&name)
            {
                continue;
            }
            let desc = descriptor(ctx, global.raw(), atom).ok_or_else(engine)?;
            if desc.flags & qjs::JS_PROP_GETSET as i32 != 0 {
                return Err(refuse(&name, "an accessor property"));
            }
            let plain = (qjs::JS_PROP_WRITABLE | qjs::JS_PROP_ENUMERABLE) as i32;
            if desc.flags & plain != plain {
                return Err(refuse(&name, "a read-only or non-enumerable global"));
            }
            checker.check(desc.value.raw(), &name, 0)?;
            let value = match convert::from_js(ctx, &self.host, desc.value.raw()) {
                Ok(value) => value,
                Err(_) => {
                    drop(js::take_exception(ctx));
                    return Err(engine());
                }
            };
            globals.push(GlobalVariable {
                name,
                value,
                configurable: desc.flags & qjs::JS_PROP_CONFIGURABLE as i32 != 0,
            });
        }
        Ok(globals)
    }

    fn restore(&mut self, ctx: RawCtx, snapshot: &DataModelSnapshot) -> Result<(), RestoreError> {
        let failed = |what: &str| {
            let exception = js::take_exception(ctx);
            let message = js::to_string(ctx, exception.raw()).unwrap_or_default();
            RestoreError::DataModel(format!("{what}: {message}"))
        };
        if snapshot.clock_installed && !self.clock_installed {
            if !host::install_clock_and_random(ctx, &self.host) {
                return Err(failed("installing Date and Math.random"));
            }
            self.clock_installed = true;
        }
        if snapshot.prelude_installed && !self.prelude_installed {
            if self.prelude.is_none() {
                return Err(RestoreError::DataModel(
                    "the snapshot's session had a dialect prelude, this data model has none".into(),
                ));
            }
            if !self.install_prelude(ctx) {
                return Err(failed("installing the prelude"));
            }
        }
        let global = js::global(ctx);
        for variable in &snapshot.globals {
            let Some(value) = convert::to_js(ctx, &self.host, &variable.value) else {
                return Err(failed(&variable.name));
            };
            let flags = if variable.configurable {
                js::CWE
            } else {
                js::VAR_FLAGS
            };
            if !js::define(ctx, global.raw(), &variable.name, value.into_raw(), flags) {
                return Err(failed(&variable.name));
            }
        }
        self.host.rng.set(snapshot.random_state);
        let old = self.host.event.replace(match &snapshot.event {
            Some(event) => EventSlot::Pending(event.clone()),
            None => EventSlot::Unbound,
        });
        if let EventSlot::Ready(v, _) = old {
            // SAFETY: the slot owned this reference.
            unsafe { qjs::JS_FreeValue(ctx, v) };
        }
        Ok(())
    }
}
