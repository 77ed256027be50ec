//! `docs/events.md` is run, not just read: its lifecycle lines must all apply through the shipped
//! workflow and rules, its refusals must give exactly the error records it shows, its record
//! example must be what the runner writes, and it must give an example of every event type and
//! every error kind.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use sampleflow::machinery::model::{ErrorKind, Output, Snapshot};
use sampleflow::machinery::runtime::Runner;
use serde_json::Value;

/// The fenced blocks of `lang` in `text`, in order, each as its lines.
fn blocks<'a>(text: &'a str, lang: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, l) if l == format!("```{lang}") => current = Some(Vec::new()),
            (Some(_), "```") => out.extend(current.take()),
            (Some(block), l) => block.push(l),
            (None, _) => {}
        }
    }
    out
}

fn outputs(runner: &mut Runner) -> Vec<Output> {
    runner.drain_output().collect()
}

#[test]
fn the_event_page_is_what_the_runner_does() {
    let text = std::fs::read_to_string("docs/events.md").unwrap();
    let jsonl = blocks(&text, "jsonl");
    assert_eq!(jsonl.len(), 2, "a lifecycle block and a refusals block");
    let (lifecycle, refusals) = (&jsonl[0], &jsonl[1]);

    let mut runner = Runner::new(common::shipped_program(), Snapshot::default());
    let mut records = Vec::new();
    for (i, line) in lifecycle.iter().enumerate() {
        assert!(runner.apply_line(i as u64 + 1, line).is_some(), "{line}");
        for out in outputs(&mut runner) {
            match out {
                Output::Record(r) => records.push(r),
                other => panic!("the lifecycle line {} gave {}", i + 1, other.to_json()),
            }
        }
    }
    runner.finish();
    // Every event type has its line.
    for t in sampleflow::machinery::model::vocab::EVENT_TYPES {
        assert!(
            lifecycle
                .iter()
                .any(|l| l.contains(&format!("\"type\":\"{}\"", t.name))),
            "no example of `{}`",
            t.name
        );
    }
    let states: Vec<(String, String)> = runner
        .samples()
        .map(|s| (s.id().to_string(), s.state().to_string()))
        .collect();
    for (sample, state) in [
        ("s1", "completed"),
        ("s2", "unfulfillable_cancelled"),
        ("s3", "withdraw_cancelled"),
        ("s4", "unfulfillable_cancelled"),
        ("s5", "unfulfillable_cancelled"),
    ] {
        assert!(
            states.contains(&(sample.to_string(), state.to_string())),
            "{sample} is not {state}: {states:?}"
        );
    }
    assert_eq!(runner.ledger("c2").map(|l| l.credit), Some(-5.0));

    // The record example is the reviewer's record of `ev-2`, hashes and all but for their values.
    let example: Value = serde_json::from_str(blocks(&text, "json")[0][0]).unwrap();
    let reviewed = records
        .iter()
        .find(|r| r.event.as_deref() == Some("ev-2"))
        .unwrap();
    assert_eq!(
        common::redact(serde_json::to_value(reviewed).unwrap()),
        common::redact(example)
    );

    let mut errors = Vec::new();
    for (i, line) in refusals.iter().enumerate() {
        runner.apply_line(i as u64 + 1, line);
        for out in outputs(&mut runner) {
            if let Output::Error(e) = out {
                errors.push(serde_json::to_string(&e).unwrap());
            }
        }
    }
    let shown: Vec<String> = blocks(&text, "text")
        .last()
        .unwrap()
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(errors, shown);
    for kind in ErrorKind::ALL {
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("\"error\":\"{}\"", kind.as_str()))),
            "no example of `{}`",
            kind.as_str()
        );
    }
}
