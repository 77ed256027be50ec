//! Hostile and careless input, against the real binary: each probe is refused with the right
//! error kind and a located message, or bounded, never a panic, never exit 0 with work dropped,
//! never a store that cannot be read back. Sandbox probes of rules are in `sandbox.rs`; the
//! bounded line reader's own cases in `src/runtime/input.rs`.

// Test helpers fail loudly: a panic is the test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::stderr;
use serde_json::{json, Value};

fn run_lines(db: &Path, lines: &[String]) -> Output {
    let dir = db.parent().unwrap();
    let file = dir.join(format!("in-{}.jsonl", fastrand::u32(..)));
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    common::bin(db).arg("run").arg(&file).output().unwrap()
}

fn records(out: &Output) -> Vec<Value> {
    common::stdout_json(out)
}

fn request(id: &str, sample: &str, extra: Value) -> String {
    let mut event = json!({
        "id": id, "type": "sample_requested", "at": "2026-03-02T10:00:00Z", "sample": sample,
        "creator": {"id": format!("c-{sample}"), "followers": 9000, "engagement_rate": 0.05,
                    "posts_30d": 4, "fulfillment_rate_90d": 0.9},
        "product": {"id": format!("p-{sample}"), "category": "beauty", "price": 20, "unit_cost": 6}
    });
    for (k, v) in extra.as_object().unwrap() {
        match (event.get_mut(k), v) {
            (Some(Value::Object(inner)), Value::Object(add)) => {
                inner.extend(add.clone());
            }
            _ => {
                event[k] = v.clone();
            }
        }
    }
    event.to_string()
}

/// Every reading command works on the store and says nothing is wrong with it.
fn readable(db: &Path) {
    for args in [
        &["show", "--all"][..],
        &["queue"],
        &["report", "--format", "json"],
    ] {
        let out = common::bin(db).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn numbers_out_of_range_are_invalid_fields_and_the_store_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let lines = [
        request(
            "e1",
            "s1",
            json!({"product": {"unit_cost": 1e308}, "quantity": 2}),
        ),
        request("e2", "s2", json!({"quantity": 20_000})),
        request("e3", "s3", json!({"creator": {"followers": 1e15}})),
        request("e4", "s4", json!({})),
        json!({"id": "e5", "type": "creator_adjusted", "at": "2026-03-02T11:00:00Z",
               "creator": {"id": "c-s4"}, "block_days": 100_000_000})
        .to_string(),
        json!({"id": "e6", "type": "creator_adjusted", "at": "2026-03-02T11:00:00Z",
               "creator": {"id": "c-s4"}, "block_days": i64::MAX})
        .to_string(),
        json!({"id": "e7", "type": "creator_adjusted", "at": "2026-03-02T11:00:00Z",
               "creator": {"id": "c-s4"}, "credit": 1.7e308})
        .to_string(),
        json!({"id": "e8", "type": "content_metrics", "at": "2026-03-02T11:00:00Z",
               "sample": "s4", "content_id": "v", "gmv": 1.7e308})
        .to_string(),
    ];
    let out = run_lines(&db, &lines);
    assert!(out.status.success(), "{}", stderr(&out));
    let refusals: Vec<(String, String)> = records(&out)
        .iter()
        .filter(|r| r.get("error").is_some())
        .map(|r| {
            (
                r["event"].as_str().unwrap().to_string(),
                format!("{} {}", r["error"], r["message"]),
            )
        })
        .collect();
    let expect = [
        (
            "e1",
            "`product.unit_cost` is 1e308; money must be from 0 to 1e9",
        ),
        ("e2", "`quantity` is 20000; it must be from 1 to 10000"),
        ("e3", "`creator.followers`"),
        (
            "e5",
            "`block_days` is 100000000; it must be from 0 to 36500",
        ),
        ("e6", "`block_days` is 9223372036854775807"),
        ("e7", "a change of credit must be within ±1e6"),
        ("e8", "`gmv` is 1.7e308; money must be from 0 to 1e9"),
    ];
    assert_eq!(refusals.len(), expect.len(), "{refusals:?}");
    for ((id, message), (want_id, want)) in refusals.iter().zip(expect) {
        assert_eq!(id, want_id);
        assert!(message.starts_with("\"invalid_field\""), "{message}");
        assert!(message.contains(want), "{id}: {message}");
    }
    readable(&db);
    // Running the file again panics no more than the first time.
    let again = run_lines(&db, &lines);
    assert!(again.status.success(), "{}", stderr(&again));
    readable(&db);
}

#[test]
fn a_refused_event_from_the_far_future_leaves_the_clock_and_every_deadline_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let pending = request("e1", "s1", json!({"product": {"price": 80}}));
    let teleport = json!({"id": "x", "type": "sample_teleported", "at": "9999-01-01T00:00:00Z",
                          "sample": "s1"})
    .to_string();
    let out = run_lines(&db, &[pending, teleport]);
    assert!(out.status.success());
    let all = records(&out);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["error"], "unknown_type");
    let show = common::bin(&db).args(["show", "--all"]).output().unwrap();
    let s1: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(s1["state"], "pending", "the review deadline did not fire");
}

