//! Checks of a workflows folder that return every error and warning at once.

mod check;
mod error;
mod rules;

pub use error::*;
pub use rules::check as check_rules;

use std::collections::HashMap;
use std::path::Path;

use crate::definition::{self, Loaded, Workflow, DEFAULT_WORKFLOW};
use crate::diagnostic::{self, Loc};
use crate::graph::WorkflowGraph;

/// What `validate` found: errors and warnings, in file order.
#[derive(Debug, Default)]
pub struct Report {
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
}

impl Report {
    /// The problems that are errors.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !diagnostic::is_warning(*p))
    }

    /// The problems that are warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| diagnostic::is_warning(*p))
    }

    /// True when any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// True when there is no problem at all.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Every problem with its source lines, then a count.
    pub fn render(&self, color: bool) -> String {
        let mut out = diagnostic::render(
            self.problems.iter().map(|p| p as &dyn miette::Diagnostic),
            color,
        );
        let (errors, warnings) = (self.errors().count(), self.warnings().count());
        out.push_str(&format!(
            "{} error{}, {} warning{}\n",
            errors,
            if errors == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" }
        ));
        out
    }
}

/// Loads and checks every workflow of `dir`. Only a folder that cannot be read is an `Err`.
pub fn validate_dir(dir: &Path) -> std::io::Result<(Vec<WorkflowGraph>, Report)> {
    let loaded = definition::load_dir(dir)?;
    Ok(validate(loaded, &dir.display().to_string()))
}

/// Workflows and rules together, as `run`, `diff` and `watch` load them: the graphs, the
/// compiled rules (`None` when they do not load) and every problem of both, hooks included.
pub fn validate_set(
    workflows: &Path,
    rules: &Path,
) -> std::io::Result<(Vec<WorkflowGraph>, Option<crate::rules::RuleSet>, Report)> {
    let (graphs, mut report) = validate_dir(workflows)?;
    let rules = match crate::rules::RuleSet::load(rules) {
        Ok(rules) => {
            let loaded: Vec<_> = graphs.iter().map(|g| g.workflow()).collect();
            report.problems.extend(check_rules(&loaded, &rules));
            Some(rules)
        }
        Err(problems) => {
            report
                .problems
                .extend(problems.into_iter().map(Problem::Rules));
            None
        }
    };
    Ok((graphs, rules, report))
}

/// Checks loaded workflows; returns the graphs of those that loaded, and the report.
pub fn validate(loaded: Loaded, dir: &str) -> (Vec<WorkflowGraph>, Report) {
    let mut report = Report::default();
    report
        .problems
        .extend(loaded.errors.into_iter().map(Problem::from));
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut graphs = Vec::new();
    for workflow in loaded.workflows {
        let file = workflow.path.display().to_string();
        if let Some(other) = seen.get(&workflow.name.value) {
            report.problems.push(
                DuplicateWorkflow {
                    name: workflow.name.value.clone(),
                    other: other.clone(),
                    loc: Loc::new(workflow.source.clone(), workflow.name.span),
                }
                .into(),
            );
        } else {
            seen.insert(workflow.name.value.clone(), file);
        }
        let (graph, problems) = check_workflow(workflow);
        report.problems.extend(problems);
        graphs.push(graph);
    }
    // A `sample.yaml` that failed to load has been reported already.
    let sample_file = loaded
        .files
        .iter()
        .any(|f| f.file_stem().and_then(|s| s.to_str()) == Some(DEFAULT_WORKFLOW));
    if !seen.contains_key(DEFAULT_WORKFLOW) && !sample_file {
        report.problems.push(
            MissingDefaultWorkflow {
                dir: dir.to_string(),
            }
            .into(),
        );
    }
    (graphs, report)
}

/// Every check of one workflow, then its graph.
pub fn check_workflow(workflow: Workflow) -> (WorkflowGraph, Vec<Problem>) {
    let (mut problems, cut_edges) = check::workflow(&workflow);
    let graph = WorkflowGraph::build(workflow);
    // A misspelt target or an unmapped outcome cuts edges; reachability would only repeat that
    // error in other words.
    if !cut_edges {
        check::graph(&graph, &mut problems);
    }
    problems.sort_by_key(first_offset);
    (graph, problems)
}

/// Where a problem's first label starts, to list problems in file order.
fn first_offset(problem: &Problem) -> usize {
    miette::Diagnostic::labels(problem)
        .and_then(|mut labels| labels.next())
        .map_or(0, |label| label.offset())
}
