//! Helpers: scratch directories and record builders.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use journal::{
    Config, ContentHash, DocumentRef, Entry, EventKindRecord, EventRecord, Journal, Record, Start,
    Value,
};
use scxml::Timestamp;

/// A directory removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "orca-journal-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join("journal.db")
    }

    pub fn open(&self) -> Journal {
        Journal::open(Config::new(self.db())).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub const SOURCE: &str =
    "<scxml xmlns='http://www.w3.org/2005/07/scxml' initial='a'><state id='a'/></scxml>";

/// A start of `SOURCE` from `url` at time `at`.
pub fn start(url: Option<&str>, at: u64) -> (Start, Arc<str>) {
    let source: Arc<str> = Arc::from(SOURCE);
    let start = Start {
        document: DocumentRef {
            url: url.map(str::to_owned),
            hash: ContentHash::of(source.as_bytes()),
        },
        params: vec![("customer".into(), Value::String("42".into()))],
        seed: 7,
        at: Timestamp::from_millis(at),
        scheduled: None,
        parent: None,
        host: Value::Undefined,
    };
    (start, source)
}

/// An external event `name` with a number payload.
pub fn event(session: &str, seq: u64, name: &str, at: u64) -> Record {
    Record::new(
        session,
        seq,
        Entry::Event {
            event: EventRecord {
                name: name.into(),
                kind: EventKindRecord::External,
                sendid: None,
                origin: None,
                origintype: None,
                invokeid: None,
                raw: None,
                data: Value::Object(vec![("n".into(), Value::Number(seq as f64))]),
            },
            at: Timestamp::from_millis(at),
        },
    )
}
