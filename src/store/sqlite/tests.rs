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

/// The indexes of `table` (its primary key's among them) whose first column is not `shop`.
fn not_led_by_shop(conn: &Connection, table: &str) -> Vec<String> {
    let mut names = conn
        .prepare("SELECT name FROM pragma_index_list(?1)")
        .expect("indexes");
    let names: Vec<String> = names
        .query_map([table], |r| r.get(0))
        .expect("indexes")
        .collect::<Result<_, _>>()
        .expect("names");
    assert!(!names.is_empty(), "`{table}` has a key");
    names
        .into_iter()
        .filter(|index| {
            let first: String = conn
                .query_row(
                    "SELECT name FROM pragma_index_info(?1) WHERE seqno = 0",
                    [index],
                    |r| r.get(0),
                )
                .expect("first column");
            first != "shop"
        })
        .collect()
}

#[test]
fn shop_leads_every_key_and_index_of_a_new_store() {
    let store = SqliteStore::open_in_memory().expect("store");
    for t in crate::store::tables::TABLES {
        assert_eq!(not_led_by_shop(&store.conn, t.name), Vec::<String>::new());
    }
}

#[test]
fn a_version_7_store_is_rebuilt_with_shops_its_rows_under_default() {
    use sha2::Digest;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v7.db");
    let mut packer = crate::store::pack::Packer::default();
    let ledger = Ledger {
        credit: -5.0,
        samples: 1,
        ..Ledger::default()
    };
    let run = RunState {
        id: 1,
        input: "events.jsonl".into(),
        lines: 3,
        ..RunState::default()
    };
    let meta = crate::model::Meta {
        clock: Some("2026-01-05T00:00:00Z".parse().expect("a time")),
        seq: 4,
        ..Default::default()
    };
    let sample = r#"{"sample":{"id":"s1","state":"shipped","creator":"c1","product":"p1","category":"beauty","quantity":1,"cost":6.0,"gmv":0.0,"deposit":null,"keep_up_content":null},"workflow":"sample","creator":{"id":"c1","followers":10000,"engagement_rate":0.05,"posts_30d":10,"gmv_30d":1000.0,"avg_video_views":5000.0,"fulfillment_rate_90d":0.9,"top_categories":["beauty"]},"product":{"id":"p1","category":"beauty","price":19.99,"unit_cost":6.0,"flags":[]},"requested_at":"2026-01-01T00:00:00Z","last_at":"2026-01-01T00:00:00Z","decision":null,"reason":"auto_approved","tier":"new","rules":"","opened":true,"shipping_cost":0.0,"tracking_number":null,"carrier":null,"review":null,"review_reason":null,"reviewed_by":null,"contents":{},"extensions":{},"deadlines":[],"records":1}"#;
    let sample: Instance = serde_json::from_str(sample).expect("an instance");
    {
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V7} {} PRAGMA user_version = 7; COMMIT;",
            crate::store::shadow::SQLITE_TABLE_V7
        ))
        .expect("a version 7 store");
        let data = packer
            .pack(&serde_json::to_string(&sample).expect("json"))
            .expect("packs");
        conn.execute(
            "INSERT INTO samples VALUES ('s1', 'sample', 'shipped', 'c1', 'p1', 'beauty', ?1, '1 ')",
            [data],
        )
        .expect("a sample");
        conn.execute(
            "INSERT INTO deadlines VALUES ('s1', 'post_by', '2026-01-20T00:00:00Z', 1, 0)",
            [],
        )
        .expect("a deadline");
        let data = packer
            .pack(&serde_json::to_string(&ledger).expect("json"))
            .expect("packs");
        conn.execute("INSERT INTO ledgers VALUES ('c1', ?1)", [data])
            .expect("a ledger");
        let raw = packer.pack(r#"{"id":"e1"}"#).expect("packs");
        conn.execute(
            "INSERT INTO event_chunks VALUES (1, 1, '[\"e1\"]', NULL, ?1)",
            [raw],
        )
        .expect("an event chunk");
        let text = packer.pack(r#"{"sample":"s1"}"#).expect("packs");
        conn.execute(
            "INSERT INTO log_chunks VALUES (1, 1, '[\"s1\"]', NULL, ?1)",
            [text],
        )
        .expect("a record chunk");
        conn.execute(
            "INSERT INTO runs VALUES (1, ?1)",
            [serde_json::to_string(&run).expect("json")],
        )
        .expect("a run");
        for hash in ["h2", "h1"] {
            conn.execute(
                "INSERT INTO versions VALUES ('rules', ?1, 'rules', '[]', 't')",
                [hash],
            )
            .expect("a version");
        }
        conn.execute(
            "INSERT INTO meta VALUES ('runner', ?1)",
            [serde_json::to_string(&meta).expect("json")],
        )
        .expect("meta");
        conn.execute_batch(
            "INSERT INTO platform VALUES ('a1');
             INSERT INTO outbox (sample, event, decision, state, queued_at, updated_at)
                 VALUES ('a1', 'e1', 'approve', 'queued', 't', 't');
             INSERT INTO unmappable VALUES ('a9', 'p9', 'why', 't');
             INSERT INTO shadow VALUES ('s1', 'cand', 't', '{}');",
        )
        .expect("the platform's rows");
        conn.execute(
            "INSERT INTO console_sessions VALUES (?1, 'k', 10, 10)",
            [hex::encode(sha2::Sha256::digest(b"sid"))],
        )
        .expect("a session");
    }
    let mut store = SqliteStore::open(&path).expect("upgrades");
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    for t in crate::store::tables::TABLES {
        let (all, default): (i64, i64) = store
            .conn
            .query_row(
                &format!(
                    "SELECT count(*), count(*) FILTER (WHERE shop = 'default') FROM {}",
                    t.name
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("counts");
        let expected = match t.name {
            "versions" => 2,
            // Made new after schema 7: empty.
            name if crate::store::tables::AFTER_V7.contains(&name) => 0,
            _ => 1,
        };
        assert_eq!((all, default), (expected, expected), "`{}`", t.name);
        assert_eq!(not_led_by_shop(&store.conn, t.name), Vec::<String>::new());
        assert!(!has_table(&store.conn, &format!("v7_{}", t.name)).expect("tables"));
    }
    // Read as shop `default`, as before.
    let read = store.sample("s1").expect("reads").expect("s1");
    assert_eq!(
        serde_json::to_string(&read).expect("json"),
        serde_json::to_string(&sample).expect("json")
    );
    assert_eq!(store.ledger("c1").expect("reads"), Some(ledger));
    assert_eq!(store.meta().expect("reads"), meta);
    assert_eq!(store.last_run().expect("reads"), Some(run));
    assert_eq!(store.run_log(1).expect("reads"), [r#"{"sample":"s1"}"#]);
    assert_eq!(
        store.sample_log("s1").expect("reads"),
        [r#"{"sample":"s1"}"#]
    );
    assert_eq!(store.load().expect("loads").applied, ["e1"]);
    let hashes: Vec<String> = store
        .versions()
        .expect("reads")
        .into_iter()
        .map(|v| v.hash)
        .collect();
    assert_eq!(hashes, ["h2", "h1"], "in the order first seen");
    assert_eq!(store.outbox().expect("reads").len(), 1);
    assert_eq!(store.unmappable().expect("reads").len(), 1);
    assert!(crate::store::Sessions::open(&path)
        .expect("sessions")
        .find("sid", 11)
        .expect("finds")
        .is_some());
    // New records go on after the old ones, in the next chunk of the shop.
    store
        .commit(&Batch {
            changes: crate::model::Changes {
                samples: vec![std::sync::Arc::new(read)],
                ..Default::default()
            },
            log: vec![crate::store::LogRow {
                line: 1,
                sample: Some("s1".into()),
                text: r#"{"sample":"s1","n":2}"#.into(),
            }],
            run: RunState {
                id: 2,
                ..RunState::default()
            },
            ..Batch::default()
        })
        .expect("commits");
    assert_eq!(
        store.sample_log("s1").expect("reads"),
        [r#"{"sample":"s1"}"#, r#"{"sample":"s1","n":2}"#]
    );
}

/// Schema 8 to 10: the connector's order lines come as a table of their own; what the store held
/// stays, and the connector's values and sales read and write on the upgraded file.
#[test]
fn a_version_8_store_gains_order_lines_and_keeps_its_rows() {
    use crate::store::{OrderLine, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v8.db");
    {
        let mut store = SqliteStore::open(&path).expect("opens");
        store.commit(&batch(1, 5.0)).expect("commits");
        store
            .conn
            .execute_batch(
                "DROP TABLE order_lines; DROP TABLE creator_names; DROP TABLE product_titles; DROP INDEX samples_creator; PRAGMA user_version = 8;",
            )
            .expect("a version 8 store");
    }
    let mut store = SqliteStore::open(&path).expect("upgrades");
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(
        store.ledger("c1").expect("reads").map(|l| l.credit),
        Some(5.0)
    );
    let line = |order: &str, refunded| OrderLine {
        order_id: order.into(),
        sku_id: "s".into(),
        content_id: "v1".into(),
        amount: 12.5,
        quantity: 4,
        refunded_quantity: refunded,
    };
    store
        .put_order_lines(&[line("o1", 0), line("o2", 4)])
        .expect("keeps");
    store.put_order_lines(&[line("o1", 1)]).expect("replaces");
    let sales = store.content_sales().expect("sums");
    assert_eq!(sales.len(), 1);
    assert_eq!((sales[0].orders, sales[0].gmv), (1, 37.5));
    store
        .set_connector_value("token_expires_at", Some("1800000000"))
        .expect("keeps");
    assert_eq!(
        store.connector_value("token_expires_at").expect("reads"),
        Some("1800000000".into())
    );
    store.set_shop("other");
    assert_eq!(
        store.connector_value("token_expires_at").expect("reads"),
        None
    );
    assert!(store.content_sales().expect("sums").is_empty(), "per shop");
}

#[test]
fn a_version_8_store_gains_the_creators_names_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v8.db");
    {
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} {} PRAGMA user_version = 8; COMMIT;",
            crate::store::shadow::SQLITE_TABLE
        ))
        .expect("a version 8 store");
        conn.execute("INSERT INTO meta VALUES ('default', 'kept', 'yes')", [])
            .expect("a row");
    }
    let mut store = SqliteStore::open(&path).expect("upgrades");
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let kept: String = store
        .conn
        .query_row("SELECT value FROM meta WHERE key = 'kept'", [], |r| {
            r.get(0)
        })
        .expect("the old row stays");
    assert_eq!(kept, "yes");
    assert_eq!(store.creator_name("c1").expect("reads"), None);
    store.set_creator_name("c1", "janedoe").expect("writes");
    store
        .set_creator_name("c1", "jane.doe")
        .expect("writes again");
    assert_eq!(
        store.creator_name("c1").expect("reads").as_deref(),
        Some("jane.doe")
    );
    assert!(store.product_titles().expect("reads").is_empty());
    store.set_product_title("p1", "Mug").expect("writes");
    store
        .set_product_title("p1", "Blue mug")
        .expect("writes again");
    assert_eq!(
        store
            .product_titles()
            .expect("reads")
            .get("p1")
            .map(String::as_str),
        Some("Blue mug")
    );
    store.set_shop("other");
    assert_eq!(store.creator_name("c1").expect("reads"), None);
    assert!(store.product_titles().expect("reads").is_empty());
    assert_eq!(
        not_led_by_shop(&store.conn, "creator_names"),
        Vec::<String>::new()
    );
    assert_eq!(
        not_led_by_shop(&store.conn, "product_titles"),
        Vec::<String>::new()
    );
    // A creator's samples, by the index that leads with the shop.
    assert!(store.samples_of("c1").expect("reads").is_empty());
}
