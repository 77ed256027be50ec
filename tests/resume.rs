//! A run killed at any moment and started again ends exactly where an uninterrupted run ends:
//! the same samples, ledgers, raw events, record log and output file; nothing applied twice.
//!
//! Crash points come from `SAMPLEFLOW_CRASH` (an abort after the Nth event, inside an open batch,
//! or inside the Nth commit, its rows written but not committed), plus real SIGKILLs after a
//! random delay. Batches are made small (`SAMPLEFLOW_BATCH`) so that a short stream has many.
//!
//! Each case runs on SQLite and on PostgreSQL (a throwaway cluster, `common::pg`), and both are
//! held to the same uninterrupted SQLite run: row for row, the same packed bytes.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use rusqlite::Connection;

const BATCH: &str = "300";

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    cmd.arg("--workflows")
        .arg(root.join("workflows"))
        .arg("--rules")
        .arg(root.join("rules"))
        .env("SAMPLEFLOW_BATCH", BATCH)
        .env_remove("SAMPLEFLOW_CRASH");
    cmd
}

fn run(db: &Path, events: &Path, out: &Path, crash: Option<&str>) -> Output {
    let mut cmd = bin();
    cmd.arg("--db")
        .arg(db)
        .arg("run")
        .arg(events)
        .arg("--out")
        .arg(out);
    if let Some(c) = crash {
        cmd.env("SAMPLEFLOW_CRASH", c);
    }
    cmd.output().expect("runs")
}

/// The tables `dump` compares, each as one text per row (SQLite's form; PostgreSQL's writes the
/// same text: hex in capitals, `held` as 0 or 1).
const DUMPED: [(&str, &str, &str); 7] = [
    (
        "samples",
        "SELECT id || ' ' || hex(data) || ' ' || chunks FROM samples ORDER BY id",
        "SELECT id || ' ' || upper(encode(data, 'hex')) || ' ' || chunks FROM sampleflow.samples ORDER BY id",
    ),
    (
        "deadlines",
        "SELECT sample || ' ' || name || ' ' || due || ' ' || seq || ' ' || held FROM deadlines ORDER BY sample, name",
        "SELECT sample || ' ' || name || ' ' || due || ' ' || seq || ' ' || held::int FROM sampleflow.deadlines ORDER BY sample, name",
    ),
    (
        "ledgers",
        "SELECT creator || ' ' || hex(data) FROM ledgers ORDER BY creator",
        "SELECT creator || ' ' || upper(encode(data, 'hex')) FROM sampleflow.ledgers ORDER BY creator",
    ),
    (
        "event_chunks",
        "SELECT seq || ' ' || run || ' ' || ids || ' ' || ifnull(lens, '-') || ' ' || hex(raw) FROM event_chunks ORDER BY seq",
        "SELECT seq || ' ' || run || ' ' || ids || ' ' || coalesce(lens, '-') || ' ' || upper(encode(raw, 'hex')) FROM sampleflow.event_chunks ORDER BY seq",
    ),
    (
        "log_chunks",
        "SELECT seq || ' ' || run || ' ' || samples || ' ' || ifnull(lens, '-') || ' ' || hex(text) FROM log_chunks ORDER BY seq",
        "SELECT seq || ' ' || run || ' ' || samples || ' ' || coalesce(lens, '-') || ' ' || upper(encode(text, 'hex')) FROM sampleflow.log_chunks ORDER BY seq",
    ),
    (
        "meta",
        "SELECT key || ' ' || value FROM meta ORDER BY key",
        "SELECT key || ' ' || value FROM sampleflow.meta ORDER BY key",
    ),
    (
        "versions",
        "SELECT kind || ' ' || hash || ' ' || name || ' ' || files FROM versions ORDER BY kind, hash",
        "SELECT kind || ' ' || hash || ' ' || name || ' ' || files FROM sampleflow.versions ORDER BY kind, hash",
    ),
];

