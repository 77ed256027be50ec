//! The runner: events in, through the workflow graph and the rules, on event time; records out.
//!
//! The runner holds every sample, every creator's ledger, the clock and the armed deadlines in
//! memory, and hands what changed to a [`crate::store::Store`] in batches (`take_changes`). It
//! never parses YAML and never touches a file: the caller feeds it lines and drains its output.

pub mod event;
pub mod gen;
pub mod input;
mod instance;
pub mod record;
pub mod session;

pub use event::{Body, ErrorKind, Event, Refusal};
pub use instance::{Armed, DeadlineView, Instance, SampleView};
pub use record::{ActionOut, ErrorRecord, Output, Record};

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rhai::ImmutableString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::definition::vocab::{EventKind, Role};
use crate::definition::{vocab, Duration, Move, Reason, DEFAULT_WORKFLOW};
use crate::graph::WorkflowGraph;
use crate::rules::{
    Action, Explain, Ledger, Quarter, Request, RuleFault, RuleSet, ScreenInput, Verdict, DAY,
};

/// One workflow ready to run, with the short hash of its file.
#[derive(Debug, Clone)]
pub struct Flow {
    pub graph: WorkflowGraph,
    pub hash: Arc<str>,
}

impl Flow {
    pub fn new(graph: WorkflowGraph) -> Self {
        let text = graph.workflow().source.inner().to_string();
        Flow {
            hash: short_hash(text.as_bytes()).into(),
            graph,
        }
    }
}

/// Twelve hex digits of sha256, as `rules` and `workflow` are written in records.
pub fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// What the runner runs: the workflows by name and the rule set.
#[derive(Debug, Clone)]
pub struct Program {
    pub flows: HashMap<String, Arc<Flow>>,
    pub rules: Arc<RuleSet>,
    rules_hash: Arc<str>,
    /// Every duration the workflows write, resolved once per category.
    durations: Arc<Durations>,
}

/// The workflows' durations (`7d`, `policy.review_window`) resolved against the policy when a
/// program is made: the runner reads seconds, never text, when it arms a deadline.
#[derive(Debug, Default)]
struct Durations {
    /// By the text as written: seconds for `default` and for each category with a policy block.
    resolved: HashMap<String, (i64, HashMap<String, i64>)>,
    /// What did not resolve (`validate` refuses such workflows before anything runs).
    unresolved: Vec<String>,
}

impl Durations {
    fn of<'a>(graphs: impl Iterator<Item = &'a WorkflowGraph>, rules: &RuleSet) -> Durations {
        let policy = rules.policy();
        let mut out = Durations::default();
        for g in graphs {
            let w = g.workflow();
            let texts = w
                .states
                .iter()
                .flat_map(|s| s.deadlines.iter().map(|d| &d.after.value))
                .chain(w.deadlines.iter().flat_map(|d| {
                    std::iter::once(&d.after.value).chain(d.extend.as_ref().map(|e| &e.by.value))
                }));
            for text in texts {
                if out.resolved.contains_key(text) || out.unresolved.contains(text) {
                    continue;
                }
                let resolved = match Duration::parse(text) {
                    Ok(Duration::Seconds(secs)) => Some((secs, HashMap::new())),
                    Ok(Duration::Policy(name)) => policy.duration("default", &name).map(|d| {
                        let by_category = policy
                            .categories
                            .keys()
                            .filter_map(|c| Some((c.clone(), policy.duration(c, &name)?)))
                            .collect();
                        (d, by_category)
                    }),
                    Err(_) => None,
                };
                match resolved {
                    Some(r) => {
                        out.resolved.insert(text.clone(), r);
                    }
                    None => out.unresolved.push(text.clone()),
                }
            }
        }
        out
    }

    fn seconds(&self, text: &str, category: &str) -> Option<i64> {
        let (default, by_category) = self.resolved.get(text)?;
        Some(by_category.get(category).copied().unwrap_or(*default))
    }
}

impl Program {
    pub fn new(graphs: Vec<WorkflowGraph>, rules: RuleSet) -> Self {
        let durations = Arc::new(Durations::of(graphs.iter(), &rules));
        let flows = graphs
            .into_iter()
            .map(|g| (g.workflow().name.value.clone(), Arc::new(Flow::new(g))))
            .collect();
        Program {
            flows,
            rules_hash: rules.hash().into(),
            rules: Arc::new(rules),
            durations,
        }
    }

    /// Durations of the workflows that do not resolve against the policy: none in a program
    /// whose files passed `validate`.
    pub fn unresolved_durations(&self) -> &[String] {
        &self.durations.unresolved
    }

    pub fn rules_hash(&self) -> &str {
        &self.rules_hash
    }

    /// The rule set and every workflow, as the store keeps them by hash.
    pub fn versions(&self) -> Vec<crate::store::Version> {
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut flows: Vec<&Arc<Flow>> = self.flows.values().collect();
        flows.sort_by(|a, b| {
            a.graph
                .workflow()
                .name
                .value
                .cmp(&b.graph.workflow().name.value)
        });
        std::iter::once(crate::store::Version {
            kind: "rules".into(),
            hash: self.rules_hash.to_string(),
            name: self.rules.dir().display().to_string(),
            files: self.rules.texts().to_vec(),
            first_seen: now.clone(),
        })
        .chain(flows.into_iter().map(|f| {
            let w = f.graph.workflow();
            crate::store::Version {
                kind: "workflow".into(),
                hash: f.hash.to_string(),
                name: w.name.value.clone(),
                files: vec![(
                    w.path
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    w.source.inner().to_string(),
                )],
                first_seen: now.clone(),
            }
        }))
        .collect()
    }

    /// The same workflows with another rule set (a reload, or the candidate of a diff).
    pub fn with_rules(&self, rules: Arc<RuleSet>) -> Self {
        let durations = Arc::new(Durations::of(self.flows.values().map(|f| &f.graph), &rules));
        Program {
            flows: self.flows.clone(),
            rules_hash: rules.hash().into(),
            rules,
            durations,
        }
    }
}

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
    pub samples: Vec<Instance>,
    pub ledgers: Vec<(String, Ledger)>,
    pub meta: Meta,
}

/// What a swap of programs did to the samples in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Swap {
    /// Armed deadlines the new workflows no longer define.
    pub dropped: usize,
    /// State deadlines the new workflows add, armed from the clock.
    pub armed: usize,
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
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// An action before it has its id: from a rule, or one the workflow names.
#[derive(Debug, Clone)]
enum Act {
    Rule(Action),
    Named(String),
}

/// One move of one sample, before it becomes a record.
struct Step {
    sample: ImmutableString,
    at: DateTime<Utc>,
    to: String,
    trigger: String,
    event: Option<ImmutableString>,
    decision: Option<String>,
    reason: Option<String>,
    explain: Option<Explain>,
    acts: Vec<Act>,
    /// The content that caused the move, for the keep-up period.
    content: Option<ImmutableString>,
    /// Who made the event, and their note (none for a deadline).
    by: Option<ImmutableString>,
    note: Option<ImmutableString>,
}

impl Step {
    fn new(sample: &ImmutableString, at: DateTime<Utc>, to: &str, trigger: String) -> Self {
        Step {
            sample: sample.clone(),
            at,
            to: to.to_string(),
            trigger,
            event: None,
            decision: None,
            reason: None,
            explain: None,
            acts: Vec::new(),
            content: None,
            by: None,
            note: None,
        }
    }

    /// A move made by event `e`: it names the event and who made it.
    fn of_event(sample: &ImmutableString, e: &Event, to: &str) -> Self {
        let mut step = Step::new(sample, e.at, to, e.kind.to_string());
        step.event = Some(e.id.clone());
        step.by = e.by.clone();
        step.note = e.note.clone();
        step
    }
}

