//! The real binary on the shipped example: `run`'s summary, `queue`, `show`.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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

#[test]
fn run_reads_standard_input_as_dash_or_as_dev_stdin_and_a_second_run_refuses_every_line() {
    let file = std::fs::read("examples/events.jsonl").unwrap();
    let mut outputs = Vec::new();
    for input in ["-", "/dev/stdin", "examples/events.jsonl"] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ex.db");
        let run = |db: &std::path::Path| {
            let mut child = bin(db)
                .args(["run", input])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let bytes = file.clone();
            let feeder = std::thread::spawn(move || {
                // A run of the file itself reads no stdin: a closed pipe is no failure here.
                let _ = std::io::Write::write_all(&mut stdin, &bytes);
            });
            let out = child.wait_with_output().unwrap();
            feeder.join().unwrap();
            assert!(out.status.success(), "{input}: {out:?}");
            out
        };
        let first = run(&db);
        let summary = String::from_utf8_lossy(&first.stderr).into_owned();
        assert!(
            summary.contains("335 applied, 7 refused"),
            "{input}: {summary}"
        );
        outputs.push(first.stdout);
        // The second run: every event already applied is a duplicate, the bad lines are refused
        // as before, nothing is written.
        let second = run(&db);
        let summary = String::from_utf8_lossy(&second.stderr).into_owned();
        assert!(
            summary.contains("0 applied, 342 refused (duplicate_id 336,"),
            "{input}: {summary}"
        );
        assert!(summary.contains("records written: 0"), "{input}: {summary}");
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    assert_eq!(String::from_utf8_lossy(&outputs[0]).lines().count(), 368);
}
