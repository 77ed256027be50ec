//! What a shadow run measured (`sampleflow shadow`, `GET /v1/shadow`, the console's Shadow
//! page): the candidate's decisions kept in the store beside what the live rules decided on the
//! same screenings, and for the ones that differ the very totals `diff` gives.
//!
//! The totals are `diff`'s own: each side is made a [`Replay`] (the live side from the store's
//! samples and records, the candidate's from the live facts with the candidate's screening in
//! place) and [`super::diff::compare`] counts them, so changes per category and reason,
//! approvals gained and lost, sample cost added and saved and the GMV refused are counted by
//! one piece of code. What the candidate's side holds is what a replay of the same events under
//! the candidate would hold for the same sample:
//!
//! - the same screening (decision and reason): the sample as it went live;
//! - the same verdict with another reason: the same path (later events apply alike), another
//!   reason;
//! - another verdict: approved only when the candidate approves (a reviewer's event applies only
//!   where both wait for review; events after an approval the candidate never gives are refused
//!   in a replay), committing the sample's cost when it does.
//!
//! The one thing a shadow cannot see is a later screening that a replay would decide otherwise
//! because an earlier candidate decision changed the creator's ledger or the day's quota of
//! automatic approvals: a shadow screens with the live ledger, as it must to measure the
//! candidate on live traffic.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::diff::{compare, render_totals, DiffSummary, Replay, SideFaults};
use super::{Collector, Facts, Milestones, Roles};
use crate::graph::WorkflowGraph;
use crate::model::{Record, ShadowDecision, Stats};
use crate::rules::RULE_ERROR;
use crate::store::{Store, StoreError};

/// One side's decision on a changed sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decided {
    pub decision: Option<String>,
    pub reason: Option<String>,
}

/// A screening the candidate decided otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowChange {
    pub sample: String,
    pub category: String,
    pub live: Decided,
    pub candidate: Decided,
}

/// The shadow report: the contract's `{"rules", "since", "compared", "agreeing", "changes",
/// "summary", "faults"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowReport {
    /// The candidate measured: the rules hash of the latest shadow decision in the window (null
    /// when there is none).
    pub rules: Option<String>,
    /// `--since`, or else the time of the first decision compared.
    pub since: Option<DateTime<Utc>>,
    pub compared: u64,
    pub agreeing: u64,
    pub changes: Vec<ShadowChange>,
    pub summary: DiffSummary,
    /// The candidate's rule faults: how many, on how many samples, the first ones with
    /// file:line:column.
    pub faults: SideFaults,
}

/// A live sample's facts when the store has none of it (it cannot happen: a shadow decision is
/// committed with its sample): what the decision itself says, nothing approved or spent.
fn bare(d: &ShadowDecision) -> Facts {
    Facts {
        sample: d.sample.clone(),
        category: d.category.clone(),
        creator: String::new(),
        tier: "none".into(),
        rules: d.live_rules.clone(),
        workflow: String::new(),
        state: String::new(),
        decision: Some(d.live_decision.clone()),
        reason: Some(d.live_reason.clone()),
        requested_at: d.at,
        cost: 0.0,
        gmv: 0.0,
        milestones: Milestones::default(),
        settled: false,
    }
}

/// What a replay under the candidate would hold for this sample, from its live facts and the
/// candidate's screening.
pub fn candidate_facts(live: &Facts, d: &ShadowDecision) -> Facts {
    let (decision, reason) = (Some(d.decision.clone()), Some(d.reason.clone()));
    if live.decision == decision && live.reason == reason {
        return live.clone();
    }
    let mut c = live.clone();
    c.rules.clone_from(&d.rules);
    c.tier.clone_from(&d.tier);
    if live.decision != decision {
        // Another path: what the candidate decided is all that is known of it.
        c.milestones = Milestones {
            approved: (d.decision == "approve").then_some(live.requested_at),
            ..Milestones::default()
        };
        c.gmv = 0.0;
        c.settled = false;
    }
    c.decision = decision;
    c.reason = reason;
    c
}

