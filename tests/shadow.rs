//! The shadow (`serve --shadow DIR`, `watch --shadow DIR`, `GET /v1/shadow`, `sampleflow
//! shadow`): a candidate that raises the follower floor screens a generated stream beside the
//! live rules, and what it measured equals `diff` of the same candidate over the same events;
//! checked and hot-reloaded like the live rules; its decisions kept on both backends, once.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use common::serve::{Server, VIEWER};
use sampleflow::machinery::model::{Changes, ShadowDecision};
use sampleflow::machinery::store::{self, Batch};

/// A generated stream of `samples` samples in `dir`; its path and the time of its last event.
fn generated(dir: &Path, samples: u64) -> (PathBuf, String) {
    let out = common::run(["gen", "--samples", &samples.to_string(), "--seed", "5"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let path = dir.join("events.jsonl");
    std::fs::write(&path, &out.stdout).unwrap();
    let last = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["at"].as_str().map(str::to_string))
        .max()
        .unwrap();
    (path, last)
}

/// A copy of the shipped rules with the default follower floor raised to 20,000 (and the rule
/// test case that says 5,000 is enough taken out with it).
fn raised_floor(dir: &Path) -> PathBuf {
    let cand = dir.join("cand");
    common::copy_dir(Path::new("rules"), &cand);
    common::edit(
        &cand.join("policy.yaml"),
        "min_followers: 5000 ",
        "min_followers: 20000",
    );
    let cases = cand.join("tests/screening.yaml");
    let text = std::fs::read_to_string(&cases).unwrap();
    std::fs::write(
        &cases,
        text.replace("followers: 5000}", "followers: 20000}"),
    )
    .unwrap();
    cand
}

/// `diff --base rules --candidate CAND EVENTS --format json`.
fn diff(cand: &Path, events: &Path) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = common::bin(&dir.path().join("none.db"))
        .arg("diff")
        .args(["--base", "rules", "--candidate"])
        .arg(cand)
        .arg(events)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The samples a report lists as changed.
fn changed(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["sample"].as_str().unwrap().to_string())
        .collect()
}

