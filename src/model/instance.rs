//! One sample in flight: its state, what screening saw and decided, its contents and the
//! deadlines armed for it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;
use serde::{Deserialize, Serialize};

use super::json::Out;
use super::{Creator, Product, Sample};

/// A sample as the runner keeps it and the store saves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    /// What the post-screening hooks see (id, state, creator, product, cost, GMV, deposit...).
    pub sample: Sample,
    pub workflow: ImmutableString,
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
    pub rules: ImmutableString,
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
    pub extensions: BTreeMap<ImmutableString, u32>,
    pub deadlines: Vec<Armed>,
    /// Records written so far; numbers the next record's actions.
    pub records: u32,
}

/// An armed deadline with its absolute due time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Armed {
    /// Shared with the workflow's own name of it: arming copies no text.
    pub name: ImmutableString,
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
        let mut o = Out(out);
        let s = &self.sample;
        o.raw("{\"sample\":{\"id\":");
        o.str(&s.id);
        o.raw(",\"state\":");
        o.str(&s.state);
        o.raw(",\"creator\":");
        o.str(&s.creator);
        o.raw(",\"product\":");
        o.str(&s.product);
        o.raw(",\"category\":");
        o.str(&s.category);
        o.raw(",\"quantity\":");
        o.int(s.quantity);
        o.raw(",\"cost\":");
        o.f64(s.cost);
        o.raw(",\"gmv\":");
        o.f64(s.gmv);
        o.raw(",\"deposit\":");
        o.opt_f64(s.deposit);
        o.raw(",\"keep_up_content\":");
        o.opt_str(s.keep_up_content.as_deref());
        o.raw("},\"workflow\":");
        o.str(&self.workflow);
        let c = &self.creator;
        o.raw(",\"creator\":{\"id\":");
        o.str(&c.id);
        o.raw(",\"followers\":");
        o.int(c.followers);
        o.raw(",\"engagement_rate\":");
        o.f64(c.engagement_rate);
        o.raw(",\"posts_30d\":");
        o.int(c.posts_30d);
        o.raw(",\"gmv_30d\":");
        o.opt_f64(c.gmv_30d);
        o.raw(",\"avg_video_views\":");
        o.opt_f64(c.avg_video_views);
        o.raw(",\"fulfillment_rate_90d\":");
        o.opt_f64(c.fulfillment_rate_90d);
        o.raw(",\"top_categories\":");
        o.strs(&c.top_categories);
        let p = &self.product;
        o.raw("},\"product\":{\"id\":");
        o.str(&p.id);
        o.raw(",\"category\":");
        o.str(&p.category);
        o.raw(",\"price\":");
        o.f64(p.price);
        o.raw(",\"unit_cost\":");
        o.f64(p.unit_cost);
        o.raw(",\"flags\":");
        o.strs(&p.flags);
        o.raw("},\"requested_at\":");
        o.time(&self.requested_at);
        o.raw(",\"last_at\":");
        o.time(&self.last_at);
        o.raw(",\"decision\":");
        o.opt_str(self.decision.as_deref());
        o.raw(",\"reason\":");
        o.opt_str(self.reason.as_deref());
        o.raw(",\"tier\":");
        o.opt_str(self.tier.as_deref());
        o.raw(",\"rules\":");
        o.str(&self.rules);
        o.raw(",\"opened\":");
        o.bool(self.opened);
        o.raw(",\"shipping_cost\":");
        o.f64(self.shipping_cost);
        o.raw(",\"tracking_number\":");
        o.opt_str(self.tracking_number.as_deref());
        o.raw(",\"carrier\":");
        o.opt_str(self.carrier.as_deref());
        o.raw(",\"review\":");
        o.opt_str(self.review.as_deref());
        o.raw(",\"review_reason\":");
        o.opt_str(self.review_reason.as_deref());
        o.raw(",\"reviewed_by\":");
        o.opt_str(self.reviewed_by.as_deref());
        o.raw(",\"contents\":");
        o.map(self.contents.iter(), |o, v| o.f64(*v));
        o.raw(",\"extensions\":");
        o.map(self.extensions.iter(), |o, v| o.int(*v));
        o.raw(",\"deadlines\":[");
        for (i, d) in self.deadlines.iter().enumerate() {
            if i > 0 {
                o.raw(",");
            }
            o.raw("{\"name\":");
            o.str(&d.name);
            o.raw(",\"of_state\":");
            o.bool(d.of_state);
            o.raw(",\"due\":");
            o.time(&d.due);
            o.raw(",\"seq\":");
            o.int(d.seq);
            o.raw(",\"held\":");
            o.bool(d.held);
            o.raw("}");
        }
        o.raw("],\"records\":");
        o.int(self.records);
        o.raw("}");
    }

    pub fn id(&self) -> &ImmutableString {
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
    pub fn of(inst: &'a Instance) -> Self {
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
        }
    }
}
