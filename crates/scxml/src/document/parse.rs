//! Parsing: SCXML 1.0 XML text to a prepared [`Document`].
//!
//! The XML is read with `roxmltree`, which never resolves external entities
//! and, with DTDs disallowed, expands no entities but the predefined ones. One
//! pass over the element tree ([`Parser`]) builds the state arena in document
//! order, the transitions, the executable content (module `executable`) and
//! the code table; the element-specific rules are checked on the way. A second
//! pass (module `validate`) resolves target ids, checks the rules that need
//! the whole tree, and precomputes transition domains.
//!
//! Choices the specification leaves open, made here:
//! - Transitions are stored in document order of the element that implies
//!   them. A synthetic initial transition (from an `initial` attribute, or the
//!   first child state when there is neither the attribute nor `<initial>`)
//!   takes the place of its state's start tag, before the state's own
//!   `<transition>`s; the default transition of a `<history>` without one
//!   takes the place of the `<history>`.
//! - `datamodel` must be absent or `ecmascript`: this crate has no other data
//!   model, and running a document under the wrong expression language would
//!   silently misbehave, so another value rejects the document.
//! - Elements of other namespaces are executable content (custom actions)
//!   where executable content may appear, and are ignored elsewhere.
//!   Unqualified attributes that SCXML does not define are errors, except
//!   those starting with `_` (the ORS dialect's `_type`, `_desc`, ...) and
//!   the ORS `level` of `<log>`.
//! - An inline `<scxml>` in `<invoke><content>` that does not validate is kept
//!   as XML content: the error surfaces when the invocation runs (W3C test
//!   554 needs such a parent document to load).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use roxmltree::{Node, ParsingOptions};

use super::model::*;

/// The SCXML namespace (§3.2).
pub(super) const SCXML_NS: &str = "http://www.w3.org/2005/07/scxml";

/// A node of the parsed XML tree.
pub(super) type XmlNode<'a> = Node<'a, 'a>;

/// A document that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct DocumentError {
    /// The document's source name (path or URL).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong, naming the element.
    pub message: String,
}

/// A resource referenced by `src` could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot load {src}: {reason}")]
pub struct LoadError {
    /// The `src` as written.
    pub src: String,
    /// Why.
    pub reason: String,
}

/// Loads what `src` attributes name while a document is read (`<data src>`,
/// `<script src>`). Loading happens when a document is prepared, never during
/// a macrostep.
pub trait Loader {
    /// Loads `src`, relative to the document named `base`. Returns the
    /// resolved name and the text.
    fn load(&self, base: &str, src: &str) -> Result<(String, String), LoadError>;
}

/// Loads `file:` URLs and plain paths, relative to the directory of the base document.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileLoader;

/// Parses and validates an SCXML document.
pub fn parse(
    text: &str,
    source_name: &str,
    loader: &dyn Loader,
) -> Result<Document, DocumentError> {
    // XInclude (ors-dialect.md §1.2) is a pre-pass over the text (module
    // `include`); errors are placed back in the file they came from.
    let expanded = super::include::expand(text, source_name, loader)?;
    parse_expanded(expanded.text(), source_name, loader)
        .map_err(|e| expanded.relocate(e, source_name))
}

