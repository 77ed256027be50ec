//! Hostile and broken rules: none can stall or crash anything. Each turns its decision into
//! `review` / `rule_error`, is reported at its file, line and column, and the next decision runs.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use sampleflow::machinery::model::Verdict;
use sampleflow::machinery::rules::{Limits, RuleSet, ScreenInput};

fn input(category: &str) -> ScreenInput {
    common::corpus::Draft::new(category).input()
}

/// The shipped rules plus `toys.rhai` holding `body` as its `category_check`.
fn with_toys(body: &str, limits: Limits) -> (tempfile::TempDir, RuleSet) {
    let dir = common::shipped_rules();
    let script = format!(
        "// hostile\nfn category_check(request, creator, product, ledger) {{\n{body}\n}}\n"
    );
    std::fs::write(dir.path().join("toys.rhai"), script).unwrap();
    let rules = RuleSet::load_with(dir.path(), limits).unwrap_or_else(|e| panic!("{e:?}"));
    (dir, rules)
}

/// Screens a toy: the fault, with its place and message; then checks that the rules go on.
fn fault_of(body: &str, limits: Limits) -> (usize, usize, String) {
    let (_dir, rules) = with_toys(body, limits);
    let s = rules.screen(input("toys"));
    assert_eq!(s.decision, Verdict::Review);
    assert_eq!(s.reason.as_str(), "rule_error");
    let fault = s.fault.expect("a fault");
    assert_eq!(fault.file, "toys.rhai");
    assert_eq!(s.explain.function, fault.function);
    assert_eq!(s.explain.file, "toys.rhai");
    assert_eq!(s.explain.hook, "screen");
    // Other categories are untouched, and the same rule set decides again.
    let next = rules.screen(input("beauty"));
    assert_eq!(
        (next.decision, next.reason.as_str()),
        (Verdict::Approve, "auto_approved")
    );
    (fault.line, fault.column, fault.message)
}

#[test]
fn a_loop_without_end_hits_the_operation_limit() {
    let (line, column, message) = fault_of("    loop { }", Limits::default());
    assert_eq!((line, column), (3, 5));
    assert!(message.contains("too many operations"), "{message}");
}

#[test]
fn recursion_without_end_hits_the_call_depth() {
    let (line, _, message) = fault_of(
        "    deeper(1)\n}\nfn deeper(n) {\n    deeper(n + 1)",
        Limits::default(),
    );
    // The recursive call in `deeper`.
    assert_eq!(line, 6);
    assert!(message.contains("nested calls"), "{message}");
}

#[test]
fn a_huge_string_hits_the_size_limit() {
    let (line, _, message) = fault_of(
        "    let s = \"x\";\n    loop { s += s; }",
        Limits::default(),
    );
    assert_eq!(line, 4);
    assert!(message.contains("Length of string"), "{message}");
}

#[test]
fn a_huge_array_hits_the_size_limit() {
    let (line, _, message) = fault_of(
        "    let a = [];\n    loop { a.push(1); }",
        Limits::default(),
    );
    assert_eq!(line, 4);
    assert!(message.contains("Size of array"), "{message}");
}

#[test]
fn a_thrown_error_is_reported_where_it_was_thrown() {
    let (line, column, message) = fault_of("\n    throw \"no toys today\";", Limits::default());
    assert_eq!((line, column), (4, 5));
    assert!(message.contains("no toys today"), "{message}");
}

#[test]
fn a_slow_script_hits_the_wall_clock_budget() {
    // Operations alone would allow this loop to run for minutes.
    let limits = Limits {
        operations: u64::MAX / 2,
        wall: Duration::from_millis(50),
        ..Limits::default()
    };
    let (_, _, message) = fault_of("    let n = 0;\n    loop { n += 1; }", limits);
    assert!(message.contains("wall-clock budget exceeded"), "{message}");
}

#[test]
fn a_wrong_return_type_is_a_fault_of_the_hook() {
    let dir = common::shipped_rules();
    std::fs::write(
        dir.path().join("toys.rhai"),
        "fn screen(request, creator, product, ledger) {\n    42\n}\n",
    )
    .unwrap();
    let rules = RuleSet::load(dir.path()).unwrap();
    let s = rules.screen(input("toys"));
    assert_eq!(s.reason.as_str(), "rule_error");
    let fault = s.fault.unwrap();
    assert_eq!((fault.file.as_str(), fault.line), ("toys.rhai", 1));
    assert!(fault.message.contains("returned i64"), "{}", fault.message);
}

