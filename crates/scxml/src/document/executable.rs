//! Executable content (§4), the data elements (§5) and the communication
//! elements (§6) of a document, read into the model by the [`Parser`].
//!
//! Each reader checks the element's own rules: required attributes, the
//! exclusive pairs (`event`/`eventexpr`, ..., and the exclusive children of
//! §5.5, §5.7, §6.2 and §6.4), allowed children. Every expression, location and
//! script goes to the code table once, with its kind.

use std::sync::Arc;

use super::content::{convert_text, element, has_content, inline_data, serialize_children};
use super::delay::parse_delay;
use super::model::*;
use super::parse::{
    build_document, scxml_children, unexpected_child, DocumentError, Parser, XmlNode, SCXML_NS,
};
use crate::data::Data;

impl Parser<'_, '_> {
    /// The executable content children of `node` (§4): `<onentry>`,
    /// `<onexit>`, `<transition>`, `<finalize>`, `<foreach>`, a branch of `<if>`.
    pub(super) fn read_block(&mut self, node: XmlNode<'_>) -> Result<Block, DocumentError> {
        let mut block = Vec::new();
        for child in node.children().filter(|c| c.is_element()) {
            block.push(self.read_executable(child)?);
        }
        Ok(block)
    }

    /// One element of executable content.
    fn read_executable(&mut self, node: XmlNode<'_>) -> Result<Executable, DocumentError> {
        if node.tag_name().namespace() != Some(SCXML_NS) {
            // §4.1: other namespaces are extensions, carried out by a dialect
            // handler or the host.
            return Ok(Executable::Custom(Arc::new(self.read_custom(node)?)));
        }
        match node.tag_name().name() {
            "raise" => self.read_raise(node),
            "log" => {
                self.check_attributes(node, &["label", "expr", "level"])?;
                self.no_children(node)?;
                Ok(Executable::Log {
                    label: node.attribute("label").map(str::to_owned),
                    expr: self.expression(node, "expr"),
                    level: node.attribute("level").map(str::to_owned),
                })
            }
            "assign" => self.read_assign(node),
            "script" => Ok(Executable::Script(self.read_script(node)?)),
            "if" => self.read_if(node),
            "foreach" => {
                self.check_attributes(node, &["array", "item", "index"])?;
                let array = self.required(node, "array")?;
                let item = self.required(node, "item")?;
                let array = self.push_code(array, CodeKind::Expression, node);
                let item = self.push_code(item, CodeKind::Location, node);
                let index = node
                    .attribute("index")
                    .map(|i| self.push_code(i, CodeKind::Location, node));
                let body = self.read_block(node)?;
                Ok(Executable::Foreach {
                    array,
                    item,
                    index,
                    body,
                })
            }
            "send" => Ok(Executable::Send(Box::new(self.read_send(node)?))),
            "cancel" => {
                self.check_attributes(node, &["sendid", "sendidexpr"])?;
                self.no_children(node)?;
                // §6.3: exactly one of the two.
                match self.text_pair(node, "sendid", "sendidexpr")? {
                    Some(sendid) => Ok(Executable::Cancel(sendid)),
                    None => Err(self.ctx.error(node, "<cancel>: needs sendid or sendidexpr")),
                }
            }
            "elseif" | "else" => Err(self.ctx.error(
                node,
                format!(
                    "<{}> is only allowed directly in <if>",
                    node.tag_name().name()
                ),
            )),
            other => {
                let parent = node
                    .parent_element()
                    .map_or("document", |p| p.tag_name().name());
                Err(self.ctx.error(node, unexpected_child(parent, other)))
            }
        }
    }

    /// An element of another namespace: kept whole, its plain attributes
    /// registered as code, its SCXML `<param>`/`<content>` children read.
    fn read_custom(&mut self, node: XmlNode<'_>) -> Result<CustomAction, DocumentError> {
        let attributes = node
            .attributes()
            .filter(|a| a.namespace().is_none())
            .map(|a| CustomAttribute {
                name: a.name().to_owned(),
                value: a.value().to_owned(),
                code: self.push_code(a.value(), CodeKind::Expression, node),
            })
            .collect();
        let mut params = Vec::new();
        let mut content = None;
        for child in scxml_children(node) {
            match child.tag_name().name() {
                "param" => params.push(self.read_param(child)?),
                "content" => {
                    // ORS writes `<content _expr="...">` for `<content expr>`.
                    content = Some(match child.attribute("_expr") {
                        Some(expr) => {
                            Content::Expr(self.push_code(expr, CodeKind::Expression, child))
                        }
                        None => self.read_content(child, false)?,
                    });
                }
                // Other SCXML children are the dialect's business (kept in `element`).
                _ => {}
            }
        }
        Ok(CustomAction {
            element: element(self.ctx, node),
            attributes,
            params,
            content,
        })
    }

    /// `<raise event>` (§4.2), with the ORS extension of `<param>` children.
    fn read_raise(&mut self, node: XmlNode<'_>) -> Result<Executable, DocumentError> {
        self.check_attributes(node, &["event"])?;
        let event = self.required(node, "event")?.to_owned();
        let mut params = Vec::new();
        for child in scxml_children(node) {
            match child.tag_name().name() {
                "param" => params.push(self.read_param(child)?),
                other => return Err(self.ctx.error(child, unexpected_child("raise", other))),
            }
        }
        Ok(Executable::Raise { event, params })
    }

