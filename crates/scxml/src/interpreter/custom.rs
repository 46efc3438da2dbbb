//! Custom actions: elements of foreign namespaces carried out, during the
//! macrostep, by handlers a dialect registers per namespace.
//!
//! SCXML §4.1 leaves other namespaces to the platform. Dialect actions (ORS
//! `<session:fetch>`, `<session:start>`, ...) must evaluate their attributes
//! and `<param>`/`<content>` children *in the session, while the block runs*
//! (a later evaluation would see other data), store a generated request id
//! in a location, and leave the slow work to the host. So a handler runs
//! synchronously, inside the interpreter, through a [`CustomContext`]; it does
//! no I/O itself and hands the work to the host as [`Action::Extension`]. The
//! host reports completion later as ordinary external events.

use std::any::Any;
use std::rc::Rc;

use crate::action::Action;
use crate::data::Data;
use crate::datamodel::{AssignFrom, DataModelError};
use crate::document::{CustomAction, StateId};
use crate::event::Event;
use crate::time::Timestamp;

use super::Interpreter;

/// A dialect's handler for the custom actions of one or more namespaces.
///
/// # Contract
/// [`execute`](Self::execute) runs synchronously inside the macrostep and
/// must not block or do I/O. It evaluates what it needs through the context,
/// may assign locations, raise internal events and queue host requests. An
/// `Err` raises the error event it names (with `message` in its data) on the
/// internal queue and ends the enclosing block, as a failing `<send>` does
/// (§4.9). A handler is shared by every session of a host, hence `&self`.
pub trait CustomHandler {
    /// Whether this handler carries out elements of `namespace`.
    fn handles(&self, namespace: &str) -> bool;

    /// Carries out one element.
    fn execute(&self, action: &CustomAction, cx: &mut CustomContext<'_>)
        -> Result<(), CustomError>;
}

/// A failed custom action: the error event to raise.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{event}: {message}")]
pub struct CustomError {
    /// The event name, e.g. `error.execution` or `error.unsupported.element`.
    pub event: String,
    /// A description, put in the event data as `message`.
    pub message: String,
}

impl CustomError {
    /// An error raising `event`.
    pub fn new(event: impl Into<String>, message: impl Into<String>) -> Self {
        CustomError {
            event: event.into(),
            message: message.into(),
        }
    }

    /// `error.execution` for a data model failure.
    pub fn execution(what: &str, e: DataModelError) -> Self {
        CustomError::new("error.execution", format!("{what}: {e}"))
    }
}

/// The handlers of a host, shared by its sessions (`SessionOptions::custom`).
#[derive(Clone, Default)]
pub struct CustomHandlers(pub Vec<Rc<dyn CustomHandler>>);

impl CustomHandlers {
    fn find(&self, namespace: &str) -> Option<&Rc<dyn CustomHandler>> {
        self.0.iter().find(|h| h.handles(namespace))
    }
}

impl std::fmt::Debug for CustomHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomHandlers({})", self.0.len())
    }
}

/// A request for the host, typed by the dialect that made it: the host
/// downcasts [`request`](Self::request) to the dialect's type.
pub struct ExtensionRequest {
    /// The dialect's request value.
    pub request: Box<dyn Any + Send>,
}

impl std::fmt::Debug for ExtensionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExtensionRequest")
    }
}

/// What a [`CustomHandler`] can do in the session while it runs.
pub struct CustomContext<'a> {
    interpreter: &'a mut Interpreter,
    action: &'a CustomAction,
}

