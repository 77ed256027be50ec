//! Property tests of the runner (in-memory store, bounded cases): random event sequences,
//! valid or not, in or out of order, never panic and never leave a sample in a state that the
//! workflow lacks; and a runner rebuilt from its store halfway ends where one that never stopped
//! ends.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use proptest::prelude::*;
use sampleflow::machinery::model::{Output, Snapshot};
use sampleflow::machinery::runtime::{Program, Runner};
use sampleflow::machinery::store::{Batch, MemoryStore, Store};
use serde_json::{json, Value};

fn program() -> Program {
    static PROGRAM: OnceLock<Program> = OnceLock::new();
    PROGRAM.get_or_init(common::shipped_program).clone()
}

const TYPES: &[&str] = &[
    "sample_requested",
    "sample_reviewed",
    "sample_withdrawn",
    "sample_shipped",
    "tracking_updated",
    "sample_delivered",
    "delivery_failed",
    "extension_requested",
    "appeal_filed",
    "content_posted",
    "content_removed",
    "content_metrics",
    "product_unavailable",
    "creator_adjusted",
    "tick",
    "sample_vanished",
];

/// One event line from a handful of choices: few samples, creators and products, so that
/// events meet; hours that mostly go forward; fields that are sometimes missing or wrong.
fn line() -> impl Strategy<Value = (u8, u8, u8, i64, u8, u8)> {
    (
        0..TYPES.len() as u8,
        0u8..4,
        0u8..3,
        -30i64..400,
        0u8..8,
        0u8..20,
    )
}

fn render(
    n: usize,
    (t, s, c, hours, pick, noise): (u8, u8, u8, i64, u8, u8),
    clock: &mut i64,
) -> String {
    if noise == 0 {
        return "{not json".to_string();
    }
    *clock += hours;
    let at = chrono::DateTime::from_timestamp(1_772_000_000 + *clock * 3600, 0)
        .unwrap()
        .to_rfc3339();
    let kind = TYPES[t as usize];
    let sample = format!("s{s}");
    let mut e = json!({"id": format!("e{n}"), "type": kind, "at": at, "sample": sample});
    let content = format!("v{}", pick % 3);
    let p = pick as usize;
    let followers = [500, 4000, 20000, 90000][p % 4];
    let category = ["beauty", "electronics", "apparel", "adult"][p % 4];
    let price = [20, 80][p % 2];
    let decision = ["approve", "reject", "maybe"][p % 3];
    let format = ["video", "live"][p % 2];
    let extra = match kind {
        "sample_requested" => json!({
            "creator": {"id": format!("c{c}"), "followers": followers,
                        "engagement_rate": 0.05, "posts_30d": pick as i64,
                        "fulfillment_rate_90d": if pick % 3 == 0 { Value::Null } else { json!(0.3 + pick as f64 / 10.0 * 0.7) },
                        "top_categories": ["beauty"]},
            "product": {"id": format!("p{}", c % 2), "category": category,
                        "price": price, "unit_cost": 5},
            "quantity": 1 + (pick % 3) as i64,
        }),
        "sample_reviewed" => json!({"decision": decision}),
        "sample_shipped" if pick != 7 => json!({"tracking_number": "1Z", "shipping_cost": pick}),
        "delivery_failed" => json!({"reason": "lost"}),
        "content_posted" => json!({"content_id": content, "format": format,
                                   "has_product_link": pick % 4 != 0, "live_minutes": pick * 3}),
        "content_removed" => json!({"content_id": content}),
        "content_metrics" => json!({"content_id": content, "gmv": pick as f64 * 90.0}),
        "product_unavailable" => {
            json!({"product": {"id": format!("p{}", c % 2)}, "reason": "deactivated"})
        }
        "creator_adjusted" => {
            json!({"creator": {"id": format!("c{c}")}, "block_days": pick % 3, "credit": -1})
        }
        _ => json!({}),
    };
    if let (Some(e), Value::Object(extra)) = (e.as_object_mut(), extra) {
        e.extend(extra);
    }
    if noise == 1 {
        // A repeated id.
        e["id"] = json!("e0");
    }
    e.to_string()
}

fn check(runner: &Runner, out: &[Output], states: &BTreeSet<String>) {
    for o in out {
        if let Output::Record(r) = o {
            assert!(
                states.contains(r.to.as_str()),
                "record into unknown state {}",
                r.to
            );
        }
    }
    for inst in runner.samples() {
        assert!(
            states.contains(inst.state()),
            "sample in unknown state {}",
            inst.state()
        );
        let terminal = runner.program().flows["sample"]
            .graph
            .is_terminal(inst.state());
        if terminal == Some(true) {
            assert!(inst.deadlines.is_empty(), "an ended sample keeps deadlines");
        }
    }
    for (_, ledger) in runner.ledgers() {
        assert!(
            ledger.products.values().all(|p| p.open >= 0),
            "negative open count"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_streams_keep_samples_in_known_states(
        events in proptest::collection::vec(line(), 1..40),
        reload_at in 0usize..40,
    ) {
        let program = program();
        let states: BTreeSet<String> = program.flows["sample"].graph.workflow().states
            .iter().map(|s| s.name.value.clone()).collect();
        let mut clock = 0;
        let lines: Vec<String> = events.iter().enumerate().map(|(n, e)| render(n, *e, &mut clock)).collect();

        // Straight through.
        let mut straight = Runner::new(program.clone(), Snapshot::default());
        let mut out = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            straight.apply_line(n as u64 + 1, line);
            out.extend(straight.drain_output());
        }
        straight.finish();
        out.extend(straight.drain_output());
        check(&straight, &out, &states);

        // Committed to a store and rebuilt from it halfway.
        let mut store = MemoryStore::new();
        let mut runner = Runner::new(program.clone(), Snapshot::default());
        let mut again = Vec::new();
        let mut applied = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            if n == reload_at.min(lines.len()) {
                let batch = Batch { changes: runner.take_changes(), ..Batch::default() };
                store.commit(&batch).unwrap();
                let mut snapshot = store.load().unwrap();
                snapshot.applied = applied.clone();
                let stats = runner.stats.clone();
                runner = Runner::new(program.clone(), snapshot);
                runner.stats = stats;
            }
            applied.extend(runner.apply_line(n as u64 + 1, line).map(|id| id.to_string()));
            again.extend(runner.drain_output());
        }
        runner.finish();
        again.extend(runner.drain_output());
        check(&runner, &again, &states);
        let records = |o: &[Output]| o.iter().filter_map(|o| match o {
            Output::Record(r) => Some(serde_json::to_string(r).unwrap()),
            _ => None,
        }).collect::<Vec<_>>();
        prop_assert_eq!(records(&out), records(&again));
    }
}
