//! The real binary: exit codes, messages and outputs of `validate`, `graph` and `test`.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{edit, position_of, run, shipped_with, with_rules, Run};

/// A workflows folder holding the shipped sample workflow with `edit` applied.
fn workflows_with(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sample.yaml"), shipped_with(edit)).unwrap();
    dir
}

fn validate_in(dir: &Path, more: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec!["validate".as_ref(), "--workflows".as_ref(), dir.as_os_str()];
    args.extend(more.iter().map(OsStr::new));
    run(args)
}

#[test]
fn validate_accepts_the_shipped_workflows() {
    let out = run(["validate"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("ok: workflow `sample` v1 (workflows/sample.yaml): 12 states"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_typo_is_placed_with_a_hint_and_exits_3() {
    let dir = workflows_with(|t| {
        t.replace(
            "sample_delivered: content_pending",
            "sample_delivered: content_pendng",
        )
    });
    let file = dir.path().join("sample.yaml");
    let (line, col) = position_of(&std::fs::read_to_string(&file).unwrap(), "content_pendng");
    let out = validate_in(dir.path(), &[]);
    assert_eq!(out.code, Some(3));
    assert!(
        out.stderr
            .contains(&format!("{}:{line}:{col}]", file.display())),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unknown state `content_pendng`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("did you mean `content_pending`?"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.ends_with("1 error, 0 warnings\n"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_yaml_syntax_error_is_placed_and_exits_3() {
    let dir = workflows_with(|t| {
        t.replace(
            "{to: withdraw_cancelled, reason: withdrawn}",
            "{to: withdraw_cancelled, reason: withdrawn",
        )
    });
    let mut args = vec![OsStr::new("--workflows"), dir.path().as_os_str()];
    args.push(OsStr::new("validate"));
    let out = run(args);
    assert_eq!(out.code, Some(3));
    assert!(out.stderr.contains("yaml syntax error"), "{}", out.stderr);
    let file = dir.path().join("sample.yaml");
    assert!(
        out.stderr.contains(&format!("{}:", file.display())),
        "{}",
        out.stderr
    );
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = workflows_with(|t| t.replace("\nhooks:\n", "\nhooks:\n  spare: {}\n"));
    let out = validate_in(dir.path(), &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("hook `spare` is never called"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("0 errors, 1 warning"), "{}", out.stderr);
    assert_eq!(validate_in(dir.path(), &["--deny-warnings"]).code, Some(3));
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        vec!["validate", "--bogus"],
        vec!["graph", "--format", "png"],
        vec!["frobnicate"],
        vec![],
    ] {
        let out = run(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
    }
    let out = run(["graph", "--workflow", "nope"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("no workflow `nope`"), "{}", out.stderr);
}

#[test]
fn an_unreadable_folder_is_a_tool_failure_exit_1() {
    let out = validate_in(Path::new("no/such/folder"), &[]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .starts_with("error: cannot read `no/such/folder`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_folder_without_the_sample_workflow_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let out = validate_in(dir.path(), &[]);
    assert_eq!(out.code, Some(3));
    assert!(
        out.stderr.contains("no `sample` workflow"),
        "{}",
        out.stderr
    );
}

#[test]
fn global_options_go_before_or_after_the_command() {
    for args in [
        [
            "--workflows",
            "workflows",
            "--rules",
            "rules",
            "--db",
            "x.db",
            "validate",
        ],
        [
            "validate",
            "--workflows",
            "workflows",
            "--rules",
            "rules",
            "--db",
            "x.db",
        ],
    ] {
        let out = run(args);
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
    }
    assert!(
        !Path::new("x.db").exists(),
        "validate must not create the store"
    );
}

#[test]
fn graph_prints_the_committed_dot_and_mermaid() {
    let out = run(["graph"]);
    assert_eq!(out.code, Some(0));
    assert_eq!(
        out.stdout,
        std::fs::read_to_string("docs/sample.dot").unwrap()
    );
    let out = run(["graph", "--format", "mermaid"]);
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.starts_with("stateDiagram-v2\n"));
}

#[test]
fn graph_of_an_invalid_workflow_exits_3() {
    let dir = workflows_with(|t| t.replace("after: policy.transit_window", "after: 30 days"));
    let mut args = vec![OsStr::new("graph"), OsStr::new("--workflows")];
    args.push(dir.path().as_os_str());
    let out = run(args);
    assert_eq!(out.code, Some(3));
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("malformed duration `30 days`"),
        "{}",
        out.stderr
    );
}

/// Runs `sampleflow --rules <dir> <args>`.
#[test]
fn test_passes_the_shipped_cases() {
    let out = run(["test"]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let (last, cases) = lines.split_last().unwrap();
    assert!(cases.len() >= 25, "{}", out.stdout);
    assert!(cases.iter().all(|l| l.starts_with("ok ")), "{}", out.stdout);
    assert_eq!(*last, format!("{} passed, 0 failed", cases.len()));
}

#[test]
fn test_fails_with_exit_4_when_a_threshold_moves() {
    let dir = common::shipped_rules();
    edit(
        &dir.path().join("policy.yaml"),
        "min_followers: 5000",
        "min_followers: 6000",
    );
    let out = with_rules(dir.path(), &["test"]);
    assert_eq!(out.code, Some(4), "{}{}", out.stdout, out.stderr);
    let failing: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(failing.len(), 1, "{}", out.stdout);
    assert!(
        failing[0].contains("screening.yaml:81  5000 followers is enough: expected decision=approve reason=auto_approved, got decision=reject reason=low_followers"),
        "{}",
        failing[0]
    );
    assert!(
        out.stdout.ends_with(" passed, 1 failed\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_broken_script_is_located_by_validate_and_stops_test() {
    let dir = common::shipped_rules();
    let script = dir.path().join("electronics.rhai");
    edit(
        &script,
        "return review(\"unknown_fulfillment\");",
        "return review(\"unknown_fulfillment\";",
    );
    let out = with_rules(dir.path(), &["validate"]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let text = std::fs::read_to_string(&script).unwrap();
    let (line, _) = position_of(&text, "review(\"unknown_fulfillment\";");
    assert!(
        out.stderr
            .contains(&format!("{}:{line}:", script.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("rhai syntax error"), "{}", out.stderr);
    let out = with_rules(dir.path(), &["test"]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn validate_reports_a_hook_that_the_rules_lack() {
    let dir = common::shipped_rules();
    edit(
        &dir.path().join("default.rhai"),
        "fn reward(sample, ledger)",
        "fn rewards(sample, ledger)",
    );
    let out = with_rules(dir.path(), &["validate"]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("hook `reward` is not defined in"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("workflows/sample.yaml:"),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_shows_which_file_supplies_each_function() {
    let out = run(["validate", "--hooks"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let header = out
        .stdout
        .lines()
        .find(|l| l.starts_with("function"))
        .unwrap();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "function",
            "default",
            "apparel",
            "beauty",
            "electronics",
            "home"
        ]
    );
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("category_check"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "category_check",
            "default.rhai",
            "apparel.rhai",
            "default.rhai",
            "electronics.rhai",
            "default.rhai"
        ]
    );
}
