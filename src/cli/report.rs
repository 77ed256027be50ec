//! `sampleflow report [--format table|json|csv] [--html FILE]`: the program's results from the
//! store.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{
    load_workflows, open_existing_store, write_lines, Cli, CliError, EXIT_FAILED, EXIT_OK,
    EXIT_USAGE,
};
use chrono::{DateTime, Utc};

use crate::analysis::report::{Report, ReportOptions, Window};
use crate::analysis::{html, Collector, Roles};
use crate::definition::load_str;
use crate::graph::WorkflowGraph;
use crate::model::Record;
use crate::rules::{RuleSet, DEFAULT_TIMEZONE};
use crate::store::{Store, StoreError};

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

/// A window bound: RFC 3339, or a date read as midnight in `tz`.
pub(super) fn bound(flag: &str, text: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!("`{flag} {text}`: expected a time such as 2026-03-01T00:00:00Z or a date such as 2026-03-01")
    })?;
    date.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("`{flag} {text}`: no midnight on that day in {tz}"))
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

/// A report and what its page draws.
pub(crate) struct Built {
    pub report: Report,
    graphs: Vec<WorkflowGraph>,
    /// Samples per state now, per workflow (in the window).
    counts: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Built {
    fn drawn(&self) -> Vec<(&WorkflowGraph, BTreeMap<String, u64>)> {
        self.graphs
            .iter()
            .map(|g| {
                let name = g.workflow().name.value.as_str();
                (g, self.counts.get(name).cloned().unwrap_or_default())
            })
            .collect()
    }

    /// The self-contained page of `report --html`.
    pub fn page(&self) -> String {
        html::page(&self.report, &self.drawn())
    }

    /// The page's figures and charts, for a page of the console.
    pub fn body(&self) -> String {
        html::body(&self.report, &self.drawn())
    }
}

/// Builds the report of `store` for `args` (its format and `--html` aside); `Err` is a bad
/// window, said for the user.
pub(crate) fn build(
    cli: &Cli,
    store: &mut dyn Store,
    args: &Args,
) -> Result<Result<Built, String>, CliError> {
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    let graphs = match load_workflows(cli) {
        Ok((graphs, _)) => graphs,
        Err(e) => {
            eprintln!(
                "warning: {e}; states are read by the roles of the workflows kept in the store"
            );
            Vec::new()
        }
    };
    // Milestones by the roles states declare: the workflows here first, then every version
    // that ran on this store (a state renamed since keeps its role).
    let stored: Vec<WorkflowGraph> = store
        .versions()
        .map_err(failed)?
        .into_iter()
        .filter(|v| v.kind == "workflow")
        .flat_map(|v| v.files)
        .filter_map(|(name, text)| load_str(std::path::Path::new(&name), &text).ok())
        .map(WorkflowGraph::build)
        .collect();
    let mut collector = Collector::new(Roles::from_graphs(graphs.iter().chain(&stored)));
    store
        .each_record(&mut |text| {
            let record: Record = serde_json::from_str(text).map_err(StoreError::Data)?;
            collector.observe(&record);
            Ok(())
        })
        .map_err(failed)?;
    let samples = store.samples().map_err(failed)?;
    let mut facts = collector.finish(samples.iter());
    // Weeks are the shop's; without loadable rules they fall back to the default timezone.
    let rules = RuleSet::load(&cli.rules).ok();
    let tz = match &rules {
        Some(rules) => rules.policy().timezone,
        None => {
            eprintln!(
                "warning: the rules in `{}` do not load; weeks are counted in {}, and categories are not checked",
                cli.rules.display(),
                DEFAULT_TIMEZONE
            );
            DEFAULT_TIMEZONE
        }
    };
    let mut window = Window::default();
    for (flag, given, slot) in [
        ("--since", &args.since, &mut window.since),
        ("--until", &args.until, &mut window.until),
    ] {
        if let Some(text) = given {
            match bound(flag, text, tz) {
                Ok(t) => *slot = Some(t),
                Err(e) => return Ok(Err(e)),
            }
        }
    }
    if let (Some(s), Some(u)) = (window.since, window.until) {
        if s >= u {
            return Ok(Err("`--since` must be before `--until`".into()));
        }
    }
    // Settled: completed, or in an end state of its workflow.
    let terminal = |workflow: &str, state: &str| {
        graphs
            .iter()
            .chain(&stored)
            .find(|g| g.workflow().name.value == workflow)
            .and_then(|g| g.is_terminal(state))
            .unwrap_or(false)
    };
    for f in facts.values_mut() {
        f.settle(terminal);
    }
    let options = ReportOptions {
        window,
        by_creator: args.by == Some(By::Creator),
    };
    let mut report = Report::build_with(facts.values(), tz, options);
    if let Some(rules) = &rules {
        report.count_undeclared(facts.values(), |c| rules.policy().declares(c));
    }
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for f in facts.values().filter(|f| window.contains(f.requested_at)) {
        *counts
            .entry(f.workflow.clone())
            .or_default()
            .entry(f.state.clone())
            .or_insert(0) += 1;
    }
    Ok(Ok(Built {
        report,
        graphs,
        counts,
    }))
}
