//! Fixture runs: events in, records out, through the shipped workflow and rules.
//!
//! Each `tests/fixtures/runs/*.yaml` holds a `description`, optional `policy` overrides per
//! category and `events` (objects, or `{raw: "..."}` for a line as written). The records, the
//! samples' end states and the ledgers are snapshotted with the hashes redacted. Every run is
//! then fed its own events again, which must change nothing.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sampleflow::machinery::model::{Output, SampleView, Snapshot};
use sampleflow::machinery::runtime::{Program, Runner};
use serde_json::{json, Value};

#[derive(serde::Deserialize)]
struct Fixture {
    #[allow(dead_code)]
    description: String,
    #[serde(default)]
    policy: BTreeMap<String, BTreeMap<String, serde_yaml::Value>>,
    events: Vec<serde_yaml::Value>,
}

/// Defaults that fixtures' requests override: a creator and a product that auto-approve.
fn with_defaults(mut event: Value) -> Value {
    if event["type"] != "sample_requested" {
        return event;
    }
    let creator = json!({"followers": 20000, "engagement_rate": 0.05, "posts_30d": 10,
        "fulfillment_rate_90d": 0.9, "top_categories": ["beauty", "apparel", "home"]});
    let product = json!({"category": "beauty", "price": 20, "unit_cost": 6});
    for (key, defaults) in [("creator", creator), ("product", product)] {
        let mut merged = defaults;
        if let (Some(m), Some(given)) = (merged.as_object_mut(), event[key].as_object()) {
            for (k, v) in given {
                m.insert(k.clone(), v.clone());
            }
        }
        event[key] = merged;
    }
    event
}

fn lines(fixture: &Fixture) -> Vec<String> {
    fixture
        .events
        .iter()
        .map(|e| {
            let value: Value = serde_json::to_value(e).expect("json");
            match value.get("raw").and_then(Value::as_str) {
                Some(raw) => raw.to_string(),
                None => with_defaults(value).to_string(),
            }
        })
        .collect()
}

fn program(fixture: &Fixture) -> Program {
    let program = common::shipped_program();
    let mut policy = program.rules.policy().clone();
    for (category, overrides) in &fixture.policy {
        policy = policy
            .with_overrides(category, overrides)
            .expect("override");
    }
    program.with_rules(Arc::new(program.rules.with_policy(policy)))
}

fn apply(runner: &mut Runner, lines: &[String]) -> Vec<Output> {
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        runner.apply_line(n as u64 + 1, line);
        out.extend(runner.drain_output());
    }
    runner.finish();
    out.extend(runner.drain_output());
    out
}

/// Every reason code, action and error kind that the fixtures must reach between them.
const REASONS: &[&str] = &[
    "restricted_category",
    "blocked",
    "recent_breach",
    "duplicate_product",
    "cooldown",
    "quarter_limit",
    "low_followers",
    "low_fulfillment",
    "unknown_fulfillment",
    "category_mismatch",
    "bulk_request",
    "price_cap",
    "low_engagement",
    "inactive",
    "daily_quota",
    "auto_approved",
    "manual_review",
    "review_expired",
    "not_shipped",
    "lost",
    "no_content",
    "kept_up",
    "remind",
    "live_qualified",
    "not_qualifying",
    "appeal",
    "withdrawn",
    "customs_hold",
    "out_of_stock",
];

#[test]
fn fixture_runs() {
    let mut seen = BTreeSet::new();
    insta::glob!("fixtures/runs/*.yaml", |path| {
        let fixture: Fixture =
            serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let program = program(&fixture);
        let states: BTreeSet<String> = program.flows["sample"]
            .graph
            .workflow()
            .states
            .iter()
            .map(|s| s.name.value.clone())
            .collect();
        let lines = lines(&fixture);
        let mut runner = Runner::new(program, Snapshot::default());
        let out = apply(&mut runner, &lines);
        let mut records = Vec::new();
        for o in &out {
            match o {
                Output::Record(r) => {
                    seen.extend(r.reason.clone());
                    seen.extend(r.actions.iter().map(|a| a.kind.clone()));
                }
                Output::Error(e) => {
                    seen.insert(e.error.clone());
                }
                other => panic!("an output this test does not know: {}", other.to_json()),
            }
            if let Output::Record(r) = o {
                assert!(states.contains(r.to.as_str()), "{} is no state", r.to);
                assert!(r.at <= runner.clock().unwrap(), "a record after the clock");
            }
            records.push(common::redact(serde_json::from_str(&o.to_json()).unwrap()));
        }
        let mut samples: Vec<_> = runner.samples().collect();
        samples.sort_by(|a, b| a.id().cmp(b.id()));
        let samples: Vec<Value> = samples
            .into_iter()
            .map(|i| {
                let mut v = serde_json::to_value(SampleView::of(i, "default")).unwrap();
                v["rules"] = json!("[rules]");
                v
            })
            .collect();
        let ledgers: BTreeMap<String, Value> = runner
            .ledgers()
            .map(|(k, l)| (k.to_string(), serde_json::to_value(l).unwrap()))
            .collect();
        insta::assert_yaml_snapshot!(json!({
            "records": records,
            "samples": samples,
            "ledgers": ledgers,
        }));

        // The same events again change nothing.
        let before: Vec<String> = runner
            .samples()
            .map(|i| serde_json::to_string(i).unwrap())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let again = apply(&mut runner, &lines);
        assert!(
            again.iter().all(|o| matches!(o, Output::Error(_))),
            "{}: a second pass wrote records",
            path.display()
        );
        let after: Vec<String> = runner
            .samples()
            .map(|i| serde_json::to_string(i).unwrap())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(before, after);
    });
    let kinds = sampleflow::machinery::model::ErrorKind::ALL.map(|k| k.as_str());
    let actions = sampleflow::machinery::model::vocab::ACTION_TYPES;
    for name in REASONS.iter().chain(actions).chain(&kinds) {
        assert!(seen.contains(*name), "no fixture run reaches `{name}`");
    }
}