    /// `<assign location expr>` or with content (§5.4): the two sources of the
    /// value are exclusive; with neither the location gets `undefined`.
    fn read_assign(&mut self, node: XmlNode<'_>) -> Result<Executable, DocumentError> {
        self.check_attributes(node, &["location", "expr"])?;
        let location = self.required(node, "location")?;
        let location = self.push_code(location, CodeKind::Location, node);
        let value = match (node.attribute("expr"), has_content(node)) {
            (Some(_), true) => {
                return Err(self.ctx.error(
                    node,
                    "<assign>: expr and child content are mutually exclusive",
                ));
            }
            (Some(expr), false) => {
                AssignValue::Expr(self.push_code(expr, CodeKind::Expression, node))
            }
            (None, true) => AssignValue::Content(inline_data(self.ctx, node)),
            (None, false) => AssignValue::None,
        };
        Ok(Executable::Assign { location, value })
    }

    /// `<script>` (§5.8): inline text, or `src` loaded now. A `src` that cannot
    /// be loaded makes the document unusable (W3C test 301).
    pub(super) fn read_script(&mut self, node: XmlNode<'_>) -> Result<CodeId, DocumentError> {
        self.check_attributes(node, &["src"])?;
        if let Some(child) = node.children().find(|c| c.is_element()) {
            return Err(self
                .ctx
                .error(child, "<script>: child elements are not allowed"));
        }
        let inline: String = node
            .children()
            .filter_map(|c| c.is_text().then(|| c.text()).flatten())
            .collect();
        let text = match node.attribute("src") {
            Some(_) if !inline.trim().is_empty() => {
                return Err(self.ctx.error(
                    node,
                    "<script>: src and inline content are mutually exclusive",
                ));
            }
            Some(src) => match self.ctx.loader.load(self.ctx.source_name, src) {
                Ok((_, text)) => text,
                Err(e) => return Err(self.ctx.error(node, format!("<script>: {e}"))),
            },
            None => inline,
        };
        Ok(self.push_code(&text, CodeKind::Script, node))
    }

    /// `<if>`/`<elseif>`/`<else>` (§4.3): `<elseif>` and `<else>` are empty
    /// children of `<if>` that start a new branch.
    fn read_if(&mut self, node: XmlNode<'_>) -> Result<Executable, DocumentError> {
        self.check_attributes(node, &["cond"])?;
        let cond = self.required(node, "cond")?;
        let mut branches = vec![(
            Some(self.push_code(cond, CodeKind::Expression, node)),
            Vec::new(),
        )];
        let mut seen_else = false;
        for child in node.children().filter(|c| c.is_element()) {
            let separator = child.tag_name().namespace() == Some(SCXML_NS)
                && matches!(child.tag_name().name(), "elseif" | "else");
            if !separator {
                let executable = self.read_executable(child)?;
                if let Some((_, block)) = branches.last_mut() {
                    block.push(executable);
                }
                continue;
            }
            if seen_else {
                return Err(self.ctx.error(
                    child,
                    format!("<if>: <{}> after <else>", child.tag_name().name()),
                ));
            }
            self.no_children(child)?;
            if child.tag_name().name() == "elseif" {
                self.check_attributes(child, &["cond"])?;
                let cond = self.required(child, "cond")?;
                branches.push((
                    Some(self.push_code(cond, CodeKind::Expression, child)),
                    Vec::new(),
                ));
            } else {
                self.check_attributes(child, &[])?;
                seen_else = true;
                branches.push((None, Vec::new()));
            }
        }
        Ok(Executable::If(branches))
    }

    /// `<send>` (§6.2).
    fn read_send(&mut self, node: XmlNode<'_>) -> Result<Send, DocumentError> {
        self.check_attributes(
            node,
            &[
                "event",
                "eventexpr",
                "target",
                "targetexpr",
                "type",
                "typeexpr",
                "id",
                "idlocation",
                "delay",
                "delayexpr",
                "namelist",
            ],
        )?;
        let mut event = self.text_pair(node, "event", "eventexpr")?;
        // ORS (Composer) writes `event` as an expression (`event="'Entry.done'"`,
        // `event="'app.' + name"`). A name is a dot-separated list of NMTOKEN
        // characters (§3.12.1), so a value that cannot be a name (a quote, a
        // space, `+`, `(`...) is taken as an expression; a valid name stays a
        // name, so W3C documents are unchanged.
        if let Some(Text::Literal(value)) = &event {
            if !is_event_name(value) {
                let value = value.clone();
                event = Some(Text::Expr(self.push_code(
                    &value,
                    CodeKind::Expression,
                    node,
                )));
            }
        }
        let target = self.text_pair(node, "target", "targetexpr")?;
        let kind = self.text_pair(node, "type", "typeexpr")?;
        self.exclusive(node, "id", "idlocation")?;
        self.exclusive(node, "delay", "delayexpr")?;
        let delay = match (node.attribute("delay"), node.attribute("delayexpr")) {
            // ORS writes `delay="'200ms'"`: a delay that is quoted or holds
            // expression punctuation is evaluated like `delayexpr`.
            (Some(delay), _) if looks_like_expression(delay) => Some(Delay::Expr(self.push_code(delay, CodeKind::Expression, node))),
            (Some(delay), _) => Some(Delay::Millis(parse_delay(delay).ok_or_else(|| {
                self.ctx.error(
                    node,
                    format!("<send>: invalid delay {delay:?} (a CSS2 time such as \"500ms\" or \"2.5s\")"),
                )
            })?)),
            (None, Some(expr)) => Some(Delay::Expr(self.push_code(expr, CodeKind::Expression, node))),
            (None, None) => None,
        };
        let id = node.attribute("id").map(str::to_owned);
        let idlocation = node
            .attribute("idlocation")
            .map(|l| self.push_code(l, CodeKind::Location, node));
        let namelist = self.namelist(node);
        let (params, content) = self.params_and_content(node, "send", false)?;
        // §6.2: <content> excludes both namelist and <param>.
        if content.is_some() && (!namelist.is_empty() || !params.is_empty()) {
            return Err(self.ctx.error(
                node,
                "<send>: <content> is mutually exclusive with namelist and <param>",
            ));
        }
        Ok(Send {
            event,
            target,
            kind,
            id,
            idlocation,
            delay,
            namelist,
            params,
            content,
            location: self.ctx.location(node),
        })
    }

