//! `sampleflow eval --hook NAME (--case FILE:NAME | --input FILE)`: runs one hook on one input
//! and prints what it returned with the explain trace, as `opa eval --explain` does: each rule
//! row (`if`) checked in order, the values it compared, and whether it held.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use super::{
    eprint_diagnostics, load_rules, Cli, CliError, EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE,
};
use crate::diagnostic;
use crate::rules::{cases, explain::Row, RuleSet};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The hook to run: screen, tier, deposit, content_check, removal_check, penalty, reward.
    #[arg(long, value_name = "NAME")]
    pub hook: String,
    /// A rule test case: `rules/tests/screening.yaml:NAME` (its name, or its line as `test`
    /// prints it).
    #[arg(
        long,
        value_name = "FILE:NAME",
        conflicts_with = "input",
        required_unless_present = "input"
    )]
    pub case: Option<String>,
    /// A YAML or JSON file holding the hook's input: the keys of a case, without `name` and
    /// `expect` (`at`, `creator`, `product`, `ledger`, `sample`, `post`, `content_id`...).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// `text` for people, `json` for tools.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    if !cases::HOOKS.contains(&args.hook.as_str()) {
        let hint = crate::diagnostic::did_you_mean(&args.hook, cases::HOOKS.iter().copied())
            .map(|b| format!("; did you mean `{b}`?"))
            .unwrap_or_default();
        eprintln!(
            "error: no hook `{}`{hint} (hooks: {})",
            args.hook,
            cases::HOOKS.join(", ")
        );
        return Ok(EXIT_USAGE);
    }
    let rules = match load_rules(&cli.rules) {
        Ok(rules) => rules,
        Err(code) => return Ok(code),
    };
    let loaded = match (&args.case, &args.input) {
        (Some(spec), _) => find_case(spec, &args.hook),
        (None, Some(path)) => read_input(path, &args.hook),
        (None, None) => Err(EXIT_USAGE),
    };
    let (label, input, policy) = match loaded {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let owned;
    let rules = if policy.is_empty() {
        &rules
    } else {
        match rules.policy().with_overrides(&input.category, &policy) {
            Ok(p) => {
                owned = rules.with_policy(p);
                &owned
            }
            Err(e) => {
                eprintln!("error: {label}: {e}");
                return Ok(EXIT_INVALID);
            }
        }
    };
    let (output, rows) = rules.explaining(&input.category, |r| cases::call(r, &args.hook, &input));
    let mut out = std::io::stdout().lock();
    if args.format == "json" {
        let value = json!({
            "hook": args.hook,
            "category": input.category,
            "rules": rules.hash(),
            "input": label,
            "result": {
                "decision": output.decision,
                "reason": output.reason,
                "tier": output.tier,
                "outcome": output.outcome,
                "actions": output.actions,
            },
            "explain": output.explain,
            "fault": output.fault,
            "trace": rows.iter().map(|r| json!({
                "file": r.file,
                "function": r.function,
                "line": r.line,
                "column": r.column,
                "condition": r.condition,
                "values": r.values.iter().map(|(k, v)| json!({"read": k, "value": v})).collect::<Vec<_>>(),
                "held": r.held,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{value:#}")?;
    } else {
        write_text(
            &mut out,
            args,
            rules,
            &label,
            &input.category,
            &output,
            &rows,
        )?;
    }
    Ok(if output.fault.is_some() {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

fn write_text(
    out: &mut impl Write,
    args: &Args,
    rules: &RuleSet,
    label: &str,
    category: &str,
    output: &cases::Output,
    rows: &[Row],
) -> std::io::Result<()> {
    writeln!(
        out,
        "eval `{}` on {label}: category `{category}`, rules {}",
        args.hook,
        rules.hash()
    )?;
    writeln!(out, "\ntrace ({} rows checked):", rows.len())?;
    for (i, row) in rows.iter().enumerate() {
        writeln!(
            out,
            "{:>3}. {}:{}:{} {}: if {} -> {}",
            i + 1,
            row.file,
            row.line,
            row.column,
            row.function,
            row.condition,
            if row.held { "held" } else { "not held" }
        )?;
        for (read, value) in &row.values {
            writeln!(out, "       {read} = {value}")?;
        }
    }
    writeln!(out)?;
    match &output.fault {
        Some(fault) => writeln!(out, "fault: {fault}")?,
        None => writeln!(out, "result: {}", output.describe())?,
    }
    if let Some(explain) = &output.explain {
        writeln!(
            out,
            "explain: {} `{}` (hook `{}`, category `{}`)",
            explain.file, explain.function, explain.hook, explain.category
        )?;
    }
    Ok(())
}

type Loaded = (
    String,
    cases::Input,
    std::collections::BTreeMap<String, serde_yaml::Value>,
);

/// `FILE:NAME` (or `FILE:LINE`): the case, its input for `hook`, and its policy overrides.
fn find_case(spec: &str, hook: &str) -> Result<Loaded, u8> {
    let split = [".yaml:", ".yml:"]
        .iter()
        .filter_map(|ext| spec.find(ext).map(|i| i + ext.len()))
        .min();
    let Some(at) = split else {
        eprintln!("error: `--case {spec}`: expected FILE:NAME, e.g. `rules/tests/screening.yaml:a blocked creator is rejected`");
        return Err(EXIT_USAGE);
    };
    let (file, name) = (&spec[..at - 1], &spec[at..]);
    let text = match diagnostic::read_bounded(std::path::Path::new(file), diagnostic::MAX_YAML_FILE)
    {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read `{file}`: {e}");
            return Err(EXIT_FAILED);
        }
    };
    let found = match cases::parse(file, &text) {
        Ok(found) => found,
        Err(errors) => {
            eprint_diagnostics(&errors);
            return Err(EXIT_INVALID);
        }
    };
    let by_line = name.parse::<usize>().ok();
    let Some(case) = found
        .iter()
        .find(|c| c.name == name || Some(c.line) == by_line)
    else {
        let hint = crate::diagnostic::did_you_mean(name, found.iter().map(|c| c.name.as_str()))
            .map(|b| format!("; did you mean `{b}`?"))
            .unwrap_or_default();
        eprintln!("error: `{file}` has no case named `{name}`{hint}");
        return Err(EXIT_USAGE);
    };
    let mut input = case.input.clone();
    input.category = cases::category_for(hook, &input);
    Ok((
        format!("{file}:{} \"{}\"", case.line, case.name),
        input,
        case.policy.clone(),
    ))
}

fn read_input(path: &std::path::Path, hook: &str) -> Result<Loaded, u8> {
    let text = match diagnostic::read_bounded(path, diagnostic::MAX_YAML_FILE) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", path.display());
            return Err(EXIT_FAILED);
        }
    };
    let name = path.display().to_string();
    match cases::input_file(&name, &text, hook) {
        Ok(input) => Ok((format!("`{name}`"), input, Default::default())),
        Err(errors) => {
            eprint_diagnostics(&errors);
            Err(EXIT_INVALID)
        }
    }
}