/// [`parse`] of a text without includes.
fn parse_expanded(
    text: &str,
    source_name: &str,
    loader: &dyn Loader,
) -> Result<Document, DocumentError> {
    let options = ParsingOptions {
        // No DTD: nothing but the predefined entities is ever expanded.
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    let xml = roxmltree::Document::parse_with_options(text, options).map_err(|e| {
        let pos = e.pos();
        let full = e.to_string();
        // roxmltree appends " at line:column"; the position has its own fields.
        let suffix = format!(" at {pos}");
        let message = full.strip_suffix(suffix.as_str()).unwrap_or(&full);
        DocumentError {
            file: source_name.to_owned(),
            line: pos.row,
            column: pos.col,
            message: format!("malformed XML: {message}"),
        }
    })?;
    let lines = LineIndex::new(text);
    let ctx = Context {
        text,
        source_name,
        loader,
        lines: &lines,
    };
    build_document(&ctx, xml.root_element())
}

impl Loader for FileLoader {
    fn load(&self, base: &str, src: &str) -> Result<(String, String), LoadError> {
        let error = |reason: String| LoadError {
            src: src.to_owned(),
            reason,
        };
        let path = url_to_path(src).map_err(error)?;
        let path = if path.is_absolute() {
            path
        } else {
            // Relative to the directory of the base document (which may itself be a `file:` URL).
            let base_dir = url_to_path(base)
                .ok()
                .and_then(|b| b.parent().map(Path::to_path_buf))
                .unwrap_or_default();
            base_dir.join(path)
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| error(format!("{}: {e}", path.display())))?;
        Ok((path.display().to_string(), text))
    }
}

/// Turns a `file:` URL or a plain path into a path. Other URL schemes are not
/// files. A single letter before `:` is a drive letter, not a scheme.
fn url_to_path(src: &str) -> Result<PathBuf, String> {
    let scheme_len = src
        .find(':')
        .filter(|&i| {
            i > 1
                && src[..i].starts_with(|c: char| c.is_ascii_alphabetic())
                && src[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
        .unwrap_or(0);
    if scheme_len == 0 {
        return Ok(PathBuf::from(src));
    }
    let scheme = &src[..scheme_len];
    if !scheme.eq_ignore_ascii_case("file") {
        return Err(format!("unsupported URL scheme {scheme:?}"));
    }
    let rest = &src[scheme_len + 1..];
    let path = match rest.strip_prefix("//") {
        // `file://host/path`: only the local host is a file.
        Some(authority_and_path) => {
            let slash = authority_and_path
                .find('/')
                .unwrap_or(authority_and_path.len());
            let host = &authority_and_path[..slash];
            if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
                return Err(format!("file URL names a remote host {host:?}"));
            }
            &authority_and_path[slash..]
        }
        None => rest,
    };
    Ok(PathBuf::from(percent_decode(path)))
}

/// Decodes `%XX` escapes of a URL path; malformed escapes stay as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What every part of the parser needs to know about the input.
pub(super) struct Context<'a> {
    /// The whole XML text (element source slices are taken from it).
    pub(super) text: &'a str,
    /// The document's name, for errors and for resolving `src`.
    pub(super) source_name: &'a str,
    /// Loads `<script src>` and `<data src>`.
    pub(super) loader: &'a dyn Loader,
    /// Byte offset to line and column.
    pub(super) lines: &'a LineIndex,
}

impl Context<'_> {
    /// Where a node starts.
    pub(super) fn location(&self, node: XmlNode<'_>) -> Location {
        self.lines.location(self.text, node.range().start)
    }

    /// An error located at `node`.
    pub(super) fn error(&self, node: XmlNode<'_>, message: impl Into<String>) -> DocumentError {
        let location = self.location(node);
        DocumentError {
            file: self.source_name.to_owned(),
            line: location.line,
            column: location.column,
            message: message.into(),
        }
    }
}

/// Start offsets of the lines of a text: locations cost a binary search
/// instead of a scan from the start of the file (roxmltree's `text_pos_at`),
/// which would make large documents quadratic.
pub(super) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(super) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// 1-based line and column (in characters, as roxmltree counts them).
    pub(super) fn location(&self, text: &str, pos: usize) -> Location {
        let line = self.starts.partition_point(|&start| start <= pos);
        // `starts[0] == 0`, so `line >= 1`.
        let start = self.starts[line - 1];
        let column = text.get(start..pos).map_or(0, |s| s.chars().count()) + 1;
        Location {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
}

/// Builds a document from its `<scxml>` element: the top level, or an inline
/// `<scxml>` in `<invoke><content>` (same text, same source name, same loader).
pub(super) fn build_document(
    ctx: &Context<'_>,
    root: XmlNode<'_>,
) -> Result<Document, DocumentError> {
    if root.tag_name().namespace() != Some(SCXML_NS) || root.tag_name().name() != "scxml" {
        return Err(ctx.error(
            root,
            format!(
                "the root element must be <scxml> in the namespace {SCXML_NS}, found <{}>{}",
                root.tag_name().name(),
                root.tag_name()
                    .namespace()
                    .map_or_else(|| " in no namespace".to_owned(), |ns| format!(" in {ns}"))
            ),
        ));
    }
    let mut parser = Parser::new(ctx);
    parser.read_root(root)?;
    parser.finish()
}

/// How the targets of a transition are given, before ids are resolved.
#[derive(Debug)]
pub(super) enum Targets {
    /// Ids as written (`target`, or an `initial` attribute).
    Ids(Vec<String>),
    /// The first child state of the source (default initial state, §3.6).
    FirstChild,
    /// A `<history>` without a transition: the parent's default (§3.10).
    ParentDefault,
}

/// The role of a transition, for the checks that depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// A `<transition>` of a state.
    Normal,
    /// From an `initial` attribute: targets must be descendants.
    InitialAttribute,
    /// The `<transition>` of `<initial>`: targets must be descendants.
    InitialElement,
    /// The transition of a `<history>`: targets in the parent (§3.10).
    History {
        /// Deep history accepts any descendant of the parent, shallow only children.
        deep: bool,
    },
}

/// Targets as written, resolved by `validate`.
#[derive(Debug)]
pub(super) struct PendingTargets {
    pub(super) targets: Targets,
    pub(super) role: Role,
}

/// The first pass: walks the element tree and fills the arenas.
pub(super) struct Parser<'c, 'a> {
    pub(super) ctx: &'c Context<'a>,
    pub(super) name: Option<String>,
    pub(super) late_binding: bool,
    pub(super) states: Vec<State>,
    /// Whether each state's id was written in the document (else generated).
    pub(super) explicit_id: Vec<bool>,
    pub(super) transitions: Vec<Transition>,
    /// Parallel to `transitions`.
    pub(super) pending: Vec<PendingTargets>,
    pub(super) code: Vec<Code>,
    pub(super) script: Option<Block>,
    pub(super) state_ids: HashMap<String, StateId>,
    pub(super) descriptors: Vec<EventDescriptor>,
    descriptor_index: HashMap<String, u32>,
}

/// The element kinds that hold states, for the child rules of §3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Scxml,
    State,
    Parallel,
    Final,
}

impl Container {
    fn tag(self) -> &'static str {
        match self {
            Container::Scxml => "scxml",
            Container::State => "state",
            Container::Parallel => "parallel",
            Container::Final => "final",
        }
    }

    /// Whether an SCXML element may be a child of this container (§3.2–3.7).
    fn allows(self, child: &str) -> bool {
        match self {
            Container::Scxml => matches!(
                child,
                "state" | "parallel" | "final" | "datamodel" | "script"
            ),
            Container::State => matches!(
                child,
                "onentry"
                    | "onexit"
                    | "transition"
                    | "initial"
                    | "state"
                    | "parallel"
                    | "final"
                    | "history"
                    | "datamodel"
                    | "invoke"
            ),
            Container::Parallel => matches!(
                child,
                "onentry"
                    | "onexit"
                    | "transition"
                    | "state"
                    | "parallel"
                    | "history"
                    | "datamodel"
                    | "invoke"
            ),
            Container::Final => matches!(child, "onentry" | "onexit" | "donedata"),
        }
    }
}

impl<'c, 'a> Parser<'c, 'a> {
    fn new(ctx: &'c Context<'a>) -> Self {
        Parser {
            ctx,
            name: None,
            late_binding: false,
            states: Vec::new(),
            explicit_id: Vec::new(),
            transitions: Vec::new(),
            pending: Vec::new(),
            code: Vec::new(),
            script: None,
            state_ids: HashMap::new(),
            descriptors: Vec::new(),
            descriptor_index: HashMap::new(),
        }
    }

    /// `<scxml>` (§3.2): its attributes, then its children as state 0.
    fn read_root(&mut self, node: XmlNode<'_>) -> Result<(), DocumentError> {
        self.check_attributes(
            node,
            &["initial", "name", "version", "datamodel", "binding"],
        )?;
        if let Some(version) = node.attribute("version") {
            if version != "1.0" {
                return Err(self.ctx.error(
                    node,
                    format!("<scxml>: unsupported version {version:?} (expected \"1.0\")"),
                ));
            }
        }
        match node.attribute("datamodel") {
            None | Some("ecmascript") => {}
            Some(other) => {
                return Err(self.ctx.error(
                    node,
                    format!(
                    "<scxml>: unsupported datamodel {other:?} (only \"ecmascript\" is implemented)"
                ),
                ))
            }
        }
        self.late_binding = match node.attribute("binding") {
            None | Some("early") => false,
            Some("late") => true,
            Some(other) => {
                return Err(self.ctx.error(
                    node,
                    format!("<scxml>: binding must be \"early\" or \"late\", not {other:?}"),
                ))
            }
        };
        self.name = node.attribute("name").map(str::to_owned);
        self.read_state(node, None, Container::Scxml)?;
        Ok(())
    }

