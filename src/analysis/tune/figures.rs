//! A point's figures, read off its replay beside today's: approvals, shipments, their cost,
//! the GMV history measured and the GMV estimated where history cannot tell; then the Pareto
//! front and the best point within a budget.
//!
//! "History" is the replay under today's policy (the recorded history, when the events were
//! recorded under it). For each sample a point approves:
//! - shipped in the point's replay: its cost and attributed GMV count (observed);
//! - not shipped there but shipped in history: history's cost and GMV count (observed). The
//!   point approved the same sample at another moment (say at screening, where history waited
//!   for a reviewer), and the replay's ship deadline, counted from that moment, came before the
//!   shipment history recorded; the seller would have shipped it all the same;
//! - never shipped in history, not approved by today's policy, and left by the point in another
//!   state than today's policy leaves it: estimated. History holds no shipment for it because
//!   history never approved it. It is counted as shipped at its unit cost x quantity (as `diff`
//!   weighs a new approval; its shipping is unknown) and given the median GMV of the samples of
//!   its category and tier that history shipped and that settled; never added into the
//!   observed GMV. (A creator who withdrew, or a product that went out of stock, ends the same
//!   way under both: history tells what became of such a sample, and nothing is estimated.)

use std::collections::HashMap;

use serde::Serialize;

use super::super::diff::Replay;
use super::super::round;

/// One sample under today's policy.
#[derive(Debug, Clone, Copy)]
struct Today {
    approved: bool,
    shipped: bool,
    /// The state it ended in: an index into `Baseline::states`.
    state: u32,
    cost: f64,
    gmv: f64,
}

/// What today's replay tells every other point.
#[derive(Debug, Default)]
pub struct Baseline {
    samples: HashMap<String, Today>,
    states: Vec<String>,
    approved: u64,
    faulted: std::collections::HashSet<String>,
    /// Median GMV of the shipped, settled samples, by category and tier, by category, and of
    /// all of them.
    by_tier: HashMap<(String, String), f64>,
    by_category: HashMap<String, f64>,
    overall: Option<f64>,
    /// Shipped, settled samples the medians are taken over.
    pub settled: u64,
}

impl Baseline {
    /// Reads today's replay. `terminal` says whether a state of a workflow is an end state.
    pub fn of(replay: &Replay, terminal: impl Fn(&str, &str) -> bool) -> Baseline {
        let mut b = Baseline::default();
        let mut state_ids: HashMap<String, u32> = HashMap::new();
        let mut by_tier: HashMap<(String, String), Vec<f64>> = HashMap::new();
        let mut by_category: HashMap<String, Vec<f64>> = HashMap::new();
        let mut all = Vec::new();
        for f in replay.facts.values() {
            let next = state_ids.len() as u32;
            let state = *state_ids.entry(f.state.clone()).or_insert_with(|| {
                b.states.push(f.state.clone());
                next
            });
            let today = Today {
                approved: f.approved(),
                shipped: f.milestones.shipped.is_some(),
                state,
                cost: f.cost,
                gmv: f.gmv,
            };
            b.samples.insert(f.sample.clone(), today);
            b.approved += u64::from(f.approved());
            let settled = f.settled || terminal(&f.workflow, &f.state);
            if f.milestones.shipped.is_some() && settled {
                by_tier
                    .entry((f.category.clone(), f.tier.clone()))
                    .or_default()
                    .push(f.gmv);
                by_category
                    .entry(f.category.clone())
                    .or_default()
                    .push(f.gmv);
                all.push(f.gmv);
            }
        }
        b.faulted = replay.faulted.iter().cloned().collect();
        b.settled = all.len() as u64;
        let exact = |xs: &mut Vec<f64>| exact_median(xs);
        b.by_tier = by_tier
            .into_iter()
            .filter_map(|(k, mut xs)| Some((k, exact(&mut xs)?)))
            .collect();
        b.by_category = by_category
            .into_iter()
            .filter_map(|(k, mut xs)| Some((k, exact(&mut xs)?)))
            .collect();
        b.overall = exact(&mut all);
        b
    }

    /// The GMV a shipped sample of `category` and `tier` brought at the median: that pair's,
    /// else the category's, else all categories', else nothing.
    pub fn estimate(&self, category: &str, tier: &str) -> f64 {
        self.by_tier
            .get(&(category.to_string(), tier.to_string()))
            .or_else(|| self.by_category.get(category))
            .copied()
            .or(self.overall)
            .unwrap_or(0.0)
    }

    /// The medians by category and tier, in name order, for the record.
    pub fn medians(&self) -> Vec<(String, String, f64)> {
        let mut out: Vec<(String, String, f64)> = self
            .by_tier
            .iter()
            .map(|((c, t), m)| (c.clone(), t.clone(), *m))
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }
}

