//! The binary on a PostgreSQL store (`--db postgres://...`, a throwaway cluster of this test
//! binary): the example's records and every reading command byte for byte as on SQLite, one
//! writer per store beside a live `watch`, `copy` both ways, `backup`'s pointer to `pg_dump`, a
//! schema that is not ours, and a URL's password kept out of every message. The store's own
//! cases run on both kinds in tests/store.rs; kill -9 and resume in tests/resume.rs.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::live::Watch;

fn bin(db: &Path, args: &[&str]) -> Output {
    common::bin(db).args(args).output().unwrap()
}

fn ok(db: &Path, args: &[&str]) -> String {
    let out = bin(db, args);
    assert!(
        out.status.success(),
        "{args:?} on {}: {}",
        db.display(),
        common::stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn pg() -> PathBuf {
    PathBuf::from(common::pg::database())
}

/// The same reviewer's work on every store: a review, a shipment and a credit, with fixed ids
/// (an ops command's id is fresh each time) through `run`.
fn more_events(dir: &Path) -> PathBuf {
    let path = dir.join("more.jsonl");
    let lines = [
        r#"{"id":"m-1","type":"sample_reviewed","at":"2026-03-27T09:00:00Z","sample":"s50","decision":"approve","by":"ana","note":"fits"}"#,
        r#"{"id":"m-2","type":"sample_shipped","at":"2026-03-27T15:00:00Z","sample":"s50","tracking_number":"1Z","carrier":"UPS","by":"ana"}"#,
        r#"{"id":"m-3","type":"creator_adjusted","at":"2026-03-27T15:00:00Z","creator":{"id":"c1"},"credit":5,"by":"ana"}"#,
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The first command whose output differs between two stores, if any.
fn assert_same(a: &[(String, String)], b: &[(String, String)], what: &str) {
    assert_eq!(a.len(), b.len());
    for ((cmd, x), (_, y)) in a.iter().zip(b) {
        assert!(x == y, "{what}: `{cmd}` differs:\n{x}\n---\n{y}");
    }
}

/// What every reading command prints, command by command.
fn readings(db: &Path) -> Vec<(String, String)> {
    [
        &["show", "--all"][..],
        &["queue", "--format", "json"],
        &["queue"],
        &["report", "--format", "json"],
        &["report", "--format", "csv"],
        &["report", "--by", "creator"],
        &["show", "s50"],
        &["show", "s7", "--format", "table"],
        &["show", "--creator", "c1"],
        &["outbox"],
        &[
            "diff",
            "--base",
            "rules",
            "--candidate",
            "rules",
            "--from-db",
        ],
    ]
    .iter()
    .map(|args| (args.join(" "), ok(db, args)))
    .collect()
}

#[test]
fn the_example_on_postgres_writes_the_records_and_readings_sqlite_does() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("s.db");
    let url = pg();
    let records_sqlite = ok(&sqlite, &["run", "examples/events.jsonl"]);
    let records_pg = ok(&url, &["run", "examples/events.jsonl"]);
    assert_eq!(records_pg.lines().count(), 368);
    assert!(records_pg == records_sqlite, "records differ");
    let first = readings(&sqlite);
    assert_same(&first, &readings(&url), "after the example");
    assert!(first.iter().all(|(_, out)| !out.is_empty()));
    // A reviewer's work, then the readings again.
    let more = more_events(dir.path());
    let more = more.to_str().unwrap();
    assert_eq!(ok(&sqlite, &["run", more]), ok(&url, &["run", more]));
    assert_same(&readings(&sqlite), &readings(&url), "after the review");
    // An ops command applies on the PostgreSQL store as on SQLite.
    let out = ok(
        &url,
        &["review", "s51", "--reject", "--at", "2026-03-27T16:00:00Z"],
    );
    assert!(out.contains("\"to\":\"reject_cancelled\""), "{out}");
    // A second run of the same file: every event refused, the same on both.
    let again_sqlite = ok(&sqlite, &["run", "examples/events.jsonl"]);
    let again_pg = ok(&url, &["run", "examples/events.jsonl"]);
    assert_eq!(again_pg, again_sqlite);
    // The Unix socket reaches the same store.
    let socket = PathBuf::from(
        common::pg::cluster().socket_url(url.to_str().unwrap().rsplit('/').next().unwrap()),
    );
    assert_eq!(
        ok(&socket, &["show", "--all"]),
        ok(&url, &["show", "--all"])
    );
}

#[test]
fn a_second_writer_beside_a_live_watch_is_refused_naming_it_and_a_dead_one_blocks_nobody() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(Path::new("rules"), &dir.path().join("rules"));
    common::copy_dir(Path::new("workflows"), &dir.path().join("workflows"));
    common::use_postgres(dir.path());
    let url = common::db_in(dir.path());
    std::fs::create_dir(dir.path().join("inbox")).unwrap();
    let now = "2026-03-27T08:00:00Z";
    let mut watch = Watch::start_in(dir, &["--spool", "inbox"], now, true);
    let pid = watch.child.id();
    let out = bin(&url, &["run", "examples/events.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    let host = whoami::hostname().unwrap();
    assert!(
        err.contains("is held by `watch --spool ")
            && err.contains(&format!("(pid {pid} on {host}, since ")),
        "{err}"
    );
    assert!(err.contains("hand it the events instead"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    // Readers run beside it.
    ok(&url, &["show", "--all"]);
    // An ops command hands its event to the live watch through its spool.
    let event = serde_json::json!({"id": "r1", "type": "sample_requested", "at": now, "sample": "x1",
        "creator": {"id": "c1", "followers": 90000, "engagement_rate": 0.05, "posts_30d": 9, "fulfillment_rate_90d": 0.95},
        "product": {"id": "p1", "category": "beauty", "price": 20.0, "unit_cost": 5.0}});
    let decided = watch.decide(&event);
    assert_eq!(decided["to"], "awaiting_shipment", "{decided}");
    let out = common::bin(&url)
        .env("SAMPLEFLOW_NOW", now)
        .args(["ship", "x1", "--tracking", "1Z", "--by", "ana"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert_eq!(common::stdout_json(&out)[0]["to"], "shipped");
    // kill -9 the holder: the next writer goes on at once.
    watch.child.kill().unwrap();
    watch.child.wait().unwrap();
    let out = bin(&url, &["run", "examples/events.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
}

#[test]
fn copy_moves_a_store_between_sqlite_and_postgres_and_refuses_a_target_that_holds_rows() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("s.db");
    ok(&sqlite, &["run", "examples/events.jsonl"]);
    ok(
        &sqlite,
        &["review", "s51", "--approve", "--at", "2026-03-27T09:00:00Z"],
    );
    let expected = readings(&sqlite);
    // SQLite to PostgreSQL.
    let url = pg();
    let out = common::bin(&sqlite)
        .args(["copy", "--to"])
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("samples 54"),
        "{}",
        common::stderr(&out)
    );
    assert_same(&readings(&url), &expected, "copied to PostgreSQL");
    // PostgreSQL to SQLite, and the copy carries on as a store.
    let back = dir.path().join("back.db");
    let out = common::bin(&url)
        .args(["copy", "--to"])
        .arg(&back)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert_same(&readings(&back), &expected, "copied back to SQLite");
    let more = more_events(dir.path());
    for db in [&back, &url] {
        ok(db, &["run", more.to_str().unwrap()]);
    }
    assert_same(&readings(&back), &readings(&url), "both copies carried on");
    // A target that holds rows: exit 2, untouched.
    let before = readings(&url);
    let out = common::bin(&sqlite)
        .args(["copy", "--to"])
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("is not empty"),
        "{}",
        common::stderr(&out)
    );
    assert_same(&readings(&url), &before, "a refused copy");
    let out = common::bin(&url)
        .args(["copy", "--to"])
        .arg(&back)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
}

#[test]
fn backup_of_a_postgres_store_points_at_pg_dump_and_writes_nothing() {
    let url = pg();
    ok(&url, &["run", "examples/events.jsonl"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copy.db");
    let out = common::bin(&url).arg("backup").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("pg_dump") && err.contains("pg_restore"),
        "{err}"
    );
    assert!(!file.exists());
}

#[test]
fn a_sampleflow_schema_that_is_not_ours_is_refused_by_every_command_and_left_as_it_was() {
    let url = pg();
    let mut client = postgres::Client::connect(url.to_str().unwrap(), postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE SCHEMA sampleflow; CREATE TABLE sampleflow.samples (id text);
             INSERT INTO sampleflow.samples VALUES ('mine');",
        )
        .unwrap();
    for args in [
        &["run", "examples/events.jsonl"][..],
        &["show", "--all"],
        &["queue"],
        &["report"],
        &["outbox"],
        &[
            "diff",
            "--base",
            "rules",
            "--candidate",
            "rules",
            "--from-db",
        ],
        &["review", "s1", "--approve", "--at", "2026-01-01T00:00:00Z"],
    ] {
        let out = bin(&url, args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            common::stderr(&out)
        );
        assert!(
            common::stderr(&out).contains("not a sampleflow store"),
            "{args:?}: {}",
            common::stderr(&out)
        );
    }
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'sampleflow'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, ["samples"]);
    let n: i64 = client
        .query_one("SELECT count(*) FROM sampleflow.samples", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[test]
fn a_urls_password_never_appears_in_a_message() {
    let url = pg();
    let with_password = url
        .to_str()
        .unwrap()
        .replace("postgres@", "postgres:hunter2-secret@");
    let with_password = PathBuf::from(with_password);
    // No store yet: a reader says so, naming the store without its password.
    let out = bin(&with_password, &["show", "--all"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(err.contains("postgres:***@"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    // A server that is not there.
    let nowhere = PathBuf::from("postgres://ana:hunter2-secret@127.0.0.1:1/x");
    let out = bin(&nowhere, &["run", "examples/events.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !common::stderr(&out).contains("hunter2"),
        "{}",
        common::stderr(&out)
    );
    let out = bin(&nowhere, &["queue"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !common::stderr(&out).contains("hunter2"),
        "{}",
        common::stderr(&out)
    );
}
