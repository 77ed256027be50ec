//! Property tests: no text, however broken, makes loading or validation panic, and every
//! diagnostic points inside its file. A workflow the validator passes is fully connected.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use miette::Diagnostic;
use proptest::prelude::*;
use sampleflow::{check_workflow, load_str, Problem};

/// Loads and checks `text`, asserting what must hold of any outcome.
fn check(text: &str) -> Vec<Problem> {
    check_as("prop.yaml", text)
}

fn check_as(path: &str, text: &str) -> Vec<Problem> {
    let problems = match load_str(Path::new(path), text) {
        Ok(workflow) => {
            let (graph, problems) = check_workflow(workflow);
            if !problems
                .iter()
                .any(|p| !sampleflow::machinery::diagnostic::is_warning(p))
            {
                let w = graph.workflow();
                assert_eq!(
                    graph.reachable().len(),
                    w.states.len(),
                    "a valid workflow reaches every state"
                );
                assert!(
                    graph.dead_ends().is_empty(),
                    "a valid workflow has no dead end"
                );
                // Rendering must not panic either.
                let _ = sampleflow::to_dot(&graph);
                let _ = sampleflow::to_mermaid(&graph);
            }
            problems
        }
        Err(errors) => errors.into_iter().map(Problem::from).collect(),
    };
    for problem in &problems {
        for label in problem.labels().into_iter().flatten() {
            let end = label.offset() + label.len();
            assert!(
                end <= text.len(),
                "span {}..{end} beyond {} bytes: {problem}",
                label.offset(),
                text.len()
            );
            assert!(
                text.is_char_boundary(label.offset()) && text.is_char_boundary(end),
                "{problem}"
            );
        }
        if problem.labels().is_some() {
            assert!(
                sampleflow::machinery::diagnostic::location(problem).is_some(),
                "{problem}"
            );
        }
    }
    let _ = sampleflow::machinery::diagnostic::render(
        problems.iter().map(|p| p as &dyn Diagnostic),
        false,
    );
    problems
}

const STATES: &[&str] = &[
    "pending", "shipped", "done", "dnoe", "lost", "Bad-Name", "waiting",
];
const EVENTS: &[&str] = &[
    "sample_shipped",
    "sample_delivered",
    "tracking_updated",
    "sample_shiped",
    "tick",
    "sample_requested",
    "sample_reviewed",
    "delivery_failed",
    "extension_requested",
];
const DURATIONS: &[&str] = &[
    "7d",
    "24h",
    "1d12h",
    "0d",
    "7 days",
    "policy.wait",
    "policy.",
    "x",
];

fn name(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(pool).prop_map(str::to_string)
}

/// One move: a bare target, a `to` with a reason, or a choice with outcomes.
fn a_move() -> impl Strategy<Value = String> {
    prop_oneof![
        name(STATES),
        (
            name(STATES),
            prop::sample::select(&["withdrawn", "event.reason", "Bad"][..])
        )
            .prop_map(|(to, reason)| format!("{{to: {to}, reason: {reason}}}")),
        (
            prop::sample::select(
                &[
                    "hook: screen",
                    "hook: nope",
                    "field: decision",
                    "field: reason",
                    ""
                ][..]
            ),
            prop::collection::vec(
                (
                    prop::sample::select(&["approve", "reject", "review", "aprove"][..]),
                    name(STATES)
                ),
                0..4
            ),
            prop::option::of(name(STATES)),
        )
            .prop_map(|(chooser, outcomes, to)| {
                let outcomes: Vec<String> = outcomes
                    .into_iter()
                    .map(|(o, t)| format!("{o}: {t}"))
                    .collect();
                let to = to.map(|t| format!(", to: {t}")).unwrap_or_default();
                format!(
                    "{{{chooser}{}outcomes: {{{}}}{to}}}",
                    if chooser.is_empty() { "" } else { ", " },
                    outcomes.join(", ")
                )
            }),
        Just("{}".to_string()),
        Just("42".to_string()),
    ]
}

fn a_state() -> impl Strategy<Value = String> {
    (
        name(STATES),
        any::<bool>(),
        prop::collection::vec((name(EVENTS), a_move()), 0..4),
        prop::option::of((name(DURATIONS), name(STATES))),
    )
        .prop_map(|(state, terminal, moves, deadline)| {
            let mut text = format!("  {state}:\n    terminal: {terminal}\n");
            if !moves.is_empty() {
                text.push_str("    on:\n");
                for (event, m) in moves {
                    text.push_str(&format!("      {event}: {m}\n"));
                }
            }
            if let Some((after, to)) = deadline {
                text.push_str(&format!(
                    "    deadlines:\n      wait_{state_id}: {{after: {after}, to: {to}}}\n",
                    state_id = state.len()
                ));
            }
            text
        })
}

