//! One store test suite for both backends: every case below runs on an SQLite file and on a
//! PostgreSQL database (a throwaway cluster of this test binary, `common::pg`), through the
//! backend-neutral entry points the commands use (`store::open`, `open_read`, `lock`, `copy`)
//! and the `Store` trait. The same case, the same assertions: not two copies.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sampleflow::machinery::model::{Armed, Changes, Instance, Ledger};
use sampleflow::machinery::store::{
    self, Batch, EventRow, Focus, Holder, LockError, LogRow, ReviewCall, RunState, Sessions, Store,
    StoreError, Version,
};

/// A store to test: an SQLite file in a folder of its own, or a database of its own.
struct Db {
    kind: &'static str,
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        Db {
            kind: "sqlite",
            path: dir.path().join("s.db"),
            _dir: Some(dir),
        }
    }

    fn postgres() -> Db {
        Db {
            kind: "postgres",
            path: PathBuf::from(common::pg::database()),
            _dir: None,
        }
    }

    fn open(&self) -> Box<dyn Store> {
        store::open(&self.path).unwrap_or_else(|e| panic!("{}: {e}", self.kind))
    }

    fn read(&self) -> Box<dyn Store> {
        store::open_read(&self.path).unwrap_or_else(|e| panic!("{}: {e}", self.kind))
    }
}

/// Runs each case on both backends: `mod NAME { fn sqlite(); fn postgres(); }`.
macro_rules! on_both {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn sqlite() {
                super::$case(super::Db::sqlite());
            }
            #[test]
            fn postgres() {
                super::$case(super::Db::postgres());
            }
        }
    )*};
}

on_both!(
    a_batch_keeps_its_events_and_records_and_reads_them_back,
    a_group_commits_every_batch_and_the_last_version_of_what_they_changed,
    a_group_stops_at_the_number_it_is_given,
    a_batch_refused_in_a_group_leaves_the_ones_before_it_committed,
    versions_are_kept_once_in_the_order_first_seen,
    deadlines_due_by_a_time_are_found_as_they_were_last_written,
    a_batch_of_long_lines_is_read_back_whole,
    samples_are_listed_in_byte_order_and_counted_by_state,
    a_reader_sees_what_a_writer_committed_and_writes_nothing,
    decisions_on_platform_samples_are_queued_once_in_the_outbox,
    applications_that_could_not_be_mapped_are_kept_until_mapped,
    a_creators_samples_and_platform_username_are_found_by_creator,
    console_sessions_are_kept_by_hash_and_bounded,
    a_store_that_is_not_ours_is_refused_and_left_as_it_was,
    a_second_writer_is_told_who_holds_the_store_until_it_lets_go,
    a_copy_into_the_other_kind_and_back_reads_the_same,
    a_copy_into_a_store_that_holds_rows_is_refused,
);

#[path = "store/shops.rs"]
mod shops;

fn instance(id: &str, records: u32, state: &str, deadlines: Vec<Armed>) -> Arc<Instance> {
    let text = format!(
        r#"{{"sample":{{"id":"{id}","state":"{state}","creator":"c1","product":"p1","category":"beauty","quantity":1,"cost":6.0,"gmv":0.0,"deposit":null,"keep_up_content":null}},"workflow":"sample","creator":{{"id":"c1","followers":10000,"engagement_rate":0.05,"posts_30d":10,"gmv_30d":1000.0,"avg_video_views":5000.0,"fulfillment_rate_90d":0.9,"top_categories":["beauty"]}},"product":{{"id":"p1","category":"beauty","price":19.99,"unit_cost":6.0,"flags":[]}},"requested_at":"2026-01-01T00:00:00Z","last_at":"2026-01-01T00:00:00Z","decision":"approve","reason":"auto_approved","tier":"new","rules":"","opened":true,"shipping_cost":0.0,"tracking_number":null,"carrier":null,"review":null,"review_reason":null,"reviewed_by":null,"contents":{{}},"extensions":{{}},"deadlines":[],"records":{records}}}"#
    );
    let mut inst: Instance = serde_json::from_str(&text).unwrap();
    inst.deadlines = deadlines;
    Arc::new(inst)
}

fn shipped(id: &str, records: u32) -> Arc<Instance> {
    instance(id, records, "shipped", Vec::new())
}

