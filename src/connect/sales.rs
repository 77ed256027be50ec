//! Sales: the orders attributed to creators' content, read in windows of at most 90 days from
//! a watermark kept in the store (less an overlap, so late refunds are seen), kept as order
//! lines, and summed per content: each content posted for one of the shop's samples gets its
//! totals to date (orders, GMV of the units not refunded) as a `content_metrics` event whose id
//! is derived from those totals, so a poll that finds nothing new applies nothing. Orders of
//! content we did not sample are kept and never applied.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::platform::Client;
use super::Config;
use crate::store::{OrderLine, Store};

/// The longest window one orders search may cover.
pub const WINDOW: i64 = 90 * 86_400;
/// The watermark's key in the store.
pub const WATERMARK: &str = "orders_until";

/// States whose samples take `content_metrics`.
const TAKES_METRICS: [&str; 3] = ["content_pending", "post_in_review", "completed"];

/// Reads the orders since the watermark (the first time: the last 90 days) up to `until`
/// (Unix seconds of the platform's clock), keeps their lines, moves the watermark, and gives
/// the `content_metrics` events not applied yet (`known`: the ids applied), stamped `at`.
pub fn poll(
    client: &Client,
    config: &Config,
    side: &mut Box<dyn Store>,
    known: &HashSet<String>,
    until: i64,
    at: DateTime<Utc>,
) -> Result<Vec<String>, String> {
    let store = |e: crate::store::StoreError| e.to_string();
    let watermark = side
        .connector_value(WATERMARK)
        .map_err(store)?
        .and_then(|w| w.parse::<i64>().ok());
    let mut from = match watermark {
        Some(w) => w - config.orders_overlap,
        None => until - WINDOW,
    };
    while from < until {
        let to = (from + WINDOW).min(until);
        let orders = client
            .orders(from, to)
            .map_err(|e| format!("the orders search failed: {e}"))?;
        let mut lines = Vec::new();
        for order in orders {
            for sku in order.skus {
                let Some(content) = sku.content_id.filter(|c| !c.is_empty()) else {
                    continue;
                };
                let amount = sku
                    .price
                    .as_ref()
                    .and_then(|p| p.amount.trim().parse::<f64>().ok())
                    .filter(|a| a.is_finite() && *a >= 0.0)
                    .unwrap_or(0.0);
                lines.push(OrderLine {
                    order_id: order.id.clone(),
                    sku_id: sku.sku_id,
                    content_id: content,
                    amount,
                    quantity: sku.quantity,
                    refunded_quantity: sku.refunded_quantity.min(sku.quantity),
                });
            }
        }
        side.put_order_lines(&lines).map_err(store)?;
        side.set_connector_value(WATERMARK, Some(&to.to_string()))
            .map_err(store)?;
        from = to;
    }
    // Content -> the sample it was posted for (one that takes metrics now).
    let mut sampled: HashMap<String, String> = HashMap::new();
    for inst in side.samples().map_err(store)? {
        if !TAKES_METRICS.contains(&inst.state()) {
            continue;
        }
        for content in inst.contents.keys() {
            sampled.insert(content.clone(), inst.id().to_string());
        }
    }
    let stamp = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out = Vec::new();
    for sales in side.content_sales().map_err(store)? {
        let Some(sample) = sampled.get(&sales.content_id) else {
            continue;
        };
        let gmv = (sales.gmv * 100.0).round() / 100.0;
        let id = super::map::event_id(
            sample,
            &format!(
                "sales-{}-{}-{}",
                sales.content_id,
                sales.orders,
                (gmv * 100.0).round() as i64
            ),
        );
        if known.contains(&id) {
            continue;
        }
        out.push(
            json!({"id": id, "type": "content_metrics", "at": stamp, "sample": sample,
                   "content_id": sales.content_id, "orders": sales.orders, "gmv": gmv.max(0.0)})
            .to_string(),
        );
    }
    Ok(out)
}
