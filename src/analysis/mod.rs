//! What happened, in figures: each sample's milestones read off its records, the what-if replay
//! of recorded events under two rule sets (`diff`) or under a grid of policy values (`tune`),
//! what a candidate screening beside the live rules measured (`shadow`), and the program's
//! results (`report`), with a self-contained HTML page of charts (`html`).
//!
//! Everything here reads records and samples; nothing writes to the store.

pub(crate) mod diff;
pub(crate) mod html;
pub(crate) mod queue;
pub(crate) mod report;
pub(crate) mod shadow;
pub(crate) mod ship;
mod stream;
pub(crate) mod tune;

pub use diff::{diff, replay, Diff, Events, Replay};
pub use stream::Stream;
pub use tune::{threads as tune_threads, tune, Figures, Grid, GridError, Point, Tune};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::graph::WorkflowGraph;
use crate::model::vocab::{EventKind, StateRole};
use crate::model::{Instance, Record};

/// The workflows of every version that ran on `store`, built (those that no longer load are left
/// out): a state renamed since keeps the role it had.
pub fn stored_graphs(
    store: &mut dyn crate::store::Store,
) -> Result<Vec<WorkflowGraph>, crate::store::StoreError> {
    Ok(store
        .versions()?
        .into_iter()
        .filter(|v| v.kind == "workflow")
        .flat_map(|v| v.files)
        .filter_map(|(name, text)| {
            crate::definition::load_str(std::path::Path::new(&name), &text).ok()
        })
        .map(WorkflowGraph::build)
        .collect())
}

/// What each state means, as the workflows declare it with `role:`: milestones are read off the
/// records by the roles of the states they enter, never by state names.
///
/// States are looked up by name over every workflow given (records name the state, not the
/// workflow); where two workflows give one state name two roles, the first workflow's counts.
#[derive(Debug, Clone, Default)]
pub struct Roles(std::collections::HashMap<String, StateRole>);

impl Roles {
    pub fn from_graphs<'a>(graphs: impl IntoIterator<Item = &'a WorkflowGraph>) -> Roles {
        let mut roles = std::collections::HashMap::new();
        for g in graphs {
            for (state, role) in g.roles() {
                roles.entry(state.to_string()).or_insert(role);
            }
        }
        Roles(roles)
    }

    pub fn role(&self, state: &str) -> Option<StateRole> {
        self.0.get(state).copied()
    }
}

/// The event that delivers a sample.
pub const DELIVERED_TRIGGER: &str = EventKind::SampleDelivered.name();
/// The event that posts content.
pub const POSTED_TRIGGER: &str = EventKind::ContentPosted.name();
/// The reason a post that does not qualify is recorded with.
pub const NOT_QUALIFYING: &str = "not_qualifying";

/// When a sample first passed each step of the funnel, read off its records in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Milestones {
    pub approved: Option<DateTime<Utc>>,
    pub shipped: Option<DateTime<Utc>>,
    pub delivered: Option<DateTime<Utc>>,
    /// The first qualifying post.
    pub posted: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    /// When it ended in a breach by the creator.
    pub breached: Option<DateTime<Utc>>,
}

impl Milestones {
    /// Takes one record of this sample into account (records come in the order written), `role`
    /// being the role of the state it enters.
    pub fn observe(&mut self, r: &Record, role: Option<StateRole>) {
        let first = |slot: &mut Option<DateTime<Utc>>| {
            slot.get_or_insert(r.at);
        };
        match role {
            Some(StateRole::Approved) => first(&mut self.approved),
            Some(StateRole::Shipped) => first(&mut self.shipped),
            Some(StateRole::Fulfilled) => first(&mut self.completed),
            Some(StateRole::Breach) => first(&mut self.breached),
            _ => {}
        }
        if r.trigger == DELIVERED_TRIGGER {
            first(&mut self.delivered);
        }
        if r.trigger == POSTED_TRIGGER && r.reason.as_deref() != Some(NOT_QUALIFYING) {
            first(&mut self.posted);
        }
    }
}

/// One sample's facts: what screening decided, where it ended, what it cost and returned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facts {
    pub sample: String,
    pub category: String,
    pub creator: String,
    /// The tier screening used (`none` when screening never ran to it).
    pub tier: String,
    /// The rules hash that screened the sample.
    pub rules: String,
    pub workflow: String,
    pub state: String,
    pub decision: Option<String>,
    pub reason: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// Unit cost x quantity + shipping, whether or not it was spent.
    pub cost: f64,
    pub gmv: f64,
    pub milestones: Milestones,
    /// Settled: completed, or in an end state of its workflow (see [`Facts::settle`]); its cost
    /// and GMV will not move any more.
    pub settled: bool,
}

impl Facts {
    pub fn of(inst: &Instance, milestones: Milestones) -> Self {
        let s = &inst.sample;
        Facts {
            sample: s.id.to_string(),
            category: s.category.to_string(),
            creator: s.creator.to_string(),
            tier: inst.tier.clone().unwrap_or_else(|| "none".into()),
            rules: inst.rules.to_string(),
            workflow: inst.workflow.to_string(),
            state: s.state.to_string(),
            decision: inst.decision.clone(),
            reason: inst.reason.clone(),
            requested_at: inst.requested_at,
            cost: s.cost,
            gmv: s.gmv,
            settled: milestones.completed.is_some() || milestones.breached.is_some(),
            milestones,
        }
    }

