//! The runner: events in, through the workflow graph and the rules, on event time; records out.
//!
//! The runner holds every sample, every creator's ledger, the clock and the armed deadlines in
//! memory, and hands what changed to its caller in batches (`take_changes`). It
//! never parses YAML and never touches a file: the caller feeds it lines and drains its output.

mod deadlines;
mod dispatch;
mod flow;
pub(crate) mod gen;
pub(crate) mod input;
mod ledger;
mod memory;
pub(crate) mod parse;
mod program;
mod shadow;
mod swap;

use deadlines::arm_deadline;
pub use dispatch::Read;
pub use flow::Flow;
use flow::StateId;
pub use gen::{generate, generate_shops, shop_name, GenOptions};
use memory::evict_after;
pub use memory::EVICT_AFTER;
pub use program::{short_hash, Program};
pub use swap::Swap;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// The runner's maps and sets, hashed with aHash (keyed per process): std's SipHash was a
/// measurable share of the runner, hashing ids on every event.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
pub(crate) type HashSet<K> = std::collections::HashSet<K, ahash::RandomState>;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rhai::ImmutableString;
use sha2::{Digest, Sha256};

use crate::model::vocab::{ActionKind, EventKind};
// The model's types, for this module and (through `use super::*`) its files; callers outside
// the runtime import them from `crate::model`.
use crate::model::{
    after, Action, ActionOut, Armed, Body, Changes, ErrorKind, ErrorRecord, Event, Explain,
    Fallback, Instance, Ledger, Meta, Output, Record, Refusal, Snapshot, Spilled, Stats, DAY,
};
use crate::rules::RuleFault;

/// An action before it has its id: from a rule, or one the workflow names.
#[derive(Debug, Clone)]
enum Act {
    Rule(Action),
    Named(ActionKind),
}

fn named(actions: &[ActionKind]) -> impl Iterator<Item = Act> + '_ {
    actions.iter().copied().map(Act::Named)
}

/// What made a move: an event of a kind, or a deadline by name.
#[derive(Debug, Clone)]
enum Trigger {
    Event(EventKind),
    Deadline(ImmutableString),
}

impl Trigger {
    /// The record's `trigger`: the event type, or `deadline:<name>`.
    fn text(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Trigger::Event(kind) => kind.name().into(),
            Trigger::Deadline(name) => format!("deadline:{name}").into(),
        }
    }

    fn event(&self) -> Option<EventKind> {
        match self {
            Trigger::Event(kind) => Some(*kind),
            Trigger::Deadline(_) => None,
        }
    }
}

