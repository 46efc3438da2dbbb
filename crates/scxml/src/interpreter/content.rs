//! Executable content (SCXML 1.0 §4, §6.2–6.4), data model initialisation
//! (§5.2–5.3), `<donedata>` and the start of invocations.
//!
//! An error in executable content raises `error.execution` and ends the block
//! it occurred in (§4.9); the session goes on.

use std::sync::Arc;

use crate::action::{Action, InvokeRequest, InvokeSource, SendRequest};
use crate::data::Data;
use crate::datamodel::{AssignFrom, DataModelError, DeclareValue, ScriptEffect};
use crate::document::{
    AssignValue, Block, CodeId, Content, DataInit, Delay, DoneData, Executable, Invoke, Param,
    Send, StateId, Text,
};
use crate::event::{
    Event, EventKind, BASIC_HTTP_EVENT_PROCESSOR, SCXML_EVENT_PROCESSOR, SCXML_INVOKE_TYPE,
};

use super::timers::Due;
use super::{Interpreter, Invocation};

/// Executable content was abandoned after an error (already raised).
pub(super) struct Aborted;

impl Interpreter {
    /// App. D `executeTransitionContent`: the content of each enabled
    /// transition, in the order they were selected.
    pub(super) fn execute_transition_content(&mut self) {
        let document = Arc::clone(&self.document);
        for i in 0..self.step.enabled.len() {
            let t = self.step.enabled[i];
            let _ = self.execute_block(&document.transition(t).content);
        }
    }

    /// Runs a block of executable content in order, stopping at the first error.
    pub(super) fn execute_block(&mut self, block: &Block) -> Result<(), Aborted> {
        for executable in block {
            self.execute(executable)?;
        }
        Ok(())
    }

    fn execute(&mut self, executable: &Executable) -> Result<(), Aborted> {
        match executable {
            Executable::Raise { event, params } => {
                let data = if params.is_empty() {
                    Data::Undefined
                } else {
                    let values = self.evaluate_params(&[], params);
                    Data::Object(self.fail(values)?)
                };
                self.internal_queue.push_back(Event {
                    name: event.clone(),
                    kind: EventKind::Internal,
                    data,
                    ..Event::default()
                });
            }
            Executable::Log { label, expr, level } => {
                let value = match expr {
                    Some(code) => {
                        let result = self.datamodel.evaluate(*code);
                        self.check(result, "<log>")?
                    }
                    None => Data::Undefined,
                };
                self.actions.push_back(Action::Log {
                    label: label.clone(),
                    value,
                    level: level.clone(),
                });
            }
            Executable::Assign { location, value } => {
                let result = match value {
                    AssignValue::Expr(code) => {
                        self.datamodel.assign(*location, AssignFrom::Expr(*code))
                    }
                    AssignValue::Content(data) => {
                        self.datamodel.assign(*location, AssignFrom::Data(data))
                    }
                    AssignValue::None => self
                        .datamodel
                        .assign(*location, AssignFrom::Data(&Data::Undefined)),
                };
                self.check(result, "<assign>")?;
            }
            Executable::Script(code) => {
                let result = self.datamodel.execute(*code);
                self.take_script_effects();
                self.check(result, "<script>")?;
            }
            Executable::If(branches) => {
                for (cond, block) in branches {
                    if self.condition_holds(*cond) {
                        return self.execute_block(block);
                    }
                }
            }
            Executable::Foreach {
                array,
                item,
                index,
                body,
            } => self.foreach(*array, *item, *index, body)?,
            Executable::Send(send) => self.send(send)?,
            Executable::Cancel(sendid) => {
                let id = self.text(sendid, "<cancel> sendidexpr")?;
                self.timers.cancel(&id);
            }
            Executable::Custom(action) => self.execute_custom(action)?,
        }
        Ok(())
    }

    /// Carries out what the script asked through dialect built-ins
    /// (`__Raise`, `__Log`), in order, even when it then threw.
    fn take_script_effects(&mut self) {
        for effect in self.datamodel.take_effects() {
            match effect {
                ScriptEffect::Raise { name, data } => self.internal_queue.push_back(Event {
                    name,
                    kind: EventKind::Internal,
                    data,
                    ..Event::default()
                }),
                ScriptEffect::Log {
                    label,
                    value,
                    level,
                } => self.actions.push_back(Action::Log {
                    label,
                    value,
                    level,
                }),
            }
        }
    }