    /// A `<state>`, `<parallel>`, `<final>` or the `<scxml>` root, with its subtree.
    fn read_state(
        &mut self,
        node: XmlNode<'_>,
        parent: Option<StateId>,
        container: Container,
    ) -> Result<StateId, DocumentError> {
        let tag = container.tag();
        match container {
            Container::Scxml => {}
            Container::State => self.check_attributes(node, &["id", "initial"])?,
            Container::Parallel | Container::Final => self.check_attributes(node, &["id"])?,
        }
        let has_child_states = scxml_children(node)
            .any(|c| matches!(c.tag_name().name(), "state" | "parallel" | "final"));
        let kind = match container {
            Container::Scxml => StateKind::Compound,
            Container::State if has_child_states => StateKind::Compound,
            Container::State => StateKind::Atomic,
            Container::Parallel => StateKind::Parallel,
            Container::Final => StateKind::Final,
        };
        let id = self.push_state(node, parent, kind)?;

        let initial_attribute = node.attribute("initial");
        // `<initial>` elsewhere than in `<state>` is caught with the other children.
        let initial_elements: Vec<_> = scxml_children(node)
            .filter(|c| container == Container::State && c.tag_name().name() == "initial")
            .collect();
        if let Some(extra) = initial_elements.get(1) {
            return Err(self
                .ctx
                .error(*extra, format!("<{tag}>: more than one <initial>")));
        }
        if kind == StateKind::Compound {
            if let (Some(_), Some(element)) = (initial_attribute, initial_elements.first()) {
                return Err(self.ctx.error(
                    *element,
                    format!("<{tag}>: the initial attribute and an <initial> element are mutually exclusive"),
                ));
            }
            // §3.6: the `initial` attribute, else `<initial>` (read with the
            // children, below), else the first child state in document order.
            let targets = match initial_attribute {
                Some(ids) => Some((split_ids(ids), Role::InitialAttribute)),
                None if initial_elements.is_empty() && has_child_states => {
                    Some((Targets::FirstChild, Role::Normal))
                }
                None => None,
            };
            if let Some((targets, role)) = targets {
                let t = self.push_synthetic(id, node, targets, role);
                self.states[id.index()].initial = Some(t);
            }
        } else if initial_attribute.is_some() {
            return Err(self.ctx.error(
                node,
                format!("<{tag}>: the initial attribute needs child states (§3.3)"),
            ));
        } else if let Some(element) = initial_elements.first() {
            return Err(self.ctx.error(
                *element,
                format!("<{tag}>: <initial> needs child states (§3.6)"),
            ));
        }

        for child in node.children().filter(|c| c.is_element()) {
            if child.tag_name().namespace() != Some(SCXML_NS) {
                // Foreign elements outside executable content carry nothing
                // this crate understands (§3.2 allows them).
                continue;
            }
            let name = child.tag_name().name();
            if !container.allows(name) {
                return Err(self.ctx.error(child, unexpected_child(tag, name)));
            }
            match name {
                "state" => {
                    let s = self.read_state(child, Some(id), Container::State)?;
                    self.states[id.index()].children.push(s);
                }
                "parallel" => {
                    let s = self.read_state(child, Some(id), Container::Parallel)?;
                    self.states[id.index()].children.push(s);
                }
                "final" => {
                    let s = self.read_state(child, Some(id), Container::Final)?;
                    self.states[id.index()].children.push(s);
                }
                "history" => {
                    let s = self.read_history(child, id)?;
                    self.states[id.index()].children.push(s);
                }
                "initial" => {
                    let t = self.read_initial(child, id)?;
                    self.states[id.index()].initial = Some(t);
                }
                "transition" => {
                    let t = self.read_transition(child, id, Role::Normal)?;
                    self.states[id.index()].transitions.push(t);
                }
                "onentry" => {
                    self.check_attributes(child, &[])?;
                    let block = self.read_block(child)?;
                    self.states[id.index()].onentry.push(block);
                }
                "onexit" => {
                    self.check_attributes(child, &[])?;
                    let block = self.read_block(child)?;
                    self.states[id.index()].onexit.push(block);
                }
                "datamodel" => {
                    self.check_attributes(child, &[])?;
                    for data in scxml_children(child) {
                        if data.tag_name().name() != "data" {
                            return Err(self.ctx.error(
                                data,
                                unexpected_child("datamodel", data.tag_name().name()),
                            ));
                        }
                        let item = self.read_data(data)?;
                        self.states[id.index()].data.push(item);
                    }
                }
                "invoke" => {
                    let invoke = self.read_invoke(child)?;
                    self.states[id.index()]
                        .invokes
                        .push(std::sync::Arc::new(invoke));
                }
                "donedata" => {
                    if self.states[id.index()].donedata.is_some() {
                        return Err(self.ctx.error(child, "<final>: more than one <donedata>"));
                    }
                    let donedata = self.read_donedata(child)?;
                    self.states[id.index()].donedata = Some(donedata);
                }
                "script" => {
                    // §5.8: top-level scripts run once, in document order.
                    let script = self.read_script(child)?;
                    self.script
                        .get_or_insert_with(Vec::new)
                        .push(Executable::Script(script));
                }
                other => return Err(self.ctx.error(child, unexpected_child(tag, other))),
            }
        }
        self.states[id.index()].descendants_end = self.next_state_id();
        Ok(id)
    }