/// One move of one sample, before it becomes a record.
struct Step {
    sample: ImmutableString,
    at: DateTime<Utc>,
    to: StateId,
    trigger: Trigger,
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
    fn new(sample: &ImmutableString, at: DateTime<Utc>, to: StateId, trigger: Trigger) -> Self {
        Step {
            sample: sample.clone(),
            at,
            to,
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
    fn of_event(sample: &ImmutableString, e: &Event, to: StateId) -> Self {
        let mut step = Step::new(sample, e.at, to, Trigger::Event(e.kind));
        step.event = Some(e.id.clone());
        step.by = e.by.clone();
        step.note = e.note.clone();
        step
    }
}

type Due = Reverse<(DateTime<Utc>, u64, ImmutableString, ImmutableString)>;

/// Applies events to samples and ledgers.
pub struct Runner {
    program: Program,
    samples: HashMap<ImmutableString, Arc<Instance>>,
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
    /// Since an eviction was marked ([`Runner::mark_eviction`]): the samples and ledgers
    /// changed after the mark, whose last state may be in a batch not yet committed.
    touched: Option<(HashSet<ImmutableString>, HashSet<ImmutableString>)>,
    evict_after: usize,
    /// Samples dropped from memory so far (a sample read back and ended again counts again).
    left_memory: u64,
    /// The candidate screening beside the live rules (`--shadow`), its decisions and faults
    /// since the last `take_changes` / drain.
    shadow: Option<shadow::Shadow>,
    shadows: Vec<crate::model::ShadowDecision>,
    shadow_faults: Vec<String>,
    pub stats: Stats,
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
            samples: HashMap::with_capacity_and_hasher(snapshot.samples.len(), Default::default()),
            ledgers: snapshot
                .ledgers
                .into_iter()
                .map(|(id, l)| (id.into(), Arc::new(l)))
                .collect(),
            meta: snapshot.meta,
            applied: snapshot.applied.iter().map(|id| fingerprint(id)).collect(),
            heap: BinaryHeap::new(),
            by_product: HashMap::default(),
            dirty_samples: HashSet::default(),
            dirty_ledgers: HashSet::default(),
            out: Vec::new(),
            faults: Vec::new(),
            horizon: None,
            fallback: None,
            evicted_samples: HashSet::default(),
            evicted_ledgers: HashSet::default(),
            ended_since: 0,
            touched: None,
            evict_after: evict_after(),
            left_memory: 0,
            shadow: None,
            shadows: Vec::new(),
            shadow_faults: Vec::new(),
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
            runner.samples.insert(inst.id().clone(), Arc::new(inst));
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
        self.samples.values().map(|i| &**i)
    }

    pub fn sample(&self, id: &str) -> Option<&Instance> {
        self.samples.get(id).map(|i| &**i)
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

    /// What changed since the last call, for the caller to keep.
    pub fn take_changes(&mut self) -> Changes {
        if let Some((samples, ledgers)) = &mut self.touched {
            samples.extend(self.dirty_samples.iter().cloned());
            ledgers.extend(self.dirty_ledgers.iter().cloned());
        }
        let samples = self
            .dirty_samples
            .drain()
            .filter_map(|id| self.samples.get(&id).cloned())
            .collect();
        let ledgers = self
            .dirty_ledgers
            .drain()
            .filter_map(|id| self.ledgers.get(&id).map(|l| (id.to_string(), l.clone())))
            .collect();
        Changes {
            samples,
            ledgers,
            meta: self.meta.clone(),
            shadows: std::mem::take(&mut self.shadows),
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

    /// At the end of input: deadlines due at or before the clock fire.
    pub fn finish(&mut self) {
        self.fire_due();
    }

    /// Instances only name workflows that exist: requests naming others are refused. State
    /// kept under other workflows may still hold one; its events are then not allowed.
    fn flow(&self, name: &str) -> Option<Arc<Flow>> {
        self.program.flows.get(name).cloned()
    }

    fn is_terminal(&self, inst: &Instance) -> bool {
        self.flow(&inst.workflow)
            .and_then(|f| f.is_terminal(inst.state()))
            .unwrap_or(false)
    }

    fn index_product(&mut self, product: ImmutableString, sample: ImmutableString) {
        self.by_product.entry(product).or_default().insert(sample);
    }

    fn day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.program.rules.policy().timezone)
            .date_naive()
    }

    fn ledger_arc(&self, creator: &str) -> Arc<Ledger> {
        self.ledgers.get(creator).cloned().unwrap_or_default()
    }

    fn rules_hash(&self) -> Arc<str> {
        self.program.rules_hash.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::last_time;
    use crate::rules::RuleSet;

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

    /// The review deadline of `pending` and the extension of the post deadline, in seconds for
    /// a category, as the compiled flow holds them.
    fn review_and_extension(program: &Program, category: &str) -> (i64, i64) {
        let flow = &program.flows["sample"];
        let review = flow.declared("pending").expect("pending").deadlines[0]
            .after
            .of(category);
        let extension = flow
            .sample_deadlines()
            .iter()
            .find_map(|d| d.extend.as_ref())
            .expect("an extensible deadline")
            .by
            .of(category);
        (review, extension)
    }

    #[test]
    fn durations_are_resolved_once_per_category() {
        let shipped = program(|t| t);
        assert!(shipped.unresolved_durations().is_empty());
        assert_eq!(review_and_extension(&shipped, "toys"), (7 * DAY, 7 * DAY));
        assert_eq!(review_and_extension(&shipped, "beauty"), (7 * DAY, 7 * DAY));
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
        assert_eq!(review_and_extension(&tuned, "beauty"), (3 * DAY, 7 * DAY));
        assert_eq!(review_and_extension(&tuned, "toys"), (7 * DAY, 7 * DAY));
        assert_eq!(tuned.flows["sample"].hash, shipped.flows["sample"].hash);
    }

    #[test]
    fn a_duration_that_does_not_resolve_is_named() {
        let path = root("workflows/sample.yaml");
        let text = std::fs::read_to_string(&path).expect("workflow").replacen(
            "after: policy.review_window",
            "after: policy.no_such_knob",
            1,
        );
        let workflow = crate::load_str(&path, &text).expect("loads");
        let (graph, _) = crate::check_workflow(workflow);
        let program = Program::new(vec![graph], rules());
        assert_eq!(program.unresolved_durations(), ["policy.no_such_knob"]);
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

    /// Records and sample rows are written field by field (`write_json`); what they write must
    /// be what their derived `Serialize` writes, for every record and every row of a run, and
    /// for text that needs escaping.
    #[test]
    fn records_and_rows_are_written_as_serde_writes_them() {
        let mut stream = Vec::new();
        let options = GenOptions {
            samples: 400,
            ..GenOptions::default()
        };
        generate(&options, &mut stream).expect("writes");
        let mut lines: Vec<String> = String::from_utf8(stream)
            .expect("utf-8")
            .lines()
            .map(str::to_string)
            .collect();
        // Text with escapes in ids, names, notes and categories, and a reviewer's note.
        let odd = serde_json::json!({
            "id": "e-\"odd\"", "type": "sample_requested", "at": "2027-01-01T00:00:00.250Z",
            "sample": "s\\1\u{1}",
            "creator": {"id": "c\ttab", "followers": 6000, "engagement_rate": 0.05,
                        "posts_30d": 5, "fulfillment_rate_90d": 0.8,
                        "top_categories": ["sp\"orts", "caf\u{e9}"]},
            "product": {"id": "p\n1", "category": "sports", "price": 60.0, "unit_cost": 10.5,
                        "flags": ["x\\y"]}
        });
        lines.push(odd.to_string());
        lines.push(
            serde_json::json!({
                "id": "e-review", "type": "sample_reviewed", "at": "2027-01-01T01:00:00Z",
                "sample": "s\\1\u{1}", "decision": "approve", "by": "ops \"lead\"",
                "note": "line\nbreak \u{1f600}"
            })
            .to_string(),
        );
        lines.push(
            serde_json::json!({
                "id": "e-adjust", "type": "creator_adjusted", "at": "2027-01-01T02:00:00Z",
                "creator": {"id": "c\ttab"}, "credit": -2.5, "block_days": 3,
                "by": "ops", "note": "a \"note\""
            })
            .to_string(),
        );
        let mut runner = Runner::new(program(|t| t), Snapshot::default());
        let (mut records, mut rows) = (0, 0);
        for (i, line) in lines.iter().enumerate() {
            runner.apply_line(i as u64 + 1, line);
            for output in runner.drain_output() {
                if let Output::Record(r) = &output {
                    let mut text = String::new();
                    r.write_json(&mut text);
                    assert_eq!(text, serde_json::to_string(r).expect("json"));
                    records += 1;
                }
            }
            if i % 50 == 0 || i + 1 == lines.len() {
                for inst in runner.samples.values() {
                    let mut text = String::new();
                    inst.write_json(&mut text);
                    assert_eq!(text, serde_json::to_string(&**inst).expect("json"));
                    rows += 1;
                }
                for ledger in runner.ledgers.values() {
                    let mut text = String::new();
                    ledger.write_json(&mut text);
                    assert_eq!(text, serde_json::to_string(&**ledger).expect("json"));
                    rows += 1;
                }
            }
        }
        let odd = runner.sample("s\\1\u{1}").expect("the odd sample");
        assert_eq!(odd.reviewed_by.as_deref(), Some("ops \"lead\""));
        let ledger = runner
            .ledgers
            .get("c\ttab")
            .expect("the odd creator's ledger");
        assert!(ledger.blocked_until.is_some() && ledger.adjustments.len() == 1);
        // The run reached every part of a ledger's row.
        assert!(runner.ledgers.values().any(|l| !l.approvals.is_empty()));
        assert!(runner.ledgers.values().any(|l| !l.breaches.is_empty()));
        assert!(runner
            .ledgers
            .values()
            .any(|l| l.products.values().any(|p| p.last_cancelled.is_some())));
        assert!(
            records > 2000 && rows > 2000,
            "{records} records, {rows} rows"
        );
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
