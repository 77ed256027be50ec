//! `sampleflow tune (EVENTS.jsonl | --from-db) --param NAME=LOW..HIGH[:STEP] ...`: the events
//! replayed under the rules with every combination of some policy values, and the trade-off
//! between sample cost and GMV.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::{
    load_program, open_existing_store, write_lines, Cli, CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE,
};
use crate::analysis::tune::{html, render_json, render_table, threads, tune, Grid, Stream};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["events", "from_db"])))]
pub struct Args {
    /// JSON Lines of events to replay.
    #[arg(value_name = "EVENTS.jsonl")]
    pub events: Option<PathBuf>,
    /// Replay the raw events kept in the store (`--db`) instead; the store is only read.
    #[arg(long)]
    pub from_db: bool,
    /// A policy parameter and its values: `min_followers=3000..8000:1000`, `price_cap=40..80:10`,
    /// `min_engagement_rate=0.01..0.05:0.01`, `review_window=5d..9d:2d`. The step defaults to 1
    /// (counts, USD), 0.01 (rates) or 1d (durations). Give one per parameter; the grid is every
    /// combination, at most 10,000 points.
    #[arg(long = "param", value_name = "NAME=LOW..HIGH[:STEP]", required = true)]
    pub params: Vec<String>,
    /// Set the parameters in this category's block of `policy.yaml` (default: the `default`
    /// block).
    #[arg(long, value_name = "C")]
    pub category: Option<String>,
    /// Pick the point with the most GMV that costs at most this much, with the `policy.yaml`
    /// lines that make it.
    #[arg(long, value_name = "USD", value_parser = usd)]
    pub max_cost: Option<f64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write a self-contained HTML page with the points plotted here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// An amount in USD: a finite number, at least 0.
fn usd(text: &str) -> Result<f64, String> {
    match text
        .trim()
        .trim_start_matches('$')
        .replace(',', "")
        .parse::<f64>()
    {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!(
            "`{text}` is not an amount in USD (a number, at least 0)"
        )),
    }
}

/// Refuses an `--html` that would overwrite the events or a file of the store.
fn clobbers(cli: &Cli, html: &Path, events: Option<&Path>) -> Option<String> {
    let same = |other: &Path| match same_file::is_same_file(html, other) {
        Ok(same) => same,
        Err(_) => matches!(
            (std::path::absolute(html), std::path::absolute(other)),
            (Ok(a), Ok(b)) if a == b
        ),
    };
    if let Some(events) = events.filter(|e| same(e)) {
        return Some(format!("the events file `{}`", events.display()));
    }
    ["", "-wal", "-shm", ".lock"]
        .iter()
        .map(|suffix| {
            let mut name = cli.db.as_os_str().to_os_string();
            name.push(suffix);
            PathBuf::from(name)
        })
        .find(|f| same(f))
        .map(|f| format!("the store's file `{}`", f.display()))
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    if let Some(html) = &args.html {
        if let Some(what) = clobbers(cli, html, args.events.as_deref()) {
            eprintln!(
                "error: `--html {}` is {what}; writing the page there would destroy it, and nothing was touched",
                html.display()
            );
            return Ok(EXIT_USAGE);
        }
    }
    let program = match load_program(cli)? {
        Ok(program) => program,
        Err(code) => return Ok(code),
    };
    let grid = match Grid::parse(
        program.rules.policy(),
        args.category.as_deref(),
        &args.params,
    ) {
        Ok(grid) => grid,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let stream = match &args.events {
        Some(path) => Stream::read_file(path).map_err(|source| CliError::Read {
            path: path.clone(),
            source,
        })?,
        None => {
            let mut store = open_existing_store(cli)?;
            let lines = store.events().map_err(|source| CliError::Store {
                path: cli.db.clone(),
                source,
            })?;
            Stream::from_lines(&lines)
        }
    };
    let jobs = grid.len() + usize::from(grid.today_index().is_none());
    let threads = threads(jobs);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(jobs as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} points replayed {elapsed} {eta}")
        {
            bar.set_style(style);
        }
        bar
    });
    let progress = |done: usize, _total: usize| {
        if let Some(bar) = &bar {
            bar.set_position(done as u64);
        }
    };
    let start = Instant::now();
    let result = tune(
        &program,
        grid,
        Arc::new(stream),
        args.max_cost,
        threads,
        &progress,
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let result = match result {
        Ok(result) => result,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_FAILED);
        }
    };
    let spilled: u64 = result.points.iter().map(|p| p.figures.spilled).sum();
    eprintln!(
        "tune: {} points, {} events each, {} at a time, in {:.1} s{}",
        result.points.len(),
        result.lines,
        result.threads,
        start.elapsed().as_secs_f64(),
        if spilled > 0 {
            format!("; {spilled} ended samples left the replays' memory for temporary files")
        } else {
            String::new()
        }
    );
    match args.format {
        Format::Table => write_lines([render_table(&result).trim_end().to_string()])?,
        Format::Json => write_lines([serde_json::to_string_pretty(&render_json(&result))
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))])?,
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::page(&result)).map_err(|source| CliError::Read {
            path: path.clone(),
            source,
        })?;
        eprintln!("wrote {}", path.display());
    }
    Ok(EXIT_OK)
}
