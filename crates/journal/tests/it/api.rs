//! The public API: appends, reads, errors, snapshots, recovery, compaction.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use journal::{
    ActiveInvoke, Config, Entry, Error, Journal, OutcomeRecord, PendingTimer, Record, Snapshot,
    Value,
};
use scxml::Timestamp;

use crate::util::{event, start, Scratch, SOURCE};

#[test]
fn records_come_back_in_order_with_the_session_and_its_document() {
    let scratch = Scratch::new("roundtrip");
    let journal = scratch.open();
    let (start, source) = start(Some("http://apps.example/main.scxml"), 1_000);
    let hash = start.document.hash;
    journal.start("s1", start.clone(), source).wait().unwrap();
    journal.append(event("s1", 1, "go", 1_010)).wait().unwrap();
    journal
        .append_all(vec![
            Record::new(
                "s1",
                2,
                Entry::Timer {
                    at: Timestamp::from_millis(1_500),
                },
            ),
            Record::new(
                "s1",
                3,
                Entry::Fetched {
                    request: "fetch-1".into(),
                    result: Value::String("ok".into()),
                    at: Timestamp::from_millis(1_600),
                },
            ),
            Record::new(
                "s1",
                4,
                Entry::Began {
                    at: Timestamp::from_millis(1_700),
                },
            ),
        ])
        .wait()
        .unwrap();

    let records = journal.records("s1", 0).unwrap();
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(
        records[4].entry,
        Entry::Began {
            at: Timestamp::from_millis(1_700)
        }
    );
    assert_eq!(records[0].entry, Entry::Started(start));
    assert_eq!(records[1], event("s1", 1, "go", 1_010));
    assert_eq!(journal.records("s1", 2).unwrap().len(), 3);

    let info = journal.session("s1").unwrap().unwrap();
    assert_eq!(
        info.document.url.as_deref(),
        Some("http://apps.example/main.scxml")
    );
    assert_eq!(info.document.hash, hash);
    assert_eq!(info.started_at, Timestamp::from_millis(1_000));
    assert_eq!(info.ended_at, None);
    assert_eq!(journal.document(&hash).unwrap().as_deref(), Some(SOURCE));
    assert_eq!(journal.live_sessions().unwrap(), ["s1"]);
    assert!(journal.session("nope").unwrap().is_none());
}

#[test]
fn a_bad_command_fails_alone_and_the_batch_commits() {
    let scratch = Scratch::new("errors");
    let journal = scratch.open();
    let (s, source) = start(None, 0);
    journal
        .start("s1", s.clone(), Arc::clone(&source))
        .wait()
        .unwrap();

    // Queue a duplicate and a good record back to back, likely one batch.
    let duplicate = journal.append(event("s1", 0, "dup", 1));
    let good = journal.append(event("s1", 1, "ok", 1));
    assert!(matches!(
        duplicate.wait(),
        Err(Error::DuplicateRecord { seq: 0, .. })
    ));
    good.wait().unwrap();

    assert!(matches!(
        journal.start("s1", s, source).wait(),
        Err(Error::DuplicateSession { .. })
    ));
    assert!(matches!(
        journal.append(event("ghost", 1, "e", 1)).wait(),
        Err(Error::UnknownSession { .. })
    ));
    let (s2, _) = start(None, 0);
    assert!(matches!(
        journal
            .append(Record::new("s2", 0, Entry::Started(s2)))
            .wait(),
        Err(Error::Misuse { .. })
    ));
    // append_all is all or nothing.
    assert!(journal
        .append_all(vec![event("s1", 2, "a", 2), event("s1", 1, "again", 2)])
        .wait()
        .is_err());
    assert_eq!(journal.records("s1", 0).unwrap().len(), 2);
    // The misuse was refused before reaching the writer.
    assert_eq!(journal.stats().failed_commands, 4);
}

