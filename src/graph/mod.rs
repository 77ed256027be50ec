//! The workflow as a petgraph state graph: a node per state plus a start node, an edge per way
//! of moving (an event's move or outcome, a deadline), and the questions the runner and the
//! validator ask of it.

mod render;

pub use render::{to_dot, to_mermaid};

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, Reversed};

use crate::definition::{Duration, Move, SampleDeadline, State, StateDeadline, Workflow};
use crate::diagnostic::Spanned;
use crate::model::vocab::StateRole;

/// A node: the start (before a sample exists) or a state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Node {
    Start,
    State { name: String, terminal: bool },
}

/// How an edge moves a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Edge {
    /// An event's move; `outcome` names the hook or field value that picks this target.
    Move {
        event: String,
        chooser: Option<String>,
        outcome: Option<String>,
        actions: Vec<String>,
    },
    /// A deadline firing: a state's own, or a sample deadline firing in that state.
    Deadline {
        name: String,
        after: Option<Duration>,
        actions: Vec<String>,
    },
}

impl Edge {
    /// The record's `trigger` for this edge: the event type, or `deadline:<name>`.
    pub fn trigger(&self) -> String {
        match self {
            Edge::Move { event, .. } => event.clone(),
            Edge::Deadline { name, .. } => format!("deadline:{name}"),
        }
    }
}

/// The compiled workflow: its definition, the graph and a name to node index map.
#[derive(Debug, Clone)]
pub struct WorkflowGraph {
    workflow: Workflow,
    graph: DiGraph<Node, Edge>,
    index: HashMap<String, NodeIndex>,
    start: NodeIndex,
    /// Each state's role, read once from its `role:` text.
    roles: HashMap<String, StateRole>,
}

impl WorkflowGraph {
    /// Builds the graph. Names that resolve to no state are left out, so a workflow with defects
    /// still gives a graph for the validator to inspect.
    pub fn build(workflow: Workflow) -> Self {
        let mut graph = DiGraph::new();
        let start = graph.add_node(Node::Start);
        let mut index = HashMap::new();
        for state in &workflow.states {
            let node = graph.add_node(Node::State {
                name: state.name.value.clone(),
                terminal: state.terminal,
            });
            index.entry(state.name.value.clone()).or_insert(node);
        }
        let mut edges = Edges {
            graph: &mut graph,
            index: &index,
        };
        edges.moves(start, std::slice::from_ref(&workflow.initial));
        for state in &workflow.states {
            let Some(&from) = index.get(&state.name.value) else {
                continue;
            };
            edges.moves(from, &state.on);
            for d in &state.deadlines {
                edges.deadline(from, &d.name.value, &d.after.value, &d.to.value, &d.actions);
            }
        }
        for d in &workflow.deadlines {
            for fires_in in &d.fires_in {
                if let Some(&from) = index.get(&fires_in.value) {
                    edges.deadline(from, &d.name.value, &d.after.value, &d.to.value, &d.actions);
                }
            }
        }
        let roles = workflow
            .states
            .iter()
            .filter_map(|s| Some((s.name.value.clone(), s.role()?)))
            .collect();
        Self {
            workflow,
            graph,
            index,
            start,
            roles,
        }
    }

    /// The workflow the graph was built from.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// The underlying petgraph graph.
    pub fn graph(&self) -> &DiGraph<Node, Edge> {
        &self.graph
    }

    /// The node of a state.
    pub fn node(&self, state: &str) -> Option<NodeIndex> {
        self.index.get(state).copied()
    }

    /// The state of that name.
    pub fn state(&self, state: &str) -> Option<&State> {
        self.workflow.state(state)
    }

    /// Whether the state is terminal; `None` for no such state.
    pub fn is_terminal(&self, state: &str) -> Option<bool> {
        self.state(state).map(|s| s.terminal)
    }

    /// The role `state` declares, if any.
    pub fn role(&self, state: &str) -> Option<StateRole> {
        self.roles.get(state).copied()
    }

    /// Every state with a role, and the role.
    pub fn roles(&self) -> impl Iterator<Item = (&str, StateRole)> {
        self.roles.iter().map(|(s, r)| (s.as_str(), *r))
    }

    /// The move that `event` makes from `state`, if the state takes it.
    pub fn move_for(&self, state: &str, event: &str) -> Option<&Move> {
        self.state(state)?
            .on
            .iter()
            .find(|m| m.event.value == event)
    }

    /// The creating move.
    pub fn initial(&self) -> &Move {
        &self.workflow.initial
    }

    /// Deadlines armed on entering `state`.
    pub fn state_deadlines(&self, state: &str) -> &[StateDeadline] {
        self.state(state).map_or(&[], |s| s.deadlines.as_slice())
    }

