//! The batch since the last commit: what the runner applied and said, sealed for the one writer
//! with the run's position and counts.

use crate::model::{Output, Record, Rfc3339, Spilled};
use crate::rules::RuleFault;
use crate::runtime::{Read, Runner};
use crate::store::{Batch, EventRow, LogRow, ReviewCall, RunState, Writer};

/// The session layer every front end shares (`run`, an ops command, `watch`, `serve`): the
/// runner, and the batch of what it applied and said since the last commit, which the next
/// commit makes durable with the run's position and counts.
pub(crate) struct Batcher {
    pub(crate) runner: Runner,
    batch: Batch,
    /// Lines applied since the last commit.
    pub(crate) pending: usize,
    pub(crate) run: RunState,
    /// The batches sent when the runner's eviction was marked: it is done once the writer has
    /// committed that many.
    eviction_at: u64,
}

impl Batcher {
    pub(crate) fn new(runner: Runner, run: RunState) -> Self {
        Batcher {
            runner,
            batch: Batch::default(),
            pending: 0,
            run,
            eviction_at: 0,
        }
    }

    /// Applies one line read and parsed beforehand ([`Read::of`]); an applied event is kept
    /// for the store.
    pub(crate) fn apply_read(&mut self, line: u64, read: Read<'_>) {
        if let Some((id, text)) = self.runner.apply_read(line, read) {
            if let Some(app) = crate::model::source::platform_application(&id) {
                self.batch.platform.push(app.to_string());
            }
            self.batch.events.push(EventRow {
                id,
                line,
                raw: text.to_owned(),
            });
        }
        self.pending += 1;
    }

    /// What the runner said since the last drain: its rule faults to `fault`, then each output
    /// line to `write` (which may amend it and gives the text to keep), and on to the record log,
    /// written out or not: the store keeps what was decided.
    pub(crate) fn drain(
        &mut self,
        mut fault: impl FnMut(RuleFault),
        mut write: impl FnMut(&mut Output) -> String,
    ) {
        let batch = &mut self.batch;
        drain(&mut self.runner, &mut fault, |mut output| {
            let text = write(&mut output);
            let line = match &output {
                Output::Record(r) => {
                    if let Some(call) = review_call(r) {
                        batch.calls.push(call);
                    }
                    batch.calls.extend(action_calls(r));
                    0
                }
                Output::Error(e) => e.line,
            };
            batch.log.push(LogRow {
                line,
                sample: output.sample().cloned(),
                text,
            });
        });
    }

    /// True when a commit has something to write.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending > 0 || !self.batch.log.is_empty() || !self.batch.events.is_empty()
    }

    /// The one eviction handshake, for every driver that commits through the [`Writer`]: call
    /// it right after a batch was sent (or committed). What leaves memory must be in the store
    /// the fallback reads: an eviction is marked at a batch and done once the writer committed
    /// it, while the runner goes on (a driver that waits for its commits evicts at once).
    pub(crate) fn evict_committed(&mut self, writer: &Writer) {
        let runner = &mut self.runner;
        if !runner.eviction_marked() && runner.wants_eviction() {
            runner.mark_eviction();
            self.eviction_at = writer.sent();
        }
        if runner.eviction_marked() && writer.committed().is_some_and(|n| n >= self.eviction_at) {
            runner.evict_marked();
        }
    }

    /// What the next commit writes: the batch, what changed, and the run as it stands.
    pub(crate) fn seal(&mut self) -> Batch {
        self.run.stats = self.runner.stats.clone();
        let mut batch = std::mem::take(&mut self.batch);
        batch.changes = self.runner.take_changes();
        batch.run = self.run.clone();
        batch.shop = self.runner.program().shop().to_string();
        self.pending = 0;
        batch
    }
}

/// The review decision a record makes for the platform's outbox: an approval or a rejection by
/// an event, with its reason and time as the record writes them.
fn review_call(r: &Record) -> Option<ReviewCall> {
    let decision = r
        .decision
        .as_deref()
        .filter(|d| matches!(*d, "approve" | "reject"))?;
    Some(ReviewCall {
        sample: r.sample.to_string(),
        event: r.event.as_deref()?.to_string(),
        decision: decision.to_string(),
        reason: r.reason.clone(),
        at: Rfc3339::new(&r.at).as_str().to_string(),
    })
}

/// The calls to creators a record's actions make for the platform's outbox: a message for
/// each `remind_creator`, a target collaboration for each `invite_paid_collab`, each keyed by
/// the action's id (stable on a replay), kept in the call's `event`; its kind in `decision`.
fn action_calls(r: &Record) -> impl Iterator<Item = ReviewCall> + '_ {
    r.actions.iter().filter_map(move |a| {
        let kind = match a.kind.as_str() {
            "remind_creator" => crate::store::MESSAGE,
            "invite_paid_collab" => crate::store::COLLABORATION,
            _ => return None,
        };
        Some(ReviewCall {
            sample: r.sample.to_string(),
            event: a.id.clone(),
            decision: kind.to_string(),
            reason: None,
            at: Rfc3339::new(&r.at).as_str().to_string(),
        })
    })
}

/// The one drain of a runner, for every driver (a run's or a live session's batch, a diff's
/// replay): its rule faults to `fault`, then each output line to `each`, in order.
pub(crate) fn drain(
    runner: &mut Runner,
    mut fault: impl FnMut(RuleFault),
    mut each: impl FnMut(Output),
) {
    for f in runner.drain_faults() {
        fault(f);
    }
    for output in runner.drain_output() {
        each(output);
    }
}

/// The eviction of a driver that keeps nothing (a diff's replay): once enough has ended, what
/// ended and what is idle leaves memory for `keep`, which the runner's fallback reads back.
pub(crate) fn spill_ended(runner: &mut Runner, keep: &mut dyn FnMut(Spilled)) {
    if runner.wants_eviction() {
        runner.spill(keep);
    }
}
