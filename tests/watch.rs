//! `sampleflow watch`, the real binary: hot reload of policy, scripts and workflows, the spool,
//! the wall clock and signals. Every wait is for a line the process prints, with a generous
//! timeout; no test sleeps and then looks.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::live::Watch;
use serde_json::{json, Value};

/// A request for a sports product from a creator with 6,000 followers: approved under the shipped
/// policy (floor 5,000), rejected once sports asks for 8,000. `price` 60 goes to review.
fn request(id: &str, sample: &str, at: &str, price: f64) -> Value {
    json!({
        "id": id, "type": "sample_requested", "at": at, "sample": sample,
        "creator": {"id": format!("c-{sample}"), "followers": 6000, "engagement_rate": 0.05,
                    "posts_30d": 5, "fulfillment_rate_90d": 0.8},
        "product": {"id": format!("p-{sample}"), "category": "sports", "price": price,
                    "unit_cost": 10}
    })
}

const NOW: &str = "2026-02-01T00:00:00Z";
const SPORTS_8000: (&str, &str) = ("apparel: {}", "apparel: {}\nsports:\n  min_followers: 8000");

fn add_sports_floor(text: String) -> String {
    assert!(text.contains(SPORTS_8000.0));
    text.replacen(SPORTS_8000.0, SPORTS_8000.1, 1)
}

fn reload_line(l: &str) -> bool {
    l.starts_with("reload: rules ")
}

#[test]
fn a_policy_edit_decides_the_next_event_with_a_new_rules_hash() {
    let mut w = Watch::start(&[], NOW, true);
    let first = w.decide(&request("e1", "s1", "2026-02-01T00:00:00Z", 20.0));
    assert_eq!(first["decision"], "approve");
    let old = first["rules"].as_str().unwrap().to_string();

    // Replaced by rename, as editors save.
    w.replace("rules/policy.yaml", add_sports_floor);
    let i = w.err.wait(0, 1, "the swap", reload_line);
    let line = w.err.all()[i].clone();
    assert!(line.contains(&format!("rules {old} -> ")), "{line}");

    let second = w.decide(&request("e2", "s2", "2026-02-01T00:01:00Z", 20.0));
    assert_eq!(second["decision"], "reject");
    assert_eq!(second["reason"], "low_followers");
    let new = second["rules"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(line.contains(&format!("rules {old} -> {new}, ")), "{line}");

    let (_, _, dir) = w.end();
    // Both rule sets are kept by hash, and `show --hash` prints the new policy.
    let bin = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
        c.current_dir(dir.path()).args(["--db", "w.db"]);
        c
    };
    let versions = bin().args(["show", "--versions"]).output().unwrap();
    let versions = String::from_utf8(versions.stdout).unwrap();
    assert!(versions.contains(&format!("rules {old}")), "{versions}");
    assert!(versions.contains(&format!("rules {new}")), "{versions}");
    let shown = bin().args(["show", "--hash", new]).output().unwrap();
    assert!(String::from_utf8(shown.stdout)
        .unwrap()
        .contains("min_followers: 8000"));
}

#[test]
fn a_broken_script_is_reported_and_the_old_rules_keep_deciding() {
    let mut w = Watch::start(&[], NOW, true);
    let old = w.decide(&request("e1", "s1", NOW, 20.0))["rules"].clone();
    std::fs::write(
        w.path("rules/default.rhai"),
        "fn screen(request, ledger) {\n    let x = ;\n}\n",
    )
    .unwrap();
    let i = w
        .err
        .wait(0, 1, "the refusal", |l| l.starts_with("reload refused"));
    let after: String = w.err.all()[i..].join("\n");
    assert!(after.contains("keep running"), "{after}");
    // The fault is placed: file, line and column.
    w.err.wait(i, 1, "the place of the fault", |l| {
        l.contains("default.rhai:2:")
    });
    let next = w.decide(&request("e2", "s2", NOW, 20.0));
    assert_eq!(next["rules"], old);
    assert_eq!(next["decision"], "approve");
    let (_, err, _) = w.end();
    assert!(!err.iter().any(|l| reload_line(l)));
}

