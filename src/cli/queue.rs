//! `sampleflow queue`: pending reviews, soonest expiry first, with the screening reason and
//! the creator's key figures. The ops team's daily work list.

use crate::model::vocab::EventKind;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    load_workflows, open_existing_store, stderr_color, write_lines, Cli, CliError, EXIT_INVALID,
    EXIT_OK,
};
use crate::graph::WorkflowGraph;
use crate::model::utc;
use crate::model::Instance;
use crate::store::{Store, StoreError};

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

/// One sample waiting for a reviewer.
#[derive(Debug, Serialize)]
struct Item<'a> {
    sample: &'a str,
    #[serde(serialize_with = "utc")]
    expires: DateTime<Utc>,
    reason: Option<&'a str>,
    category: &'a str,
    product: &'a str,
    price: f64,
    quantity: i64,
    creator: &'a str,
    followers: i64,
    engagement_rate: f64,
    fulfillment_rate_90d: Option<f64>,
    posts_30d: i64,
    tier: Option<&'a str>,
    credit: f64,
    completed: i64,
    breaches: usize,
    #[serde(serialize_with = "utc")]
    requested_at: DateTime<Utc>,
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

/// The queue as JSON objects (`queue --format json`), for `serve`.
pub(crate) fn items_json(
    graphs: &[WorkflowGraph],
    store: &mut dyn Store,
) -> Result<Vec<serde_json::Value>, StoreError> {
    with_items(graphs, store, |items, _| {
        items
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::Data)
    })
    .and_then(|r| r)
}

/// The samples waiting for review, soonest expiry first, handed to `f` with the store's clock.
fn with_items<R>(
    graphs: &[WorkflowGraph],
    store: &mut dyn Store,
    f: impl FnOnce(&[Item], Option<DateTime<Utc>>) -> R,
) -> Result<R, StoreError> {
    let samples = store.samples()?;
    let clock = store.meta()?.clock;
    // Waiting for review: in a state that takes `sample_reviewed`, with a deadline running.
    let waiting = |inst: &Instance| {
        graphs
            .iter()
            .find(|g| g.workflow().name.value == inst.workflow)
            .is_some_and(|g| {
                g.move_for(inst.state(), EventKind::SampleReviewed.name())
                    .is_some()
            })
    };
    let mut queue: Vec<(&Instance, DateTime<Utc>)> = samples
        .iter()
        .filter(|i| waiting(i))
        .filter_map(|i| {
            let due = i
                .deadlines
                .iter()
                .filter(|d| d.of_state)
                .map(|d| d.due)
                .min()?;
            Some((i, due))
        })
        .collect();
    queue.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.id().cmp(b.0.id())));
    let mut items = Vec::new();
    for (inst, expires) in &queue {
        let ledger = store.ledger(&inst.sample.creator)?.unwrap_or_default();
        items.push(Item {
            sample: &inst.sample.id,
            expires: *expires,
            reason: inst.reason.as_deref(),
            category: &inst.sample.category,
            product: &inst.sample.product,
            price: inst.product.price,
            quantity: inst.sample.quantity,
            creator: &inst.sample.creator,
            followers: inst.creator.followers,
            engagement_rate: inst.creator.engagement_rate,
            fulfillment_rate_90d: inst.creator.fulfillment_rate_90d,
            posts_30d: inst.creator.posts_30d,
            tier: inst.tier.as_deref(),
            credit: ledger.credit,
            completed: ledger.completed,
            breaches: ledger.breaches.len(),
            requested_at: inst.requested_at,
        });
    }
    Ok(f(&items, clock))
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

fn table(items: &[Item], clock: Option<DateTime<Utc>>) -> Vec<String> {
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
