//! `sampleflow queue`: pending reviews, soonest expiry first, with the screening reason and
//! the creator's key figures. The ops team's daily work list.

use chrono::{DateTime, Utc};

use super::{
    load_workflows, open_existing_store, stderr_color, write_lines, Cli, CliError, EXIT_INVALID,
    EXIT_OK,
};
use crate::analysis::queue::{with_items, QueueItem};
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A table for people, or JSON Lines for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let (graphs, report) = load_workflows(cli)?;
    if report.has_errors() {
        eprint!("{}", report.render(stderr_color()));
        return Ok(EXIT_INVALID);
    }
    let mut store = open_existing_store(cli)?;
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    let lines = with_items(&graphs, store.as_mut(), |items, clock| match args.format {
        Format::Json => items
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::Data),
        Format::Table => Ok(table(items, clock)),
    })
    .and_then(|r| r)
    .map_err(failed)?;
    write_lines(lines)?;
    Ok(EXIT_OK)
}

fn left(at: DateTime<Utc>, clock: Option<DateTime<Utc>>) -> String {
    let Some(clock) = clock else {
        return String::new();
    };
    let secs = (at - clock).num_seconds();
    if secs <= 0 {
        return "due".into();
    }
    let (d, h) = (secs / 86_400, secs % 86_400 / 3_600);
    if d > 0 {
        format!("{d}d {h}h")
    } else {
        format!("{h}h {}m", secs % 3_600 / 60)
    }
}

fn table(items: &[QueueItem], clock: Option<DateTime<Utc>>) -> Vec<String> {
    let header = [
        "SAMPLE",
        "EXPIRES",
        "LEFT",
        "REASON",
        "CATEGORY",
        "PRICE",
        "QTY",
        "CREATOR",
        "FOLLOWERS",
        "ENGAGE",
        "FULFIL",
        "POSTS",
        "TIER",
        "CREDIT",
        "DONE",
        "BREACH",
    ];
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.sample.to_string(),
                i.expires.format("%Y-%m-%d %H:%M").to_string(),
                left(i.expires, clock),
                i.reason.unwrap_or("-").to_string(),
                i.category.to_string(),
                format!("{:.2}", i.price),
                i.quantity.to_string(),
                i.creator.to_string(),
                i.followers.to_string(),
                format!("{:.3}", i.engagement_rate),
                i.fulfillment_rate_90d
                    .map_or("?".into(), |r| format!("{r:.2}")),
                i.posts_30d.to_string(),
                i.tier.unwrap_or("-").to_string(),
                format!("{}", i.credit),
                i.completed.to_string(),
                i.breaches.to_string(),
            ]
        })
        .collect();
    let mut out = super::columns(&header, rows);
    out.push(format!("{} pending review(s)", items.len()));
    out
}
