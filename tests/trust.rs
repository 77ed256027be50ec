//! Rules you can trust, through the real binary: static checks that `validate` makes of scripts
//! and categories, every hook testable, `test --coverage`, `test --filter`, and `eval`.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{edit, with_rules, Run};

fn shipped(args: &[&str]) -> Run {
    with_rules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"), args)
}

#[test]
fn a_misspelt_property_fails_validate_with_its_place() {
    let dir = common::shipped_rules();
    edit(
        &dir.path().join("default.rhai"),
        "creator.engagement_rate < policy",
        "creator.engagment_rate < policy",
    );
    let out = with_rules(dir.path(), &["validate"]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`Creator` has no property `engagment_rate`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("default.rhai:77:20"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("did you mean `creator.engagement_rate`?"),
        "{}",
        out.stderr
    );
    // `test` refuses to run rules that cannot load.
    assert_eq!(with_rules(dir.path(), &["test"]).code, Some(3));
}

#[test]
fn a_misspelt_category_block_fails_validate_deny_warnings_or_not() {
    let dir = common::shipped_rules();
    edit(
        &dir.path().join("policy.yaml"),
        "electronics:\n",
        "electornics:\n",
    );
    for args in [&["validate"][..], &["validate", "--deny-warnings"]] {
        let out = with_rules(dir.path(), args);
        assert_eq!(out.code, Some(3), "{}", out.stderr);
        assert!(
            out.stderr
                .contains("category block `electornics` is not a declared category"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("did you mean `electronics`?"));
    }
}

#[test]
fn validate_events_counts_requests_in_undeclared_categories() {
    let events = tempfile::NamedTempFile::new().unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events.jsonl"),
    )
    .unwrap();
    std::fs::write(
        events.path(),
        text.replace("\"category\":\"kitchen\"", "\"category\":\"kitchn\""),
    )
    .unwrap();
    let path = events.path().to_str().unwrap();
    let out = shipped(&["validate", "--events", path]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("kitchn 2"), "{}", out.stdout);
    assert!(
        out.stderr.contains("2 requests in categories that"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("did you mean `kitchen`?"),
        "{}",
        out.stderr
    );
    let strict = shipped(&["validate", "--deny-warnings", "--events", path]);
    assert_eq!(strict.code, Some(3));
    // The shipped events name only declared categories.
    let clean = shipped(&[
        "validate",
        "--deny-warnings",
        "--events",
        "examples/events.jsonl",
    ]);
    assert_eq!(clean.code, Some(0), "{}", clean.stderr);
    assert!(clean.stderr.is_empty(), "{}", clean.stderr);
}

#[test]
fn run_counts_undeclared_requests_in_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.jsonl");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events.jsonl"),
    )
    .unwrap();
    std::fs::write(
        &events,
        text.replace("\"category\":\"kitchen\"", "\"category\":\"garden\""),
    )
    .unwrap();
    let out = common::bin(&dir.path().join("s.db"))
        .arg("run")
        .arg(&events)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = common::stderr(&out);
    assert!(
        err.contains("undeclared categories: 2 requests (garden 2), screened under `default`"),
        "{err}"
    );
}

