//! XML values as DOM nodes (SCXML 1.0 App. B.2; tests 557 and 561).
//!
//! The DOM itself is a small JS prelude (`dom.js`) evaluated in a session the
//! first time that session meets XML, so sessions that never do pay nothing.
//! XML is parsed here with roxmltree and handed to the prelude as a compact
//! tree of arrays; a DOM node converted back to data is serialized by the
//! prelude and becomes [`Data::Xml`](crate::Data::Xml).

use rquickjs::qjs;

use super::convert::Conversion;
use super::host::Host;
use super::js::{self, Owned, RawCtx};

/// The prelude's source, NUL-terminated as `JS_Eval` requires.
const PRELUDE: &str = concat!(include_str!("dom.js"), "\0");

/// The prelude's exports in one session (owned references).
pub(super) struct Dom {
    node: qjs::JSValue,
    build: qjs::JSValue,
    serialize: qjs::JSValue,
}

impl Dom {
    /// Evaluates the prelude in `ctx`; `None` if that threw.
    fn load(ctx: RawCtx) -> Option<Dom> {
        // SAFETY: the source is NUL-terminated; the length excludes the NUL.
        let exports = Owned::new(ctx, unsafe {
            qjs::JS_Eval(
                ctx,
                PRELUDE.as_ptr().cast(),
                (PRELUDE.len() - 1) as _,
                c"<scxml dom>".as_ptr(),
                qjs::JS_EVAL_TYPE_GLOBAL as i32,
            )
        })?;
        let node = js::get(ctx, exports.raw(), "Node")?;
        let build = js::get(ctx, exports.raw(), "build")?;
        let serialize = js::get(ctx, exports.raw(), "serialize")?;
        Some(Dom {
            node: node.into_raw(),
            build: build.into_raw(),
            serialize: serialize.into_raw(),
        })
    }

    pub(super) fn release(self, ctx: RawCtx) {
        for v in [self.node, self.build, self.serialize] {
            // SAFETY: each was an owned reference.
            unsafe { qjs::JS_FreeValue(ctx, v) };
        }
    }
}

/// Makes sure the prelude is loaded; false if loading threw.
fn ensure_loaded(ctx: RawCtx, host: &Host) -> bool {
    if host.dom.borrow().is_some() {
        return true;
    }
    match Dom::load(ctx) {
        Some(dom) => {
            *host.dom.borrow_mut() = Some(dom);
            true
        }
        None => false,
    }
}

/// `Data::Xml` to a DOM `Document` whose children are the fragment's top-level
/// nodes. Text that does not parse as XML stays a string.
pub(super) fn xml_to_js(ctx: RawCtx, host: &Host, xml: &str) -> Option<Owned> {
    let body = strip_declaration(xml);
    // A fragment may have several top-level elements: parse it inside a
    // wrapper element and take the wrapper's children.
    let wrapped = format!("<scxml-fragment>{body}</scxml-fragment>");
    let Ok(doc) = roxmltree::Document::parse(&wrapped) else {
        return Owned::new(ctx, js::new_string(ctx, xml));
    };
    if !ensure_loaded(ctx, host) {
        return None;
    }
    let mut nodes = Vec::new();
    for child in doc.root_element().children() {
        if child.is_text() && child.text().is_some_and(|t| t.trim().is_empty()) {
            continue;
        }
        if let Some(tree) = tree(ctx, child)? {
            nodes.push(tree.into_raw());
        }
    }
    let count = nodes.len() as i32; // top-level nodes of one parsed string: far below 2^31
                                    // SAFETY: JS_NewArrayFrom takes ownership of the values.
    let mut list = [Owned::new(ctx, unsafe {
        qjs::JS_NewArrayFrom(ctx, count, nodes.as_ptr())
    })?
    .into_raw()];
    let dom = host.dom.borrow();
    let build = dom.as_ref().map_or(js::UNDEFINED, |d| d.build);
    // SAFETY: calling the prelude's `build` with one argument we own.
    let result = unsafe { qjs::JS_Call(ctx, build, js::UNDEFINED, 1, list.as_mut_ptr()) };
    // SAFETY: releasing our argument.
    unsafe { qjs::JS_FreeValue(ctx, list[0]) };
    Owned::new(ctx, result)
}

