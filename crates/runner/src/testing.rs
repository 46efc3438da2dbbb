//! Scripted sessions for the runner's unit tests: a [`Fake`] machine whose
//! behaviour is a closure, and a journal of every input it receives.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use scxml::document::{LoadError, Loader};
use scxml::{
    Action, Data, DataModelError, Document, Event, InvokeRequest, InvokeSource, Outcome,
    SendRequest, SessionOptions, Timestamp, SCXML_EVENT_PROCESSOR,
};

use crate::clock::ClockMode;
use crate::machine::{Machine, SessionFactory};
use crate::runner::{LogEntry, Runner, RunnerOptions, SessionKey};

/// What a scripted session is given.
pub(crate) enum Input<'a> {
    Start,
    Event(&'a Event),
    Timeout,
    Terminate,
}

/// The visible state of a scripted session, changed by its script.
pub(crate) struct Fake {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) running: bool,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) timeout: Option<Timestamp>,
    pub(crate) now: Timestamp,
    pub(crate) document: Arc<Document>,
    pub(crate) script: Script,
    pub(crate) journal: Journal,
}

pub(crate) type Script = Rc<dyn Fn(&mut Fake, &Input<'_>)>;
pub(crate) type Journal = Rc<RefCell<Vec<String>>>;

impl Fake {
    pub(crate) fn send(&mut self, target: Option<&str>, name: &str, sendid: Option<&str>) {
        self.send_via(SCXML_EVENT_PROCESSOR, target, name, sendid);
    }

    pub(crate) fn send_via(
        &mut self,
        kind: &str,
        target: Option<&str>,
        name: &str,
        sendid: Option<&str>,
    ) {
        let mut event = Event::external(name, Data::Undefined);
        event.sendid = sendid.map(str::to_owned);
        self.actions.push_back(Action::Send(SendRequest {
            target: target.map(str::to_owned),
            kind: kind.to_owned(),
            event,
        }));
    }

    pub(crate) fn invoke(&mut self, invokeid: &str, kind: &str, source: InvokeSource) {
        self.actions.push_back(Action::Invoke(InvokeRequest {
            invokeid: invokeid.to_owned(),
            kind: kind.to_owned(),
            source,
            params: Vec::new(),
            autoforward: false,
        }));
    }

    pub(crate) fn finish(&mut self, final_state: &str, donedata: Data) {
        self.running = false;
        self.outcome = Some(Outcome::Done {
            final_state: final_state.to_owned(),
        });
        self.actions.push_back(Action::Done {
            final_state: final_state.to_owned(),
            donedata,
        });
    }

    fn input(&mut self, now: Timestamp, input: Input<'_>) {
        let what = match &input {
            Input::Start => "start".to_owned(),
            Input::Event(e) => describe(e),
            Input::Timeout => format!("timeout@{}", now.as_millis()),
            Input::Terminate => "terminate".to_owned(),
        };
        self.journal
            .borrow_mut()
            .push(format!("{} {}", self.id, what));
        self.now = now;
        let script = Rc::clone(&self.script);
        script(self, &input);
        if matches!(input, Input::Terminate) {
            self.running = false;
            self.outcome = Some(Outcome::Terminated);
        }
    }
}

/// `name`, then the fields a test may care about.
pub(crate) fn describe(e: &Event) -> String {
    let mut text = format!("{} {}", e.kind.as_str(), e.name);
    if let Some(invokeid) = &e.invokeid {
        text += &format!(" <{invokeid}>");
    }
    if let Some(sendid) = &e.sendid {
        text += &format!(" #{sendid}");
    }
    if let Some(origin) = &e.origin {
        text += &format!(" from {origin}");
    }
    if !e.data.is_undefined() && e.data.get("message").is_none() {
        text += &format!(" data={}", e.data);
    }
    text
}

impl Machine for Fake {
    fn start(&mut self, now: Timestamp) {
        self.input(now, Input::Start);
    }
    fn handle_event(&mut self, now: Timestamp, event: Event) {
        self.input(now, Input::Event(&event));
    }
    fn handle_timeout(&mut self, now: Timestamp) {
        if self.timeout.is_some_and(|t| t <= now) {
            self.timeout = None;
            self.input(now, Input::Timeout);
        }
    }
    fn terminate(&mut self, now: Timestamp) {
        self.input(now, Input::Terminate);
    }
    fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
    fn poll_timeout(&self) -> Option<Timestamp> {
        self.timeout
    }
    fn is_running(&self) -> bool {
        self.running
    }
    fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }
    fn configuration(&self) -> Vec<&str> {
        vec![self.name.as_str()]
    }
    fn document(&self) -> &Arc<Document> {
        &self.document
    }
}