#[test]
fn every_hook_is_covered_by_the_shipped_cases() {
    let out = shipped(&["test", "--coverage"]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("uncovered"), "{}", out.stdout);
    for hook in [
        "screen",
        "tier",
        "deposit",
        "content_check",
        "removal_check",
        "penalty",
        "reward",
    ] {
        assert!(
            out.stdout.contains(&format!("default.rhai:{hook} ")),
            "{hook}: {}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("screening reasons: 16 of 16 covered"));
    assert!(out.stdout.contains("script functions: 10 of 10 covered"));
}

#[test]
fn coverage_names_what_no_case_reaches() {
    let dir = common::shipped_rules();
    std::fs::remove_file(dir.path().join("tests/reward.yaml")).unwrap();
    let out = with_rules(dir.path(), &["test", "--coverage"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("default.rhai:reward"))
        .unwrap();
    assert!(line.ends_with("uncovered"), "{line}");
    // Only the cases the filter picks count.
    let out = with_rules(dir.path(), &["test", "--coverage", "--filter", "blocked"]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("low_followers"))
        .unwrap();
    assert!(line.ends_with("uncovered"), "{line}");
}

#[test]
fn a_filter_that_matches_no_case_is_bad_usage() {
    let out = shipped(&["test", "--filter", "no such case anywhere"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("no rule test case has"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_wrong_expectation_of_a_sample_hook_fails() {
    let dir = common::shipped_rules();
    edit(
        &dir.path().join("tests/penalty.yaml"),
        "{actions: [{type: penalize, credit: -20}]}",
        "{actions: [{type: penalize, credit: -25}]}",
    );
    let out = with_rules(dir.path(), &["test", "--filter", "a first breach"]);
    assert_eq!(out.code, Some(4), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "expected actions=[penalize(credit=-25)], got actions=[penalize(credit=-20)]"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_case_expecting_what_its_hook_does_not_give_is_refused() {
    let dir = common::shipped_rules();
    edit(
        &dir.path().join("tests/reward.yaml"),
        "    sample: {gmv: 500}\n    expect: {actions: [{type: invite_paid_collab}]}",
        "    sample: {gmv: 500}\n    expect: {actions: [], outcome: qualifying_video}",
    );
    let out = with_rules(dir.path(), &["test"]);
    assert_eq!(out.code, Some(3), "{}", out.stdout);
    assert!(
        out.stderr.contains("hook `reward` gives no `outcome`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("reward.yaml:"), "{}", out.stderr);
}

#[test]
fn eval_prints_the_trace_of_a_case() {
    let out = shipped(&[
        "eval",
        "--hook",
        "screen",
        "--case",
        "rules/tests/screening.yaml:a blocked creator is rejected",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn eval_prints_the_trace_of_a_category_script_by_line() {
    // The line `test` prints a case at picks it too.
    let out = shipped(&[
        "eval",
        "--hook",
        "screen",
        "--case",
        "rules/tests/screening.yaml:118",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn eval_runs_a_sample_hook_on_an_input_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("breach.json");
    std::fs::write(
        &input,
        r#"{"at": "2026-03-10T18:00:00Z", "sample": {"id": "s9", "category": "beauty"},
            "ledger": {"breaches": ["2026-01-10T00:00:00Z"]}}"#,
    )
    .unwrap();
    let out = shipped(&[
        "eval",
        "--hook",
        "penalty",
        "--input",
        input.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        value["result"]["actions"],
        serde_json::json!([{"type": "penalize", "credit": -20}, {"type": "block_creator", "days": 90}])
    );
    assert_eq!(value["category"], "beauty");
    let row = &value["trace"][0];
    assert_eq!(row["function"], "penalty");
    assert_eq!(row["held"], true);
    assert_eq!(row["values"][1]["read"], "policy.repeat_breach_window");
    assert_eq!(row["values"][1]["value"], "180d");
}

#[test]
fn eval_refuses_an_unknown_hook_and_a_missing_case() {
    let out = shipped(&["eval", "--hook", "screeen", "--input", "x.yaml"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("did you mean `screen`?"),
        "{}",
        out.stderr
    );
    let out = shipped(&[
        "eval",
        "--hook",
        "screen",
        "--case",
        "rules/tests/screening.yaml:a blocked creatr is rejected",
    ]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("did you mean `a blocked creator is rejected`?"),
        "{}",
        out.stderr
    );
    // An input lacking what the hook takes is refused with its place.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("post.yaml");
    std::fs::write(&input, "at: 2026-03-10T18:00:00Z\n").unwrap();
    let out = shipped(&[
        "eval",
        "--hook",
        "content_check",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(3));
    assert!(
        out.stderr.contains("hook `content_check` needs `post`"),
        "{}",
        out.stderr
    );
}
