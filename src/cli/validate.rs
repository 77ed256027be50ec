//! `sampleflow validate`: checks workflows and prints every problem with file:line:column.

use std::io::Write;

use super::{load_workflows, stderr_color, Cli, CliError, EXIT_INVALID, EXIT_OK};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Treat warnings as failures (exit 3).
    #[arg(long)]
    pub deny_warnings: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let (graphs, report) = load_workflows(cli)?;
    if !report.is_clean() {
        eprint!("{}", report.render(stderr_color()));
    }
    let failed = report.has_errors() || (args.deny_warnings && !report.is_clean());
    if failed {
        return Ok(EXIT_INVALID);
    }
    let mut out = std::io::stdout().lock();
    for graph in &graphs {
        let w = graph.workflow();
        let moves = graph.graph().edge_count();
        writeln!(
            out,
            "ok: workflow `{}` v{} ({}): {} states, {} edges, {} deadlines",
            w.name.value,
            w.version,
            w.path.display(),
            w.states.len(),
            moves,
            w.states.iter().map(|s| s.deadlines.len()).sum::<usize>() + w.deadlines.len()
        )?;
    }
    Ok(EXIT_OK)
}
