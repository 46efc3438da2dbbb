//! XInclude (XML Inclusions 1.0, `http://www.w3.org/2001/XInclude`) as the
//! ORS dialect uses it (ors-dialect.md §1.2 "XInclude", §1.8): a pre-pass
//! over the XML text that replaces each `<xi:include>` by what it names, so
//! that the parser proper never sees an include.
//!
//! - `parse="text"`: the loaded text, escaped, in place of the element
//!   (Composer: `<script><xi:include href="common.js" parse="text"/></script>`).
//! - `parse="xml"` (the default): the root element of the loaded document, or
//!   the element whose `id` is the `xpointer` (a bare id, XPointer's
//!   shorthand form; other XPointer schemes are refused). The element is
//!   copied with the namespace declarations it inherited, so it means the
//!   same in its new place. Includes in included documents are expanded
//!   first, relative to the included document's own name.
//! - `resolveid` (a Genesys extension): every `$$_MY_PREFIX_$$` in the loaded
//!   text is replaced by the resolve id before it is read, and the JS variable
//!   `_my_prefix` holds the resolve id "in that scope". The approximation
//!   chosen here: when the included element is a `<state>`, `<parallel>` or
//!   `<final>`, an `<onentry>` placed before its own ones assigns the global
//!   `_my_prefix`. That is exact while one resolve-id scope is active at a
//!   time — Composer's shape, one workflow per application leg — but not for
//!   two included workflows active in parallel (the last entered wins), nor
//!   for expressions evaluated before the state is first entered (`<data
//!   expr>` under early binding sees `_my_prefix` undefined).
//! - `<xi:fallback>`: its content replaces an include whose resource cannot
//!   be loaded (without expanding includes inside the fallback).
//! - An include of a document that is being included (a loop) is an error at
//!   the `<xi:include>`, as is nesting deeper than [`MAX_DEPTH`].
//!
//! Positions: the expanded text carries a map from its byte ranges back to
//! the file and offset each came from, and [`Expanded::relocate`] turns an
//! error of the parse of the expanded text into one naming the original file,
//! line and column. Where the pre-pass rewrote text (escaping, namespace
//! declarations, resolve-id substitution) columns on that line may be off by
//! the length difference.
//!
//! Documents without the XInclude namespace are passed through untouched,
//! without a second parse.

use std::ops::Range;
use std::rc::Rc;

use roxmltree::ParsingOptions;

use super::content::declared_prefixes;
use super::parse::{DocumentError, LineIndex, Loader, XmlNode, SCXML_NS};

/// The XInclude namespace.
pub(super) const XINCLUDE_NS: &str = "http://www.w3.org/2001/XInclude";

/// How deep includes may nest.
pub(super) const MAX_DEPTH: usize = 32;

/// The Genesys token replaced by the resolve id.
const PREFIX_TOKEN: &str = "$$_MY_PREFIX_$$";

/// A document's text with its includes expanded.
pub(super) enum Expanded<'a> {
    /// No include: the text as given.
    Unchanged(&'a str),
    /// The expanded text and where each part came from.
    Expanded(Mapped),
}

impl Expanded<'_> {
    /// The text to parse.
    pub(super) fn text(&self) -> &str {
        match self {
            Expanded::Unchanged(text) => text,
            Expanded::Expanded(mapped) => &mapped.text,
        }
    }

    /// `error`, found in the expanded text of the document `name`, placed in
    /// the file it came from.
    pub(super) fn relocate(&self, error: DocumentError, name: &str) -> DocumentError {
        match self {
            Expanded::Unchanged(_) => error,
            Expanded::Expanded(mapped) if error.file == name => mapped.relocate(error),
            Expanded::Expanded(_) => error,
        }
    }
}

/// Expands the includes of the document `name`.
pub(super) fn expand<'a>(
    text: &'a str,
    name: &str,
    loader: &dyn Loader,
) -> Result<Expanded<'a>, DocumentError> {
    if !text.contains(XINCLUDE_NS) {
        return Ok(Expanded::Unchanged(text));
    }
    let mut stack = vec![name.to_owned()];
    let mapped = expand_text(Mapped::identity(text, name), loader, &mut stack, true)?;
    Ok(Expanded::Expanded(mapped))
}

