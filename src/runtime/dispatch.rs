//! Dispatch: one event through the checks of the contract's order, then to its sample's move,
//! the hooks it calls and the records it makes.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;

use super::flow::MoveCode;
use super::*;
use crate::definition::{Reason, DEFAULT_WORKFLOW};
use crate::model::vocab::EventKind;
use crate::model::{Action, Quarter, SampleRequest, Verdict};
use crate::rules::{Hook, RuleFault, ScreenInput};

/// One line of input as read: blank, not even an event's text, or parsed (its text, and the
/// event or why it is refused).
pub enum Read<'a> {
    Blank,
    Malformed(String),
    Parsed(&'a str, Result<Event, parse::Bad>),
}

impl<'a> Read<'a> {
    /// Reads one line as the line reader gave it: a line over the limit or not UTF-8 is
    /// malformed, a blank one skipped, the line ending trimmed, the rest parsed.
    pub fn of(input: &input::Line<'a>) -> Read<'a> {
        if input.too_long {
            return Read::Malformed(input.too_long_message());
        }
        match std::str::from_utf8(input.bytes) {
            Ok(text) if text.trim().is_empty() => Read::Blank,
            Ok(text) => {
                let text = text.trim_end_matches(['\n', '\r']);
                Read::Parsed(text, parse::parse(text))
            }
            Err(e) => Read::Malformed(format!("not UTF-8: {e}")),
        }
    }

    /// The shop the line names, when it parsed and names one.
    pub fn shop(&self) -> Option<&str> {
        match self {
            Read::Parsed(_, Ok(event)) => event.shop.as_deref(),
            _ => None,
        }
    }
}

impl Runner {
    /// Applies one line of input; returns the event's id when it was applied.
    pub fn apply_line(&mut self, line: u64, text: &str) -> Option<ImmutableString> {
        self.stats.read += 1;
        match parse::parse(text) {
            // Refused before any deadline could matter: nothing changes, the clock included.
            Err(bad) => {
                self.refuse(line, bad.id, bad.refusal);
                None
            }
            Ok(event) => self.apply_event(line, &event),
        }
    }

    /// Applies one line parsed beforehand, as [`Runner::apply_line`] applies its text: the
    /// tuner parses a stream once and replays it under many rule sets.
    pub fn apply_parsed(
        &mut self,
        line: u64,
        parsed: &Result<Event, parse::Bad>,
    ) -> Option<ImmutableString> {
        self.stats.read += 1;
        match parsed {
            Err(bad) => {
                self.refuse(line, bad.id.clone(), bad.refusal.clone());
                None
            }
            Ok(event) => self.apply_event(line, event),
        }
    }

    /// An event that parsed: the checks, the clock, then its move.
    fn apply_event(&mut self, line: u64, event: &Event) -> Option<ImmutableString> {
        let fp = fingerprint(&event.id);
        self.recall(event);
        if let Err(refusal) = self.precheck(event, fp) {
            self.refuse(line, Some(event.id.to_string()), refusal);
            return None;
        }
        // The event moves the clock, and due deadlines fire, before its state checks.
        self.advance(event.at);
        match self.apply(event) {
            Ok(()) => {
                self.applied.insert(fp);
                self.stats.applied += 1;
                Some(event.id.clone())
            }
            Err(refusal) => {
                self.refuse(line, Some(event.id.to_string()), refusal);
                None
            }
        }
    }

    /// Applies one raw line of input: a blank line is skipped, a line that is not UTF-8 is
    /// refused as malformed, the line ending is trimmed. Returns the id and the text applied.
    pub fn apply_bytes<'a>(
        &mut self,
        line: u64,
        bytes: &'a [u8],
    ) -> Option<(ImmutableString, &'a str)> {
        let read = Read::of(&input::Line {
            bytes,
            consumed: 0,
            too_long: false,
            raw: bytes,
        });
        self.apply_read(line, read)
    }

