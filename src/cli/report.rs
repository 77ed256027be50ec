//! `sampleflow report [--format table|json|csv] [--html FILE]`: the program's results from the
//! store.

use std::path::PathBuf;

use super::{
    load_workflows, open_existing_store, write_lines, Cli, CliError, EXIT_FAILED, EXIT_OK,
    EXIT_USAGE,
};

use crate::analysis::report::{BuiltReport, ReportQuery};
use crate::rules::{RuleSet, DEFAULT_TIMEZONE};
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write a self-contained HTML page with charts here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Only samples requested at or after this time (RFC 3339, or a date: midnight in the
    /// shop's timezone).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only samples requested before this time (RFC 3339, or a date).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Add a breakdown per creator.
    #[arg(long, value_enum, value_name = "GROUP")]
    pub by: Option<By>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Creator,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let mut store = open_existing_store(cli)?;
    let built = match build(cli, store.as_mut(), args)? {
        Ok(built) => built,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let report = &built.report;
    match args.format {
        Format::Table => write_lines([report.to_table().trim_end().to_string()])?,
        Format::Json => write_lines([serde_json::to_string_pretty(&report.to_json())
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))])?,
        Format::Csv => match report.to_csv() {
            Ok(text) => write_lines([text.trim_end().to_string()])?,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_FAILED);
            }
        },
    }
    if let Some(path) = &args.html {
        std::fs::write(path, built.page()).map_err(|source| CliError::Read {
            path: path.clone(),
            source,
        })?;
        eprintln!("wrote {}", path.display());
    }
    Ok(EXIT_OK)
}

/// Builds the report of `store` for `args` (its format and `--html` aside) by the workflows and
/// rules on disk; `Err` is a bad window, said for the user.
fn build(
    cli: &Cli,
    store: &mut dyn Store,
    args: &Args,
) -> Result<Result<BuiltReport, String>, CliError> {
    let graphs = match load_workflows(cli) {
        Ok((graphs, _)) => graphs,
        Err(e) => {
            eprintln!(
                "warning: {e}; states are read by the roles of the workflows kept in the store"
            );
            Vec::new()
        }
    };
    let rules = RuleSet::load(&cli.rules).ok();
    if rules.is_none() {
        eprintln!(
            "warning: the rules in `{}` do not load; weeks are counted in {}, and categories are not checked",
            cli.rules.display(),
            DEFAULT_TIMEZONE
        );
    }
    let query = ReportQuery {
        graphs: &graphs,
        rules: rules.as_ref(),
        since: args.since.clone(),
        until: args.until.clone(),
        by_creator: args.by == Some(By::Creator),
    };
    crate::analysis::report::build(store, &query).map_err(|source| CliError::Store {
        path: cli.db.clone(),
        source,
    })
}
