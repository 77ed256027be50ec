//! `sampleflow test`: runs the rule test cases beside the rules (`rules/tests/*.yaml`).

use std::io::Write;

use std::collections::BTreeMap;

use super::{
    eprint_diagnostics, load_rules, Cli, CliError, EXIT_FAILING, EXIT_INVALID, EXIT_OK, EXIT_USAGE,
};
use crate::rules::cases;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Run only the cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// After the summary, list every screening reason code and script function with the
    /// number of cases that reached it (`uncovered` for none).
    #[arg(long)]
    pub coverage: bool,
}

/// Runs every shop's rule test cases (each rules folder once, headed by its shops when the
/// deployment has more than one), then the total.
pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let deployment = super::deployment(cli);
    let mut sets: Vec<(&std::path::Path, Vec<&str>)> = Vec::new();
    for files in deployment.shops() {
        match sets.iter_mut().find(|(r, _)| *r == files.rules) {
            Some((_, names)) => names.push(&files.name),
            None => sets.push((&files.rules, vec![&files.name])),
        }
    }
    if sets.len() <= 1 {
        let dir = sets.first().map_or(cli.rules.as_path(), |(r, _)| r);
        return run_dir(dir, args, &mut (0, 0));
    }
    let mut code = EXIT_OK;
    let mut total = (0, 0);
    for (dir, names) in sets {
        println!(
            "shop{} {} (`{}`):",
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            dir.display()
        );
        let one = run_dir(dir, args, &mut total)?;
        // A failing case (4) outranks none; files that do not load (3) outrank both.
        if one != EXIT_OK && (code == EXIT_OK || one == EXIT_INVALID) {
            code = one;
        }
    }
    println!("all shops: {} passed, {} failed", total.0, total.1);
    Ok(code)
}

/// Runs the cases of one rules folder, adding its passes and failures to `total`.
fn run_dir(dir: &std::path::Path, args: &Args, total: &mut (u64, u64)) -> Result<u8, CliError> {
    let rules = match load_rules(dir) {
        Ok(rules) => rules,
        Err(code) => return Ok(code),
    };
    let (cases, errors) = cases::load(dir);
    if !errors.is_empty() {
        eprint_diagnostics(&errors);
        return Ok(EXIT_INVALID);
    }
    if cases.is_empty() {
        eprintln!(
            "no rule test cases in `{}`",
            dir.join(cases::TESTS_DIR).display()
        );
    }
    let chosen: Vec<&cases::Case> = cases
        .iter()
        .filter(|case| {
            args.filter
                .as_ref()
                .is_none_or(|f| case.name.contains(f.as_str()))
        })
        .collect();
    if let (Some(filter), true) = (&args.filter, chosen.is_empty()) {
        eprintln!(
            "error: no rule test case has `{filter}` in its name ({} cases in `{}`)",
            cases.len(),
            dir.join(cases::TESTS_DIR).display()
        );
        return Ok(EXIT_USAGE);
    }
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed) = (0u64, 0u64);
    let mut reasons: BTreeMap<String, u64> = rules.reasons().into_iter().map(|r| (r, 0)).collect();
    let mut functions: BTreeMap<String, u64> = rules
        .files()
        .iter()
        .flat_map(|f| {
            f.functions
                .iter()
                // A declaration is read at load, not called by cases.
                .filter(|g| g.name != crate::rules::REWARD_WAKES_AT)
                .map(|g| format!("{}:{}", f.name, g.name))
        })
        .map(|f| (f, 0))
        .collect();
    for case in chosen {
        let outcome = cases::run_case(&rules, case, args.coverage);
        if let Some(reason) = &outcome.reason {
            *reasons.entry(reason.clone()).or_default() += 1;
        }
        for f in &outcome.functions {
            // Calls of natives (`approve`, `days`) are no script function.
            if let Some(n) = functions.get_mut(f) {
                *n += 1;
            }
        }
        let mark = if outcome.passed { "ok  " } else { "FAIL" };
        writeln!(
            out,
            "{mark} {}  {}: {}",
            outcome.place, outcome.case, outcome.detail
        )?;
        if outcome.passed {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    total.0 += passed;
    total.1 += failed;
    if args.coverage {
        write_coverage(&mut out, "screening reasons", &reasons)?;
        write_coverage(&mut out, "script functions", &functions)?;
    }
    Ok(if failed > 0 { EXIT_FAILING } else { EXIT_OK })
}

/// One coverage table: each name with the cases that reached it, `uncovered` for none.
fn write_coverage(
    out: &mut impl Write,
    title: &str,
    counts: &BTreeMap<String, u64>,
) -> std::io::Result<()> {
    let uncovered = counts.values().filter(|n| **n == 0).count();
    writeln!(
        out,
        "\n{title}: {} of {} covered",
        counts.len() - uncovered,
        counts.len()
    )?;
    let width = counts.keys().map(String::len).max().unwrap_or(0);
    for (name, n) in counts {
        let cell = match n {
            0 => "uncovered".to_string(),
            1 => "1 case".to_string(),
            n => format!("{n} cases"),
        };
        writeln!(out, "  {name:width$}  {cell}")?;
    }
    Ok(())
}
