//! A runner that lets ended samples and idle ledgers leave memory (as `watch` does) writes
//! exactly what a runner that keeps everything writes: every record, every refusal, on the
//! shipped example and on a generated stream, with samples and creators read back from the
//! store whenever an event names them again.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use sampleflow::machinery::model::Ledger;
use sampleflow::machinery::model::{Fallback, Instance, Snapshot};
use sampleflow::machinery::runtime::Runner;
use sampleflow::machinery::runtime::{generate, GenOptions as Options};
use sampleflow::machinery::store::{Batch, MemoryStore, Store};

/// A store shared by the runner's writer and its fallback, as the SQLite file is in `watch`.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<MemoryStore>>);

impl Fallback for Shared {
    fn sample(&mut self, id: &str) -> Option<Instance> {
        self.0.lock().unwrap().sample(id).unwrap()
    }

    fn ledger(&mut self, creator: &str) -> Option<Ledger> {
        self.0.lock().unwrap().ledger(creator).unwrap()
    }
}

/// Every output line of `lines`, with everything kept in memory.
fn kept(lines: &[String]) -> Vec<String> {
    let mut runner = Runner::new(common::shipped_program(), Snapshot::default());
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        runner.apply_line(i as u64 + 1, line);
        out.extend(runner.drain_output().map(|o| o.to_json()));
    }
    runner.finish();
    out.extend(runner.drain_output().map(|o| o.to_json()));
    out
}

/// The same, committing every `every` lines and evicting all that ended after each commit;
/// also how many samples left memory in all.
fn evicting(lines: &[String], every: usize) -> (Vec<String>, usize) {
    let store = Shared::default();
    let mut runner = Runner::new(common::shipped_program(), Snapshot::default());
    runner.set_fallback(Box::new(store.clone()));
    let mut out = Vec::new();
    let mut evicted = 0;
    for (i, line) in lines.iter().enumerate() {
        runner.apply_line(i as u64 + 1, line);
        out.extend(runner.drain_output().map(|o| o.to_json()));
        if (i + 1) % every == 0 {
            let batch = Batch {
                changes: runner.take_changes(),
                ..Batch::default()
            };
            store.0.lock().unwrap().commit(&batch).unwrap();
            evicted += runner.evict(true);
        }
    }
    runner.finish();
    out.extend(runner.drain_output().map(|o| o.to_json()));
    (out, evicted)
}

#[test]
fn evicting_ended_samples_changes_no_output_of_the_example() {
    let mut lines: Vec<String> = std::fs::read_to_string("examples/events.jsonl")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Events for what has surely left memory by then: metrics of a completed sample, a request
    // reusing an ended sample's id, a hand adjustment and a new request of their creators.
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let sample = first["sample"].as_str().unwrap().to_string();
    let creator = first["creator"]["id"].as_str().unwrap().to_string();
    let at = "2026-06-01T00:00:00Z";
    lines.extend([
        serde_json::json!({"id": "late-1", "type": "content_metrics", "at": at, "sample": sample,
                           "content_id": "v-late", "gmv": 12.5})
        .to_string(),
        first
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("id".into(), "late-2".into());
                o.insert("at".into(), at.into());
                serde_json::Value::Object(o).to_string()
            })
            .unwrap(),
        serde_json::json!({"id": "late-3", "type": "creator_adjusted", "at": at,
                           "creator": {"id": creator}, "credit": -3})
        .to_string(),
        first
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("id".into(), "late-4".into());
                o.insert("sample".into(), "late-sample".into());
                o.insert("at".into(), at.into());
                serde_json::Value::Object(o).to_string()
            })
            .unwrap(),
    ]);
    let reference = kept(&lines);
    for every in [1, 7] {
        let (out, evicted) = evicting(&lines, every);
        assert!(evicted > 20, "samples left memory: {evicted}");
        assert_eq!(out, reference, "committing every {every} lines");
    }
}

