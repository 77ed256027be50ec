//! The real binary on the shipped example: `run`'s summary, `queue`, `show`.

mod common;

use common::bin;

#[test]
fn run_then_queue_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ex.db");
    let run = bin(&db)
        .args(["run", "examples/events.jsonl"])
        .output()
        .unwrap();
    assert!(run.status.success());
    let summary = String::from_utf8(run.stderr).unwrap();
    assert!(summary.contains("335 applied, 7 refused"), "{summary}");
    assert!(summary.contains("pending 3"), "{summary}");

    let queue = bin(&db)
        .args(["queue", "--format", "json"])
        .output()
        .unwrap();
    assert!(queue.status.success());
    let items: Vec<serde_json::Value> = String::from_utf8(queue.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reasons: Vec<&str> = items
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["price_cap", "unknown_fulfillment", "category_mismatch"]
    );
    assert!(items
        .windows(2)
        .all(|w| w[0]["expires"].as_str() <= w[1]["expires"].as_str()));

    let show = bin(&db).args(["show", "s2"]).output().unwrap();
    let records = String::from_utf8(show.stdout).unwrap();
    assert_eq!(
        records
            .lines()
            .next()
            .map(|l| l.contains("\"sample\":\"s2\"")),
        Some(true)
    );
    assert!(records.lines().count() >= 5);

    let creator = bin(&db)
        .args(["show", "--creator", "c18"])
        .output()
        .unwrap();
    let ledger: serde_json::Value = serde_json::from_slice(&creator.stdout).unwrap();
    assert_eq!(ledger["breaches"].as_array().map(Vec::len), Some(2));
    assert!(
        ledger["blocked_until"].is_string(),
        "the second breach blocks"
    );

    let unknown = bin(&db).args(["show", "nope"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    let missing = bin(&dir.path().join("none.db"))
        .args(["show", "--all"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}
