//! `sampleflow shadow [--since TIME] [--format table|json]`: what the candidate of `serve
//! --shadow DIR` or `watch --shadow DIR` decided beside the live rules, read from the store
//! (beside a running writer, like `report`), with `diff`'s totals for the screenings it decided
//! otherwise.

use super::{load_workflows, open_existing_store, write_lines, Cli, CliError, EXIT_OK, EXIT_USAGE};
use crate::analysis::shadow::{render_table, ShadowReport};
use crate::rules::{RuleSet, DEFAULT_TIMEZONE};
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Only screenings at or after this time (RFC 3339, or a date: midnight in the shop's
    /// timezone).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let mut store = open_existing_store(cli)?;
    let built = match build(cli, store.as_mut(), args.since.as_deref())? {
        Ok(built) => built,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    match args.format {
        Format::Table => write_lines([render_table(&built).trim_end().to_string()])?,
        Format::Json => write_lines([serde_json::to_string_pretty(&built)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))])?,
    }
    Ok(EXIT_OK)
}

/// The shadow report of `store` from `since` (RFC 3339 or a date), by the workflows and rules
/// on disk; `Err` is a bad `since`, said for the user.
fn build(
    cli: &Cli,
    store: &mut dyn Store,
    since: Option<&str>,
) -> Result<Result<ShadowReport, String>, CliError> {
    let tz = match since.filter(|s| !s.is_empty()) {
        Some(_) => RuleSet::load(&cli.rules)
            .map(|r| r.policy().timezone)
            .unwrap_or(DEFAULT_TIMEZONE),
        None => DEFAULT_TIMEZONE,
    };
    let graphs = load_workflows(cli).map(|(g, _)| g).unwrap_or_default();
    crate::analysis::shadow::build(store, &graphs, tz, since).map_err(|source| CliError::Store {
        path: cli.db.clone(),
        source,
    })
}
