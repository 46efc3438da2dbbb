//! The prepared, immutable form of an SCXML document.
//!
//! States live in one arena in document order, so a [`StateId`] *is* document
//! order and the descendants of a state are a contiguous range of ids. The
//! `<scxml>` element itself is state 0 (a compound state), which lets the
//! algorithm of SCXML 1.0 App. D treat it like any other ancestor. Targets are
//! resolved to ids at load time, so the interpreter has no "unknown state" path.
//! Every piece of ECMAScript source is stored once in [`Document::code`] and
//! referred to by [`CodeId`], so a data model can compile it once and cache it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::data::Data;

/// Index of a state in [`Document::states`]; also its document order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateId(pub u32);

impl StateId {
    /// The `<scxml>` element.
    pub const ROOT: StateId = StateId(0);

    /// The id as an index into [`Document::states`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Index of a transition in [`Document::transitions`], in document order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransitionId(pub u32);

impl TransitionId {
    /// The id as an index into [`Document::transitions`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Index of a piece of source code in [`Document::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeId(pub u32);

impl CodeId {
    /// The id as an index into [`Document::code`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Where an element starts in its source file (1-based line and column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A whole SCXML document, validated and indexed. Shared (`Arc`) by all the
/// sessions that run it.
#[derive(Debug)]
pub struct Document {
    /// The `name` attribute of `<scxml>`.
    pub name: Option<String>,
    /// The `datamodel` attribute (`ecmascript` when absent or given so).
    pub datamodel: String,
    /// `binding="late"` (§5.3.3): `<data>` of a state is initialised on its first entry.
    pub late_binding: bool,
    /// Where the document came from (a file path or URL), for messages and for
    /// resolving relative `src` at run time.
    pub source_name: String,
    /// All states in document order; `states[0]` is `<scxml>`.
    pub states: Vec<State>,
    /// All transitions in document order (including the synthetic ones of
    /// `initial` attributes and `<initial>` elements).
    pub transitions: Vec<Transition>,
    /// Every expression, location and script of the document.
    pub code: Vec<Code>,
    /// The top-level `<script>`, run once after the data model is initialised (§5.8).
    pub script: Option<Block>,
    /// State `id` attribute to state.
    pub state_ids: HashMap<String, StateId>,
    /// Every distinct event descriptor used by a transition, interned: a
    /// transition refers to descriptors by index, so a host can cache which
    /// descriptors an event name matches.
    pub descriptors: Vec<EventDescriptor>,
    /// Whether any code calls `In(...)`; if not, the data model needs no view
    /// of the configuration.
    pub uses_in: bool,
    /// Whether any state has an eventless transition; if not, a macrostep
    /// never looks for one.
    pub has_eventless: bool,
}

impl Document {
    /// The state with this id.
    pub fn state(&self, id: StateId) -> &State {
        &self.states[id.index()]
    }

    /// The transition with this id.
    pub fn transition(&self, id: TransitionId) -> &Transition {
        &self.transitions[id.index()]
    }

    /// The source of a piece of code.
    pub fn code(&self, id: CodeId) -> &Code {
        &self.code[id.index()]
    }

    /// Looks a state up by its `id` attribute.
    pub fn state_by_id(&self, id: &str) -> Option<StateId> {
        self.state_ids.get(id).copied()
    }