/// The shadow's totals and disagreements equal `diff`'s: the same changed samples, each with
/// the same decisions and reasons, and the same summary figures.
fn assert_agrees(shadow: &Value, diff: &Value) {
    assert!(shadow["compared"].as_u64().unwrap() > 100, "{shadow}");
    assert_eq!(changed(&shadow["changes"]), changed(&diff["changes"]));
    assert!(!changed(&diff["changes"]).is_empty());
    for (s, d) in shadow["changes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(diff["changes"].as_array().unwrap())
    {
        assert_eq!(s["category"], d["category"]);
        for (side, other) in [("live", "base"), ("candidate", "candidate")] {
            for field in ["decision", "reason"] {
                assert_eq!(
                    s[side][field], d[other][field],
                    "{}: {side} {field}",
                    s["sample"]
                );
            }
        }
    }
    let (s, d) = (&shadow["summary"], &diff["summary"]);
    for field in [
        "samples",
        "changed",
        "by_category",
        "by_reason",
        "faulted",
        "approvals_gained",
        "approvals_lost",
        "cost_added",
        "cost_saved",
        "gmv_refused",
    ] {
        assert_eq!(s[field], d[field], "summary.{field}");
    }
    assert!(d["approvals_lost"].as_u64().unwrap() > 0);
    assert_eq!(
        shadow["rules"], d["candidate"]["rules"],
        "the candidate's hash is diff's"
    );
    assert_eq!(s["base"]["rules"], d["base"]["rules"]);
    assert_eq!(
        shadow["agreeing"].as_u64().unwrap() + s["changed"].as_u64().unwrap(),
        shadow["compared"].as_u64().unwrap()
    );
}

/// `sampleflow shadow` on the store at `db`, as JSON.
fn shadow_cli(db: &Path, rules: &Path) -> Value {
    let out = common::bin(db)
        .arg("--rules")
        .arg(rules)
        .args(["shadow", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One hour after `at`, as the wall clock of a server that has just seen the stream.
fn hour_after(at: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(at).unwrap() + chrono::Duration::hours(1);
    t.to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `requests_only`: the stream's requests alone, posted in chunks (a day of requests);
/// otherwise the whole stream in one body, so that no wall-clock tick fires a deadline between
/// two of its events (the wall clock stands an hour after the stream's end: a tick between two
/// posts would fire every deadline due by then, as live it must, and the events that follow
/// would find their samples moved on, where `diff`'s replay fires deadlines on event time).
fn serve_totals_equal_diff(postgres: bool, requests_only: bool) {
    let dir = common::serve::folder();
    if postgres {
        common::use_postgres(dir.path());
    }
    let (events, last) = generated(dir.path(), 240);
    if requests_only {
        let text = std::fs::read_to_string(&events).unwrap();
        let requests: String = text
            .lines()
            .filter(|l| l.contains("\"sample_requested\""))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&events, requests).unwrap();
    }
    let cand = raised_floor(dir.path());
    let server = Server::start_in(dir, &["--shadow", "cand"], &hour_after(&last));
    server.err.wait(0, 1, "the shadow's start", |l| {
        l.starts_with("shadow: candidate rules")
    });
    let text = std::fs::read_to_string(&events).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let size = if requests_only { 50 } else { lines.len() };
    for chunk in lines.chunks(size) {
        let results = server.events(None, &chunk.join("\n"));
        assert_eq!(results.len(), chunk.len());
    }
    let answer = server.get("/v1/shadow", None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let shadow = answer.json();
    let expected = diff(&cand, &events);
    assert_agrees(&shadow, &expected);
    assert_eq!(shadow["faults"]["faults"], 0);
    // The command reads the same from the store, beside the running server.
    let db = server.db();
    let rules = server.path("rules");
    assert_eq!(shadow_cli(&db, &rules), shadow);
    // `since` keeps the later screenings only.
    let later = server
        .get("/v1/shadow?since=2026-01-07T00:00:00Z", None)
        .json();
    assert!(later["compared"].as_u64().unwrap() < shadow["compared"].as_u64().unwrap());
    assert_eq!(later["since"], "2026-01-07T00:00:00Z");
    let bad = server.get("/v1/shadow?since=yesterday", None);
    assert_eq!(bad.status, 400, "{}", bad.body);
    server.stop();
}

#[test]
fn serve_shadow_totals_and_disagreements_equal_diff_of_the_same_candidate() {
    serve_totals_equal_diff(false, false);
}

#[test]
fn serve_shadow_on_postgresql_equals_diff_too() {
    serve_totals_equal_diff(true, false);
}

#[test]
fn serve_shadow_of_a_day_of_requests_posted_in_chunks_equals_diff() {
    serve_totals_equal_diff(false, true);
}

#[test]
fn watch_shadow_totals_equal_diff_and_the_table_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let (events, last) = generated(dir.path(), 200);
    let cand = raised_floor(dir.path());
    let db = dir.path().join("s.db");
    let out = common::bin(&db)
        .args(["watch", "--shadow"])
        .arg(&cand)
        .env("SAMPLEFLOW_NOW", hour_after(&last))
        .stdin(std::fs::File::open(&events).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let shadow = shadow_cli(&db, Path::new("rules"));
    assert_agrees(&shadow, &diff(&cand, &events));
    // The candidate's rules are kept as a version: `diff --candidate HASH` finds them.
    let hash = shadow["rules"].as_str().unwrap();
    let out = common::bin(&db)
        .args(["diff", "--base", "rules", "--candidate", hash, "--from-db"])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let table = common::bin(&db).args(["shadow"]).output().unwrap();
    assert!(table.status.success(), "{}", common::stderr(&table));
    let text = String::from_utf8(table.stdout).unwrap();
    let live = shadow["summary"]["base"]["rules"].as_str().unwrap();
    insta::assert_snapshot!(
        "shadow_table",
        text.replace(hash, "[candidate]").replace(live, "[live]")
    );
}

#[test]
fn no_shadow_writes_no_shadow_decision() {
    let dir = tempfile::tempdir().unwrap();
    let (events, _) = generated(dir.path(), 30);
    let db = dir.path().join("s.db");
    let out = common::bin(&db).arg("run").arg(&events).output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(store::open_read(&db).unwrap().shadows().unwrap().is_empty());
    let text = common::bin(&db).arg("shadow").output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("no shadow decisions"));
}

#[test]
fn a_bad_candidate_at_start_is_exit_3_with_its_place() {
    let dir = common::serve::folder();
    let cand = raised_floor(dir.path());
    let script = cand.join("default.rhai");
    let text = std::fs::read_to_string(&script).unwrap();
    std::fs::write(&script, text.replacen("fn screen(", "fn screen((", 1)).unwrap();
    let out = common::bin(&dir.path().join("s.db"))
        .args(["watch", "--shadow"])
        .arg(&cand)
        .stdin(Stdio::null())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(err.contains("default.rhai:"), "{err}");
    assert!(err.contains("shadow candidate"), "{err}");
    assert!(!dir.path().join("s.db").exists(), "nothing was started");
}

#[test]
fn a_candidate_is_hot_reloaded_and_a_bad_edit_keeps_the_last_good_one() {
    let dir = common::serve::folder();
    let cand = raised_floor(dir.path());
    let server = Server::start_in(dir, &["--shadow", "cand"], "2026-01-05T00:00:00Z");
    let at = server.err.wait(0, 1, "the shadow's start", |l| {
        l.starts_with("shadow: candidate rules")
    });
    let first = server.err.all()[at]["shadow: candidate rules ".len()..][..12].to_string();
    let request = |id: &str| {
        serde_json::json!({"id": format!("e-{id}"), "type": "sample_requested",
            "at": "2026-01-05T00:00:00Z", "sample": id,
            "creator": {"id": format!("c-{id}"), "followers": 19_500, "engagement_rate": 0.05,
                        "posts_30d": 5, "fulfillment_rate_90d": 0.8},
            "product": {"id": format!("p-{id}"), "category": "sports", "price": 20.0,
                        "unit_cost": 6}})
        .to_string()
    };
    server.events(None, &request("s1"));
    // A good edit (its test cases pass): the floor comes down under the creator's followers.
    common::edit(
        &cand.join("policy.yaml"),
        "min_followers: 20000",
        "min_followers: 19000",
    );
    let from = server.err.len();
    let at = server.err.wait(from, 1, "the shadow reload", |l| {
        l.starts_with("shadow reload: candidate rules")
    });
    let second = server.err.all()[at]
        .rsplit_once(" -> ")
        .map(|(_, r)| r[..12].to_string())
        .unwrap();
    assert_ne!(first, second);
    server.events(None, &request("s2"));
    // A bad edit: refused with its place; the last good candidate keeps screening.
    let script = cand.join("default.rhai");
    let text = std::fs::read_to_string(&script).unwrap();
    std::fs::write(&script, text.replacen("fn screen(", "fn screen((", 1)).unwrap();
    let from = server.err.len();
    let at = server.err.wait(from, 1, "the refusal", |l| {
        l.starts_with("shadow reload refused")
    });
    assert!(
        server.err.all()[at].contains(&second),
        "{}",
        server.err.all()[at]
    );
    server
        .err
        .wait(from, 1, "the place", |l| l.contains("default.rhai:"));
    server.events(None, &request("s3"));
    let shadow = server.get("/v1/shadow", Some(VIEWER));
    assert_eq!(shadow.status, 200);
    let shadow = shadow.json();
    // The report measures the latest candidate: s2 and s3, which it approves as live did.
    assert_eq!(shadow["rules"].as_str().unwrap()[..12], second);
    assert_eq!(
        (shadow["compared"].as_u64(), shadow["agreeing"].as_u64()),
        (Some(2), Some(2))
    );
    let (dir, _) = server.stop();
    let db = common::db_in(dir.path());
    let kept: Vec<(String, String, String)> = store::open_read(&db)
        .unwrap()
        .shadows()
        .unwrap()
        .into_iter()
        .map(|d| (d.sample, d.rules[..12].to_string(), d.reason))
        .collect();
    assert_eq!(
        kept,
        [
            ("s1".into(), first, "low_followers".into()),
            ("s2".into(), second.clone(), "auto_approved".into()),
            ("s3".into(), second, "auto_approved".into()),
        ]
    );
}

/// A batch holding one shadow decision of `sample`.
fn batch(sample: &str, decision: &str) -> Batch {
    Batch {
        changes: Changes {
            shadows: vec![ShadowDecision {
                sample: sample.into(),
                category: "beauty".into(),
                rules: "cand".into(),
                live_rules: "live".into(),
                at: chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
                    .unwrap()
                    .to_utc(),
                live_decision: "approve".into(),
                live_reason: "auto_approve".into(),
                decision: decision.into(),
                reason: "low_followers".into(),
                tier: "standard".into(),
                fault: None,
            }],
            ..Default::default()
        },
        ..Batch::default()
    }
}

/// Shadow decisions are kept with their batch, once per sample and candidate, on both backends.
fn kept_once(db: PathBuf) {
    let mut s = store::open(&db).unwrap();
    s.commit(&batch("s1", "reject")).unwrap();
    // The same screening again (a resumed run): nothing is written twice.
    s.commit(&batch("s1", "review")).unwrap();
    s.commit(&batch("s0", "reject")).unwrap();
    let kept = store::open_read(&db).unwrap().shadows().unwrap();
    let ids: Vec<(&str, &str)> = kept
        .iter()
        .map(|d| (d.sample.as_str(), d.decision.as_str()))
        .collect();
    assert_eq!(ids, [("s0", "reject"), ("s1", "reject")]);
}

#[test]
fn shadow_decisions_are_kept_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kept_once(dir.path().join("s.db"));
}

#[test]
fn shadow_decisions_are_kept_once_on_postgresql() {
    kept_once(PathBuf::from(common::pg::database()));
}

#[test]
fn a_candidate_fault_is_counted_and_never_touches_the_live_decision() {
    let dir = tempfile::tempdir().unwrap();
    let (events, last) = generated(dir.path(), 40);
    let cand = raised_floor(dir.path());
    // Every screening of the candidate fails at run time.
    common::edit(
        &cand.join("default.rhai"),
        "if creator.followers < policy.min_followers {",
        "if creator.followers < policy.min_followers { throw \"the candidate broke\"; }\n    if false {",
    );
    let db = dir.path().join("s.db");
    let live_db = dir.path().join("live.db");
    for (db, shadow) in [(&db, true), (&live_db, false)] {
        let mut cmd = common::bin(db);
        cmd.arg("watch");
        if shadow {
            cmd.arg("--shadow").arg(&cand);
        }
        let mut child = cmd
            .env("SAMPLEFLOW_NOW", hour_after(&last))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&std::fs::read(&events).unwrap()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        if shadow {
            assert!(common::stderr(&out).contains("shadow rule fault"));
        }
    }
    let shadow = shadow_cli(&db, Path::new("rules"));
    assert!(shadow["faults"]["faults"].as_u64().unwrap() > 0, "{shadow}");
    assert!(shadow["faults"]["first"][0]
        .as_str()
        .unwrap()
        .contains("default.rhai:"));
    // The live decisions are those of a store that ran without the shadow.
    let states = |db: &Path| {
        let mut s = store::open_read(db).unwrap();
        let all: Vec<(String, Option<String>, Option<String>)> = s
            .samples()
            .unwrap()
            .into_iter()
            .map(|i| (i.id().to_string(), i.decision, i.reason))
            .collect();
        all
    };
    assert_eq!(states(&db), states(&live_db));
}
