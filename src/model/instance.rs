//! One sample in flight: its state, what screening saw and decided, its contents and the
//! deadlines armed for it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::json::{key, JsonWriter};
use super::{Creator, Product, Sample, SharedStr};

/// A sample as the runner keeps it and the store saves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    /// What the post-screening hooks see (id, state, creator, product, cost, GMV, deposit...).
    pub sample: Sample,
    pub workflow: SharedStr,
    /// The creator's figures and the product as the request gave them.
    pub creator: Arc<Creator>,
    pub product: Arc<Product>,
    #[serde(serialize_with = "super::utc")]
    pub requested_at: DateTime<Utc>,
    /// The time of its last record (event or deadline); an earlier event is `time_back`.
    #[serde(serialize_with = "super::utc")]
    pub last_at: DateTime<Utc>,
    /// Screening's decision, reason and the tier it used.
    pub decision: Option<String>,
    pub reason: Option<String>,
    pub tier: Option<String>,
    pub rules: SharedStr,
    /// Whether the sample was ever in an open state (it counts in the ledger's product history).
    pub opened: bool,
    pub shipping_cost: f64,
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub carrier: Option<String>,
    /// A reviewer's decision (`approve` or `reject`), the reason its move gave and who made
    /// it; `decision` and `reason` stay screening's.
    #[serde(default)]
    pub review: Option<String>,
    #[serde(default)]
    pub review_reason: Option<String>,
    #[serde(default)]
    pub reviewed_by: Option<String>,
    /// Latest GMV per content id.
    pub contents: BTreeMap<String, f64>,
    /// Times each sample deadline was extended.
    pub extensions: BTreeMap<SharedStr, u32>,
    pub deadlines: Vec<Armed>,
    /// Records written so far; numbers the next record's actions.
    pub records: u32,
}

/// An armed deadline with its absolute due time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Armed {
    /// Shared with the workflow's own name of it: arming copies no text.
    pub name: SharedStr,
    /// True for a deadline of the state the sample is in, false for a sample deadline.
    pub of_state: bool,
    #[serde(serialize_with = "super::utc")]
    pub due: DateTime<Utc>,
    /// Global arming order: ties in due time fire in the order they were armed.
    pub seq: u64,
    /// Came due while held: fires at once when the sample returns to a state it fires in.
    pub held: bool,
}

impl Instance {
    /// The row as its derived `Serialize` writes it (a test holds the two equal), written
    /// field by field (see [`super::json`]): a sample's row is saved on every change.
    pub fn write_json(&self, out: &mut String) {
        let mut o = JsonWriter(out);
        let s = &self.sample;
        key!(o, first "sample");
        key!(o, first "id").str(&s.id);
        key!(o, "state").str(&s.state);
        key!(o, "creator").str(&s.creator);
        key!(o, "product").str(&s.product);
        key!(o, "category").str(&s.category);
        key!(o, "quantity").int(s.quantity);
        key!(o, "cost").f64(s.cost);
        key!(o, "gmv").f64(s.gmv);
        key!(o, "deposit").opt_f64(s.deposit);
        key!(o, "keep_up_content").opt_str(s.keep_up_content.as_deref());
        o.raw("}");
        key!(o, "workflow").str(&self.workflow);
        let c = &self.creator;
        key!(o, "creator");
        key!(o, first "id").str(&c.id);
        key!(o, "followers").int(c.followers);
        key!(o, "engagement_rate").f64(c.engagement_rate);
        key!(o, "posts_30d").int(c.posts_30d);
        key!(o, "gmv_30d").opt_f64(c.gmv_30d);
        key!(o, "avg_video_views").opt_f64(c.avg_video_views);
        key!(o, "fulfillment_rate_90d").opt_f64(c.fulfillment_rate_90d);
        key!(o, "top_categories").strs(&c.top_categories);
        o.raw("}");
        let p = &self.product;
        key!(o, "product");
        key!(o, first "id").str(&p.id);
        key!(o, "category").str(&p.category);
        key!(o, "price").f64(p.price);
        key!(o, "unit_cost").f64(p.unit_cost);
        key!(o, "flags").strs(&p.flags);
        o.raw("}");
        key!(o, "requested_at").time(&self.requested_at);
        key!(o, "last_at").time(&self.last_at);
        key!(o, "decision").opt_str(self.decision.as_deref());
        key!(o, "reason").opt_str(self.reason.as_deref());
        key!(o, "tier").opt_str(self.tier.as_deref());
        key!(o, "rules").str(&self.rules);
        key!(o, "opened").bool(self.opened);
        key!(o, "shipping_cost").f64(self.shipping_cost);
        key!(o, "tracking_number").opt_str(self.tracking_number.as_deref());
        key!(o, "carrier").opt_str(self.carrier.as_deref());
        key!(o, "review").opt_str(self.review.as_deref());
        key!(o, "review_reason").opt_str(self.review_reason.as_deref());
        key!(o, "reviewed_by").opt_str(self.reviewed_by.as_deref());
        key!(o, "contents").map(&self.contents, |o, v| o.f64(*v));
        key!(o, "extensions").map(&self.extensions, |o, v| o.int(*v));
        key!(o, "deadlines").list(&self.deadlines, |o, d| {
            key!(o, first "name").str(&d.name);
            key!(o, "of_state").bool(d.of_state);
            key!(o, "due").time(&d.due);
            key!(o, "seq").int(d.seq);
            key!(o, "held").bool(d.held);
            o.raw("}");
        });
        key!(o, "records").int(self.records);
        o.raw("}");
    }

