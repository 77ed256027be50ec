//! `tune`: which threshold to set. The recorded events replayed, each time in full and in
//! memory as `diff` replays them, under the rules with every combination of some policy
//! parameters' values (a grid); per point, the approvals, shipments and their cost, the GMV
//! history measured and the GMV it could only estimate; then the Pareto front of cost against
//! GMV, today's point, and the best point within a budget with the `policy.yaml` lines that
//! make it.
//!
//! By idea: the grid (`grid`), the events parsed once for every replay (`stream`), the
//! replays on every core (`sweep`), a point's figures, the front and the best point
//! (`figures`), and the table, JSON and HTML page (`render`, `html`).

mod figures;
mod grid;
pub(crate) mod html;
mod render;
mod sweep;

pub use super::stream::Stream;
pub use figures::{cents, Figures};
pub use grid::{Grid, GridError};
pub use render::{render_json, render_table};
pub use sweep::{threads, Progress};

use std::sync::Arc;

use super::diff::DiffError;
use crate::rules::ParamValue;
use crate::runtime::Program;

/// One point of a tune: its values (one per axis of the grid) and its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub values: Vec<ParamValue>,
    pub figures: Figures,
    /// On the Pareto front of cost against GMV (observed plus estimated).
    pub pareto: bool,
    /// Today's values.
    pub today: bool,
    /// False for today's point when today's values are not on the grid (run on top of it).
    pub on_grid: bool,
}

impl Point {
    /// A point whose rules faulted is on no front and never the best: a broken rule is no
    /// saving.
    pub fn eligible(&self) -> bool {
        self.figures.faults == 0
    }
}

/// Everything `sampleflow tune` prints.
#[derive(Debug, Clone)]
pub struct Tune {
    pub grid: Grid,
    /// Today's point first when it is off the grid, then the grid's points in order (the first
    /// parameter varies slowest).
    pub points: Vec<Point>,
    /// The index of the best point within `max_cost`.
    pub best: Option<usize>,
    pub max_cost: Option<f64>,
    /// Replays run at once.
    pub threads: usize,
    /// Lines of input (not blank), samples and events applied in today's replay.
    pub lines: usize,
    pub samples: u64,
    pub applied: u64,
    /// Shipped, settled samples under today's policy: what estimates are medians of.
    pub settled: u64,
    /// The categories that set a tuned parameter in their own block (a `default` change does
    /// not reach them).
    pub shielded: Vec<(String, &'static str)>,
}

impl Tune {
    /// Today's point.
    pub fn today(&self) -> Option<&Point> {
        self.points.iter().find(|p| p.today)
    }