    /// Applies one line as the line reader gave it: a line over the limit is refused as
    /// malformed, any other as [`Runner::apply_bytes`] does.
    pub fn apply_input<'a>(
        &mut self,
        line: u64,
        input: &input::Line<'a>,
    ) -> Option<(ImmutableString, &'a str)> {
        self.apply_read(line, Read::of(input))
    }

    /// Applies a line read and parsed beforehand ([`Read::of`]): a session that serves many
    /// shops parses a line once, to find its shop's runner.
    pub fn apply_read<'a>(
        &mut self,
        line: u64,
        read: Read<'a>,
    ) -> Option<(ImmutableString, &'a str)> {
        match read {
            Read::Blank => None,
            Read::Malformed(message) => {
                self.refuse_malformed(line, message);
                None
            }
            Read::Parsed(text, parsed) => self.apply_parsed(line, &parsed).map(|id| (id, text)),
        }
    }

    /// Refuses a line that is not even text.
    pub fn refuse_malformed(&mut self, line: u64, message: String) {
        self.stats.read += 1;
        self.refuse(line, None, Refusal::new(ErrorKind::Malformed, message));
    }

    pub(super) fn refuse(&mut self, line: u64, id: Option<String>, refusal: Refusal) {
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
            shop: self.program.shop.to_string(),
        }));
    }

    /// Moves the clock to `at` if later, then fires every deadline due at or before it.
    pub(super) fn advance(&mut self, at: DateTime<Utc>) {
        if self.meta.clock.is_none_or(|c| at > c) {
            self.meta.clock = Some(at);
        }
        self.fire_due();
    }

    /// The checks no deadline can change: a time within the horizon, a known workflow, a new id,
    /// a known sample.
    pub(super) fn precheck(&self, e: &Event, fp: u128) -> Result<(), Refusal> {
        if let Some(shop) = e.shop.as_ref().filter(|s| **s != self.program.shop) {
            return Err(Refusal::new(
                ErrorKind::InvalidField,
                format!("`shop`: no shop `{shop}` in this deployment"),
            ));
        }
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
                let hint = crate::diagnostic::did_you_mean(
                    name,
                    self.program.flows.keys().map(|k| k.as_str()),
                )
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
    pub(super) fn apply(&mut self, e: &Event) -> Result<(), Refusal> {
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
                ledger.adjustments.push(crate::model::Adjustment {
                    at: e.at,
                    event: e.id.as_str().to_owned(),
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

    pub(super) fn not_earlier(&self, e: &Event, inst: &Instance) -> Result<(), Refusal> {
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

    pub(super) fn request(
        &mut self,
        e: &Event,
        sample: &ImmutableString,
        creator: &Arc<crate::model::Creator>,
        product: &Arc<crate::model::Product>,
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
            sample: crate::model::Sample {
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
            workflow: workflow.into(),
            creator: creator.clone(),
            product: product.clone(),
            requested_at: e.at,
            last_at: e.at,
            decision: None,
            reason: None,
            tier: None,
            rules: rules.hash().into(),
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
        let initial = flow.initial();
        let mut step = Step::of_event(sample, e, flow.nowhere());
        let mut auto_approved = false;
        if initial.hook == Some(Hook::Screen) {
            let input = self.screen_input(&inst, e.at);
            let beside = self.shadow.is_some().then(|| input.clone());
            let screening = rules.screen(input);
            if let Some(fault) = screening.fault.clone() {
                self.fault(sample, *fault);
            }
            let verdict = screening.decision.as_str();
            let Some(outcome) = initial.outcomes.iter().find(|o| o.name == verdict) else {
                return Err(Refusal::new(
                    ErrorKind::NotAllowed,
                    format!("workflow `{workflow}` has no outcome `{verdict}` for screening"),
                ));
            };
            if let Some(input) = beside {
                self.screen_shadow(&product.category, input, &screening);
            }
            step.to = outcome.to;
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
            let (to, reason, acts) = resolve(&flow, initial, e, None);
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
        self.samples.insert(sample.clone(), Arc::new(inst));
        let ledger = Arc::make_mut(self.ledgers.entry(creator.id.clone()).or_default());
        ledger.samples += 1;
        self.dirty_ledgers.insert(creator.id.clone());
        if auto_approved {
            *self.meta.auto_approvals.entry(self.day(e.at)).or_insert(0) += 1;
        }
        self.step(step);
        Ok(())
    }

    pub(super) fn sample_event(&mut self, e: &Event) -> Result<(), Refusal> {
        let id = e.sample.clone().unwrap_or_default();
        let Some(inst) = self.samples.get(&id) else {
            // Deadlines that fired on the way cannot remove a sample: precheck found it.
            return Err(Refusal::new(
                ErrorKind::UnknownSample,
                format!("no sample `{id}`"),
            ));
        };
        self.not_earlier(e, inst)?;
        let Some(flow) = self.flow(&inst.workflow) else {
            return Err(Refusal::new(
                ErrorKind::NotAllowed,
                format!(
                    "sample `{id}` runs workflow `{}`, which is not loaded",
                    inst.workflow
                ),
            ));
        };
        let state = flow.id(inst.state());
        let Some((state, mv)) = state.and_then(|s| Some((s, flow.state(s).move_for(e.kind)?)))
        else {
            let takes: Vec<&str> = flow
                .declared(inst.state())
                .map(|s| s.takes().map(EventKind::name).collect())
                .unwrap_or_default();
            let help = if takes.is_empty() {
                String::new()
            } else {
                format!("; it takes {}", takes.join(", "))
            };
            return Err(Refusal::new(
                ErrorKind::NotAllowed,
                format!(
                    "`{}` is not allowed in state `{}` (sample `{id}`){help}",
                    e.kind,
                    inst.state()
                ),
            ));
        };
        for d in flow.sample_deadlines() {
            let Some(extend) = &d.extend else { continue };
            if extend.on != Some(e.kind) {
                continue;
            }
            let used = inst.extensions.get(&d.name).copied().unwrap_or(0);
            if used >= extend.times {
                return Err(Refusal::new(
                    ErrorKind::SecondExtension,
                    format!(
                        "the `{}` deadline of sample `{id}` was extended {used} time(s) already; {} allowed",
                        d.name, extend.times
                    ),
                ));
            }
        }
        // The event is accepted: its effects on the sample first, then the move.
        self.extend_deadlines(&flow, &id, e);
        self.event_facts(&id, e);
        let mut step = Step::of_event(&id, e, state);
        let mut outcome = None;
        match &mv.hook {
            Some(hook) if !mv.outcomes.is_empty() => match self.outcome_hook(hook, &id, e) {
                Ok(name) => outcome = Some(name),
                Err(fault) => {
                    self.fault(&id, *fault);
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
        let (to, reason, acts) = resolve(&flow, mv, e, outcome.as_deref());
        step.to = to;
        step.reason = reason;
        step.acts.extend(acts);
        if let Some(field) = &mv.field {
            if field == "decision" {
                step.decision = e.field("decision").map(str::to_string);
                if let Some(inst) = self.samples.get_mut(&id).map(Arc::make_mut) {
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
    pub(super) fn event_facts(&mut self, id: &ImmutableString, e: &Event) {
        let Some(inst) = self.samples.get_mut(id).map(Arc::make_mut) else {
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
                if !inst.contents.contains_key(post.content_id.as_str()) {
                    inst.contents
                        .insert(post.content_id.as_str().to_owned(), 0.0);
                }
            }
            Body::Metrics(m) => {
                if let Some(gmv) = m.gmv {
                    match inst.contents.get_mut(m.content_id.as_str()) {
                        Some(latest) => *latest = gmv,
                        None => {
                            inst.contents.insert(m.content_id.as_str().to_owned(), gmv);
                        }
                    }
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

    pub(super) fn outcome_hook(
        &mut self,
        hook: &Hook,
        id: &ImmutableString,
        e: &Event,
    ) -> Result<String, Box<RuleFault>> {
        let Some(inst) = self.samples.get(id) else {
            return Ok(String::new());
        };
        let sample = Arc::new(inst.sample.clone());
        let rules = self.program.rules.clone();
        let outcome = match (&e.body, hook) {
            (Body::Posted(post), Hook::ContentCheck) => {
                rules.content_check(post.clone(), sample)?.0
            }
            (Body::Removed { content_id }, Hook::RemovalCheck) => {
                rules.removal_check(content_id.clone(), sample)?.0
            }
            _ => {
                let ledger = self.ledger_arc(&inst.sample.creator);
                match rules.call_hook(hook.as_str(), sample, ledger, e.at)? {
                    crate::rules::HookResult::Outcome(o) => o,
                    crate::rules::HookResult::Actions(_) => ImmutableString::new(),
                }
            }
        };
        Ok(outcome.to_string())
    }

    /// A hook that gives actions; a failing one gives none and is reported.
    pub(super) fn action_hook(
        &mut self,
        hook: &Hook,
        id: &ImmutableString,
        at: DateTime<Utc>,
    ) -> Vec<Act> {
        let Some(inst) = self.samples.get(id) else {
            return Vec::new();
        };
        let rules = self.program.rules.clone();
        let sample = Arc::new(inst.sample.clone());
        let ledger = self.ledger_arc(&inst.sample.creator);
        let result = match hook {
            Hook::Deposit => rules.deposit(&self.screen_input(inst, at)),
            Hook::Penalty => rules.penalty(sample, ledger, at),
            Hook::Reward => rules.reward(sample, ledger, at),
            other => rules
                .call_hook(other.as_str(), sample, ledger, at)
                .map(|r| match r {
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

    pub(super) fn fault(&mut self, sample: &str, mut fault: RuleFault) {
        self.stats.rule_faults += 1;
        fault.sample = sample.to_string();
        self.faults.push(fault);
    }

    /// Makes one move: exit, enter, deadlines, hooks and actions, the ledger, and the record.
    pub(super) fn step(&mut self, mut step: Step) {
        let id = step.sample.clone();
        let Some(inst) = self.samples.get(&id) else {
            return;
        };
        let Some(flow) = self.flow(&inst.workflow) else {
            return;
        };
        let from = inst.sample.state.clone();
        let is_new = from.is_empty();
        let to = flow.state(step.to);
        // State names are unique in a flow: comparing names is `flow.id(&from) != Some(step.to)`
        // without a lookup.
        let changed = from.as_str() != to.name.as_str();
        let category = inst.sample.category.clone();
        let terminal = to.declared && to.terminal;
        if changed {
            // Exit the old state: its deadlines are cancelled.
            let mut arm = Vec::new();
            for d in &to.deadlines {
                arm.push((d.name.clone(), after(step.at, d.after.of(&category))));
            }
            let seqs: Vec<u64> = arm.iter().map(|_| self.next_seq()).collect();
            let Some(inst) = self.samples.get_mut(&id).map(Arc::make_mut) else {
                return;
            };
            inst.deadlines.retain(|d| !d.of_state);
            inst.sample.state = to.name.clone();
            if let Some(content) = &step.content {
                inst.sample.keep_up_content = Some(content.clone());
            } else if step.trigger.event() == Some(EventKind::ContentRemoved) {
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
                    .entry(category.to_string())
                    .or_insert(0) += 1;
                self.dirty_ledgers.insert(creator);
            }
            // Enter the new state: its hooks, then its actions.
            for hook in &to.enter_hooks {
                let acts = self.action_hook(hook, &id, step.at);
                step.acts.extend(acts);
            }
            step.acts.extend(named(&to.enter_actions));
        }
        // Sample deadlines measured from this event.
        for d in flow.sample_deadlines() {
            if terminal || d.from.is_none() || d.from != step.trigger.event() {
                continue;
            }
            let due = after(step.at, d.after.of(&category));
            let seq = self.next_seq();
            if let Some(inst) = self.samples.get_mut(&id).map(Arc::make_mut) {
                inst.deadlines.retain(|a| a.name != d.name);
                arm_deadline(&mut self.heap, inst, d.name.clone(), false, due, seq);
            }
        }
        let actions = self.issue(&id, &step);
        let Some(inst) = self.samples.get_mut(&id).map(Arc::make_mut) else {
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
        let by_deadline = step.event.is_none();
        // The step ends here: the record takes its texts rather than copies of them.
        let record = Record {
            sample: id.clone(),
            at: step.at,
            from: (!is_new).then_some(from),
            to: to.name.clone(),
            trigger: step.trigger.text(),
            event: step.event,
            decision: step.decision,
            reason: step.reason,
            actions,
            rules: self.rules_hash(),
            workflow: flow.hash.clone(),
            explain: step.explain,
            by: step.by,
            note: step.note,
            shop: self.program.shop.clone(),
        };
        self.dirty_samples.insert(id.clone());
        if opened_now {
            let ledger = Arc::make_mut(self.ledgers.entry(creator.clone()).or_default());
            ledger.products.entry(product.to_string()).or_default().open += 1;
            self.dirty_ledgers.insert(creator.clone());
            self.index_product(product.clone(), id.clone());
        }
        if changed && terminal {
            self.end(&id, to.role, step.at, was_open);
        }
        if by_deadline {
            self.stats.deadlines += 1;
        }
        self.stats.records += 1;
        self.out.push(Output::Record(record));
        if changed && !terminal {
            self.release_held(&flow, &id, step.at);
        }
    }

    pub(super) fn screen_input(&self, inst: &Instance, at: DateTime<Utc>) -> ScreenInput {
        ScreenInput {
            request: SampleRequest {
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
}

/// The target, reason and actions of a move that needs no rule (a plain target or a field), or
/// of the outcome a hook chose.
pub(super) fn resolve(
    flow: &Flow,
    mv: &MoveCode,
    e: &Event,
    outcome_name: Option<&str>,
) -> (StateId, Option<String>, Vec<Act>) {
    let chosen = outcome_name
        .or_else(|| mv.field.as_deref().and_then(|f| e.field(f)))
        .and_then(|name| mv.outcomes.iter().find(|o| o.name == name));
    let to = chosen
        .map(|o| o.to)
        .or(mv.to)
        .unwrap_or_else(|| flow.nowhere());
    let reason = chosen
        .and_then(|o| o.reason.as_ref())
        .or(mv.reason.as_ref())
        .and_then(|r| match r {
            Reason::Code(code) => Some(code.clone()),
            Reason::EventReason => e.field("reason").map(str::to_string),
        });
    let acts = named(&mv.actions)
        .chain(named(chosen.map_or(&[][..], |o| o.actions.as_slice())))
        .collect();
    (to, reason, acts)
}
