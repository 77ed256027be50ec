//! Deadlines: armed on a state's entry, extended, held, and fired on event time in due order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;

use super::*;

/// Arms a deadline: on the sample, and in the heap that fires it.
pub(super) fn arm_deadline(
    heap: &mut BinaryHeap<Due>,
    inst: &mut Instance,
    name: ImmutableString,
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

impl Runner {
    /// The wall clock says `now`: the clock moves there if later and due deadlines fire.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        if self.meta.clock.is_some_and(|c| now > c) {
            self.advance(now);
        }
    }

    /// Moves sample deadlines that this event extends.
    pub(super) fn extend_deadlines(&mut self, flow: &Flow, id: &ImmutableString, e: &Event) {
        for d in flow.sample_deadlines() {
            let Some(extend) = &d.extend else { continue };
            if extend.on != Some(e.kind) {
                continue;
            }
            let seq = self.next_seq();
            let Some(inst) = self.samples.get_mut(id).map(Arc::make_mut) else {
                return;
            };
            let by = extend.by.of(&inst.sample.category);
            *inst.extensions.entry(d.name.clone()).or_insert(0) += 1;
            if let Some(armed) = inst.deadlines.iter_mut().find(|a| a.name == d.name) {
                armed.due = after(armed.due, by);
                armed.seq = seq;
                armed.held = false;
                self.heap
                    .push(Reverse((armed.due, seq, id.clone(), armed.name.clone())));
            }
        }
    }

    pub(super) fn next_seq(&mut self) -> u64 {
        self.meta.seq += 1;
        self.meta.seq
    }

    /// Fires every deadline due at or before the clock, in due order (ties in arming order).
    pub(super) fn fire_due(&mut self) {
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

    pub(super) fn fire(
        &mut self,
        id: &ImmutableString,
        name: &ImmutableString,
        seq: u64,
        due: DateTime<Utc>,
    ) {
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
        // None only for a sample whose state its workflow no longer has.
        let state = flow.id(inst.state());
        let (to, reason, acts) = if armed.of_state {
            let Some(d) =
                state.and_then(|s| flow.state(s).deadlines.iter().find(|d| d.name == name))
            else {
                return;
            };
            (
                d.to,
                d.reason.clone(),
                named(&d.actions).collect::<Vec<Act>>(),
            )
        } else {
            let Some(d) = flow.sample_deadline(name) else {
                return;
            };
            if !state.is_some_and(|s| d.fires_in(s)) {
                let held = state.is_some_and(|s| d.held_in(s));
                if let Some(inst) = self.samples.get_mut(id).map(Arc::make_mut) {
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
            (
                d.to,
                d.reason.clone(),
                named(&d.actions).collect::<Vec<Act>>(),
            )
        };
        if let Some(inst) = self.samples.get_mut(id).map(Arc::make_mut) {
            inst.deadlines.retain(|a| a.seq != seq);
        }
        let mut step = Step::new(id, due, to, Trigger::Deadline(name.clone()));
        step.reason = reason;
        step.acts = acts;
        self.step(step);
    }

    /// On entering a state where held sample deadlines fire: those past due fire at once,
    /// stamped with the moment of return; the others wait for their time.
    pub(super) fn release_held(&mut self, flow: &Flow, id: &ImmutableString, at: DateTime<Utc>) {
        let Some(inst) = self.samples.get(id) else {
            return;
        };
        let Some(state) = flow.id(inst.state()) else {
            return;
        };
        let held: Vec<Armed> = inst.deadlines.iter().filter(|d| d.held).cloned().collect();
        for armed in held {
            let fires = flow
                .sample_deadline(&armed.name)
                .is_some_and(|d| d.fires_in(state));
            if !fires {
                continue;
            }
            if armed.due <= at {
                if let Some(inst) = self.samples.get_mut(id).map(Arc::make_mut) {
                    if let Some(a) = inst.deadlines.iter_mut().find(|a| a.seq == armed.seq) {
                        a.held = false;
                    }
                }
                self.fire(id, &armed.name, armed.seq, at);
                if self
                    .samples
                    .get(id)
                    .is_none_or(|i| flow.id(i.state()) != Some(state))
                {
                    return;
                }
            } else if let Some(inst) = self.samples.get_mut(id).map(Arc::make_mut) {
                if let Some(a) = inst.deadlines.iter_mut().find(|a| a.seq == armed.seq) {
                    a.held = false;
                    self.heap
                        .push(Reverse((a.due, a.seq, id.clone(), a.name.clone())));
                }
            }
        }
    }
}
