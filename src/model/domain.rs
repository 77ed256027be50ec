//! The shop's things: a request, the creator and product it names, the creator's ledger, a
//! sample as hooks see it, and the decisions and actions that rules hand back.
//!
//! Rules register these with Rhai (behind `Arc`, so passing one to a hook is a reference-count
//! increment), the runtime changes them and the store saves them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::json::{key, JsonWriter};
use super::SharedStr;

/// Seconds in a day: durations are exact multiples of 24 hours.
pub const DAY: i64 = 86_400;

/// A new sample request, as screening sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleRequest {
    pub sample: SharedStr,
    pub at: DateTime<Utc>,
    #[serde(default = "one")]
    pub quantity: i64,
    /// The shop's auto-approvals so far on the request's day (shop timezone).
    #[serde(default)]
    pub auto_approvals_today: i64,
    /// The creator's tier, from the `tier` hook; screening fills it before calling `screen`.
    #[serde(default)]
    pub tier: SharedStr,
}

fn one() -> i64 {
    1
}

/// The creator as the request describes them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Creator {
    pub id: SharedStr,
    pub followers: i64,
    pub engagement_rate: f64,
    pub posts_30d: i64,
    #[serde(default)]
    pub gmv_30d: Option<f64>,
    #[serde(default)]
    pub avg_video_views: Option<f64>,
    /// `None` when unknown.
    #[serde(default)]
    pub fulfillment_rate_90d: Option<f64>,
    #[serde(default)]
    pub top_categories: Vec<SharedStr>,
}

/// The product asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub id: SharedStr,
    pub category: SharedStr,
    pub price: f64,
    pub unit_cost: f64,
    #[serde(default)]
    pub flags: Vec<SharedStr>,
}

/// A calendar quarter in the shop's timezone, written `2026-Q1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    pub year: i32,
    pub quarter: u8,
}

impl Quarter {
    /// The quarter that `at` falls in, in timezone `tz`.
    pub fn of(at: DateTime<Utc>, tz: Tz) -> Self {
        let local = at.with_timezone(&tz);
        Quarter {
            year: local.year(),
            quarter: (local.month0() / 3 + 1) as u8,
        }
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-Q{}", self.year, self.quarter)
    }
}

impl FromStr for Quarter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a quarter like `2026-Q1`");
        let (year, q) = s.split_once("-Q").ok_or_else(bad)?;
        let year = year.parse().map_err(|_| bad())?;
        let quarter = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&quarter) {
            return Err(bad());
        }
        Ok(Quarter { year, quarter })
    }
}

impl Serialize for Quarter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quarter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What one creator has done with this shop's samples: the creator ledger.
///
/// The runner keeps it; rules read it through a [`LedgerView`] fixed at the moment of the event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ledger {
    /// Samples requested, in any end.
    pub samples: i64,
    /// Samples that reached `completed`.
    pub completed: i64,
    /// Approvals (automatic and manual) per quarter of the approval and category.
    pub approvals: BTreeMap<Quarter, BTreeMap<String, i64>>,
    /// Per product: samples open or completed, and the last cancellation.
    pub products: BTreeMap<String, ProductHistory>,
    /// When each breach (`unfulfill_cancelled`) happened.
    #[serde(serialize_with = "super::utc_seq")]
    pub breaches: Vec<DateTime<Utc>>,
    #[serde(serialize_with = "super::utc_opt")]
    pub blocked_until: Option<DateTime<Utc>>,
    /// Internal credit score, moved by penalties and `creator_adjusted`.
    pub credit: f64,
    /// GMV attributed to the creator's content over all samples.
    pub gmv: f64,
    /// The tier screening used last.
    pub tier: Option<String>,
    pub paid_collab_invited: bool,
    /// Deposits taken and not yet refunded or forfeited.
    pub deposits_held: f64,
    /// Deposits kept after a breach.
    pub deposits_forfeited: f64,
    /// Changes people made by hand (`creator_adjusted`), oldest first: who, when and why.
    pub adjustments: Vec<Adjustment>,
}

impl Ledger {
    /// The row as its derived `Serialize` writes it (a test holds the two equal), written
    /// field by field (see [`super::json`]): a creator's ledger is saved on nearly every change
    /// of one of their samples.
    pub fn write_json(&self, out: &mut String) {
        let mut o = JsonWriter(out);
        key!(o, first "samples").int(self.samples);
        key!(o, "completed").int(self.completed);
        key!(o, "approvals").entries(&self.approvals, |o, (q, by_category)| {
            // A quarter's key as its `Display` writes it: `2026-Q1`.
            o.raw("\"").int(q.year);
            o.raw("-Q").int(q.quarter);
            o.raw("\":").map(by_category, |o, n| o.int(*n));
        });
        key!(o, "products").map(&self.products, |o, h| {
            key!(o, first "open").int(h.open);
            key!(o, "completed").int(h.completed);
            key!(o, "last_cancelled").opt_time(h.last_cancelled.as_ref());
            o.raw("}");
        });
        key!(o, "breaches").list(&self.breaches, |o, at| o.time(at));
        key!(o, "blocked_until").opt_time(self.blocked_until.as_ref());
        key!(o, "credit").f64(self.credit);
        key!(o, "gmv").f64(self.gmv);
        key!(o, "tier").opt_str(self.tier.as_deref());
        key!(o, "paid_collab_invited").bool(self.paid_collab_invited);
        key!(o, "deposits_held").f64(self.deposits_held);
        key!(o, "deposits_forfeited").f64(self.deposits_forfeited);
        // Adjustments are rare (people make them by hand): serde writes them.
        key!(o, "adjustments").value(&self.adjustments);
        o.raw("}");
    }
}