#[test]
fn a_change_that_fails_a_rule_test_case_is_refused() {
    let mut w = Watch::start(&[], NOW, true);
    let old = w.decide(&request("e1", "s1", NOW, 20.0))["rules"].clone();
    w.replace("rules/policy.yaml", |t| {
        t.replacen("price_cap: 50 ", "price_cap: 60 ", 1)
    });
    let i = w
        .err
        .wait(0, 1, "the refusal", |l| l.starts_with("reload refused"));
    w.err.wait(i, 1, "the failing case", |l| {
        l.starts_with("FAIL ") && l.contains("screening.yaml:")
    });
    // $55 would be auto-approved under the candidate; the running rules send it to review.
    let next = w.decide(&request("e2", "s2", NOW, 55.0));
    assert_eq!(next["rules"], old);
    assert_eq!(next["reason"], "price_cap");
    w.end();
}

#[test]
fn events_arriving_during_reloads_are_neither_lost_nor_doubled() {
    let mut w = Watch::start(&[], NOW, true);
    let mut stdin = w.stdin.take().unwrap();
    // The writer goes on until both swaps have happened, so events are in flight throughout.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut sent = 0usize;
        while !writing.load(std::sync::atomic::Ordering::Relaxed) && sent < 50_000 {
            let at = format!(
                "2026-02-01T{:02}:{:02}:{:02}Z",
                sent / 3600,
                sent / 60 % 60,
                sent % 60
            );
            let e = request(&format!("e{sent}"), &format!("s{sent}"), &at, 20.0);
            writeln!(stdin, "{e}").unwrap();
            stdin.flush().unwrap();
            sent += 1;
        }
        (stdin, sent)
    });
    w.out.wait(0, 1, "the first records", |_| true);
    w.replace("rules/policy.yaml", add_sports_floor);
    w.err.wait(0, 1, "the first swap", reload_line);
    w.replace("rules/policy.yaml", |t| {
        t.replacen("min_followers: 8000", "min_followers: 9000", 1)
    });
    w.err.wait(0, 2, "the second swap", reload_line);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (stdin, sent) = writer.join().unwrap();
    w.stdin = Some(stdin);
    let (out, _, _) = w.end();
    let records: Vec<Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), sent, "one record per event");
    let mut samples: Vec<&str> = records
        .iter()
        .map(|r| r["sample"].as_str().unwrap())
        .collect();
    samples.sort();
    samples.dedup();
    assert_eq!(samples.len(), sent, "no sample twice");
    // The rules hash changes at most twice along the stream, never back.
    let mut hashes: Vec<&str> = records
        .iter()
        .map(|r| r["rules"].as_str().unwrap())
        .collect();
    hashes.dedup();
    let mut distinct = hashes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(hashes.len(), distinct.len(), "{hashes:?}");
    // Both swaps took effect while events flowed.
    assert_eq!(hashes.len(), 3, "{hashes:?}");
}

#[test]
fn polling_finds_a_change_when_notify_is_off() {
    let mut w = Watch::start(&["--poll-only"], NOW, true);
    w.err.wait(0, 1, "the fallback note", |l| {
        l.contains("polling the files")
    });
    w.replace("rules/policy.yaml", add_sports_floor);
    let i = w.err.wait(0, 1, "the swap", reload_line);
    assert!(w.err.all()[i].contains("; poll, "));
    assert_eq!(
        w.decide(&request("e1", "s1", NOW, 20.0))["reason"],
        "low_followers"
    );
    w.end();
}