#[test]
fn a_line_over_a_mebibyte_is_malformed_and_the_next_line_still_applies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let huge = request("e1", "s1", json!({"note": "x".repeat(3 << 20)}));
    let out = run_lines(&db, &[huge, request("e2", "s2", json!({}))]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = records(&out);
    assert_eq!(all[0]["error"], "malformed");
    assert_eq!(all[0]["line"], 1);
    assert!(
        all[0]["message"]
            .as_str()
            .unwrap()
            .contains("a line may be at most 1048576 bytes"),
        "{}",
        all[0]
    );
    assert_eq!(all[1]["sample"], "s2");
    // Nothing of the long line was kept.
    assert!(std::fs::metadata(&db).unwrap().len() < 1 << 20);
}

#[test]
fn a_byte_order_mark_before_the_first_event_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let file = dir.path().join("bom.jsonl");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(request("e1", "s1", json!({})).as_bytes());
    bytes.push(b'\n');
    std::fs::write(&file, bytes).unwrap();
    let out = common::bin(&db).arg("run").arg(&file).output().unwrap();
    assert!(out.status.success());
    assert_eq!(records(&out)[0]["sample"], "s1");
}

#[test]
fn out_naming_the_input_or_the_store_is_bad_usage_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let events = dir.path().join("e.jsonl");
    std::fs::copy("examples/events.jsonl", &events).unwrap();
    let first = common::bin(&db).arg("run").arg(&events).output().unwrap();
    assert!(first.status.success());
    let before = (std::fs::read(&events).unwrap(), std::fs::read(&db).unwrap());
    for out in [events.clone(), db.clone(), dir.path().join("s.db-wal")] {
        let o = common::bin(&db)
            .arg("run")
            .arg(&events)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("nothing was touched"), "{}", stderr(&o));
    }
    // The same file by another name is the same file.
    let o = common::bin(&db)
        .current_dir(dir.path())
        .args(["run", "e.jsonl", "--out", "./e.jsonl"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let w = common::bin(&db)
        .args(["watch", "--out"])
        .arg(&db)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(w.status.code(), Some(2));
    assert_eq!(
        (std::fs::read(&events).unwrap(), std::fs::read(&db).unwrap()),
        before
    );
}

/// Runs `args` with a stdout whose reader went away before reading anything (`| true`).
fn with_stdout_closed(db: &Path, args: &[&str]) -> Output {
    let mut child = common::bin(db)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_commits_what_was_applied_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let out = with_stdout_closed(&db, &["run", "examples/events.jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write records"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("committed"), "{}", stderr(&out));
    // What it applied is in the store, and the same command goes on to the same end.
    let again = common::bin(&db)
        .args(["run", "examples/events.jsonl"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("resumed an interrupted run"),
        "{}",
        stderr(&again)
    );
    let reference = tempfile::tempdir().unwrap();
    let ref_db = reference.path().join("r.db");
    let whole = common::bin(&ref_db)
        .args(["run", "examples/events.jsonl"])
        .output()
        .unwrap();
    assert_eq!(again.stdout, whole.stdout);
    let show = |db: &Path| {
        common::bin(db)
            .args(["show", "--all"])
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(show(&db), show(&ref_db));
}

#[test]
fn a_foreign_sqlite_file_is_refused_by_every_command_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("foreign.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE t(a); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    for args in [
        &["run", "examples/events.jsonl"][..],
        &["show", "--all"],
        &["queue"],
        &["report"],
        &["review", "s1", "--approve"],
        &[
            "diff",
            "--base",
            "rules",
            "--candidate",
            "rules",
            "--from-db",
        ],
    ] {
        let out = common::bin(&db).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not a sampleflow store"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn a_reading_command_writes_nothing_to_the_store() {
    let dir = common::example_store();
    let db = dir.path().join("s.db");
    let before = std::fs::read(&db).unwrap();
    let modified = std::fs::metadata(&db).unwrap().modified().unwrap();
    for args in [
        &["show", "--all"][..],
        &["queue"],
        &["report"],
        &["show", "--versions"],
    ] {
        assert!(common::bin(&db)
            .args(args)
            .output()
            .unwrap()
            .status
            .success());
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&db).unwrap().modified().unwrap(),
        modified
    );
    // A store of an older schema: a reader that could write would upgrade it. Readers refuse
    // it, say who upgrades it, and leave it as it is; a writer then upgrades it.
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 1)
        .unwrap();
    let old = std::fs::read(&db).unwrap();
    for args in [&["show", "--all"][..], &["queue"], &["report"]] {
        let out = common::bin(&db).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("a writing command (`run`, `watch`) upgrades it"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read(&db).unwrap(), old);
    let run = common::bin(&db)
        .args(["run", "examples/events.jsonl"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(common::bin(&db)
        .args(["queue"])
        .output()
        .unwrap()
        .status
        .success());
}

#[test]
fn two_runs_of_one_store_at_once_never_write_side_by_side() {
    // The same file twice, and two different files: either a run waits its turn (the other has
    // ended) or it is refused at once; the store ends as the runs that wrote would leave it one
    // after the other.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.jsonl");
    let lines: Vec<String> = (0..300)
        .map(|i| request(&format!("o{i}"), &format!("o{i}"), json!({})))
        .collect();
    std::fs::write(&other, lines.join("\n") + "\n").unwrap();
    for (n, second) in [Path::new("examples/events.jsonl"), &other]
        .iter()
        .enumerate()
    {
        let db = dir.path().join(format!("s{n}.db"));
        let spawn = |file: &Path| {
            common::bin(&db)
                .arg("run")
                .arg(file)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = spawn(Path::new("examples/events.jsonl"));
        let b = spawn(second);
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        for o in &outs {
            let code = o.status.code();
            assert!(code == Some(0) || code == Some(1), "{}", stderr(o));
            if code == Some(1) {
                assert!(stderr(o).contains("is held by `run`"), "{}", stderr(o));
            }
        }
        let conn = rusqlite::Connection::open(&db).unwrap();
        let (rows, ids): (i64, i64) = conn
            .query_row("SELECT count(*), count(DISTINCT value) FROM event_chunks, json_each(event_chunks.ids)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(rows, ids, "no event stored twice");
        let ok = |o: &Output| i64::from(o.status.success());
        assert!(ok(&outs[0]) + ok(&outs[1]) > 0, "one of them wrote");
        let expected = match n {
            // The same file: the second, if it ran at all, found every event applied.
            0 => 335,
            _ => 335 * ok(&outs[0]) + 300 * ok(&outs[1]),
        };
        assert_eq!(rows, expected, "case {n}");
    }
}

#[test]
fn a_long_yaml_key_is_reported_at_its_place_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(Path::new("workflows"), &dir.path().join("workflows"));
    let path = dir.path().join("workflows/sample.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen(
            "description:",
            &format!("{}: 1\ndescription:", "k".repeat(66_000)),
            1,
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sampleflow"))
        .current_dir(dir.path())
        .args([
            "--rules",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
            "validate",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("workflows/sample.yaml:7:"), "{err}");
    assert!(err.contains("too long to quote"), "{err}");
}

#[test]
fn a_policy_duration_of_a_million_years_is_refused_by_validate() {
    let rules = common::shipped_rules();
    let policy = rules.path().join("policy.yaml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        text.replacen("cooldown: 30d", "cooldown: 100000000d", 1),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sampleflow"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--rules")
        .arg(rules.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("policy.yaml:19:13"), "{err}");
    assert!(err.contains("longer than 3650 days"), "{err}");
}

#[test]
fn a_reading_command_with_a_closed_stdout_exits_1() {
    let dir = common::example_store();
    let db = dir.path().join("s.db");
    let out = with_stdout_closed(&db, &["show", "--all"]);
    assert_eq!(out.status.code(), Some(1), "a closed stdout is exit 1");
}
