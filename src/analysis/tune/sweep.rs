//! The replays of a tune on every core: a pool of as many threads as the machine has cores (or
//! points, if fewer), each taking the next point, building its rules and replaying the shared
//! stream. At most one replay per thread is in memory at a time, so memory is bounded by the
//! thread count, not the grid.
//!
//! Today's point is the first job: every other point is read beside it, so a thread that
//! finishes before it waits for it (holding its one replay).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::figures::{Baseline, Figures};
use super::grid::Grid;
use crate::analysis::diff::{replay, DiffError, Events};
use crate::analysis::stream::Stream;
use crate::rules::ParamValue;
use crate::runtime::Program;

/// Hears of each point done: how many are done, of how many.
pub type Progress<'a> = dyn Fn(usize, usize) + Sync + 'a;

/// Replays to run at once for `jobs` points: one per core, no more than there are points.
pub fn threads(jobs: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs)
        .max(1)
}

/// What the sweep found.
pub(super) struct Done {
    /// Per job, in the order given.
    pub figures: Vec<Figures>,
    pub threads: usize,
    /// Samples and events applied under today's policy, and its shipped, settled samples.
    pub samples: u64,
    pub applied: u64,
    pub settled: u64,
}

enum Slot {
    Pending,
    Ready(Arc<Baseline>),
    Failed,
}

struct Shared<'a> {
    program: &'a Program,
    grid: &'a Grid,
    values: &'a [Vec<ParamValue>],
    stream: Arc<Stream>,
    next: AtomicUsize,
    stop: AtomicBool,
    done: AtomicUsize,
    baseline: Mutex<Slot>,
    ready: Condvar,
    results: Mutex<Vec<Option<Figures>>>,
    error: Mutex<Option<DiffError>>,
    today: Mutex<(u64, u64, u64)>,
}

/// Marks today's replay failed if its thread leaves before publishing it (an error, or a
/// panic), so that no thread waits for it for ever.
struct Publish<'a, 'b>(&'a Shared<'b>);

impl Drop for Publish<'_, '_> {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.0.baseline.lock() {
            if matches!(*slot, Slot::Pending) {
                *slot = Slot::Failed;
            }
        }
        self.0.ready.notify_all();
    }
}

impl Shared<'_> {
    fn fail(&self, e: DiffError) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut first) = self.error.lock() {
            first.get_or_insert(e);
        }
    }

    /// Today's baseline, once published; `None` if it failed.
    fn wait(&self) -> Option<Arc<Baseline>> {
        let mut slot = self.baseline.lock().ok()?;
        loop {
            match &*slot {
                Slot::Ready(b) => return Some(b.clone()),
                Slot::Failed => return None,
                Slot::Pending => slot = self.ready.wait(slot).ok()?,
            }
        }
    }

    /// The program of job `job`: today's as loaded, any other with its values in the policy.
    fn program(&self, job: usize) -> Program {
        if job == 0 {
            return self.program.clone();
        }
        let rules = self.program.rules.as_ref();
        let policy = self.grid.policy_for(rules.policy(), &self.values[job]);
        self.program.with_rules(Arc::new(rules.with_policy(policy)))
    }

    fn terminal(&self, workflow: &str, state: &str) -> bool {
        self.program
            .flows
            .get(workflow)
            .and_then(|f| f.graph.is_terminal(state))
            .unwrap_or(false)
    }

    fn work(&self, progress: &Progress<'_>) {
        let total = self.values.len();
        while !self.stop.load(Ordering::SeqCst) {
            let job = self.next.fetch_add(1, Ordering::SeqCst);
            if job >= total {
                break;
            }
            let guard = (job == 0).then(|| Publish(self));
            let replay = match replay(self.program(job), &Events::Parsed(self.stream.clone())) {
                Ok(replay) => replay,
                Err(e) => {
                    self.fail(e);
                    break;
                }
            };
            if job == 0 {
                let baseline = Baseline::of(&replay, |w, s| self.terminal(w, s));
                if let Ok(mut today) = self.today.lock() {
                    *today = (
                        replay.facts.len() as u64,
                        replay.stats.applied,
                        baseline.settled,
                    );
                }
                if let Ok(mut slot) = self.baseline.lock() {
                    *slot = Slot::Ready(Arc::new(baseline));
                }
                self.ready.notify_all();
            }
            drop(guard);
            let Some(baseline) = self.wait() else {
                break;
            };
            let figures = Figures::of(&replay, &baseline);
            drop(replay);
            if let Ok(mut results) = self.results.lock() {
                results[job] = Some(figures);
            }
            progress(self.done.fetch_add(1, Ordering::SeqCst) + 1, total);
        }
    }
}

/// Replays `stream` once per entry of `values` (the first is today's, under `program` as
/// loaded), `threads` at a time, and gives each one's figures.
pub(super) fn sweep(
    program: &Program,
    grid: &Grid,
    values: &[Vec<ParamValue>],
    stream: Arc<Stream>,
    threads: usize,
    progress: &Progress<'_>,
) -> Result<Done, DiffError> {
    let threads = threads.clamp(1, values.len().max(1));
    let shared = Shared {
        program,
        grid,
        values,
        stream,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        done: AtomicUsize::new(0),
        baseline: Mutex::new(Slot::Pending),
        ready: Condvar::new(),
        results: Mutex::new(vec![None; values.len()]),
        error: Mutex::new(None),
        today: Mutex::new((0, 0, 0)),
    };
    let joined: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| shared.work(progress)))
            .collect();
        handles.into_iter().map(|h| h.join().is_ok()).collect()
    });
    if let Some(e) = shared.error.into_inner().ok().flatten() {
        return Err(e);
    }
    if joined.iter().any(|ok| !ok) {
        return Err(DiffError::Thread);
    }
    let figures: Option<Vec<Figures>> = shared
        .results
        .into_inner()
        .map_err(|_| DiffError::Thread)?
        .into_iter()
        .collect();
    let (samples, applied, settled) = shared.today.into_inner().map_err(|_| DiffError::Thread)?;
    Ok(Done {
        figures: figures.ok_or(DiffError::Thread)?,
        threads,
        samples,
        applied,
        settled,
    })
}