type Due = Reverse<(DateTime<Utc>, u64, ImmutableString, String)>;

/// Applies events to samples and ledgers.
pub struct Runner {
    program: Program,
    samples: HashMap<ImmutableString, Instance>,
    ledgers: HashMap<ImmutableString, Arc<Ledger>>,
    meta: Meta,
    applied: HashSet<u128>,
    heap: BinaryHeap<Due>,
    /// Open samples per product, for `product_unavailable`.
    by_product: HashMap<ImmutableString, BTreeSet<ImmutableString>>,
    dirty_samples: HashSet<ImmutableString>,
    dirty_ledgers: HashSet<ImmutableString>,
    out: Vec<Output>,
    faults: Vec<RuleFault>,
    horizon: Option<Horizon>,
    /// Where ended samples and idle ledgers are read back from once they left memory.
    fallback: Option<Box<dyn Fallback>>,
    /// Fingerprints of the samples and ledgers that left memory (committed, so the fallback has
    /// them); a collision only costs a look-up that finds nothing.
    evicted_samples: HashSet<u64>,
    evicted_ledgers: HashSet<u64>,
    /// Samples that ended since the last eviction, and how many make an eviction.
    ended_since: usize,
    evict_after: usize,
    /// Samples dropped from memory so far (a sample read back and ended again counts again).
    left_memory: u64,
    pub stats: Stats,
}

/// The committed state a runner reads back what it let go of: one sample, one ledger.
pub trait Fallback: Send {
    fn sample(&mut self, id: &str) -> Option<Instance>;
    fn ledger(&mut self, creator: &str) -> Option<Ledger>;
}

/// What [`Runner::spill`] hands over as it leaves memory.
#[derive(Debug)]
pub enum Spilled {
    Sample(Box<Instance>),
    Ledger(String, Arc<Ledger>),
}

/// After this many samples ended, they leave memory (see [`Runner::evict`]).
pub const EVICT_AFTER: usize = 4_096;

/// [`EVICT_AFTER`], or `SAMPLEFLOW_EVICT_AFTER` (tests evict often to prove it changes nothing).
fn evict_after() -> usize {
    std::env::var("SAMPLEFLOW_EVICT_AFTER")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(EVICT_AFTER)
}

