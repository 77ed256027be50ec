//! The shadow: a candidate rule set screening every request beside the live rules, with the
//! very input the live rules were given (request, creator, product, ledger, the day's automatic
//! approvals, at the same moment). Its decision is handed on with the changes ([`ShadowDecision`], in the
//! same [`crate::model::Changes`] as the screening's sample) and never acted on: it moves no
//! sample, touches no ledger and counts in no quota. A fault of the candidate is kept with its
//! decision and handed to the caller apart from the live rule faults.

use std::sync::Arc;

use crate::model::ShadowDecision;
use crate::rules::{RuleSet, ScreenInput, Screening};

use super::Runner;

/// The candidate the runner screens with beside the live rules.
#[derive(Clone)]
pub(super) struct Shadow {
    pub(super) rules: Arc<RuleSet>,
}

impl Runner {
    /// Screens every later request with `rules` too, beside the live rules (none: stops).
    pub fn set_shadow(&mut self, rules: Option<Arc<RuleSet>>) {
        self.shadow = rules.map(|rules| Shadow { rules });
    }

    /// The candidate's rules hash, when there is one.
    pub fn shadow_rules(&self) -> Option<&str> {
        self.shadow.as_ref().map(|s| s.rules.hash())
    }

    /// The candidate's faults since the last call, each with its sample and file:line:column.
    pub fn drain_shadow_faults(&mut self) -> std::vec::Drain<'_, String> {
        self.shadow_faults.drain(..)
    }

    /// The candidate's decision on `input`, beside the live `screening` of the same input.
    pub(super) fn screen_shadow(&mut self, category: &str, input: ScreenInput, live: &Screening) {
        let Some(shadow) = &self.shadow else {
            return;
        };
        let sample = input.request.sample.to_string();
        let at = input.request.at;
        let screening = shadow.rules.screen(input);
        let fault = screening.fault.map(|mut f| {
            f.sample.clone_from(&sample);
            f.to_string()
        });
        if let Some(f) = &fault {
            self.shadow_faults.push(format!("sample `{sample}`: {f}"));
        }
        self.shadows.push(ShadowDecision {
            sample,
            category: category.to_string(),
            rules: shadow.rules.hash().to_string(),
            live_rules: self.program.rules.hash().to_string(),
            at,
            live_decision: live.decision.as_str().to_string(),
            live_reason: live.reason.to_string(),
            decision: screening.decision.as_str().to_string(),
            reason: screening.reason.to_string(),
            tier: screening.tier.to_string(),
            fault,
        });
    }
}