#[test]
fn sighup_reloads_on_demand_and_sigterm_stops_with_nothing_lost() {
    let mut w = Watch::start(&[], NOW, true);
    w.decide(&request("e1", "s1", NOW, 20.0));
    w.signal("HUP");
    w.err.wait(0, 1, "the manual reload", |l| {
        l == "reload: no change (SIGHUP)"
    });
    w.send(&request("e2", "s2", NOW, 20.0));
    w.signal("TERM");
    let (out, err, dir) = w.wait_exit();
    assert!(err
        .iter()
        .any(|l| l.starts_with("watch: stopped (SIGTERM)")));
    assert_eq!(out.len(), 2, "{out:?}");
    // Both are in the store.
    let shown = Command::new(env!("CARGO_BIN_EXE_sampleflow"))
        .current_dir(dir.path())
        .args(["--db", "w.db", "show", "--all"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(shown.stdout).unwrap().lines().count(), 2);
}

#[test]
fn spool_files_are_applied_once_then_archived() {
    let w = Watch::start(&["--spool", "spool"], NOW, false);
    w.err.wait(0, 1, "stdin closed", |l| {
        l.contains("still watching the spool")
    });
    let events: String = (0..3)
        .map(|i| {
            format!(
                "{}\n",
                request(&format!("e{i}"), &format!("s{i}"), NOW, 20.0)
            )
        })
        .collect();
    // Written under a temporary name, then moved in.
    let tmp = w.path("spool/a.jsonl.part");
    std::fs::write(&tmp, &events).unwrap();
    std::fs::rename(&tmp, w.path("spool/a.jsonl")).unwrap();
    w.err.wait(0, 1, "the first file", |l| {
        l.starts_with("spool: applied `a.jsonl` (3 lines)")
    });
    assert!(w.path("spool/archive/a.jsonl").exists());
    assert!(!w.path("spool/a.jsonl").exists());
    // The same events again: refused, not applied twice. Moved in whole too: a file written in
    // place may be taken by the scanner before its bytes are there.
    std::fs::write(&tmp, &events).unwrap();
    std::fs::rename(&tmp, w.path("spool/b.jsonl")).unwrap();
    w.err.wait(0, 1, "the second file", |l| {
        l.starts_with("spool: applied `b.jsonl`")
    });
    w.signal("INT");
    let (out, err, _) = w.wait_exit();
    assert!(err.iter().any(|l| l.starts_with("watch: stopped (SIGINT)")));
    let records: Vec<Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        records
            .iter()
            .filter(|r| r["to"] == "awaiting_shipment")
            .count(),
        3
    );
    let dup: Vec<&Value> = records
        .iter()
        .filter(|r| r["error"] == "duplicate_id")
        .collect();
    assert_eq!(dup.len(), 3);
    assert!(dup[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("spool `b.jsonl`"));
}

#[test]
fn deadlines_fire_on_the_wall_clock_without_another_event() {
    // The clock stands at 10 February; a request of 1 February waits for review (7 days).
    let mut w = Watch::start(&[], "2026-02-10T00:00:00Z", true);
    w.send(&request("e1", "s1", "2026-02-01T00:00:00Z", 60.0));
    let i = w.out.wait(0, 1, "the review deadline", |l| {
        l.contains("\"trigger\":\"deadline:review\"")
    });
    let r: Value = serde_json::from_str(&w.out.all()[i]).unwrap();
    assert_eq!(r["to"], "overdue_cancelled");
    assert_eq!(r["at"], "2026-02-08T00:00:00Z");
    w.end();
}

#[test]
fn samples_in_flight_keep_their_armed_deadline_across_a_workflow_change() {
    // Ticks stand for the days passing: they may run ahead of the stopped wall clock.
    let mut w = Watch::start(&["--max-future", "30d"], NOW, true);
    let s1 = w.decide(&request("e1", "s1", "2026-02-01T00:00:00Z", 60.0));
    assert_eq!(s1["to"], "pending");
    let v1 = s1["workflow"].as_str().unwrap().to_string();
    // v2: requests expire after 3 days instead of 7.
    w.replace("workflows/sample.yaml", |t| {
        t.replacen("after: policy.review_window", "after: 3d", 1)
    });
    let i = w.err.wait(0, 1, "the swap", reload_line);
    assert!(w.err.all()[i].contains(&format!("workflow sample {v1} -> ")));
    let s2 = w.decide(&request("e2", "s2", "2026-02-01T00:00:00Z", 60.0));
    assert_ne!(s2["workflow"].as_str().unwrap(), v1);
    // Day 4: s2 expires under v2; s1 still waits (armed under v1 for day 8).
    let from = w.out.len();
    w.send(&json!({"id": "t1", "type": "tick", "at": "2026-02-05T00:00:00Z"}));
    let j = w
        .out
        .wait(from, 1, "s2 expiring", |l| l.contains("\"sample\":\"s2\""));
    let r: Value = serde_json::from_str(&w.out.all()[j]).unwrap();
    assert_eq!(
        (r["to"].as_str(), r["at"].as_str()),
        (Some("overdue_cancelled"), Some("2026-02-04T00:00:00Z"))
    );
    w.send(&json!({"id": "t2", "type": "tick", "at": "2026-02-09T00:00:00Z"}));
    let k = w
        .out
        .wait(from, 1, "s1 expiring", |l| l.contains("\"sample\":\"s1\""));
    let r: Value = serde_json::from_str(&w.out.all()[k]).unwrap();
    assert_eq!(r["at"], "2026-02-08T00:00:00Z");
    assert_eq!(r["to"], "overdue_cancelled");
    w.end();
}

#[test]
fn a_workflow_that_drops_a_state_with_live_samples_is_refused() {
    let mut w = Watch::start(&[], NOW, true);
    let s1 = w.decide(&request("e1", "s1", NOW, 60.0));
    assert_eq!(s1["to"], "pending");
    // A valid workflow whose `pending` is called `waiting`: s1 would sit nowhere.
    w.replace("workflows/sample.yaml", |t| {
        t.replacen("review: pending", "review: waiting", 1)
            .replacen("\n  pending:\n", "\n  waiting:\n", 1)
    });
    let i = w
        .err
        .wait(0, 1, "the refusal", |l| l.starts_with("reload refused"));
    let line = w.err.all()[i].clone();
    assert!(
        line.contains("`pending` of workflow `sample` (1 live sample)"),
        "{line}"
    );
    // The old workflow still runs: a review still lands in pending.
    let s2 = w.decide(&request("e2", "s2", NOW, 60.0));
    assert_eq!(s2["to"], "pending");
    assert_eq!(s2["workflow"], s1["workflow"]);
    w.end();
}

#[test]
fn a_rules_folder_swapped_by_symlink_is_reloaded_and_then_watched_where_it_points() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = common::shipped_rules();
    common::copy_dir(shipped.path(), &dir.path().join("rules-v1"));
    common::copy_dir(shipped.path(), &dir.path().join("rules-v2"));
    common::copy_dir(Path::new("workflows"), &dir.path().join("workflows"));
    let v2_policy = dir.path().join("rules-v2/policy.yaml");
    let text = std::fs::read_to_string(&v2_policy).unwrap();
    std::fs::write(&v2_policy, add_sports_floor(text)).unwrap();
    std::os::unix::fs::symlink("rules-v1", dir.path().join("rules")).unwrap();
    // Polling is slowed to a minute: what is seen here, notify saw.
    let mut w = Watch::start_in(dir, &["--poll-ms", "60000"], NOW, true);
    assert_eq!(
        w.decide(&request("e1", "s1", NOW, 20.0))["decision"],
        "approve"
    );

    // Re-point the link atomically: a new link renamed over the old one.
    std::os::unix::fs::symlink("rules-v2", w.path("rules.next")).unwrap();
    std::fs::rename(w.path("rules.next"), w.path("rules")).unwrap();
    w.err.wait(0, 1, "the swap to v2", reload_line);
    assert_eq!(
        w.decide(&request("e2", "s2", NOW, 20.0))["reason"],
        "low_followers"
    );

    // An edit inside the folder the link now points to is seen too.
    w.replace("rules-v2/policy.yaml", |t| {
        t.replacen("min_followers: 8000", "min_followers: 5500", 1)
    });
    let i = w.err.wait(0, 2, "the edit in v2", reload_line);
    assert!(w.err.all()[i].contains("files changed"));
    assert_eq!(
        w.decide(&request("e3", "s3", NOW, 20.0))["decision"],
        "approve"
    );
    w.end();
}

