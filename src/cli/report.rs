//! `sampleflow report [--format table|json|csv] [--html FILE]`: the program's results from the
//! store.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{
    load_workflows, open_existing_store, write_lines, Cli, CliError, EXIT_FAILED, EXIT_OK,
};
use crate::analysis::report::Report;
use crate::analysis::{html, Collector};
use crate::rules::{RuleSet, DEFAULT_TIMEZONE};
use crate::runtime::Record;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write a self-contained HTML page with charts here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let mut store = open_existing_store(cli)?;
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    let mut collector = Collector::default();
    store
        .each_record(&mut |text| {
            let record: Record = serde_json::from_str(text).map_err(StoreError::Data)?;
            collector.observe(&record);
            Ok(())
        })
        .map_err(failed)?;
    let samples = store.samples().map_err(failed)?;
    let facts = collector.finish(samples.iter());
    // Weeks are the shop's; without loadable rules they fall back to the default timezone.
    let tz = match RuleSet::load(&cli.rules) {
        Ok(rules) => rules.policy().timezone,
        Err(_) => {
            eprintln!(
                "warning: the rules in `{}` do not load; weeks are counted in {}",
                cli.rules.display(),
                DEFAULT_TIMEZONE
            );
            DEFAULT_TIMEZONE
        }
    };
    let report = Report::build(facts.values(), tz);
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
        let (graphs, _) = load_workflows(cli)?;
        let mut counts: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
        for f in facts.values() {
            *counts
                .entry(f.workflow.as_str())
                .or_default()
                .entry(f.state.clone())
                .or_insert(0) += 1;
        }
        let drawn: Vec<_> = graphs
            .iter()
            .map(|g| {
                let name = g.workflow().name.value.as_str();
                (g, counts.get(name).cloned().unwrap_or_default())
            })
            .collect();
        std::fs::write(path, html::page(&report, &drawn)).map_err(|source| CliError::Read {
            path: path.clone(),
            source,
        })?;
        eprintln!("wrote {}", path.display());
    }
    Ok(EXIT_OK)
}