impl CustomContext<'_> {
    /// Whether the element has the attribute.
    pub fn has(&self, name: &str) -> bool {
        self.action.attribute(name).is_some()
    }

    /// The value of attribute `name` evaluated as an expression, or `None`
    /// when the attribute is absent.
    pub fn evaluate(&mut self, name: &str) -> Result<Option<Data>, CustomError> {
        let Some(attribute) = self.action.attribute(name) else {
            return Ok(None);
        };
        self.interpreter
            .datamodel
            .evaluate(attribute.code)
            .map(Some)
            .map_err(|e| CustomError::execution(&format!("{name}={:?}", attribute.value), e))
    }

    /// Like [`evaluate`](Self::evaluate), converted to a string as the
    /// language does.
    pub fn evaluate_string(&mut self, name: &str) -> Result<Option<String>, CustomError> {
        let Some(attribute) = self.action.attribute(name) else {
            return Ok(None);
        };
        self.interpreter
            .datamodel
            .evaluate_string(attribute.code)
            .map(Some)
            .map_err(|e| CustomError::execution(&format!("{name}={:?}", attribute.value), e))
    }

    /// Stores `value` in the location written in attribute `name`
    /// (`requestid="_data.reqid"`). Nothing happens if it is absent.
    pub fn assign(&mut self, name: &str, value: &Data) -> Result<(), CustomError> {
        let Some(attribute) = self.action.attribute(name) else {
            return Ok(());
        };
        self.interpreter
            .datamodel
            .assign(attribute.code, AssignFrom::Data(value))
            .map_err(|_| {
                CustomError::new(
                    "error.illegalloc",
                    format!("{name}={:?} is not a location", attribute.value),
                )
            })
    }

    /// The `<param>` children, evaluated in order.
    pub fn params(&mut self) -> Result<Vec<(String, Data)>, CustomError> {
        self.interpreter
            .evaluate_params(&[], &self.action.params)
            .map_err(|m| CustomError::new("error.execution", m))
    }

    /// The value of the `<content>` child, if any.
    pub fn content(&mut self) -> Result<Option<Data>, CustomError> {
        match &self.action.content {
            None => Ok(None),
            Some(content) => self
                .interpreter
                .content_value(content)
                .map(Some)
                .map_err(|m| CustomError::new("error.execution", m)),
        }
    }

    /// Puts an event on the internal queue.
    pub fn raise(&mut self, event: Event) {
        self.interpreter.internal_queue.push_back(event);
    }

    /// Queues a request for the host, after the actions already queued.
    pub fn request(&mut self, request: Box<dyn Any + Send>) {
        self.interpreter
            .actions
            .push_back(Action::Extension(ExtensionRequest { request }));
    }

    /// A request id unique in this session.
    pub fn generate_id(&mut self) -> String {
        let n = self.interpreter.generate_id();
        format!("{}-{n}", self.interpreter.options.session_id)
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.interpreter.options.session_id
    }

    /// The time of the input being processed.
    pub fn now(&self) -> Timestamp {
        self.interpreter.now
    }

    /// The element being carried out.
    pub fn action(&self) -> &CustomAction {
        self.action
    }

    /// The ids of the active states, in document order.
    pub fn active_states(&self) -> Vec<String> {
        let document = &self.interpreter.document;
        self.interpreter
            .configuration
            .iter()
            .filter(|s| *s != StateId::ROOT)
            .map(|s| document.state(s).id.clone())
            .collect()
    }
}

impl Interpreter {
    /// Carries out a foreign element: by its namespace's handler, or else
    /// by handing it whole to the host ([`Action::Custom`]).
    pub(super) fn execute_custom(
        &mut self,
        action: &std::sync::Arc<CustomAction>,
    ) -> Result<(), super::content::Aborted> {
        let handler = self
            .options
            .custom
            .as_ref()
            .and_then(|h| h.find(&action.element.namespace))
            .cloned();
        let Some(handler) = handler else {
            self.actions
                .push_back(Action::Custom(std::sync::Arc::clone(action)));
            return Ok(());
        };
        let mut cx = CustomContext {
            interpreter: self,
            action,
        };
        match handler.execute(action, &mut cx) {
            Ok(()) => Ok(()),
            Err(e) => {
                let mut data = vec![("message".to_owned(), Data::String(e.message))];
                data.push((
                    "element".to_owned(),
                    Data::String(action.element.name.clone()),
                ));
                data.push((
                    "linenumber".to_owned(),
                    Data::Number(f64::from(action.element.location.line)),
                ));
                self.internal_queue
                    .push_back(Event::platform(e.event, Data::Object(data)));
                Err(super::content::Aborted)
            }
        }
    }
}
