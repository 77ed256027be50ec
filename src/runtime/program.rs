//! Compile, then run: workflows and rules become a [`Program`] the runner alone reads, with
//! every duration resolved per category once.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;

use super::*;
use crate::definition::Duration;
use crate::graph::WorkflowGraph;
use crate::rules::RuleSet;

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
    pub(super) rules_hash: Arc<str>,
    /// Every duration the workflows write, resolved once per category.
    pub(super) durations: Arc<Durations>,
}

/// The workflows' durations (`7d`, `policy.review_window`) resolved against the policy when a
/// program is made: the runner reads seconds, never text, when it arms a deadline.
#[derive(Debug, Default)]
pub(super) struct Durations {
    /// By the text as written: seconds for `default` and for each category with a policy block.
    pub(super) resolved: HashMap<String, (i64, HashMap<String, i64>)>,
    /// What did not resolve (`validate` refuses such workflows before anything runs).
    pub(super) unresolved: Vec<String>,
}

impl Durations {
    pub(super) fn of<'a>(
        graphs: impl Iterator<Item = &'a WorkflowGraph>,
        rules: &RuleSet,
    ) -> Durations {
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

    pub(super) fn seconds(&self, text: &str, category: &str) -> Option<i64> {
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