    /// Deadlines measured from a moment in the sample's life.
    pub fn sample_deadlines(&self) -> &[SampleDeadline] {
        &self.workflow.deadlines
    }

    /// The states that a sample can reach from the start, by any event or deadline.
    pub fn reachable(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        let mut bfs = Bfs::new(&self.graph, self.start);
        while let Some(node) = bfs.next(&self.graph) {
            if let Node::State { name, .. } = &self.graph[node] {
                seen.push(name.as_str());
            }
        }
        seen
    }

    /// Non-terminal states from which no terminal state can be reached: a sample there never ends.
    pub fn dead_ends(&self) -> Vec<&str> {
        let reversed = Reversed(&self.graph);
        let mut can_end = vec![false; self.graph.node_count()];
        for node in self.graph.node_indices() {
            if !matches!(self.graph[node], Node::State { terminal: true, .. }) {
                continue;
            }
            let mut bfs = Bfs::new(reversed, node);
            while let Some(n) = bfs.next(reversed) {
                can_end[n.index()] = true;
            }
        }
        self.workflow
            .states
            .iter()
            .filter(|s| !s.terminal)
            .filter_map(|s| self.node(&s.name.value).map(|n| (s, n)))
            .filter(|(_, n)| !can_end[n.index()])
            .map(|(s, _)| s.name.value.as_str())
            .collect()
    }
}

/// Adds edges for one workflow to a graph whose state nodes exist already.
struct Edges<'a> {
    graph: &'a mut DiGraph<Node, Edge>,
    index: &'a HashMap<String, NodeIndex>,
}

impl Edges<'_> {
    /// One edge per target of each move: a plain target, or each outcome of a choice.
    fn moves(&mut self, from: NodeIndex, moves: &[Move]) {
        for m in moves {
            let chooser = m
                .hook
                .as_ref()
                .or(m.field.as_ref())
                .map(|c| c.value.clone());
            for (outcome, to) in m.targets() {
                let Some(&target) = self.index.get(&to.value) else {
                    continue;
                };
                let own = outcome.map_or(&[][..], |o| o.actions.as_slice());
                self.graph.add_edge(
                    from,
                    target,
                    Edge::Move {
                        event: m.event.value.clone(),
                        chooser: chooser.clone(),
                        outcome: outcome.map(|o| o.name.value.clone()),
                        actions: names(m.actions.iter().chain(own)),
                    },
                );
            }
        }
    }

    fn deadline(
        &mut self,
        from: NodeIndex,
        name: &str,
        after: &str,
        to: &str,
        actions: &[Spanned<String>],
    ) {
        let Some(&target) = self.index.get(to) else {
            return;
        };
        self.graph.add_edge(
            from,
            target,
            Edge::Deadline {
                name: name.to_string(),
                after: Duration::parse(after).ok(),
                actions: names(actions),
            },
        );
    }
}

fn names<'a>(spanned: impl IntoIterator<Item = &'a Spanned<String>>) -> Vec<String> {
    spanned.into_iter().map(|s| s.value.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::load_str;
    use std::path::Path;

    fn graph(text: &str) -> WorkflowGraph {
        WorkflowGraph::build(load_str(Path::new("w.yaml"), text).unwrap())
    }

    const LOOP: &str = "workflow: w\nversion: 1\ninitial: {on: sample_requested, to: a}\nstates:\n  a:\n    on: {sample_shipped: b, sample_withdrawn: end}\n  b:\n    on: {sample_delivered: c}\n  c:\n    on: {content_posted: b}\n  island:\n    on: {sample_shipped: end}\n  end: {terminal: true}\n";

    #[test]
    fn finds_unreachable_states_and_dead_ends() {
        let g = graph(LOOP);
        let reachable = g.reachable();
        assert!(reachable.contains(&"c"));
        assert!(!reachable.contains(&"island"));
        assert_eq!(g.dead_ends(), vec!["b", "c"]);
    }

    #[test]
    fn answers_moves_and_edges() {
        let g = graph(LOOP);
        assert_eq!(
            g.move_for("a", "sample_shipped")
                .unwrap()
                .to
                .as_ref()
                .unwrap()
                .value,
            "b"
        );
        assert!(g.move_for("a", "sample_delivered").is_none());
        let a = g.node("a").unwrap();
        let triggers: Vec<String> = g.graph().edges(a).map(|e| e.weight().trigger()).collect();
        assert_eq!(triggers.len(), 2);
        assert!(triggers.contains(&"sample_withdrawn".to_string()));
        assert_eq!(g.is_terminal("end"), Some(true));
    }
}
