//! Deadlines: armed on a state's entry, extended, held, and fired on event time in due order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;

use super::*;
use crate::definition::Reason;

/// Arms a deadline: on the sample, and in the heap that fires it.
pub(super) fn arm_deadline(
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

impl Runner {
    /// The wall clock says `now`: the clock moves there if later and due deadlines fire.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        if self.meta.clock.is_some_and(|c| now > c) {
            self.advance(now);
        }
    }

    /// Moves sample deadlines that this event extends.
    pub(super) fn extend_deadlines(&mut self, flow: &Flow, id: &ImmutableString, e: &Event) {
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

    pub(super) fn fire(&mut self, id: &ImmutableString, name: &str, seq: u64, due: DateTime<Utc>) {
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
            (
                d.to.value.clone(),
                d.reason.clone(),
                named_actions(&d.actions).collect::<Vec<Act>>(),
            )
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
            (
                d.to.value.clone(),
                d.reason.clone(),
                named_actions(&d.actions).collect::<Vec<Act>>(),
            )
        };
        if let Some(inst) = self.samples.get_mut(id) {
            inst.deadlines.retain(|a| a.seq != seq);
        }
        let mut step = Step::new(id, due, &to, format!("deadline:{name}"));
        step.reason = reason.and_then(|r| match r.value {
            Reason::Code(code) => Some(code),
            _ => None,
        });
        step.acts = acts;
        self.step(step);
    }

    /// On entering a state where held sample deadlines fire: those past due fire at once,
    /// stamped with the moment of return; the others wait for their time.
    pub(super) fn release_held(&mut self, flow: &Flow, id: &ImmutableString, at: DateTime<Utc>) {
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
}