#[test]
fn ending_without_retention_deletes_the_session() {
    let scratch = Scratch::new("end-now");
    let journal = scratch.open();
    let (s, source) = start(None, 0);
    let hash = s.document.hash;
    journal.start("s1", s, source).wait().unwrap();
    journal
        .append(Record::new(
            "s1",
            1,
            Entry::Ended {
                outcome: OutcomeRecord::Done {
                    final_state: "done".into(),
                },
                at: Timestamp::from_millis(5),
            },
        ))
        .wait()
        .unwrap();
    assert!(journal.live_sessions().unwrap().is_empty());
    assert!(journal.records("s1", 0).unwrap().is_empty());
    assert!(journal.session("s1").unwrap().is_none());
    // The document goes at the next compaction, when nothing runs it.
    let report = journal.compact(Timestamp::from_millis(0)).wait().unwrap();
    assert_eq!(report.documents, 1);
    assert!(journal.document(&hash).unwrap().is_none());
}

#[test]
fn ended_sessions_are_kept_for_replay_until_compacted() {
    let scratch = Scratch::new("retention");
    let mut config = Config::new(scratch.db());
    config.keep_ended = Duration::from_secs(3600);
    let journal = Journal::open(config).unwrap();
    for (id, ended_at) in [("a", 100), ("b", 200)] {
        let (s, source) = start(None, 0);
        journal.start(id, s, source).wait().unwrap();
        let end = Entry::Ended {
            outcome: OutcomeRecord::Terminated,
            at: Timestamp::from_millis(ended_at),
        };
        journal.append(Record::new(id, 1, end)).wait().unwrap();
    }
    let (s, source) = start(None, 0);
    journal.start("live", s, source).wait().unwrap();

    assert_eq!(journal.live_sessions().unwrap(), ["live"]);
    assert_eq!(journal.records("a", 0).unwrap().len(), 2);
    assert_eq!(
        journal.session("a").unwrap().unwrap().ended_at,
        Some(Timestamp::from_millis(100))
    );

    let report = journal.compact(Timestamp::from_millis(150)).wait().unwrap();
    assert_eq!(report.sessions, 1);
    assert_eq!(report.documents, 0, "the live session still runs it");
    assert!(journal.records("a", 0).unwrap().is_empty());
    assert_eq!(journal.records("b", 0).unwrap().len(), 2);
}

fn snapshot(session: &str, seq: u64) -> Snapshot {
    Snapshot {
        session: session.into(),
        seq,
        at: Timestamp::from_millis(seq * 10),
        configuration: vec!["main".into(), "waiting".into()],
        data: Value::Object(vec![("count".into(), Value::Number(seq as f64))]),
        timers: vec![PendingTimer {
            due: Timestamp::from_millis(99_000),
            sendid: Some("t1".into()),
            target: None,
            event: match event(session, 0, "timeout", 0).entry {
                Entry::Event { event, .. } => event,
                _ => unreachable!(),
            },
        }],
        invokes: vec![ActiveInvoke {
            invokeid: "child".into(),
            session: Some("s1.child".into()),
            autoforward: false,
        }],
        host: Value::Undefined,
    }
}

#[test]
fn recovery_resumes_live_sessions_from_their_latest_snapshot() {
    let scratch = Scratch::new("recover");
    let journal = scratch.open();
    for id in ["b", "a", "ended"] {
        let (s, source) = start(None, 0);
        journal.start(id, s, source).wait().unwrap();
        for seq in 1..=5 {
            journal.append(event(id, seq, "e", seq)).wait().unwrap();
        }
    }
    journal.snapshot(&snapshot("a", 2)).wait().unwrap();
    journal.snapshot(&snapshot("a", 4)).wait().unwrap();
    let end = Entry::Ended {
        outcome: OutcomeRecord::Stopped {
            reason: "limit".into(),
        },
        at: Timestamp::from_millis(9),
    };
    journal.append(Record::new("ended", 6, end)).wait().unwrap();

    assert_eq!(
        journal.latest_snapshot("a").unwrap(),
        Some(snapshot("a", 4))
    );
    assert_eq!(journal.latest_snapshot("b").unwrap(), None);

    let mut seen = Vec::new();
    let count = journal.recover(|r| seen.push(r)).unwrap();
    assert_eq!(count, 2);
    assert_eq!(seen[0].session, "a");
    assert_eq!(seen[0].snapshot.as_ref().map(|s| s.seq), Some(4));
    assert_eq!(
        seen[0].records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [5]
    );
    assert_eq!(seen[0].next_seq(), 6);
    assert_eq!(seen[1].session, "b");
    assert!(seen[1].snapshot.is_none());
    assert_eq!(seen[1].records.len(), 5);
    assert_eq!(seen[1].start.seed, 7);
    assert_eq!(seen[1].next_seq(), 6);
    // Without pruning, step-by-step replay still has everything.
    assert_eq!(journal.records("a", 0).unwrap().len(), 6);
}

