//! The program's results: the funnel, fulfillment and breach rates, times to ship and to post,
//! cost, attributed GMV and ROI, overall and per category, creator tier and rules hash.
//!
//! Definitions (also in the README):
//! - requested: every sample; approved: entered `awaiting_shipment` (screening or a reviewer);
//!   shipped; delivered (a `sample_delivered`); posted (a qualifying post); completed.
//! - fulfillment rate: completed / (completed + unfulfill_cancelled), the samples whose
//!   obligation is settled; breach rate: unfulfill_cancelled / delivered.
//! - cost: unit cost x quantity + shipping of the samples that were shipped; GMV: attributed
//!   GMV of every sample; ROI: (GMV - cost) / cost.
//! - settled: completed, or in an end state of its workflow; settled ROI is the ROI of the
//!   settled samples only, whose cost and GMV will not move any more (samples in flight have
//!   cost and little GMV yet, so they pull the all-samples ROI down).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{json, Map, Value};

use chrono::{DateTime, Utc};

use super::{dollars, percent, round, Collector, Facts, Roles};
use crate::graph::WorkflowGraph;
use crate::model::Record;
use crate::rules::{RuleSet, DEFAULT_TIMEZONE};
use crate::store::{Store, StoreError};

/// The six steps of the funnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Funnel {
    pub requested: u64,
    pub approved: u64,
    pub shipped: u64,
    pub delivered: u64,
    pub posted: u64,
    pub completed: u64,
}

impl Funnel {
    /// The steps with their names, in order.
    pub fn steps(&self) -> [(&'static str, u64); 6] {
        [
            ("requested", self.requested),
            ("approved", self.approved),
            ("shipped", self.shipped),
            ("delivered", self.delivered),
            ("posted", self.posted),
            ("completed", self.completed),
        ]
    }
}

/// The figures of one group of samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub samples: u64,
    pub funnel: Funnel,
    pub breached: u64,
    pub fulfillment_rate: Option<f64>,
    pub breach_rate: Option<f64>,
    pub median_days_to_ship: Option<f64>,
    pub median_days_to_post: Option<f64>,
    pub cost: f64,
    pub gmv: f64,
    pub roi: Option<f64>,
    /// Samples settled (completed or in an end state), and their cost, GMV and ROI.
    pub settled: u64,
    pub settled_cost: f64,
    pub settled_gmv: f64,
    pub settled_roi: Option<f64>,
}

#[derive(Debug, Default)]
struct Tally {
    funnel: Funnel,
    breached: u64,
    cost: f64,
    gmv: f64,
    settled: u64,
    settled_cost: f64,
    settled_gmv: f64,
    ship_days: Vec<f64>,
    post_days: Vec<f64>,
}

fn days(d: chrono::TimeDelta) -> f64 {
    d.num_seconds() as f64 / 86_400.0
}

impl Tally {
    fn add(&mut self, f: &Facts) {
        let m = &f.milestones;
        let fun = &mut self.funnel;
        fun.requested += 1;
        fun.approved += u64::from(m.approved.is_some());
        fun.shipped += u64::from(m.shipped.is_some());
        fun.delivered += u64::from(m.delivered.is_some());
        fun.posted += u64::from(m.posted.is_some());
        fun.completed += u64::from(m.completed.is_some());
        self.breached += u64::from(m.breached.is_some());
        self.cost += f.spent();
        self.gmv += f.gmv;
        if f.settled {
            self.settled += 1;
            self.settled_cost += f.spent();
            self.settled_gmv += f.gmv;
        }
        if let Some(shipped) = m.shipped {
            self.ship_days.push(days(shipped - f.requested_at));
        }
        if let (Some(delivered), Some(posted)) = (m.delivered, m.posted) {
            self.post_days.push(days(posted - delivered));
        }
    }

