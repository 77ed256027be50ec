//! `sampleflow shadow [--since TIME] [--format table|json]`: what the candidate of `serve
//! --shadow DIR` or `watch --shadow DIR` decided beside the live rules, read from the store
//! (beside a running writer, like `report`), with `diff`'s totals for the screenings it decided
//! otherwise.

use std::collections::BTreeMap;

use super::{load_workflows, open_existing_store, write_lines, Cli, CliError, EXIT_OK, EXIT_USAGE};
use crate::analysis::shadow::{render_table, report, samples, ShadowReport};
use crate::analysis::{Collector, Facts, Roles};
use crate::definition::load_str;
use crate::graph::WorkflowGraph;
use crate::model::Record;
use crate::rules::{RuleSet, DEFAULT_TIMEZONE};
use crate::store::{Store, StoreError};

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

/// The shadow report of `store` from `since` (RFC 3339 or a date); `Err` is a bad `since`,
/// said for the user.
pub(crate) fn build(
    cli: &Cli,
    store: &mut dyn Store,
    since: Option<&str>,
) -> Result<Result<ShadowReport, String>, CliError> {
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    let since = match since.filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => {
            let tz = RuleSet::load(&cli.rules)
                .map(|r| r.policy().timezone)
                .unwrap_or(DEFAULT_TIMEZONE);
            match super::report::bound("--since", text, tz) {
                Ok(t) => Some(t),
                Err(e) => return Ok(Err(e)),
            }
        }
    };
    let decisions = store.shadows().map_err(failed)?;
    let live = live_facts(cli, store, &samples(&decisions)).map_err(failed)?;
    Ok(Ok(report(&decisions, &live, since)))
}

/// The facts of `wanted` samples as the store has them: milestones read off their records by
/// the roles of the workflows here and of those kept in the store.
fn live_facts(
    cli: &Cli,
    store: &mut dyn Store,
    wanted: &std::collections::BTreeSet<String>,
) -> Result<BTreeMap<String, Facts>, StoreError> {
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    let graphs = load_workflows(cli).map(|(g, _)| g).unwrap_or_default();
    let stored: Vec<WorkflowGraph> = store
        .versions()?
        .into_iter()
        .filter(|v| v.kind == "workflow")
        .flat_map(|v| v.files)
        .filter_map(|(name, text)| load_str(std::path::Path::new(&name), &text).ok())
        .map(WorkflowGraph::build)
        .collect();
    let mut collector = Collector::new(Roles::from_graphs(graphs.iter().chain(&stored)));
    store.each_record(&mut |text| {
        let record: Record = serde_json::from_str(text).map_err(StoreError::Data)?;
        if wanted.contains(record.sample.as_str()) {
            collector.observe(&record);
        }
        Ok(())
    })?;
    let mut samples = Vec::with_capacity(wanted.len());
    for id in wanted {
        samples.extend(store.sample(id)?);
    }
    Ok(collector.finish(samples.iter()))
}