/// Defects that loading finds, before any call: each is reported with its place.
fn load_problems(script: &str) -> Vec<String> {
    let dir = common::shipped_rules();
    std::fs::write(dir.path().join("toys.rhai"), script).unwrap();
    RuleSet::load(dir.path())
        .unwrap_err()
        .iter()
        .map(|p| {
            let place = sampleflow::machinery::diagnostic::location(p).unwrap_or_default();
            let file = place.rsplit('/').next().unwrap_or_default().to_string();
            format!("{file}: {p}")
        })
        .collect()
}

#[test]
fn eval_is_refused_at_load() {
    let found = load_problems(
        "fn category_check(request, creator, product, ledger) {\n    eval(\"1\")\n}\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("toys.rhai:2:5: rhai syntax error"),
        "{found:?}"
    );
}

#[test]
fn modules_cannot_be_imported() {
    let found = load_problems(
        "import \"std/fs\" as fs;\nfn category_check(request, creator, product, ledger) { }\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("toys.rhai:1:"), "{found:?}");
}

#[test]
fn deep_nesting_is_refused_at_load() {
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let found = load_problems(&format!(
        "fn category_check(request, creator, product, ledger) {{\n    {deep}\n}}\n"
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("toys.rhai:2:"), "{found:?}");
}

#[test]
fn a_loop_of_native_callbacks_is_counted_by_the_operation_budget() {
    // `map` calls back into the script 3,000 times a turn; Rhai's own count drops those steps,
    // so only the budget's own count stops this loop, whatever the clock allows.
    let limits = Limits {
        wall: Duration::from_secs(3_600),
        ..Limits::default()
    };
    let (line, _, message) = fault_of(
        "    let a = [];\n    a.pad(3000, 1);\n    loop {\n        let b = a.map(|x| x + 1);\n    }",
        limits,
    );
    assert_eq!(line, 6);
    assert!(message.contains("too many operations"), "{message}");
}

#[test]
fn pad_past_the_array_limit_is_a_fault() {
    let (_, _, message) = fault_of(
        "    let a = [];\n    a.pad(20000, 1);\n    a.len()",
        Limits::default(),
    );
    assert!(message.to_lowercase().contains("array"), "{message}");
}

#[test]
fn an_action_out_of_range_is_a_fault_of_the_rule_not_a_number_in_the_ledger() {
    let dir = common::shipped_rules();
    std::fs::write(
        dir.path().join("toys.rhai"),
        "fn penalty(sample, ledger) {\n    [penalize(-20), block_creator(days(9223372036854775807))]\n}\n",
    )
    .unwrap();
    let rules = RuleSet::load(dir.path()).unwrap();
    let sample = sampleflow::machinery::model::Sample {
        category: "toys".into(),
        ..Default::default()
    };
    let fault = rules
        .penalty(
            std::sync::Arc::new(sample),
            std::sync::Arc::default(),
            "2026-03-01T00:00:00Z".parse().unwrap(),
        )
        .unwrap_err();
    assert_eq!((fault.file.as_str(), fault.line), ("toys.rhai", 2));
    assert!(
        fault
            .message
            .contains("`block_creator(9223372036854775807)`: the value must be from 0 to 36500"),
        "{}",
        fault.message
    );
}

#[test]
fn a_statement_outside_any_function_is_refused_at_load() {
    let found = load_problems(
        "// runs nowhere\nloop { }\nfn category_check(request, creator, product, ledger) { }\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("toys.rhai:2:1: rhai syntax error: a statement outside any function"),
        "{found:?}"
    );
}

#[test]
fn a_script_line_too_long_to_place_is_refused_with_its_true_line() {
    let long = format!("    let s = \"{}\";", "x".repeat(70_000));
    let found = load_problems(&format!(
        "fn category_check(request, creator, product, ledger) {{\n{long}\n}}\n"
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("toys.rhai:2:1: rhai syntax error: line 2 is 70015 characters long"),
        "{found:?}"
    );
}

#[test]
fn a_script_too_large_to_load_quickly_is_refused_unread() {
    let script: String = (0..4_000)
        .map(|i| format!("fn helper_{i}(creator, ledger) {{ if creator.followers > {i} {{ return {i}; }} 0 }}\n"))
        .collect();
    assert!(script.len() > 256 << 10);
    let found = load_problems(&script);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("larger than 256 KiB"), "{found:?}");
}