#[test]
fn pruning_on_snapshot_keeps_the_start_and_what_follows() {
    let scratch = Scratch::new("prune");
    let mut config = Config::new(scratch.db());
    config.prune_on_snapshot = true;
    let journal = Journal::open(config).unwrap();
    let (s, source) = start(None, 0);
    journal.start("s", s, source).wait().unwrap();
    for seq in 1..=4 {
        journal.append(event("s", seq, "e", seq)).wait().unwrap();
    }
    journal.snapshot(&snapshot("s", 3)).wait().unwrap();
    let seqs: Vec<u64> = journal
        .records("s", 0)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, [0, 4]);
    let mut recovered = None;
    journal.recover(|r| recovered = Some(r)).unwrap();
    let recovered = recovered.unwrap();
    assert_eq!(recovered.records.len(), 1);
    assert_eq!(recovered.next_seq(), 5);
}

#[test]
fn concurrent_writers_are_group_committed_and_all_durable() {
    let scratch = Scratch::new("concurrent");
    let batches = Arc::new(Mutex::new(Vec::new()));
    let mut config = Config::new(scratch.db());
    let seen = Arc::clone(&batches);
    config.observer = Some(Arc::new(move |report: &journal::BatchReport| {
        seen.lock().unwrap().push(report.records);
    }));
    let journal = Journal::open(config).unwrap();
    const THREADS: usize = 8;
    const PER_THREAD: u64 = 50;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let journal = journal.clone();
            scope.spawn(move || {
                let id = format!("t{t}");
                let (s, source) = start(None, 0);
                journal.start(&id, s, source).wait().unwrap();
                // Pipelined: queue several, then wait for each in order.
                let tickets: Vec<_> = (1..=PER_THREAD)
                    .map(|seq| journal.append(event(&id, seq, "e", seq)))
                    .collect();
                for ticket in tickets {
                    ticket.wait().unwrap();
                }
            });
        }
    });
    let total = THREADS as u64 * (PER_THREAD + 1);
    let stats = journal.stats();
    assert_eq!(stats.records, total);
    assert!(stats.batches <= total);
    let reported: usize = batches.lock().unwrap().iter().sum();
    assert_eq!(reported as u64, total);
    journal.close();
    assert!(matches!(
        journal.append(event("t0", 99, "late", 0)).wait(),
        Err(Error::Closed)
    ));
    drop(journal);

    let reopened = scratch.open();
    assert_eq!(reopened.live_sessions().unwrap().len(), THREADS);
    for t in 0..THREADS {
        let records = reopened.records(&format!("t{t}"), 0).unwrap();
        assert_eq!(records.len() as u64, PER_THREAD + 1);
    }
}