    /// `<invoke>` (§6.4).
    pub(super) fn read_invoke(&mut self, node: XmlNode<'_>) -> Result<Invoke, DocumentError> {
        self.check_attributes(
            node,
            &[
                "type",
                "typeexpr",
                "src",
                "srcexpr",
                "id",
                "idlocation",
                "namelist",
                "autoforward",
            ],
        )?;
        let kind = self.text_pair(node, "type", "typeexpr")?;
        let src = self.text_pair(node, "src", "srcexpr")?;
        self.exclusive(node, "id", "idlocation")?;
        let autoforward = match node.attribute("autoforward") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(self.ctx.error(
                    node,
                    format!("<invoke>: autoforward must be \"true\" or \"false\", not {other:?}"),
                ))
            }
        };
        let id = node.attribute("id").map(str::to_owned);
        let idlocation = node
            .attribute("idlocation")
            .map(|l| self.push_code(l, CodeKind::Location, node));
        let namelist = self.namelist(node);
        let (params, content) = self.params_and_content(node, "invoke", true)?;
        if src.is_some() && content.is_some() {
            return Err(self.ctx.error(
                node,
                "<invoke>: src/srcexpr and <content> are mutually exclusive",
            ));
        }
        if !namelist.is_empty() && !params.is_empty() {
            return Err(self.ctx.error(
                node,
                "<invoke>: namelist and <param> are mutually exclusive",
            ));
        }
        let mut finalize = None;
        for child in scxml_children(node).filter(|c| c.tag_name().name() == "finalize") {
            if finalize.is_some() {
                return Err(self.ctx.error(child, "<invoke>: more than one <finalize>"));
            }
            self.check_attributes(child, &[])?;
            finalize = Some(self.read_block(child)?);
        }
        Ok(Invoke {
            kind,
            src,
            id,
            idlocation,
            namelist,
            params,
            content,
            autoforward,
            finalize: finalize.unwrap_or_default(),
            location: self.ctx.location(node),
        })
    }

    /// `<donedata>` (§5.5): one `<content>` or any number of `<param>`.
    pub(super) fn read_donedata(&mut self, node: XmlNode<'_>) -> Result<DoneData, DocumentError> {
        self.check_attributes(node, &[])?;
        let (params, content) = self.params_and_content(node, "donedata", false)?;
        if content.is_some() && !params.is_empty() {
            return Err(self.ctx.error(
                node,
                "<donedata>: <content> and <param> are mutually exclusive",
            ));
        }
        Ok(DoneData { content, params })
    }

    /// `<data id expr|src>` or with content (§5.3). `src` is loaded now; if that
    /// fails, initialisation raises `error.execution` (`DataInit::Failed`).
    pub(super) fn read_data(&mut self, node: XmlNode<'_>) -> Result<DataItem, DocumentError> {
        self.check_attributes(node, &["id", "src", "expr"])?;
        let id = self.required(node, "id")?.to_owned();
        let given = [
            node.attribute("src").is_some(),
            node.attribute("expr").is_some(),
            has_content(node),
        ];
        if given.iter().filter(|&&g| g).count() > 1 {
            return Err(self.ctx.error(
                node,
                "<data>: src, expr and child content are mutually exclusive",
            ));
        }
        let init = if let Some(src) = node.attribute("src") {
            match self.ctx.loader.load(self.ctx.source_name, src) {
                Ok((_, text)) => DataInit::Value(convert_text(&text)),
                Err(e) => DataInit::Failed(e.to_string()),
            }
        } else if let Some(expr) = node.attribute("expr") {
            DataInit::Expr(self.push_code(expr, CodeKind::Expression, node))
        } else {
            match inline_data(self.ctx, node) {
                Data::Undefined => DataInit::None,
                value => DataInit::Value(value),
            }
        };
        Ok(DataItem {
            id,
            init,
            location: self.ctx.location(node),
        })
    }

    /// `<param name expr|location>` (§5.7): exactly one of the two.
    fn read_param(&mut self, node: XmlNode<'_>) -> Result<Param, DocumentError> {
        self.check_attributes(node, &["name", "expr", "location"])?;
        self.no_children(node)?;
        let name = self.required(node, "name")?.to_owned();
        let value = match (node.attribute("expr"), node.attribute("location")) {
            (Some(_), Some(_)) => {
                return Err(self
                    .ctx
                    .error(node, "<param>: expr and location are mutually exclusive"));
            }
            (Some(expr), None) => self.push_code(expr, CodeKind::Expression, node),
            (None, Some(location)) => self.push_code(location, CodeKind::Location, node),
            (None, None) => return Err(self.ctx.error(node, "<param>: needs expr or location")),
        };
        Ok(Param { name, value })
    }

    /// `<content expr>` or with children (§5.6). In `<invoke>`, a single
    /// `<scxml>` child is prepared as a document now; if it does not validate
    /// it stays XML, and the invocation reports the error when it runs.
    fn read_content(
        &mut self,
        node: XmlNode<'_>,
        in_invoke: bool,
    ) -> Result<Content, DocumentError> {
        self.check_attributes(node, &["expr"])?;
        if let Some(expr) = node.attribute("expr") {
            if has_content(node) {
                return Err(self.ctx.error(
                    node,
                    "<content>: expr and child content are mutually exclusive",
                ));
            }
            return Ok(Content::Expr(self.push_code(
                expr,
                CodeKind::Expression,
                node,
            )));
        }
        if in_invoke {
            let mut elements = node.children().filter(|c| c.is_element());
            if let (Some(root), None) = (elements.next(), elements.next()) {
                let is_scxml = root.tag_name().namespace() == Some(SCXML_NS)
                    && root.tag_name().name() == "scxml";
                let only_element = !node
                    .children()
                    .any(|c| c.is_text() && c.text().is_some_and(|t| !t.trim().is_empty()));
                if is_scxml && only_element {
                    return Ok(match build_document(self.ctx, root) {
                        Ok(document) => Content::Document(Arc::new(document)),
                        Err(_) => Content::Inline(Data::Xml(serialize_children(self.ctx, node))),
                    });
                }
            }
        }
        Ok(Content::Inline(inline_data(self.ctx, node)))
    }

    /// The `<param>` and `<content>` children shared by `<send>`, `<invoke>` and
    /// `<donedata>`. Other SCXML children are errors (`<finalize>` is read by `<invoke>`).
    fn params_and_content(
        &mut self,
        node: XmlNode<'_>,
        tag: &str,
        in_invoke: bool,
    ) -> Result<(Vec<Param>, Option<Content>), DocumentError> {
        let mut params = Vec::new();
        let mut content = None;
        for child in scxml_children(node) {
            match child.tag_name().name() {
                "param" => params.push(self.read_param(child)?),
                "content" if content.is_some() => {
                    return Err(self
                        .ctx
                        .error(child, format!("<{tag}>: more than one <content>")));
                }
                "content" => content = Some(self.read_content(child, in_invoke)?),
                "finalize" if in_invoke => {}
                other => return Err(self.ctx.error(child, unexpected_child(tag, other))),
            }
        }
        Ok((params, content))
    }

    /// `namelist`: each whitespace-separated name is a location. Names are
    /// not checked here: an invalid one raises `error.execution` when the
    /// element runs (W3C tests 553, 554).
    fn namelist(&mut self, node: XmlNode<'_>) -> Vec<(String, CodeId)> {
        let Some(list) = node.attribute("namelist") else {
            return Vec::new();
        };
        list.split_ascii_whitespace()
            .map(|name| {
                (
                    name.to_owned(),
                    self.push_code(name, CodeKind::Location, node),
                )
            })
            .collect()
    }

    /// A literal/expression attribute pair, which are mutually exclusive.
    fn text_pair(
        &mut self,
        node: XmlNode<'_>,
        literal: &str,
        expr: &str,
    ) -> Result<Option<Text>, DocumentError> {
        self.exclusive(node, literal, expr)?;
        Ok(match (node.attribute(literal), node.attribute(expr)) {
            (Some(value), _) => Some(Text::Literal(value.to_owned())),
            (None, Some(code)) => {
                Some(Text::Expr(self.push_code(code, CodeKind::Expression, node)))
            }
            (None, None) => None,
        })
    }

    /// An optional expression attribute.
    fn expression(&mut self, node: XmlNode<'_>, attribute: &str) -> Option<CodeId> {
        node.attribute(attribute)
            .map(|code| self.push_code(code, CodeKind::Expression, node))
    }

    fn exclusive(&self, node: XmlNode<'_>, a: &str, b: &str) -> Result<(), DocumentError> {
        if node.attribute(a).is_some() && node.attribute(b).is_some() {
            return Err(self.ctx.error(
                node,
                format!(
                    "<{}>: {a} and {b} are mutually exclusive",
                    node.tag_name().name()
                ),
            ));
        }
        Ok(())
    }

    fn required<'n>(&self, node: XmlNode<'n>, attribute: &str) -> Result<&'n str, DocumentError> {
        node.attribute(attribute).ok_or_else(|| {
            self.ctx.error(
                node,
                format!(
                    "<{}>: missing required attribute {attribute:?}",
                    node.tag_name().name()
                ),
            )
        })
    }

    /// Elements that take no SCXML children (foreign ones are ignored).
    fn no_children(&self, node: XmlNode<'_>) -> Result<(), DocumentError> {
        match scxml_children(node).next() {
            Some(child) => Err(self.ctx.error(
                child,
                unexpected_child(node.tag_name().name(), child.tag_name().name()),
            )),
            None => Ok(()),
        }
    }
}