    fn figures(mut self) -> Figures {
        let ratio = |a: u64, b: u64| (b > 0).then(|| round(a as f64 / b as f64, 4));
        let fun = self.funnel;
        Figures {
            samples: fun.requested,
            funnel: fun,
            breached: self.breached,
            fulfillment_rate: ratio(fun.completed, fun.completed + self.breached),
            breach_rate: ratio(self.breached, fun.delivered),
            median_days_to_ship: median(&mut self.ship_days),
            median_days_to_post: median(&mut self.post_days),
            cost: round(self.cost, 2),
            gmv: round(self.gmv, 2),
            roi: roi(self.gmv, self.cost),
            settled: self.settled,
            settled_cost: round(self.settled_cost, 2),
            settled_gmv: round(self.settled_gmv, 2),
            settled_roi: roi(self.settled_gmv, self.settled_cost),
        }
    }
}

/// (GMV - cost) / cost, or none without cost.
fn roi(gmv: f64, cost: f64) -> Option<f64> {
    (cost > 0.0).then(|| round((gmv - cost) / cost, 4))
}

/// The median, rounded to a tenth of a day.
pub fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let m = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    Some(round(m, 1))
}

/// Obligations settled in one week (Monday to Sunday in the shop's timezone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Week {
    pub week: NaiveDate,
    pub completed: u64,
    pub breached: u64,
    pub fulfillment_rate: f64,
}

/// A grouping's name in JSON, its key's name, and its groups.
type Grouping<'a> = (&'static str, &'static str, &'a [(String, Figures)]);

/// Everything `sampleflow report` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub overall: Figures,
    pub by_category: Vec<(String, Figures)>,
    pub by_tier: Vec<(String, Figures)>,
    pub by_rules: Vec<(String, Figures)>,
    /// Per creator, when asked for (`--by creator`).
    pub by_creator: Option<Vec<(String, Figures)>>,
    pub weekly: Vec<Week>,
    /// Samples per state now.
    pub states: BTreeMap<String, u64>,
    /// The window of request times the samples were picked by.
    pub window: Window,
    /// Samples in categories that the policy does not declare, by category.
    pub undeclared: BTreeMap<String, u64>,
}

/// Request times from `since` (included) to `until` (excluded); open where `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Window {
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl Window {
    pub fn contains(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        self.since.is_none_or(|s| at >= s) && self.until.is_none_or(|u| at < u)
    }

    fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// ` requested from 2026-03-01T08:00:00Z to ...`, or nothing for no window.
    pub fn describe(&self) -> String {
        let t = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        match (t(self.since), t(self.until)) {
            (None, None) => String::new(),
            (Some(s), None) => format!("samples requested from {s}"),
            (None, Some(u)) => format!("samples requested before {u}"),
            (Some(s), Some(u)) => format!("samples requested from {s} to {u}"),
        }
    }
}

/// What a report is asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    pub window: Window,
    pub by_creator: bool,
}

fn grouped<'a>(
    facts: impl Iterator<Item = &'a Facts>,
    key: impl Fn(&Facts) -> &str,
) -> Vec<(String, Figures)> {
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    for f in facts {
        groups.entry(key(f).to_string()).or_default().add(f);
    }
    groups.into_iter().map(|(k, t)| (k, t.figures())).collect()
}