    /// `<history>` (§3.10): its default transition, written or implied.
    fn read_history(
        &mut self,
        node: XmlNode<'_>,
        parent: StateId,
    ) -> Result<StateId, DocumentError> {
        self.check_attributes(node, &["id", "type"])?;
        let deep = match node.attribute("type") {
            None | Some("shallow") => false,
            Some("deep") => true,
            Some(other) => {
                return Err(self.ctx.error(
                    node,
                    format!("<history>: type must be \"shallow\" or \"deep\", not {other:?}"),
                ))
            }
        };
        let id = self.push_state(node, Some(parent), StateKind::History { deep })?;
        let mut transition = None;
        for child in scxml_children(node) {
            match child.tag_name().name() {
                "transition" if transition.is_some() => {
                    return Err(self
                        .ctx
                        .error(child, "<history>: more than one <transition>"));
                }
                "transition" => {
                    check_default_transition(self.ctx, child, "history")?;
                    transition = Some(self.read_transition(child, id, Role::History { deep })?);
                }
                other => return Err(self.ctx.error(child, unexpected_child("history", other))),
            }
        }
        let transition = match transition {
            Some(t) => t,
            None => self.push_synthetic(id, node, Targets::ParentDefault, Role::History { deep }),
        };
        self.states[id.index()].transitions.push(transition);
        self.states[id.index()].descendants_end = self.next_state_id();
        Ok(id)
    }

    /// `<initial>` (§3.6): exactly one `<transition>` without event or cond.
    fn read_initial(
        &mut self,
        node: XmlNode<'_>,
        state: StateId,
    ) -> Result<TransitionId, DocumentError> {
        self.check_attributes(node, &["id"])?;
        let mut transition = None;
        for child in scxml_children(node) {
            match child.tag_name().name() {
                "transition" if transition.is_some() => {
                    return Err(self
                        .ctx
                        .error(child, "<initial>: more than one <transition>"));
                }
                "transition" => {
                    check_default_transition(self.ctx, child, "initial")?;
                    transition = Some(self.read_transition(child, state, Role::InitialElement)?);
                }
                other => return Err(self.ctx.error(child, unexpected_child("initial", other))),
            }
        }
        transition.ok_or_else(|| self.ctx.error(node, "<initial>: missing its <transition>"))
    }

    /// `<transition>` (§3.5).
    fn read_transition(
        &mut self,
        node: XmlNode<'_>,
        source: StateId,
        role: Role,
    ) -> Result<TransitionId, DocumentError> {
        self.check_attributes(node, &["event", "cond", "target", "type"])?;
        let kind = match node.attribute("type") {
            None | Some("external") => TransitionKind::External,
            Some("internal") => TransitionKind::Internal,
            Some(other) => {
                return Err(self.ctx.error(
                    node,
                    format!(
                        "<transition>: type must be \"external\" or \"internal\", not {other:?}"
                    ),
                ))
            }
        };
        let events = match node.attribute("event") {
            Some(list) => list
                .split_ascii_whitespace()
                .map(|d| self.intern_descriptor(d))
                .collect(),
            None => Vec::new(),
        };
        let cond = node
            .attribute("cond")
            .map(|c| self.push_code(c, CodeKind::Expression, node));
        let targets = node
            .attribute("target")
            .map_or_else(|| Targets::Ids(Vec::new()), split_ids);
        // Reserve the id before reading the content, so that the order of the
        // arena is the order of the start tags.
        let id = self.push_transition(Transition {
            source,
            events,
            cond,
            targets: Vec::new(),
            kind,
            content: Vec::new(),
            domain: None,
            location: self.ctx.location(node),
        });
        self.pending.push(PendingTargets { targets, role });
        let content = self.read_block(node)?;
        self.transitions[id.index()].content = content;
        Ok(id)
    }

    /// A transition implied by the document rather than written.
    fn push_synthetic(
        &mut self,
        source: StateId,
        node: XmlNode<'_>,
        targets: Targets,
        role: Role,
    ) -> TransitionId {
        let id = self.push_transition(Transition {
            source,
            events: Vec::new(),
            cond: None,
            targets: Vec::new(),
            kind: TransitionKind::External,
            content: Vec::new(),
            domain: None,
            location: self.ctx.location(node),
        });
        self.pending.push(PendingTargets { targets, role });
        id
    }

    fn push_transition(&mut self, transition: Transition) -> TransitionId {
        let id = TransitionId(u32::try_from(self.transitions.len()).unwrap_or(u32::MAX));
        self.transitions.push(transition);
        id
    }

    fn next_state_id(&self) -> StateId {
        StateId(u32::try_from(self.states.len()).unwrap_or(u32::MAX))
    }

    /// Adds a state to the arena; its id (if written) must be unique (§3.14).
    fn push_state(
        &mut self,
        node: XmlNode<'_>,
        parent: Option<StateId>,
        kind: StateKind,
    ) -> Result<StateId, DocumentError> {
        let id = self.next_state_id();
        let written = match node.tag_name().name() {
            "scxml" => None,
            _ => node.attribute("id"),
        };
        if let Some(name) = written {
            if let Some(previous) = self.state_ids.insert(name.to_owned(), id) {
                let first = self.states[previous.index()].location;
                return Err(self.ctx.error(
                    node,
                    format!(
                        "<{}>: duplicate state id {name:?} (first used at {first})",
                        node.tag_name().name()
                    ),
                ));
            }
        }
        let depth = parent.map_or(0, |p| self.states[p.index()].depth + 1);
        self.states.push(State {
            id: written.unwrap_or_default().to_owned(),
            kind,
            parent,
            depth,
            children: Vec::new(),
            descendants_end: StateId(id.0 + 1),
            initial: None,
            transitions: Vec::new(),
            onentry: Vec::new(),
            onexit: Vec::new(),
            invokes: Vec::new(),
            data: Vec::new(),
            donedata: None,
            has_eventless: false,
            location: self.ctx.location(node),
        });
        self.explicit_id.push(written.is_some());
        Ok(id)
    }

    /// Adds a piece of code to the table.
    pub(super) fn push_code(&mut self, text: &str, kind: CodeKind, node: XmlNode<'_>) -> CodeId {
        let id = CodeId(u32::try_from(self.code.len()).unwrap_or(u32::MAX));
        self.code.push(Code {
            text: text.to_owned(),
            kind,
            location: self.ctx.location(node),
        });
        id
    }

    /// Interns one descriptor of an `event` attribute (§3.12.1): a trailing
    /// `.*` or `.` is dropped, as `a.*`, `a.` and `a` match the same names.
    fn intern_descriptor(&mut self, written: &str) -> u32 {
        let prefix = if written == "*" {
            "*"
        } else {
            let trimmed = written.strip_suffix(".*").unwrap_or(written);
            let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
            if trimmed.is_empty() {
                "*"
            } else {
                trimmed
            }
        };
        if let Some(&index) = self.descriptor_index.get(prefix) {
            return index;
        }
        let index = u32::try_from(self.descriptors.len()).unwrap_or(u32::MAX);
        self.descriptors.push(EventDescriptor {
            prefix: prefix.to_owned(),
        });
        self.descriptor_index.insert(prefix.to_owned(), index);
        index
    }

