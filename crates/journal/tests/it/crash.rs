//! The crash test: a child process appends records as fast as it can and
//! prints every sequence number the journal acknowledged; the test kills it
//! with SIGKILL mid-stream, reopens the database and checks that every
//! acknowledged record is there, in order, intact.
//!
//! The child is this test binary run again with `JOURNAL_CRASH_CHILD` set to
//! the database path and `--exact crash::child_appender`, so no extra binary
//! is needed. Without the variable, `child_appender` is a no-op test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use journal::{Entry, Journal, Record, Value};

use crate::util::{event, start, Scratch};

const CHILD_ENV: &str = "JOURNAL_CRASH_CHILD";
/// Sessions written concurrently by the child, one thread each.
const SESSIONS: usize = 4;
/// Acknowledgements the parent waits for before killing the child.
const KILL_AFTER: usize = 400;

/// The payload of record `seq` of session `t`: deterministic, so the parent
/// can check content, and of varying size so records straddle pages.
fn payload(t: usize, seq: u64) -> Value {
    Value::String(format!("{t}:{seq}:").repeat(1 + (seq as usize * 7) % 120))
}

fn record(t: usize, seq: u64) -> Record {
    let mut record = event(&format!("s{t}"), seq, "tick", seq);
    if let Entry::Event { event, .. } = &mut record.entry {
        event.data = payload(t, seq);
    }
    record
}

#[test]
fn child_appender() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let journal = Journal::open(journal::Config::new(path)).unwrap();
    let stdout = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|scope| {
        for t in 0..SESSIONS {
            let journal = journal.clone();
            let stdout = &stdout;
            scope.spawn(move || {
                let id = format!("s{t}");
                let (s, source) = start(None, 0);
                journal.start(&id, s, source).wait().unwrap();
                writeln!(stdout.lock().unwrap(), "ack {t} 0").unwrap();
                // Keep a few appends in flight so batches hold several
                // records; acknowledge strictly in order.
                let mut in_flight = std::collections::VecDeque::new();
                // Bounded, so that a parent that died early leaves no runaway.
                for seq in 1..200_000 {
                    in_flight.push_back((seq, journal.append(record(t, seq))));
                    if in_flight.len() == 4 {
                        let (acked, ticket) = in_flight.pop_front().unwrap();
                        ticket.wait().unwrap();
                        let mut out = stdout.lock().unwrap();
                        writeln!(out, "ack {t} {acked}").unwrap();
                        out.flush().unwrap();
                    }
                }
            });
        }
    });
}

#[test]
fn sigkill_loses_no_acknowledged_record() {
    let scratch = Scratch::new("crash");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, scratch.db())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked: BTreeMap<usize, u64> = BTreeMap::new();
    let mut lines = BufReader::new(stdout).lines();
    let mut count = 0;
    for line in lines.by_ref() {
        if note_ack(&line.unwrap(), &mut acked) {
            count += 1;
            if count == KILL_AFTER {
                break;
            }
        }
    }
    // std's Child::kill sends SIGKILL on Unix: no destructor, no flush.
    child.kill().unwrap();
    // Acknowledgements already in the pipe were given before the kill.
    for line in lines {
        note_ack(&line.unwrap(), &mut acked);
    }
    child.wait().unwrap();
    assert!(
        acked.values().sum::<u64>() > 0,
        "the child acknowledged nothing"
    );

    let journal = Journal::open(journal::Config::new(scratch.db())).unwrap();
    for (&t, &last_acked) in &acked {
        let records = journal.records(&format!("s{t}"), 0).unwrap();
        assert!(
            records.len() as u64 > last_acked,
            "session {t}: acknowledged up to {last_acked}, found {} records",
            records.len()
        );
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.seq, i as u64, "session {t}: a gap or reordering");
            if r.seq > 0 {
                assert_eq!(*r, record(t, r.seq), "session {t}: record {} torn", r.seq);
            }
        }
    }
    // Recovery sees the same sessions.
    assert_eq!(journal.recover(|_| {}).unwrap(), acked.len());
}

/// Parses `ack <session> <seq>` and keeps the highest seq per session.
fn note_ack(line: &str, acked: &mut BTreeMap<usize, u64>) -> bool {
    let mut words = line.split_whitespace();
    if words.next() != Some("ack") {
        return false;
    }
    let (Some(Ok(t)), Some(Ok(seq))) = (
        words.next().map(str::parse::<usize>),
        words.next().map(str::parse::<u64>),
    ) else {
        return false;
    };
    let entry = acked.entry(t).or_insert(0);
    *entry = (*entry).max(seq);
    true
}
