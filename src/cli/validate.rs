//! `sampleflow validate`: checks workflows, rules and policy, and prints every problem with
//! file:line:column.

use std::collections::BTreeSet;
use std::io::Write;

use super::{check_all, stderr_color, Cli, CliError, EXIT_INVALID, EXIT_OK};
use crate::model::vocab::EventKind;
use crate::rules::RuleSet;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Treat warnings as failures (exit 3).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Also print which file supplies each rule function for each category.
    #[arg(long)]
    pub hooks: bool,
    /// Also count the requests of an events file by category: requests in categories that
    /// `policy.yaml` does not declare are a warning (screened under `default`).
    #[arg(long, value_name = "FILE")]
    pub events: Option<std::path::PathBuf>,
}

/// Checks every shop's files (each distinct pair of folders once, headed by its shops when the
/// deployment has more than one); exit 3 when any shop's files are invalid.
pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let deployment = super::deployment(cli);
    let mut code = EXIT_OK;
    for dir in &deployment.misnamed {
        eprintln!(
            "error: `{}`: a shop is named by `[a-z0-9][a-z0-9_-]{{0,62}}`; this folder is no shop",
            dir.display()
        );
        code = EXIT_INVALID;
    }
    let mut sets: Vec<(&std::path::Path, &std::path::Path, Vec<&str>)> = Vec::new();
    for files in deployment.shops() {
        match sets
            .iter_mut()
            .find(|(w, r, _)| *w == files.workflows && *r == files.rules)
        {
            Some((_, _, names)) => names.push(&files.name),
            None => sets.push((&files.workflows, &files.rules, vec![&files.name])),
        }
    }
    if sets.is_empty() {
        let (graphs, rules, report) = match check_all(cli)? {
            Ok(checked) => checked,
            Err(code) => return Ok(code),
        };
        return check_one(args, graphs, rules, report);
    }
    for (workflows, rules, names) in sets {
        if deployment.len() > 1 {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "shop{} {}:",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            )?;
        }
        let (graphs, rules, report) = super::check_set(workflows, rules)?;
        let one = check_one(args, graphs, rules, report)?;
        if one != EXIT_OK {
            code = one;
        }
    }
    Ok(code)
}

/// Checks one shop's files and says what they hold.
fn check_one(
    args: &Args,
    graphs: Vec<crate::graph::WorkflowGraph>,
    rules: Option<RuleSet>,
    report: crate::validate::Report,
) -> Result<u8, CliError> {
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
        if let Some(path) = &args.events {
            let counts = match count_requests(path) {
                Ok(counts) => counts,
                Err(e) => {
                    eprintln!("error: cannot read `{}`: {e}", path.display());
                    return Ok(super::EXIT_FAILED);
                }
            };
            let undeclared = write_requests(&mut out, path, &counts, &rules)?;
            if undeclared > 0 && args.deny_warnings {
                return Ok(EXIT_INVALID);
            }
        }
    }
    Ok(EXIT_OK)
}

/// Per category: requests, and the first line of one.
type Counts = std::collections::BTreeMap<String, (u64, u64)>;

/// The `sample_requested` events of a JSON Lines file, counted by product category. Lines
/// that are not such an event are `run`'s to refuse, not counted here.
fn count_requests(path: &std::path::Path) -> std::io::Result<Counts> {
    let file = std::fs::File::open(path)?;
    let mut reader = crate::runtime::input::LineReader::new(std::io::BufReader::new(file));
    let mut counts = Counts::new();
    let mut line = 0u64;
    while let Some(l) = reader.next_line()? {
        line += 1;
        if l.too_long {
            continue;
        }
        let Ok(event) = serde_json::from_slice::<serde_json::Value>(l.bytes) else {
            continue;
        };
        if event.get("type").and_then(|t| t.as_str()) != Some(EventKind::SampleRequested.name()) {
            continue;
        }
        let category = event.pointer("/product/category").and_then(|c| c.as_str());
        if let Some(category) = category {
            let entry = counts.entry(category.to_string()).or_insert((0, line));
            entry.0 += 1;
        }
    }
    Ok(counts)
}

/// Prints the counts; returns the number of requests in undeclared categories.
fn write_requests(
    out: &mut impl Write,
    path: &std::path::Path,
    counts: &Counts,
    rules: &RuleSet,
) -> Result<u64, CliError> {
    let total: u64 = counts.values().map(|c| c.0).sum();
    let by = crate::analysis::counted(counts.iter().map(|(k, (n, _))| (k, n)));
    writeln!(
        out,
        "events `{}`: {total} requests ({})",
        path.display(),
        if by.is_empty() { "none" } else { &by }
    )?;
    let undeclared: Vec<_> = counts
        .iter()
        .filter(|(k, _)| !rules.policy().declares(k))
        .collect();
    let n: u64 = undeclared.iter().map(|(_, c)| c.0).sum();
    if n > 0 {
        let policy = rules.dir().join(crate::rules::POLICY_FILE);
        let mut text = format!(
            "warning: {n} request{} in categories that `{}` does not declare, screened under `default`:",
            if n == 1 { "" } else { "s" },
            policy.display()
        );
        for (k, (count, first)) in &undeclared {
            let hint = crate::diagnostic::did_you_mean(
                k,
                rules.policy().declared.iter().map(String::as_str),
            )
            .map(|b| format!(", did you mean `{b}`?"))
            .unwrap_or_default();
            text.push_str(&format!(
                "\n  {k}: {count} (first at {}:{first}{hint})",
                path.display()
            ));
        }
        eprintln!("{text}");
    }
    Ok(n)
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
