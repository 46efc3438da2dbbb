//! Inline content (`<content>`, `<data>`, `<assign>` children, `src` text) to
//! [`Data`], and foreign elements to generic [`Element`]s.
//!
//! The rules of the ECMAScript data model (SCXML 1.0 App. B.2) as the W3C
//! tests read them:
//! - element children are XML: the source text of the children, each copied
//!   top-level element carrying the namespace declarations it inherited, so
//!   that it parses alone (test 530 assigns an `<scxml>` whose namespace is
//!   declared on the document's root);
//! - text that is JSON becomes the JSON value (`123`, `[1,2,3]`: tests 179,
//!   150, 446, 551);
//! - text that is an XML document (a `src` file) is XML (test 557);
//! - any other text is a string, space-normalised: runs of XML white space
//!   become one space and the ends are trimmed (tests 558, 562);
//! - empty or all-white-space content is no value (`undefined`).
//!
//! Text that is neither JSON nor XML is never evaluated as an ECMAScript
//! expression: B.2 asks for a string, and test 558 depends on it.

use super::model::{Element, Node};
use super::parse::{Context, XmlNode};
use crate::data::Data;

/// Whether an element has child content: an element, or non-white-space text.
pub(super) fn has_content(node: XmlNode<'_>) -> bool {
    node.children()
        .any(|c| c.is_element() || (c.is_text() && c.text().is_some_and(|t| !is_xml_space(t))))
}

/// The content of `node` as data.
pub(super) fn inline_data(ctx: &Context<'_>, node: XmlNode<'_>) -> Data {
    if node.children().any(|c| c.is_element()) {
        return Data::Xml(serialize_children(ctx, node));
    }
    let text: String = node
        .children()
        .filter_map(|c| c.is_text().then(|| c.text()).flatten())
        .collect();
    convert_text(&text)
}

/// Text (inline, or loaded from `src`) as data: JSON, an XML document, or a
/// space-normalised string.
pub(super) fn convert_text(text: &str) -> Data {
    let trimmed = text.trim_matches(is_xml_space_char);
    if trimmed.is_empty() {
        return Data::Undefined;
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(trimmed) {
        return Data::from(json);
    }
    if trimmed.starts_with('<') && roxmltree::Document::parse(trimmed).is_ok() {
        return Data::Xml(trimmed.to_owned());
    }
    Data::String(normalize_space(trimmed))
}

/// Collapses runs of XML white space to one space and trims the ends.
pub(super) fn normalize_space(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(is_xml_space_char).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The source text of `node`'s children from its first to its last element
/// child; each top-level element gets the namespace declarations in scope
/// that it does not declare itself. Comments and text around the elements
/// are left out.
pub(super) fn serialize_children(ctx: &Context<'_>, node: XmlNode<'_>) -> String {
    let children: Vec<_> = node.children().collect();
    let (Some(first), Some(last)) = (
        children.iter().position(|c| c.is_element()),
        children.iter().rposition(|c| c.is_element()),
    ) else {
        return String::new();
    };
    let mut out = String::new();
    for child in &children[first..=last] {
        if child.is_element() {
            out.push_str(&element_with_namespaces(ctx, *child));
        } else {
            out.push_str(ctx.text.get(child.range()).unwrap_or_default());
        }
    }
    out
}

/// A foreign element as a generic tree, for a custom action.
pub(super) fn element(ctx: &Context<'_>, node: XmlNode<'_>) -> Element {
    let children = node
        .children()
        .filter_map(|c| {
            if c.is_element() {
                Some(Node::Element(element(ctx, c)))
            } else if c.is_text() {
                c.text().map(|t| Node::Text(t.to_owned()))
            } else {
                None
            }
        })
        .collect();
    Element {
        namespace: node.tag_name().namespace().unwrap_or_default().to_owned(),
        name: node.tag_name().name().to_owned(),
        attributes: node
            .attributes()
            .map(|a| (a.name().to_owned(), a.value().to_owned()))
            .collect(),
        children,
        source: ctx.text.get(node.range()).unwrap_or_default().to_owned(),
        location: ctx.location(node),
    }
}

/// The element's source with `xmlns` declarations added to its start tag for
/// every namespace in scope that the start tag does not declare itself.
fn element_with_namespaces(ctx: &Context<'_>, node: XmlNode<'_>) -> String {
    let source = ctx.text.get(node.range()).unwrap_or_default();
    let declared = declared_prefixes(source);
    let mut extra = String::new();
    for namespace in node.namespaces() {
        let prefix = namespace.name();
        if prefix == Some("xml") || declared.contains(&prefix) {
            continue;
        }
        match prefix {
            Some(p) => extra.push_str(&format!(
                " xmlns:{p}=\"{}\"",
                escape_attribute(namespace.uri())
            )),
            None => extra.push_str(&format!(" xmlns=\"{}\"", escape_attribute(namespace.uri()))),
        }
    }
    if extra.is_empty() {
        return source.to_owned();
    }
    // Insert right after the qualified name: `<` then the name up to white
    // space, `/` or `>`.
    let name_end = source
        .char_indices()
        .skip(1)
        .find(|&(_, c)| is_xml_space_char(c) || c == '/' || c == '>')
        .map_or(source.len(), |(i, _)| i);
    format!("{}{extra}{}", &source[..name_end], &source[name_end..])
}

/// The namespace prefixes a start tag declares (`None` for `xmlns=`). A
/// small scanner over `name="value"` pairs, which roxmltree does not report
/// as attributes.
fn declared_prefixes(source: &str) -> Vec<Option<&str>> {
    let mut declared = Vec::new();
    let bytes = source.as_bytes();
    // Skip `<` and the element name.
    let mut i = 1;
    while i < bytes.len()
        && !is_xml_space_char(bytes[i] as char)
        && bytes[i] != b'/'
        && bytes[i] != b'>'
    {
        i += 1;
    }
    loop {
        while i < bytes.len() && is_xml_space_char(bytes[i] as char) {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'/' || bytes[i] == b'>' {
            break;
        }
        let name_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !is_xml_space_char(bytes[i] as char) {
            i += 1;
        }
        let name = &source[name_start..i];
        while i < bytes.len() && bytes[i] != b'\'' && bytes[i] != b'"' {
            i += 1;
        }
        let Some(&quote) = bytes.get(i) else { break };
        i += 1;
        while i < bytes.len() && bytes[i] != quote {
            i += 1;
        }
        i += 1;
        if name == "xmlns" {
            declared.push(None);
        } else if let Some(prefix) = name.strip_prefix("xmlns:") {
            declared.push(Some(prefix));
        }
    }
    declared
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

fn is_xml_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_xml_space(text: &str) -> bool {
    text.chars().all(is_xml_space_char)
}