/// Builds the report from every shadow decision kept and the live facts of their samples.
/// Only the latest candidate is measured (an earlier one, hot-reloaded since, is another rule
/// set); `since` keeps the screenings at or after it.
pub fn report(
    decisions: &[ShadowDecision],
    live: &BTreeMap<String, Facts>,
    since: Option<DateTime<Utc>>,
) -> ShadowReport {
    let mut window: Vec<&ShadowDecision> = decisions
        .iter()
        .filter(|d| since.is_none_or(|s| d.at >= s))
        .collect();
    window.sort_by(|a, b| (a.at, &a.sample).cmp(&(b.at, &b.sample)));
    let rules = window.last().map(|d| d.rules.clone());
    window.retain(|d| Some(&d.rules) == rules.as_ref());
    let live_rules = window
        .last()
        .map(|d| d.live_rules.clone())
        .unwrap_or_default();
    let mut base = side(live_rules);
    let mut candidate = side(rules.clone().unwrap_or_default());
    for d in &window {
        let facts = live.get(&d.sample).cloned().unwrap_or_else(|| bare(d));
        if facts.reason.as_deref() == Some(RULE_ERROR) {
            base.faulted.insert(d.sample.clone());
            base.stats.rule_faults += 1;
            base.faults
                .push(format!("sample `{}`: a live rule failed", d.sample));
        }
        if let Some(fault) = &d.fault {
            candidate.faulted.insert(d.sample.clone());
            candidate.stats.rule_faults += 1;
            candidate
                .faults
                .push(format!("sample `{}`: {fault}", d.sample));
        }
        candidate
            .facts
            .insert(d.sample.clone(), candidate_facts(&facts, d));
        base.facts.insert(d.sample.clone(), facts);
    }
    let compared = window.len() as u64;
    for r in [&mut base, &mut candidate] {
        r.stats.applied = compared;
    }
    let diff = compare(&base, &candidate);
    let decided = |o: &Option<super::diff::SampleOutcome>| Decided {
        decision: o.as_ref().and_then(|o| o.decision.clone()),
        reason: o.as_ref().and_then(|o| o.reason.clone()),
    };
    let changes: Vec<ShadowChange> = diff
        .changes
        .iter()
        .map(|c| ShadowChange {
            sample: c.sample.clone(),
            category: c.category.clone(),
            live: decided(&c.base),
            candidate: decided(&c.candidate),
        })
        .collect();
    ShadowReport {
        rules,
        since: since.or_else(|| window.first().map(|d| d.at)),
        compared,
        agreeing: compared - changes.len() as u64,
        changes,
        summary: diff.summary,
        faults: diff.faults.candidate,
    }
}

fn side(rules: String) -> Replay {
    Replay {
        rules,
        facts: BTreeMap::new(),
        stats: Stats::default(),
        faults: Vec::new(),
        faulted: BTreeSet::new(),
        spilled: 0,
    }
}

/// The samples a report needs the live facts of.
pub fn samples(decisions: &[ShadowDecision]) -> BTreeSet<String> {
    decisions.iter().map(|d| d.sample.clone()).collect()
}

/// The shadow report of `store` from `since` (RFC 3339, or a date read in `tz`), the live facts
/// read by the roles of `graphs` and of the workflows kept in the store; the inner `Err` is a bad
/// `since`, said for the user.
pub fn build(
    store: &mut dyn Store,
    graphs: &[WorkflowGraph],
    tz: chrono_tz::Tz,
    since: Option<&str>,
) -> Result<Result<ShadowReport, String>, StoreError> {
    let since = match since.filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => match super::report::bound("--since", text, tz) {
            Ok(t) => Some(t),
            Err(e) => return Ok(Err(e)),
        },
    };
    let decisions = store.shadows()?;
    let live = live_facts(store, graphs, &samples(&decisions))?;
    Ok(Ok(report(&decisions, &live, since)))
}

/// The facts of `wanted` samples as the store has them: milestones read off their records by
/// the roles of `graphs` and of the workflows kept in the store.
fn live_facts(
    store: &mut dyn Store,
    graphs: &[WorkflowGraph],
    wanted: &BTreeSet<String>,
) -> Result<BTreeMap<String, Facts>, StoreError> {
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    let stored = super::stored_graphs(store)?;
    let mut collector = Collector::new(Roles::from_graphs(graphs.iter().chain(&stored)));
    store.each_record(&mut |text| {
        let record: Record = serde_json::from_str(text).map_err(StoreError::Data)?;
        if wanted.contains(record.sample.as_str()) {
            collector.observe(&record);
        }
        Ok(())
    })?;
    let mut samples = Vec::with_capacity(wanted.len());
    for id in wanted {
        samples.extend(store.sample(id)?);
    }
    Ok(collector.finish(samples.iter()))
}