impl Report {
    /// The report of the `facts` requested within the window of `options`.
    pub fn build_with<'a>(
        facts: impl Iterator<Item = &'a Facts> + Clone,
        tz: Tz,
        options: ReportOptions,
    ) -> Report {
        let window = options.window;
        let facts = facts.filter(move |f| window.contains(f.requested_at));
        let mut all = Tally::default();
        let mut states = BTreeMap::new();
        let mut weeks: BTreeMap<NaiveDate, (u64, u64)> = BTreeMap::new();
        for f in facts.clone() {
            all.add(f);
            *states.entry(f.state.clone()).or_insert(0) += 1;
            let m = &f.milestones;
            let settled = m
                .completed
                .map(|t| (t, true))
                .or(m.breached.map(|t| (t, false)));
            if let Some((at, met)) = settled {
                let day = at.with_timezone(&tz).date_naive();
                let monday = day - chrono::Days::new(day.weekday().num_days_from_monday().into());
                let w = weeks.entry(monday).or_default();
                if met {
                    w.0 += 1;
                } else {
                    w.1 += 1;
                }
            }
        }
        let mut by_rules = grouped(facts.clone(), |f| &f.rules);
        // Rule versions in the order they first screened a sample, not by hash.
        let first: BTreeMap<&str, chrono::DateTime<chrono::Utc>> =
            facts.clone().fold(BTreeMap::new(), |mut m, f| {
                let e = m.entry(f.rules.as_str()).or_insert(f.requested_at);
                *e = (*e).min(f.requested_at);
                m
            });
        by_rules.sort_by_key(|(k, _)| first.get(k.as_str()).copied());
        Report {
            overall: all.figures(),
            by_category: grouped(facts.clone(), |f| &f.category),
            by_tier: grouped(facts.clone(), |f| &f.tier),
            by_creator: options
                .by_creator
                .then(|| grouped(facts.clone(), |f| &f.creator)),
            by_rules,
            weekly: weeks
                .into_iter()
                .map(|(week, (completed, breached))| Week {
                    week,
                    completed,
                    breached,
                    fulfillment_rate: round(completed as f64 / (completed + breached) as f64, 4),
                })
                .collect(),
            states,
            window,
            undeclared: BTreeMap::new(),
        }
    }

    /// Counts the samples whose category `declared` says is not declared.
    pub fn count_undeclared<'a>(
        &mut self,
        facts: impl Iterator<Item = &'a Facts>,
        declared: impl Fn(&str) -> bool,
    ) {
        for f in facts {
            if self.window.contains(f.requested_at) && !declared(&f.category) {
                *self.undeclared.entry(f.category.clone()).or_default() += 1;
            }
        }
    }

    /// The JSON document: `funnel` (six counts), the overall figures, `by_category`,
    /// `by_tier`, `by_rules`, `fulfillment_over_time` and `states`.
    pub fn to_json(&self) -> Value {
        let mut doc = figures_map(&self.overall);
        for (name, key, groups) in self.groups() {
            let rows = groups
                .iter()
                .map(|(k, f)| {
                    let mut row = Map::new();
                    row.insert(key.into(), json!(k));
                    row.extend(figures_map(f));
                    Value::Object(row)
                })
                .collect();
            doc.insert(name.into(), Value::Array(rows));
        }
        doc.insert("fulfillment_over_time".into(), json!(self.weekly));
        doc.insert("states".into(), json!(self.states));
        doc.insert("window".into(), json!(self.window));
        doc.insert("undeclared_categories".into(), json!(self.undeclared));
        Value::Object(doc)
    }

    fn groups(&self) -> Vec<Grouping<'_>> {
        let mut groups: Vec<Grouping<'_>> = vec![
            ("by_category", "category", &self.by_category),
            ("by_tier", "tier", &self.by_tier),
            ("by_rules", "rules", &self.by_rules),
        ];
        if let Some(by_creator) = &self.by_creator {
            groups.push(("by_creator", "creator", by_creator));
        }
        groups
    }

    /// The CSV of many shops' reports and their total (`report --all-shops`): the same rows
    /// as [`Report::to_csv`], each led by its shop (`all` for the total).
    pub fn to_csv_shops(parts: &[(&str, &Report)]) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(std::iter::once("shop").chain(CSV_HEADER))?;
        for (shop, report) in parts {
            let row = |key: &str, k: &str, f: &Figures| {
                std::iter::once(shop.to_string())
                    .chain(csv_row(key, k, f))
                    .collect::<Vec<String>>()
            };
            w.write_record(row("all", "all", &report.overall))?;
            for (_, key, groups) in report.groups() {
                for (k, f) in groups {
                    w.write_record(row(key, k, f))?;
                }
            }
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// One CSV row per group: overall, then each category, tier and rules hash.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(CSV_HEADER)?;
        w.write_record(csv_row("all", "all", &self.overall))?;
        for (_, key, groups) in self.groups() {
            for (k, f) in groups {
                w.write_record(csv_row(key, k, f))?;
            }
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The table printed by default.
    pub fn to_table(&self) -> String {
        let o = &self.overall;
        let mut text = String::new();
        if !self.window.is_open() {
            text.push_str(&format!("{}\n", self.window.describe()));
        }
        if o.samples == 0 {
            text.push_str(if self.window.is_open() {
                "no samples in the store yet: nothing to report\n"
            } else {
                "no samples were requested in this window: nothing to report\n"
            });
            return text;
        }
        let steps = o
            .funnel
            .steps()
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(" > ");
        text.push_str(&format!("funnel: {steps}\n"));
        text.push_str(&format!(
            "fulfillment {}, breach {} ({} breached); median days: request to ship {}, delivery to post {}\n",
            percent(o.fulfillment_rate),
            percent(o.breach_rate),
            o.breached,
            opt(o.median_days_to_ship),
            opt(o.median_days_to_post),
        ));
        text.push_str(&format!(
            "cost {}, attributed GMV {}, ROI {} (all {} samples); settled ROI {} ({} settled: cost {}, GMV {})\n",
            dollars(o.cost),
            dollars(o.gmv),
            roi_text(o.roi),
            o.samples,
            roi_text(o.settled_roi),
            o.settled,
            dollars(o.settled_cost),
            dollars(o.settled_gmv),
        ));
        if !self.undeclared.is_empty() {
            let n: u64 = self.undeclared.values().sum();
            let by = super::counted(&self.undeclared);
            text.push_str(&format!(
                "undeclared categories: {n} samples ({by}), screened under `default`\n"
            ));
        }
        for (_, key, groups) in self.groups() {
            text.push('\n');
            text.push_str(&table(key, groups));
        }
        text
    }
}

const CSV_HEADER: [&str; 20] = [
    "group",
    "key",
    "samples",
    "approved",
    "shipped",
    "delivered",
    "posted",
    "completed",
    "breached",
    "fulfillment_rate",
    "breach_rate",
    "median_days_to_ship",
    "median_days_to_post",
    "cost",
    "gmv",
    "roi",
    "settled",
    "settled_cost",
    "settled_gmv",
    "settled_roi",
];

fn opt(x: Option<f64>) -> String {
    x.map_or_else(String::new, |x| x.to_string())
}

fn roi_text(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{:.2}x", x))
}

fn csv_row(group: &str, key: &str, f: &Figures) -> Vec<String> {
    let fun = &f.funnel;
    vec![
        group.into(),
        key.into(),
        f.samples.to_string(),
        fun.approved.to_string(),
        fun.shipped.to_string(),
        fun.delivered.to_string(),
        fun.posted.to_string(),
        fun.completed.to_string(),
        f.breached.to_string(),
        opt(f.fulfillment_rate),
        opt(f.breach_rate),
        opt(f.median_days_to_ship),
        opt(f.median_days_to_post),
        format!("{:.2}", f.cost),
        format!("{:.2}", f.gmv),
        opt(f.roi),
        f.settled.to_string(),
        format!("{:.2}", f.settled_cost),
        format!("{:.2}", f.settled_gmv),
        opt(f.settled_roi),
    ]
}

/// The figures as a JSON object, in the order of [`Figures`].
fn figures_map(f: &Figures) -> Map<String, Value> {
    match json!(f) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn table(key: &str, groups: &[(String, Figures)]) -> String {
    let head = [
        key,
        "samples",
        "approved",
        "shipped",
        "delivered",
        "posted",
        "completed",
        "fulfil",
        "breach",
        "ship d",
        "post d",
        "cost",
        "gmv",
        "roi",
        "settled",
        "settled roi",
    ];
    let mut rows: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    for (k, f) in groups {
        rows.push(vec![
            k.clone(),
            f.samples.to_string(),
            f.funnel.approved.to_string(),
            f.funnel.shipped.to_string(),
            f.funnel.delivered.to_string(),
            f.funnel.posted.to_string(),
            f.funnel.completed.to_string(),
            percent(f.fulfillment_rate),
            percent(f.breach_rate),
            f.median_days_to_ship
                .map_or("-".into(), |x| format!("{x:.1}")),
            f.median_days_to_post
                .map_or("-".into(), |x| format!("{x:.1}")),
            dollars(f.cost),
            dollars(f.gmv),
            roi_text(f.roi),
            f.settled.to_string(),
            roi_text(f.settled_roi),
        ]);
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        text.push_str(&cells.join("  "));
        text.push('\n');
    }
    text
}

/// What a report of the store is asked for: the workflows and rules to read it by (the live
/// program's, or those on disk), and `report`'s window and breakdown as given (RFC 3339 times or
/// dates).
pub struct ReportQuery<'a> {
    /// The workflows whose states' roles give the milestones (before those kept in the store).
    pub graphs: &'a [WorkflowGraph],
    /// The rules: their timezone counts weeks and their policy declares the categories (none:
    /// the default timezone, and categories are not checked).
    pub rules: Option<&'a RuleSet>,
    /// `--since`: only samples requested at or after it.
    pub since: Option<String>,
    /// `--until`: only samples requested before it.
    pub until: Option<String>,
    /// `--by creator`: a breakdown per creator.
    pub by_creator: bool,
}

impl BuiltReport {
    /// The report of every sample of these reports together (`report --all-shops`' total):
    /// weeks in the first one's timezone.
    pub fn total(parts: &[&BuiltReport]) -> Report {
        let tz = parts.first().map_or(DEFAULT_TIMEZONE, |p| p.tz);
        let options = parts.first().map(|p| p.options).unwrap_or_default();
        Report::build_with(parts.iter().flat_map(|p| p.facts.iter()), tz, options)
    }
}

/// A report and what its page draws.
pub struct BuiltReport {
    /// The figures.
    pub report: Report,
    pub(super) graphs: Vec<WorkflowGraph>,
    /// Samples per state now, per workflow (in the window).
    pub(super) counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Each sample's facts, the timezone and the options it was built with: what a total of
    /// many shops' reports is built from.
    facts: Vec<Facts>,
    tz: Tz,
    options: ReportOptions,
}

/// A window bound: RFC 3339, or a date read as midnight in `tz`.
pub fn bound(flag: &str, text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!("`{flag} {text}`: expected a time such as 2026-03-01T00:00:00Z or a date such as 2026-03-01")
    })?;
    date.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("`{flag} {text}`: no midnight on that day in {tz}"))
}