    /// Whether `state` is a proper descendant of `ancestor`.
    pub fn is_descendant(&self, state: StateId, ancestor: StateId) -> bool {
        state > ancestor && state < self.state(ancestor).descendants_end
    }
}

/// What kind of state an element is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// A `<state>` (or `<scxml>`) with child states.
    Compound,
    /// A `<state>` without child states.
    Atomic,
    /// A `<parallel>`.
    Parallel,
    /// A `<final>`.
    Final,
    /// A `<history>`; `deep` for `type="deep"`.
    History {
        /// `type="deep"` rather than shallow.
        deep: bool,
    },
}

/// One state-like element.
#[derive(Debug)]
pub struct State {
    /// The `id` attribute; a generated one (starting with `__`) when absent.
    pub id: String,
    /// The kind of state.
    pub kind: StateKind,
    /// The parent; `None` only for the root.
    pub parent: Option<StateId>,
    /// Number of proper ancestors (0 for the root).
    pub depth: u32,
    /// Child states (states, parallels, finals and histories) in document order.
    pub children: Vec<StateId>,
    /// One past the last descendant: the descendants are `id+1 .. descendants_end`.
    pub descendants_end: StateId,
    /// For compound states: the transition that gives the default initial
    /// state(s) — from the `initial` attribute, the `<initial>` element, or
    /// the first child state. Its `source` is this state.
    pub initial: Option<TransitionId>,
    /// The transitions of this state in document order. For a history state,
    /// the single default transition.
    pub transitions: Vec<TransitionId>,
    /// Each `<onentry>` element is its own block (§3.8: an error ends only its block).
    pub onentry: Vec<Block>,
    /// Each `<onexit>` element is its own block.
    pub onexit: Vec<Block>,
    /// The `<invoke>` children in document order.
    pub invokes: Vec<Arc<Invoke>>,
    /// The `<data>` declared in this state's `<datamodel>` (the root's is the top level).
    pub data: Vec<DataItem>,
    /// For `<final>`: its `<donedata>`.
    pub donedata: Option<DoneData>,
    /// Whether one of `transitions` is eventless, so that
    /// `selectEventlessTransitions` can skip the states that have none.
    pub has_eventless: bool,
    /// Where the element starts.
    pub location: Location,
}

impl State {
    /// A state without child states (atomic or final).
    pub fn is_atomic(&self) -> bool {
        matches!(self.kind, StateKind::Atomic | StateKind::Final)
    }

    /// A `<state>` with child states (or the root).
    pub fn is_compound(&self) -> bool {
        self.kind == StateKind::Compound
    }

    /// A `<history>`.
    pub fn is_history(&self) -> bool {
        matches!(self.kind, StateKind::History { .. })
    }
}

/// `type` of a `<transition>` (§3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionKind {
    /// Exits the source state when it leaves or re-enters it.
    External,
    /// Does not exit a compound source whose descendants are the targets.
    Internal,
}

/// One `<transition>` (or a synthetic initial transition).
#[derive(Debug)]
pub struct Transition {
    /// The state the transition belongs to.
    pub source: StateId,
    /// Indices into [`Document::descriptors`]; empty for an eventless transition.
    pub events: Vec<u32>,
    /// The guard.
    pub cond: Option<CodeId>,
    /// Resolved targets; empty for a targetless transition.
    pub targets: Vec<StateId>,
    /// External or internal.
    pub kind: TransitionKind,
    /// The executable content.
    pub content: Block,
    /// The transition domain when it does not depend on history (no history
    /// state among the targets), precomputed by SCXML 1.0 App. D
    /// `getTransitionDomain`; `None` for targetless transitions, and for
    /// transitions to history states whose domain is computed at run time.
    pub domain: Option<StateId>,
    /// Where the element starts.
    pub location: Location,
}

/// A token-prefix event descriptor (§3.12.1): `a.b` matches `a.b` and `a.b.c`,
/// `*` matches everything. A trailing `.*` or `.` is dropped when parsed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventDescriptor {
    /// The descriptor without a trailing `.*`; `*` for the wildcard.
    pub prefix: String,
}

impl EventDescriptor {
    /// Whether an event named `name` matches this descriptor.
    pub fn matches(&self, name: &str) -> bool {
        let prefix = self.prefix.as_str();
        if prefix == "*" {
            return true;
        }
        name.len() >= prefix.len()
            && name.as_bytes().starts_with(prefix.as_bytes())
            && (name.len() == prefix.len() || name.as_bytes()[prefix.len()] == b'.')
    }
}

/// A piece of data-model source: an expression, a location or a script.
#[derive(Debug)]
pub struct Code {
    /// The source text.
    pub text: String,
    /// How it is evaluated.
    pub kind: CodeKind,
    /// Where it appears (the element carrying it).
    pub location: Location,
}

