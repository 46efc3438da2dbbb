//! Where a journaled session's document is in the journal, and how to get
//! it back.
//!
//! A top-level session's start record names its document by URL and
//! SHA-256; the source is stored once per hash. An invoked child is
//! journaled on its own ([`super::persist`]) and its start record says where
//! its document is, by how the runner made it ([`runner::ChildSource`]):
//!
//! - loaded from its `src`: its own text, stored under its own hash, with the
//!   URL it came from;
//! - given as text by `<content>`: its own text, stored under its own hash,
//!   no URL; `host.name` keeps the name relative `src` inside resolve
//!   against (its parent's document);
//! - an inline `<scxml>` in the parent's `<invoke><content>`: it has no text
//!   of its own, so the record names the stored text it is part of (the
//!   parent's reference) and `host.inline` the way down to it: one
//!   `[state, invoke]` pair of indices (document order) per level of
//!   nesting.
//!
//! [`Documents`] parses what it reads once per hash and follows the way down.

use std::collections::HashMap;
use std::sync::Arc;

use journal::{ContentHash, DocumentRef, Journal, Start, Value};
use runner::ChildSource;
use scxml::document::Content;
use scxml::Document;

/// A journaled session's document: the stored text it is (part of) and the
/// way down to it, so that its children's start records can name theirs.
#[derive(Clone)]
pub(crate) struct JournaledDocument {
    /// The stored text's reference.
    pub(crate) reference: DocumentRef,
    /// The stored text.
    pub(crate) text: Arc<str>,
    /// From the stored text's document down to this one (inline children).
    pub(crate) inline: Vec<(u32, u32)>,
    /// The name the stored text was parsed under, when not its URL.
    pub(crate) name: Option<String>,
    /// The parsed document the session runs.
    pub(crate) document: Arc<Document>,
}

/// Where a child's start record says its document is.
pub(crate) struct ChildDocument {
    pub(crate) reference: DocumentRef,
    pub(crate) host: Value,
    pub(crate) text: Arc<str>,
    pub(crate) journaled: JournaledDocument,
}

impl JournaledDocument {
    /// The document of a top-level session, stored as `text` under
    /// `reference`.
    pub(crate) fn top_level(
        reference: DocumentRef,
        text: &Arc<str>,
        document: &Arc<Document>,
    ) -> Self {
        JournaledDocument {
            reference,
            text: Arc::clone(text),
            inline: Vec::new(),
            name: None,
            document: Arc::clone(document),
        }
    }

    /// Where the document of a child invoked by the session running `self`
    /// is, for its start record; `None` when it cannot be found again (an
    /// inline document this one does not contain).
    pub(crate) fn child(
        &self,
        document: &Arc<Document>,
        source: &ChildSource,
    ) -> Option<ChildDocument> {
        let (reference, text, inline, name) = match source {
            ChildSource::Loaded(text) => (
                DocumentRef {
                    url: Some(document.source_name.clone()),
                    hash: ContentHash::of(text.as_bytes()),
                },
                Arc::clone(text),
                Vec::new(),
                None,
            ),
            ChildSource::Text(text) => (
                DocumentRef {
                    url: None,
                    hash: ContentHash::of(text.as_bytes()),
                },
                Arc::clone(text),
                Vec::new(),
                Some(document.source_name.clone()),
            ),
            ChildSource::Inline => {
                let mut inline = self.inline.clone();
                inline.push(locate(&self.document, document)?);
                (
                    self.reference.clone(),
                    Arc::clone(&self.text),
                    inline,
                    self.name.clone(),
                )
            }
        };
        let journaled = JournaledDocument {
            reference: reference.clone(),
            text: Arc::clone(&text),
            inline,
            name,
            document: Arc::clone(document),
        };
        Some(ChildDocument {
            reference,
            host: journaled.host(),
            text,
            journaled,
        })
    }

    /// The `host` value of a start record: `inline` and `name` when set.
    fn host(&self) -> Value {
        let mut fields = Vec::new();
        if !self.inline.is_empty() {
            let path = self
                .inline
                .iter()
                .map(|&(s, i)| Value::Array(vec![Value::Number(s.into()), Value::Number(i.into())]))
                .collect();
            fields.push(("inline".to_owned(), Value::Array(path)));
        }
        if let Some(name) = &self.name {
            fields.push(("name".to_owned(), Value::String(name.clone())));
        }
        match fields.is_empty() {
            true => Value::Undefined,
            false => Value::Object(fields),
        }
    }
}

/// The `[state, invoke]` indices of the `<invoke>` whose inline content is
/// `child`.
fn locate(parent: &Document, child: &Arc<Document>) -> Option<(u32, u32)> {
    parent.states.iter().enumerate().find_map(|(s, state)| {
        state
            .invokes
            .iter()
            .enumerate()
            .find_map(|(i, invoke)| match &invoke.content {
                Some(Content::Document(d)) if Arc::ptr_eq(d, child) => Some((s as u32, i as u32)),
                _ => None,
            })
    })
}

/// The document of the `<invoke>` at `[state, invoke]`.
fn inline_child(parent: &Document, (s, i): (u32, u32)) -> Option<Arc<Document>> {
    let invoke = parent.states.get(s as usize)?.invokes.get(i as usize)?;
    match &invoke.content {
        Some(Content::Document(d)) => Some(Arc::clone(d)),
        _ => None,
    }
}