/// Builds the report of `store` for `query`; the inner `Err` is a bad window, said for the user.
pub fn build(
    store: &mut dyn Store,
    query: &ReportQuery,
) -> Result<Result<BuiltReport, String>, StoreError> {
    let graphs = query.graphs;
    // Milestones by the roles states declare: the workflows given first, then every version
    // that ran on this store (a state renamed since keeps its role).
    let stored = super::stored_graphs(store)?;
    let mut collector = Collector::new(Roles::from_graphs(graphs.iter().chain(&stored)));
    store.each_record(&mut |text| {
        let record: Record = serde_json::from_str(text).map_err(StoreError::Data)?;
        collector.observe(&record);
        Ok(())
    })?;
    let samples = store.samples()?;
    let mut facts = collector.finish(samples.iter());
    // Weeks are the shop's; without loadable rules they fall back to the default timezone.
    let tz = query
        .rules
        .map_or(DEFAULT_TIMEZONE, |rules| rules.policy().timezone);
    let mut window = Window::default();
    for (flag, given, slot) in [
        ("--since", &query.since, &mut window.since),
        ("--until", &query.until, &mut window.until),
    ] {
        if let Some(text) = given {
            match bound(flag, text, tz) {
                Ok(t) => *slot = Some(t),
                Err(e) => return Ok(Err(e)),
            }
        }
    }
    if let (Some(s), Some(u)) = (window.since, window.until) {
        if s >= u {
            return Ok(Err("`--since` must be before `--until`".into()));
        }
    }
    // Settled: completed, or in an end state of its workflow.
    let terminal = |workflow: &str, state: &str| {
        graphs
            .iter()
            .chain(&stored)
            .find(|g| g.workflow().name.value == workflow)
            .and_then(|g| g.is_terminal(state))
            .unwrap_or(false)
    };
    for f in facts.values_mut() {
        f.settle(terminal);
    }
    let options = ReportOptions {
        window,
        by_creator: query.by_creator,
    };
    let mut report = Report::build_with(facts.values(), tz, options);
    if let Some(rules) = query.rules {
        report.count_undeclared(facts.values(), |c| rules.policy().declares(c));
    }
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for f in facts.values().filter(|f| window.contains(f.requested_at)) {
        *counts
            .entry(f.workflow.clone())
            .or_default()
            .entry(f.state.clone())
            .or_insert(0) += 1;
    }
    Ok(Ok(BuiltReport {
        report,
        graphs: graphs.to_vec(),
        counts,
        facts: facts.into_values().collect(),
        tz,
        options,
    }))
}
