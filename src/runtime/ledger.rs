//! The creator's ledger: how a sample's end, its actions and product events change it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;

use super::*;
use crate::model::vocab::{ActionKind, StateRole};
use crate::model::Action;

impl Runner {
    /// The ledger's side of a sample ending, by the role of the state it ends in.
    pub(super) fn end(
        &mut self,
        id: &ImmutableString,
        role: Option<StateRole>,
        at: DateTime<Utc>,
        was_open: bool,
    ) {
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
            Some(StateRole::Fulfilled) => {
                history.completed += 1;
                ledger.completed += 1;
            }
            Some(r) if r.is_cancellation() => history.last_cancelled = Some(at),
            _ => {}
        }
        if role == Some(StateRole::Breach) {
            ledger.breaches.push(at);
        }
        self.dirty_ledgers.insert(creator);
    }

    /// Gives each action its id and applies it to the sample and the ledger.
    pub(super) fn issue(&mut self, id: &ImmutableString, step: &Step) -> Vec<ActionOut> {
        // Most moves issue nothing: they need neither the sample nor the ledger for writing.
        if step.acts.is_empty() {
            return Vec::new();
        }
        let Some(inst) = self.samples.get_mut(id).map(Arc::make_mut) else {
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
                &Act::Named(kind) => match kind {
                    ActionKind::RefundDeposit | ActionKind::ForfeitDeposit => {
                        // Only a sample that took a deposit has one to settle.
                        let Some(amount) = inst.sample.deposit else {
                            continue;
                        };
                        ledger.deposits_held -= amount;
                        if kind == ActionKind::ForfeitDeposit {
                            ledger.deposits_forfeited += amount;
                        }
                        let mut a = ActionOut::new(kind.as_str(), action_id);
                        a.amount = Some(amount);
                        a
                    }
                    ActionKind::Penalize
                    | ActionKind::BlockCreator
                    | ActionKind::InvitePaidCollab => {
                        let mut a = ActionOut::new(kind.as_str(), action_id);
                        a.creator = Some(creator.clone());
                        if kind == ActionKind::InvitePaidCollab {
                            ledger.paid_collab_invited = true;
                        }
                        a
                    }
                    ActionKind::RequireDeposit
                    | ActionKind::RemindCreator
                    | ActionKind::FlagDisclosure => ActionOut::new(kind.as_str(), action_id),
                },
            };
            out.push(action);
        }
        if !out.is_empty() {
            self.dirty_ledgers.insert(creator);
        }
        out
    }

    pub(super) fn product_event(&mut self, e: &Event, product: &ImmutableString) {
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
            let Some(mv) = flow
                .id(inst.state())
                .and_then(|s| flow.state(s).move_for(e.kind))
            else {
                continue;
            };
            let (to, reason, acts) = dispatch::resolve(&flow, mv, e, None);
            let mut step = Step::of_event(&id, e, to);
            step.reason = reason;
            step.acts = acts;
            self.step(step);
        }
    }
}
