//! The shops of one session: a runner (with its batch) per shop, and the line's shop found by
//! parsing it once. Shops share nothing, so each is a runner of its own; what they applied is
//! committed together, with the session's position, in one batch (the command's shop's, the
//! others as its parts).

use std::collections::HashMap;

use crate::model::Stats;
use crate::runtime::input::Line;
use crate::runtime::Read;
use crate::store::{Batch, RunState, Writer};

use super::Batcher;

/// A runner per shop, by name; one of them the command's (`--shop`), whose batch carries the
/// session's run state and takes the lines that name no shop, or one this session lacks.
pub(crate) struct Shops {
    batchers: Vec<Batcher>,
    index: HashMap<String, usize, ahash::RandomState>,
    home: usize,
    /// Lines applied since the last seal.
    pub(crate) pending: usize,
}

impl Shops {
    /// The session's shops: `home` names one of them, whose batch carries `run`.
    pub(crate) fn new(mut batchers: Vec<Batcher>, home: &str, run: RunState) -> Shops {
        let n = batchers.len();
        if n > 1 {
            for b in &mut batchers {
                b.runner.share_eviction(n);
            }
        }
        let index: HashMap<String, usize, ahash::RandomState> = batchers
            .iter()
            .enumerate()
            .map(|(i, b)| (b.runner.program().shop().to_string(), i))
            .collect();
        let home = index.get(home).copied().unwrap_or(0);
        if let Some(b) = batchers.get_mut(home) {
            b.run = run;
        }
        Shops {
            batchers,
            index,
            home,
            pending: 0,
        }
    }

    /// Applies one line in its shop (the command's when it names none); gives the shop's index.
    pub(crate) fn apply(&mut self, line: u64, input: &Line<'_>) -> usize {
        self.apply_default(line, input, None, None)
    }

    /// Applies one line in its shop, or in `default` when it names none (the command's shop
    /// when `default` is none, or not one of the session's). A line naming a shop the session
    /// does not have goes to the default shop's runner, which refuses it (`invalid_field`,
    /// `shop`) in the contract's order of checks. `now`, the wall clock of a live session, is
    /// told to that runner alone.
    pub(crate) fn apply_default(
        &mut self,
        line: u64,
        input: &Line<'_>,
        default: Option<&str>,
        now: Option<chrono::DateTime<chrono::Utc>>,
    ) -> usize {
        let read = Read::of(input);
        let fallback = default
            .and_then(|s| self.index.get(s).copied())
            .unwrap_or(self.home);
        let at = match read.shop() {
            Some(shop) => self.index.get(shop).copied().unwrap_or(fallback),
            None => fallback,
        };
        let batcher = &mut self.batchers[at];
        if let Some(now) = now {
            batcher.runner.set_wall_clock(now);
        }
        batcher.apply_read(line, read);
        self.pending += 1;
        at
    }

    /// The command's shop.
    pub(crate) fn home(&mut self) -> &mut Batcher {
        &mut self.batchers[self.home]
    }

    pub(crate) fn get(&mut self, at: usize) -> &mut Batcher {
        &mut self.batchers[at]
    }

    /// A shop's batcher by name.
    pub(crate) fn named(&mut self, shop: &str) -> Option<&mut Batcher> {
        let at = *self.index.get(shop)?;
        Some(&mut self.batchers[at])
    }

    /// Every shop, in order.
    pub(crate) fn all(&mut self) -> impl Iterator<Item = &mut Batcher> {
        self.batchers.iter_mut()
    }

    pub(crate) fn len(&self) -> usize {
        self.batchers.len()
    }

    /// Every shop's counts added up.
    pub(crate) fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for b in &self.batchers {
            total.add(&b.runner.stats);
        }
        total
    }

    /// True when a commit has something to write.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending > 0 || self.batchers.iter().any(Batcher::has_pending)
    }

    /// What the next commit writes: the command's shop's batch, with the session's totals in
    /// its run state, and every other shop's with something to write as its parts.
    pub(crate) fn seal(&mut self) -> Batch {
        let stats = self.stats();
        let mut parts = Vec::new();
        for (i, b) in self.batchers.iter_mut().enumerate() {
            if i != self.home && b.has_pending() {
                parts.push(b.seal());
            }
        }
        let home = &mut self.batchers[self.home];
        let mut batch = home.seal();
        batch.run.stats = stats.clone();
        home.run.stats = stats;
        batch.parts = parts;
        self.pending = 0;
        batch
    }

    /// Each shop's eviction handshake ([`Batcher::evict_committed`]).
    pub(crate) fn evict_committed(&mut self, writer: &Writer) {
        for b in &mut self.batchers {
            b.evict_committed(writer);
        }
    }

    /// Ended samples that left memory, in every shop.
    pub(crate) fn left_memory(&self) -> u64 {
        self.batchers.iter().map(|b| b.runner.left_memory()).sum()
    }
}
