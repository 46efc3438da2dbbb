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
            // §4.1: other namespaces are extensions, carried out by the host.
            return Ok(Executable::Custom(Arc::new(CustomAction {
                element: element(self.ctx, node),
            })));
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
        let event = self.text_pair(node, "event", "eventexpr")?;
        let target = self.text_pair(node, "target", "targetexpr")?;
        let kind = self.text_pair(node, "type", "typeexpr")?;
        self.exclusive(node, "id", "idlocation")?;
        self.exclusive(node, "delay", "delayexpr")?;
        let delay = match (node.attribute("delay"), node.attribute("delayexpr")) {
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