    /// The best point within `max_cost`.
    pub fn best_point(&self) -> Option<&Point> {
        self.best.and_then(|i| self.points.get(i))
    }
}

/// Replays `stream` under `program`'s rules with each point of `grid` set in their policy,
/// `threads` replays at a time, and weighs the points. `progress` hears of each point done.
pub fn tune(
    program: &Program,
    grid: Grid,
    stream: Arc<Stream>,
    max_cost: Option<f64>,
    threads: usize,
    progress: &Progress<'_>,
) -> Result<Tune, DiffError> {
    let mut jobs: Vec<(Vec<ParamValue>, bool)> = Vec::with_capacity(grid.len() + 1);
    let today_index = grid.today_index();
    // Today's replay runs first: every other point is read beside it.
    jobs.push((grid.today(), today_index.is_some()));
    jobs.extend(
        (0..grid.len())
            .filter(|i| Some(*i) != today_index)
            .map(|i| (grid.point(i), true)),
    );
    let values: Vec<Vec<ParamValue>> = jobs.iter().map(|(v, _)| v.clone()).collect();
    let done = sweep::sweep(program, &grid, &values, stream.clone(), threads, progress)?;
    let mut by_job: Vec<Option<Figures>> = done.figures.into_iter().map(Some).collect();
    let mut points = Vec::with_capacity(jobs.len());
    let mut take = |job: usize, today: bool, on_grid: bool| {
        by_job[job].take().map(|figures| Point {
            values: values[job].clone(),
            figures,
            pareto: false,
            today,
            on_grid,
        })
    };
    if today_index.is_none() {
        points.extend(take(0, true, false));
    }
    let mut next_job = 1;
    for i in 0..grid.len() {
        if Some(i) == today_index {
            points.extend(take(0, true, true));
        } else {
            points.extend(take(next_job, false, true));
            next_job += 1;
        }
    }
    let figures: Vec<&Figures> = points.iter().map(|p| &p.figures).collect();
    let eligible: Vec<bool> = points.iter().map(Point::eligible).collect();
    let front = figures::pareto(&figures, &eligible);
    let preferred = points.iter().position(|p| p.today).unwrap_or(0);
    let best = max_cost.and_then(|m| figures::best(&figures, &eligible, m, preferred));
    for (p, on) in points.iter_mut().zip(front) {
        p.pareto = on;
    }
    let shielded = grid.shielded(program.rules.policy());
    Ok(Tune {
        grid,
        points,
        best,
        max_cost,
        threads: done.threads,
        lines: stream.len(),
        samples: done.samples,
        applied: done.applied,
        settled: done.settled,
        shielded,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::analysis::diff::{diff, Events};
    use crate::rules::RuleSet;

    fn root(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    fn shipped() -> Program {
        let (graphs, _) = crate::validate_dir(&root("workflows")).expect("workflows");
        Program::new(graphs, RuleSet::load(&root("rules")).expect("rules"))
    }

    fn tuned(specs: &[&str], category: Option<&str>, events: &str) -> (Program, Tune) {
        let program = shipped();
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        let grid = Grid::parse(program.rules.policy(), category, &specs).expect("grid");
        let stream = Arc::new(Stream::read_file(&root(events)).expect("events"));
        let t = tune(&program, grid, stream, Some(700.0), 2, &|_, _| {}).expect("tune");
        (program, t)
    }

    /// Every point against `diff` of today's rules and a rule set with the point's values, as a
    /// category manager would write them into `policy.yaml`.
    #[test]
    fn every_point_counts_approvals_as_diff_does() {
        let (program, t) = tuned(
            &["price_cap=20..80:20", "min_followers=3000..6000:3000"],
            None,
            "examples/events.jsonl",
        );
        assert_eq!(t.points.len(), 9, "eight on the grid and today's");
        let events = Events::File(root("examples/events.jsonl"));
        for p in &t.points {
            let policy = t.grid.policy_for(program.rules.policy(), &p.values);
            let candidate = program.with_rules(Arc::new(program.rules.with_policy(policy)));
            let (d, base, c) = diff(program.clone(), candidate, &events).expect("diff");
            let f = &p.figures;
            assert_eq!(f.approvals, d.summary.candidate.approved, "{:?}", p.values);
            assert_eq!(
                (f.gained, f.lost),
                (d.summary.approvals_gained, d.summary.approvals_lost)
            );
            // Observed GMV: what history measured of the samples still approved.
            let today = t.today().expect("today");
            if f.gained == 0 {
                let refused = today.figures.gmv_observed - f.gmv_observed;
                assert!(
                    (refused - d.summary.gmv_refused).abs() < 0.005,
                    "{:?}",
                    p.values
                );
                assert_eq!(f.gmv_estimated, 0.0);
            }
            // Cost: diff weighs every approval lost at its cost, shipped or not; the tuner counts
            // what was shipped.
            let unshipped_lost: f64 = base
                .facts
                .values()
                .filter(|b| b.approved() && b.milestones.shipped.is_none())
                .filter(|b| !c.facts[&b.sample].approved())
                .map(|b| b.cost)
                .sum();
            let delta = f.cost - today.figures.cost;
            let expected = d.summary.cost_added - d.summary.cost_saved + unshipped_lost;
            assert!(
                (delta - expected).abs() < 0.005,
                "{:?}: {delta} against {expected}",
                p.values
            );
        }
        let today = t.today().expect("today");
        assert!(!today.on_grid && t.points[0].today);
        assert_eq!(today.figures.gained + today.figures.lost, 0);
    }

    #[test]
    fn a_new_approval_history_never_shipped_is_estimated_never_observed() {
        let (_, t) = tuned(
            &["price_cap=50..70:20"],
            Some("toys"),
            "examples/events.jsonl",
        );
        let (today, looser) = (&t.points[0], &t.points[1]);
        assert!(today.today);
        assert_eq!(looser.figures.gained, 1);
        assert_eq!(looser.figures.estimated, 1);
        assert!(looser.figures.gmv_estimated > 0.0);
        assert_eq!(looser.figures.gmv_observed, today.figures.gmv_observed);
        assert_eq!(looser.figures.shipped, today.figures.shipped + 1);
        assert_eq!(t.best, Some(1));
        assert!(t.points.iter().all(|p| p.pareto));
    }
}
