//! The SQLite store's own tests: schema upgrades, the outbox, reads of what a commit wrote.

use super::*;
use crate::store::{Batch, RunState, Version};

#[test]
fn a_version_1_store_is_upgraded_and_keeps_versions_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    {
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('runner', '{}');
             PRAGMA user_version = 1;",
        )
        .expect("a version 1 store");
    }
    let mut store = SqliteStore::open(&path).expect("upgrades");
    let v = Version {
        kind: "rules".into(),
        hash: "abc".into(),
        name: "rules".into(),
        files: vec![("policy.yaml".into(), "default: {}".into())],
        first_seen: "2026-02-01T00:00:00Z".into(),
    };
    store
        .save_versions(std::slice::from_ref(&v))
        .expect("saves");
    let later = Version {
        first_seen: "2026-03-01T00:00:00Z".into(),
        ..v.clone()
    };
    store.save_versions(&[later]).expect("saves again");
    assert_eq!(store.versions().expect("reads"), vec![v]);
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
}

fn batch(n: u64, credit: f64) -> Batch {
    let ledger = Ledger {
        credit,
        ..Ledger::default()
    };
    Batch {
        changes: crate::model::Changes {
            ledgers: vec![("c1".into(), ledger.into())],
            ..Default::default()
        },
        events: vec![super::super::EventRow {
            id: format!("e{n}").into(),
            line: n,
            raw: format!("{{\"id\":\"e{n}\"}}"),
        }],
        log: Vec::new(),
        run: RunState {
            id: 1,
            lines: n,
            ..RunState::default()
        },
        ..Batch::default()
    }
}

#[test]
fn a_group_commits_every_batch_and_the_last_version_of_what_they_changed() {
    let mut store = SqliteStore::open_in_memory().expect("store");
    let mut rest = vec![batch(3, 3.0), batch(2, 2.0)];
    let written = store
        .commit_group(batch(1, 1.0), &mut |_| rest.pop())
        .expect("commits");
    assert_eq!(written, 3);
    assert_eq!(
        store.ledger("c1").expect("reads").map(|l| l.credit),
        Some(3.0)
    );
    let events = store.events().expect("events");
    assert_eq!(events.len(), 3, "every batch's events: {events:?}");
    assert_eq!(store.last_run().expect("run").map(|r| r.lines), Some(3));
}

#[test]
fn a_group_stops_at_the_number_it_is_given() {
    let mut store = SqliteStore::open_in_memory().expect("store");
    let mut rest = vec![batch(3, 3.0), batch(2, 2.0)];
    let written = store
        .commit_group(batch(1, 1.0), &mut |n| {
            (n < 2).then(|| rest.pop()).flatten()
        })
        .expect("commits");
    assert_eq!(written, 2);
    assert_eq!(
        store.ledger("c1").expect("reads").map(|l| l.credit),
        Some(2.0)
    );
    assert_eq!(rest.len(), 1, "the third batch was left to the next commit");
}

#[test]
fn a_batch_refused_in_a_group_leaves_the_ones_before_it_committed() {
    let mut store = SqliteStore::open_in_memory().expect("store");
    let mut rest = vec![batch(4, 4.0), batch(3, f64::NAN), batch(2, 2.0)];
    let refused = store.commit_group(batch(1, 1.0), &mut |_| rest.pop());
    assert!(
        matches!(refused, Err(StoreError::NotFinite(ref what)) if what.contains("c1")),
        "{refused:?}"
    );
    assert_eq!(
        store.ledger("c1").expect("reads").map(|l| l.credit),
        Some(2.0)
    );
    assert_eq!(store.events().expect("events").len(), 2);
    assert_eq!(store.last_run().expect("run").map(|r| r.lines), Some(2));
    assert_eq!(rest.len(), 1, "nothing after the refused batch was taken");
}

#[test]
fn a_schema_3_store_keeps_its_text_rows_readable_beside_packed_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v3.db");
    let ledger = Ledger {
        samples: 2,
        credit: -5.0,
        ..Ledger::default()
    };
    let text = serde_json::to_string(&ledger).expect("json");
    {
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V7} PRAGMA user_version = 3; COMMIT;"
        ))
        .expect("a schema 3 store");
        conn.execute(
            "INSERT INTO ledgers (creator, data) VALUES ('c-old', ?1)",
            [&text],
        )
        .expect("a text row");
    }
    let mut store = SqliteStore::open(&path).expect("upgrades");
    let batch = Batch {
        changes: crate::model::Changes {
            ledgers: vec![("c-new".into(), ledger.clone().into())],
            ..Default::default()
        },
        ..Batch::default()
    };
    store.commit(&batch).expect("commits");
    assert_eq!(store.ledger("c-old").expect("reads"), Some(ledger.clone()));
    assert_eq!(store.ledger("c-new").expect("reads"), Some(ledger));
    let kinds: Vec<String> = store
        .strings(
            "SELECT typeof(data) FROM ledgers WHERE shop = ?1 ORDER BY creator",
            None,
        )
        .expect("types");
    assert_eq!(
        kinds,
        ["blob", "text"],
        "the new row is packed, the old one kept"
    );
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
}