    /// Rejects unqualified attributes the element does not define. Qualified
    /// (namespaced) attributes are extensions and always allowed, and so are
    /// names starting with `_`, the ORS dialect's convention.
    pub(super) fn check_attributes(
        &self,
        node: XmlNode<'_>,
        allowed: &[&str],
    ) -> Result<(), DocumentError> {
        for attribute in node.attributes() {
            let name = attribute.name();
            if attribute.namespace().is_none() && !name.starts_with('_') && !allowed.contains(&name)
            {
                return Err(self.ctx.error(
                    node,
                    format!("<{}>: unknown attribute {name:?}", node.tag_name().name()),
                ));
            }
        }
        Ok(())
    }
}

/// The element children of `node` in the SCXML namespace.
pub(super) fn scxml_children<'a>(node: XmlNode<'a>) -> impl Iterator<Item = XmlNode<'a>> {
    node.children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(SCXML_NS))
}

/// The message for an SCXML element where it may not appear.
pub(super) fn unexpected_child(parent: &str, child: &str) -> String {
    const KNOWN: &[&str] = &[
        "scxml",
        "state",
        "parallel",
        "transition",
        "initial",
        "final",
        "onentry",
        "onexit",
        "history",
        "raise",
        "if",
        "elseif",
        "else",
        "foreach",
        "log",
        "datamodel",
        "data",
        "assign",
        "donedata",
        "content",
        "param",
        "script",
        "send",
        "cancel",
        "invoke",
        "finalize",
    ];
    if KNOWN.contains(&child) {
        format!("<{child}> is not allowed in <{parent}>")
    } else {
        format!("unknown SCXML element <{child}> in <{parent}>")
    }
}

/// Splits a whitespace-separated id list (`target`, `initial`).
fn split_ids(list: &str) -> Targets {
    Targets::Ids(list.split_ascii_whitespace().map(str::to_owned).collect())
}