    /// `<foreach>` (§4.6): iterates a shallow copy; an error anywhere ends the
    /// whole loop and the enclosing block.
    fn foreach(
        &mut self,
        array: CodeId,
        item: CodeId,
        index: Option<CodeId>,
        body: &Block,
    ) -> Result<(), Aborted> {
        let result = self.datamodel.foreach_begin(array);
        let len = self.check(result, "<foreach>")?;
        let mut outcome = Ok(());
        for i in 0..len {
            let bound = self.datamodel.foreach_bind(item, index, i);
            if let Err(e) = bound {
                self.raise_error("error.execution", format!("<foreach>: {e}"));
                outcome = Err(Aborted);
                break;
            }
            if self.execute_block(body).is_err() {
                outcome = Err(Aborted);
                break;
            }
        }
        self.datamodel.foreach_end();
        outcome
    }

    /// `<send>` (§6.2): evaluates its attributes and payload now, then hands
    /// the event to the host, to the internal queue, or to the timer table.
    fn send(&mut self, send: &Send) -> Result<(), Aborted> {
        let name = match &send.event {
            Some(text) => self.text(text, "<send> eventexpr")?,
            None => String::new(),
        };
        let target = match &send.target {
            Some(text) => Some(self.text(text, "<send> targetexpr")?),
            None => None,
        };
        let kind = match &send.kind {
            Some(text) => self.text(text, "<send> typeexpr")?,
            None => SCXML_EVENT_PROCESSOR.to_owned(),
        };
        let sendid = match (&send.id, send.idlocation) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(location)) => {
                let n = self.generate_id();
                let id = format!("send.{}.{n}", self.options.session_id);
                let result = self
                    .datamodel
                    .assign(location, AssignFrom::Data(&Data::String(id.clone())));
                self.check(result, "<send> idlocation")?;
                Some(id)
            }
            (None, None) => None,
        };
        match self.dispatch(send, name, target, &kind, sendid.clone()) {
            Ok(()) => Ok(()),
            Err(message) => {
                // §5.10.1: error events caused by a send carry its sendid (test 332).
                let data = Data::Object(vec![("message".to_owned(), Data::String(message))]);
                let mut event = Event::platform("error.execution", data);
                event.sendid = sendid;
                self.internal_queue.push_back(event);
                Err(Aborted)
            }
        }
    }

    /// The part of `<send>` after its id is known: delay, payload, type and
    /// target checks, then delivery or scheduling.
    fn dispatch(
        &mut self,
        send: &Send,
        name: String,
        target: Option<String>,
        kind: &str,
        sendid: Option<String>,
    ) -> Result<(), String> {
        let delay = match &send.delay {
            None => 0,
            Some(Delay::Millis(ms)) => *ms,
            Some(Delay::Expr(code)) => {
                let text = self
                    .datamodel
                    .evaluate_string(*code)
                    .map_err(|e| format!("<send> delayexpr: {e}"))?;
                crate::document::parse_delay(&text)
                    .ok_or_else(|| format!("<send> delayexpr: {text:?} is not a CSS2 time"))?
            }
        };
        let data = match &send.content {
            Some(content) => self.content_value(content)?,
            None if send.namelist.is_empty() && send.params.is_empty() => Data::Undefined,
            None => Data::Object(self.evaluate_params(&send.namelist, &send.params)?),
        };
        let kind = match kind {
            SCXML_EVENT_PROCESSOR | "scxml" => SCXML_EVENT_PROCESSOR,
            BASIC_HTTP_EVENT_PROCESSOR | "basichttp" => BASIC_HTTP_EVENT_PROCESSOR,
            other => {
                return Err(format!(
                    "<send>: unsupported event I/O processor type {other:?}"
                ))
            }
        };
        let internal = target.as_deref() == Some("#_internal");
        if kind == BASIC_HTTP_EVENT_PROCESSOR && target.is_none() {
            // App. D.2: Basic HTTP has no default target; the error goes on
            // the internal queue, ahead of anything sent before (test 577).
            let message = "<send>: the Basic HTTP event I/O processor needs a target".to_owned();
            let data = Data::Object(vec![("message".to_owned(), Data::String(message))]);
            let mut error = Event::platform("error.communication", data);
            error.sendid = sendid;
            self.internal_queue.push_back(error);
            return Ok(());
        }
        if kind == SCXML_EVENT_PROCESSOR {
            if let Some(t) = target.as_deref() {
                if !t.starts_with("#_") {
                    return Err(format!(
                        "<send>: {t:?} is not a target of the SCXML event I/O processor"
                    ));
                }
                if let (Some(id), Some(directory)) =
                    (t.strip_prefix("#_scxml_"), self.options.directory.as_ref())
                {
                    if id != self.options.session_id && !directory.contains(id) {
                        let message = format!("<send>: no session {id:?} to deliver to");
                        let data =
                            Data::Object(vec![("message".to_owned(), Data::String(message))]);
                        let mut error = Event::platform("error.communication", data);
                        error.sendid = sendid;
                        self.internal_queue.push_back(error);
                        return Ok(());
                    }
                }
            }
        }
        let event = Event {
            name,
            kind: if internal {
                EventKind::Internal
            } else {
                EventKind::External
            },
            sendid: sendid.clone(),
            origin: Some(format!("#_scxml_{}", self.options.session_id)),
            origintype: Some(SCXML_EVENT_PROCESSOR.to_owned()),
            invokeid: None,
            data,
            raw: None,
        };
        let due = if internal {
            Due::Internal(event)
        } else {
            Due::Send(SendRequest {
                target,
                kind: kind.to_owned(),
                event,
            })
        };
        if delay > 0 {
            let at = self.now + std::time::Duration::from_millis(delay);
            self.timers.schedule(at, sendid, due);
        } else {
            match due {
                Due::Internal(event) => self.internal_queue.push_back(event),
                Due::Send(request) => self.actions.push_back(Action::Send(request)),
            }
        }
        Ok(())
    }

    /// The value of a `<content>`.
    pub(super) fn content_value(&mut self, content: &Content) -> Result<Data, String> {
        match content {
            Content::Expr(code) => self
                .datamodel
                .evaluate(*code)
                .map_err(|e| format!("<content> expr: {e}")),
            Content::Inline(data) => Ok(data.clone()),
            Content::Document(document) => Ok(Data::Xml(document.source_name.clone())),
        }
    }

    /// `namelist` then `<param>` values, in that order (§6.2.4).
    pub(super) fn evaluate_params(
        &mut self,
        namelist: &[(String, CodeId)],
        params: &[Param],
    ) -> Result<Vec<(String, Data)>, String> {
        let mut values = Vec::with_capacity(namelist.len() + params.len());
        for (name, code) in namelist {
            let value = self
                .datamodel
                .evaluate(*code)
                .map_err(|e| format!("namelist {name:?}: {e}"))?;
            values.push((name.clone(), value));
        }
        for param in params {
            let value = self
                .datamodel
                .evaluate(param.value)
                .map_err(|e| format!("<param name={:?}>: {e}", param.name))?;
            values.push((param.name.clone(), value));
        }
        Ok(values)
    }

    /// Raises `error.execution` for a failure already described.
    fn fail<T>(&mut self, result: Result<T, String>) -> Result<T, Aborted> {
        result.map_err(|message| {
            self.raise_error("error.execution", message);
            Aborted
        })
    }

    /// A literal, or the string value of its expression.
    fn text(&mut self, text: &Text, what: &str) -> Result<String, Aborted> {
        match text {
            Text::Literal(s) => Ok(s.clone()),
            Text::Expr(code) => {
                let result = self.datamodel.evaluate_string(*code);
                self.check(result, what)
            }
        }
    }

    /// Turns a data model failure into `error.execution` and an abort.
    fn check<T>(&mut self, result: Result<T, DataModelError>, what: &str) -> Result<T, Aborted> {
        result.map_err(|e| {
            self.raise_error("error.execution", format!("{what}: {e}"));
            Aborted
        })
    }

    /// `<donedata>` (§5.7): `<content>` or the `<param>`s as an object. An
    /// error raises `error.execution`.
    pub(super) fn evaluate_donedata(&mut self, donedata: &DoneData) -> Result<Data, Aborted> {
        let value = match &donedata.content {
            Some(content) => self.content_value(content),
            None if donedata.params.is_empty() => Ok(Data::Undefined),
            None => self
                .evaluate_params(&[], &donedata.params)
                .map(Data::Object),
        };
        self.fail(value)
    }

    /// Creates the `<data>` of `state` once (§5.2–5.3). Values passed by the
    /// host for top-level data replace the document's (§6.4.4). A failing
    /// initialisation leaves the variable `undefined` and raises `error.execution`.
    pub(super) fn initialize_data(&mut self, state: StateId) {
        if self.data_initialized.contains(state) {
            return;
        }
        self.data_initialized.insert(state);
        let document = Arc::clone(&self.document);
        let params = std::mem::take(&mut self.options.params);
        for item in &document.state(state).data {
            let given = (state == StateId::ROOT)
                .then(|| params.iter().find(|(k, _)| *k == item.id))
                .flatten();
            let result = match (given, &item.init) {
                (Some((_, value)), _) => {
                    self.datamodel.declare(&item.id, DeclareValue::Data(value))
                }
                (None, DataInit::None) => self.datamodel.declare(&item.id, DeclareValue::Undefined),
                (None, DataInit::Expr(code)) => {
                    self.datamodel.declare(&item.id, DeclareValue::Expr(*code))
                }
                (None, DataInit::Value(data)) => {
                    self.datamodel.declare(&item.id, DeclareValue::Data(data))
                }
                (None, DataInit::Failed(reason)) => {
                    let _ = self.datamodel.declare(&item.id, DeclareValue::Undefined);
                    Err(DataModelError::Script(reason.clone()))
                }
            };
            if let Err(e) = result {
                self.raise_error("error.execution", format!("<data id=\"{}\">: {e}", item.id));
            }
        }
        self.options.params = params;
    }

    /// App. D, the external-event part of `mainEventLoop`: `<finalize>` of
    /// the invocation the event came from, and forwarding to the children
    /// invoked with `autoforward`.
    pub(super) fn finalize_and_forward(&mut self, event: &Event) {
        let mut i = 0;
        while i < self.invocations.len() {
            let invocation = &self.invocations[i];
            let invoke = Arc::clone(&invocation.invoke);
            let invokeid = invocation.invokeid.clone();
            let from_this = event.invokeid.as_deref() == Some(invokeid.as_str());
            if from_this && !invoke.finalize.is_empty() {
                let _ = self.execute_block(&invoke.finalize);
            }
            // App. D forwards every external event, including those that
            // came from the child itself (W3C test 229 relies on it).
            if invoke.autoforward {
                self.actions.push_back(Action::Forward {
                    invokeid,
                    event: event.clone(),
                });
            }
            i += 1;
        }
    }

    /// Starts the invocations of the states entered in this macrostep, in
    /// document order (App. D `mainEventLoop`, `statesToInvoke`).
    pub(super) fn start_invocations(&mut self) {
        if self.states_to_invoke.is_empty() {
            return;
        }
        let document = Arc::clone(&self.document);
        let states: Vec<StateId> = self.states_to_invoke.iter().collect();
        self.states_to_invoke.clear();
        for s in states {
            for invoke in &document.state(s).invokes {
                if self.running {
                    let _ = self.invoke(s, invoke);
                }
            }
        }
    }

    /// `<invoke>` (§6.4): evaluates it and asks the host to start the child.
    fn invoke(&mut self, state: StateId, invoke: &Arc<Invoke>) -> Result<(), Aborted> {
        let invokeid = match &invoke.id {
            Some(id) => id.clone(),
            None => {
                let n = self.generate_id();
                let id = format!("{}.{n}", self.document.state(state).id);
                if let Some(location) = invoke.idlocation {
                    let result = self
                        .datamodel
                        .assign(location, AssignFrom::Data(&Data::String(id.clone())));
                    self.check(result, "<invoke> idlocation")?;
                }
                id
            }
        };
        let kind = match &invoke.kind {
            Some(text) => self.text(text, "<invoke> typeexpr")?,
            None => SCXML_INVOKE_TYPE.to_owned(),
        };
        let src = match &invoke.src {
            Some(text) => Some(self.text(text, "<invoke> srcexpr")?),
            None => None,
        };
        let params = self.evaluate_params(&invoke.namelist, &invoke.params);
        let params = self.fail(params)?;
        let source = match (src, &invoke.content) {
            (Some(url), _) => InvokeSource::Url(url),
            (None, Some(Content::Document(document))) => {
                InvokeSource::Document(Arc::clone(document))
            }
            (None, Some(content)) => {
                let value = self.content_value(content);
                match self.fail(value)? {
                    Data::String(text) | Data::Xml(text) => InvokeSource::Text(text),
                    other => InvokeSource::Text(other.to_string()),
                }
            }
            (None, None) => {
                self.raise_error(
                    "error.execution",
                    "<invoke> has neither src nor content".to_owned(),
                );
                return Err(Aborted);
            }
        };
        self.invocations.push(Invocation {
            invokeid: invokeid.clone(),
            state,
            invoke: Arc::clone(invoke),
        });
        self.actions.push_back(Action::Invoke(InvokeRequest {
            invokeid,
            kind,
            source,
            params,
            autoforward: invoke.autoforward,
        }));
        Ok(())
    }
}