/// The serialized XML of `v` if it is a DOM node of the prelude.
pub(super) fn node_to_xml(
    ctx: RawCtx,
    host: &Host,
    v: qjs::JSValue,
) -> Result<Option<String>, Conversion> {
    let dom = host.dom.borrow();
    let Some(dom) = dom.as_ref() else {
        return Ok(None);
    };
    // SAFETY: `instanceof` against the prelude's Node class.
    match unsafe { qjs::JS_IsInstanceOf(ctx, v, dom.node) } {
        n if n < 0 => return Err(Conversion::Exception),
        0 => return Ok(None),
        _ => {}
    }
    let mut arg = [v];
    // SAFETY: calling `serialize(v)`; `v` is borrowed for the call.
    let s = Owned::new(ctx, unsafe {
        qjs::JS_Call(ctx, dom.serialize, js::UNDEFINED, 1, arg.as_mut_ptr())
    })
    .ok_or(Conversion::Exception)?;
    js::to_string(ctx, s.raw())
        .map(Some)
        .ok_or(Conversion::Exception)
}

/// One node as the prelude's tree; `Ok(None)` for nodes the DOM leaves out
/// (comments, processing instructions). `None` if QuickJS threw.
fn tree(ctx: RawCtx, node: roxmltree::Node<'_, '_>) -> Option<Option<Owned>> {
    if node.is_text() {
        return Some(Owned::new(
            ctx,
            js::new_string(ctx, node.text().unwrap_or("")),
        ));
    }
    if !node.is_element() {
        return Some(None);
    }
    let name = node.tag_name();
    let qualified = qualified_name(node, name.namespace(), name.name());
    let mut attributes = Vec::new();
    for a in node.attributes() {
        attributes.push(js::new_string(
            ctx,
            &qualified_name(node, a.namespace(), a.name()),
        ));
        attributes.push(js::new_string(ctx, a.value()));
    }
    let attributes = new_array(ctx, attributes)?;
    let mut items = vec![
        js::new_string(ctx, &qualified),
        name.namespace()
            .map_or(js::NULL, |ns| js::new_string(ctx, ns)),
        attributes.into_raw(),
    ];
    for child in node.children() {
        match tree(ctx, child) {
            Some(Some(c)) => items.push(c.into_raw()),
            Some(None) => {}
            None => {
                free_all(ctx, items);
                return None;
            }
        }
    }
    new_array(ctx, items).map(Some)
}

fn qualified_name(node: roxmltree::Node<'_, '_>, namespace: Option<&str>, local: &str) -> String {
    match namespace.and_then(|ns| node.lookup_prefix(ns)) {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}:{local}"),
        _ => local.to_owned(),
    }
}

fn new_array(ctx: RawCtx, values: Vec<qjs::JSValue>) -> Option<Owned> {
    let count = values.len() as i32; // children of one element: far below 2^31
                                     // SAFETY: JS_NewArrayFrom takes ownership of the values.
    Owned::new(ctx, unsafe {
        qjs::JS_NewArrayFrom(ctx, count, values.as_ptr())
    })
}

fn free_all(ctx: RawCtx, values: Vec<qjs::JSValue>) {
    for v in values {
        // SAFETY: each is an owned reference.
        unsafe { qjs::JS_FreeValue(ctx, v) };
    }
}

/// Drops a leading `<?xml ...?>` declaration, which cannot appear inside the wrapper.
fn strip_declaration(xml: &str) -> &str {
    let trimmed = xml.trim_start();
    if trimmed.starts_with("<?xml") {
        if let Some(end) = trimmed.find("?>") {
            return &trimmed[end + 2..];
        }
    }
    xml
}