/// The lines of a generated stream of `samples`.
fn generated_lines(samples: u64, seed: u64) -> Vec<String> {
    let mut text = Vec::new();
    let options = Options {
        samples,
        seed,
        ..Options::default()
    };
    generate(&options, &mut text).unwrap();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn evicting_ended_samples_changes_no_output_of_a_generated_stream() {
    let lines = generated_lines(1_500, 7);
    let reference = kept(&lines);
    let (out, evicted) = evicting(&lines, 50);
    assert!(evicted > 1_000, "samples left memory: {evicted}");
    assert_eq!(out, reference);
}

/// The same as `evicting`, with a writer that lags: each batch is committed only `lag` batches
/// after it was taken, and an eviction is marked at one batch and done once that batch is
/// committed (as `run` does), while later batches change samples and ledgers the mark saw.
fn evicting_lazily(lines: &[String], every: usize, lag: usize) -> (Vec<String>, usize) {
    let store = Shared::default();
    let mut runner = Runner::new(common::shipped_program(), Snapshot::default());
    runner.set_fallback(Box::new(store.clone()));
    let mut out = Vec::new();
    let mut queued: std::collections::VecDeque<Batch> = Default::default();
    let (mut sent, mut committed, mut marked_at, mut evicted) = (0, 0, 0, 0);
    for (i, line) in lines.iter().enumerate() {
        runner.apply_line(i as u64 + 1, line);
        out.extend(runner.drain_output().map(|o| o.to_json()));
        if (i + 1) % every == 0 {
            queued.push_back(Batch {
                changes: runner.take_changes(),
                ..Batch::default()
            });
            sent += 1;
            while queued.len() > lag {
                let batch = queued.pop_front().unwrap();
                store.0.lock().unwrap().commit(&batch).unwrap();
                committed += 1;
            }
            if runner.eviction_marked() {
                if committed >= marked_at {
                    evicted += runner.evict_marked();
                }
            } else if runner.wants_eviction() {
                runner.mark_eviction();
                marked_at = sent;
            }
        }
    }
    runner.finish();
    out.extend(runner.drain_output().map(|o| o.to_json()));
    (out, evicted)
}

#[test]
fn a_marked_eviction_done_after_its_commit_changes_no_output() {
    let lines = generated_lines(1_500, 11);
    let reference = kept(&lines);
    std::env::set_var("SAMPLEFLOW_EVICT_AFTER", "10");
    for (every, lag) in [(13, 1), (7, 3), (50, 2)] {
        let (out, evicted) = evicting_lazily(&lines, every, lag);
        assert!(evicted > 500, "samples left memory: {evicted}");
        assert_eq!(
            out, reference,
            "batches of {every} lines, committed {lag} late"
        );
    }
}

/// A generated stream of `samples` in a new folder: the folder, the file and its text.
fn generated(samples: u64, seed: u64) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.jsonl");
    let mut text = Vec::new();
    let options = Options {
        samples,
        seed,
        ..Options::default()
    };
    generate(&options, &mut text).unwrap();
    std::fs::write(&events, &text).unwrap();
    (dir, events, text)
}

/// `run` through the binary on the SQLite store, evicting every `every` endings.
fn run_binary(events: &std::path::Path, every: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let out = common::bin(&db)
        .env("SAMPLEFLOW_EVICT_AFTER", every)
        .env("SAMPLEFLOW_BATCH", "97")
        .arg("run")
        .arg(events)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let summary = common::stderr(&out);
    let records = String::from_utf8(out.stdout).unwrap();
    (dir, records, summary)
}

#[test]
fn run_that_lets_ended_samples_go_writes_what_a_run_that_keeps_them_writes() {
    let (_dir, events, text) = generated(1_500, 7);
    // Every 25 endings (after a commit) against never.
    let (a, records_a, summary_a) = run_binary(&events, "25");
    let (b, records_b, summary_b) = run_binary(&events, "1000000000");
    assert!(records_a.lines().count() > 9_000);
    assert_eq!(records_a, records_b);
    // The summary's samples per state come from the store, whatever left memory.
    let states = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("samples: "))
            .unwrap()
            .to_string()
    };
    assert_eq!(states(&summary_a), states(&summary_b));
    // Samples did leave memory in the one, and not in the other.
    assert!(
        summary_a.contains(" ended samples left it once committed"),
        "{summary_a}"
    );
    assert!(!summary_b.contains("left it once committed"), "{summary_b}");
    let requested = String::from_utf8_lossy(&text)
        .matches("\"type\":\"sample_requested\"")
        .count();
    assert!(
        states(&summary_a).starts_with(&format!("samples: {requested} (")),
        "{summary_a}"
    );
    // And the store holds the same samples and ledgers.
    let all = |d: &tempfile::TempDir| {
        let out = common::bin(&d.path().join("s.db"))
            .args(["show", "--all"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(all(&a), all(&b));
    let creator = |d: &tempfile::TempDir, c: &str| {
        let out = common::bin(&d.path().join("s.db"))
            .args(["show", "--creator", c])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    for c in ["c1", "c17", "c300"] {
        assert_eq!(creator(&a, c), creator(&b, c), "ledger of {c}");
    }
}

#[test]
fn diff_that_lets_ended_samples_go_finds_what_a_diff_that_keeps_them_finds() {
    let (dir, events, _) = generated(1_200, 11);
    // A candidate that changes decisions: a lower price cap.
    let cand = common::shipped_rules();
    let policy = cand.path().join("policy.yaml");
    let p = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, p.replace("price_cap: 50", "price_cap: 20")).unwrap();
    let diff = |every: &str| {
        let out = common::bin(&dir.path().join("none.db"))
            .env("SAMPLEFLOW_EVICT_AFTER", every)
            // Spilling replays run one after the other, as a large input's do.
            .env(
                "SAMPLEFLOW_DIFF_PARALLEL_BELOW",
                if every == "10" { "0" } else { "1000000000000" },
            )
            .args(["diff", "--base", "rules", "--candidate"])
            .arg(cand.path())
            .arg(&events)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
        let said = common::stderr(&out);
        (String::from_utf8(out.stdout).unwrap(), said)
    };
    let (spilling, said) = diff("10");
    let (keeping, kept) = diff("1000000000");
    assert_eq!(spilling, keeping);
    // Both replays spilled in the one, neither in the other.
    assert!(said.contains("of the base replay left memory"), "{said}");
    assert!(
        said.contains("of the candidate replay left memory"),
        "{said}"
    );
    assert!(!kept.contains("left memory"), "{kept}");
    let d: serde_json::Value = serde_json::from_str(&spilling).unwrap();
    assert!(
        d["summary"]["changed"].as_u64().unwrap() > 50,
        "{}",
        d["summary"]
    );
}