/// The median, to the cent (the report's own rounds to a tenth, for days).
fn exact_median(xs: &mut [f64]) -> Option<f64> {
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
    Some(round(m, 2))
}

/// One point's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Samples approved, by screening or a reviewer's recorded decision.
    pub approvals: u64,
    /// Samples shipped in the replay, plus those whose GMV is estimated (the seller ships what
    /// it approves).
    pub shipped: u64,
    /// The sample cost of those shipped.
    pub cost: f64,
    /// Attributed GMV of the approved samples history shipped and measured.
    pub gmv_observed: f64,
    /// GMV estimated for samples history cannot tell of (see the module's notes).
    pub gmv_estimated: f64,
    /// (observed + estimated GMV - cost) / cost; none without cost.
    pub roi: Option<f64>,
    /// Beside the contract's figures: samples whose GMV is estimated.
    #[serde(skip)]
    pub estimated: u64,
    /// Approvals gained and lost against today's policy, as `diff` counts them (samples a rule
    /// faulted on, either side, left out).
    #[serde(skip)]
    pub gained: u64,
    #[serde(skip)]
    pub lost: u64,
    /// Rule faults of this point's replay, on how many samples, and the first.
    #[serde(skip)]
    pub faults: u64,
    #[serde(skip)]
    pub faulted_samples: u64,
    #[serde(skip)]
    pub first_fault: Option<String>,
    /// Ended samples that left the replay's memory for its spill file.
    #[serde(skip)]
    pub spilled: u64,
}

impl Figures {
    /// Reads `replay` beside today's.
    pub fn of(replay: &Replay, today: &Baseline) -> Figures {
        let mut fig = Figures::default();
        let (mut cost, mut observed, mut estimated) = (0.0, 0.0, 0.0);
        let mut seen_approved_today = 0u64;
        for f in replay.facts.values() {
            let approved = f.approved();
            let shipped = f.milestones.shipped.is_some();
            let base = today.samples.get(&f.sample).copied();
            let approved_today = base.is_some_and(|t| t.approved);
            seen_approved_today += u64::from(approved_today);
            fig.approvals += u64::from(approved);
            if approved {
                match base {
                    _ if shipped => {
                        fig.shipped += 1;
                        cost += f.cost;
                        observed += f.gmv;
                    }
                    Some(t) if t.shipped => {
                        fig.shipped += 1;
                        cost += t.cost;
                        observed += t.gmv;
                    }
                    _ => {
                        let state_today = base.and_then(|t| today.states.get(t.state as usize));
                        if !approved_today && state_today.is_none_or(|s| *s != f.state) {
                            fig.estimated += 1;
                            fig.shipped += 1;
                            cost += f.cost;
                            estimated += today.estimate(&f.category, &f.tier);
                        }
                    }
                }
            }
            let faulted = replay.faulted.contains(&f.sample) || today.faulted.contains(&f.sample);
            if !faulted {
                fig.gained += u64::from(approved && !approved_today);
                fig.lost += u64::from(approved_today && !approved);
            }
        }
        // Samples today approved that this replay does not have at all.
        fig.lost += today.approved.saturating_sub(seen_approved_today);
        fig.cost = round(cost, 2);
        fig.gmv_observed = round(observed, 2);
        fig.gmv_estimated = round(estimated, 2);
        fig.roi = (cost > 0.0).then(|| round((observed + estimated - cost) / cost, 4));
        fig.faults = replay.faults.len() as u64;
        fig.faulted_samples = replay.faulted.len() as u64;
        fig.first_fault = replay.faults.first().cloned();
        fig.spilled = replay.spilled;
        fig
    }

    /// Cost in cents, as printed.
    pub fn cost_cents(&self) -> i64 {
        cents(self.cost)
    }

    /// Observed plus estimated GMV in cents, each as printed: what the front weighs.
    pub fn gmv_cents(&self) -> i64 {
        cents(self.gmv_observed) + cents(self.gmv_estimated)
    }

    /// Observed plus estimated GMV.
    pub fn gmv_total(&self) -> f64 {
        round(self.gmv_observed + self.gmv_estimated, 2)
    }
}

