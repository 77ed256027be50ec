//! The clock-jump guard, on the real binary and the example's store (its clock stands at
//! 2026-03-27T04:58:11Z, three requests wait for review): an ops command that takes the store
//! itself, at a time months past that clock, refuses with exit 2 and leaves the store's files
//! byte for byte as they were; `--catch-up` lets it go on; handed to a live `watch`, the check
//! does not arise.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Output;

use common::live::Watch;
use common::{example_store, stderr, stdout_json};

/// Months after the example's clock.
const LATER: &str = "2026-07-01T00:00:00Z";

fn ops(db: &Path, now: &str, args: &[&str]) -> Output {
    common::bin(db)
        .args(args)
        .env("SAMPLEFLOW_NOW", now)
        .output()
        .unwrap()
}

/// The bytes of the store's database and write-ahead log.
fn store_bytes(db: &Path) -> Vec<Vec<u8>> {
    ["", "-wal"]
        .iter()
        .map(|suffix| {
            let mut name = db.as_os_str().to_os_string();
            name.push(suffix);
            std::fs::read(name).unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_review_at_now_on_a_months_old_store_is_refused_and_writes_nothing() {
    let dir = example_store();
    let db = dir.path().join("s.db");
    let before = store_bytes(&db);

    let out = ops(&db, LATER, &["review", "s50", "--approve"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("error: `review` at 2026-07-01T00:00:00Z is 95d 19h past the store's clock, which stands at 2026-03-27T04:58:11Z, more than `--max-catch-up 1d`: 4 deadlines would fire first (moving `s49`, `s50`, `s51`, `s52`); nothing was written"),
        "{err}"
    );
    assert!(err.contains("--catch-up"), "{err}");
    assert_eq!(store_bytes(&db), before, "the store changed");

    // The same for ship and adjust.
    for args in [
        &["ship", "s50", "--tracking", "1Z"][..],
        &["adjust", "c50", "--credit", "5"],
    ] {
        let out = ops(&db, LATER, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(store_bytes(&db), before, "{args:?} changed the store");
    }

    // A wider allowance, from the flag or the environment, lets it through the guard.
    let out = ops(
        &db,
        "2026-03-27T10:00:00Z",
        &["review", "s50", "--approve", "--max-catch-up", "1h"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no deadline would fire first"),
        "{}",
        stderr(&out)
    );
    assert_eq!(store_bytes(&db), before);

    // --catch-up goes on: the clock moves to then, the review deadline fires first, and the
    // review comes too late.
    let out = ops(&db, LATER, &["review", "s50", "--approve", "--catch-up"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let fired = stdout_json(&out);
    assert!(
        fired
            .iter()
            .any(|r| r["sample"] == "s50" && r["to"] == "overdue_cancelled"),
        "{fired:?}"
    );
    assert_ne!(store_bytes(&db), before);
}

#[test]
fn an_event_within_the_allowance_goes_on_at_once() {
    let dir = example_store();
    let db = dir.path().join("s.db");
    // Four hours after the clock, within the default day.
    let out = ops(&db, "2026-03-27T09:00:00Z", &["review", "s50", "--approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)[0]["to"], "awaiting_shipment");
    // Given by the environment, a wider allowance lets a later one through.
    let out = common::bin(&db)
        .args(["review", "s51", "--approve"])
        .env("SAMPLEFLOW_NOW", "2026-03-29T09:00:00Z")
        .env("SAMPLEFLOW_MAX_CATCH_UP", "3d")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn handed_to_a_live_watch_the_check_does_not_arise() {
    // The watch's clock follows the wall clock (SAMPLEFLOW_NOW, months after the store's), so
    // its deadlines fired when it started; the ops command hands its event over and is answered.
    let dir = example_store();
    // The live watch's store is `w.db`.
    for suffix in ["", "-wal", "-shm"] {
        let from = dir.path().join(format!("s.db{suffix}"));
        if from.exists() {
            std::fs::rename(from, dir.path().join(format!("w.db{suffix}"))).unwrap();
        }
    }
    let rules = common::shipped_rules();
    common::copy_dir(rules.path(), &dir.path().join("rules"));
    common::copy_dir(Path::new("workflows"), &dir.path().join("workflows"));
    let w = Watch::start_in(dir, &["--spool", "inbox"], LATER, false);
    let out = common::bin(&w.path("w.db"))
        .args(["adjust", "c50", "--credit", "5"])
        .env("SAMPLEFLOW_NOW", LATER)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("past the store's clock"));
    w.signal("TERM");
    w.wait_exit();
}