fn armed(name: &str, due: &str, seq: u64) -> Armed {
    Armed {
        name: name.into(),
        of_state: true,
        due: due.parse().unwrap(),
        seq,
        held: false,
    }
}

fn record(sample: &str, n: u32) -> LogRow {
    LogRow {
        line: 0,
        sample: Some(sample.into()),
        text: format!(r#"{{"sample":"{sample}","n":{n}}}"#),
    }
}

fn refusal(line: u64) -> LogRow {
    LogRow {
        line,
        sample: None,
        text: format!(r#"{{"line":{line},"error":"duplicate_id"}}"#),
    }
}

fn event(id: &str) -> EventRow {
    EventRow {
        id: id.into(),
        line: 0,
        raw: format!(r#"{{"id":"{id}","type":"tick"}}"#),
    }
}

fn texts(rows: &[LogRow]) -> Vec<String> {
    rows.iter().map(|l| l.text.clone()).collect()
}

fn run(id: i64, lines: u64) -> RunState {
    RunState {
        id,
        input: "events.jsonl".into(),
        lines,
        ..RunState::default()
    }
}

fn ledger_batch(n: u64, credit: f64) -> Batch {
    let ledger = Ledger {
        credit,
        ..Ledger::default()
    };
    Batch {
        changes: Changes {
            ledgers: vec![("c1".into(), ledger.into())],
            ..Default::default()
        },
        events: vec![event(&format!("e{n}"))],
        log: Vec::new(),
        run: run(1, n),
        ..Batch::default()
    }
}

fn a_batch_keeps_its_events_and_records_and_reads_them_back(db: Db) {
    let mut store = db.open();
    let log = vec![
        record("s1", 1),
        refusal(2),
        record("s2", 1),
        record("s1", 2),
    ];
    let first = Batch {
        changes: Changes {
            samples: vec![shipped("s1", 2), shipped("s2", 1)],
            ..Default::default()
        },
        events: vec![event("e1"), event("x-tts-2"), event("tts-a1-requested")],
        log: log.clone(),
        run: run(1, 3),
        platform: vec!["a1".into()],
        ..Batch::default()
    };
    store.commit(&first).unwrap();
    // A second batch, of another run: a record of s1, whose sample did not change (it is linked
    // all the same), and one of a sample that is not stored (nothing to link).
    let second = Batch {
        events: vec![event("e3")],
        log: vec![record("s1", 3), record("s9", 1)],
        run: run(2, 1),
        ..Batch::default()
    };
    store.commit(&second).unwrap();
    for mut store in [db.open(), db.read()] {
        let raw: Vec<String> = first
            .events
            .iter()
            .chain(&second.events)
            .map(|e| e.raw.clone())
            .collect();
        assert_eq!(store.events().unwrap(), raw, "{}", db.kind);
        let applied = store.load().unwrap().applied;
        assert_eq!(applied, ["e1", "x-tts-2", "tts-a1-requested", "e3"]);
        assert_eq!(
            store.events_with_prefix("tts-").unwrap(),
            ["tts-a1-requested".to_string()].into_iter().collect()
        );
        assert_eq!(store.run_log(1).unwrap(), texts(&log));
        assert_eq!(store.run_log(2).unwrap(), texts(&second.log));
        assert_eq!(
            store.sample_log("s1").unwrap(),
            [
                log[0].text.clone(),
                log[3].text.clone(),
                second.log[0].text.clone()
            ]
        );
        assert_eq!(store.sample_log("s2").unwrap(), [log[2].text.clone()]);
        assert!(store.sample_log("s3").unwrap().is_empty());
        let mut records = Vec::new();
        store
            .each_record(&mut |r| {
                records.push(r.to_string());
                Ok(())
            })
            .unwrap();
        assert_eq!(records.len(), 5, "every record, no refusal: {records:?}");
        assert_eq!(store.last_run().unwrap(), Some(run(2, 1)));
    }
}

fn a_group_commits_every_batch_and_the_last_version_of_what_they_changed(db: Db) {
    let mut store = db.open();
    let mut rest = vec![ledger_batch(3, 3.0), ledger_batch(2, 2.0)];
    let written = store
        .commit_group(ledger_batch(1, 1.0), &mut |_| rest.pop())
        .unwrap();
    assert_eq!(written, 3);
    let mut read = db.read();
    assert_eq!(read.ledger("c1").unwrap().map(|l| l.credit), Some(3.0));
    assert_eq!(read.events().unwrap().len(), 3);
    assert_eq!(read.last_run().unwrap().map(|r| r.lines), Some(3));
}

fn a_group_stops_at_the_number_it_is_given(db: Db) {
    let mut store = db.open();
    let mut rest = vec![ledger_batch(3, 3.0), ledger_batch(2, 2.0)];
    let written = store
        .commit_group(ledger_batch(1, 1.0), &mut |n| {
            (n < 2).then(|| rest.pop()).flatten()
        })
        .unwrap();
    assert_eq!(written, 2);
    assert_eq!(store.ledger("c1").unwrap().map(|l| l.credit), Some(2.0));
    assert_eq!(rest.len(), 1, "the third batch was left to the next commit");
}

fn a_batch_refused_in_a_group_leaves_the_ones_before_it_committed(db: Db) {
    let mut store = db.open();
    let mut rest = vec![
        ledger_batch(4, 4.0),
        ledger_batch(3, f64::NAN),
        ledger_batch(2, 2.0),
    ];
    let refused = store.commit_group(ledger_batch(1, 1.0), &mut |_| rest.pop());
    assert!(
        matches!(refused, Err(StoreError::NotFinite(ref what)) if what.contains("c1")),
        "{refused:?}"
    );
    let mut read = db.read();
    assert_eq!(read.ledger("c1").unwrap().map(|l| l.credit), Some(2.0));
    assert_eq!(read.events().unwrap().len(), 2);
    assert_eq!(read.last_run().unwrap().map(|r| r.lines), Some(2));
    assert_eq!(rest.len(), 1, "nothing after the refused batch was taken");
}

fn versions_are_kept_once_in_the_order_first_seen(db: Db) {
    let mut store = db.open();
    let v = |kind: &str, hash: &str, seen: &str| Version {
        kind: kind.into(),
        hash: hash.into(),
        name: kind.into(),
        files: vec![("policy.yaml".into(), format!("# {hash}"))],
        first_seen: seen.into(),
    };
    let (b, a, w) = (
        v("rules", "bbb", "2026-02-01T00:00:00Z"),
        v("rules", "aaa", "2026-02-02T00:00:00Z"),
        v("workflow", "ccc", "2026-02-02T00:00:00Z"),
    );
    store.save_versions(&[b.clone(), a.clone()]).unwrap();
    store
        .save_versions(&[v("rules", "bbb", "2026-03-01T00:00:00Z"), w.clone()])
        .unwrap();
    assert_eq!(db.read().versions().unwrap(), vec![b, a, w]);
}

fn deadlines_due_by_a_time_are_found_as_they_were_last_written(db: Db) {
    let mut store = db.open();
    let soon = |id| {
        instance(
            id,
            1,
            "awaiting_shipment",
            vec![armed("ship", "2026-01-08T00:00:00.5Z", 1)],
        )
    };
    let commit = |store: &mut Box<dyn Store>, inst: Arc<Instance>| {
        store
            .commit(&Batch {
                changes: Changes {
                    samples: vec![inst],
                    ..Default::default()
                },
                ..Batch::default()
            })
            .unwrap();
    };
    commit(&mut store, soon("s1"));
    commit(&mut store, soon("s2"));
    // The same deadlines again (not written again), then s2's moved later, then none.
    commit(&mut store, soon("s1"));
    commit(
        &mut store,
        instance(
            "s2",
            2,
            "awaiting_shipment",
            vec![armed("ship", "2026-02-08T00:00:00Z", 2)],
        ),
    );
    let focus = |at: &str| Focus {
        at: at.parse().unwrap(),
        samples: Vec::new(),
        creators: Vec::new(),
    };
    let ids = |store: &mut Box<dyn Store>, at: &str| -> Vec<String> {
        let snap = store.load_around(&focus(at)).unwrap();
        snap.samples
            .iter()
            .map(|s| s.sample.id.to_string())
            .collect()
    };
    let mut read = db.read();
    assert_eq!(ids(&mut read, "2026-01-07T00:00:00Z"), Vec::<String>::new());
    assert_eq!(ids(&mut read, "2026-01-08T00:00:00Z"), ["s1"]);
    assert_eq!(ids(&mut read, "2026-02-08T00:00:00Z"), ["s1", "s2"]);
    commit(&mut store, instance("s1", 2, "shipped", Vec::new()));
    // A store opened anew, which knows nothing it wrote, writes them.
    drop(store);
    let mut store = db.open();
    commit(&mut store, soon("s3"));
    assert_eq!(ids(&mut read, "2026-02-08T00:00:00Z"), ["s2", "s3"]);
    let around = read.load_around(&focus("2026-01-09T00:00:00Z")).unwrap();
    assert_eq!(around.ledgers.len(), 0, "no ledger was stored");
}

fn a_batch_of_long_lines_is_read_back_whole(db: Db) {
    let mut store = db.open();
    let events: Vec<EventRow> = (0..12)
        .map(|i| EventRow {
            id: format!("e{i}").into(),
            line: i,
            raw: format!("{{\"id\":\"e{i}\",\"pad\":\"{}\"}}", "x".repeat(1 << 20)),
        })
        .collect();
    store
        .commit(&Batch {
            events: events.clone(),
            ..Batch::default()
        })
        .unwrap();
    let raw: Vec<String> = events.into_iter().map(|e| e.raw).collect();
    assert_eq!(db.read().events().unwrap(), raw);
}

fn samples_are_listed_in_byte_order_and_counted_by_state(db: Db) {
    let mut store = db.open();
    let ids = ["b", "a10", "A", "a9", "é", "a", "_x", "z"];
    store
        .commit(&Batch {
            changes: Changes {
                samples: ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        let state = if i % 3 == 0 { "pending" } else { "shipped" };
                        instance(id, 1, state, Vec::new())
                    })
                    .collect(),
                ..Default::default()
            },
            ..Batch::default()
        })
        .unwrap();
    let mut read = db.read();
    let listed: Vec<String> = read
        .samples()
        .unwrap()
        .iter()
        .map(|s| s.sample.id.to_string())
        .collect();
    let mut sorted: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    sorted.sort(); // Rust compares strings byte by byte, as SQLite does
    assert_eq!(listed, sorted);
    let counts = read.state_counts().unwrap();
    assert_eq!(counts.get("pending"), Some(&3));
    assert_eq!(counts.get("shipped"), Some(&5));
}

fn a_reader_sees_what_a_writer_committed_and_writes_nothing(db: Db) {
    assert!(
        matches!(store::open_read(&db.path), Err(StoreError::Missing)),
        "{}: no store yet",
        db.kind
    );
    assert!(!store::exists(&db.path));
    let mut store = db.open();
    let mut read = db.read();
    assert!(read.sample("s1").unwrap().is_none());
    store
        .commit(&Batch {
            changes: Changes {
                samples: vec![shipped("s1", 1)],
                ledgers: vec![("c1".into(), Ledger::default().into())],
                ..Default::default()
            },
            ..Batch::default()
        })
        .unwrap();
    assert!(store::exists(&db.path));
    assert_eq!(
        read.sample("s1").unwrap().map(|s| s.sample.id.to_string()),
        Some("s1".to_string())
    );
    let mut fallback = store.reader().expect("a reader beside the writer");
    assert!(fallback.sample("s1").is_some());
    assert!(fallback.ledger("c1").is_some());
    assert!(fallback.sample("s2").is_none());
    // A reader's write is refused (read-only).
    assert!(read.commit(&Batch::default()).is_err(), "{}", db.kind);
}

fn decisions_on_platform_samples_are_queued_once_in_the_outbox(db: Db) {
    let mut store = db.open();
    let decision = |sample: &str, event: &str, decision: &str| LogRow {
        line: 0,
        sample: Some(sample.into()),
        text: format!(
            r#"{{"sample":"{sample}","at":"2026-01-0{}T00:00:00Z","event":"{event}","decision":"{decision}","reason":"auto_approved"}}"#,
            if sample == "a2" { 1 } else { 2 }
        ),
    };
    // The review call the session computes from such a record.
    let call = |sample: &str, event: &str, decision: &str| ReviewCall {
        sample: sample.into(),
        event: event.into(),
        decision: decision.into(),
        reason: Some("auto_approved".into()),
        at: format!("2026-01-0{}T00:00:00Z", if sample == "a2" { 1 } else { 2 }),
    };
    // Before any platform event, decisions queue nothing.
    store
        .commit(&Batch {
            events: vec![event("e0")],
            log: vec![decision("x1", "e0", "approve")],
            calls: vec![call("x1", "e0", "approve")],
            ..Batch::default()
        })
        .unwrap();
    assert!(store.outbox().unwrap().is_empty());
    let batch = Batch {
        events: vec![event("tts-a1-requested"), event("tts-a2-requested")],
        log: vec![
            decision("a1", "tts-a1-requested", "approve"),
            decision("a2", "tts-a2-requested", "reject"),
            decision("x2", "e5", "approve"),
        ],
        platform: vec!["a1".into(), "a2".into()],
        calls: vec![
            call("a1", "tts-a1-requested", "approve"),
            call("a2", "tts-a2-requested", "reject"),
            call("x2", "e5", "approve"),
        ],
        ..Batch::default()
    };
    store.commit(&batch).unwrap();
    store.commit(&batch).unwrap(); // the same decisions again queue nothing more
    let calls = db.read().outbox().unwrap();
    let listed: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|c| (c.sample.as_str(), c.decision.as_str(), c.state.as_str()))
        .collect();
    assert_eq!(
        listed,
        [("a2", "reject", "queued"), ("a1", "approve", "queued")],
        "{}: oldest first",
        db.kind
    );
    let call = calls[1].clone();
    store
        .set_call(&call, "sending", None, None, "2026-01-03T00:00:00Z")
        .unwrap();
    store
        .set_call(
            &call,
            "sent",
            Some(0),
            Some("Success"),
            "2026-01-03T00:00:01Z",
        )
        .unwrap();
    let after = db.read().outbox().unwrap();
    assert_eq!(after[1].state, "sent");
    assert_eq!(after[1].attempts, 1);
    assert_eq!(after[1].code, Some(0));
    assert_eq!(after[1].message.as_deref(), Some("Success"));
    assert_eq!(after[1].updated_at, "2026-01-03T00:00:01Z");
}

