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
pub(super) fn declared_prefixes(source: &str) -> Vec<Option<&str>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_json_xml_or_a_normalised_string() {
        assert_eq!(convert_text(" 123 "), Data::Number(123.0));
        assert_eq!(convert_text("\"quoted\""), Data::String("quoted".into()));
        assert_eq!(
            convert_text("{\"a\": null}"),
            Data::Object(vec![("a".into(), Data::Null)])
        );
        assert_eq!(convert_text("true"), Data::Bool(true));
        assert_eq!(convert_text(" \n\t "), Data::Undefined);
        assert_eq!(
            convert_text("<a><b/></a>\n"),
            Data::Xml("<a><b/></a>".into())
        );
        assert_eq!(
            convert_text("<a>unclosed"),
            Data::String("<a>unclosed".into())
        );
        // Not JSON and not evaluated: `{a: 1}` stays text (App. B.2).
        assert_eq!(convert_text("{a:  1}"), Data::String("{a: 1}".into()));
        // XML white space only; a no-break space is content.
        assert_eq!(normalize_space("\r\n a \t b\u{a0}c  "), "a b\u{a0}c");
    }

    #[test]
    fn declared_prefixes_of_a_start_tag() {
        assert_eq!(
            declared_prefixes(
                r#"<a xmlns="u" x='1' xmlns:p = "v" q="xmlns:r='w'"><b xmlns:z="y"/></a>"#
            ),
            [None, Some("p")]
        );
        assert!(declared_prefixes("<a/>").is_empty());
    }

    fn with_xml<T>(text: &str, f: impl FnOnce(&Context<'_>, XmlNode<'_>) -> T) -> T {
        let xml = roxmltree::Document::parse(text).unwrap();
        let lines = super::super::parse::LineIndex::new(text);
        let loader = super::super::parse::FileLoader;
        let ctx = Context {
            text,
            source_name: "t",
            loader: &loader,
            lines: &lines,
        };
        f(&ctx, xml.root_element())
    }

    #[test]
    fn copied_elements_declare_the_namespaces_they_inherit() {
        let text = r#"<r xmlns="urn:d" xmlns:p="urn:p"><c>
            <!-- before -->
            <p:a x="1&amp;2"><b/></p:a> text <e xmlns="urn:e" xmlns:p="urn:p2"/>
            <!-- after -->
        </c></r>"#;
        let out = with_xml(text, |ctx, root| {
            serialize_children(ctx, root.first_element_child().unwrap())
        });
        assert_eq!(
            out,
            r#"<p:a xmlns="urn:d" xmlns:p="urn:p" x="1&amp;2"><b/></p:a> text <e xmlns="urn:e" xmlns:p="urn:p2"/>"#
        );
        let wrapped = format!("<w>{out}</w>");
        let parsed = roxmltree::Document::parse(&wrapped).unwrap();
        let b = parsed.descendants().find(|n| n.has_tag_name("b")).unwrap();
        assert_eq!(b.tag_name().namespace(), Some("urn:d"));
    }

    #[test]
    fn mixed_content_is_xml_and_text_only_content_is_converted() {
        let text = "<r><c>a <b/> c</c><d>  [1, 2] </d><e><![CDATA[x  <y>]]></e></r>";
        with_xml(text, |ctx, root| {
            let mut children = root.children();
            let c = children.next().unwrap();
            assert_eq!(inline_data(ctx, c), Data::Xml("<b/>".into()));
            assert!(has_content(c));
            let d = children.next().unwrap();
            assert_eq!(
                inline_data(ctx, d),
                Data::Array(vec![Data::Number(1.0), Data::Number(2.0)])
            );
            let e = children.next().unwrap();
            assert_eq!(inline_data(ctx, e), Data::String("x <y>".into()));
        });
        with_xml("<r> <!-- c --> </r>", |ctx, root| {
            assert!(!has_content(root));
            assert_eq!(inline_data(ctx, root), Data::Undefined);
        });
    }
}
