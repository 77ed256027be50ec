//! Prints a workflow as a table: per state, each event and where it goes, then the deadlines.
//!
//! `cargo run --example lifecycle [WORKFLOWS_DIR]` — the library API that `validate` and `graph`
//! are built on: load a folder, check it, walk the graph.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use sampleflow::{validate_dir, Duration, DEFAULT_WORKFLOW};

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("workflows"), PathBuf::from);
    let (graphs, report) = match validate_dir(&dir) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    if report.has_errors() {
        eprint!("{}", report.render(false));
        return ExitCode::FAILURE;
    }
    let Some(graph) = graphs
        .iter()
        .find(|g| g.workflow().name.value == DEFAULT_WORKFLOW)
    else {
        eprintln!("error: no `{DEFAULT_WORKFLOW}` workflow");
        return ExitCode::FAILURE;
    };
    let w = graph.workflow();
    let mut out = String::new();
    let _ = writeln!(out, "{} v{}\n", w.name.value, w.version);
    let _ = writeln!(out, "{:<20} {:<22} goes to", "state", "event");
    for state in &w.states {
        let name = state.name.as_str();
        let mark = if state.terminal { " (end)" } else { "" };
        for m in &state.on {
            let targets: Vec<String> = m
                .targets()
                .map(|(outcome, to)| match outcome {
                    Some(o) => format!("{}={}", o.name.value, to.value),
                    None if to.value == name => "stays".to_string(),
                    None => to.value.clone(),
                })
                .collect();
            let _ = writeln!(
                out,
                "{:<20} {:<22} {}",
                format!("{name}{mark}"),
                m.event.value,
                targets.join(", ")
            );
        }
        for d in graph.state_deadlines(name) {
            let _ = writeln!(
                out,
                "{:<20} {:<22} {} after {}",
                name,
                format!("deadline:{}", d.name.value),
                d.to.value,
                length(&d.after.value)
            );
        }
    }
    for d in graph.sample_deadlines() {
        let fires_in: Vec<&str> = d.fires_in.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(
            out,
            "{:<20} {:<22} {} {} after `{}`",
            fires_in.join(","),
            format!("deadline:{}", d.name.value),
            d.to.value,
            length(&d.after.value),
            d.from.value
        );
    }
    // A closed pipe (`| head`) is not an error worth a word.
    let _ = std::io::stdout().write_all(out.as_bytes());
    ExitCode::SUCCESS
}

fn length(text: &str) -> String {
    Duration::parse(text).map_or_else(|_| text.to_string(), |d| d.to_string())
}
