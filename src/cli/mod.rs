//! The command line: one file per subcommand; `run` dispatches and returns the exit code.

mod graph;
mod test;
mod validate;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::graph::WorkflowGraph;
use crate::validate::{validate_dir, Report};

/// Done: refused events and rejected samples are results, not failures.
pub const EXIT_OK: u8 = 0;
/// The tool failed: I/O or the store.
pub const EXIT_FAILED: u8 = 1;
/// Bad usage (clap exits with it on its own).
pub const EXIT_USAGE: u8 = 2;
/// Invalid workflows, rules or policy.
pub const EXIT_INVALID: u8 = 3;
/// `test` had failing cases.
pub const EXIT_FAILING: u8 = 4;

/// sampleflow: runs a seller's creator-sample program from workflow files and rules.
#[derive(Debug, Parser)]
#[command(name = "sampleflow", version, about, propagate_version = true)]
pub struct Cli {
    /// Folder of workflow files.
    #[arg(long, global = true, default_value = "workflows", value_name = "DIR")]
    pub workflows: PathBuf,
    /// Folder of rule scripts and `policy.yaml`.
    #[arg(long, global = true, default_value = "rules", value_name = "DIR")]
    pub rules: PathBuf,
    /// The embedded database.
    #[arg(
        long,
        global = true,
        default_value = "sampleflow.db",
        value_name = "PATH"
    )]
    pub db: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check workflows, rules and policy; every problem with file:line:column (exit 3 when invalid).
    Validate(validate::Args),
    /// Run the rule test cases beside the rules (`rules/tests/*.yaml`); exit 4 on a failure.
    Test(test::Args),
    /// Print a workflow as a picture source.
    Graph(graph::Args),
}

/// A failure of the tool itself (exit 1), as opposed to a defect in the user's files (exit 3).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write output: {0}")]
    Write(#[from] std::io::Error),
}

/// Runs one command and returns its exit code.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match &cli.command {
        Command::Validate(args) => validate::run(&cli, args),
        Command::Graph(args) => graph::run(&cli, args),
        Command::Test(args) => test::run(&cli, args),
    }
}

/// Colour on stderr only for a terminal, and never under `NO_COLOR`.
fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Loads and checks the workflows folder named on the command line.
fn load_workflows(cli: &Cli) -> Result<(Vec<WorkflowGraph>, Report), CliError> {
    validate_dir(&cli.workflows).map_err(|source| CliError::Read {
        path: cli.workflows.clone(),
        source,
    })
}