/// Where a run of the expanded text starts in its original file. A segment
/// runs to the start of the next one.
#[derive(Clone)]
struct Segment {
    /// Byte offset in the mapped text.
    start: usize,
    /// The original file's name.
    file: Rc<str>,
    /// The original file's text (as read, after resolve-id substitution).
    origin_text: Rc<str>,
    /// Byte offset in `origin_text`.
    origin: usize,
}

/// Text with a map back to the files it came from.
pub(super) struct Mapped {
    text: String,
    segments: Vec<Segment>,
}

impl Mapped {
    fn identity(text: &str, name: &str) -> Mapped {
        let origin_text: Rc<str> = Rc::from(text);
        Mapped {
            text: text.to_owned(),
            segments: vec![Segment {
                start: 0,
                file: Rc::from(name),
                origin_text,
                origin: 0,
            }],
        }
    }

    fn empty() -> Mapped {
        Mapped {
            text: String::new(),
            segments: Vec::new(),
        }
    }

    /// Appends `source.text[range]`, keeping its map.
    fn push_from(&mut self, source: &Mapped, range: Range<usize>) {
        let Some(slice) = source.text.get(range.clone()) else {
            return;
        };
        let first = source
            .segments
            .partition_point(|s| s.start <= range.start)
            .saturating_sub(1);
        for segment in source.segments[first..]
            .iter()
            .take_while(|s| s.start < range.end)
        {
            let from = segment.start.max(range.start);
            self.segments.push(Segment {
                start: self.text.len() + (from - range.start),
                origin: segment.origin + (from - segment.start),
                ..segment.clone()
            });
        }
        self.text.push_str(slice);
    }

    /// Appends text made by the pre-pass, placed at `source`'s `at`.
    fn push_made(&mut self, text: &str, source: &Mapped, at: usize) {
        if let Some(segment) = source.segment_at(at) {
            self.segments.push(Segment {
                start: self.text.len(),
                origin: segment.origin + (at - segment.start),
                ..segment.clone()
            });
        }
        self.text.push_str(text);
    }

    /// Appends text from another file, mapped to it from its start.
    fn push_file(&mut self, text: &str, file: &str, origin_text: &Rc<str>) {
        self.segments.push(Segment {
            start: self.text.len(),
            file: Rc::from(file),
            origin_text: Rc::clone(origin_text),
            origin: 0,
        });
        self.text.push_str(text);
    }

    fn segment_at(&self, offset: usize) -> Option<&Segment> {
        let index = self.segments.partition_point(|s| s.start <= offset);
        self.segments.get(index.checked_sub(1)?)
    }

    /// A position of the mapped text as `file:line:column` of its origin.
    fn origin_of(&self, offset: usize) -> Option<(Rc<str>, u32, u32)> {
        let segment = self.segment_at(offset)?;
        let text = &*segment.origin_text;
        let mut origin = (segment.origin + (offset - segment.start)).min(text.len());
        while !text.is_char_boundary(origin) {
            origin -= 1;
        }
        let location = LineIndex::new(text).location(text, origin);
        Some((Rc::clone(&segment.file), location.line, location.column))
    }

    fn relocate(&self, mut error: DocumentError) -> DocumentError {
        let offset = offset_of(&self.text, error.line, error.column);
        if let Some((file, line, column)) = self.origin_of(offset) {
            error.file = file.to_string();
            error.line = line;
            error.column = column;
        }
        error
    }

    /// An error at byte `offset` of this text.
    fn error_at(&self, offset: usize, message: String) -> DocumentError {
        let (file, line, column) = self
            .origin_of(offset)
            .unwrap_or_else(|| (Rc::from(""), 1, 1));
        DocumentError {
            file: file.to_string(),
            line,
            column,
            message,
        }
    }
}

/// The byte offset of a 1-based line and (character) column.
fn offset_of(text: &str, line: u32, column: u32) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    text[start..]
        .char_indices()
        .nth(column.saturating_sub(1) as usize)
        .map_or(text.len(), |(i, _)| start + i)
}