fn a_workflow() -> impl Strategy<Value = String> {
    (
        a_move(),
        prop::collection::vec(a_state(), 0..6),
        prop::option::of((name(EVENTS), name(DURATIONS), prop::collection::vec(name(STATES), 0..3), name(STATES))),
    )
        .prop_map(|(initial, states, sample_deadline)| {
            let initial = match initial.strip_prefix('{') {
                Some(rest) if rest != "}" => format!("{{on: sample_requested, {rest}"),
                _ => format!("{{on: sample_requested, to: {}}}", initial.trim_matches(|c| c == '{' || c == '}')),
            };
            let mut text = format!(
                "workflow: prop\nversion: 1\nhooks:\n  screen: {{outcomes: [approve, reject, review]}}\ninitial: {initial}\nstates:\n"
            );
            for state in states {
                text.push_str(&state);
            }
            if let Some((from, after, fires_in, to)) = sample_deadline {
                text.push_str(&format!(
                    "deadlines:\n  post:\n    from: {from}\n    after: {after}\n    fires_in: [{}]\n    to: {to}\n",
                    fires_in.join(", ")
                ));
            }
            text
        })
}

/// Routable events that need no chooser, for valid-by-construction workflows.
const PLAIN_EVENTS: &[&str] = &[
    "sample_withdrawn",
    "sample_shipped",
    "tracking_updated",
    "sample_delivered",
    "extension_requested",
    "appeal_filed",
    "content_posted",
    "content_removed",
    "content_metrics",
];

/// A chain `s0 -> s1 -> ... -> end`, every state with a deadline to `end`, plus extra moves
/// between any states: always valid, so the validator must pass it.
fn a_valid_workflow() -> impl Strategy<Value = String> {
    (1usize..7)
        .prop_flat_map(|n| {
            let extra = prop::collection::vec((0..n, 0..PLAIN_EVENTS.len(), 0..=n), 0..12);
            (Just(n), extra, any::<bool>())
        })
        .prop_map(|(n, extra, with_sample_deadline)| {
            let target = |i: usize| if i == n { "end".to_string() } else { format!("s{i}") };
            let mut text = "workflow: prop\nversion: 1\ninitial: {on: sample_requested, to: s0}\nstates:\n".to_string();
            for i in 0..n {
                text.push_str(&format!(
                    "  s{i}:\n    deadlines:\n      d{i}: {{after: {}h, to: end, reason: timed_out}}\n    on:\n      sample_reviewed: {{field: decision, outcomes: {{approve: {}, reject: end}}}}\n",
                    i + 1,
                    target(i + 1)
                ));
                let mut taken = Vec::new();
                for (_, event, to) in extra.iter().filter(|(from, ..)| *from == i) {
                    if !taken.contains(event) {
                        taken.push(*event);
                        text.push_str(&format!("      {}: {}\n", PLAIN_EVENTS[*event], target(*to)));
                    }
                }
            }
            text.push_str("  end: {terminal: true, enter: {actions: [refund_deposit]}}\n");
            if with_sample_deadline {
                text.push_str("deadlines:\n  whole:\n    from: sample_reviewed\n    after: 30d\n    fires_in: [s0]\n    to: end\n");
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn valid_workflows_pass_without_a_word(text in a_valid_workflow()) {
        let problems = check(&text);
        let messages: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        prop_assert!(problems.is_empty(), "{messages:?}\n{text}");
    }

    #[test]
    fn generated_workflows_never_panic_the_validator(text in a_workflow()) {
        check(&text);
    }

    #[test]
    fn cut_and_spliced_sample_workflows_never_panic(start in 0usize..6000, len in 0usize..200, insert in "[ -~\\t\\n]{0,12}") {
        let base = std::fs::read_to_string("workflows/sample.yaml").unwrap();
        let mut start = start.min(base.len());
        while !base.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(base.len());
        while !base.is_char_boundary(end) { end -= 1; }
        let text = format!("{}{}{}", &base[..start], insert, &base[end..]);
        check_as("sample.yaml", &text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }
}

#[test]
fn the_shipped_workflow_passes_the_same_checks() {
    let text = std::fs::read_to_string("workflows/sample.yaml").unwrap();
    assert!(check_as("sample.yaml", &text).is_empty());
}