pub(crate) struct FakeFactory {
    pub(crate) script: Script,
    pub(crate) journal: Journal,
}

impl SessionFactory for FakeFactory {
    type Machine = Fake;

    fn create(
        &mut self,
        document: Arc<Document>,
        options: SessionOptions,
    ) -> Result<Fake, DataModelError> {
        Ok(Fake {
            name: document.name.clone().unwrap_or_default(),
            id: options.session_id,
            running: true,
            outcome: None,
            actions: VecDeque::new(),
            timeout: None,
            now: Timestamp::default(),
            document,
            script: Rc::clone(&self.script),
            journal: Rc::clone(&self.journal),
        })
    }
}

/// A loader that finds nothing.
pub(crate) struct NoFiles;

impl Loader for NoFiles {
    fn load(&self, _base: &str, src: &str) -> Result<(String, String), LoadError> {
        Err(LoadError {
            src: src.to_owned(),
            reason: "no files in unit tests".to_owned(),
        })
    }
}

/// An empty document; the scripted machines only read its name.
pub(crate) fn doc(name: &str) -> Arc<Document> {
    Arc::new(Document {
        name: Some(name.to_owned()),
        datamodel: "ecmascript".to_owned(),
        late_binding: false,
        source_name: format!("/charts/{name}.scxml"),
        states: Vec::new(),
        transitions: Vec::new(),
        code: Vec::new(),
        script: None,
        state_ids: HashMap::new(),
        descriptors: Vec::new(),
        uses_in: false,
        has_eventless: false,
    })
}

pub(crate) fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

pub(crate) struct Harness {
    pub(crate) runner: Runner<FakeFactory>,
    pub(crate) journal: Journal,
    pub(crate) logs: Journal,
}

pub(crate) fn harness(script: impl Fn(&mut Fake, &Input<'_>) + 'static) -> Harness {
    harness_with_prefix("", script)
}

/// A harness whose session ids start with `prefix`.
pub(crate) fn harness_with_prefix(
    prefix: &str,
    script: impl Fn(&mut Fake, &Input<'_>) + 'static,
) -> Harness {
    let journal = Journal::default();
    let logs = Journal::default();
    let sink_logs = Rc::clone(&logs);
    let runner = Runner::with_factory(
        FakeFactory {
            script: Rc::new(script),
            journal: Rc::clone(&journal),
        },
        Box::new(NoFiles),
        RunnerOptions {
            clock: ClockMode::Virtual { start: ts(0) },
            session_id_prefix: prefix.to_owned(),
            ..RunnerOptions::default()
        },
        move |entry: &LogEntry<'_>| {
            sink_logs.borrow_mut().push(format!(
                "{} {} {}={}",
                entry.session_id,
                entry.invokeid.unwrap_or("-"),
                entry.label.unwrap_or("-"),
                entry.value
            ));
        },
    );
    Harness {
        runner,
        journal,
        logs,
    }
}

impl Harness {
    pub(crate) fn spawn(&mut self, name: &str) -> SessionKey {
        match self.runner.spawn(doc(name), Vec::new()) {
            Ok(key) => key,
            Err(e) => panic!("spawn {name}: {e}"),
        }
    }

    pub(crate) fn settle(&mut self) {
        if let Err(e) = self.runner.run_until_idle() {
            panic!("run_until_idle: {e}");
        }
    }

    pub(crate) fn journal(&self) -> Vec<String> {
        self.journal.borrow().clone()
    }
}

pub(crate) fn event_name<'a>(input: &'a Input<'_>) -> Option<&'a str> {
    match input {
        Input::Event(e) => Some(e.name.as_str()),
        _ => None,
    }
}