    pub fn id(&self) -> &SharedStr {
        &self.sample.id
    }

    pub fn state(&self) -> &str {
        &self.sample.state
    }

    pub fn armed(&self, name: &str) -> Option<&Armed> {
        self.deadlines.iter().find(|d| d.name == name)
    }
}

/// A sample's current state, as `show --all` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct SampleView<'a> {
    pub sample: &'a str,
    pub state: &'a str,
    pub creator: &'a str,
    pub product: &'a str,
    pub category: &'a str,
    pub workflow: &'a str,
    /// The tier screening used.
    pub tier: Option<&'a str>,
    /// The final decision: the reviewer's where there was one, else screening's.
    pub decision: Option<&'a str>,
    /// Screening's reason, or the reviewed move's (`manual_review`) once a reviewer decided.
    pub reason: Option<&'a str>,
    pub reviewed_by: Option<&'a str>,
    pub tracking_number: Option<&'a str>,
    pub carrier: Option<&'a str>,
    pub rules: &'a str,
    pub quantity: i64,
    pub cost: f64,
    pub gmv: f64,
    pub deposit: Option<f64>,
    #[serde(serialize_with = "super::utc")]
    pub requested_at: DateTime<Utc>,
    #[serde(serialize_with = "super::utc")]
    pub updated_at: DateTime<Utc>,
    pub deadlines: Vec<DeadlineView<'a>>,
    /// The shop the sample is one of.
    pub shop: &'a str,
}

/// An armed deadline in a [`SampleView`].
#[derive(Debug, Clone, Serialize)]
pub struct DeadlineView<'a> {
    pub name: &'a str,
    #[serde(serialize_with = "super::utc")]
    pub due: DateTime<Utc>,
    pub held: bool,
}

impl<'a> SampleView<'a> {
    pub fn of(inst: &'a Instance, shop: &'a str) -> Self {
        let s = &inst.sample;
        let mut deadlines: Vec<DeadlineView> = inst
            .deadlines
            .iter()
            .map(|d| DeadlineView {
                name: &d.name,
                due: d.due,
                held: d.held,
            })
            .collect();
        deadlines.sort_by_key(|d| d.due);
        SampleView {
            sample: &s.id,
            state: &s.state,
            creator: &s.creator,
            product: &s.product,
            category: &s.category,
            workflow: &inst.workflow,
            tier: inst.tier.as_deref(),
            decision: inst.review.as_deref().or(inst.decision.as_deref()),
            reason: match inst.review {
                Some(_) => inst.review_reason.as_deref(),
                None => inst.reason.as_deref(),
            },
            reviewed_by: inst.reviewed_by.as_deref(),
            tracking_number: inst.tracking_number.as_deref(),
            carrier: inst.carrier.as_deref(),
            rules: &inst.rules,
            quantity: s.quantity,
            cost: s.cost,
            gmv: s.gmv,
            deposit: s.deposit,
            requested_at: inst.requested_at,
            updated_at: inst.last_at,
            deadlines,
            shop,
        }
    }
}
