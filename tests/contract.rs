//! workflows/sample.yaml against the contract's tables: every state, every event's allowed
//! states and targets, every deadline. Nothing in the contract without its place in the graph.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use sampleflow::machinery::definition::{Move, Reason};
use sampleflow::{load_str, Duration, WorkflowGraph};

const OPEN: &[&str] = &[
    "pending",
    "awaiting_shipment",
    "shipped",
    "content_pending",
    "post_in_review",
];
const ENDS: &[&str] = &[
    "completed",
    "reject_cancelled",
    "overdue_cancelled",
    "seller_not_ship_cancelled",
    "withdraw_cancelled",
    "unfulfill_cancelled",
    "unfulfillable_cancelled",
];

/// The contract's event table: type, the states that take it.
const ALLOWED_IN: &[(&str, &[&str])] = &[
    ("sample_reviewed", &["pending"]),
    ("sample_withdrawn", &["pending", "awaiting_shipment"]),
    ("sample_shipped", &["awaiting_shipment"]),
    ("tracking_updated", &["shipped"]),
    ("sample_delivered", &["shipped"]),
    ("delivery_failed", &["shipped"]),
    (
        "extension_requested",
        &["content_pending", "post_in_review"],
    ),
    ("appeal_filed", &["content_pending", "post_in_review"]),
    (
        "content_posted",
        &["content_pending", "post_in_review", "completed"],
    ),
    ("content_removed", &["post_in_review", "completed"]),
    (
        "content_metrics",
        &["content_pending", "post_in_review", "completed"],
    ),
    ("product_unavailable", &["pending", "awaiting_shipment"]),
];

fn graph() -> WorkflowGraph {
    let text = std::fs::read_to_string("workflows/sample.yaml").unwrap();
    WorkflowGraph::build(load_str(Path::new("workflows/sample.yaml"), &text).unwrap())
}

/// (target, reason) for an outcome of a move, or for its plain target.
fn goes(m: &Move, outcome: Option<&str>) -> (String, Option<String>) {
    let reason = |r: &Option<sampleflow::Spanned<Reason>>| r.as_ref().map(|r| r.value.to_string());
    match outcome {
        None => (m.to.as_ref().unwrap().value.clone(), reason(&m.reason)),
        Some(name) => {
            let o = m.outcomes.iter().find(|o| o.name.value == name).unwrap();
            (o.to.value.clone(), reason(&o.reason).or(reason(&m.reason)))
        }
    }
}

fn to(state: &str, reason: Option<&str>) -> (String, Option<String>) {
    (state.to_string(), reason.map(str::to_string))
}

#[test]
fn states_and_ends() {
    let g = graph();
    let names: Vec<&str> = g
        .workflow()
        .states
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names.len(), OPEN.len() + ENDS.len());
    for state in OPEN {
        assert_eq!(g.is_terminal(state), Some(false), "{state}");
    }
    for state in ENDS {
        assert_eq!(g.is_terminal(state), Some(true), "{state}");
    }
}

#[test]
fn every_event_is_taken_exactly_where_the_contract_allows_it() {
    let g = graph();
    for (event, allowed) in ALLOWED_IN {
        for state in OPEN.iter().chain(ENDS) {
            assert_eq!(
                g.move_for(state, event).is_some(),
                allowed.contains(state),
                "`{event}` in `{state}`"
            );
        }
    }
    assert_eq!(g.initial().event.value, "sample_requested");
}

#[test]
fn every_event_goes_where_the_contract_says() {
    let g = graph();
    let m = |state: &str, event: &str| g.move_for(state, event).unwrap().clone();
    let initial = g.initial();
    assert_eq!(initial.hook.as_ref().unwrap().value, "screen");
    assert_eq!(
        goes(initial, Some("approve")),
        to("awaiting_shipment", None)
    );
    assert_eq!(goes(initial, Some("reject")), to("reject_cancelled", None));
    assert_eq!(goes(initial, Some("review")), to("pending", None));

    let reviewed = m("pending", "sample_reviewed");
    assert_eq!(reviewed.field.as_ref().unwrap().value, "decision");
    assert_eq!(
        goes(&reviewed, Some("approve")),
        to("awaiting_shipment", Some("manual_review"))
    );
    assert_eq!(
        goes(&reviewed, Some("reject")),
        to("reject_cancelled", Some("manual_review"))
    );

    for state in ["pending", "awaiting_shipment"] {
        assert_eq!(
            goes(&m(state, "sample_withdrawn"), None),
            to("withdraw_cancelled", Some("withdrawn"))
        );
        assert_eq!(
            goes(&m(state, "product_unavailable"), None),
            to("unfulfillable_cancelled", Some("event.reason"))
        );
    }
    assert_eq!(
        goes(&m("awaiting_shipment", "sample_shipped"), None),
        to("shipped", None)
    );
    assert_eq!(
        goes(&m("shipped", "tracking_updated"), None),
        to("shipped", None)
    );
    assert_eq!(
        goes(&m("shipped", "sample_delivered"), None),
        to("content_pending", None)
    );
    assert_eq!(
        goes(&m("shipped", "delivery_failed"), None),
        to("unfulfillable_cancelled", Some("event.reason"))
    );
    for state in ["content_pending", "post_in_review"] {
        assert_eq!(
            goes(&m(state, "extension_requested"), None),
            to(state, None)
        );
        assert_eq!(
            goes(&m(state, "appeal_filed"), None),
            to("unfulfillable_cancelled", Some("appeal"))
        );
    }
    for state in ["content_pending", "post_in_review", "completed"] {
        let metrics = m(state, "content_metrics");
        assert_eq!(goes(&metrics, None), to(state, None));
        assert_eq!(metrics.hook.as_ref().unwrap().value, "reward");
        let posted = m(state, "content_posted");
        assert_eq!(posted.hook.as_ref().unwrap().value, "content_check");
        assert_eq!(
            goes(&posted, Some("not_qualifying")),
            to(state, Some("not_qualifying"))
        );
        if state != "content_pending" {
            assert_eq!(goes(&posted, Some("qualifying_video")), to(state, None));
            assert_eq!(goes(&posted, Some("qualifying_live")), to(state, None));
        }
    }
    let posted = m("content_pending", "content_posted");
    assert_eq!(
        goes(&posted, Some("qualifying_video")),
        to("post_in_review", None)
    );
    assert_eq!(
        goes(&posted, Some("qualifying_live")),
        to("completed", Some("live_qualified"))
    );
    let removed = m("post_in_review", "content_removed");
    assert_eq!(
        goes(&removed, Some("keep_up_broken")),
        to("content_pending", None)
    );
    assert_eq!(goes(&removed, Some("other")), to("post_in_review", None));
    assert_eq!(
        goes(&m("completed", "content_removed"), None),
        to("completed", None)
    );
}