#[test]
fn a_group_commits_in_one_transaction_and_its_members_fail_alone() {
    let scratch = Scratch::new("group");
    let batches = Arc::new(Mutex::new(Vec::new()));
    let mut config = Config::new(scratch.db());
    // Smaller than the group: a group is never split.
    config.max_batch = 2;
    let seen = Arc::clone(&batches);
    config.observer = Some(Arc::new(move |report: &journal::BatchReport| {
        seen.lock()
            .unwrap()
            .push((report.commands, report.records, report.failed));
    }));
    let journal = Journal::open(config).unwrap();
    let (s, source) = start(None, 0);
    journal
        .start("s1", s.clone(), Arc::clone(&source))
        .wait()
        .unwrap();
    batches.lock().unwrap().clear();

    let mut group = journal.group();
    let started = group.start("s2", s, source);
    let first = group.append(event("s1", 1, "a", 1));
    let duplicate = group.append(event("s1", 1, "again", 1));
    // Its session's start is earlier in the same group.
    let second = group.append(event("s2", 1, "b", 1));
    assert_eq!(group.len(), 4);
    // Nothing is queued before the group is submitted.
    assert!(!first.is_done());
    group.submit();
    started.wait().unwrap();
    first.wait().unwrap();
    assert!(matches!(
        duplicate.wait(),
        Err(Error::DuplicateRecord { seq: 1, .. })
    ));
    second.wait().unwrap();
    assert_eq!(*batches.lock().unwrap(), [(4, 3, 1)]);
    assert_eq!(journal.records("s1", 1).unwrap(), [event("s1", 1, "a", 1)]);
    assert_eq!(journal.records("s2", 1).unwrap(), [event("s2", 1, "b", 1)]);
}

#[test]
fn the_wal_is_checkpointed_by_its_size_not_by_payload() {
    let scratch = Scratch::new("checkpoint");
    let mut config = Config::new(scratch.db());
    // Small commits write whole pages: 300 commits of a ~60-byte record
    // carry 18 KB of payload but put over a megabyte of frames in the WAL.
    config.checkpoint_bytes = 64 << 10;
    let journal = Journal::open(config).unwrap();
    let (s, source) = start(None, 0);
    journal.start("s1", s, source).wait().unwrap();
    for seq in 1..=300 {
        journal.append(event("s1", seq, "e", seq)).wait().unwrap();
    }
    // Closing lets the checkpointer finish what it was woken for.
    journal.close();
    assert!(journal.stats().checkpoints > 0, "{:?}", journal.stats());
    assert_eq!(journal.records("s1", 0).unwrap().len(), 301);
}

#[test]
fn a_ticket_is_a_future() {
    let scratch = Scratch::new("future");
    let journal = scratch.open();
    let (s, source) = start(None, 0);
    let ticket = journal.start("s", s, source);
    // A minimal executor: park the thread until the waker unparks it.
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut ticket = std::pin::pin!(ticket);
    loop {
        match std::future::Future::poll(ticket.as_mut(), &mut cx) {
            std::task::Poll::Ready(result) => break result.unwrap(),
            std::task::Poll::Pending => std::thread::park(),
        }
    }
    assert_eq!(journal.live_sessions().unwrap(), ["s"]);
}

#[test]
fn the_writer_compacts_expired_sessions_by_itself() {
    let scratch = Scratch::new("auto-compact");
    let mut config = Config::new(scratch.db());
    config.keep_ended = Duration::from_millis(1);
    config.compact_interval = Duration::ZERO;
    let journal = Journal::open(config).unwrap();
    for id in ["old", "other"] {
        let (s, source) = start(None, 0);
        journal.start(id, s, source).wait().unwrap();
    }
    // Ended at 100 ms after the epoch: long expired by the wall clock.
    let end = Entry::Ended {
        outcome: OutcomeRecord::Terminated,
        at: Timestamp::from_millis(100),
    };
    journal.append(Record::new("old", 1, end)).wait().unwrap();
    // The writer compacts after a batch and before taking the next one, so
    // once a later append is acknowledged the pass has run.
    journal.append(event("other", 1, "e", 1)).wait().unwrap();
    assert!(journal.session("old").unwrap().is_none());
    assert_eq!(journal.live_sessions().unwrap(), ["other"]);
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Journal>();
    send::<journal::Ticket>();
    send::<journal::Ticket<journal::CompactReport>>();
}