/// Everything a run leaves that must not depend on crashes.
fn dump(db: &Path) -> Vec<String> {
    let url = db.to_string_lossy();
    if url.starts_with("postgres://") {
        return dump_postgres(&url);
    }
    let conn = Connection::open(db).expect("opens");
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'samples'",
            [],
            |r| r.get(0),
        )
        .expect("sqlite_master");
    if tables == 0 {
        // Killed before the store had its schema: nothing committed.
        return vec!["-- no schema".to_string()];
    }
    let mut rows = Vec::new();
    for (table, sql, _) in DUMPED {
        let mut stmt = conn.prepare(sql).expect(sql);
        let found = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect(sql)
            .collect::<Result<Vec<_>, _>>()
            .expect(sql);
        rows.push(format!("-- {table}: {} rows", found.len()));
        rows.extend(found);
    }
    rows
}

fn dump_postgres(url: &str) -> Vec<String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connects");
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'sampleflow' AND tablename = 'samples'",
            &[],
        )
        .expect("pg_tables")
        .get(0);
    if tables == 0 {
        return vec!["-- no schema".to_string()];
    }
    let mut rows = Vec::new();
    for (table, _, sql) in DUMPED {
        let found: Vec<String> = client
            .query(sql, &[])
            .expect(sql)
            .iter()
            .map(|r| r.get(0))
            .collect();
        rows.push(format!("-- {table}: {} rows", found.len()));
        rows.extend(found);
    }
    rows
}

/// A new, empty store for one run of a case: a file in `dir`, or a database of its own.
fn fresh(dir: &Path, name: &str, postgres: bool) -> PathBuf {
    if postgres {
        PathBuf::from(common::pg::database())
    } else {
        dir.join(format!("{name}.db"))
    }
}