/// `host.inline` and `host.name` of a start record.
fn read_host(host: &Value) -> (Vec<(u32, u32)>, Option<String>) {
    let Value::Object(fields) = host else {
        return (Vec::new(), None);
    };
    let mut inline = Vec::new();
    let mut name = None;
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("inline", Value::Array(steps)) => {
                inline = steps
                    .iter()
                    .filter_map(|step| match step {
                        Value::Array(pair) => match pair.as_slice() {
                            [Value::Number(s), Value::Number(i)] => Some((*s as u32, *i as u32)),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect();
            }
            ("name", Value::String(n)) => name = Some(n.clone()),
            _ => {}
        }
    }
    (inline, name)
}

/// Parses journaled documents once per content hash.
#[derive(Default)]
pub(crate) struct Documents {
    by_hash: HashMap<ContentHash, (Arc<str>, Arc<Document>)>,
}

impl Documents {
    /// The document a start record names, with where it is in the journal.
    pub(crate) fn of_start(
        &mut self,
        journal: &Journal,
        start: &Start,
    ) -> Result<JournaledDocument, String> {
        let (inline, name) = read_host(&start.host);
        let (text, mut document) = self.stored(journal, &start.document, name.as_deref())?;
        for &step in &inline {
            document = inline_child(&document, step).ok_or_else(|| {
                format!(
                    "document {} has no inline <invoke> document at {step:?}",
                    start.document.hash.to_hex()
                )
            })?;
        }
        Ok(JournaledDocument {
            reference: start.document.clone(),
            text,
            inline,
            name,
            document,
        })
    }

    /// A stored text and its parsed document.
    fn stored(
        &mut self,
        journal: &Journal,
        reference: &DocumentRef,
        name: Option<&str>,
    ) -> Result<(Arc<str>, Arc<Document>), String> {
        if let Some((text, document)) = self.by_hash.get(&reference.hash) {
            return Ok((Arc::clone(text), Arc::clone(document)));
        }
        let text = journal
            .document(&reference.hash)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("document {} is not in the journal", reference.hash.to_hex()))?;
        let name = name
            .map(str::to_owned)
            .or_else(|| reference.url.clone())
            .unwrap_or_else(|| "inline".to_owned());
        let name = name
            .strip_prefix("file://")
            .map(str::to_owned)
            .unwrap_or(name);
        let parsed = scxml::document::parse(&text, &name, &scxml::document::FileLoader)
            .map_err(|e| e.to_string())?;
        let found = (Arc::<str>::from(text), Arc::new(parsed));
        self.by_hash.insert(reference.hash, found.clone());
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="a">
  <state id="a">
    <invoke id="one"><content><scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"><final id="x"/></scxml></content></invoke>
    <invoke id="two"><content><scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="y">
      <state id="y"><invoke><content><scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"><final id="deep"/></scxml></content></invoke></state>
    </scxml></content></invoke>
  </state>
</scxml>"#;

    fn top() -> JournaledDocument {
        let document = Arc::new(
            scxml::document::parse(PARENT, "p.scxml", &scxml::document::FileLoader).unwrap(),
        );
        JournaledDocument {
            reference: DocumentRef {
                url: Some("p.scxml".to_owned()),
                hash: ContentHash::of(PARENT.as_bytes()),
            },
            text: Arc::from(PARENT),
            inline: Vec::new(),
            name: None,
            document,
        }
    }

    fn inline_of(document: &Document, state: &str, index: usize) -> Arc<Document> {
        let s = document.state_by_id(state).unwrap();
        match &document.state(s).invokes[index].content {
            Some(Content::Document(d)) => Arc::clone(d),
            _ => panic!("no inline document"),
        }
    }

    #[test]
    fn inline_children_are_found_again_by_their_way_down() {
        let top = top();
        let two = inline_of(&top.document, "a", 1);
        let child = top.child(&two, &ChildSource::Inline).unwrap();
        assert_eq!(child.reference, top.reference);
        let deep = inline_of(&two, "y", 0);
        let grandchild = child.journaled.child(&deep, &ChildSource::Inline).unwrap();
        let (path, name) = read_host(&grandchild.host);
        assert_eq!(path, [(1, 1), (1, 0)]);
        assert_eq!(name, None);
        let mut found = Arc::clone(&top.document);
        for step in path {
            found = inline_child(&found, step).unwrap();
        }
        assert!(Arc::ptr_eq(&found, &deep));
        // A document the parent does not contain cannot be named.
        assert!(child.journaled.child(&two, &ChildSource::Inline).is_none());
    }

    #[test]
    fn children_from_text_keep_their_own_text_and_name() {
        let top = top();
        let text: Arc<str> = Arc::from("<scxml/>");
        let loaded = top
            .child(&top.document, &ChildSource::Loaded(Arc::clone(&text)))
            .unwrap();
        assert_eq!(loaded.reference.url.as_deref(), Some("p.scxml"));
        assert_eq!(loaded.reference.hash, ContentHash::of(b"<scxml/>"));
        assert_eq!(loaded.host, Value::Undefined);
        let given = top.child(&top.document, &ChildSource::Text(text)).unwrap();
        assert_eq!(given.reference.url, None);
        assert_eq!(
            read_host(&given.host),
            (Vec::new(), Some("p.scxml".to_owned()))
        );
    }
}
