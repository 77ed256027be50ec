//! `sampleflow validate`: checks workflows, rules and policy, and prints every problem with
//! file:line:column.

use std::collections::BTreeSet;
use std::io::Write;

use super::{check_all, stderr_color, Cli, CliError, EXIT_INVALID, EXIT_OK};
use crate::rules::RuleSet;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Treat warnings as failures (exit 3).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Also print which file supplies each rule function for each category.
    #[arg(long)]
    pub hooks: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let (graphs, rules, report) = check_all(cli)?;
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
    if let Some(rules) = rules {
        writeln!(
            out,
            "ok: rules `{}` ({}): {} scripts, {} category blocks in policy",
            rules.dir().display(),
            rules.hash(),
            rules.files().len(),
            rules.policy().categories.len()
        )?;
        if args.hooks {
            write_hooks(&mut out, &rules)?;
        }
    }
    Ok(EXIT_OK)
}

/// A table: one row per rule function, one column per category, the file that supplies it.
fn write_hooks(out: &mut impl Write, rules: &RuleSet) -> std::io::Result<()> {
    let functions: BTreeSet<&str> = rules
        .files()
        .iter()
        .flat_map(|f| f.functions.iter().map(|g| g.name.as_str()))
        .collect();
    let categories = rules.categories();
    let cell = |category: &str, function: &str| rules.supplier(category, function).unwrap_or("-");
    let width = functions.iter().map(|f| f.len()).max().unwrap_or(8).max(8);
    let col = categories
        .iter()
        .map(|c| c.len())
        .chain(rules.files().iter().map(|f| f.name.len()))
        .max()
        .unwrap_or(8);
    let mut line = format!("{:width$}", "function");
    for c in &categories {
        line.push_str(&format!("  {c:col$}"));
    }
    writeln!(out, "\n{}", line.trim_end())?;
    for f in functions {
        let mut line = format!("{f:width$}");
        for c in &categories {
            line.push_str(&format!("  {:col$}", cell(c, f)));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