fn applications_that_could_not_be_mapped_are_kept_until_mapped(db: Db) {
    let mut store = db.open();
    store
        .set_unmappable("b7", "p9", Some("not in the catalogue"), "t1")
        .unwrap();
    store
        .set_unmappable("a3", "p8", Some("not in the catalogue"), "t1")
        .unwrap();
    store
        .set_unmappable("b7", "p9", Some("still not"), "t2")
        .unwrap();
    let row = |a: &str, p: &str, w: &str, t: &str| {
        (a.to_string(), p.to_string(), w.to_string(), t.to_string())
    };
    assert_eq!(
        db.read().unmappable().unwrap(),
        [
            row("a3", "p8", "not in the catalogue", "t1"),
            row("b7", "p9", "still not", "t2")
        ]
    );
    store.set_unmappable("a3", "p8", None, "t3").unwrap();
    assert_eq!(
        db.read().unmappable().unwrap(),
        [row("b7", "p9", "still not", "t2")]
    );
}

fn console_sessions_are_kept_by_hash_and_bounded(db: Db) {
    drop(db.open());
    let s = Sessions::open(&db.path).unwrap();
    s.start("secret-id", "k1", 1_000).unwrap();
    s.start("other", "k2", 1_000).unwrap();
    assert_eq!(
        s.find("secret-id", 2_000).unwrap().map(|f| f.key),
        Some("k1".into())
    );
    assert_eq!(s.find("nope", 2_000).unwrap(), None);
    // Idle for 12 hours: gone.
    assert!(s.find("secret-id", 2_000 + 12 * 3600).unwrap().is_none());
    assert_eq!(s.count().unwrap(), 1);
    s.start("third", "k3", 3_000).unwrap();
    assert_eq!(s.keep_only(&["k3".to_string()]).unwrap(), 1);
    assert!(s.find("other", 3_001).unwrap().is_none());
    s.end("third").unwrap();
    assert_eq!(s.count().unwrap(), 0);
    // Kept in the store: a second handle (a restarted serve) finds them.
    s.start("kept", "k4", 4_000).unwrap();
    drop(s);
    let again = Sessions::open(&db.path).unwrap();
    assert!(again.find("kept", 4_001).unwrap().is_some());
}