    /// Marks the sample settled when `terminal` says its state is an end state.
    pub fn settle(&mut self, terminal: impl Fn(&str, &str) -> bool) {
        self.settled |= terminal(&self.workflow, &self.state);
    }

    pub fn approved(&self) -> bool {
        self.milestones.approved.is_some()
    }

    /// What the seller spent: the cost of a sample that was shipped.
    pub fn spent(&self) -> f64 {
        if self.milestones.shipped.is_some() {
            self.cost
        } else {
            0.0
        }
    }

    /// What approval committed the seller to: the cost of any approved sample (shipped or
    /// not). A replay cannot ship what history never shipped, so this is what a diff weighs.
    pub fn committed(&self) -> f64 {
        if self.approved() {
            self.cost
        } else {
            0.0
        }
    }
}

/// Builds [`Facts`] from records as they are written and the samples they end in.
#[derive(Debug)]
pub struct Collector {
    roles: Roles,
    milestones: BTreeMap<String, Milestones>,
}

impl Collector {
    /// A collector that reads milestones by the `roles` of the workflows.
    pub fn new(roles: Roles) -> Self {
        Collector {
            roles,
            milestones: BTreeMap::new(),
        }
    }

    pub fn observe(&mut self, r: &Record) {
        let role = self.roles.role(&r.to);
        match self.milestones.get_mut(r.sample.as_str()) {
            Some(m) => m.observe(r, role),
            None => {
                let mut m = Milestones::default();
                m.observe(r, role);
                self.milestones.insert(r.sample.to_string(), m);
            }
        }
    }

    /// The facts of every sample, by id.
    pub fn finish<'a>(
        self,
        samples: impl Iterator<Item = &'a Instance>,
    ) -> BTreeMap<String, Facts> {
        self.finish_with(samples, std::iter::empty())
    }

    /// The facts of the samples in memory and of those that left it (`spilled`, read one at a
    /// time); a sample in memory is the later of the two.
    pub fn finish_with<'a>(
        self,
        samples: impl Iterator<Item = &'a Instance>,
        spilled: impl Iterator<Item = Instance>,
    ) -> BTreeMap<String, Facts> {
        let facts_of = |inst: &Instance| {
            let m = self
                .milestones
                .get(inst.id().as_str())
                .copied()
                .unwrap_or_default();
            Facts::of(inst, m)
        };
        let mut facts: BTreeMap<String, Facts> = spilled
            .map(|inst| (inst.id().to_string(), facts_of(&inst)))
            .collect();
        for inst in samples {
            facts.insert(inst.id().to_string(), facts_of(inst));
        }
        facts
    }
}

/// Counts by name as the summaries print them: `beauty 3, home 1`.
pub fn counted<'a, N: std::fmt::Display + 'a>(
    counts: impl IntoIterator<Item = (&'a String, &'a N)>,
) -> String {
    counts
        .into_iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Money as the tables print it.
pub fn dollars(x: f64) -> String {
    let sign = if x < 0.0 { "-" } else { "" };
    let cents = format!("{:.2}", x.abs());
    let (whole, frac) = cents.split_once('.').unwrap_or((&cents, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}${grouped}.{frac}")
}

/// A rate as a percentage, or `-` when there is nothing to divide by.
pub fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{:.1}%", x * 100.0))
}

/// Rounds money and ratios for JSON, so that figures read as they would on an invoice.
pub fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// A CSV of JSON items: a header row, then one row per item, each cell the item's field of that
/// name (null an empty cell). A text cell that a spreadsheet would run as a formula (it starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return: a product title or a username from the
/// platform may) is written with a leading `'`, so it stays text; numbers are written as they are.
pub(crate) fn csv_of_json(header: &[&str], items: &[serde_json::Value]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(|e| e.to_string())?;
    for value in items {
        let cells = header.iter().map(|k| match &value[*k] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => csv_text(s),
            other => other.to_string(),
        });
        w.write_record(cells).map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.error().to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// A text cell as [`csv_of_json`] writes it.
fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_csv_text_cell_that_a_spreadsheet_would_run_stays_text() {
        let items = [
            serde_json::json!({"a": "=HYPERLINK(\"x\")", "b": -1.5, "c": "plain"}),
            serde_json::json!({"a": "@SUM(1)", "b": null, "c": "-50% Serum"}),
        ];
        let csv = super::csv_of_json(&["a", "b", "c"], &items).expect("csv");
        assert_eq!(
            csv,
            "a,b,c\n\"'=HYPERLINK(\"\"x\"\")\",-1.5,plain\n'@SUM(1),,'-50% Serum\n"
        );
    }

    use super::*;

    #[test]
    fn dollars_group_thousands_and_keep_the_sign() {
        assert_eq!(dollars(1925.784), "$1,925.78");
        assert_eq!(dollars(-1234567.0), "-$1,234,567.00");
        assert_eq!(dollars(0.5), "$0.50");
        assert_eq!(dollars(999.999), "$1,000.00");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(report::median(&mut []), None);
        assert_eq!(report::median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(report::median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
