//! `sampleflow report [--format table|json|csv] [--html FILE]`: the program's results from the
//! store.

use std::path::PathBuf;

use super::{open_existing_store, write_lines, Cli, CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE};

use crate::analysis::report::{BuiltReport, Report, ReportQuery};
use crate::rules::{RuleSet, DEFAULT_TIMEZONE};
use crate::session::ShopFiles;
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
    /// A report per shop of the deployment, then the total of them all (`--html` draws the
    /// `--shop` shop's).
    #[arg(long)]
    pub all_shops: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Creator,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let mut store = open_existing_store(cli)?;
    if args.all_shops {
        return all_shops(cli, store.as_mut(), args);
    }
    let files = match super::shop_files(cli) {
        Ok(files) => files,
        Err(code) => return Ok(code),
    };
    let built = match build(cli, &files, store.as_mut(), args)? {
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

/// `--all-shops`: a report per shop of the deployment (each by its own files, on its own
/// rows), then the total.
fn all_shops(cli: &Cli, store: &mut dyn Store, args: &Args) -> Result<u8, CliError> {
    let deployment = super::deployment(cli);
    let mut built = Vec::new();
    for files in deployment.shops() {
        store.set_shop(&files.name);
        match build(cli, files, store, args)? {
            Ok(one) => built.push((files.name.clone(), one)),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_USAGE);
            }
        }
    }
    let total = BuiltReport::total(&built.iter().map(|(_, b)| b).collect::<Vec<_>>());
    let mut parts: Vec<(&str, &Report)> = built
        .iter()
        .map(|(name, b)| (name.as_str(), &b.report))
        .collect();
    match args.format {
        Format::Table => {
            let mut text = String::new();
            for (name, report) in &parts {
                text.push_str(&format!(
                    "shop {name}\n{}\n\n",
                    report.to_table().trim_end()
                ));
            }
            text.push_str(&format!(
                "all shops ({})\n{}",
                parts.len(),
                total.to_table().trim_end()
            ));
            write_lines([text])?;
        }
        Format::Json => {
            let shops: serde_json::Map<String, serde_json::Value> = parts
                .iter()
                .map(|(name, report)| (name.to_string(), report.to_json()))
                .collect();
            let doc = serde_json::json!({"shops": shops, "total": total.to_json()});
            write_lines([serde_json::to_string_pretty(&doc)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))])?;
        }
        Format::Csv => {
            parts.push(("all", &total));
            match Report::to_csv_shops(&parts) {
                Ok(text) => write_lines([text.trim_end().to_string()])?,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(EXIT_FAILED);
                }
            }
        }
    }
    if let Some(path) = &args.html {
        let page = built
            .iter()
            .find(|(name, _)| *name == cli.shop)
            .map(|(_, b)| b.page());
        if let Some(page) = page {
            std::fs::write(path, page).map_err(|source| CliError::Read {
                path: path.clone(),
                source,
            })?;
            eprintln!("wrote {} (shop {})", path.display(), cli.shop);
        }
    }
    Ok(EXIT_OK)
}

/// Builds the report of `store` for `args` (its format and `--html` aside) by the shop's
/// workflows and rules on disk; `Err` is a bad window, said for the user.
fn build(
    cli: &Cli,
    files: &ShopFiles,
    store: &mut dyn Store,
    args: &Args,
) -> Result<Result<BuiltReport, String>, CliError> {
    let graphs = match crate::validate::validate_dir(&files.workflows) {
        Ok((graphs, _)) => graphs,
        Err(e) => {
            eprintln!(
                "warning: cannot read `{}`: {e}; states are read by the roles of the workflows kept in the store",
                files.workflows.display()
            );
            Vec::new()
        }
    };
    let rules = RuleSet::load(&files.rules).ok();
    if rules.is_none() {
        eprintln!(
            "warning: the rules in `{}` do not load; weeks are counted in {}, and categories are not checked",
            files.rules.display(),
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