/// Expands the includes of `source`, whose name is the last of `stack`. At
/// the top level, malformed XML is left for the parser proper to report.
fn expand_text(
    source: Mapped,
    loader: &dyn Loader,
    stack: &mut Vec<String>,
    top: bool,
) -> Result<Mapped, DocumentError> {
    if !source.text.contains(XINCLUDE_NS) {
        return Ok(source);
    }
    let options = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    let xml = match roxmltree::Document::parse_with_options(&source.text, options) {
        Ok(xml) => xml,
        Err(_) if top => return Ok(source),
        Err(e) => {
            let pos = e.pos();
            let offset = offset_of(&source.text, pos.row, pos.col);
            return Err(source.error_at(offset, format!("malformed XML: {e}")));
        }
    };
    let mut includes = Vec::new();
    collect_includes(xml.root(), &mut includes);
    if includes.is_empty() {
        return Ok(source);
    }
    let mut out = Mapped::empty();
    let mut cursor = 0;
    for node in includes {
        let range = node.range();
        out.push_from(&source, cursor..range.start);
        include(&mut out, &source, node, loader, stack)?;
        cursor = range.end;
    }
    out.push_from(&source, cursor..source.text.len());
    Ok(out)
}

/// The outermost `<xi:include>` elements under `node`, in document order.
fn collect_includes<'a>(node: XmlNode<'a>, out: &mut Vec<XmlNode<'a>>) {
    for child in node.children().filter(|c| c.is_element()) {
        if is_xinclude(child, "include") {
            out.push(child);
        } else {
            collect_includes(child, out);
        }
    }
}

fn is_xinclude(node: XmlNode<'_>, name: &str) -> bool {
    node.tag_name().namespace() == Some(XINCLUDE_NS) && node.tag_name().name() == name
}

/// Appends to `out` what the `<xi:include>` `node` of `source` stands for.
fn include(
    out: &mut Mapped,
    source: &Mapped,
    node: XmlNode<'_>,
    loader: &dyn Loader,
    stack: &mut Vec<String>,
) -> Result<(), DocumentError> {
    let at = node.range().start;
    let error = |message: String| source.error_at(at, format!("<xi:include>: {message}"));
    let Some(href) = node.attribute("href") else {
        return Err(error("href is required".to_owned()));
    };
    let text_mode = match node.attribute("parse").unwrap_or("xml") {
        "xml" => false,
        "text" => true,
        other => return Err(error(format!("parse must be xml or text, not {other:?}"))),
    };
    let base = stack.last().cloned().unwrap_or_default();
    let (name, text) = match loader.load(&base, href) {
        Ok(loaded) => loaded,
        Err(e) => {
            // XInclude §4.4: the fallback's children replace the include.
            if let Some(fallback) = node.children().find(|c| is_xinclude(*c, "fallback")) {
                if let (Some(first), Some(last)) = (fallback.first_child(), fallback.last_child()) {
                    out.push_from(source, first.range().start..last.range().end);
                }
                return Ok(());
            }
            return Err(error(e.to_string()));
        }
    };
    let resolve_id = node.attribute("resolveid");
    let text = match resolve_id {
        Some(id) => text.replace(PREFIX_TOKEN, id),
        None => text,
    };
    if text_mode {
        let origin: Rc<str> = Rc::from(text.as_str());
        out.push_file(&escape_text(&text), &name, &origin);
        return Ok(());
    }
    if stack.contains(&name) {
        return Err(error(format!(
            "include loop: {} includes {name} again",
            stack.join(" includes ")
        )));
    }
    if stack.len() > MAX_DEPTH {
        return Err(error(format!("includes nest deeper than {MAX_DEPTH}")));
    }
    stack.push(name.clone());
    let included = expand_text(Mapped::identity(&text, &name), loader, stack, false);
    stack.pop();
    let included = included?;
    let options = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    let xml = roxmltree::Document::parse_with_options(&included.text, options).map_err(|e| {
        let pos = e.pos();
        let offset = offset_of(&included.text, pos.row, pos.col);
        included.error_at(offset, format!("malformed XML: {e}"))
    })?;
    let element = match node.attribute("xpointer") {
        None => xml.root_element(),
        Some(pointer) if is_bare_name(pointer) => xml
            .descendants()
            .find(|n| n.is_element() && n.attribute("id") == Some(pointer))
            .ok_or_else(|| error(format!("no element with id {pointer:?} in {name}")))?,
        Some(pointer) => {
            return Err(error(format!(
                "xpointer {pointer:?}: only a bare id is supported"
            )))
        }
    };
    copy_element(out, &included, element, resolve_id);
    Ok(())
}

