//! The workflow fixtures: `ok_*` load clean, `warn_*` give only warnings, and each `err_*` holds
//! one defect whose code its name starts with. Rendered diagnostics are pinned in snapshots.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{position_of, shipped_with};

use miette::Diagnostic;
use sampleflow::{check_workflow, load_str, Problem};

fn problems(name: &str, text: &str) -> Vec<Problem> {
    let path = Path::new("tests/fixtures/workflows").join(name);
    match load_str(&path, text) {
        Ok(workflow) => check_workflow(workflow).1,
        Err(errors) => errors.into_iter().map(Problem::from).collect(),
    }
}

fn code(problem: &Problem) -> String {
    problem.code().map(|c| c.to_string()).unwrap_or_default()
}

#[test]
fn fixtures() {
    insta::glob!("fixtures/workflows/*.yaml", |path| {
        let name = path.file_name().unwrap().to_str().unwrap();
        let stem = name.trim_end_matches(".yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let found = problems(name, &text);
        let rendered = sampleflow::machinery::diagnostic::render(
            found.iter().map(|p| p as &dyn Diagnostic),
            false,
        );
        if stem.starts_with("ok_") {
            assert!(found.is_empty(), "{name}:\n{rendered}");
            return;
        }
        assert!(!found.is_empty(), "{name} gave no problem");
        let (kind, defect) = stem.split_once('_').unwrap();
        for problem in &found {
            let code = code(problem);
            let short = code.rsplit("::").next().unwrap_or_default();
            assert!(
                defect.starts_with(short),
                "{name} gave `{code}`:\n{rendered}"
            );
            assert_eq!(
                sampleflow::machinery::diagnostic::is_warning(problem),
                kind == "warn",
                "{name}: {code}"
            );
            let at = sampleflow::machinery::diagnostic::location(problem)
                .expect("every defect has a place");
            assert!(
                at.starts_with(&format!("tests/fixtures/workflows/{name}:")),
                "{at}"
            );
        }
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn the_shipped_workflow_is_clean() {
    let text = std::fs::read_to_string("workflows/sample.yaml").unwrap();
    let found = problems("sample.yaml", &text);
    let rendered = sampleflow::machinery::diagnostic::render(
        found.iter().map(|p| p as &dyn Diagnostic),
        false,
    );
    assert!(found.is_empty(), "{rendered}");
}

#[test]
fn a_typo_in_the_shipped_workflow_is_placed_and_named() {
    let text = shipped_with(|t| {
        t.replace(
            "sample_delivered: content_pending",
            "sample_delivered: content_pendng",
        )
    });
    let found = problems("sample.yaml", &text);
    assert_eq!(found.len(), 1, "a typo must not cascade into other errors");
    let (line, column) = position_of(&text, "content_pendng");
    assert_eq!(
        sampleflow::machinery::diagnostic::location(&found[0]).unwrap(),
        format!("tests/fixtures/workflows/sample.yaml:{line}:{column}")
    );
    assert_eq!(
        found[0].help().unwrap().to_string(),
        "did you mean `content_pending`?"
    );
}

#[test]
fn every_defect_of_a_file_is_reported_at_once() {
    let text = shipped_with(|t| {
        t.replace("after: policy.review_window", "after: 7days")
            .replace("after: policy.ship_window", "after: 7days")
    })
    .replace("sample_shipped: shipped", "sample_shiped: shipped")
    .replace("actions: [remind_creator]", "actions: [remind]");
    let codes: Vec<String> = problems("sample.yaml", &text).iter().map(code).collect();
    assert_eq!(
        codes,
        [
            "workflow::bad_duration",
            "workflow::bad_duration",
            "workflow::unknown_event",
            "workflow::unknown_action"
        ],
        "in file order"
    );
}