fn show_all(db: &Path) -> String {
    let out = bin()
        .arg("--db")
        .arg(db)
        .args(["show", "--all"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

struct Reference {
    dir: tempfile::TempDir,
    events: PathBuf,
    output: String,
    dump: Vec<String>,
    show: String,
    /// How long the uninterrupted run took: kills are timed inside it.
    took: Duration,
}

fn reference() -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let gen = bin()
        .args(["gen", "--samples", "900", "--seed", "11"])
        .output()
        .unwrap();
    assert!(gen.status.success());
    // A few bad lines among the good ones, so that refusals are logged and replayed too.
    let mut text = String::from_utf8(gen.stdout).unwrap();
    text.insert_str(0, "not json\n");
    text.push_str("{\"id\":\"s1-1\",\"type\":\"tick\",\"at\":\"2026-01-01T00:00:00Z\"}\n");
    std::fs::write(&events, text).unwrap();
    let db = dir.path().join("ref.db");
    let out = dir.path().join("ref.jsonl");
    let started = std::time::Instant::now();
    let r = run(&db, &events, &out, None);
    let took = started.elapsed();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    Reference {
        took,
        output: std::fs::read_to_string(&out).unwrap(),
        dump: dump(&db),
        show: show_all(&db),
        events,
        dir,
    }
}

fn resume_and_compare(reference: &Reference, db: &Path, label: &str) {
    let out = reference
        .dir
        .path()
        .join(format!("resumed-{}.out", fastrand::u64(..)));
    let r = run(db, &reference.events, &out, None);
    assert!(
        r.status.success(),
        "{label}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let got = dump(db);
    assert_eq!(
        got.len(),
        reference.dump.len(),
        "{label}: row counts differ"
    );
    for (a, b) in got.iter().zip(&reference.dump) {
        assert_eq!(a, b, "{label}: the store differs");
    }
    assert_eq!(show_all(db), reference.show, "{label}: show --all differs");
    let output = std::fs::read_to_string(&out).unwrap();
    assert!(
        output == reference.output,
        "{label}: the output file differs"
    );
}

#[test]
fn a_crash_at_any_point_resumes_exactly() {
    crash_points(false);
}

#[test]
fn a_crash_at_any_point_resumes_exactly_on_postgres() {
    crash_points(true);
}

fn crash_points(postgres: bool) {
    let reference = reference();
    let lines = reference.output.lines().count();
    assert!(lines > 5000, "a long enough stream ({lines} lines)");
    let dir = tempfile::tempdir().unwrap();
    // Inside the first open batch, at a batch boundary, inside later open batches, inside
    // commits (first, middle), and after the last line before the final commit.
    let events = std::fs::read_to_string(&reference.events)
        .unwrap()
        .lines()
        .count();
    let last = format!("event:{events}");
    let points = [
        "event:1",
        "event:300",
        "event:1234",
        "event:4321",
        "commit:1",
        "commit:7",
        last.as_str(),
    ];
    for (n, point) in points.iter().enumerate() {
        let db = fresh(dir.path(), &format!("crash{n}"), postgres);
        let r = run(
            &db,
            &reference.events,
            &dir.path().join("x.jsonl"),
            Some(point),
        );
        assert!(!r.status.success(), "{point}: the crash hook did not fire");
        resume_and_compare(&reference, &db, point);
    }
}

#[test]
fn a_sigkill_after_a_random_delay_resumes_exactly() {
    sigkills(false);
}

#[test]
fn a_sigkill_after_a_random_delay_resumes_exactly_on_postgres() {
    sigkills(true);
}

fn sigkills(postgres: bool) {
    let reference = reference();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::new();
    for n in 0..3 {
        let db = fresh(dir.path(), &format!("kill{n}"), postgres);
        // Somewhere inside the time an uninterrupted run takes, whatever this machine's speed.
        let ms = reference.took.as_millis() as u64;
        let delay = Duration::from_millis(rng.u64(ms / 20..(ms * 9 / 10).max(ms / 20 + 1)));
        let mut child = bin()
            .arg("--db")
            .arg(&db)
            .arg("run")
            .arg(&reference.events)
            .arg("--out")
            .arg(dir.path().join("x.jsonl"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL; the run may have finished already
        let status = child.wait().unwrap();
        let label = format!("SIGKILL after {delay:?}");
        let store = dump(&db);
        if status.success() || store == reference.dump {
            // It ended before the kill, or the kill came after its last commit (the run is
            // finished in the store; the process was still exiting): nothing to resume, and it
            // ended as the reference did. A run started now would be a second run.
            assert_eq!(store, reference.dump, "{label}: the store differs");
            continue;
        }
        resume_and_compare(&reference, &db, &label);
    }
}

#[test]
fn a_second_run_of_the_same_file_changes_nothing() {
    let reference = reference();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("twice.db");
    let first = run(&db, &reference.events, &dir.path().join("1.jsonl"), None);
    assert!(first.status.success());
    let before = dump(&db);
    let second = run(&db, &reference.events, &dir.path().join("2.jsonl"), None);
    assert!(second.status.success());
    let output = std::fs::read_to_string(dir.path().join("2.jsonl")).unwrap();
    assert!(!output.contains("\"from\""), "a second run wrote records");
    let applied: usize = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM event_chunks, json_each(event_chunks.ids)",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        .try_into()
        .unwrap();
    assert!(applied > 5000);
    let first_dups = std::fs::read_to_string(dir.path().join("1.jsonl"))
        .unwrap()
        .matches("duplicate_id")
        .count();
    assert_eq!(
        output.matches("duplicate_id").count(),
        applied + first_dups,
        "every applied event is refused as a duplicate"
    );
    let after = dump(&db);
    // Only the record log grew (the second run's refusals); the state is the same.
    for (a, b) in before
        .iter()
        .zip(&after)
        .take_while(|(a, _)| !a.starts_with("-- log_chunks"))
    {
        assert_eq!(a, b);
    }
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains(" 0 applied"), "{stderr}");
}
