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
    /// The product's title, where the connector knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_title: Option<&'a str>,
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
    let titles = store.product_titles()?;
    let mut items = Vec::new();
    for (inst, expires) in &queue {
        let ledger = store.ledger(&inst.sample.creator)?.unwrap_or_default();
        items.push(QueueItem {
            sample: &inst.sample.id,
            expires: *expires,
            reason: inst.reason.as_deref(),
            category: &inst.sample.category,
            product: &inst.sample.product,
            product_title: titles.get(inst.sample.product.as_str()).map(String::as_str),
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

/// What to sort the queue by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Expiry,
    Price,
    Followers,
}

/// A page of the queue: `q` (text in the sample, creator or product id), `category`, `reason`,
/// `tier`, `sort` (`expiry`, `price`, `followers`, `-` first for descending), `limit` and
/// `cursor` (where the previous page ended), as `GET /v1/queue` and `queue`'s flags take them.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueQuery {
    pub q: Option<String>,
    pub category: Option<String>,
    pub reason: Option<String>,
    pub tier: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: usize,
    pub after: Option<(f64, String)>,
}

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest page.
pub const MAX_LIMIT: usize = 500;

impl Default for QueueQuery {
    fn default() -> Self {
        QueueQuery {
            q: None,
            category: None,
            reason: None,
            tier: None,
            sort: SortKey::Expiry,
            descending: false,
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

/// Empty text is no filter.
fn given(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl QueueQuery {
    /// The query of these parameters (each as text, as in a URL), or what is wrong with one.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        q: Option<&str>,
        category: Option<&str>,
        reason: Option<&str>,
        tier: Option<&str>,
        sort: Option<&str>,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<QueueQuery, String> {
        let mut query = QueueQuery {
            q: given(q).map(|s| s.to_lowercase()),
            category: given(category),
            reason: given(reason),
            tier: given(tier),
            ..QueueQuery::default()
        };
        if let Some(sort) = given(sort) {
            let (descending, key) = match sort.strip_prefix('-') {
                Some(key) => (true, key),
                None => (false, sort.as_str()),
            };
            query.descending = descending;
            query.sort = match key {
                "expiry" => SortKey::Expiry,
                "price" => SortKey::Price,
                "followers" => SortKey::Followers,
                other => {
                    return Err(format!(
                        "`sort={other}`: the queue sorts by `expiry`, `price` or `followers` (`-` first for descending)"
                    ))
                }
            };
        }
        if let Some(limit) = given(limit) {
            query.limit = match limit.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "`limit={limit}`: a page holds 1 to {MAX_LIMIT} requests"
                    ))
                }
            };
        }
        if let Some(cursor) = given(cursor) {
            query.after = Some(
                decode_cursor(&cursor)
                    .ok_or_else(|| format!("`cursor={cursor}` is not a cursor this queue gave"))?,
            );
        }
        Ok(query)
    }

    fn key(&self, item: &QueueItem) -> f64 {
        match self.sort {
            SortKey::Expiry => item.expires.timestamp_millis() as f64,
            SortKey::Price => item.price,
            SortKey::Followers => item.followers as f64,
        }
    }

    /// `a` before `b` in this query's order: by the key (descending when asked), then by id.
    fn order(&self, a: (f64, &str), b: (f64, &str)) -> std::cmp::Ordering {
        let by_key = a.0.total_cmp(&b.0);
        let by_key = if self.descending {
            by_key.reverse()
        } else {
            by_key
        };
        by_key.then_with(|| a.1.cmp(b.1))
    }

    fn matches(&self, item: &QueueItem) -> bool {
        let text = self.q.as_deref().is_none_or(|q| {
            [item.sample, item.creator, item.product]
                .iter()
                .any(|s| s.to_lowercase().contains(q))
        });
        text && self.category.as_deref().is_none_or(|c| item.category == c)
            && self
                .reason
                .as_deref()
                .is_none_or(|r| item.reason == Some(r))
            && self.tier.as_deref().is_none_or(|t| item.tier == Some(t))
    }

    /// The items this query matches, in its order (all of them, before paging).
    pub fn filtered<'i, 'a>(&self, items: &'i [QueueItem<'a>]) -> Vec<&'i QueueItem<'a>> {
        let mut out: Vec<&QueueItem> = items.iter().filter(|i| self.matches(i)).collect();
        out.sort_by(|a, b| self.order((self.key(a), a.sample), (self.key(b), b.sample)));
        out
    }

    /// One page: at most `limit` items after the cursor, the cursor of the next page (when there
    /// is one) and how many match in all.
    pub fn page<'i, 'a>(&self, items: &'i [QueueItem<'a>]) -> QueuePage<'i, 'a> {
        let all = self.filtered(items);
        let total = all.len();
        let start = match &self.after {
            None => 0,
            Some((key, id)) => all
                .iter()
                .position(|i| {
                    self.order((self.key(i), i.sample), (*key, id)) == std::cmp::Ordering::Greater
                })
                .unwrap_or(total),
        };
        let end = start.saturating_add(self.limit).min(total);
        let next = (end < total && end > start).then(|| {
            let last = all[end - 1];
            encode_cursor(self.key(last), last.sample)
        });
        QueuePage {
            items: all[start..end].to_vec(),
            next,
            total,
            start,
        }
    }
}