fn short_fingerprint(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

/// How far after the wall clock an event may be (`--max-future` of `watch`): a later one is
/// `invalid_field`, so that one mistyped year cannot fire every deadline.
#[derive(Debug, Clone)]
pub struct Horizon {
    pub now: DateTime<Utc>,
    pub seconds: i64,
    /// The allowance as the user wrote it (`1d`).
    pub label: String,
}

/// Arms a deadline: on the sample, and in the heap that fires it.
fn arm_deadline(
    heap: &mut BinaryHeap<Due>,
    inst: &mut Instance,
    name: String,
    of_state: bool,
    due: DateTime<Utc>,
    seq: u64,
) {
    heap.push(Reverse((due, seq, inst.id().clone(), name.clone())));
    inst.deadlines.push(Armed {
        name,
        of_state,
        due,
        seq,
        held: false,
    });
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

/// `days` days after `at`, the same way.
fn days_after(at: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    after(at, days.saturating_mul(DAY))
}

fn fingerprint(id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

impl Runner {
    pub fn new(program: Program, snapshot: Snapshot) -> Self {
        let mut runner = Runner {
            program,
            samples: HashMap::with_capacity(snapshot.samples.len()),
            ledgers: snapshot
                .ledgers
                .into_iter()
                .map(|(id, l)| (id.into(), Arc::new(l)))
                .collect(),
            meta: snapshot.meta,
            applied: snapshot.applied.iter().map(|id| fingerprint(id)).collect(),
            heap: BinaryHeap::new(),
            by_product: HashMap::new(),
            dirty_samples: HashSet::new(),
            dirty_ledgers: HashSet::new(),
            out: Vec::new(),
            faults: Vec::new(),
            horizon: None,
            fallback: None,
            evicted_samples: HashSet::new(),
            evicted_ledgers: HashSet::new(),
            ended_since: 0,
            evict_after: evict_after(),
            left_memory: 0,
            stats: Stats::default(),
        };
        for inst in snapshot.samples {
            for d in inst.deadlines.iter().filter(|d| !d.held) {
                runner
                    .heap
                    .push(Reverse((d.due, d.seq, inst.id().clone(), d.name.clone())));
            }
            if inst.opened && !runner.is_terminal(&inst) {
                runner.index_product(inst.sample.product.clone(), inst.id().clone());
            }
            runner.samples.insert(inst.id().clone(), inst);
        }
        runner
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    pub fn clock(&self) -> Option<DateTime<Utc>> {
        self.meta.clock
    }

    pub fn samples(&self) -> impl Iterator<Item = &Instance> {
        self.samples.values()
    }

    pub fn sample(&self, id: &str) -> Option<&Instance> {
        self.samples.get(id)
    }

    pub fn ledger(&self, creator: &str) -> Option<&Ledger> {
        self.ledgers.get(creator).map(|l| l.as_ref())
    }

    pub fn ledgers(&self) -> impl Iterator<Item = (&ImmutableString, &Ledger)> {
        self.ledgers.iter().map(|(k, v)| (k, v.as_ref()))
    }

    /// Samples per state, for the summary.
    pub fn states(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for inst in self.samples.values() {
            *counts.entry(inst.state().to_string()).or_insert(0) += 1;
        }
        counts
    }

    /// Output written since the last call, in order.
    pub fn drain_output(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.drain(..)
    }

    /// Rule faults since the last call: the rule failed, the runner went on.
    pub fn drain_faults(&mut self) -> std::vec::Drain<'_, RuleFault> {
        self.faults.drain(..)
    }

    /// What changed since the last call, for the store.
    pub fn take_changes(&mut self) -> Changes {
        let samples = self
            .dirty_samples
            .drain()
            .filter_map(|id| self.samples.get(&id).cloned())
            .collect();
        let ledgers = self
            .dirty_ledgers
            .drain()
            .filter_map(|id| {
                self.ledgers
                    .get(&id)
                    .map(|l| (id.to_string(), (**l).clone()))
            })
            .collect();
        Changes {
            samples,
            ledgers,
            meta: self.meta.clone(),
        }
    }

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

    /// True when enough samples ended since the last eviction for [`Runner::evict`] to drop them.
    pub fn wants_eviction(&self) -> bool {
        self.fallback.is_some() && self.ended_since >= self.evict_after
    }

    /// Drops from memory what has ended and is committed, when enough has ended since the last
    /// time (or always, with `force`). Call it only right after a commit: what it drops must be
    /// in the store the fallback reads. Returns the samples dropped.
    pub fn evict(&mut self, force: bool) -> usize {
        if self.fallback.is_none() || !(force || self.ended_since >= self.evict_after) {
            return 0;
        }
        self.drop_ended(&mut |_| {})
    }

    /// For a runner with no store (a diff's replay): hands every ended sample and idle ledger
    /// to `keep`, which the fallback must give back, and drops them from memory. Changes are
    /// not kept for a store either. Returns the samples handed over.
    pub fn spill(&mut self, keep: &mut dyn FnMut(Spilled)) -> usize {
        self.dirty_samples.clear();
        self.dirty_ledgers.clear();
        self.drop_ended(keep)
    }

    fn drop_ended(&mut self, keep: &mut dyn FnMut(Spilled)) -> usize {
        self.ended_since = 0;
        let ended: Vec<ImmutableString> = self
            .samples
            .values()
            .filter(|i| !self.dirty_samples.contains(i.id()) && self.is_terminal(i))
            .map(|i| i.id().clone())
            .collect();
        // An ended sample is in no product's index: `end` took it out.
        for id in &ended {
            if let Some(inst) = self.samples.remove(id) {
                keep(Spilled::Sample(Box::new(inst)));
            }
            self.evicted_samples.insert(short_fingerprint(id));
        }
        self.left_memory += ended.len() as u64;
        let busy: HashSet<&ImmutableString> =
            self.samples.values().map(|i| &i.sample.creator).collect();
        let idle: Vec<ImmutableString> = self
            .ledgers
            .keys()
            .filter(|c| !busy.contains(c) && !self.dirty_ledgers.contains(*c))
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
    fn restore(&mut self, e: &Event) {
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
                    self.samples.insert(id.clone(), inst);
                    self.restore_ledger(&creator);
                }
            }
        }
        match &e.body {
            Body::Requested { creator, .. } => self.restore_ledger(&creator.id),
            Body::CreatorAdjusted { creator, .. } => self.restore_ledger(creator),
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

    fn restore_ledger(&mut self, creator: &ImmutableString) {
        if self.ledgers.contains_key(creator)
            || !self.evicted_ledgers.contains(&short_fingerprint(creator))
        {
            return;
        }
        if let Some(ledger) = self.fallback.as_mut().and_then(|f| f.ledger(creator)) {
            self.ledgers.insert(creator.clone(), Arc::new(ledger));
        }
    }

    /// Sets (or lifts) the horizon later events are checked against.
    pub fn set_horizon(&mut self, horizon: Option<Horizon>) {
        self.horizon = horizon;
    }

    /// The wall clock says `now`: the horizon, if set, is measured from it.
    pub fn set_wall_clock(&mut self, now: DateTime<Utc>) {
        if let Some(h) = &mut self.horizon {
            h.now = now;
        }
    }

    /// Applies one line of input; returns the event's id when it was applied.
    pub fn apply_line(&mut self, line: u64, text: &str) -> Option<ImmutableString> {
        self.stats.read += 1;
        let (id, refusal) = match event::parse(text) {
            // Refused before any deadline could matter: nothing changes, the clock included.
            Err(bad) => (bad.id, bad.refusal),
            Ok(event) => {
                let fp = fingerprint(&event.id);
                self.restore(&event);
                if let Err(refusal) = self.precheck(&event, fp) {
                    self.refuse(line, Some(event.id.to_string()), refusal);
                    return None;
                }
                // The event moves the clock, and due deadlines fire, before its state checks.
                self.advance(event.at);
                match self.apply(&event) {
                    Ok(()) => {
                        self.applied.insert(fp);
                        self.stats.applied += 1;
                        return Some(event.id);
                    }
                    Err(refusal) => (Some(event.id.to_string()), refusal),
                }
            }
        };
        self.refuse(line, id, refusal);
        None
    }

    /// Applies one raw line of input: a blank line is skipped, a line that is not UTF-8 is
    /// refused as malformed, the line ending is trimmed. Returns the id and the text applied.
    pub fn apply_bytes<'a>(
        &mut self,
        line: u64,
        bytes: &'a [u8],
    ) -> Option<(ImmutableString, &'a str)> {
        match std::str::from_utf8(bytes) {
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => {
                let text = text.trim_end_matches(['\n', '\r']);
                self.apply_line(line, text).map(|id| (id, text))
            }
            Err(e) => {
                self.refuse_malformed(line, format!("not UTF-8: {e}"));
                None
            }
        }
    }

    /// Applies one line as the [`input::LineReader`] gave it: a line over the limit is refused as
    /// malformed, any other as [`Runner::apply_bytes`] does.
    pub fn apply_input<'a>(
        &mut self,
        line: u64,
        input: &input::Line<'a>,
    ) -> Option<(ImmutableString, &'a str)> {
        if input.too_long {
            self.refuse_malformed(line, input.too_long_message());
            return None;
        }
        self.apply_bytes(line, input.bytes)
    }

    /// Refuses a line that is not even text.
    pub fn refuse_malformed(&mut self, line: u64, message: String) {
        self.stats.read += 1;
        self.refuse(line, None, Refusal::new(ErrorKind::Malformed, message));
    }

    fn refuse(&mut self, line: u64, id: Option<String>, refusal: Refusal) {
        *self
            .stats
            .refused
            .entry(refusal.kind.as_str().to_string())
            .or_insert(0) += 1;
        self.out.push(Output::Error(ErrorRecord {
            line,
            event: id,
            error: refusal.kind.as_str().to_string(),
            message: refusal.message,
        }));
    }

    /// The wall clock says `now`: the clock moves there if later and due deadlines fire.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        if self.meta.clock.is_some_and(|c| now > c) {
            self.advance(now);
        }
    }

    /// Swaps in `program` between two events (a hot reload). Samples move to the new version of
    /// their workflow at once: deadlines already armed keep their due times; those the new
    /// version no longer defines are dropped; state deadlines it adds to a state where samples
    /// sit are armed from the runner's clock.
    ///
    /// Refused, with nothing changed, when a live sample sits under a workflow or in a state
    /// that the new program lacks.
    pub fn swap_program(&mut self, program: Program) -> Result<Swap, String> {
        let mut stranded: BTreeMap<(String, String), u64> = BTreeMap::new();
        for inst in self.samples.values() {
            if self.is_terminal(inst) {
                continue;
            }
            let kept = program
                .flows
                .get(&inst.workflow)
                .is_some_and(|f| f.graph.state(inst.state()).is_some());
            if !kept {
                *stranded
                    .entry((inst.workflow.clone(), inst.state().to_string()))
                    .or_insert(0) += 1;
            }
        }
        if !stranded.is_empty() {
            let list = stranded
                .iter()
                .map(|((w, st), n)| {
                    let s = if *n == 1 { "" } else { "s" };
                    format!("`{st}` of workflow `{w}` ({n} live sample{s})")
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "the new workflows drop states in which samples sit: {list}"
            ));
        }
        let mut dropped = 0;
        for (id, inst) in self.samples.iter_mut() {
            let Some(flow) = program.flows.get(&inst.workflow) else {
                continue;
            };
            let state = inst.sample.state.to_string();
            let before = inst.deadlines.len();
            inst.deadlines.retain(|d| {
                if d.of_state {
                    flow.graph
                        .state_deadlines(&state)
                        .iter()
                        .any(|x| x.name.value == d.name)
                } else {
                    flow.graph
                        .sample_deadlines()
                        .iter()
                        .any(|x| x.name.value == d.name)
                }
            });
            if inst.deadlines.len() != before {
                dropped += before - inst.deadlines.len();
                self.dirty_samples.insert(id.clone());
            }
        }
        self.program = program;
        let mut arm = Vec::new();
        if let Some(now) = self.meta.clock {
            for inst in self.samples.values() {
                let Some(flow) = self
                    .flow(&inst.workflow)
                    .filter(|_| !self.is_terminal(inst))
                else {
                    continue;
                };
                for d in flow.graph.state_deadlines(inst.state()) {
                    if inst.armed(&d.name.value).is_none() {
                        let secs = self.seconds(&d.after.value, &inst.sample.category);
                        let due = after(now, secs);
                        arm.push((inst.id().clone(), d.name.value.clone(), due));
                    }
                }
            }
        }
        let armed = arm.len();
        for (id, name, due) in arm {
            let seq = self.next_seq();
            if let Some(inst) = self.samples.get_mut(&id) {
                arm_deadline(&mut self.heap, inst, name, true, due, seq);
                self.dirty_samples.insert(id);
            }
        }
        Ok(Swap { dropped, armed })
    }

    /// At the end of input: deadlines due at or before the clock fire.
    pub fn finish(&mut self) {
        self.fire_due();
    }

    /// Moves the clock to `at` if later, then fires every deadline due at or before it.
    fn advance(&mut self, at: DateTime<Utc>) {
        if self.meta.clock.is_none_or(|c| at > c) {
            self.meta.clock = Some(at);
        }
        self.fire_due();
    }

    /// The checks no deadline can change: a time within the horizon, a known workflow, a new id,
    /// a known sample.
    fn precheck(&self, e: &Event, fp: u128) -> Result<(), Refusal> {
        if let Some(h) = &self.horizon {
            if e.at > after(h.now, h.seconds) {
                let utc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                return Err(Refusal::new(
                    ErrorKind::InvalidField,
                    format!(
                        "`at` is {}, more than {} after the wall clock ({}); see --max-future",
                        utc(e.at),
                        h.label,
                        utc(h.now)
                    ),
                ));
            }
        }
        if let Body::Requested {
            workflow: Some(name),
            ..
        } = &e.body
        {
            if !self.program.flows.contains_key(name) {
                let hint = vocab::did_you_mean(name, self.program.flows.keys().map(|k| k.as_str()))
                    .map(|m| format!("; did you mean `{m}`?"))
                    .unwrap_or_default();
                return Err(Refusal::new(
                    ErrorKind::InvalidField,
                    format!("unknown workflow `{name}`{hint}"),
                ));
            }
        }
        if self.applied.contains(&fp) {
            return Err(Refusal::new(
                ErrorKind::DuplicateId,
                format!("event `{}` was applied already", e.id),
            ));
        }
        match (&e.body, &e.sample) {
            (Body::Requested { .. }, _) | (_, None) => Ok(()),
            (_, Some(id)) if self.samples.contains_key(id) => Ok(()),
            (_, Some(id)) => Err(Refusal::new(
                ErrorKind::UnknownSample,
                format!("no sample `{id}`"),
            )),
        }
    }

    /// Applies an event that passed [`Runner::precheck`], after the clock moved to it.
    fn apply(&mut self, e: &Event) -> Result<(), Refusal> {
        match &e.body {
            Body::Requested {
                creator,
                product,
                quantity,
                workflow,
            } => {
                let sample = e.sample.clone().unwrap_or_default();
                if let Some(inst) = self.samples.get(&sample) {
                    self.not_earlier(e, inst)?;
                    return Err(Refusal::new(
                        ErrorKind::NotAllowed,
                        format!(
                            "sample `{sample}` exists already (state `{}`)",
                            inst.state()
                        ),
                    ));
                }
                let workflow = workflow.as_deref().unwrap_or(DEFAULT_WORKFLOW);
                self.request(e, &sample, creator, product, *quantity, workflow)
            }
            Body::ProductUnavailable { product, .. } => {
                self.product_event(e, product);
                Ok(())
            }
            Body::CreatorAdjusted {
                creator,
                credit,
                block_days,
            } => {
                let ledger = Arc::make_mut(self.ledgers.entry(creator.clone()).or_default());
                if let Some(credit) = credit {
                    ledger.credit += credit;
                }
                match block_days {
                    Some(0) => ledger.blocked_until = None,
                    Some(days) => ledger.blocked_until = Some(days_after(e.at, *days)),
                    None => {}
                }
                ledger.adjustments.push(crate::rules::Adjustment {
                    at: e.at,
                    event: e.id.to_string(),
                    by: e.by.as_ref().map(ToString::to_string),
                    note: e.note.as_ref().map(ToString::to_string),
                    credit: *credit,
                    block_days: *block_days,
                });
                self.dirty_ledgers.insert(creator.clone());
                Ok(())
            }
            Body::Reviewed { .. }
            | Body::Shipped { .. }
            | Body::DeliveryFailed { .. }
            | Body::Posted(_)
            | Body::Removed { .. }
            | Body::Metrics(_)
            | Body::Plain => match e.sample {
                Some(_) => self.sample_event(e),
                // A tick: it moved the clock, which is all it does.
                None => Ok(()),
            },
        }
    }

    fn not_earlier(&self, e: &Event, inst: &Instance) -> Result<(), Refusal> {
        if e.at < inst.last_at {
            return Err(Refusal::new(
                ErrorKind::TimeBack,
                format!(
                    "`{}` is earlier than the last record of sample `{}` ({})",
                    e.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    inst.id(),
                    inst.last_at
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                ),
            ));
        }
        Ok(())
    }

    /// Instances only name workflows that exist: requests naming others are refused. A store
    /// written under other workflows may still hold one; its events are then not allowed.
    fn flow(&self, name: &str) -> Option<Arc<Flow>> {
        self.program.flows.get(name).cloned()
    }

    fn is_terminal(&self, inst: &Instance) -> bool {
        self.flow(&inst.workflow)
            .and_then(|f| f.graph.is_terminal(inst.state()))
            .unwrap_or(false)
    }

    fn index_product(&mut self, product: ImmutableString, sample: ImmutableString) {
        self.by_product.entry(product).or_default().insert(sample);
    }

    fn day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.program.rules.policy().timezone)
            .date_naive()
    }

    /// Seconds of a workflow duration for a category: literal, or from the policy.
    fn seconds(&self, after: &str, category: &str) -> i64 {
        let secs = self.program.durations.seconds(after, category);
        debug_assert!(secs.is_some(), "duration `{after}` was not resolved");
        secs.unwrap_or(0)
    }

    fn screen_input(&self, inst: &Instance, at: DateTime<Utc>) -> ScreenInput {
        ScreenInput {
            request: Request {
                sample: inst.id().clone(),
                at,
                quantity: inst.sample.quantity,
                auto_approvals_today: self
                    .meta
                    .auto_approvals
                    .get(&self.day(at))
                    .copied()
                    .unwrap_or(0),
                tier: inst.tier.clone().unwrap_or_default().into(),
            },
            creator: inst.creator.clone(),
            product: inst.product.clone(),
            ledger: self.ledger_arc(&inst.sample.creator),
        }
    }

    fn ledger_arc(&self, creator: &str) -> Arc<Ledger> {
        self.ledgers.get(creator).cloned().unwrap_or_default()
    }

    fn request(
        &mut self,
        e: &Event,
        sample: &ImmutableString,
        creator: &Arc<crate::rules::Creator>,
        product: &Arc<crate::rules::Product>,
        quantity: i64,
        workflow: &str,
    ) -> Result<(), Refusal> {
        let Some(flow) = self.flow(workflow) else {
            return Err(Refusal::new(
                ErrorKind::InvalidField,
                format!("unknown workflow `{workflow}`"),
            ));
        };
        let rules = self.program.rules.clone();
        let mut inst = Instance {
            sample: crate::rules::Sample {
                id: sample.clone(),
                state: ImmutableString::new(),
                creator: creator.id.clone(),
                product: product.id.clone(),
                category: product.category.clone(),
                quantity,
                cost: product.unit_cost * quantity as f64,
                gmv: 0.0,
                deposit: None,
                keep_up_content: None,
            },
            workflow: workflow.to_string(),
            creator: creator.clone(),
            product: product.clone(),
            requested_at: e.at,
            last_at: e.at,
            decision: None,
            reason: None,
            tier: None,
            rules: rules.hash().to_string(),
            opened: false,
            shipping_cost: 0.0,
            tracking_number: None,
            carrier: None,
            review: None,
            review_reason: None,
            reviewed_by: None,
            contents: BTreeMap::new(),
            extensions: BTreeMap::new(),
            deadlines: Vec::new(),
            records: 0,
        };
        let initial = flow.graph.initial();
        let mut step = Step::of_event(sample, e, "");
        let mut auto_approved = false;
        if initial.hook.as_ref().is_some_and(|h| h.value == "screen") {
            let input = self.screen_input(&inst, e.at);
            let screening = rules.screen(input);
            if let Some(fault) = screening.fault.clone() {
                self.fault(sample, *fault);
            }
            let verdict = screening.decision.as_str();
            let Some(outcome) = initial.outcomes.iter().find(|o| o.name.value == verdict) else {
                return Err(Refusal::new(
                    ErrorKind::NotAllowed,
                    format!("workflow `{workflow}` has no outcome `{verdict}` for screening"),
                ));
            };
            step.to = outcome.to.value.clone();
            step.decision = Some(verdict.to_string());
            step.reason = Some(screening.reason.to_string());
            step.explain = Some(screening.explain);
            auto_approved = screening.decision == Verdict::Approve;
            let ledger = Arc::make_mut(self.ledgers.entry(creator.id.clone()).or_default());
            ledger.tier = Some(screening.tier.to_string());
            inst.tier = Some(screening.tier.to_string());
            inst.decision = step.decision.clone();
            inst.reason = step.reason.clone();
        } else {
            let (to, reason, acts) = self.resolve(initial, e, None);
            step.to = to;
            step.reason = reason;
            step.acts = acts;
        }
        if !rules.policy().declares(&product.category) {
            *self
                .stats
                .undeclared
                .entry(product.category.to_string())
                .or_default() += 1;
        }
        self.samples.insert(sample.clone(), inst);
        let ledger = Arc::make_mut(self.ledgers.entry(creator.id.clone()).or_default());
        ledger.samples += 1;
        self.dirty_ledgers.insert(creator.id.clone());
        if auto_approved {
            *self.meta.auto_approvals.entry(self.day(e.at)).or_insert(0) += 1;
        }
        self.step(step);
        Ok(())
    }

    /// The target, reason and actions of a move that needs no rule (a plain target or a field).
    fn resolve(
        &self,
        mv: &Move,
        e: &Event,
        outcome_name: Option<&str>,
    ) -> (String, Option<String>, Vec<Act>) {
        let chosen = outcome_name
            .or_else(|| mv.field.as_ref().and_then(|f| e.field(&f.value)))
            .and_then(|name| mv.outcomes.iter().find(|o| o.name.value == name));
        let to = chosen
            .map(|o| o.to.value.clone())
            .or_else(|| mv.to.as_ref().map(|t| t.value.clone()))
            .unwrap_or_default();
        let reason = chosen
            .and_then(|o| o.reason.as_ref())
            .or(mv.reason.as_ref())
            .and_then(|r| match &r.value {
                Reason::Code(code) => Some(code.clone()),
                Reason::EventReason => e.field("reason").map(str::to_string),
            });
        let acts = mv
            .actions
            .iter()
            .chain(chosen.map_or(&[][..], |o| o.actions.as_slice()))
            .map(|a| Act::Named(a.value.clone()))
            .collect();
        (to, reason, acts)
    }

    fn sample_event(&mut self, e: &Event) -> Result<(), Refusal> {
        let id = e.sample.clone().unwrap_or_default();
        let Some(inst) = self.samples.get(&id) else {
            // Deadlines that fired on the way cannot remove a sample: precheck found it.
            return Err(Refusal::new(
                ErrorKind::UnknownSample,
                format!("no sample `{id}`"),
            ));
        };
        self.not_earlier(e, inst)?;
        let state = inst.state().to_string();
        let Some(flow) = self.flow(&inst.workflow) else {
            return Err(Refusal::new(
                ErrorKind::NotAllowed,
                format!(
                    "sample `{id}` runs workflow `{}`, which is not loaded",
                    inst.workflow
                ),
            ));
        };
        let Some(mv) = flow.graph.move_for(&state, e.kind.name()) else {
            let takes: Vec<&str> = flow
                .graph
                .state(&state)
                .map(|s| s.on.iter().map(|m| m.event.value.as_str()).collect())
                .unwrap_or_default();
            let help = if takes.is_empty() {
                String::new()
            } else {
                format!("; it takes {}", takes.join(", "))
            };
            return Err(Refusal::new(
                ErrorKind::NotAllowed,
                format!(
                    "`{}` is not allowed in state `{state}` (sample `{id}`){help}",
                    e.kind
                ),
            ));
        };
        for d in flow.graph.sample_deadlines() {
            let Some(extend) = &d.extend else { continue };
            if extend.on.value != e.kind.name() {
                continue;
            }
            let used = inst.extensions.get(&d.name.value).copied().unwrap_or(0);
            if used >= extend.times.value {
                return Err(Refusal::new(
                    ErrorKind::SecondExtension,
                    format!(
                        "the `{}` deadline of sample `{id}` was extended {used} time(s) already; {} allowed",
                        d.name.value, extend.times.value
                    ),
                ));
            }
        }
        // The event is accepted: its effects on the sample first, then the move.
        self.extend_deadlines(&flow, &id, e);
        self.event_facts(&id, e);
        let mut step = Step::of_event(&id, e, "");
        let hook = mv.hook.as_ref().map(|h| h.value.clone());
        let mut outcome = None;
        match hook.as_deref() {
            Some(hook) if !mv.outcomes.is_empty() => match self.outcome_hook(hook, &id, e) {
                Ok(name) => outcome = Some(name),
                Err(fault) => {
                    self.fault(&id, *fault);
                    step.to = state.clone();
                    step.reason = Some(crate::rules::RULE_ERROR.to_string());
                    self.step(step);
                    return Ok(());
                }
            },
            Some(hook) => {
                let acts = self.action_hook(hook, &id, e.at);
                step.acts.extend(acts);
            }
            None => {}
        }
        let (to, reason, acts) = self.resolve(mv, e, outcome.as_deref());
        step.to = to;
        step.reason = reason;
        step.acts.extend(acts);
        if let Some(field) = &mv.field {
            if field.value == "decision" {
                step.decision = e.field("decision").map(str::to_string);
                if let Some(inst) = self.samples.get_mut(&id) {
                    inst.review = step.decision.clone();
                    inst.review_reason = step.reason.clone();
                    inst.reviewed_by = e.by.as_ref().map(ToString::to_string);
                }
            }
        }
        if let Body::Posted(post) = &e.body {
            let qualifies = outcome.as_deref().is_some_and(|o| o != "not_qualifying");
            if qualifies && !post.has_ad_disclosure {
                step.acts.push(Act::Rule(Action::FlagDisclosure));
            }
            step.content = Some(post.content_id.clone());
        }
        self.step(step);
        Ok(())
    }

    /// What an accepted event changes on the sample before it moves.
    fn event_facts(&mut self, id: &ImmutableString, e: &Event) {
        let Some(inst) = self.samples.get_mut(id) else {
            return;
        };
        match &e.body {
            Body::Shipped {
                tracking_number,
                carrier,
                shipping_cost,
            } => {
                inst.tracking_number = Some(tracking_number.clone());
                inst.carrier = carrier.clone();
                inst.shipping_cost = *shipping_cost;
                inst.sample.cost =
                    inst.product.unit_cost * inst.sample.quantity as f64 + shipping_cost;
            }
            Body::Posted(post) => {
                inst.contents
                    .entry(post.content_id.to_string())
                    .or_insert(0.0);
            }
            Body::Metrics(m) => {
                if let Some(gmv) = m.gmv {
                    inst.contents.insert(m.content_id.to_string(), gmv);
                    let total: f64 = inst.contents.values().sum();
                    let delta = total - inst.sample.gmv;
                    inst.sample.gmv = total;
                    let creator = inst.sample.creator.clone();
                    let ledger = Arc::make_mut(self.ledgers.entry(creator.clone()).or_default());
                    ledger.gmv += delta;
                    self.dirty_ledgers.insert(creator);
                }
            }
            Body::Requested { .. }
            | Body::Reviewed { .. }
            | Body::DeliveryFailed { .. }
            | Body::Removed { .. }
            | Body::ProductUnavailable { .. }
            | Body::CreatorAdjusted { .. }
            | Body::Plain => {}
        }
    }

    /// Moves sample deadlines that this event extends.
    fn extend_deadlines(&mut self, flow: &Flow, id: &ImmutableString, e: &Event) {
        for d in flow.graph.sample_deadlines() {
            let Some(extend) = &d.extend else { continue };
            if extend.on.value != e.kind.name() {
                continue;
            }
            let Some(inst) = self.samples.get(id) else {
                return;
            };
            let by = self.seconds(&extend.by.value, &inst.sample.category);
            let seq = self.next_seq();
            let Some(inst) = self.samples.get_mut(id) else {
                return;
            };
            *inst.extensions.entry(d.name.value.clone()).or_insert(0) += 1;
            if let Some(armed) = inst.deadlines.iter_mut().find(|a| a.name == d.name.value) {
                armed.due = after(armed.due, by);
                armed.seq = seq;
                armed.held = false;
                self.heap
                    .push(Reverse((armed.due, seq, id.clone(), armed.name.clone())));
            }
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.meta.seq += 1;
        self.meta.seq
    }

    fn outcome_hook(
        &mut self,
        hook: &str,
        id: &ImmutableString,
        e: &Event,
    ) -> Result<String, Box<RuleFault>> {
        let Some(inst) = self.samples.get(id) else {
            return Ok(String::new());
        };
        let sample = Arc::new(inst.sample.clone());
        let rules = self.program.rules.clone();
        let outcome = match (&e.body, hook) {
            (Body::Posted(post), "content_check") => rules.content_check(post.clone(), sample)?.0,
            (Body::Removed { content_id }, "removal_check") => {
                rules.removal_check(content_id.clone(), sample)?.0
            }
            _ => {
                let ledger = self.ledger_arc(&inst.sample.creator);
                match rules.call_hook(hook, sample, ledger, e.at)? {
                    crate::rules::HookResult::Outcome(o) => o,
                    crate::rules::HookResult::Actions(_) => ImmutableString::new(),
                }
            }
        };
        Ok(outcome.to_string())
    }

    /// A hook that gives actions; a failing one gives none and is reported.
    fn action_hook(&mut self, hook: &str, id: &ImmutableString, at: DateTime<Utc>) -> Vec<Act> {
        let Some(inst) = self.samples.get(id) else {
            return Vec::new();
        };
        let rules = self.program.rules.clone();
        let sample = Arc::new(inst.sample.clone());
        let ledger = self.ledger_arc(&inst.sample.creator);
        let result = match hook {
            "deposit" => rules.deposit(&self.screen_input(inst, at)),
            "penalty" => rules.penalty(sample, ledger, at),
            "reward" => rules.reward(sample, ledger, at),
            other => rules.call_hook(other, sample, ledger, at).map(|r| match r {
                crate::rules::HookResult::Actions(a) => a,
                crate::rules::HookResult::Outcome(_) => Vec::new(),
            }),
        };
        match result {
            Ok(actions) => actions.into_iter().map(Act::Rule).collect(),
            Err(fault) => {
                self.fault(id, *fault);
                Vec::new()
            }
        }
    }

    fn fault(&mut self, sample: &str, mut fault: RuleFault) {
        self.stats.rule_faults += 1;
        fault.sample = sample.to_string();
        self.faults.push(fault);
    }

    /// Makes one move: exit, enter, deadlines, hooks and actions, the ledger, and the record.
    fn step(&mut self, mut step: Step) {
        let id = step.sample.clone();
        let Some(inst) = self.samples.get(&id) else {
            return;
        };
        let Some(flow) = self.flow(&inst.workflow) else {
            return;
        };
        let from = inst.state().to_string();
        let is_new = from.is_empty();
        let changed = from != step.to;
        let category = inst.sample.category.to_string();
        let terminal = flow.graph.is_terminal(&step.to).unwrap_or(false);
        if changed {
            // Exit the old state: its deadlines are cancelled.
            let mut arm = Vec::new();
            for d in flow.graph.state_deadlines(&step.to) {
                let secs = self.seconds(&d.after.value, &category);
                arm.push((d.name.value.clone(), after(step.at, secs)));
            }
            let seqs: Vec<u64> = arm.iter().map(|_| self.next_seq()).collect();
            let Some(inst) = self.samples.get_mut(&id) else {
                return;
            };
            inst.deadlines.retain(|d| !d.of_state);
            inst.sample.state = step.to.as_str().into();
            if let Some(content) = &step.content {
                inst.sample.keep_up_content = Some(content.clone());
            } else if step.trigger == EventKind::ContentRemoved.name() {
                inst.sample.keep_up_content = None;
            }
            if !terminal {
                for ((name, due), seq) in arm.into_iter().zip(seqs) {
                    arm_deadline(&mut self.heap, inst, name, true, due, seq);
                }
            }
            if step.decision.as_deref() == Some("approve") {
                let q = Quarter::of(step.at, self.program.rules.policy().timezone);
                let creator = inst.sample.creator.clone();
                let ledger = Arc::make_mut(self.ledgers.entry(creator.clone()).or_default());
                *ledger
                    .approvals
                    .entry(q)
                    .or_default()
                    .entry(category.clone())
                    .or_insert(0) += 1;
                self.dirty_ledgers.insert(creator);
            }
            // Enter the new state: its hooks, then its actions.
            if let Some(state) = flow.graph.state(&step.to) {
                for hook in &state.enter.hooks {
                    let acts = self.action_hook(&hook.value, &id, step.at);
                    step.acts.extend(acts);
                }
                step.acts.extend(
                    state
                        .enter
                        .actions
                        .iter()
                        .map(|a| Act::Named(a.value.clone())),
                );
            }
        }
        // Sample deadlines measured from this event.
        for d in flow.graph.sample_deadlines() {
            if d.from.value != step.trigger || terminal {
                continue;
            }
            let due = after(step.at, self.seconds(&d.after.value, &category));
            let seq = self.next_seq();
            if let Some(inst) = self.samples.get_mut(&id) {
                inst.deadlines.retain(|a| a.name != d.name.value);
                arm_deadline(&mut self.heap, inst, d.name.value.clone(), false, due, seq);
            }
        }
        let actions = self.issue(&id, &step);
        let Some(inst) = self.samples.get_mut(&id) else {
            return;
        };
        if changed && terminal {
            inst.deadlines.clear();
        }
        inst.records += 1;
        if step.at > inst.last_at {
            inst.last_at = step.at;
        }
        let opened_now = changed && !terminal && !inst.opened;
        if opened_now {
            inst.opened = true;
        }
        let was_open = inst.opened;
        let creator = inst.sample.creator.clone();
        let product = inst.sample.product.clone();
        let record = Record {
            sample: id.clone(),
            at: step.at,
            from: (!is_new).then(|| from.as_str().into()),
            to: step.to.as_str().into(),
            trigger: step.trigger.clone(),
            event: step.event.clone(),
            decision: step.decision.clone(),
            reason: step.reason.clone(),
            actions,
            rules: self.rules_hash(),
            workflow: flow.hash.clone(),
            explain: step.explain.clone(),
            by: step.by.clone(),
            note: step.note.clone(),
        };
        self.dirty_samples.insert(id.clone());
        if opened_now {
            let ledger = Arc::make_mut(self.ledgers.entry(creator.clone()).or_default());
            ledger.products.entry(product.to_string()).or_default().open += 1;
            self.dirty_ledgers.insert(creator.clone());
            self.index_product(product.clone(), id.clone());
        }
        if changed && terminal {
            let role = flow.graph.role(&step.to);
            self.end(&id, role, step.at, was_open);
        }
        if step.event.is_none() {
            self.stats.deadlines += 1;
        }
        self.stats.records += 1;
        self.out.push(Output::Record(record));
        if changed && !terminal {
            self.release_held(&flow, &id, step.at);
        }
    }

    fn rules_hash(&self) -> Arc<str> {
        self.program.rules_hash.clone()
    }

    /// The ledger's side of a sample ending, by the role of the state it ends in.
    fn end(&mut self, id: &ImmutableString, role: Option<Role>, at: DateTime<Utc>, was_open: bool) {
        let Some(inst) = self.samples.get(id) else {
            return;
        };
        let creator = inst.sample.creator.clone();
        let product = inst.sample.product.clone();
        if let Some(set) = self.by_product.get_mut(&product) {
            set.remove(id);
            if set.is_empty() {
                self.by_product.remove(&product);
            }
        }
        self.ended_since += 1;
        let ledger = Arc::make_mut(self.ledgers.entry(creator.clone()).or_default());
        let history = ledger.products.entry(product.to_string()).or_default();
        if was_open {
            history.open -= 1;
        }
        match role {
            Some(Role::Fulfilled) => {
                history.completed += 1;
                ledger.completed += 1;
            }
            Some(r) if r.is_cancellation() => history.last_cancelled = Some(at),
            _ => {}
        }
        if role == Some(Role::Breach) {
            ledger.breaches.push(at);
        }
        self.dirty_ledgers.insert(creator);
    }

    /// Gives each action its id and applies it to the sample and the ledger.
    fn issue(&mut self, id: &ImmutableString, step: &Step) -> Vec<ActionOut> {
        let Some(inst) = self.samples.get_mut(id) else {
            return Vec::new();
        };
        let number = inst.records + 1;
        let creator = inst.sample.creator.clone();
        let ledger = Arc::make_mut(self.ledgers.entry(creator.clone()).or_default());
        let mut out = Vec::new();
        for act in &step.acts {
            let action_id = format!("{id}#{number}.{}", out.len() + 1);
            let action = match act {
                Act::Rule(rule) => {
                    let mut a = ActionOut::new(rule.kind(), action_id);
                    match rule {
                        Action::RequireDeposit { amount } => {
                            a.amount = Some(*amount);
                            inst.sample.deposit = Some(*amount);
                            ledger.deposits_held += amount;
                        }
                        Action::Penalize { credit } => {
                            a.creator = Some(creator.clone());
                            a.credit = Some(*credit);
                            ledger.credit += *credit as f64;
                        }
                        Action::BlockCreator { days } => {
                            a.creator = Some(creator.clone());
                            a.days = Some(*days);
                            let until = days_after(step.at, *days);
                            if ledger.blocked_until.is_none_or(|u| u < until) {
                                ledger.blocked_until = Some(until);
                            }
                        }
                        Action::InvitePaidCollab => {
                            a.creator = Some(creator.clone());
                            ledger.paid_collab_invited = true;
                        }
                        Action::FlagDisclosure | Action::RemindCreator => {}
                    }
                    a
                }
                Act::Named(name) => match name.as_str() {
                    "refund_deposit" | "forfeit_deposit" => {
                        // Only a sample that took a deposit has one to settle.
                        let Some(amount) = inst.sample.deposit else {
                            continue;
                        };
                        ledger.deposits_held -= amount;
                        if name == "forfeit_deposit" {
                            ledger.deposits_forfeited += amount;
                        }
                        let mut a = ActionOut::new(name, action_id);
                        a.amount = Some(amount);
                        a
                    }
                    "penalize" | "block_creator" | "invite_paid_collab" => {
                        let mut a = ActionOut::new(name, action_id);
                        a.creator = Some(creator.clone());
                        if name == "invite_paid_collab" {
                            ledger.paid_collab_invited = true;
                        }
                        a
                    }
                    _ => ActionOut::new(name, action_id),
                },
            };
            out.push(action);
        }
        if !out.is_empty() {
            self.dirty_ledgers.insert(creator);
        }
        out
    }

    /// Fires every deadline due at or before the clock, in due order (ties in arming order).
    fn fire_due(&mut self) {
        let Some(clock) = self.meta.clock else {
            return;
        };
        while let Some(Reverse((due, _, _, _))) = self.heap.peek() {
            if *due > clock {
                break;
            }
            let Some(Reverse((due, seq, id, name))) = self.heap.pop() else {
                break;
            };
            self.fire(&id, &name, seq, due);
        }
    }

    fn fire(&mut self, id: &ImmutableString, name: &str, seq: u64, due: DateTime<Utc>) {
        let Some(inst) = self.samples.get(id) else {
            return;
        };
        let Some(armed) = inst
            .deadlines
            .iter()
            .find(|d| d.name == name && d.seq == seq)
            .cloned()
        else {
            return; // cancelled or re-armed since
        };
        let Some(flow) = self.flow(&inst.workflow) else {
            return;
        };
        let state = inst.state().to_string();
        let (to, reason, acts) = if armed.of_state {
            let Some(d) = flow
                .graph
                .state_deadlines(&state)
                .iter()
                .find(|d| d.name.value == name)
            else {
                return;
            };
            (d.to.value.clone(), d.reason.clone(), d.actions.clone())
        } else {
            let Some(d) = flow
                .graph
                .sample_deadlines()
                .iter()
                .find(|d| d.name.value == name)
            else {
                return;
            };
            let fires = d.fires_in.iter().any(|s| s.value == state);
            let held = d.held_in.iter().any(|s| s.value == state);
            if !fires {
                if let Some(inst) = self.samples.get_mut(id) {
                    if held {
                        if let Some(a) = inst.deadlines.iter_mut().find(|a| a.seq == seq) {
                            a.held = true;
                        }
                    } else {
                        inst.deadlines.retain(|a| a.seq != seq);
                    }
                }
                self.dirty_samples.insert(id.clone());
                return;
            }
            (d.to.value.clone(), d.reason.clone(), d.actions.clone())
        };
        if let Some(inst) = self.samples.get_mut(id) {
            inst.deadlines.retain(|a| a.seq != seq);
        }
        let mut step = Step::new(id, due, &to, format!("deadline:{name}"));
        step.reason = reason.and_then(|r| match r.value {
            Reason::Code(code) => Some(code),
            _ => None,
        });
        step.acts = acts.into_iter().map(|a| Act::Named(a.value)).collect();
        self.step(step);
    }

    /// On entering a state where held sample deadlines fire: those past due fire at once,
    /// stamped with the moment of return; the others wait for their time.
    fn release_held(&mut self, flow: &Flow, id: &ImmutableString, at: DateTime<Utc>) {
        let Some(inst) = self.samples.get(id) else {
            return;
        };
        let state = inst.state().to_string();
        let held: Vec<Armed> = inst.deadlines.iter().filter(|d| d.held).cloned().collect();
        for armed in held {
            let fires =
                flow.graph.sample_deadlines().iter().any(|d| {
                    d.name.value == armed.name && d.fires_in.iter().any(|s| s.value == state)
                });
            if !fires {
                continue;
            }
            if armed.due <= at {
                if let Some(inst) = self.samples.get_mut(id) {
                    if let Some(a) = inst.deadlines.iter_mut().find(|a| a.seq == armed.seq) {
                        a.held = false;
                    }
                }
                self.fire(id, &armed.name, armed.seq, at);
                if self.samples.get(id).is_none_or(|i| i.state() != state) {
                    return;
                }
            } else if let Some(inst) = self.samples.get_mut(id) {
                if let Some(a) = inst.deadlines.iter_mut().find(|a| a.seq == armed.seq) {
                    a.held = false;
                    self.heap
                        .push(Reverse((a.due, a.seq, id.clone(), a.name.clone())));
                }
            }
        }
    }

    fn product_event(&mut self, e: &Event, product: &ImmutableString) {
        let Some(ids) = self.by_product.get(product).cloned() else {
            return;
        };
        for id in ids {
            let Some(inst) = self.samples.get(&id) else {
                continue;
            };
            if inst.last_at > e.at {
                continue;
            }
            let Some(flow) = self.flow(&inst.workflow) else {
                continue;
            };
            let Some(mv) = flow.graph.move_for(inst.state(), e.kind.name()) else {
                continue;
            };
            let (to, reason, acts) = self.resolve(mv, e, None);
            let mut step = Step::of_event(&id, e, &to);
            step.reason = reason;
            step.acts = acts;
            self.step(step);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn root(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    fn rules() -> RuleSet {
        RuleSet::load(&root("rules")).expect("shipped rules")
    }

    /// The shipped workflow with `edit` applied, as a program with the shipped rules.
    fn program(edit: impl Fn(String) -> String) -> Program {
        let path = root("workflows/sample.yaml");
        let text = edit(std::fs::read_to_string(&path).expect("workflow"));
        let workflow = crate::load_str(&path, &text).expect("loads");
        let (graph, problems) = crate::check_workflow(workflow);
        let report = crate::Report { problems };
        assert!(!report.has_errors(), "{}", report.render(false));
        Program::new(vec![graph], rules())
    }

    #[test]
    fn durations_are_resolved_once_per_category() {
        let shipped = program(|t| t);
        assert!(shipped.unresolved_durations().is_empty());
        let d = &shipped.durations;
        assert_eq!(d.seconds("policy.review_window", "toys"), Some(7 * DAY));
        assert_eq!(d.seconds("policy.post_extension", "beauty"), Some(7 * DAY));
        // A category's own value, once its policy says so; the rest keep the default.
        let overrides = [(
            "review_window".to_string(),
            serde_yaml::Value::String("3d".into()),
        )]
        .into_iter()
        .collect();
        let policy = shipped
            .rules
            .policy()
            .with_overrides("beauty", &overrides)
            .expect("a valid override");
        let tuned = shipped.with_rules(Arc::new(shipped.rules.with_policy(policy)));
        let d = &tuned.durations;
        assert_eq!(d.seconds("policy.review_window", "beauty"), Some(3 * DAY));
        assert_eq!(d.seconds("policy.review_window", "toys"), Some(7 * DAY));
        assert_eq!(d.seconds("no such text", "toys"), None);
    }

    fn request(id: &str, price: f64) -> String {
        serde_json::json!({
            "id": format!("e-{id}"), "type": "sample_requested", "at": "2026-02-01T00:00:00Z",
            "sample": id,
            "creator": {"id": format!("c-{id}"), "followers": 6000, "engagement_rate": 0.05,
                        "posts_30d": 5, "fulfillment_rate_90d": 0.8},
            "product": {"id": format!("p-{id}"), "category": "sports", "price": price,
                        "unit_cost": 10}
        })
        .to_string()
    }

    #[test]
    fn a_swap_that_strands_a_live_sample_is_refused_and_changes_nothing() {
        let mut runner = Runner::new(program(|t| t), Snapshot::default());
        runner.apply_line(1, &request("s1", 60.0));
        assert_eq!(runner.sample("s1").map(|s| s.state()), Some("pending"));
        let before = runner.program().flows["sample"].hash.clone();
        let renamed = program(|t| {
            t.replacen("review: pending", "review: waiting", 1)
                .replacen("\n  pending:\n", "\n  waiting:\n", 1)
        });
        let err = runner.swap_program(renamed).unwrap_err();
        assert!(
            err.contains("`pending` of workflow `sample` (1 live sample)"),
            "{err}"
        );
        assert_eq!(runner.program().flows["sample"].hash, before);
    }

    #[test]
    fn a_swap_keeps_armed_due_times_and_drops_deadlines_no_longer_defined() {
        let mut runner = Runner::new(program(|t| t), Snapshot::default());
        runner.apply_line(1, &request("s1", 60.0));
        let due = runner
            .sample("s1")
            .and_then(|s| s.armed("review"))
            .map(|d| d.due);
        // v2: reviews expire after 3 days.
        let v2 = program(|t| t.replacen("after: policy.review_window", "after: 3d", 1));
        assert_eq!(runner.swap_program(v2), Ok(Swap::default()));
        assert_eq!(
            runner
                .sample("s1")
                .and_then(|s| s.armed("review"))
                .map(|d| d.due),
            due
        );
        runner.apply_line(2, &request("s2", 60.0));
        let s2 = runner
            .sample("s2")
            .and_then(|s| s.armed("review"))
            .map(|d| d.due);
        assert_eq!(s2.zip(due).map(|(a, b)| (b - a).num_days()), Some(4));
        // v3 calls the deadline `expiry`: the armed `review` deadlines are no longer defined.
        let v3 = program(|t| t.replacen("      review:\n", "      expiry:\n", 1));
        // v3 calls the deadline `expiry`: the armed `review` deadlines go, and `expiry` is armed
        // from the clock (1 February) for both samples, at v3's 7 days.
        assert_eq!(
            runner.swap_program(v3),
            Ok(Swap {
                dropped: 2,
                armed: 2
            })
        );
        let s1 = runner.sample("s1").expect("s1");
        assert!(s1.armed("review").is_none());
        assert_eq!(s1.armed("expiry").map(|d| d.due), due);
        runner.apply_line(3, r#"{"id":"t","type":"tick","at":"2026-03-01T00:00:00Z"}"#);
        assert_eq!(
            runner.sample("s1").map(|s| s.state()),
            Some("overdue_cancelled")
        );
    }

    #[test]
    fn time_arithmetic_saturates_at_the_last_writable_moment() {
        let at = last_time() - chrono::Duration::days(1);
        assert_eq!(after(at, 3_600), at + chrono::Duration::hours(1));
        assert_eq!(after(at, i64::MAX), last_time());
        assert_eq!(days_after(at, i64::MAX), last_time());
        assert_eq!(last_time().to_rfc3339(), "9999-12-31T23:59:59+00:00");
    }

    #[test]
    fn an_event_refused_before_the_state_checks_leaves_the_clock_alone() {
        let mut runner = Runner::new(program(|t| t), Snapshot::default());
        runner.apply_line(1, &request("s1", 60.0));
        let clock = runner.clock();
        let far = "9999-01-01T00:00:00Z";
        for line in [
            format!(r#"{{"id":"x1","type":"sample_teleported","at":"{far}","sample":"s1"}}"#),
            format!(r#"{{"id":"x2","type":"sample_shipped","at":"{far}","sample":"s1"}}"#),
            format!(r#"{{"id":"x3","type":"sample_withdrawn","at":"{far}","sample":"nope"}}"#),
            format!(r#"{{"id":"e-s1","type":"tick","at":"{far}"}}"#),
        ] {
            runner.apply_line(2, &line);
            assert_eq!(runner.clock(), clock, "{line}");
        }
        assert_eq!(runner.sample("s1").map(|s| s.state()), Some("pending"));
        // A refusal by a state check comes after the clock moved: the review deadline fired.
        runner.apply_line(
            3,
            r#"{"id":"x4","type":"sample_delivered","at":"2026-03-01T00:00:00Z","sample":"s1"}"#,
        );
        assert_eq!(
            runner.sample("s1").map(|s| s.state()),
            Some("overdue_cancelled")
        );
        let kinds: Vec<String> = runner
            .drain_output()
            .filter_map(|o| match o {
                Output::Error(e) => Some(e.error),
                Output::Record(_) => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "unknown_type",
                "invalid_field",
                "unknown_sample",
                "duplicate_id",
                "not_allowed"
            ]
        );
    }
}
