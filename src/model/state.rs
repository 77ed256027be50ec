//! What the runner keeps and a store saves: the runner's own figures, a snapshot to start
//! from, the changes of one batch, the counts of a run, and how a runner reads back what it let
//! go of.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Instance, Ledger};

/// The runner's own figures that live across runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The latest `at` of any event that was not malformed.
    pub clock: Option<DateTime<Utc>>,
    /// The next arming number.
    pub seq: u64,
    /// The shop's automatic approvals per day of the shop's timezone.
    pub auto_approvals: BTreeMap<NaiveDate, i64>,
}

/// Everything the runner keeps, as a store loads it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub samples: Vec<Instance>,
    pub ledgers: Vec<(String, Ledger)>,
    pub meta: Meta,
    /// Ids of every event applied so far.
    pub applied: Vec<String>,
}

/// What changed since the last `take_changes`.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Shared with the runner, which copies one only if it changes it again before the store
    /// has written it.
    pub samples: Vec<Arc<Instance>>,
    pub ledgers: Vec<(String, Arc<Ledger>)>,
    pub meta: Meta,
    /// What a candidate rule set decided beside the live rules (`--shadow`), for the same commit.
    pub shadows: Vec<super::ShadowDecision>,
}

/// Counts for the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub read: u64,
    pub applied: u64,
    pub refused: BTreeMap<String, u64>,
    pub deadlines: u64,
    pub records: u64,
    pub rule_faults: u64,
    /// Requests applied in categories that `policy.yaml` does not declare, by category.
    #[serde(default)]
    pub undeclared: BTreeMap<String, u64>,
}

impl Stats {
    /// Adds another runner's counts (one runner per shop; a run's totals are their sum).
    pub fn add(&mut self, other: &Stats) {
        self.read += other.read;
        self.applied += other.applied;
        self.deadlines += other.deadlines;
        self.records += other.records;
        self.rule_faults += other.rule_faults;
        for (k, n) in &other.refused {
            *self.refused.entry(k.clone()).or_insert(0) += n;
        }
        for (k, n) in &other.undeclared {
            *self.undeclared.entry(k.clone()).or_insert(0) += n;
        }
    }

    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// The committed state a runner reads back what it let go of: one sample, one ledger.
pub trait Fallback: Send {
    fn sample(&mut self, id: &str) -> Option<Instance>;
    fn ledger(&mut self, creator: &str) -> Option<Ledger>;
}

/// What the runner's spill hands over as it leaves memory.
#[derive(Debug)]
#[non_exhaustive]
pub enum Spilled {
    Sample(Box<Instance>),
    Ledger(String, Arc<Ledger>),
}

/// The last moment an RFC 3339 time can write (and so an event can name, and a store read back).
pub fn last_time() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `secs` seconds after `at`, saturating at [`last_time`]: no time computation of the runner
/// can overflow or leave what a store can read back, whatever a rule or an event asks for.
pub fn after(at: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    chrono::Duration::try_seconds(secs)
        .and_then(|d| at.checked_add_signed(d))
        .map_or_else(last_time, |t| t.min(last_time()))
}
