//! Whether a live session takes writes: `serve`'s `/readyz` asks. The session says how each
//! commit went and when it stopped, and which program runs (the service's reads go by its
//! workflows and rules); nothing here touches the store.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::graph::WorkflowGraph;
use crate::rules::RuleSet;
use crate::runtime::Program;

/// What the live program reads by: its workflows, in the order of their files, and its rules.
#[derive(Clone)]
pub struct Serving {
    /// The workflows, in the order of their files.
    pub graphs: Arc<Vec<WorkflowGraph>>,
    /// The rules.
    pub rules: Arc<RuleSet>,
}

impl Serving {
    /// What `program` reads by.
    pub fn of(program: &Program) -> Serving {
        let mut graphs: Vec<WorkflowGraph> =
            program.flows.values().map(|f| (*f.graph).clone()).collect();
        graphs.sort_by(|a, b| a.workflow().path.cmp(&b.workflow().path));
        Serving {
            graphs: Arc::new(graphs),
            rules: program.rules.clone(),
        }
    }
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("graphs", &self.graphs.len())
            .finish_non_exhaustive()
    }
}

/// A session's health, shared with whoever asks; a cluster's shop session has one of its own,
/// whose programs its instance's reads go by too (its parent).
#[derive(Debug, Default)]
pub struct Health(Mutex<State>, Option<Arc<Health>>);

#[derive(Debug, Default)]
struct State {
    running: bool,
    stopped: Option<String>,
    /// The last commit's failure, cleared by the next that succeeds.
    failed: Option<String>,
    last_commit: Option<DateTime<Utc>>,
    /// The program running now in each shop.
    serving: std::collections::BTreeMap<String, Serving>,
}

impl Health {
    /// The health of one shop's session in a cluster's instance: the programs it runs are
    /// also what `parent`'s reads go by.
    pub fn child(parent: Arc<Health>) -> Health {
        Health(Mutex::default(), Some(parent))
    }

    /// The session took the store and applies what it is handed.
    pub fn started(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.running = true;
        }
    }

    /// True once the session took the store (and applies what it is handed), or ended.
    pub fn settled(&self) -> bool {
        self.0
            .lock()
            .map(|s| s.running || s.stopped.is_some())
            .unwrap_or(true)
    }

    /// The session ended: nothing is applied any more.
    pub fn stopped(&self, why: &str) {
        if let Ok(mut s) = self.0.lock() {
            s.running = false;
            s.stopped = Some(why.to_string());
        }
    }

    /// How a commit went.
    pub fn committed(&self, result: Result<(), String>) {
        if let Ok(mut s) = self.0.lock() {
            match result {
                Ok(()) => {
                    s.failed = None;
                    s.last_commit = Some(Utc::now());
                }
                Err(e) => s.failed = Some(e),
            }
        }
    }

    /// `program` runs from now on in its shop (at the start, and after each reload applied).
    pub fn serving(&self, program: &Program) {
        let serving = Serving::of(program);
        if let Some(parent) = &self.1 {
            parent.serving(program);
        }
        if let Ok(mut s) = self.0.lock() {
            s.serving.insert(program.shop().to_string(), serving);
        }
    }

    /// What the program running now in `shop` reads by (`None` before a session starts, or
    /// for a shop it does not run).
    pub fn program(&self, shop: &str) -> Option<Serving> {
        self.0
            .lock()
            .ok()
            .and_then(|s| s.serving.get(shop).cloned())
    }

    /// The shops the session runs, in order.
    pub fn shops(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|s| s.serving.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// `Ok` with what is known when the store takes writes, else why not.
    pub fn store(&self) -> Result<String, String> {
        let s = self
            .0
            .lock()
            .map_err(|_| "the session's state is unreadable".to_string())?;
        if let Some(e) = &s.failed {
            return Err(format!("the last commit failed: {e}"));
        }
        if !s.running {
            return Err(match &s.stopped {
                Some(why) => format!("the writer stopped ({why})"),
                None => "the writer is starting".to_string(),
            });
        }
        Ok(match s.last_commit {
            Some(at) => format!(
                "the writer runs; last commit {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None => "the writer runs; nothing committed yet".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_while_running_and_committing() {
        let h = Health::default();
        assert!(h.store().is_err(), "starting");
        h.started();
        assert!(h.store().is_ok());
        h.committed(Err("disk I/O error".into()));
        assert!(h.store().unwrap_err().contains("disk I/O error"));
        h.committed(Ok(()));
        assert!(h.store().is_ok());
        h.stopped("SIGTERM");
        assert!(h.store().unwrap_err().contains("SIGTERM"));
    }
}
