//! The shipped default policy written in plain Rust: the baseline that the screening benchmark
//! measures the Rhai rules against, and the oracle that a test holds them to on a whole corpus.
//!
//! It reads the same `Policy`, so a tuned number changes both; a change of script logic must be
//! mirrored here, or the agreement test fails.

use std::collections::HashMap;

use chrono_tz::Tz;

use sampleflow::machinery::model::{Creator, LedgerView, Product, SampleRequest, Verdict};
use sampleflow::machinery::rules::{ParamValue, Policy, ScreenInput};

/// One category's numbers, resolved once.
#[derive(Debug, Clone)]
struct Numbers {
    restricted: Vec<String>,
    breach_window: i64,
    cooldown: i64,
    quarter_limit: i64,
    min_followers: i64,
    min_fulfillment_rate: f64,
    max_quantity: i64,
    price_cap: f64,
    min_engagement_rate: f64,
    min_posts_30d: i64,
    daily_quota: i64,
    silver_gmv: f64,
    gold_gmv: f64,
    gold_clean_window: i64,
}

impl Numbers {
    fn new(policy: &Policy, category: &str) -> Numbers {
        let get = |name: &str| {
            policy
                .get(category, name)
                .cloned()
                .unwrap_or(ParamValue::Int(0))
        };
        Numbers {
            restricted: get("restricted_categories").as_list().to_vec(),
            breach_window: get("breach_window").as_i64(),
            cooldown: get("cooldown").as_i64(),
            quarter_limit: get("quarter_limit").as_i64(),
            min_followers: get("min_followers").as_i64(),
            min_fulfillment_rate: get("min_fulfillment_rate").as_f64(),
            max_quantity: get("max_quantity").as_i64(),
            price_cap: get("price_cap").as_f64(),
            min_engagement_rate: get("min_engagement_rate").as_f64(),
            min_posts_30d: get("min_posts_30d").as_i64(),
            daily_quota: get("daily_quota").as_i64(),
            silver_gmv: get("silver_gmv").as_f64(),
            gold_gmv: get("gold_gmv").as_f64(),
            gold_clean_window: get("gold_clean_window").as_i64(),
        }
    }
}

/// Screening in plain Rust.
#[derive(Debug, Clone)]
pub struct NativeRules {
    timezone: Tz,
    default: Numbers,
    categories: HashMap<String, Numbers>,
}

impl NativeRules {
    pub fn new(policy: &Policy) -> NativeRules {
        NativeRules {
            timezone: policy.timezone,
            default: Numbers::new(policy, "default"),
            categories: policy
                .categories
                .keys()
                .map(|c| (c.clone(), Numbers::new(policy, c)))
                .collect(),
        }
    }

    /// The tier and the decision with its reason, as the shipped scripts give them.
    pub fn screen(&self, input: &ScreenInput) -> (&'static str, Verdict, &'static str) {
        let n = self
            .categories
            .get(input.product.category.as_str())
            .unwrap_or(&self.default);
        let ledger = LedgerView::new(input.ledger.clone(), input.request.at, self.timezone);
        let tier = tier(n, &ledger);
        let (verdict, reason) = decide(
            n,
            &input.request,
            tier,
            &input.creator,
            &input.product,
            &ledger,
        );
        (tier, verdict, reason)
    }
}

fn tier(n: &Numbers, ledger: &LedgerView) -> &'static str {
    let l = &ledger.ledger;
    if l.completed == 0 {
        "new"
    } else if l.gmv >= n.gold_gmv && ledger.breaches_within(n.gold_clean_window) == 0 {
        "gold"
    } else if l.gmv >= n.silver_gmv {
        "silver"
    } else {
        "bronze"
    }
}

fn decide(
    n: &Numbers,
    request: &SampleRequest,
    tier: &str,
    creator: &Creator,
    product: &Product,
    ledger: &LedgerView,
) -> (Verdict, &'static str) {
    use Verdict::{Approve, Reject, Review};
    let category = product.category.as_str();
    let rate = creator.fulfillment_rate_90d;
    if n.restricted.iter().any(|c| c == category) {
        return (Reject, "restricted_category");
    }
    if ledger.blocked() {
        return (Reject, "blocked");
    }
    if ledger.breaches_within(n.breach_window) > 0 {
        return (Reject, "recent_breach");
    }
    if ledger.has_product(&product.id) {
        return (Reject, "duplicate_product");
    }
    if ledger.cancelled_within(&product.id, n.cooldown) {
        return (Reject, "cooldown");
    }
    if ledger.approvals_this_quarter(category) >= n.quarter_limit {
        return (Reject, "quarter_limit");
    }
    if creator.followers < n.min_followers {
        return (Reject, "low_followers");
    }
    if rate.is_some_and(|r| r < n.min_fulfillment_rate) {
        return (Reject, "low_fulfillment");
    }
    if category == "electronics" && rate.is_none() {
        return (Review, "unknown_fulfillment");
    }
    if category == "apparel"
        && !creator
            .top_categories
            .iter()
            .any(|c| c.as_str() == category)
    {
        return (Review, "category_mismatch");
    }
    if request.quantity > n.max_quantity {
        return (Review, "bulk_request");
    }
    if tier != "gold" {
        if product.price > n.price_cap {
            return (Review, "price_cap");
        }
        if creator.engagement_rate < n.min_engagement_rate {
            return (Review, "low_engagement");
        }
        if creator.posts_30d < n.min_posts_30d {
            return (Review, "inactive");
        }
    }
    if request.auto_approvals_today >= n.daily_quota {
        return (Review, "daily_quota");
    }
    (Approve, "auto_approved")
}