/// One change a person made to a ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Adjustment {
    #[serde(serialize_with = "super::utc")]
    pub at: DateTime<Utc>,
    /// The event that made it.
    pub event: String,
    pub by: Option<String>,
    pub note: Option<String>,
    pub credit: Option<f64>,
    pub block_days: Option<i64>,
}

/// One creator's history with one product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProductHistory {
    /// Samples of it that are open now.
    pub open: i64,
    pub completed: i64,
    /// When a sample of it last ended in a cancelled state.
    #[serde(serialize_with = "super::utc_opt")]
    pub last_cancelled: Option<DateTime<Utc>>,
}

/// A ledger as of one moment: "now" and its quarter decide windows and limits.
#[derive(Debug, Clone)]
pub struct LedgerView {
    pub ledger: Arc<Ledger>,
    pub now: DateTime<Utc>,
    pub quarter: Quarter,
}

impl LedgerView {
    pub fn new(ledger: Arc<Ledger>, now: DateTime<Utc>, tz: Tz) -> Self {
        LedgerView {
            ledger,
            now,
            quarter: Quarter::of(now, tz),
        }
    }

    /// True when `then` is less than `secs` before now ("in the last N days" excludes exactly N).
    fn within(&self, then: DateTime<Utc>, secs: i64) -> bool {
        let age = self.now.signed_duration_since(then).num_seconds();
        (0..secs).contains(&age)
    }

    pub fn blocked(&self) -> bool {
        self.ledger
            .blocked_until
            .is_some_and(|until| until > self.now)
    }

    pub fn breaches_within(&self, secs: i64) -> i64 {
        self.ledger
            .breaches
            .iter()
            .filter(|t| self.within(**t, secs))
            .count() as i64
    }

    pub fn has_product(&self, product: &str) -> bool {
        self.ledger
            .products
            .get(product)
            .is_some_and(|p| p.open > 0 || p.completed > 0)
    }

    pub fn cancelled_within(&self, product: &str, secs: i64) -> bool {
        self.ledger
            .products
            .get(product)
            .and_then(|p| p.last_cancelled)
            .is_some_and(|t| self.within(t, secs))
    }

    pub fn approvals_this_quarter(&self, category: &str) -> i64 {
        self.ledger
            .approvals
            .get(&self.quarter)
            .and_then(|c| c.get(category))
            .copied()
            .unwrap_or(0)
    }
}

/// A post, as `content_check` sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Post {
    pub content_id: SharedStr,
    pub format: SharedStr,
    pub has_product_link: bool,
    #[serde(default)]
    pub has_ad_disclosure: bool,
    #[serde(default)]
    pub live_minutes: Option<f64>,
}

/// A sample in flight, as the post-screening hooks see it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sample {
    pub id: SharedStr,
    pub state: SharedStr,
    pub creator: SharedStr,
    pub product: SharedStr,
    pub category: SharedStr,
    pub quantity: i64,
    /// Unit cost x quantity + shipping.
    pub cost: f64,
    /// Sum over the sample's contents of their latest GMV.
    pub gmv: f64,
    /// The deposit taken, if any.
    pub deposit: Option<f64>,
    /// The content whose keep-up period is running.
    pub keep_up_content: Option<SharedStr>,
}

/// Screening's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    Approve,
    Reject,
    Review,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
            Verdict::Review => "review",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a script's `approve(reason)`, `reject(reason)` or `review(reason)` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub reason: SharedStr,
}

/// An action that a hook asks for; the runner adds the creator, ids and applies it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    RequireDeposit { amount: f64 },
    Penalize { credit: i64 },
    BlockCreator { days: i64 },
    InvitePaidCollab,
    FlagDisclosure,
    RemindCreator,
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::RequireDeposit { .. } => "require_deposit",
            Action::Penalize { .. } => "penalize",
            Action::BlockCreator { .. } => "block_creator",
            Action::InvitePaidCollab => "invite_paid_collab",
            Action::FlagDisclosure => "flag_disclosure",
            Action::RemindCreator => "remind_creator",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn quarters_follow_the_shop_timezone() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // 03:00 UTC on 1 April is still 31 March in Los Angeles.
        let q = Quarter::of(at("2026-04-01T03:00:00Z"), la);
        assert_eq!(q.to_string(), "2026-Q1");
        assert_eq!(
            Quarter::of(at("2026-04-01T08:00:00Z"), la).to_string(),
            "2026-Q2"
        );
        assert_eq!(
            "2026-Q4".parse::<Quarter>().unwrap(),
            Quarter {
                year: 2026,
                quarter: 4
            }
        );
        assert!("2026-Q5".parse::<Quarter>().is_err());
    }

    #[test]
    fn windows_exclude_exactly_n_days() {
        let ledger = Ledger {
            breaches: vec![at("2026-01-01T00:00:00Z")],
            ..Ledger::default()
        };
        let view = |now| LedgerView::new(Arc::new(ledger.clone()), at(now), Tz::UTC);
        assert_eq!(view("2026-01-31T00:00:00Z").breaches_within(30 * DAY), 0);
        assert_eq!(view("2026-01-30T23:59:59Z").breaches_within(30 * DAY), 1);
        // A breach after now (a replayed ledger) is not "in the last N days".
        assert_eq!(view("2025-12-31T00:00:00Z").breaches_within(30 * DAY), 0);
    }
}
