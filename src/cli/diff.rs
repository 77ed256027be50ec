//! `sampleflow diff --base DIR --candidate DIR (EVENTS.jsonl | --from-db)`: what a rule change
//! would have done to the same events.

use std::path::PathBuf;

use super::{
    load_program_with, open_existing_store, write_lines, Cli, CliError, EXIT_FAILED, EXIT_FAILING,
    EXIT_INVALID, EXIT_OK, EXIT_USAGE,
};
use crate::analysis::diff::{diff, render_table, Events};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["events", "from_db"])))]
pub struct Args {
    /// Rules in force now: a folder (scripts and policy.yaml), or the hash of a rule set kept in
    /// the store (`show --versions`; a prefix will do).
    #[arg(long, value_name = "DIR|HASH")]
    pub base: PathBuf,
    /// Rules to try: a folder, or a stored rule set's hash.
    #[arg(long, value_name = "DIR|HASH")]
    pub candidate: PathBuf,
    /// JSON Lines of events to replay.
    #[arg(value_name = "EVENTS.jsonl")]
    pub events: Option<PathBuf>,
    /// Replay the raw events kept in the store (`--db`) instead.
    #[arg(long)]
    pub from_db: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit 4 when any sample changed (a gate for a seller's own CI).
    #[arg(long)]
    pub fail_on_change: bool,
    /// Exit 0 even when the candidate's rules fault (by default that is exit 3: a broken rule
    /// is no saving).
    #[arg(long)]
    pub allow_faults: bool,
}

/// A rule set kept in the store, written out to a temporary folder so it loads like any other.
fn stored_rules(cli: &Cli, hash: &str) -> Result<Option<tempfile::TempDir>, CliError> {
    if !crate::store::exists(&cli.db) {
        return Ok(None);
    }
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    let found: Vec<_> = open_existing_store(cli)?
        .versions()
        .map_err(failed)?
        .into_iter()
        .filter(|v| v.kind == "rules" && v.hash.starts_with(hash))
        .collect();
    let [version] = found.as_slice() else {
        return Ok(None);
    };
    let dir = tempfile::tempdir()?;
    for (name, text) in &version.files {
        std::fs::write(dir.path().join(name), text)?;
    }
    Ok(Some(dir))
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let mut programs = Vec::new();
    let mut kept = Vec::new();
    for (side, given) in [("base", &args.base), ("candidate", &args.candidate)] {
        let dir = if given.is_dir() {
            given.clone()
        } else {
            match stored_rules(cli, &given.to_string_lossy())? {
                Some(tmp) => {
                    let path = tmp.path().to_path_buf();
                    kept.push(tmp);
                    path
                }
                None => {
                    eprintln!(
                        "error: the {side} `{}` is neither a rules folder nor the hash of one rule \
                         set kept in `{}` (see `show --versions`)",
                        given.display(),
                        crate::store::shown(&cli.db)
                    );
                    return Ok(EXIT_USAGE);
                }
            }
        };
        match load_program_with(cli, &dir)? {
            Ok(program) => programs.push(program),
            Err(code) => {
                eprintln!(
                    "error: the {side} rules in `{}` are invalid",
                    given.display()
                );
                return Ok(code);
            }
        }
    }
    let events = match &args.events {
        Some(path) => Events::File(path.clone()),
        None => {
            let mut store = open_existing_store(cli)?;
            Events::Lines(store.events().map_err(|source| CliError::Store {
                path: cli.db.clone(),
                source,
            })?)
        }
    };
    let candidate = programs.pop();
    let base = programs.pop();
    let (Some(base), Some(candidate)) = (base, candidate) else {
        return Ok(EXIT_FAILED);
    };
    let (result, b, c) = match diff(base, candidate, &events) {
        Ok(done) => done,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_FAILED);
        }
    };
    for (side, replay) in [("base", &b), ("candidate", &c)] {
        if replay.spilled > 0 {
            eprintln!(
                "memory: {} ended samples of the {side} replay left memory for a temporary file",
                replay.spilled
            );
        }
    }
    match args.format {
        Format::Table => write_lines([render_table(&result).trim_end().to_string()])?,
        Format::Json => write_lines([serde_json::to_string_pretty(&result)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))])?,
    }
    if result.candidate_faults() && !args.allow_faults {
        eprintln!(
            "error: the candidate's rules faulted {} times on {} samples: fix them (see `sampleflow eval`), or pass --allow-faults",
            result.faults.candidate.faults, result.faults.candidate.samples
        );
        return Ok(EXIT_INVALID);
    }
    Ok(if args.fail_on_change && result.has_changes() {
        EXIT_FAILING
    } else {
        EXIT_OK
    })
}