/// How a [`Code`] is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    /// An expression producing a value (`expr`, `cond`, `array`, ...).
    Expression,
    /// A left-hand side (`location`, `idlocation`, `namelist` entries, `item`, `index`).
    Location,
    /// A program run as global code (`<script>`).
    Script,
}

/// A sequence of executable content (the children of one element).
pub type Block = Vec<Executable>;

/// A value given either literally or by an expression (`event`/`eventexpr`, ...).
#[derive(Clone, Debug)]
pub enum Text {
    /// The literal attribute value.
    Literal(String),
    /// The `...expr` attribute, evaluated when the element runs.
    Expr(CodeId),
}

/// One element of executable content (§4).
#[derive(Debug)]
pub enum Executable {
    /// `<raise event>`; `params` are an ORS extension (`<raise>` with `<param>`).
    Raise {
        /// The event name.
        event: String,
        /// Parameters that become the event's data.
        params: Vec<Param>,
    },
    /// `<log label expr>`; `level` is an ORS extension.
    Log {
        /// The label.
        label: Option<String>,
        /// The value to log.
        expr: Option<CodeId>,
        /// The ORS `level` attribute, kept as written.
        level: Option<String>,
    },
    /// `<assign location expr>` or `<assign location>` with content.
    Assign {
        /// The location to assign to.
        location: CodeId,
        /// The value.
        value: AssignValue,
    },
    /// `<script>` (inline or loaded from `src` when the document was read).
    Script(CodeId),
    /// `<if>`/`<elseif>`/`<else>`: the first branch whose condition holds
    /// (`None` is `<else>`) runs.
    If(Vec<(Option<CodeId>, Block)>),
    /// `<foreach array item index>`.
    Foreach {
        /// The collection expression.
        array: CodeId,
        /// The item variable (a location).
        item: CodeId,
        /// The index variable, if given.
        index: Option<CodeId>,
        /// The body.
        body: Block,
    },
    /// `<send>`.
    Send(Box<Send>),
    /// `<cancel sendid>` / `<cancel sendidexpr>`.
    Cancel(Text),
    /// An element in a foreign namespace, for the host to carry out.
    Custom(Arc<CustomAction>),
}

/// The value side of `<assign>`.
#[derive(Debug)]
pub enum AssignValue {
    /// `expr`.
    Expr(CodeId),
    /// Child content, already converted (JSON, XML or text).
    Content(Data),
    /// Neither: assigns `undefined`.
    None,
}

/// `<send>` (§6.2).
#[derive(Debug)]
pub struct Send {
    /// `event` / `eventexpr`.
    pub event: Option<Text>,
    /// `target` / `targetexpr`.
    pub target: Option<Text>,
    /// `type` / `typeexpr`.
    pub kind: Option<Text>,
    /// `id`.
    pub id: Option<String>,
    /// `idlocation`.
    pub idlocation: Option<CodeId>,
    /// `delay` / `delayexpr`; a literal delay is already parsed.
    pub delay: Option<Delay>,
    /// `namelist`: each name with its location code.
    pub namelist: Vec<(String, CodeId)>,
    /// `<param>` children.
    pub params: Vec<Param>,
    /// `<content>` child.
    pub content: Option<Content>,
    /// Where the element starts.
    pub location: Location,
}

/// A `delay`/`delayexpr`.
#[derive(Clone, Debug)]
pub enum Delay {
    /// A literal CSS2 time, in milliseconds.
    Millis(u64),
    /// An expression giving a CSS2 time string.
    Expr(CodeId),
}

/// `<param name expr|location>`.
#[derive(Debug)]
pub struct Param {
    /// The key.
    pub name: String,
    /// The `expr` or `location` code.
    pub value: CodeId,
}

/// `<content>`.
#[derive(Debug)]
pub enum Content {
    /// `<content expr>`.
    Expr(CodeId),
    /// Inline children, converted once: JSON text becomes data, XML stays XML,
    /// other text is a string.
    Inline(Data),
    /// An inline `<scxml>` child of `<invoke>`'s `<content>`, prepared once.
    Document(Arc<Document>),
}

