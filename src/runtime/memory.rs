//! Memory stays bounded: ended samples leave once committed, and are read back through the
//! [`Fallback`] when an event names them again.

use super::HashSet;
use std::sync::Arc;

use rhai::ImmutableString;

use super::*;

/// After this many samples ended, they leave memory (see [`Runner::evict`]).
pub const EVICT_AFTER: usize = 4_096;

/// The least a runner sharing the threshold with others waits for ([`Runner::share_eviction`]):
/// each eviction walks the runner's samples, so it is not done for a handful.
const MIN_EVICT_AFTER: usize = 64;

/// [`EVICT_AFTER`], or `SAMPLEFLOW_EVICT_AFTER` (tests evict often to prove it changes nothing).
pub(super) fn evict_after() -> usize {
    std::env::var("SAMPLEFLOW_EVICT_AFTER")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(EVICT_AFTER)
}

pub(super) fn short_fingerprint(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

impl Runner {
    /// Lets ended samples, and the ledgers of creators with no sample in flight, leave memory
    /// once committed, read back from `fallback` when an event names them again: a long-running
    /// session's memory then follows the samples in flight, not every sample it ever saw.
    pub fn set_fallback(&mut self, fallback: Box<dyn Fallback>) {
        self.fallback = Some(fallback);
    }

    /// How many times a sample left memory since this runner started.
    pub fn left_memory(&self) -> u64 {
        self.left_memory
    }

    /// Shares the eviction threshold among `runners` runners of one session (a runner per
    /// shop): together they keep about as many ended samples in memory as one runner would.
    pub fn share_eviction(&mut self, runners: usize) {
        self.evict_after = (evict_after() / runners.max(1)).max(MIN_EVICT_AFTER);
    }

    /// True when enough samples ended since the last eviction for [`Runner::evict`] to drop them.
    pub fn wants_eviction(&self) -> bool {
        self.fallback.is_some() && self.ended_since >= self.evict_after
    }

    /// Drops from memory what has ended and is committed, when enough has ended since the last
    /// time (or always, with `force`). Call it only right after a commit: what it drops must be
    /// where the fallback reads. Returns the samples dropped.
    pub fn evict(&mut self, force: bool) -> usize {
        if self.fallback.is_none() || !(force || self.ended_since >= self.evict_after) {
            return 0;
        }
        self.drop_ended(&mut |_| {})
    }

    /// Marks an eviction without waiting for the commit: call it right after the changes were
    /// taken for a batch, then [`Runner::evict_marked`] once that batch is committed. What ended
    /// by the mark is in that batch or an earlier one; what changes after it is kept until a
    /// later eviction, as its last state may not be committed yet. The runner goes on while the
    /// commit is made, instead of waiting for it at every eviction.
    pub fn mark_eviction(&mut self) {
        if self.fallback.is_some() {
            self.ended_since = 0;
            self.touched = Some(Default::default());
        }
    }

    /// True when an eviction is marked and not yet done.
    pub fn eviction_marked(&self) -> bool {
        self.touched.is_some()
    }

    /// The marked eviction, now that the batch of the mark is committed: drops what ended and
    /// what is idle, but for what changed since the mark. Returns the samples dropped.
    pub fn evict_marked(&mut self) -> usize {
        let Some(touched) = self.touched.take() else {
            return 0;
        };
        if self.fallback.is_none() {
            return 0;
        }
        let ended = self.ended_since;
        let dropped = self.drop_ended_but(&mut |_| {}, Some(&touched));
        // What ended after the mark still counts toward the next eviction.
        self.ended_since = ended;
        dropped
    }

    /// For a runner that keeps nothing (a diff's replay): hands every ended sample and idle ledger
    /// to `keep`, which the fallback must give back, and drops them from memory. Changes are
    /// not kept for a commit either. Returns the samples handed over.
    pub fn spill(&mut self, keep: &mut dyn FnMut(Spilled)) -> usize {
        self.dirty_samples.clear();
        self.dirty_ledgers.clear();
        self.drop_ended(keep)
    }

    pub(super) fn drop_ended(&mut self, keep: &mut dyn FnMut(Spilled)) -> usize {
        self.drop_ended_but(keep, None)
    }

    /// Drops what ended and what is idle, but for what is dirty and what `touched` names.
    fn drop_ended_but(
        &mut self,
        keep: &mut dyn FnMut(Spilled),
        touched: Option<&(HashSet<ImmutableString>, HashSet<ImmutableString>)>,
    ) -> usize {
        self.ended_since = 0;
        let (recent_samples, recent_ledgers) = touched.map(|(s, l)| (s, l)).unzip();
        let ended: Vec<ImmutableString> = self
            .samples
            .values()
            .filter(|i| {
                !self.dirty_samples.contains(i.id())
                    && !recent_samples.is_some_and(|t| t.contains(i.id()))
                    && self.is_terminal(i)
            })
            .map(|i| i.id().clone())
            .collect();
        // An ended sample is in no product's index: `end` took it out.
        for id in &ended {
            if let Some(inst) = self.samples.remove(id) {
                keep(Spilled::Sample(Box::new(Arc::unwrap_or_clone(inst))));
            }
            self.evicted_samples.insert(short_fingerprint(id));
        }
        self.left_memory += ended.len() as u64;
        let busy: HashSet<&ImmutableString> =
            self.samples.values().map(|i| &i.sample.creator).collect();
        let idle: Vec<ImmutableString> = self
            .ledgers
            .keys()
            .filter(|c| {
                !busy.contains(c)
                    && !self.dirty_ledgers.contains(*c)
                    && !recent_ledgers.is_some_and(|t| t.contains(*c))
            })
            .cloned()
            .collect();
        for creator in idle {
            if let Some(ledger) = self.ledgers.remove(&creator) {
                keep(Spilled::Ledger(creator.to_string(), ledger));
            }
            self.evicted_ledgers.insert(short_fingerprint(&creator));
        }
        ended.len()
    }

    /// Brings back what the event names, if it left memory: its sample (with the sample's
    /// creator's ledger) and the ledger of the creator it names.
    pub(super) fn recall(&mut self, e: &Event) {
        if self.fallback.is_none() {
            return;
        }
        if let Some(id) = &e.sample {
            if !self.samples.contains_key(id)
                && self.evicted_samples.contains(&short_fingerprint(id))
            {
                let found = self.fallback.as_mut().and_then(|f| f.sample(id));
                if let Some(inst) = found {
                    let creator = inst.sample.creator.clone();
                    self.samples.insert(id.clone(), Arc::new(inst));
                    self.recall_ledger(&creator);
                }
            }
        }
        match &e.body {
            Body::Requested { creator, .. } => self.recall_ledger(&creator.id),
            Body::CreatorAdjusted { creator, .. } => self.recall_ledger(creator),
            // A sample's ledger came back with the sample above; a product event's samples are
            // those in memory, which hold every open one.
            Body::Reviewed { .. }
            | Body::Shipped { .. }
            | Body::DeliveryFailed { .. }
            | Body::Posted(_)
            | Body::Removed { .. }
            | Body::Metrics(_)
            | Body::ProductUnavailable { .. }
            | Body::Plain => {}
        }
    }

    pub(super) fn recall_ledger(&mut self, creator: &ImmutableString) {
        if self.ledgers.contains_key(creator)
            || !self.evicted_ledgers.contains(&short_fingerprint(creator))
        {
            return;
        }
        if let Some(ledger) = self.fallback.as_mut().and_then(|f| f.ledger(creator)) {
            self.ledgers.insert(creator.clone(), Arc::new(ledger));
        }
    }
}
