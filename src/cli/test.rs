//! `sampleflow test`: runs the rule test cases beside the rules (`rules/tests/*.yaml`).

use std::io::Write;

use super::{stderr_color, Cli, CliError, EXIT_FAILING, EXIT_INVALID, EXIT_OK};
use crate::diagnostic;
use crate::rules::{cases, RuleSet};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run only the cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let rules = match RuleSet::load(&cli.rules) {
        Ok(rules) => rules,
        Err(problems) => {
            let rendered = diagnostic::render(
                problems.iter().map(|p| p as &dyn miette::Diagnostic),
                stderr_color(),
            );
            eprint!("{rendered}");
            return Ok(EXIT_INVALID);
        }
    };
    let (cases, errors) = cases::load(&cli.rules);
    if !errors.is_empty() {
        let rendered = diagnostic::render(
            errors.iter().map(|p| p as &dyn miette::Diagnostic),
            stderr_color(),
        );
        eprint!("{rendered}");
        return Ok(EXIT_INVALID);
    }
    if cases.is_empty() {
        eprintln!(
            "no rule test cases in `{}`",
            cli.rules.join(cases::TESTS_DIR).display()
        );
    }
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        if args
            .filter
            .as_ref()
            .is_some_and(|f| !case.name.contains(f.as_str()))
        {
            continue;
        }
        let outcome = cases::run(&rules, case);
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
    Ok(if failed > 0 { EXIT_FAILING } else { EXIT_OK })
}
