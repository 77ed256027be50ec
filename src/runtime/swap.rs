//! A live swap of programs (a reload): checked against every sample in flight first.

use std::collections::BTreeMap;

use super::*;

/// What a swap of programs did to the samples in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Swap {
    /// Armed deadlines the new workflows no longer define.
    pub dropped: usize,
    /// State deadlines the new workflows add, armed from the clock.
    pub armed: usize,
}

impl Runner {
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
                .get(inst.workflow.as_str())
                .is_some_and(|f| f.declared(inst.state()).is_some());
            if !kept {
                *stranded
                    .entry((inst.workflow.to_string(), inst.state().to_string()))
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
            let Some(flow) = program.flows.get(inst.workflow.as_str()) else {
                continue;
            };
            let state = flow.declared(&inst.sample.state);
            let kept = |d: &Armed| {
                if d.of_state {
                    state.is_some_and(|s| s.deadlines.iter().any(|x| x.name == d.name))
                } else {
                    flow.sample_deadline(&d.name).is_some()
                }
            };
            if inst.deadlines.iter().all(kept) {
                continue;
            }
            // One is dropped at least: only then is a shared sample copied.
            let inst = Arc::make_mut(inst);
            let before = inst.deadlines.len();
            inst.deadlines.retain(kept);
            dropped += before - inst.deadlines.len();
            self.dirty_samples.insert(id.clone());
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
                let Some(state) = flow.declared(inst.state()) else {
                    continue;
                };
                for d in &state.deadlines {
                    if inst.armed(&d.name).is_none() {
                        let due = after(now, d.after.of(&inst.sample.category));
                        arm.push((inst.id().clone(), d.name.clone(), due));
                    }
                }
            }
        }
        let armed = arm.len();
        for (id, name, due) in arm {
            let seq = self.next_seq();
            if let Some(inst) = self.samples.get_mut(&id).map(Arc::make_mut) {
                arm_deadline(&mut self.heap, inst, name, true, due, seq);
                self.dirty_samples.insert(id);
            }
        }
        Ok(Swap { dropped, armed })
    }
}