fn a_store_that_is_not_ours_is_refused_and_left_as_it_was(db: Db) {
    match db.kind {
        "sqlite" => {
            let conn = rusqlite::Connection::open(&db.path).unwrap();
            conn.execute_batch("CREATE TABLE mine (x); INSERT INTO mine VALUES (1);")
                .unwrap();
        }
        _ => {
            let mut client =
                postgres::Client::connect(db.path.to_str().unwrap(), postgres::NoTls).unwrap();
            client
                .batch_execute(
                    "CREATE SCHEMA sampleflow; CREATE TABLE sampleflow.samples (x int);
                     INSERT INTO sampleflow.samples VALUES (1);",
                )
                .unwrap();
        }
    }
    let dump = |path: &Path| -> String {
        match db.kind {
            "sqlite" => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn
                    .prepare("SELECT name || ' ' || sql FROM sqlite_master ORDER BY name")
                    .unwrap();
                let rows: Vec<String> = stmt
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                rows.join("\n")
            }
            _ => {
                let mut client =
                    postgres::Client::connect(path.to_str().unwrap(), postgres::NoTls).unwrap();
                client
                    .query(
                        "SELECT table_name FROM information_schema.tables
                         WHERE table_schema = 'sampleflow' ORDER BY 1",
                        &[],
                    )
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    };
    let before = dump(&db.path);
    assert!(matches!(store::open(&db.path), Err(StoreError::Foreign)));
    assert!(matches!(
        store::open_read(&db.path),
        Err(StoreError::Foreign)
    ));
    assert!(matches!(Sessions::open(&db.path), Err(StoreError::Foreign)));
    // The writer's lock is taken, and then the open refuses: nothing written either way.
    let lock = store::lock(&db.path, &Holder::me("run"));
    assert!(lock.is_ok(), "{lock:?}");
    assert!(matches!(store::open(&db.path), Err(StoreError::Foreign)));
    drop(lock);
    assert_eq!(dump(&db.path), before, "{}: left as it was", db.kind);
}

fn a_second_writer_is_told_who_holds_the_store_until_it_lets_go(db: Db) {
    let mut first = Holder::me("watch");
    first.spool = Some(PathBuf::from("/srv/inbox"));
    let lock = store::lock(&db.path, &first).unwrap();
    for _ in 0..2 {
        match store::lock(&db.path, &Holder::me("run")) {
            Err(LockError::Held(Some(h))) => assert_eq!(h, first, "{}", db.kind),
            other => panic!("{}: expected held, got {other:?}", db.kind),
        }
    }
    // Readers run beside it.
    drop(db.open());
    drop(db.read());
    drop(lock);
    let again = store::lock(&db.path, &Holder::me("run")).expect("free again");
    drop(again);
}

/// Every reading the commands do, of every shop [`fill`] writes, as text: what must be the same
/// on both stores.
fn readings(store: &mut Box<dyn Store>) -> Vec<String> {
    let mut out = Vec::new();
    for shop in ["default", "uk"] {
        store.set_shop(shop);
        out.push(format!("shop {shop}"));
        out.extend(shop_readings(store));
    }
    out
}

fn shop_readings(store: &mut Box<dyn Store>) -> Vec<String> {
    let mut out = Vec::new();
    let snap = store.load().unwrap();
    out.push(format!("applied {:?}", snap.applied));
    out.push(format!(
        "meta {}",
        serde_json::to_string(&snap.meta).unwrap()
    ));
    let mut ledgers: Vec<String> = snap
        .ledgers
        .iter()
        .map(|(c, l)| format!("{c} {}", serde_json::to_string(l).unwrap()))
        .collect();
    ledgers.sort();
    out.extend(ledgers);
    for s in store.samples().unwrap() {
        let id = s.sample.id.to_string();
        out.push(serde_json::to_string(&s).unwrap());
        out.extend(store.sample_log(&id).unwrap());
    }
    out.extend(store.events().unwrap());
    out.extend(store.run_log(1).unwrap());
    out.push(format!("{:?}", store.last_run().unwrap()));
    out.push(format!("{:?}", store.versions().unwrap()));
    out.push(format!("{:?}", store.state_counts().unwrap()));
    out.push(format!("{:?}", store.outbox().unwrap()));
    out.push(format!("{:?}", store.unmappable().unwrap()));
    out
}

/// A store with a bit of everything: samples with deadlines and records, a ledger, a
/// platform sample and its queued call, an unmappable application, versions, a session.
fn fill(db: &Db) {
    let mut store = db.open();
    store
        .save_versions(&[Version {
            kind: "rules".into(),
            hash: "h1".into(),
            name: "rules".into(),
            files: vec![("default.rhai".into(), "fn screen() {}".into())],
            first_seen: "2026-01-01T00:00:00Z".into(),
        }])
        .unwrap();
    let log = vec![
        record("s1", 1),
        refusal(2),
        LogRow {
            line: 3,
            sample: Some("tts-1".into()),
            text: r#"{"sample":"tts-1","at":"2026-01-02T00:00:00Z","event":"tts-tts-1-requested","decision":"approve","reason":"auto_approved"}"#.into(),
        },
    ];
    store
        .commit(&Batch {
            changes: Changes {
                samples: vec![
                    instance(
                        "s1",
                        1,
                        "awaiting_shipment",
                        vec![armed("ship", "2026-01-08T00:00:00Z", 1)],
                    ),
                    shipped("tts-1", 1),
                ],
                ledgers: vec![(
                    "c1".into(),
                    Ledger {
                        credit: -20.0,
                        samples: 2,
                        ..Ledger::default()
                    }
                    .into(),
                )],
                ..Default::default()
            },
            events: vec![event("e1"), event("tts-tts-1-requested")],
            log,
            run: run(1, 3),
            platform: vec!["tts-1".into()],
            calls: vec![ReviewCall {
                sample: "tts-1".into(),
                event: "tts-tts-1-requested".into(),
                decision: "approve".into(),
                reason: Some("auto_approved".into()),
                at: "2026-01-02T00:00:00Z".into(),
            }],
            ..Batch::default()
        })
        .unwrap();
    store.set_unmappable("a9", "p9", Some("why"), "t").unwrap();
    // Another shop, with the same sample id and a version of its own.
    store
        .commit(&Batch {
            shop: "uk".into(),
            changes: Changes {
                samples: vec![shipped("s1", 1)],
                ..Default::default()
            },
            events: vec![event("e1")],
            log: vec![record("s1", 7)],
            run: run(1, 1),
            ..Batch::default()
        })
        .unwrap();
    store.set_shop("uk");
    store
        .save_versions(&[Version {
            kind: "rules".into(),
            hash: "h9".into(),
            name: "rules".into(),
            files: Vec::new(),
            first_seen: "2026-01-02T00:00:00Z".into(),
        }])
        .unwrap();
    Sessions::open(&db.path)
        .unwrap()
        .start("sid", "k", 10)
        .unwrap();
}

fn a_copy_into_the_other_kind_and_back_reads_the_same(db: Db) {
    fill(&db);
    let expected = readings(&mut db.read());
    let other = if db.kind == "sqlite" {
        Db::postgres()
    } else {
        Db::sqlite()
    };
    let copied = store::copy(&db.path, &other.path).unwrap();
    assert!(copied.rows.iter().any(|(t, n)| *t == "samples" && *n == 3));
    assert_eq!(
        readings(&mut other.read()),
        expected,
        "{} -> other",
        db.kind
    );
    assert!(Sessions::open(&other.path)
        .unwrap()
        .find("sid", 11)
        .unwrap()
        .is_some());
    // And back into a third, of the first kind; then a writer goes on where the copy stands.
    let back = if db.kind == "sqlite" {
        Db::sqlite()
    } else {
        Db::postgres()
    };
    store::copy(&other.path, &back.path).unwrap();
    assert_eq!(readings(&mut back.read()), expected, "back to {}", db.kind);
    let mut store = back.open();
    store
        .commit(&Batch {
            changes: Changes {
                samples: vec![shipped("s1", 2)],
                ..Default::default()
            },
            events: vec![event("e2")],
            log: vec![record("s1", 2)],
            run: run(2, 1),
            ..Batch::default()
        })
        .unwrap();
    let log = back.read().sample_log("s1").unwrap();
    assert_eq!(log, [record("s1", 1).text, record("s1", 2).text]);
}

fn a_copy_into_a_store_that_holds_rows_is_refused(db: Db) {
    fill(&db);
    let target = Db::postgres();
    let mut t = target.open();
    t.commit(&Batch {
        events: vec![event("mine")],
        ..Batch::default()
    })
    .unwrap();
    drop(t);
    let before = readings(&mut target.read());
    match store::copy(&db.path, &target.path) {
        Err(store::CopyError::NotEmpty(..)) => {}
        other => panic!("expected not empty, got {other:?}"),
    }
    assert_eq!(readings(&mut target.read()), before);
    assert!(matches!(
        store::copy(&db.path, &db.path),
        Err(store::CopyError::Same(_))
    ));
    let sqlite_target = Db::sqlite();
    fill(&sqlite_target);
    assert!(matches!(
        store::copy(&db.path, &sqlite_target.path),
        Err(store::CopyError::NotEmpty(..))
    ));
}

fn a_creators_samples_and_platform_username_are_found_by_creator(db: Db) {
    let mut store = db.open();
    let mut other = (*instance("b2", 1, "pending", Vec::new())).clone();
    other.sample.creator = "c2".into();
    store
        .commit(&Batch {
            changes: Changes {
                samples: vec![
                    instance("b1", 1, "pending", Vec::new()),
                    Arc::new(other),
                    instance("a1", 1, "shipped", Vec::new()),
                ],
                ..Default::default()
            },
            ..Batch::default()
        })
        .unwrap();
    store.set_creator_name("c1", "janedoe").unwrap();
    store.set_creator_name("c1", "jane.doe").unwrap();
    store.set_product_title("p1", "Mug").unwrap();
    store.set_product_title("p1", "Blue <mug>").unwrap();
    store.set_product_title("p2", "Lamp").unwrap();
    let mut read = db.read();
    let ids = |list: Vec<Instance>| -> Vec<String> {
        list.iter().map(|i| i.sample.id.to_string()).collect()
    };
    assert_eq!(
        ids(read.samples_of("c1").unwrap()),
        ["a1", "b1"],
        "{}",
        db.kind
    );
    assert_eq!(ids(read.samples_of("c2").unwrap()), ["b2"]);
    assert!(read.samples_of("c3").unwrap().is_empty());
    assert_eq!(
        read.creator_name("c1").unwrap().as_deref(),
        Some("jane.doe")
    );
    assert_eq!(read.creator_name("c2").unwrap(), None);
    let titles = read.product_titles().unwrap();
    assert_eq!(
        titles.into_iter().collect::<Vec<_>>(),
        [
            ("p1".to_string(), "Blue <mug>".to_string()),
            ("p2".to_string(), "Lamp".to_string())
        ],
        "{}",
        db.kind
    );
    // Another shop has none of them.
    read.set_shop("uk");
    assert!(read.samples_of("c1").unwrap().is_empty());
    assert_eq!(read.creator_name("c1").unwrap(), None);
    assert!(read.product_titles().unwrap().is_empty());
}

/// A PostgreSQL store of schema 3 (before `creator_names` and `product_titles`) is upgraded in place by the next
/// writer: its rows stay, the tables and the index on a creator's samples are made.
#[test]
fn a_postgres_store_of_schema_3_gains_the_creators_names_in_place() {
    let db = Db::postgres();
    let mut store = db.open();
    store
        .commit(&Batch {
            changes: Changes {
                samples: vec![instance("s1", 1, "pending", Vec::new())],
                ..Default::default()
            },
            ..Batch::default()
        })
        .unwrap();
    drop(store);
    let mut client = postgres::Client::connect(db.path.to_str().unwrap(), postgres::NoTls).unwrap();
    client
        .batch_execute(
            "DROP TABLE sampleflow.creator_names; DROP TABLE sampleflow.product_titles;
             DROP INDEX sampleflow.samples_creator;
             DROP TABLE sampleflow.instances; DROP TABLE sampleflow.leases;
             UPDATE sampleflow.schema_version SET version = 3;",
        )
        .unwrap();
    assert!(matches!(
        store::open_read(&db.path).map(|_| ()),
        Err(StoreError::Old { found: 3 })
    ));
    let mut store = db.open();
    store.set_creator_name("c1", "janedoe").unwrap();
    assert_eq!(
        store.creator_name("c1").unwrap().as_deref(),
        Some("janedoe")
    );
    store.set_product_title("p1", "Mug").unwrap();
    assert_eq!(
        store
            .product_titles()
            .unwrap()
            .get("p1")
            .map(String::as_str),
        Some("Mug")
    );
    assert_eq!(db.read().samples_of("c1").unwrap().len(), 1);
    let version: i32 = client
        .query_one("SELECT version FROM sampleflow.schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, store::PG_SCHEMA_VERSION);
}