/// A page of the queue.
#[derive(Debug)]
pub struct QueuePage<'i, 'a> {
    pub items: Vec<&'i QueueItem<'a>>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
    /// How many requests match the filters, on every page.
    pub total: usize,
    /// How many matching requests come before this page.
    pub start: usize,
}

/// A cursor: the last item's sort key and id, as hex (opaque to clients).
fn encode_cursor(key: f64, id: &str) -> String {
    hex::encode(format!("{}|{id}", key.to_bits()))
}

fn decode_cursor(cursor: &str) -> Option<(f64, String)> {
    let bytes = hex::decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (bits, id) = text.split_once('|')?;
    Some((f64::from_bits(bits.parse().ok()?), id.to_string()))
}

/// The queue as CSV: a header row, then one row per item (the JSON's fields, in its order).
pub fn csv_of(items: &[&QueueItem]) -> Result<String, String> {
    // The JSON's fields by the header's names: `product_title` is left out of the JSON when
    // unknown, an empty cell here.
    let values = items
        .iter()
        .map(|item| serde_json::to_value(item).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    super::csv_of_json(&CSV_HEADER, &values)
}

/// The CSV's columns (the header a CSV of no item still has).
pub const CSV_HEADER: [&str; 18] = [
    "sample",
    "expires",
    "reason",
    "category",
    "product",
    "product_title",
    "price",
    "quantity",
    "creator",
    "followers",
    "engagement_rate",
    "fulfillment_rate_90d",
    "posts_30d",
    "tier",
    "credit",
    "completed",
    "breaches",
    "requested_at",
];

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn item<'a>(sample: &'a str, price: f64, hours: u32, category: &'a str) -> QueueItem<'a> {
        let at = Utc.with_ymd_and_hms(2026, 3, 27, hours, 0, 0).unwrap();
        QueueItem {
            sample,
            expires: at,
            reason: Some("price_cap"),
            category,
            product: "p-1",
            product_title: None,
            price,
            quantity: 1,
            creator: "c-1",
            followers: (price * 100.0) as i64,
            engagement_rate: 0.05,
            fulfillment_rate_90d: None,
            posts_30d: 4,
            tier: Some("new"),
            credit: 0.0,
            completed: 0,
            breaches: 0,
            requested_at: at,
        }
    }

    #[test]
    fn a_query_filters_sorts_and_pages_with_a_cursor() {
        let items = vec![
            item("s1", 75.0, 9, "beauty"),
            item("s2", 60.0, 8, "home"),
            item("s3", 90.0, 7, "beauty"),
            item("s4", 10.0, 6, "beauty"),
        ];
        let q = QueueQuery::parse(
            None,
            Some("beauty"),
            None,
            None,
            Some("-price"),
            Some("2"),
            None,
        )
        .unwrap();
        let page = q.page(&items);
        let ids: Vec<_> = page.items.iter().map(|i| i.sample).collect();
        assert_eq!(ids, ["s3", "s1"]);
        assert_eq!(page.total, 3);
        let cursor = page.next.clone().unwrap();
        let q2 = QueueQuery::parse(
            None,
            Some("beauty"),
            None,
            None,
            Some("-price"),
            Some("2"),
            Some(&cursor),
        )
        .unwrap();
        let page2 = q2.page(&items);
        let ids: Vec<_> = page2.items.iter().map(|i| i.sample).collect();
        assert_eq!(ids, ["s4"]);
        assert_eq!(page2.next, None);
        // A CSV takes every match after the cursor (no limit): no overflow.
        let mut q3 = q2.clone();
        q3.limit = usize::MAX;
        let ids: Vec<_> = q3.page(&items).items.iter().map(|i| i.sample).collect();
        assert_eq!(ids, ["s4"]);
        // Soonest expiry first by default; `q` finds text in the sample id.
        let q = QueueQuery::parse(Some("S2"), None, None, None, None, None, None).unwrap();
        assert_eq!(q.page(&items).items[0].sample, "s2");
        let all = QueueQuery::default().page(&items);
        let ids: Vec<_> = all.items.iter().map(|i| i.sample).collect();
        assert_eq!(ids, ["s4", "s3", "s2", "s1"]);
    }

    #[test]
    fn a_bad_parameter_says_which() {
        let e = QueueQuery::parse(None, None, None, None, Some("age"), None, None).unwrap_err();
        assert!(e.contains("`sort=age`"), "{e}");
        let e = QueueQuery::parse(None, None, None, None, None, Some("501"), None).unwrap_err();
        assert!(e.contains("1 to 500"), "{e}");
        let e = QueueQuery::parse(None, None, None, None, None, None, Some("zz")).unwrap_err();
        assert!(e.contains("`cursor=zz`"), "{e}");
    }

    #[test]
    fn the_csv_header_is_the_same_with_and_without_rows() {
        let items = [item("s1", 75.0, 9, "beauty")];
        let one = csv_of(&items.iter().collect::<Vec<_>>()).unwrap();
        let none = csv_of(&[]).unwrap();
        assert_eq!(one.lines().next(), none.lines().next());
        assert_eq!(none.lines().count(), 1);
        assert_eq!(one.lines().count(), 2);
        assert!(one
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("s1,2026-03-27T09:00:00Z,price_cap,"));
    }
}
