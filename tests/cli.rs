//! The real binary: exit codes, messages and outputs of `validate` and `graph`.

use std::path::Path;

use assert_cmd::Command;

fn sampleflow() -> Command {
    let mut cmd = Command::cargo_bin("sampleflow").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A workflows folder holding the shipped sample workflow with `edit` applied.
fn workflows_with(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("workflows/sample.yaml").unwrap();
    std::fs::write(dir.path().join("sample.yaml"), edit(text)).unwrap();
    dir
}

#[test]
fn validate_accepts_the_shipped_workflows() {
    let out = sampleflow().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("ok: workflow `sample` v1 (workflows/sample.yaml): 12 states"),
        "{stdout}"
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
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("content_pendng"))
        .unwrap()
        + 1;
    let col = text
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("content_pendng")
        .unwrap()
        + 1;
    let out = sampleflow()
        .arg("validate")
        .arg("--workflows")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:{line}:{col}]", file.display())),
        "{err}"
    );
    assert!(err.contains("unknown state `content_pendng`"), "{err}");
    assert!(err.contains("did you mean `content_pending`?"), "{err}");
    assert!(err.ends_with("1 error, 0 warnings\n"), "{err}");
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
    let out = sampleflow()
        .args(["--workflows"])
        .arg(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("yaml syntax error"), "{err}");
    assert!(
        err.contains(&format!("{}:", dir.path().join("sample.yaml").display())),
        "{err}"
    );
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = workflows_with(|t| t.replace("\nhooks:\n", "\nhooks:\n  spare: {}\n"));
    let dir_path = dir.path().to_str().unwrap();
    let out = sampleflow()
        .args(["validate", "--workflows", dir_path])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("hook `spare` is never called"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("0 errors, 1 warning"));
    let denied = sampleflow()
        .args(["validate", "--deny-warnings", "--workflows", dir_path])
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(3));
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        vec!["validate", "--bogus"],
        vec!["graph", "--format", "png"],
        vec!["frobnicate"],
        vec![],
    ] {
        let out = sampleflow().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = sampleflow()
        .args(["graph", "--workflow", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no workflow `nope`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreadable_folder_is_a_tool_failure_exit_1() {
    let out = sampleflow()
        .args(["validate", "--workflows", "no/such/folder"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: cannot read `no/such/folder`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_folder_without_the_sample_workflow_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let out = sampleflow()
        .arg("validate")
        .arg("--workflows")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("no `sample` workflow"),
        "{}",
        stderr(&out)
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
        let out = sampleflow().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    assert!(
        !Path::new("x.db").exists(),
        "validate must not create the store"
    );
}

#[test]
fn graph_prints_the_committed_dot_and_mermaid() {
    let out = sampleflow().arg("graph").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string("docs/sample.dot").unwrap()
    );
    let out = sampleflow()
        .args(["graph", "--format", "mermaid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("stateDiagram-v2\n"));
}

#[test]
fn graph_of_an_invalid_workflow_exits_3() {
    let dir = workflows_with(|t| t.replace("after: 30d", "after: 30 days"));
    let out = sampleflow()
        .arg("graph")
        .arg("--workflows")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("malformed duration `30 days`"));
}