/// Appends `element` of `source` with the namespace declarations it
/// inherited and, for a resolve id, the `<onentry>` setting `_my_prefix`.
fn copy_element(out: &mut Mapped, source: &Mapped, element: XmlNode<'_>, resolve_id: Option<&str>) {
    let range = element.range();
    let slice = &source.text[range.clone()];
    let declared = declared_prefixes(slice);
    let mut declarations = String::new();
    for namespace in element.namespaces() {
        let prefix = namespace.name();
        if prefix == Some("xml") || declared.contains(&prefix) {
            continue;
        }
        let uri = escape_attribute(namespace.uri());
        match prefix {
            Some(p) => declarations.push_str(&format!(" xmlns:{p}=\"{uri}\"")),
            None => declarations.push_str(&format!(" xmlns=\"{uri}\"")),
        }
    }
    let name_end = range.start
        + slice
            .char_indices()
            .skip(1)
            .find(|&(_, c)| matches!(c, ' ' | '\t' | '\r' | '\n' | '/' | '>'))
            .map_or(slice.len(), |(i, _)| i);
    out.push_from(source, range.start..name_end);
    out.push_made(&declarations, source, name_end);
    let is_state = element.tag_name().namespace() == Some(SCXML_NS)
        && matches!(element.tag_name().name(), "state" | "parallel" | "final");
    let Some(id) = resolve_id.filter(|_| is_state) else {
        out.push_from(source, name_end..range.end);
        return;
    };
    // A JSON string is a JS string literal; then escaped for XML text.
    let literal = serde_json::Value::String(id.to_owned()).to_string();
    let onentry = format!(
        "<onentry xmlns=\"{SCXML_NS}\"><script>_my_prefix = {};</script></onentry>",
        escape_text(&literal)
    );
    if let Some(first) = element.first_child() {
        // The start tag ends where the first child starts.
        let body = first.range().start;
        out.push_from(source, name_end..body);
        out.push_made(&onentry, source, body);
        out.push_from(source, body..range.end);
    } else if slice.ends_with("/>") {
        out.push_from(source, name_end..range.end - 2);
        let qualified = &source.text[range.start + 1..name_end];
        out.push_made(&format!(">{onentry}</{qualified}>"), source, range.end - 2);
    } else {
        // `<state ...></state>`: before the end tag.
        let end_tag = range.start + slice.rfind("</").unwrap_or(slice.len());
        out.push_from(source, name_end..end_tag);
        out.push_made(&onentry, source, end_tag);
        out.push_from(source, end_tag..range.end);
    }
}

/// An XPointer shorthand: an NCName, no scheme.
fn is_bare_name(pointer: &str) -> bool {
    !pointer.is_empty()
        && !pointer.contains(['(', ')', ':', '/', ' '])
        && !pointer.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
}

fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn escape_attribute(value: &str) -> String {
    escape_text(value).replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::super::parse::tests::MapLoader;
    use super::super::parse::{parse, FileLoader};
    use super::*;

    const HEAD: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude" version="1.0" initial="main">"#;

    /// A Composer-shaped workflow: ids carry the resolve-id token.
    const DEFAULT_SCXML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:ws="http://www.genesyslab.com/modules/ws" version="1.0">
  <state id="_composer_entry" initial="$$_MY_PREFIX_$$.Entry">
    <state id="$$_MY_PREFIX_$$.Entry">
      <onentry><ws:custom x="1"/></onentry>
      <transition target="$$_MY_PREFIX_$$.Exit"/>
    </state>
    <final id="$$_MY_PREFIX_$$.Exit"/>
  </state>
</scxml>"#;

    fn expanded(text: &str, loader: &dyn Loader) -> String {
        expand(text, "main.scxml", loader)
            .unwrap()
            .text()
            .to_owned()
    }

    #[test]
    fn documents_without_includes_are_not_touched() {
        let text = "<scxml xmlns=\"http://www.w3.org/2005/07/scxml\"/>";
        assert!(matches!(
            expand(text, "a", &MapLoader(Vec::new())).unwrap(),
            Expanded::Unchanged(t) if std::ptr::eq(t, text)
        ));
    }

    #[test]
    fn text_includes_are_inlined_escaped() {
        let loader = MapLoader(vec![("common.js", "var common = 1 < 2 && true;")]);
        let text = format!(
            "{HEAD}<script><xi:include href=\"common.js\" parse=\"text\"/></script><state id=\"main\"/></scxml>"
        );
        let out = expanded(&text, &loader);
        assert!(out.contains("<script>var common = 1 &lt; 2 &amp;&amp; true;</script>"));
        let document = parse(&text, "main.scxml", &loader).unwrap();
        assert!(document
            .code
            .iter()
            .any(|c| c.text == "var common = 1 < 2 && true;"));
    }

    #[test]
    fn xml_includes_insert_the_pointed_element_with_resolve_ids() {
        let loader = MapLoader(vec![("default.scxml", DEFAULT_SCXML)]);
        let text = format!(
            r#"{HEAD}<state id="main"><xi:include href="default.scxml" parse="xml" resolveid="defaultWorkflow" xpointer="_composer_entry"/></state></scxml>"#
        );
        let document = parse(&text, "main.scxml", &loader).unwrap();
        for id in [
            "_composer_entry",
            "defaultWorkflow.Entry",
            "defaultWorkflow.Exit",
        ] {
            assert!(document.state_by_id(id).is_some(), "{id}");
        }
        let out = expanded(&text, &loader);
        // The prefix the element inherited is declared on it.
        assert!(out.contains(
            r#"<state xmlns="http://www.w3.org/2005/07/scxml" xmlns:ws="http://www.genesyslab.com/modules/ws" id="_composer_entry""#
        ));
        assert!(out.contains(r#"<script>_my_prefix = "defaultWorkflow";</script>"#));
        assert!(!out.contains(PREFIX_TOKEN));
        // The `_my_prefix` assignment runs first on entry.
        let entry = document.state(document.state_by_id("_composer_entry").unwrap());
        assert_eq!(entry.onentry.len(), 1);
    }

    #[test]
    fn includes_without_xpointer_take_the_root_and_nest() {
        let loader = MapLoader(vec![
            (
                "outer.xml",
                r#"<state xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude" id="outer"><xi:include href="inner.xml"/></state>"#,
            ),
            (
                "inner.xml",
                r#"<state xmlns="http://www.w3.org/2005/07/scxml" id="inner"/>"#,
            ),
        ]);
        let text =
            format!(r#"{HEAD}<state id="main"><xi:include href="outer.xml"/></state></scxml>"#);
        let document = parse(&text, "main.scxml", &loader).unwrap();
        let inner = document.state_by_id("inner").unwrap();
        let outer = document.state_by_id("outer").unwrap();
        assert_eq!(document.state(inner).parent, Some(outer));
    }

    #[test]
    fn loops_are_errors_at_the_include() {
        let loader = MapLoader(vec![
            (
                "a.xml",
                "<state xmlns=\"http://www.w3.org/2005/07/scxml\" xmlns:xi=\"http://www.w3.org/2001/XInclude\" id=\"a\">\n  <xi:include href=\"b.xml\"/></state>",
            ),
            (
                "b.xml",
                "<state xmlns=\"http://www.w3.org/2005/07/scxml\" xmlns:xi=\"http://www.w3.org/2001/XInclude\" id=\"b\">\n\n   <xi:include href=\"a.xml\"/></state>",
            ),
        ]);
        let text =
            format!("{HEAD}\n<state id=\"main\"><xi:include href=\"a.xml\"/></state></scxml>");
        let e = parse(&text, "main.scxml", &loader).unwrap_err();
        assert_eq!((e.file.as_str(), e.line, e.column), ("b.xml", 3, 4), "{e}");
        assert!(
            e.message
                .contains("main.scxml includes a.xml includes b.xml includes a.xml again"),
            "{e}"
        );
        // Including oneself.
        let own =
            format!("{HEAD}<state id=\"main\"><xi:include href=\"main.scxml\"/></state></scxml>");
        let loader = MapLoader(vec![("main.scxml", "<x/>")]);
        assert!(parse(&own, "main.scxml", &loader)
            .unwrap_err()
            .message
            .contains("include loop"));
    }

    #[test]
    fn errors_name_the_included_file_and_position() {
        let loader = MapLoader(vec![
            (
                "bad.xml",
                "<state xmlns=\"http://www.w3.org/2005/07/scxml\" id=\"x\">\n  <transition target=\"nowhere\"/>\n</state>",
            ),
            ("broken.xml", "<state>\n  <unclosed>\n</state>"),
        ]);
        let text =
            format!("{HEAD}\n<state id=\"main\"><xi:include href=\"bad.xml\"/></state></scxml>");
        let e = parse(&text, "main.scxml", &loader).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.column),
            ("bad.xml", 2, 3),
            "{e}"
        );
        assert!(e.message.contains("nowhere"), "{e}");
        let text =
            format!("{HEAD}\n<state id=\"main\"><xi:include href=\"broken.xml\"/></state></scxml>");
        let e = parse(&text, "main.scxml", &loader).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("broken.xml", 3), "{e}");
        assert!(e.message.contains("malformed XML"), "{e}");
        // Errors of the including document after an include keep their place.
        let text = format!(
            "{HEAD}\n<state id=\"main\"><xi:include href=\"common.js\" parse=\"text\"/>\n<transition target=\"nope\"/></state></scxml>"
        );
        let loader = MapLoader(vec![("common.js", "a\nb\nc\n")]);
        let e = parse(&text, "main.scxml", &loader).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.column),
            ("main.scxml", 3, 1),
            "{e}"
        );
    }

    #[test]
    fn missing_resources_fall_back_or_fail_at_the_include() {
        let loader = MapLoader(Vec::new());
        let text = format!(
            "{HEAD}<state id=\"main\"><xi:include href=\"gone.xml\"><xi:fallback><state id=\"spare\"/></xi:fallback></xi:include></state></scxml>"
        );
        let document = parse(&text, "main.scxml", &loader).unwrap();
        assert!(document.state_by_id("spare").is_some());
        let text =
            format!("{HEAD}\n  <state id=\"main\"><xi:include href=\"gone.xml\"/></state></scxml>");
        let e = parse(&text, "main.scxml", &loader).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.column),
            ("main.scxml", 2, 20),
            "{e}"
        );
        assert!(e.message.contains("gone.xml"), "{e}");
        let text = format!(
            "{HEAD}<state id=\"main\"><xi:include href=\"x\" xpointer=\"xpointer(/a)\"/></state></scxml>"
        );
        let loader = MapLoader(vec![("x", "<a/>")]);
        assert!(parse(&text, "main.scxml", &loader)
            .unwrap_err()
            .message
            .contains("only a bare id"));
    }

    #[test]
    fn includes_resolve_relative_to_the_including_file() {
        let dir = std::env::temp_dir().join(format!("scxml-xinclude-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("include")).unwrap();
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("include/common.js"), "var fromCommon = 7;").unwrap();
        std::fs::write(
            dir.join("include/wf.scxml"),
            r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude" version="1.0"><state id="wf"><onentry><script><xi:include href="common.js" parse="text"/></script></onentry></state></scxml>"#,
        )
        .unwrap();
        let main = dir.join("src/main.scxml");
        let text = format!(
            r#"{HEAD}<script><xi:include href="../include/common.js" parse="text"/></script><state id="main"><xi:include href="../include/wf.scxml" xpointer="wf"/></state></scxml>"#
        );
        let document = parse(&text, &main.display().to_string(), &FileLoader).unwrap();
        assert!(document.state_by_id("wf").is_some());
        let scripts = document
            .code
            .iter()
            .filter(|c| c.text == "var fromCommon = 7;")
            .count();
        assert_eq!(scripts, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The parser never reads external entities: a DTD is refused outright,
    /// in the document and in what it includes, so `SYSTEM` entities (and
    /// entity expansion bombs) never get a chance to load.
    #[test]
    fn external_entities_are_refused() {
        let dir = std::env::temp_dir().join(format!("scxml-xxe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret.txt");
        std::fs::write(&secret, "SECRET").unwrap();
        let dtd = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE scxml [<!ENTITY ext SYSTEM \"file://{}\">]>\n",
            secret.display()
        );
        let text = format!(
            "{dtd}<scxml xmlns=\"http://www.w3.org/2005/07/scxml\" version=\"1.0\"><datamodel><data id=\"d\">&ext;</data></datamodel></scxml>"
        );
        let e = parse(&text, "xxe.scxml", &FileLoader).unwrap_err();
        assert_eq!(e.file, "xxe.scxml", "{e}");
        assert!(e.message.contains("DTD"), "{e}");
        assert!(!e.to_string().contains("SECRET"));
        // The same through an include.
        std::fs::write(
            dir.join("inc.xml"),
            format!("{dtd}<state xmlns=\"http://www.w3.org/2005/07/scxml\" id=\"s\">&ext;</state>"),
        )
        .unwrap();
        let main =
            format!("{HEAD}<state id=\"main\"><xi:include href=\"inc.xml\"/></state></scxml>");
        let e = parse(
            &main,
            &dir.join("main.scxml").display().to_string(),
            &FileLoader,
        )
        .unwrap_err();
        assert!(e.file.ends_with("inc.xml"), "{e}");
        assert!(e.message.contains("DTD"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