/// The transition of `<initial>` or `<history>` has a target and no event or
/// cond (§3.6, §3.10).
fn check_default_transition(
    ctx: &Context<'_>,
    node: XmlNode<'_>,
    parent: &str,
) -> Result<(), DocumentError> {
    if node.attribute("event").is_some() || node.attribute("cond").is_some() {
        return Err(ctx.error(
            node,
            format!("<transition> in <{parent}> must not have event or cond"),
        ));
    }
    if node.attribute("target").is_none_or(|t| t.trim().is_empty()) {
        return Err(ctx.error(node, format!("<transition> in <{parent}> needs a target")));
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Loads from an in-memory table: `src` to text.
    pub(in crate::document) struct MapLoader(
        pub(in crate::document) Vec<(&'static str, &'static str)>,
    );

    impl Loader for MapLoader {
        fn load(&self, _base: &str, src: &str) -> Result<(String, String), LoadError> {
            self.0
                .iter()
                .find(|(name, _)| *name == src)
                .map(|(name, text)| (name.to_string(), text.to_string()))
                .ok_or_else(|| LoadError {
                    src: src.to_owned(),
                    reason: "not found".to_owned(),
                })
        }
    }

    /// Parses a document given as the body of `<scxml>` (which starts on line 1).
    pub(in crate::document) fn parse_body(body: &str) -> Result<Document, DocumentError> {
        let text = format!("<scxml xmlns=\"{SCXML_NS}\" version=\"1.0\">{body}</scxml>");
        parse(&text, "test.scxml", &MapLoader(Vec::new()))
    }

    /// Like [`parse_body`] for documents that must load.
    pub(in crate::document) fn doc(body: &str) -> Document {
        match parse_body(body) {
            Ok(document) => document,
            Err(e) => panic!("{e}"),
        }
    }

    /// The error of a document that must not load.
    pub(in crate::document) fn error(text: &str) -> DocumentError {
        match parse(text, "bad.scxml", &MapLoader(Vec::new())) {
            Ok(_) => panic!("document loaded:\n{text}"),
            Err(e) => e,
        }
    }

    /// Asserts the position and a part of the message of an error.
    #[track_caller]
    pub(in crate::document) fn assert_error(text: &str, line: u32, column: u32, message: &str) {
        let e = error(text);
        assert_eq!(
            (e.file.as_str(), e.line, e.column),
            ("bad.scxml", line, column),
            "{e}"
        );
        assert!(
            e.message.contains(message),
            "{e:?} does not say {message:?}"
        );
    }

    fn ids(document: &Document, states: &[StateId]) -> Vec<String> {
        states
            .iter()
            .map(|&s| document.state(s).id.clone())
            .collect()
    }

    /// A chart with parallel regions, deep and shallow history, and anonymous states.
    const CHART: &str = r#"
  <state id="s0" initial="s01">
    <history id="h0" type="deep"><transition target="s012"/></history>
    <state id="s01">
      <state id="s011"><transition event="next" target="s012"/></state>
      <state id="s012"/>
    </state>
    <parallel id="p">
      <state id="r1"><state id="r1a"/><state id="r1b"/></state>
      <state>
        <history id="h2"/>
        <state id="r2a"/>
      </state>
    </parallel>
  </state>
  <final id="done"/>
"#;

    #[test]
    fn states_are_in_document_order_with_contiguous_descendants() {
        let d = doc(CHART);
        let all: Vec<_> = (0..d.states.len())
            .map(|i| d.states[i].id.clone())
            .collect();
        assert_eq!(
            all,
            [
                "__scxml",
                "s0",
                "h0",
                "s01",
                "s011",
                "s012",
                "p",
                "r1",
                "r1a",
                "r1b",
                "__state10",
                "h2",
                "r2a",
                "done"
            ]
        );
        let s0 = d.state_by_id("s0").unwrap();
        let p = d.state_by_id("p").unwrap();
        let r2 = StateId(10);
        assert_eq!(d.state(StateId::ROOT).kind, StateKind::Compound);
        assert_eq!(d.state(StateId::ROOT).parent, None);
        assert_eq!(d.state(StateId::ROOT).descendants_end, StateId(14));
        assert_eq!(ids(&d, &d.state(StateId::ROOT).children), ["s0", "done"]);
        assert_eq!(ids(&d, &d.state(s0).children), ["h0", "s01", "p"]);
        assert_eq!(d.state(s0).descendants_end, d.state_by_id("done").unwrap());
        assert_eq!(d.state(p).kind, StateKind::Parallel);
        assert_eq!(d.state(p).depth, 2);
        assert_eq!(d.state(p).descendants_end, StateId(13));
        assert_eq!(ids(&d, &d.state(r2).children), ["h2", "r2a"]);
        assert_eq!(d.state(r2).parent, Some(p));
        assert_eq!(d.state(r2).depth, 3);
        assert_eq!(
            d.state(d.state_by_id("h0").unwrap()).kind,
            StateKind::History { deep: true }
        );
        assert_eq!(
            d.state(d.state_by_id("h2").unwrap()).kind,
            StateKind::History { deep: false }
        );
        assert_eq!(
            d.state(d.state_by_id("s012").unwrap()).kind,
            StateKind::Atomic
        );
        assert_eq!(
            d.state(d.state_by_id("done").unwrap()).kind,
            StateKind::Final
        );
        assert!(d.is_descendant(d.state_by_id("r2a").unwrap(), s0));
        assert!(!d.is_descendant(d.state_by_id("done").unwrap(), s0));
        // Generated ids are not written ids: they cannot be targeted.
        assert_eq!(d.state_by_id("__state10"), None);
        assert_eq!(d.state_ids.len(), 12);
    }

    #[test]
    fn generated_ids_avoid_written_ones() {
        let d = doc(r#"<state id="__state2"/><state/>"#);
        assert_eq!(d.states[2].id, "__state2_");
    }

    #[test]
    fn default_initial_transitions() {
        let d = doc(CHART);
        let initial = |id: &str| {
            let s = d.state_by_id(id).unwrap();
            let t = d.transition(d.state(s).initial.expect("an initial transition"));
            assert_eq!(t.source, s);
            assert!(t.events.is_empty() && t.cond.is_none() && t.content.is_empty());
            assert_eq!(t.kind, TransitionKind::External);
            ids(&d, &t.targets)
        };
        // The root takes its first child; `initial` attributes; first child states.
        assert_eq!(
            ids(
                &d,
                &d.transition(d.state(StateId::ROOT).initial.unwrap())
                    .targets
            ),
            ["s0"]
        );
        assert_eq!(initial("s0"), ["s01"]);
        assert_eq!(initial("s01"), ["s011"]);
        // The first child *state*: a history is not one.
        assert_eq!(
            ids(
                &d,
                &d.transition(d.state(StateId(10)).initial.unwrap()).targets
            ),
            ["r2a"]
        );
        for atomic_or_parallel in ["p", "s012", "done", "h0"] {
            assert_eq!(
                d.state(d.state_by_id(atomic_or_parallel).unwrap()).initial,
                None
            );
        }
    }

    #[test]
    fn initial_element_keeps_its_content() {
        let d = doc(r#"
  <state id="s" initial="b">
    <state id="a"/><state id="b"/>
  </state>
  <state id="t">
    <transition event="e" target="s"/>
    <initial><transition target="d"><raise event="init"/></transition></initial>
    <state id="c"/><state id="d"/>
  </state>"#);
        let s = d.state_by_id("s").unwrap();
        let t = d.state_by_id("t").unwrap();
        assert_eq!(
            ids(&d, &d.transition(d.state(s).initial.unwrap()).targets),
            ["b"]
        );
        let initial = d.transition(d.state(t).initial.unwrap());
        assert_eq!(ids(&d, &initial.targets), ["d"]);
        assert!(
            matches!(&initial.content[..], [Executable::Raise { event, .. }] if event == "init")
        );
        // The transition of <initial> is not one of the state's transitions.
        assert_eq!(d.state(t).transitions.len(), 1);
    }

    #[test]
    fn transitions_are_in_document_order_with_synthetic_ones_at_their_element() {
        let d = doc(r#"
  <state id="a" initial="a2">
    <transition event="e1" target="b"/>
    <state id="a1"><transition event="e2" target="b"/></state>
    <state id="a2"/>
    <history id="h"/>
  </state>
  <state id="b">
    <transition event="e3" target="a"/>
    <state id="b1"/>
  </state>"#);
        let names: Vec<String> = d
            .transitions
            .iter()
            .map(|t| {
                let event = t
                    .events
                    .first()
                    .map_or("-", |&e| d.descriptors[e as usize].prefix.as_str());
                format!("{}:{event}", d.state(t.source).id)
            })
            .collect();
        assert_eq!(
            names,
            ["__scxml:-", "a:-", "a:e1", "a1:e2", "h:-", "b:-", "b:e3"]
        );
        let a = d.state_by_id("a").unwrap();
        assert_eq!(d.state(a).initial, Some(TransitionId(1)));
        assert_eq!(d.state(a).transitions, [TransitionId(2)]);
        // A history without a transition defaults to its parent's initial states.
        let h = d.state(d.state_by_id("h").unwrap());
        assert_eq!(h.transitions, [TransitionId(4)]);
        assert_eq!(ids(&d, &d.transition(TransitionId(4)).targets), ["a2"]);
    }

    #[test]
    fn event_descriptors_are_interned_without_trailing_wildcards() {
        let d = doc(r#"
  <state id="s">
    <transition event="a.b.* c. *" target="s"/>
    <transition event="a.b error" target="s"/>
    <transition target="s"/>
  </state>"#);
        let prefixes: Vec<_> = d.descriptors.iter().map(|x| x.prefix.as_str()).collect();
        assert_eq!(prefixes, ["a.b", "c", "*", "error"]);
        let s = d.state(d.state_by_id("s").unwrap());
        let events: Vec<_> = s
            .transitions
            .iter()
            .map(|&t| d.transition(t).events.clone())
            .collect();
        assert_eq!(events, [vec![0, 1, 2], vec![0, 3], vec![]]);
    }

    #[test]
    fn document_attributes() {
        let d = parse(
            &format!(
                r#"<scxml xmlns="{SCXML_NS}" name="chart" binding="late" datamodel="ecmascript"/>"#
            ),
            "x.scxml",
            &MapLoader(Vec::new()),
        )
        .unwrap();
        assert_eq!(d.name.as_deref(), Some("chart"));
        assert!(d.late_binding);
        assert_eq!(d.datamodel, "ecmascript");
        assert_eq!(d.source_name, "x.scxml");
        // An empty chart has no initial transition.
        assert_eq!(d.states.len(), 1);
        assert_eq!(d.state(StateId::ROOT).initial, None);
        assert!(!doc("<state id='a'/>").late_binding);
    }

    #[test]
    fn uses_in_is_set_by_any_code_calling_in() {
        assert!(!doc(r#"<state id="s"><transition cond="x == 1" target="s"/></state>"#).uses_in);
        assert!(doc(r#"<state id="s"><onentry><log expr="In('s')"/></onentry></state>"#).uses_in);
    }

    #[test]
    fn locations_are_one_based_lines_and_columns() {
        let d = doc("\n  <state id=\"a\">\n\t<transition event=\"e\" target=\"a\"/></state>");
        let a = d.state(d.state_by_id("a").unwrap());
        assert_eq!(a.location, Location { line: 2, column: 3 });
        assert_eq!(
            d.transition(a.transitions[0]).location,
            Location { line: 3, column: 2 }
        );
        assert_eq!(
            d.state(StateId::ROOT).location,
            Location { line: 1, column: 1 }
        );
    }

    const HEAD: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0">"#;

    #[test]
    fn malformed_xml_is_reported_at_its_position() {
        let e = error(&format!("{HEAD}\n  <state id=\"a\">\n  </stat>\n</scxml>"));
        assert_eq!((e.line, e.column), (3, 3), "{e}");
        assert!(e.message.starts_with("malformed XML: "), "{e}");
        assert!(!e.message.contains(" at 3:3"), "{e}");
        assert_eq!(e.to_string(), format!("bad.scxml:3:3: {}", e.message));
    }

    #[test]
    fn dtds_are_refused() {
        let e = error(&format!(
            "<!DOCTYPE scxml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n{HEAD}</scxml>"
        ));
        assert!(e.message.starts_with("malformed XML"), "{e}");
    }

    #[test]
    fn root_must_be_scxml_in_the_scxml_namespace() {
        assert_error(
            &format!("<?xml version=\"1.0\"?>\n<state xmlns=\"{SCXML_NS}\"/>"),
            2,
            1,
            "found <state>",
        );
        assert_error(
            "<scxml version=\"1.0\"/>",
            1,
            1,
            "found <scxml> in no namespace",
        );
        assert_error("<scxml xmlns=\"urn:x\"/>", 1, 1, "in urn:x");
    }

    #[test]
    fn state_ids_must_be_unique() {
        assert_error(
            &format!("{HEAD}\n  <state id=\"a\"/>\n  <final id=\"a\"/>\n</scxml>"),
            3,
            3,
            "<final>: duplicate state id \"a\" (first used at 2:3)",
        );
    }

    #[test]
    fn document_level_attributes_are_checked() {
        assert_error(
            &format!("<scxml xmlns=\"{SCXML_NS}\" datamodel=\"xpath\"/>"),
            1,
            1,
            "unsupported datamodel \"xpath\"",
        );
        assert_error(
            &format!("<scxml xmlns=\"{SCXML_NS}\" binding=\"lazy\"/>"),
            1,
            1,
            "binding must be",
        );
        assert_error(
            &format!("<scxml xmlns=\"{SCXML_NS}\" version=\"2.0\"/>"),
            1,
            1,
            "unsupported version",
        );
        assert_error(
            &format!("<scxml xmlns=\"{SCXML_NS}\" initail=\"a\"/>"),
            1,
            1,
            "unknown attribute \"initail\"",
        );
    }

    #[test]
    fn extension_attributes_are_accepted() {
        let d = parse(
            &format!(
                r#"<scxml xmlns="{SCXML_NS}" xmlns:x="urn:x" x:extra="1" _persist="true">
                  <datamodel><data id="a" _type="parameter" _desc="d"/></datamodel></scxml>"#
            ),
            "x.scxml",
            &MapLoader(Vec::new()),
        );
        assert!(d.is_ok(), "{d:?}");
    }

    #[test]
    fn children_must_be_allowed_in_their_parent() {
        assert_error(
            &format!("{HEAD}\n  <history id=\"h\"/>\n</scxml>"),
            2,
            3,
            "<history> is not allowed in <scxml>",
        );
        assert_error(
            &format!("{HEAD}\n  <final id=\"f\">\n    <state id=\"x\"/></final>\n</scxml>"),
            3,
            5,
            "<state> is not allowed in <final>",
        );
        assert_error(
            &format!("{HEAD}<state>\n <stat/></state></scxml>"),
            2,
            2,
            "unknown SCXML element <stat> in <state>",
        );
        assert_error(
            &format!("{HEAD}<parallel>\n <initial/></parallel></scxml>"),
            2,
            2,
            "<initial> is not allowed in <parallel>",
        );
        // Foreign elements outside executable content are ignored.
        doc(r#"<state xmlns:x="urn:x"><x:layout w="1"/></state>"#);
    }

    #[test]
    fn initial_needs_child_states_and_excludes_the_element() {
        assert_error(
            &format!("{HEAD}\n <state id=\"a\" initial=\"a\"/></scxml>"),
            2,
            2,
            "<state>: the initial attribute needs child states",
        );
        assert_error(
            &format!("{HEAD}\n <state id=\"a\">\n  <initial><transition target=\"a\"/></initial></state></scxml>"),
            3,
            3,
            "<state>: <initial> needs child states",
        );
        assert_error(
            &format!(
                "{HEAD}\n <state id=\"a\" initial=\"b\">\n  <initial><transition target=\"b\"/></initial><state id=\"b\"/></state></scxml>"
            ),
            3,
            3,
            "mutually exclusive",
        );
        assert_error(
            &format!(
                "{HEAD}<state id=\"a\"><initial><transition target=\"b\"/></initial>\n<initial/><state id=\"b\"/></state></scxml>"
            ),
            2,
            1,
            "<state>: more than one <initial>",
        );
        assert_error(
            &format!("{HEAD}<state id=\"a\">\n<initial/><state id=\"b\"/></state></scxml>"),
            2,
            1,
            "<initial>: missing its <transition>",
        );
        assert_error(
            &format!(
                "{HEAD}<state id=\"a\"><initial>\n<transition event=\"e\" target=\"b\"/></initial><state id=\"b\"/></state></scxml>"
            ),
            2,
            1,
            "<transition> in <initial> must not have event or cond",
        );
    }

    #[test]
    fn history_rules() {
        assert_error(
            &format!("{HEAD}<state><history type=\"medium\"/>\n</state></scxml>"),
            1,
            69,
            "<history>: type must be",
        );
        assert_error(
            &format!("{HEAD}<state><state id=\"a\"/><history>\n<transition target=\"a\"/><transition target=\"a\"/></history></state></scxml>"),
            2,
            25,
            "<history>: more than one <transition>",
        );
        assert_error(
            &format!(
                "{HEAD}<state><state id=\"a\"/><history>\n<transition/></history></state></scxml>"
            ),
            2,
            1,
            "<transition> in <history> needs a target",
        );
        // A history in a state without child states has nothing to default to.
        assert_error(
            &format!("{HEAD}\n<state>\n <history/></state></scxml>"),
            3,
            2,
            "no child states",
        );
    }

    #[test]
    fn transition_attributes_are_checked() {
        assert_error(
            &format!("{HEAD}<state id=\"a\">\n  <transition type=\"sideways\" target=\"a\"/></state></scxml>"),
            2,
            3,
            "<transition>: type must be \"external\" or \"internal\"",
        );
        assert_error(
            &format!("{HEAD}<state id=\"a\">\n  <transition targets=\"a\"/></state></scxml>"),
            2,
            3,
            "<transition>: unknown attribute \"targets\"",
        );
    }

    #[test]
    fn file_loader_resolves_file_urls_and_paths() {
        let dir = std::env::temp_dir().join(format!("scxml-loader-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/data.txt"), "[1]").unwrap();
        std::fs::write(dir.join("a b.txt"), "x").unwrap();
        let base = dir.join("main.scxml").display().to_string();
        let loader = FileLoader;
        assert_eq!(loader.load(&base, "file:sub/data.txt").unwrap().1, "[1]");
        assert_eq!(loader.load(&base, "sub/data.txt").unwrap().1, "[1]");
        assert_eq!(
            loader
                .load(&format!("file://{base}"), "sub/data.txt")
                .unwrap()
                .1,
            "[1]"
        );
        let absolute = dir.join("sub/data.txt").display().to_string();
        let (name, text) = loader
            .load("elsewhere/x.scxml", &format!("file://{absolute}"))
            .unwrap();
        assert_eq!((name.as_str(), text.as_str()), (absolute.as_str(), "[1]"));
        assert_eq!(
            loader.load("", &format!("file:{absolute}")).unwrap().1,
            "[1]"
        );
        assert_eq!(loader.load(&base, "file:a%20b.txt").unwrap().1, "x");
        let missing = loader.load(&base, "file:nope.txt").unwrap_err();
        assert_eq!(missing.src, "file:nope.txt");
        assert!(missing.reason.contains("nope.txt"), "{missing}");
        assert!(loader
            .load(&base, "http://example.com/x")
            .unwrap_err()
            .reason
            .contains("unsupported URL scheme"));
        assert!(loader
            .load(&base, "file://server/x")
            .unwrap_err()
            .reason
            .contains("remote host"));
        // A drive letter is not a scheme (test 301 uses `D:\foo`): a missing file.
        assert!(loader
            .load(&base, "D:\\foo")
            .unwrap_err()
            .reason
            .contains("D:\\foo"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    const W3C: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/w3c-ecma"
    );

    #[test]
    fn w3c_387_structure() {
        let path = format!("{W3C}/test387.scxml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            println!("note: {path} is absent; not checked");
            return;
        };
        let d = parse(&text, &path, &FileLoader).unwrap();
        let order: Vec<_> = d.states.iter().take(12).map(|s| s.id.as_str()).collect();
        assert_eq!(
            order,
            [
                "__scxml",
                "s0",
                "s0HistShallow",
                "s0HistDeep",
                "s01",
                "s011",
                "s012",
                "s02",
                "s021",
                "s022",
                "s1",
                "s1HistShallow"
            ]
        );
        let s0 = d.state_by_id("s0").unwrap();
        assert_eq!(d.state(s0).descendants_end, d.state_by_id("s1").unwrap());
        assert_eq!(
            ids(&d, &d.state(s0).children),
            ["s0HistShallow", "s0HistDeep", "s01", "s02"]
        );
        let deep = d.state(d.state_by_id("s1HistDeep").unwrap());
        assert_eq!(deep.kind, StateKind::History { deep: true });
        let default = d.transition(deep.transitions[0]);
        assert_eq!(ids(&d, &default.targets), ["s122"]);
        assert_eq!(default.domain, d.state_by_id("s1"));
        // `<transition event="*" target="fail"/>` of s0 leaves s0: the root is its domain.
        let to_fail = d.transition(d.state(s0).transitions[1]);
        assert_eq!(d.descriptors[to_fail.events[0] as usize].prefix, "*");
        assert_eq!(to_fail.domain, Some(StateId::ROOT));
        assert_eq!(
            ids(
                &d,
                &d.transition(d.state(StateId::ROOT).initial.unwrap())
                    .targets
            ),
            ["s3"]
        );
    }

    #[test]
    fn truncated_documents_are_errors_not_panics() {
        let path = format!("{W3C}/test387.scxml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|_| format!("{HEAD}{CHART}</scxml>"));
        let text = text.trim_end();
        for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            assert!(
                parse(&text[..end], "cut.scxml", &FileLoader).is_err(),
                "{end}"
            );
        }
    }

    #[test]
    fn every_w3c_document_loads_except_those_to_reject() {
        let Ok(entries) = std::fs::read_dir(W3C) else {
            println!("note: {W3C} is absent; conformance documents not checked");
            return;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "scxml"))
            .collect();
        files.sort();
        assert!(files.len() > 200, "only {} documents", files.len());
        let mut failures = Vec::new();
        for path in &files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let result = parse(&text, &path.display().to_string(), &FileLoader);
            // §5.8, test 301: a script that cannot be loaded rejects the document.
            let must_reject = name == "test301.scxml";
            match (result, must_reject) {
                (Ok(_), false) | (Err(_), true) => {}
                (Ok(_), true) => failures.push(format!("{name}: loaded but must be rejected")),
                (Err(e), false) => failures.push(e.to_string()),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