/// Money in whole cents.
pub fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// Which points are on the Pareto front of cost (lower is better) against GMV, observed plus
/// estimated (higher is better): those no other point matches or beats on both with one
/// strictly better. Points where `eligible` is false (their rules faulted) are neither on it
/// nor dominate anything.
pub fn pareto(points: &[&Figures], eligible: &[bool]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..points.len()).filter(|i| eligible[*i]).collect();
    order.sort_by_key(|i| {
        (
            points[*i].cost_cents(),
            std::cmp::Reverse(points[*i].gmv_cents()),
        )
    });
    let mut front = vec![false; points.len()];
    // The most GMV of the points that cost strictly less than the group at hand.
    let mut best_cheaper: Option<i64> = None;
    let mut i = 0;
    while i < order.len() {
        let cost = points[order[i]].cost_cents();
        let top = points[order[i]].gmv_cents();
        let mut j = i;
        while j < order.len() && points[order[j]].cost_cents() == cost {
            let p = order[j];
            front[p] = points[p].gmv_cents() == top && best_cheaper.is_none_or(|b| top > b);
            j += 1;
        }
        best_cheaper = Some(best_cheaper.map_or(top, |b| b.max(top)));
        i = j;
    }
    front
}

/// The point with the most GMV (observed plus estimated) within `max_cost`: on a tie, the one
/// that costs less, then `preferred` (today's), then the first.
pub fn best(
    points: &[&Figures],
    eligible: &[bool],
    max_cost: f64,
    preferred: usize,
) -> Option<usize> {
    let budget = cents(max_cost);
    (0..points.len())
        .filter(|i| eligible[*i] && points[*i].cost_cents() <= budget)
        .min_by_key(|i| {
            (
                std::cmp::Reverse(points[*i].gmv_cents()),
                points[*i].cost_cents(),
                *i != preferred,
                *i,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(cost: f64, observed: f64, estimated: f64) -> Figures {
        Figures {
            cost,
            gmv_observed: observed,
            gmv_estimated: estimated,
            ..Figures::default()
        }
    }

    fn dominated(points: &[Figures], p: usize) -> bool {
        points.iter().enumerate().any(|(q, other)| {
            q != p
                && other.cost_cents() <= points[p].cost_cents()
                && other.gmv_cents() >= points[p].gmv_cents()
                && (other.cost_cents() < points[p].cost_cents()
                    || other.gmv_cents() > points[p].gmv_cents())
        })
    }

    #[test]
    fn the_front_is_exactly_the_points_nothing_dominates() {
        let points = vec![
            fig(10.0, 100.0, 0.0),
            fig(10.0, 90.0, 20.0), // same cost, more GMV with its estimate: beats the first
            fig(5.0, 50.0, 0.0),
            fig(5.0, 50.0, 0.0),   // a tie: both on the front
            fig(7.0, 50.0, 0.0),   // more cost, no more GMV than the $5 points
            fig(20.0, 110.0, 0.0), // more cost, same GMV as the second: dominated
            fig(0.0, 0.0, 0.0),
            fig(30.0, 200.0, 0.004), // an estimate below a cent adds nothing
        ];
        let refs: Vec<&Figures> = points.iter().collect();
        let front = pareto(&refs, &vec![true; points.len()]);
        assert_eq!(front, [false, true, true, true, false, false, true, true]);
        for (p, on) in front.iter().enumerate() {
            assert_eq!(*on, !dominated(&points, p), "point {p}");
        }
        // A point left out (its rules faulted) dominates nothing.
        let mut eligible = vec![true; points.len()];
        eligible[1] = false;
        let front = pareto(&refs, &eligible);
        assert!(!front[1] && front[0] && front[5]);
    }

    #[test]
    fn random_points_agree_with_the_definition() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200 {
            let points: Vec<Figures> = (0..rng.usize(1..30))
                .map(|_| {
                    fig(
                        rng.u32(0..6) as f64 * 10.0,
                        rng.u32(0..6) as f64 * 25.0,
                        rng.u32(0..3) as f64 * 5.0,
                    )
                })
                .collect();
            let refs: Vec<&Figures> = points.iter().collect();
            let front = pareto(&refs, &vec![true; points.len()]);
            for (p, on) in front.iter().enumerate() {
                assert_eq!(*on, !dominated(&points, p), "{points:?} point {p}");
            }
        }
    }

    #[test]
    fn the_best_point_has_the_most_gmv_within_the_cost() {
        let points = [
            fig(100.0, 500.0, 0.0),
            fig(80.0, 400.0, 150.0),
            fig(80.0, 550.0, 0.0),
            fig(60.0, 300.0, 0.0),
            fig(200.0, 900.0, 0.0),
        ];
        let refs: Vec<&Figures> = points.iter().collect();
        let all = vec![true; points.len()];
        // $550 at $80 twice: the preferred one wins the tie, else the first.
        assert_eq!(best(&refs, &all, 100.0, 2), Some(2));
        assert_eq!(best(&refs, &all, 100.0, 0), Some(1));
        assert_eq!(best(&refs, &all, 79.99, 0), Some(3));
        assert_eq!(best(&refs, &all, 10.0, 0), None);
        assert_eq!(best(&refs, &all, 1e9, 0), Some(4));
    }
}
