//! Ops commands (`review`, `ship`, `adjust`) and the one-writer rule, on the real binary: each
//! command applied and refused, the audit fields in records and `show`, and the concurrency
//! cases: an ops command handed to a live `watch --spool`, a second writer refused, a writer
//! killed with -9 that blocks nobody, two runs at once, readers beside a writer. Every wait is
//! on an observable line or a process ending, with a generous timeout.

// Test helpers fail loudly: a panic is the test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use common::live::{Watch, TIMEOUT};
use common::{example_store, stderr, stdout_json};
use serde_json::{json, Value};

fn db(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("s.db")
}

fn ops(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    common::bin(&db(dir)).args(args).output().unwrap()
}

fn show_all(db: &Path) -> Vec<Value> {
    let out = common::bin(db).args(["show", "--all"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    stdout_json(&out)
}

fn sample<'a>(all: &'a [Value], id: &str) -> &'a Value {
    all.iter().find(|s| s["sample"] == id).unwrap()
}

const AT: &str = "2026-03-27T09:00:00Z";

#[test]
fn review_ship_and_adjust_apply_one_event_each_and_keep_who_and_why() {
    let dir = example_store();
    let out = ops(
        &dir,
        &[
            "review",
            "s50",
            "--approve",
            "--note",
            "fits the brand",
            "--by",
            "ana",
            "--at",
            AT,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = stdout_json(&out);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(
        (&r["from"], &r["to"], &r["trigger"]),
        (
            &json!("pending"),
            &json!("awaiting_shipment"),
            &json!("sample_reviewed")
        )
    );
    assert_eq!(
        (&r["decision"], &r["reason"]),
        (&json!("approve"), &json!("manual_review"))
    );
    assert_eq!(
        (&r["by"], &r["note"]),
        (&json!("ana"), &json!("fits the brand"))
    );
    assert_eq!(r["at"], AT);
    assert!(r["event"].as_str().unwrap().starts_with("ops-review-"));

    let out = ops(
        &dir,
        &[
            "ship",
            "s50",
            "--tracking",
            "1Z999",
            "--carrier",
            "UPS",
            "--cost",
            "7.5",
            "--by",
            "ben",
            "--at",
            "2026-03-27T10:00:00Z",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = &stdout_json(&out)[0];
    assert_eq!((&r["to"], &r["by"]), (&json!("shipped"), &json!("ben")));

    // Without --by, the record names the login name of the user.
    let out = ops(&dir, &["review", "s51", "--reject", "--at", AT]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let by = stdout_json(&out)[0]["by"].clone();
    assert!(by.as_str().is_some_and(|b| !b.is_empty()), "{by}");

    let all = show_all(&db(&dir));
    let s50 = sample(&all, "s50");
    assert_eq!(s50["state"], "shipped");
    assert_eq!(
        (&s50["decision"], &s50["reason"]),
        (&json!("approve"), &json!("manual_review"))
    );
    assert_eq!(s50["reviewed_by"], "ana");
    assert_eq!(
        (&s50["tracking_number"], &s50["carrier"]),
        (&json!("1Z999"), &json!("UPS"))
    );
    let s51 = sample(&all, "s51");
    assert_eq!(
        (&s51["decision"], &s51["reviewed_by"]),
        (&json!("reject"), &by)
    );
    // A sample nobody reviewed keeps screening's decision.
    assert_eq!(sample(&all, "s52")["decision"], "review");
    assert_eq!(sample(&all, "s52")["reviewed_by"], Value::Null);

    // The timeline for people: every move with who and why.
    let out = ops(&dir, &["show", "s50", "--format", "table"]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for header in ["TIME", "FROM", "TO", "TRIGGER", "REASON", "BY", "NOTE"] {
        assert!(lines[0].contains(header), "{table}");
    }
    assert!(
        lines[2].contains("2026-03-27 09:00:00Z") && lines[2].contains("ana"),
        "{table}"
    );
    assert!(
        lines[2].contains("fits the brand") && lines[2].contains("manual_review"),
        "{table}"
    );
    assert!(
        lines[3].contains("shipped") && lines[3].contains("ben"),
        "{table}"
    );

    let out = ops(
        &dir,
        &[
            "adjust",
            "c50",
            "--credit",
            "-5",
            "--block-days",
            "30",
            "--note",
            "late reply",
            "--by",
            "ana",
            "--at",
            "2026-03-27T11:00:00Z",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "a ledger change makes no record");
    assert!(
        stderr(&out).contains("creator `c50` has credit -5"),
        "{}",
        stderr(&out)
    );
    let out = ops(&dir, &["show", "--creator", "c50"]);
    let ledger: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ledger["credit"], -5.0);
    assert_eq!(ledger["blocked_until"], "2026-04-26T11:00:00Z");
    let adjustment = &ledger["adjustments"][0];
    assert_eq!(
        (&adjustment["by"], &adjustment["note"]),
        (&json!("ana"), &json!("late reply"))
    );
    assert_eq!(adjustment["at"], "2026-03-27T11:00:00Z");
}

#[test]
fn a_refused_ops_event_exits_5_says_why_and_changes_nothing() {
    let dir = example_store();
    let before = show_all(&db(&dir));
    // s0 was approved by screening: a review comes too late.
    let out = ops(&dir, &["review", "s0", "--approve", "--at", AT]);
    assert_eq!(out.status.code(), Some(5));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    let state = sample(&before, "s0")["state"].as_str().unwrap().to_string();
    assert!(
        err.contains(&format!(
            "review refused (not_allowed): `s0` is `{state}`; review takes `pending`"
        )),
        "{err}"
    );
    assert!(err.contains("\"error\":\"not_allowed\""), "{err}");

    // An unknown sample, at the wall clock's now (months after the store's clock, so only with
    // `--catch-up`): refused before the state checks, so the clock does not move and no review
    // deadline fires.
    let out = ops(&dir, &["ship", "nope", "--tracking", "1Z", "--catch-up"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("ship refused (unknown_sample): no sample `nope`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(show_all(&db(&dir)), before);
    let queue = ops(&dir, &["queue", "--format", "json"]);
    assert_eq!(String::from_utf8_lossy(&queue.stdout).lines().count(), 3);
}

#[test]
fn bad_flags_are_usage_errors_and_a_missing_store_is_a_failure() {
    let dir = example_store();
    for args in [
        &["review", "s50"][..],
        &["review", "s50", "--approve", "--reject"],
        &["review", "s50", "--approve", "--at", "yesterday"],
        &["ship", "s50"],
        &["ship", "s50", "--tracking", "1Z", "--cost", "-1"],
        &["ship", "s50", "--tracking", "1Z", "--cost", "lots"],
        &["adjust", "c50"],
        &["adjust", "c50", "--note", "only a note"],
        &["adjust", "c50", "--block-days", "40000"],
        &["adjust", "c50", "--credit", "5e9"],
    ] {
        let out = ops(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let empty = tempfile::tempdir().unwrap();
    let out = common::bin(&empty.path().join("none.db"))
        .args(["review", "s50", "--approve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no store at"), "{}", stderr(&out));
    assert!(!empty.path().join("none.db").exists());
}

/// A request that screening sends to review (price 60 is above the $50 cap).
fn pending_request(id: &str, sample: &str, at: &str) -> Value {
    json!({
        "id": id, "type": "sample_requested", "at": at, "sample": sample,
        "creator": {"id": format!("c-{sample}"), "followers": 6000, "engagement_rate": 0.05,
                    "posts_30d": 5, "fulfillment_rate_90d": 0.8},
        "product": {"id": format!("p-{sample}"), "category": "sports", "price": 60,
                    "unit_cost": 10}
    })
}

const NOW: &str = "2026-02-01T12:00:00Z";

/// The binary in the watch's folder, on its store.
fn beside(w: &Watch) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
    cmd.current_dir(w.dir.path()).args(["--db", "w.db"]);
    cmd
}

#[test]
fn an_ops_command_hands_its_event_to_a_live_watch_and_prints_the_record() {
    let mut w = Watch::start(&["--spool", "inbox"], NOW, true);
    let requested = w.decide(&pending_request("e1", "s1", "2026-02-01T10:00:00Z"));
    assert_eq!(requested["to"], "pending");

    let out = beside(&w)
        .args([
            "review",
            "s1",
            "--approve",
            "--note",
            "ok",
            "--by",
            "ana",
            "--at",
            "2026-02-01T11:00:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = stdout_json(&out);
    assert_eq!(records.len(), 1);
    assert_eq!(
        (&records[0]["to"], &records[0]["by"]),
        (&json!("awaiting_shipment"), &json!("ana"))
    );
    // The watch applied it itself, in its own log, and archived the file.
    let id = records[0]["event"].as_str().unwrap().to_string();
    w.out
        .wait(0, 1, "the review in watch's output", |l| l.contains(&id));
    w.err.wait(0, 1, "the archive", |l| {
        l.contains(&format!("applied `{id}.jsonl`"))
    });

    // The watch's own later decisions see the sample in its new state.
    let shipped = w.decide(
        &json!({"id": "e2", "type": "sample_shipped", "at": "2026-02-01T11:30:00Z",
                                   "sample": "s1", "tracking_number": "1Z1"}),
    );
    assert_eq!(
        (&shipped["from"], &shipped["to"]),
        (&json!("awaiting_shipment"), &json!("shipped"))
    );

    // A refusal comes back the same way.
    let out = beside(&w)
        .args(["review", "s1", "--reject", "--at", "2026-02-01T11:40:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`s1` is `shipped`; review takes `pending`"),
        "{}",
        stderr(&out)
    );

    // A second writer of any other kind is refused at once, naming the watch, and writes nothing.
    let events = w.dir.path().join("more.jsonl");
    std::fs::write(
        &events,
        format!("{}\n", pending_request("e3", "s3", "2026-02-01T11:50:00Z")),
    )
    .unwrap();
    let out = beside(&w).args(["run", "more.jsonl"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let pid = w.child.id().to_string();
    assert!(
        err.contains("is held by `watch --spool") && err.contains(&format!("pid {pid}")),
        "{err}"
    );
    assert!(err.contains("inbox"), "{err}");
    assert!(out.stdout.is_empty());
    w.signal("TERM");
    let (_, _, dir) = w.wait_exit();
    let all = show_all(&dir.path().join("w.db"));
    assert_eq!(all.len(), 1, "the refused run wrote nothing: {all:?}");
    assert_eq!(all[0]["reviewed_by"], "ana");
}

#[test]
fn a_watch_killed_with_9_blocks_no_later_writer() {
    let mut w = Watch::start(&["--spool", "inbox"], NOW, true);
    w.decide(&pending_request("e1", "s1", "2026-02-01T10:00:00Z"));
    w.child.kill().unwrap();
    w.child.wait().unwrap();
    let events = w.dir.path().join("more.jsonl");
    std::fs::write(
        &events,
        format!("{}\n", pending_request("e2", "s2", "2026-02-01T10:05:00Z")),
    )
    .unwrap();
    let out = beside(&w).args(["run", "more.jsonl"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = beside(&w)
        .args(["review", "s2", "--approve", "--at", "2026-02-01T10:10:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)[0]["to"], "awaiting_shipment");
}

/// `run -` on the store `db`, its stdin kept open.
fn run_stdin(db: &Path, env: &[(&str, &str)]) -> Child {
    common::bin(db)
        .args(["run", "-"])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for one of `children` to exit; returns its index and status.
fn first_exit(children: &mut [Child]) -> (usize, std::process::ExitStatus) {
    let started = Instant::now();
    loop {
        for (i, c) in children.iter_mut().enumerate() {
            if let Some(status) = c.try_wait().unwrap() {
                return (i, status);
            }
        }
        assert!(started.elapsed() < TIMEOUT, "no process exited");
        std::thread::yield_now();
    }
}

#[test]
fn of_two_runs_started_together_exactly_one_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let mut runs = [run_stdin(&db, &[]), run_stdin(&db, &[])];
    let (loser, status) = first_exit(&mut runs);
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(runs[loser].stderr.as_mut().unwrap(), &mut err).unwrap();
    let winner = 1 - loser;
    assert!(
        err.contains(&format!("is held by `run` (pid {}", runs[winner].id())),
        "{err}"
    );
    let mut stdin = runs[winner].stdin.take().unwrap();
    for i in 0..20 {
        writeln!(
            stdin,
            "{}",
            pending_request(&format!("e{i}"), &format!("s{i}"), "2026-02-01T10:00:00Z")
        )
        .unwrap();
    }
    drop(stdin);
    let out = runs
        .into_iter()
        .nth(winner)
        .unwrap()
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(show_all(&db).len(), 20);
    assert_eq!(stored_events(&db), (20, 20), "each event stored once");
}

/// Rows of the store's `events` table, and how many distinct ids they hold.
fn stored_events(db: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*), count(DISTINCT value) FROM event_chunks, json_each(event_chunks.ids)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn readers_see_committed_data_beside_a_running_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let mut run = run_stdin(&db, &[("SAMPLEFLOW_BATCH", "1")]);
    let mut stdin = run.stdin.take().unwrap();
    writeln!(
        stdin,
        "{}",
        pending_request("e1", "s1", "2026-02-01T10:00:00Z")
    )
    .unwrap();
    stdin.flush().unwrap();
    // Batches of one event: the queue shows it once committed, while the run goes on.
    let started = Instant::now();
    let queue = loop {
        let q = common::bin(&db)
            .args(["queue", "--format", "json"])
            .output()
            .unwrap();
        if q.status.success() && !q.stdout.is_empty() {
            break q;
        }
        assert!(started.elapsed() < TIMEOUT, "the batch was never committed");
        std::thread::yield_now();
    };
    let item: Value = serde_json::from_slice(&queue.stdout).unwrap();
    assert_eq!(
        (&item["sample"], &item["reason"]),
        (&json!("s1"), &json!("price_cap"))
    );
    let all = show_all(&db);
    assert_eq!(
        (&all[0]["sample"], &all[0]["state"]),
        (&json!("s1"), &json!("pending"))
    );
    assert!(
        run.try_wait().unwrap().is_none(),
        "the writer is still running"
    );
    drop(stdin);
    assert!(run.wait().unwrap().success());
}

/// Every row of the tables that hold the runner's state, in a fixed order.
fn state_tables(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut rows = Vec::new();
    for sql in [
        "SELECT id || ' ' || hex(data) FROM samples ORDER BY id",
        "SELECT sample || ' ' || name || ' ' || due || ' ' || seq || ' ' || held FROM deadlines ORDER BY sample, name",
        "SELECT creator || ' ' || hex(data) FROM ledgers ORDER BY creator",
        "SELECT key || ' ' || value FROM meta ORDER BY key",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        rows.extend(
            stmt.query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap),
        );
    }
    rows
}

#[test]
fn an_ops_command_loading_one_sample_ends_as_a_run_of_the_same_event() {
    // Four days after the example's clock: deadlines of other samples fall due on the way (a
    // keep-up completes, a remind fires), and the review still comes inside s50's window
    // (past the default day the guard allows, so with `--catch-up`).
    let at = "2026-03-31T00:00:00Z";
    let ops_store = example_store();
    let out = ops(
        &ops_store,
        &[
            "review",
            "s50",
            "--approve",
            "--note",
            "n",
            "--by",
            "ana",
            "--at",
            at,
            "--catch-up",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = stdout_json(&out);
    assert!(records.len() > 1, "deadlines fired on the way: {records:?}");
    let reviewed = records.last().unwrap();
    assert_eq!(reviewed["sample"], "s50");

    let run_store = example_store();
    let line = json!({"id": reviewed["event"], "type": "sample_reviewed", "at": at, "sample": "s50",
                      "decision": "approve", "by": "ana", "note": "n"});
    let file = run_store.path().join("one.jsonl");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let run = common::bin(&db(&run_store))
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert_eq!(stdout_json(&run), records);
    assert_eq!(state_tables(&db(&ops_store)), state_tables(&db(&run_store)));
}

/// `queue --format csv`: a header row and one row per pending request, the columns of
/// `GET /v1/queue?format=csv`; the filters and the sort narrow and order it.
#[test]
fn queue_as_csv_has_a_header_and_one_row_per_pending_request() {
    let dir = example_store();
    let out = ops(&dir, &["queue", "--format", "csv"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("queue_csv", text);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("sample,expires,reason,category,product,product_title,price,"));
    assert_eq!(lines.len(), 1 + 3, "{text}");

    let json = ops(&dir, &["queue", "--format", "json"]);
    let first: Vec<String> = stdout_json(&json)
        .iter()
        .map(|i| i["category"].as_str().unwrap().to_string())
        .collect();
    let category = &first[0];
    let narrowed = ops(&dir, &["queue", "--format", "csv", "--category", category]);
    let rows = String::from_utf8(narrowed.stdout).unwrap();
    let want = first.iter().filter(|c| *c == category).count();
    assert_eq!(rows.lines().count(), 1 + want, "{rows}");

    let by_price = ops(&dir, &["queue", "--format", "json", "--sort", "-price"]);
    let prices: Vec<f64> = stdout_json(&by_price)
        .iter()
        .map(|i| i["price"].as_f64().unwrap())
        .collect();
    let mut sorted = prices.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(prices, sorted);

    let none = ops(
        &dir,
        &["queue", "--format", "csv", "--search", "no-such-thing"],
    );
    let rows = String::from_utf8(none.stdout).unwrap();
    assert_eq!(rows.lines().collect::<Vec<_>>(), [lines[0]]);

    let bad = ops(&dir, &["queue", "--sort", "age"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("`--sort age`"), "{}", stderr(&bad));
}