#[test]
fn a_line_of_stdin_that_is_not_utf8_is_refused_as_malformed_like_in_run() {
    let mut w = Watch::start(&[], NOW, true);
    let stdin = w.stdin.as_mut().unwrap();
    stdin.write_all(b"{\"id\":\"e\xff\"}\n").unwrap();
    stdin.flush().unwrap();
    let i = w.out.wait(0, 1, "the refusal", |l| l.contains("\"error\""));
    let r: Value = serde_json::from_str(&w.out.all()[i]).unwrap();
    assert_eq!(
        (r["line"].as_u64(), r["error"].as_str()),
        (Some(1), Some("malformed"))
    );
    assert!(r["message"].as_str().unwrap().contains("not UTF-8"));
    assert_eq!(
        w.decide(&request("e2", "s2", NOW, 20.0))["decision"],
        "approve"
    );
    w.end();
}

#[test]
fn an_event_far_past_the_wall_clock_is_refused_and_fires_nothing() {
    let mut w = Watch::start(&[], NOW, true);
    assert_eq!(w.decide(&request("e1", "s1", NOW, 60.0))["to"], "pending");
    for (id, event) in [
        (
            "x1",
            json!({"id": "x1", "type": "tick", "at": "9999-01-01T00:00:00Z"}),
        ),
        (
            "x2",
            json!({"id": "x2", "type": "sample_withdrawn", "at": "2026-02-02T00:00:01Z", "sample": "s1"}),
        ),
    ] {
        let from = w.out.len();
        w.send(&event);
        let i = w.out.wait(from, 1, "the refusal", |l| {
            l.contains(&format!("\"event\":\"{id}\""))
        });
        let r: Value = serde_json::from_str(&w.out.all()[i]).unwrap();
        assert_eq!(r["error"], "invalid_field", "{r}");
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .contains("more than 1d after the wall clock"),
            "{r}"
        );
    }
    // A day ahead is within the default allowance.
    let withdrawn = w.decide(&json!({"id": "x3", "type": "sample_withdrawn", "at": "2026-02-02T00:00:00Z", "sample": "s1"}));
    assert_eq!(
        (&withdrawn["from"], &withdrawn["to"]),
        (&json!("pending"), &json!("withdraw_cancelled"))
    );
    let (out, _, _) = w.end();
    assert!(
        !out.iter().any(|l| l.contains("deadline:")),
        "no deadline fired: {out:?}"
    );
}