/// Whether `value` can be an event name: NMTOKEN characters only (§3.12.1).
pub(crate) fn is_event_name(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '*'))
}

/// Whether an attribute meant as a literal is written as an ECMAScript
/// expression instead (quoted, or with operators or calls).
fn looks_like_expression(value: &str) -> bool {
    value
        .chars()
        .any(|c| matches!(c, '\'' | '"' | '+' | '(' | '_' | '[' | '?'))
}

#[cfg(test)]
mod tests {
    use super::super::parse::tests::{assert_error, doc, MapLoader};
    use super::super::parse::{parse, SCXML_NS};
    use super::*;

    const HEAD: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0">"#;

    /// The onentry block of the first state of a body.
    fn onentry(document: &Document) -> &Block {
        &document.states[1].onentry[0]
    }

    fn code(document: &Document, id: CodeId) -> (&str, CodeKind) {
        let c = document.code(id);
        (c.text.as_str(), c.kind)
    }

    /// Wraps executable content in a state's `<onentry>` on line 2.
    fn in_onentry(content: &str) -> String {
        format!("{HEAD}<state><onentry>\n{content}</onentry></state></scxml>")
    }

    #[test]
    fn raise_log_and_assign() {
        let d = doc(r#"<state><onentry>
            <raise event="go"><param name="a" expr="1"/></raise>
            <log label="L" expr="x" level="2"/>
            <log/>
            <assign location="v" expr="1 + 1"/>
            <assign location="w">{"k": [1, "two"]}</assign>
            <assign location="z"/>
        </onentry></state>"#);
        let block = onentry(&d);
        let Executable::Raise { event, params } = &block[0] else {
            panic!("{block:?}")
        };
        assert_eq!(event, "go");
        assert_eq!(params[0].name, "a");
        assert_eq!(code(&d, params[0].value), ("1", CodeKind::Expression));
        let Executable::Log { label, expr, level } = &block[1] else {
            panic!()
        };
        assert_eq!((label.as_deref(), level.as_deref()), (Some("L"), Some("2")));
        assert_eq!(code(&d, expr.unwrap()), ("x", CodeKind::Expression));
        assert!(matches!(
            &block[2],
            Executable::Log {
                label: None,
                expr: None,
                level: None
            }
        ));
        let Executable::Assign {
            location,
            value: AssignValue::Expr(e),
        } = &block[3]
        else {
            panic!()
        };
        assert_eq!(code(&d, *location), ("v", CodeKind::Location));
        assert_eq!(code(&d, *e), ("1 + 1", CodeKind::Expression));
        let Executable::Assign {
            value: AssignValue::Content(data),
            ..
        } = &block[4]
        else {
            panic!()
        };
        assert_eq!(data.to_string(), r#"{"k":[1,"two"]}"#);
        assert!(matches!(
            &block[5],
            Executable::Assign {
                value: AssignValue::None,
                ..
            }
        ));
    }

    #[test]
    fn assign_content_keeps_inherited_namespaces() {
        // W3C test 530: an <scxml> assigned as XML must parse on its own.
        let d = doc(r#"<state><onentry><assign location="v">
          <scxml version="1.0"><final/></scxml>
        </assign></onentry></state>"#);
        let Executable::Assign {
            value: AssignValue::Content(Data::Xml(xml)),
            ..
        } = &onentry(&d)[0]
        else {
            panic!("{:?}", onentry(&d))
        };
        assert_eq!(
            xml,
            &format!(r#"<scxml xmlns="{SCXML_NS}" version="1.0"><final/></scxml>"#)
        );
        assert!(parse(xml, "inner", &MapLoader(Vec::new())).is_ok());
    }

    #[test]
    fn if_elseif_else_become_branches() {
        let d = doc(r#"<state><onentry>
            <if cond="a"><raise event="1"/><raise event="2"/>
            <elseif cond="b"/>
            <elseif cond="c"/><raise event="3"/>
            <else/><if cond="d"><raise event="4"/><else/></if>
            </if>
        </onentry></state>"#);
        let Executable::If(branches) = &onentry(&d)[0] else {
            panic!()
        };
        let conds: Vec<_> = branches
            .iter()
            .map(|(c, _)| c.map(|c| d.code(c).text.clone()))
            .collect();
        assert_eq!(
            conds,
            [Some("a".into()), Some("b".into()), Some("c".into()), None]
        );
        let sizes: Vec<_> = branches.iter().map(|(_, b)| b.len()).collect();
        assert_eq!(sizes, [2, 0, 1, 1]);
        let Executable::If(inner) = &branches[3].1[0] else {
            panic!()
        };
        assert_eq!(inner.len(), 2);
        assert!(inner[1].0.is_none() && inner[1].1.is_empty());
    }

    #[test]
    fn foreach_codes() {
        let d = doc(
            r#"<state><onentry><foreach array="list" item="it" index="i"><log expr="it"/></foreach>
            <foreach array="[1]" item="x"/></onentry></state>"#,
        );
        let Executable::Foreach {
            array,
            item,
            index,
            body,
        } = &onentry(&d)[0]
        else {
            panic!()
        };
        assert_eq!(code(&d, *array), ("list", CodeKind::Expression));
        assert_eq!(code(&d, *item), ("it", CodeKind::Location));
        assert_eq!(code(&d, index.unwrap()), ("i", CodeKind::Location));
        assert_eq!(body.len(), 1);
        assert!(matches!(
            &onentry(&d)[1],
            Executable::Foreach { index: None, .. }
        ));
    }

    #[test]
    fn send_with_literals_and_expressions() {
        let d = doc(r##"<state><onentry>
            <send event="e" target="#_internal" type="http://www.w3.org/TR/scxml/" id="s1" delay="2.5s"
                  namelist="a b.c"><param name="p" location="loc"/></send>
            <send eventexpr="ev" targetexpr="t" typeexpr="ty" idlocation="where" delayexpr="'1s'"><content>
                this  is
                text </content></send>
            <send><content expr="body"/></send>
        </onentry></state>"##);
        let Executable::Send(s) = &onentry(&d)[0] else {
            panic!()
        };
        assert!(matches!(&s.event, Some(Text::Literal(e)) if e == "e"));
        assert!(matches!(&s.target, Some(Text::Literal(t)) if t == "#_internal"));
        assert!(matches!(&s.kind, Some(Text::Literal(t)) if t == "http://www.w3.org/TR/scxml/"));
        assert_eq!(s.id.as_deref(), Some("s1"));
        assert!(s.idlocation.is_none());
        assert!(matches!(s.delay, Some(Delay::Millis(2500))));
        let names: Vec<_> = s
            .namelist
            .iter()
            .map(|(n, c)| (n.as_str(), code(&d, *c)))
            .collect();
        assert_eq!(
            names,
            [
                ("a", ("a", CodeKind::Location)),
                ("b.c", ("b.c", CodeKind::Location))
            ]
        );
        assert_eq!(code(&d, s.params[0].value), ("loc", CodeKind::Location));
        assert_eq!(
            s.location,
            Location {
                line: 2,
                column: 13
            }
        );

        let Executable::Send(s) = &onentry(&d)[1] else {
            panic!()
        };
        for (text, expected) in [(&s.event, "ev"), (&s.target, "t"), (&s.kind, "ty")] {
            let Some(Text::Expr(c)) = text else {
                panic!("{text:?}")
            };
            assert_eq!(code(&d, *c), (expected, CodeKind::Expression));
        }
        assert_eq!(
            code(&d, s.idlocation.unwrap()),
            ("where", CodeKind::Location)
        );
        let Some(Delay::Expr(delay)) = s.delay else {
            panic!()
        };
        assert_eq!(code(&d, delay), ("'1s'", CodeKind::Expression));
        // W3C test 562: other text is space-normalised.
        assert!(
            matches!(&s.content, Some(Content::Inline(Data::String(t))) if t == "this is text")
        );

        let Executable::Send(s) = &onentry(&d)[2] else {
            panic!()
        };
        let Some(Content::Expr(body)) = s.content else {
            panic!()
        };
        assert_eq!(code(&d, body), ("body", CodeKind::Expression));
    }

    #[test]
    fn cancel_and_scripts() {
        let text = format!(
            r#"<scxml xmlns="{SCXML_NS}"><script>var a = 1;</script><script src="lib.js"/>
            <state><onentry><cancel sendid="s1"/><cancel sendidexpr="id"/><script>b = 2 &lt; 3</script>
            <script src="lib.js"/></onentry></state></scxml>"#
        );
        let d = parse(
            &text,
            "main.scxml",
            &MapLoader(vec![("lib.js", "var lib = true;")]),
        )
        .unwrap();
        let top: Vec<_> = d
            .script
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| match e {
                Executable::Script(c) => code(&d, *c),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            top,
            [
                ("var a = 1;", CodeKind::Script),
                ("var lib = true;", CodeKind::Script)
            ]
        );
        let block = onentry(&d);
        assert!(matches!(&block[0], Executable::Cancel(Text::Literal(s)) if s == "s1"));
        assert!(matches!(&block[1], Executable::Cancel(Text::Expr(_))));
        let Executable::Script(c) = &block[2] else {
            panic!()
        };
        assert_eq!(code(&d, *c), ("b = 2 < 3", CodeKind::Script));
        let Executable::Script(c) = &block[3] else {
            panic!()
        };
        assert_eq!(code(&d, *c).0, "var lib = true;");
        assert!(doc("<state/>").script.is_none());
    }

    #[test]
    fn unloadable_script_rejects_the_document() {
        // W3C test 301.
        let text = format!("{HEAD}\n  <script src=\"D:\\foo\"/>\n</scxml>");
        let e = parse(&text, "t301.scxml", &MapLoader(Vec::new())).unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(e.message, "<script>: cannot load D:\\foo: not found");
    }

    #[test]
    fn foreign_elements_are_custom_actions() {
        let d = doc(r#"<state xmlns:q="urn:queue"><onentry>
            <q:submit q:priority="3" timeout="10">text<q:target name="a"/><!-- note --></q:submit>
            <plain xmlns=""/>
        </onentry></state>"#);
        let Executable::Custom(action) = &onentry(&d)[0] else {
            panic!()
        };
        let e = &action.element;
        assert_eq!(
            (e.namespace.as_str(), e.name.as_str()),
            ("urn:queue", "submit")
        );
        assert_eq!(
            e.attributes,
            [
                ("priority".into(), "3".into()),
                ("timeout".into(), "10".into())
            ]
        );
        assert_eq!(e.attribute("timeout"), Some("10"));
        assert_eq!(
            e.location,
            Location {
                line: 2,
                column: 13
            }
        );
        assert!(
            e.source.starts_with("<q:submit q:priority=\"3\"") && e.source.ends_with("</q:submit>")
        );
        assert_eq!(e.children.len(), 2);
        assert!(matches!(&e.children[0], Node::Text(t) if t == "text"));
        let Node::Element(target) = &e.children[1] else {
            panic!()
        };
        assert_eq!(
            (target.name.as_str(), target.attribute("name")),
            ("target", Some("a"))
        );
        let Executable::Custom(plain) = &onentry(&d)[1] else {
            panic!()
        };
        assert_eq!(
            (
                plain.element.namespace.as_str(),
                plain.element.name.as_str()
            ),
            ("", "plain")
        );
    }

    #[test]
    fn data_initialisation() {
        let text = format!(
            r#"<scxml xmlns="{SCXML_NS}"><datamodel>
            <data id="none"/>
            <data id="blank">  </data>
            <data id="expr" expr="1 + 2"/>
            <data id="json">
              [1,2,3]
            </data>
            <data id="text">
this  is
a string </data>
            <data id="xml"><books xmlns=""><book title="t"/></books></data>
            <data id="src" src="file:list.json"/>
            <data id="srcxml" src="file:books.xml"/>
            <data id="srctext" src="file:text.txt"/>
            <data id="missing" src="file:missing.txt"/>
            </datamodel><state id="s"><datamodel><data id="local" expr="0"/></datamodel></state></scxml>"#
        );
        let loader = MapLoader(vec![
            ("file:list.json", "[1,2,3]"),
            ("file:books.xml", "<books xmlns=\"\">\n  <book/>\n</books> "),
            ("file:text.txt", "\nthis  is \na string "),
        ]);
        let d = parse(&text, "main.scxml", &loader).unwrap();
        let data = &d.state(StateId::ROOT).data;
        let ids: Vec<_> = data.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "none", "blank", "expr", "json", "text", "xml", "src", "srcxml", "srctext",
                "missing"
            ]
        );
        assert!(matches!(data[0].init, DataInit::None));
        assert!(matches!(data[1].init, DataInit::None));
        let DataInit::Expr(e) = data[2].init else {
            panic!()
        };
        assert_eq!(code(&d, e), ("1 + 2", CodeKind::Expression));
        let list = Data::Array(vec![
            Data::Number(1.0),
            Data::Number(2.0),
            Data::Number(3.0),
        ]);
        assert!(matches!(&data[3].init, DataInit::Value(v) if *v == list));
        assert!(
            matches!(&data[4].init, DataInit::Value(Data::String(s)) if s == "this is a string")
        );
        assert!(
            matches!(&data[5].init, DataInit::Value(Data::Xml(x)) if x == r#"<books xmlns=""><book title="t"/></books>"#)
        );
        assert!(matches!(&data[6].init, DataInit::Value(v) if *v == list));
        assert!(
            matches!(&data[7].init, DataInit::Value(Data::Xml(x)) if x == "<books xmlns=\"\">\n  <book/>\n</books>")
        );
        assert!(
            matches!(&data[8].init, DataInit::Value(Data::String(s)) if s == "this is a string")
        );
        assert!(matches!(&data[9].init, DataInit::Failed(r) if r.contains("file:missing.txt")));
        assert_eq!(
            data[2].location,
            Location {
                line: 4,
                column: 13
            }
        );
        assert_eq!(d.state(d.state_by_id("s").unwrap()).data[0].id, "local");
    }

    #[test]
    fn invoke_with_inline_document() {
        let d = doc(r#"<state id="s">
          <invoke type="scxml" id="child" namelist="x" autoforward="true">
            <content>
              <!-- a comment -->
              <scxml version="1.0" initial="c1"><state id="s"/><state id="c1"><transition target="s"/></state></scxml>
            </content>
            <finalize><log expr="1"/></finalize>
          </invoke>
          <invoke srcexpr="'file:sub.scxml'" idlocation="loc"><param name="p" expr="1"/></invoke>
        </state>"#);
        let s = d.state(d.state_by_id("s").unwrap());
        let invoke = &s.invokes[0];
        assert!(matches!(&invoke.kind, Some(Text::Literal(t)) if t == "scxml"));
        assert_eq!(invoke.id.as_deref(), Some("child"));
        assert!(invoke.autoforward);
        assert_eq!(invoke.namelist.len(), 1);
        assert_eq!(invoke.finalize.len(), 1);
        assert_eq!(
            invoke.location,
            Location {
                line: 2,
                column: 11
            }
        );
        let Some(Content::Document(child)) = &invoke.content else {
            panic!("{:?}", invoke.content)
        };
        // Its own id space, positions in the same file.
        assert_eq!(child.states.len(), 3);
        assert_eq!(child.state_by_id("c1"), Some(StateId(2)));
        assert_eq!(child.source_name, "test.scxml");
        assert_eq!(
            child.state(StateId::ROOT).location,
            Location {
                line: 5,
                column: 15
            }
        );
        assert_eq!(child.transitions.len(), 2);
        let other = &s.invokes[1];
        assert!(matches!(&other.src, Some(Text::Expr(_))));
        assert!(other.idlocation.is_some() && !other.autoforward && other.content.is_none());
        assert_eq!(other.params.len(), 1);
    }

    #[test]
    fn invalid_inline_document_stays_xml() {
        // W3C test 554: the child is invalid, but the invocation fails first at run time.
        let d = doc(
            r#"<state><invoke type="scxml" namelist="&quot;foo"><content>
            <scxml initial="nowhere" version="1.0"/>
        </content></invoke></state>"#,
        );
        let Some(Content::Inline(Data::Xml(xml))) = &d.states[1].invokes[0].content else {
            panic!()
        };
        assert_eq!(
            xml,
            &format!(r#"<scxml xmlns="{SCXML_NS}" initial="nowhere" version="1.0"/>"#)
        );
        assert_eq!(d.code(d.states[1].invokes[0].namelist[0].1).text, "\"foo");
    }

    #[test]
    fn donedata() {
        let d = doc(
            r#"<final id="f"><donedata><param name="a" expr="1"/><param name="b" location="x"/></donedata></final>
            <final id="g"><donedata><content>foo</content></donedata></final>"#,
        );
        let f = d
            .state(d.state_by_id("f").unwrap())
            .donedata
            .as_ref()
            .unwrap();
        assert_eq!(f.params.len(), 2);
        assert!(f.content.is_none());
        let g = d
            .state(d.state_by_id("g").unwrap())
            .donedata
            .as_ref()
            .unwrap();
        assert!(matches!(&g.content, Some(Content::Inline(Data::String(s))) if s == "foo"));
    }

    #[test]
    fn required_attributes() {
        for (content, message) in [
            ("<raise/>", "<raise>: missing required attribute \"event\""),
            (
                "<assign expr=\"1\"/>",
                "<assign>: missing required attribute \"location\"",
            ),
            (
                "<foreach item=\"i\"/>",
                "<foreach>: missing required attribute \"array\"",
            ),
            (
                "<foreach array=\"a\"/>",
                "<foreach>: missing required attribute \"item\"",
            ),
            ("<if/>", "<if>: missing required attribute \"cond\""),
            (
                "<send><param expr=\"1\"/></send>",
                "<param>: missing required attribute \"name\"",
            ),
            (
                "<send><param name=\"p\"/></send>",
                "<param>: needs expr or location",
            ),
            ("<cancel/>", "<cancel>: needs sendid or sendidexpr"),
        ] {
            let e = super::super::parse::tests::error(&in_onentry(content));
            assert_eq!(e.line, 2, "{e}");
            assert!(e.message.contains(message), "{e} does not say {message}");
        }
        assert_error(
            &format!("{HEAD}<datamodel>\n  <data expr=\"1\"/></datamodel></scxml>"),
            2,
            3,
            "<data>: missing required attribute \"id\"",
        );
    }

    #[test]
    fn exclusive_attributes_and_children() {
        for content in [
            "<send event=\"a\" eventexpr=\"b\"/>",
            "<send target=\"a\" targetexpr=\"b\"/>",
            "<send type=\"a\" typeexpr=\"b\"/>",
            "<send id=\"a\" idlocation=\"b\"/>",
            "<send delay=\"1s\" delayexpr=\"b\"/>",
            "<send namelist=\"a\"><content>1</content></send>",
            "<send><param name=\"a\" expr=\"1\"/><content>1</content></send>",
            "<send><content expr=\"1\">2</content></send>",
            "<send><param name=\"a\" expr=\"1\" location=\"b\"/></send>",
            "<cancel sendid=\"a\" sendidexpr=\"b\"/>",
            "<assign location=\"a\" expr=\"1\">2</assign>",
            "<script src=\"x.js\">var a;</script>",
        ] {
            let e = super::super::parse::tests::error(&in_onentry(content));
            assert_eq!(e.line, 2, "{e}");
            assert!(e.message.contains("mutually exclusive"), "{content}: {e}");
        }
        for body in [
            "<datamodel>\n<data id=\"a\" expr=\"1\" src=\"b\"/></datamodel>",
            "<datamodel>\n<data id=\"a\" expr=\"1\">2</data></datamodel>",
            "<state>\n<invoke src=\"a\"><content>1</content></invoke></state>",
            "<state>\n<invoke namelist=\"a\"><param name=\"b\" expr=\"1\"/></invoke></state>",
            "<state>\n<invoke id=\"a\" idlocation=\"b\"/></state>",
            "<final>\n<donedata><content>1</content><param name=\"b\" expr=\"1\"/></donedata></final>",
        ] {
            let e = super::super::parse::tests::error(&format!("{HEAD}{body}</scxml>"));
            assert_eq!(e.line, 2, "{e}");
            assert!(e.message.contains("mutually exclusive"), "{body}: {e}");
        }
    }

    #[test]
    fn malformed_executable_content() {
        assert_error(
            &in_onentry("<raise event=\"e\"/>\n  <sned/>"),
            3,
            3,
            "unknown SCXML element <sned> in <onentry>",
        );
        assert_error(
            &in_onentry("<state/>"),
            2,
            1,
            "<state> is not allowed in <onentry>",
        );
        assert_error(
            &in_onentry("<elseif cond=\"a\"/>"),
            2,
            1,
            "<elseif> is only allowed directly in <if>",
        );
        assert_error(
            &in_onentry("<if cond=\"a\"><else/>\n<else/></if>"),
            3,
            1,
            "<if>: <else> after <else>",
        );
        assert_error(
            &in_onentry("<log expr=\"1\" lable=\"x\"/>"),
            2,
            1,
            "<log>: unknown attribute \"lable\"",
        );
        assert_error(
            &in_onentry("<send delay=\"5\"/>"),
            2,
            1,
            "<send>: invalid delay \"5\"",
        );
        assert_error(
            &in_onentry("<send><content/><content/></send>"),
            2,
            17,
            "<send>: more than one <content>",
        );
        assert_error(
            &in_onentry("<raise event=\"e\"><log/></raise>"),
            2,
            18,
            "<log> is not allowed in <raise>",
        );
        assert_error(
            &format!("{HEAD}<state><invoke autoforward=\"yes\"/>\n</state></scxml>"),
            1,
            69,
            "autoforward must be",
        );
        assert_error(
            &format!("{HEAD}<final><donedata/>\n<donedata/></final></scxml>"),
            2,
            1,
            "<final>: more than one <donedata>",
        );
    }

    #[test]
    fn every_code_is_stored_once_with_its_element_location() {
        let d = doc(r#"<state id="s">
<transition event="e" cond="c1" target="s"><log expr="e1"/></transition>
</state>"#);
        let all: Vec<_> = d
            .code
            .iter()
            .map(|c| (c.text.as_str(), c.location.line, c.location.column))
            .collect();
        assert_eq!(all, [("c1", 2, 1), ("e1", 2, 44)]);
    }
}
