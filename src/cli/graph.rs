//! `sampleflow graph`: a workflow as Graphviz DOT or Mermaid.

use std::io::Write;

use super::{load_workflows, stderr_color, Cli, CliError, EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use crate::definition::DEFAULT_WORKFLOW;
use crate::graph::{to_dot, to_mermaid};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Picture source to print.
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    pub format: Format,
    /// Which workflow to draw.
    #[arg(long, default_value = DEFAULT_WORKFLOW, value_name = "NAME")]
    pub workflow: String,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let (graphs, report) = load_workflows(cli)?;
    if report.has_errors() {
        eprint!("{}", report.render(stderr_color()));
        return Ok(EXIT_INVALID);
    }
    let Some(graph) = graphs
        .iter()
        .find(|g| g.workflow().name.value == args.workflow)
    else {
        let names: Vec<&str> = graphs.iter().map(|g| g.workflow().name.as_str()).collect();
        eprintln!(
            "error: no workflow `{}` in `{}` (workflows: {})",
            args.workflow,
            cli.workflows.display(),
            names.join(", ")
        );
        return Ok(EXIT_USAGE);
    };
    let text = match args.format {
        Format::Dot => to_dot(graph),
        Format::Mermaid => to_mermaid(graph),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(EXIT_OK)
}