/// `<donedata>`.
#[derive(Debug)]
pub struct DoneData {
    /// `<content>`, exclusive with `params`.
    pub content: Option<Content>,
    /// `<param>` children.
    pub params: Vec<Param>,
}

/// `<data id expr|src>` or `<data id>` with content.
#[derive(Debug)]
pub struct DataItem {
    /// The variable name.
    pub id: String,
    /// Its initial value.
    pub init: DataInit,
    /// Where the element starts.
    pub location: Location,
}

/// How a `<data>` gets its first value.
#[derive(Debug)]
pub enum DataInit {
    /// No value: `undefined`.
    None,
    /// `expr`.
    Expr(CodeId),
    /// Inline content or `src` content loaded with the document. For the
    /// ECMAScript data model, text that parses as JSON is parsed; XML stays
    /// XML; otherwise the text, space-normalised, is a string (App. B.2).
    Value(Data),
    /// `src` could not be loaded: initialisation raises `error.execution`.
    Failed(String),
}

/// `<invoke>` (§6.4).
#[derive(Debug)]
pub struct Invoke {
    /// `type` / `typeexpr`.
    pub kind: Option<Text>,
    /// `src` / `srcexpr`.
    pub src: Option<Text>,
    /// `id`.
    pub id: Option<String>,
    /// `idlocation`.
    pub idlocation: Option<CodeId>,
    /// `namelist`.
    pub namelist: Vec<(String, CodeId)>,
    /// `<param>` children.
    pub params: Vec<Param>,
    /// `<content>` child.
    pub content: Option<Content>,
    /// `autoforward="true"`.
    pub autoforward: bool,
    /// `<finalize>` content.
    pub finalize: Block,
    /// Where the element starts.
    pub location: Location,
}

/// An element of a foreign namespace in executable content, kept whole so that
/// a dialect can carry it out.
///
/// Dialects such as ORS write their action attributes as value expressions
/// (`srcexpr="_data.url + '/profiles'"`, `method="'get'"`), so every
/// attribute without a namespace is also registered in the document's code
/// table, as an expression, at parse time: a handler evaluates it by
/// [`CodeId`] and the data model compiles it once, on first use (the code
/// table is never compiled eagerly, so an attribute that is not meant as an
/// expression costs nothing). The SCXML-namespace `<param>` and `<content>`
/// children are read like those of `<send>`; ORS's `<content _expr>` counts
/// as `<content expr>`.
#[derive(Debug)]
pub struct CustomAction {
    /// The element itself.
    pub element: Element,
    /// The attributes without a namespace, in document order, each with its
    /// code (an expression of the same text).
    pub attributes: Vec<CustomAttribute>,
    /// `<param>` children (SCXML namespace).
    pub params: Vec<Param>,
    /// A `<content>` child (SCXML namespace).
    pub content: Option<Content>,
}

/// One attribute of a [`CustomAction`].
#[derive(Debug)]
pub struct CustomAttribute {
    /// The local name.
    pub name: String,
    /// The text as written.
    pub value: String,
    /// The same text in the code table, as an expression (or, for a handler
    /// that assigns to it, a location).
    pub code: CodeId,
}

impl CustomAction {
    /// The attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&CustomAttribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// A generic XML element.
#[derive(Clone, Debug)]
pub struct Element {
    /// Namespace URI (empty when none).
    pub namespace: String,
    /// Local name.
    pub name: String,
    /// Attributes as (local name, value); namespaced attributes keep their prefix-free name.
    pub attributes: Vec<(String, String)>,
    /// Child nodes.
    pub children: Vec<Node>,
    /// The element's source text, as written.
    pub source: String,
    /// Where the element starts.
    pub location: Location,
}

impl Element {
    /// The value of an attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A node of a generic element.
#[derive(Clone, Debug)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Text (including CDATA).
    Text(String),
}
