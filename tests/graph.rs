//! The picture sources of the shipped workflow, pinned so that a workflow change shows in review.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use sampleflow::{load_str, to_dot, to_mermaid, WorkflowGraph};

fn graph() -> WorkflowGraph {
    let text = std::fs::read_to_string("workflows/sample.yaml").unwrap();
    WorkflowGraph::build(load_str(Path::new("workflows/sample.yaml"), &text).unwrap())
}

#[test]
fn dot_of_the_sample_workflow() {
    let dot = to_dot(&graph());
    // Terminal states are drawn apart, in their own cluster, and deadlines dashed.
    let cluster = dot
        .split("subgraph cluster_ends")
        .nth(1)
        .unwrap()
        .split('}')
        .next()
        .unwrap();
    for end in [
        "completed",
        "reject_cancelled",
        "unfulfill_cancelled",
        "unfulfillable_cancelled",
    ] {
        assert!(
            cluster.contains(&format!("\"{end}\" [")),
            "{end} outside the ends cluster"
        );
    }
    assert!(!cluster.contains("\"pending\" ["));
    assert!(dot.contains(
        "\"pending\" -> \"overdue_cancelled\" [label=\"deadline:review (policy.review_window)\", style=dashed"
    ));
    assert!(dot.contains("deadline:post (policy.post_window)"));
    assert!(dot.contains("sample_requested [screen: review]"));
    insta::assert_snapshot!(dot);
}

#[test]
fn mermaid_of_the_sample_workflow() {
    let mermaid = to_mermaid(&graph());
    assert!(mermaid.starts_with("stateDiagram-v2\n"));
    assert!(mermaid.contains("[*] --> pending"));
    assert!(mermaid.contains("class completed,reject_cancelled"));
    // Mermaid ends a label at `:` and `;`; they must be escaped.
    for line in mermaid.lines().filter(|l| l.contains("-->")) {
        assert!(line.matches(':').count() <= 1, "{line}");
    }
    assert!(mermaid
        .contains("pending --> overdue_cancelled: deadline#58;review (policy.review_window)"));
    insta::assert_snapshot!(mermaid);
}

#[test]
fn the_committed_dot_file_is_current() {
    let committed = std::fs::read_to_string("docs/sample.dot").unwrap();
    assert_eq!(
        committed,
        to_dot(&graph()),
        "docs/sample.dot is stale: run `cargo run -- graph > docs/sample.dot` and re-render docs/sample.svg"
    );
}