/// A workflow duration in seconds, `policy.<name>` read from the shipped policy's default.
fn resolve(text: &str) -> Duration {
    match Duration::parse(text).unwrap() {
        Duration::Policy(name) => {
            let policy = std::fs::read_to_string("rules/policy.yaml").unwrap();
            let policy = sampleflow::Policy::parse("rules/policy.yaml", &policy).unwrap();
            Duration::Seconds(policy.duration("default", &name).unwrap())
        }
        literal => literal,
    }
}

fn days(n: i64) -> Duration {
    Duration::Seconds(n * 86_400)
}

#[test]
fn state_deadlines_match_the_contract() {
    let g = graph();
    for (state, name, length, target, reason) in [
        (
            "pending",
            "review",
            7,
            "overdue_cancelled",
            "review_expired",
        ),
        (
            "awaiting_shipment",
            "ship",
            7,
            "seller_not_ship_cancelled",
            "not_shipped",
        ),
        (
            "shipped",
            "in_transit",
            30,
            "unfulfillable_cancelled",
            "lost",
        ),
        ("post_in_review", "keep_up", 3, "completed", "kept_up"),
    ] {
        let deadlines = g.state_deadlines(state);
        assert_eq!(deadlines.len(), 1, "{state}");
        let d = &deadlines[0];
        assert_eq!(d.name.value, name);
        assert_eq!(resolve(&d.after.value), days(length));
        assert_eq!(d.to.value, target);
        assert_eq!(
            d.reason.as_ref().unwrap().value,
            Reason::Code(reason.into())
        );
    }
    for state in ["content_pending"].iter().chain(ENDS) {
        assert!(g.state_deadlines(state).is_empty(), "{state}");
    }
}

#[test]
fn sample_deadlines_match_the_contract() {
    let g = graph();
    let names = |list: &[sampleflow::Spanned<String>]| {
        list.iter().map(|s| s.value.clone()).collect::<Vec<_>>()
    };
    let [post, remind] = g.sample_deadlines() else {
        panic!("two sample deadlines expected")
    };
    assert_eq!(post.name.value, "post");
    assert_eq!(post.from.value, "sample_delivered");
    assert_eq!(resolve(&post.after.value), days(14));
    assert_eq!(names(&post.fires_in), ["content_pending"]);
    assert_eq!(names(&post.held_in), ["post_in_review"]);
    assert_eq!(post.to.value, "unfulfill_cancelled");
    assert_eq!(
        post.reason.as_ref().unwrap().value,
        Reason::Code("no_content".into())
    );
    let extend = post.extend.as_ref().unwrap();
    assert_eq!(extend.on.value, "extension_requested");
    assert_eq!(resolve(&extend.by.value), days(7));
    assert_eq!(extend.times.value, 1);

    assert_eq!(remind.name.value, "remind");
    assert_eq!(remind.from.value, "sample_delivered");
    assert_eq!(resolve(&remind.after.value), days(5));
    assert_eq!(names(&remind.fires_in), ["content_pending"]);
    assert!(
        remind.held_in.is_empty(),
        "dropped for good when not in content_pending"
    );
    assert_eq!(remind.to.value, "content_pending");
    assert_eq!(
        remind.reason.as_ref().unwrap().value,
        Reason::Code("remind".into())
    );
    assert_eq!(names(&remind.actions), ["remind_creator"]);
}

#[test]
fn hooks_and_actions_on_entering_states() {
    let g = graph();
    let enter = |state: &str| {
        let s = g.state(state).unwrap();
        (
            s.enter
                .hooks
                .iter()
                .map(|h| h.value.as_str())
                .collect::<Vec<_>>(),
            s.enter
                .actions
                .iter()
                .map(|a| a.value.as_str())
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(enter("awaiting_shipment").0, ["deposit"]);
    assert_eq!(
        enter("unfulfill_cancelled"),
        (vec!["penalty"], vec!["forfeit_deposit"])
    );
    for end in ENDS.iter().filter(|e| **e != "unfulfill_cancelled") {
        assert_eq!(enter(end).1, ["refund_deposit"], "{end}");
    }
}
