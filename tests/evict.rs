//! A runner that lets ended samples and idle ledgers leave memory (as `watch` does) writes
//! exactly what a runner that keeps everything writes: every record, every refusal, on the
//! shipped example and on a generated stream, with samples and creators read back from the
//! store whenever an event names them again.

mod common;

use std::sync::{Arc, Mutex};

use sampleflow::rules::Ledger;
use sampleflow::runtime::gen::{generate, Options};
use sampleflow::runtime::{Fallback, Instance, Runner, Snapshot};
use sampleflow::store::{Batch, MemoryStore, Store};

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

#[test]
fn evicting_ended_samples_changes_no_output_of_a_generated_stream() {
    let mut text = Vec::new();
    let options = Options {
        samples: 1_500,
        seed: 7,
        ..Options::default()
    };
    generate(&options, &mut text).unwrap();
    let lines: Vec<String> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let reference = kept(&lines);
    let (out, evicted) = evicting(&lines, 50);
    assert!(evicted > 1_000, "samples left memory: {evicted}");
    assert_eq!(out, reference);
}
