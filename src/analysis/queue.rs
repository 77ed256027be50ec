//! The review queue: the samples waiting for a reviewer's decision, soonest expiry first, with
//! the screening reason and the creator's key figures (`queue`, `GET /v1/queue`, the console).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::graph::WorkflowGraph;
use crate::model::utc;
use crate::model::vocab::EventKind;
use crate::model::Instance;
use crate::store::{Store, StoreError};

/// One sample waiting for a reviewer.
#[derive(Debug, Serialize)]
pub struct QueueItem<'a> {
    pub sample: &'a str,
    #[serde(serialize_with = "utc")]
    pub expires: DateTime<Utc>,
    pub reason: Option<&'a str>,
    pub category: &'a str,
    pub product: &'a str,
    pub price: f64,
    pub quantity: i64,
    pub creator: &'a str,
    pub followers: i64,
    pub engagement_rate: f64,
    pub fulfillment_rate_90d: Option<f64>,
    pub posts_30d: i64,
    pub tier: Option<&'a str>,
    pub credit: f64,
    pub completed: i64,
    pub breaches: usize,
    #[serde(serialize_with = "utc")]
    pub requested_at: DateTime<Utc>,
}

/// The queue as JSON objects (`queue --format json`), for `serve`.
pub fn items_json(
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
pub fn with_items<R>(
    graphs: &[WorkflowGraph],
    store: &mut dyn Store,
    f: impl FnOnce(&[QueueItem], Option<DateTime<Utc>>) -> R,
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
        items.push(QueueItem {
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
