//! The real binary: exit codes, messages and outputs of `validate` and `graph`.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use assert_cmd::Command;
use common::{position_of, shipped_with};

/// What one run of the binary gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::cargo_bin("sampleflow")
        .unwrap()
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

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