#[test]
fn spool_entries_that_are_not_plain_named_files_are_moved_aside_unread() {
    use std::os::unix::ffi::OsStrExt;
    let w = Watch::start(&["--spool", "spool"], NOW, false);
    w.err.wait(0, 1, "stdin closed", |l| {
        l.contains("still watching the spool")
    });
    let events = format!("{}\n", request("e1", "s1", NOW, 20.0));
    // A link to a file of events outside the spool, a name that is not UTF-8, a newline in a
    // name: none is read, each is said once on a line of its own, and moved to `rejected/`.
    let outside = w.path("outside.jsonl");
    std::fs::write(&outside, &events).unwrap();
    std::os::unix::fs::symlink(&outside, w.path("spool/link.jsonl")).unwrap();
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.jsonl");
    std::fs::write(w.path("spool").join(latin1), &events).unwrap();
    std::fs::write(w.path("spool/two\nlines.jsonl"), &events).unwrap();
    for what in ["link.jsonl", "caf\u{fffd}.jsonl", "two\\nlines.jsonl"] {
        w.err.wait(0, 1, what, |l| {
            l.starts_with(&format!("spool: refused `{what}`")) && l.contains("unread")
        });
    }
    assert!(w.path("spool/rejected/link.jsonl").is_symlink());
    assert!(w.path("spool/rejected").join(latin1).exists());
    assert!(w.path("spool/rejected/two\nlines.jsonl").exists());
    assert!(outside.exists(), "the link's target is left alone");
    w.signal("TERM");
    let (out, _, _) = w.wait_exit();
    assert!(out.is_empty(), "nothing was applied: {out:?}");
}

