//! `sampleflow queue`: pending reviews, soonest expiry first, with the screening reason and
//! the creator's key figures. The ops team's daily work list.

use chrono::{DateTime, Utc};

use super::{
    load_workflows, open_existing_store, stderr_color, write_lines, Cli, CliError, EXIT_INVALID,
    EXIT_OK,
};
use crate::analysis::queue::{csv_of, with_items, QueueItem, QueueQuery};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// A header row, then one row per pending request (the columns of `GET /v1/queue?format=csv`).
    Csv,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A table for people, or JSON Lines for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only requests whose sample, creator or product id holds this text (any case).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Only requests of this product category.
    #[arg(long)]
    pub category: Option<String>,
    /// Only requests screened with this reason (`price_cap`, ...).
    #[arg(long)]
    pub reason: Option<String>,
    /// Only requests of creators of this tier.
    #[arg(long)]
    pub tier: Option<String>,
    /// `expiry` (the default), `price` or `followers`; `-` first for descending.
    #[arg(long, allow_hyphen_values = true)]
    pub sort: Option<String>,
    /// At most this many requests (1 to 500; all of them without it).
    #[arg(long)]
    pub limit: Option<String>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let (graphs, report) = load_workflows(cli)?;
    if report.has_errors() {
        eprint!("{}", report.render(stderr_color()));
        return Ok(EXIT_INVALID);
    }
    let mut query = match QueueQuery::parse(
        args.search.as_deref(),
        args.category.as_deref(),
        args.reason.as_deref(),
        args.tier.as_deref(),
        args.sort.as_deref(),
        args.limit.as_deref(),
        None,
    ) {
        Ok(q) => q,
        // `sort=age` as the flag it came from: `--sort age`.
        Err(why) => {
            return Err(CliError::Usage(
                why.replacen('=', " ", 1).replacen('`', "`--", 1),
            ))
        }
    };
    if args.limit.is_none() {
        query.limit = usize::MAX;
    }
    let mut store = open_existing_store(cli)?;
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    let lines = with_items(&graphs, store.as_mut(), |items, clock| {
        let page = query.page(items).items;
        match args.format {
            Format::Json => page
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string()),
            Format::Csv => csv_of(&page).map(|text| text.lines().map(str::to_string).collect()),
            Format::Table => Ok(table(&page, clock)),
        }
    })
    .map_err(failed)?
    .map_err(|why| CliError::Write(std::io::Error::other(why)))?;
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

fn table(items: &[&QueueItem], clock: Option<DateTime<Utc>>) -> Vec<String> {
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
