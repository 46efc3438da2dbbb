//! The trace of a session, in the records of `orca run --trace`
//! ([`runner::trace::TraceRecord`]), taken at the [`Machine`] boundary: the
//! same wrapper watches a replayed session (`orca replay`,
//! `GET /sessions/{id}/trace`) and, in the tests, a live one, so that the
//! two traces can be compared record for record.
//!
//! For each input: an `input` record (what and when), the `microstep`
//! records of its macrostep (the interpreter's observer), a `log` record for
//! each `<log>` among its actions, then, once its actions are drained, a
//! `configuration` record, and, if the session ended, `done` or `stopped`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use runner::trace::{InputRecord, MicrostepTracer, Tag, TraceRecord};
use runner::Machine;
use scxml::{Action, Data, Document, Event, Observer, Outcome, Timestamp};

/// A machine whose inputs, microsteps, logs and configurations are written
/// down as trace records.
pub(crate) struct TracedMachine<M> {
    inner: M,
    tag: Tag,
    records: Rc<RefCell<Vec<TraceRecord>>>,
    /// The configuration after the last input is written down.
    settled: bool,
    /// The end is written down.
    ended: bool,
}

impl<M: Machine> TracedMachine<M> {
    /// Traces `inner`, whose records carry `tag`.
    pub(crate) fn new(mut inner: M, tag: Tag) -> Self {
        let records: Rc<RefCell<Vec<TraceRecord>>> = Rc::default();
        let sink = Rc::clone(&records);
        inner.set_observer(Box::new(MicrostepTracer::new(tag.clone(), move |record| {
            sink.borrow_mut().push(record)
        })));
        TracedMachine {
            inner,
            tag,
            records,
            settled: true,
            ended: false,
        }
    }

    /// The machine and its trace so far.
    pub(crate) fn into_parts(self) -> (M, Vec<TraceRecord>) {
        let records = std::mem::take(&mut *self.records.borrow_mut());
        (self.inner, records)
    }

    /// The machine, for tests that keep the trace through [`Self::records`].
    #[cfg(test)]
    pub(crate) fn into_inner(self) -> M {
        self.inner
    }

    /// The trace as it grows, for tests that watch a live session.
    #[cfg(test)]
    pub(crate) fn records(&self) -> Rc<RefCell<Vec<TraceRecord>>> {
        Rc::clone(&self.records)
    }

    fn input(&mut self, input: &str, event: Option<&Event>, at: Timestamp) {
        self.settled = false;
        self.records
            .borrow_mut()
            .push(TraceRecord::Input(InputRecord {
                input: input.to_owned(),
                event: event.map(|e| e.name.clone()),
                at: at.as_millis(),
                tag: self.tag.clone(),
            }));
    }

    /// The input's actions are drained: its configuration, and its end.
    fn settle(&mut self) {
        if self.settled {
            return;
        }
        self.settled = true;
        let states: Vec<String> = self
            .inner
            .configuration()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut records = self.records.borrow_mut();
        records.push(TraceRecord::Configuration {
            states: states.clone(),
        });
        if self.ended || self.inner.is_running() {
            return;
        }
        if let Some(outcome) = self.inner.outcome() {
            self.ended = true;
            records.push(TraceRecord::end(outcome, states));
        }
    }
}

impl<M: Machine> Machine for TracedMachine<M> {
    fn start(&mut self, now: Timestamp) {
        self.input("start", None, now);
        self.inner.start(now);
    }

    fn handle_event(&mut self, now: Timestamp, event: Event) {
        self.input("event", Some(&event), now);
        self.inner.handle_event(now, event);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.input("timer", None, now);
        self.inner.handle_timeout(now);
    }

    fn terminate(&mut self, now: Timestamp) {
        self.input("terminate", None, now);
        self.inner.terminate(now);
    }

    fn poll_action(&mut self) -> Option<Action> {
        let action = self.inner.poll_action();
        match &action {
            Some(Action::Log {
                label,
                value,
                level,
            }) => self.records.borrow_mut().push(TraceRecord::log(
                label.as_deref(),
                value,
                level.as_deref(),
                self.tag.clone(),
            )),
            Some(_) => {}
            None => self.settle(),
        }
        action
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.inner.poll_timeout()
    }

    fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    fn outcome(&self) -> Option<&Outcome> {
        self.inner.outcome()
    }

    fn configuration(&self) -> Vec<&str> {
        self.inner.configuration()
    }

    fn document(&self) -> &Arc<Document> {
        self.inner.document()
    }

    fn data(&mut self) -> Data {
        self.inner.data()
    }

    fn set_observer(&mut self, observer: Box<dyn Observer>) {
        // The trace's own observer stays: a second one would replace it.
        drop(observer);
    }
}