/// `shadow --format table`: the totals, the candidate's faults, then each change.
pub fn render_table(r: &ShadowReport) -> String {
    let mut text = String::new();
    let Some(rules) = &r.rules else {
        text.push_str(
            "no shadow decisions: run `serve --shadow DIR` or `watch --shadow DIR` to screen with a candidate beside the live rules\n",
        );
        return text;
    };
    let since = r
        .since
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".into());
    text.push_str(&format!(
        "shadow rules {rules} beside live rules {}, since {since}\n",
        r.summary.base.rules
    ));
    text.push_str(&format!(
        "{} screenings compared, {} agreeing, {} changed\n",
        r.compared,
        r.agreeing,
        r.changes.len()
    ));
    text.push_str(&format!(
        "candidate rule faults: {} on {} samples\n",
        r.faults.faults, r.faults.samples
    ));
    for fault in &r.faults.first {
        text.push_str(&format!("  {fault}\n"));
    }
    if r.faults.faults as usize > r.faults.first.len() {
        text.push_str(&format!(
            "  ... and {} more\n",
            r.faults.faults as usize - r.faults.first.len()
        ));
    }
    text.push('\n');
    if r.changes.is_empty() {
        text.push_str("no screening changes\n");
    } else {
        let shown = |d: &Decided| {
            format!(
                "{} {}",
                d.decision.as_deref().unwrap_or("-"),
                d.reason.as_deref().unwrap_or("-")
            )
        };
        let mut rows = vec![[
            "sample".to_string(),
            "category".into(),
            "live".into(),
            "candidate".into(),
        ]];
        rows.extend(r.changes.iter().map(|c| {
            [
                c.sample.clone(),
                c.category.clone(),
                shown(&c.live),
                shown(&c.candidate),
            ]
        }));
        let widths: Vec<usize> = (0..4)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for row in &rows {
            let line = (0..4)
                .map(|i| format!("{:w$}", row[i], w = widths[i]))
                .collect::<Vec<_>>()
                .join("  ");
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }
    text.push('\n');
    render_totals(&r.summary, &mut text);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-03-{day:02}T10:00:00Z"))
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// A live sample: screened `decision`/`reason`, approved (and shipped, costing `cost`) or
    /// not.
    fn live(id: &str, decision: &str, reason: &str, approved: bool, cost: f64) -> Facts {
        let mut f = bare(&decision_of(id, decision, reason, decision, reason));
        f.category = "beauty".into();
        f.tier = "standard".into();
        f.state = if approved {
            "completed"
        } else {
            "reject_cancelled"
        }
        .into();
        f.cost = cost;
        f.gmv = if approved { 100.0 } else { 0.0 };
        if approved {
            f.milestones.approved = Some(at(1));
            f.milestones.shipped = Some(at(2));
        }
        f
    }

    fn decision_of(
        id: &str,
        live_decision: &str,
        live_reason: &str,
        decision: &str,
        reason: &str,
    ) -> ShadowDecision {
        ShadowDecision {
            sample: id.into(),
            category: "beauty".into(),
            rules: "cand".into(),
            live_rules: "live".into(),
            at: at(1),
            live_decision: live_decision.into(),
            live_reason: live_reason.into(),
            decision: decision.into(),
            reason: reason.into(),
            tier: "standard".into(),
            fault: None,
        }
    }

    fn facts(list: Vec<Facts>) -> BTreeMap<String, Facts> {
        list.into_iter().map(|f| (f.sample.clone(), f)).collect()
    }

    #[test]
    fn agreement_is_no_change_and_a_lost_approval_saves_its_cost() {
        let live = facts(vec![
            live("s1", "approve", "auto_approve", true, 12.5),
            live("s2", "approve", "auto_approve", true, 20.0),
            live("s3", "reject", "min_followers", false, 8.0),
        ]);
        let decisions = vec![
            decision_of("s1", "approve", "auto_approve", "approve", "auto_approve"),
            decision_of("s2", "approve", "auto_approve", "reject", "min_followers"),
            decision_of("s3", "reject", "min_followers", "approve", "auto_approve"),
        ];
        let r = report(&decisions, &live, None);
        assert_eq!((r.compared, r.agreeing), (3, 1));
        assert_eq!(r.rules.as_deref(), Some("cand"));
        assert_eq!(r.since, Some(at(1)));
        let changed: Vec<&str> = r.changes.iter().map(|c| c.sample.as_str()).collect();
        assert_eq!(changed, ["s2", "s3"]);
        assert_eq!(r.changes[0].live.reason.as_deref(), Some("auto_approve"));
        assert_eq!(r.changes[0].candidate.decision.as_deref(), Some("reject"));
        let s = &r.summary;
        assert_eq!((s.approvals_gained, s.approvals_lost), (1, 1));
        assert_eq!((s.cost_added, s.cost_saved), (8.0, 20.0));
        assert_eq!(s.gmv_refused, 100.0);
        assert_eq!(s.by_category.get("beauty"), Some(&2));
        assert_eq!((s.base.approved, s.candidate.approved), (2, 2));
    }

    #[test]
    fn another_reason_for_the_same_verdict_keeps_the_path() {
        let live = facts(vec![live("s1", "review", "price_cap", true, 30.0)]);
        let decisions = vec![decision_of(
            "s1",
            "review",
            "price_cap",
            "review",
            "new_creator",
        )];
        let r = report(&decisions, &live, None);
        assert_eq!(r.changes.len(), 1);
        // The reviewer's approval applies under both: no approval lost, no cost moved.
        let s = &r.summary;
        assert_eq!((s.approvals_gained, s.approvals_lost), (0, 0));
        assert_eq!((s.cost_added, s.cost_saved), (0.0, 0.0));
        assert_eq!(s.by_reason[0].base.as_deref(), Some("price_cap"));
        assert_eq!(s.by_reason[0].candidate.as_deref(), Some("new_creator"));
    }

    #[test]
    fn a_candidate_fault_is_counted_and_kept_out_of_the_figures() {
        let live = facts(vec![live("s1", "approve", "auto_approve", true, 9.0)]);
        let mut d = decision_of("s1", "approve", "auto_approve", "review", RULE_ERROR);
        d.fault = Some("rules/screen.rhai:3:5: rule `screen` failed: boom".into());
        let r = report(&[d], &live, None);
        assert_eq!((r.faults.faults, r.faults.samples), (1, 1));
        assert!(r.faults.first[0].contains("rules/screen.rhai:3:5"));
        assert_eq!(r.summary.faulted, 1);
        assert_eq!(r.summary.approvals_lost, 0);
        assert_eq!(r.summary.cost_saved, 0.0);
        assert!(render_table(&r).contains("candidate rule faults: 1 on 1 samples"));
    }

    #[test]
    fn only_the_latest_candidate_in_the_window_is_measured() {
        let live = facts(vec![
            live("s1", "approve", "auto_approve", true, 9.0),
            live("s2", "approve", "auto_approve", true, 9.0),
            live("s3", "approve", "auto_approve", true, 9.0),
        ]);
        let mut old = decision_of("s1", "approve", "auto_approve", "reject", "min_followers");
        old.rules = "older".into();
        let mut s2 = decision_of("s2", "approve", "auto_approve", "reject", "min_followers");
        s2.at = at(3);
        let mut s3 = decision_of("s3", "approve", "auto_approve", "approve", "auto_approve");
        s3.at = at(5);
        let all = [old, s2, s3];
        let r = report(&all, &live, None);
        assert_eq!((r.compared, r.agreeing), (2, 1));
        assert_eq!(r.since, Some(at(3)));
        let r = report(&all, &live, Some(at(4)));
        assert_eq!((r.compared, r.agreeing, r.since), (1, 1, Some(at(4))));
        let r = report(&[], &live, None);
        assert_eq!((r.rules, r.compared), (None, 0));
    }
}