#[test]
fn a_watch_that_died_between_writing_out_and_committing_writes_no_record_twice() {
    // The first spool file is committed; the second one's commit aborts the process with its
    // records already written to --out (rows written, not committed).
    let dir = tempfile::tempdir().unwrap();
    let rules = common::shipped_rules();
    common::copy_dir(rules.path(), &dir.path().join("rules"));
    common::copy_dir(Path::new("workflows"), &dir.path().join("workflows"));
    std::fs::create_dir_all(dir.path().join("spool")).unwrap();
    for (file, from) in [("a.jsonl", 0), ("b.jsonl", 40)] {
        let events: String = (from..from + 40)
            .map(|i| {
                format!(
                    "{}\n",
                    request(&format!("e{i}"), &format!("s{i}"), NOW, 20.0)
                )
            })
            .collect();
        std::fs::write(dir.path().join("spool").join(file), events).unwrap();
    }
    let crashed = Command::new(env!("CARGO_BIN_EXE_sampleflow"))
        .current_dir(dir.path())
        .args([
            "--db",
            "w.db",
            "watch",
            "--spool",
            "spool",
            "--out",
            "out.jsonl",
        ])
        .env("SAMPLEFLOW_NOW", NOW)
        .env("SAMPLEFLOW_CRASH", "commit:2")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "aborted in its second commit");
    let written = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(
        written.lines().count(),
        80,
        "both files' records were written out"
    );

    // Started again: --out is cut back to the first commit, the second file is applied again.
    let w = Watch::start_in(dir, &["--spool", "spool", "--out", "out.jsonl"], NOW, false);
    w.err.wait(0, 1, "the cut", |l| {
        l.contains("cut back to the last commit")
    });
    w.err.wait(0, 1, "b again", |l| {
        l.starts_with("spool: applied `b.jsonl` (40 lines)")
    });
    w.signal("TERM");
    let (_, _, dir) = w.wait_exit();
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let events: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].to_string())
        .collect();
    let unique: std::collections::BTreeSet<&String> = events.iter().collect();
    assert_eq!(events.len(), 80, "{out}");
    assert_eq!(unique.len(), 80, "no record twice");
}

#[test]
fn a_reload_of_a_file_that_broke_the_renderer_is_refused_and_a_later_edit_loads() {
    let mut w = Watch::start(&[], NOW, true);
    let first = w.decide(&request("e1", "s1", NOW, 20.0));
    let old = first["rules"].as_str().unwrap().to_string();
    w.replace("rules/policy.yaml", |t| {
        t.replacen(
            "default:",
            &format!("{}: 1\ndefault:", "k".repeat(66_000)),
            1,
        )
    });
    w.err
        .wait(0, 1, "the refusal", |l| l.starts_with("reload refused"));
    w.replace("rules/policy.yaml", |t| {
        let start = t.find(&"k".repeat(100)).unwrap();
        let end = start + t[start..].find('\n').unwrap() + 1;
        add_sports_floor(format!("{}{}", &t[..start], &t[end..]))
    });
    w.err.wait(0, 1, "the swap", reload_line);
    let second = w.decide(&request("e2", "s2", NOW, 20.0));
    assert_ne!(second["rules"].as_str().unwrap(), old);
    assert_eq!(second["reason"], "low_followers");
    w.end();
}
