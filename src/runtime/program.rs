//! Compile, then run: workflows and rules become a [`Program`] the runner alone reads, with
//! every duration resolved per category once.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::graph::WorkflowGraph;
use crate::rules::RuleSet;

/// Twelve hex digits of sha256, as `rules` and `workflow` are written in records.
pub fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// What the runner runs: the workflows by name, compiled against the rule set's policy.
#[derive(Debug, Clone)]
pub struct Program {
    pub flows: HashMap<String, Arc<Flow>>,
    pub rules: Arc<RuleSet>,
    pub(super) rules_hash: Arc<str>,
    /// The shop this program runs (its records carry it).
    pub(super) shop: crate::model::SharedStr,
    /// Durations the workflows write that did not resolve against the policy.
    unresolved: Vec<String>,
}

impl Program {
    pub fn new(graphs: Vec<WorkflowGraph>, rules: RuleSet) -> Self {
        let graphs = graphs.into_iter().map(|g| {
            let hash = short_hash(g.workflow().source.inner().as_bytes()).into();
            (Arc::new(g), hash)
        });
        Program::compile(graphs, Arc::new(rules))
    }

    fn compile(
        graphs: impl Iterator<Item = (Arc<WorkflowGraph>, Arc<str>)>,
        rules: Arc<RuleSet>,
    ) -> Self {
        let mut unresolved = Vec::new();
        let flows = graphs
            .map(|(graph, hash)| {
                let flow = Flow::compile(graph, hash, rules.policy(), &mut unresolved);
                (flow.name().to_string(), Arc::new(flow))
            })
            .collect();
        Program {
            flows,
            rules_hash: rules.hash().into(),
            rules,
            shop: crate::model::DEFAULT_SHOP.into(),
            unresolved,
        }
    }

    /// Durations of the workflows that do not resolve against the policy: none in a program
    /// whose files passed `validate`.
    pub fn unresolved_durations(&self) -> &[String] {
        &self.unresolved
    }

    /// The same program, run for `shop`.
    pub fn in_shop(mut self, shop: &str) -> Self {
        self.shop = shop.into();
        self
    }

    /// The shop this program runs.
    pub fn shop(&self) -> &str {
        &self.shop
    }

    pub fn rules_hash(&self) -> &str {
        &self.rules_hash
    }

    /// The same workflows with another rule set (a reload, or the candidate of a diff): compiled
    /// anew, since the policy's durations are part of a flow.
    pub fn with_rules(&self, rules: Arc<RuleSet>) -> Self {
        let mut flows: Vec<&Arc<Flow>> = self.flows.values().collect();
        flows.sort_by(|a, b| a.name().cmp(b.name()));
        let graphs = flows.into_iter().map(|f| (f.graph.clone(), f.hash.clone()));
        Program::compile(graphs, rules).in_shop(&self.shop)
    }
}
