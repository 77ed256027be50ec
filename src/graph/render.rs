//! The workflow graph as picture sources: Graphviz DOT and Mermaid.
//!
//! Parallel edges of one kind between the same two states share one arrow with one line per
//! event, so the picture stays readable. Terminal states are drawn apart, deadlines dashed, and
//! each label names the hook outcome, deadline length and actions involved.

use std::fmt::Write as _;

use petgraph::visit::EdgeRef;

use super::{Edge, Node, WorkflowGraph};

/// One arrow of the picture: every edge of one style between two nodes.
struct Arrow<'g> {
    from: String,
    to: String,
    deadline: bool,
    edges: Vec<&'g Edge>,
}

impl Arrow<'_> {
    /// One line per event (its outcomes that take this arrow joined) or deadline.
    fn lines(&self) -> Vec<String> {
        let mut lines: Vec<(&Edge, Vec<&str>)> = Vec::new();
        for &edge in &self.edges {
            if let Edge::Move {
                outcome: Some(outcome),
                ..
            } = edge
            {
                if let Some((_, outcomes)) = lines.iter_mut().find(|(e, _)| same_move(e, edge)) {
                    outcomes.push(outcome);
                    continue;
                }
                lines.push((edge, vec![outcome.as_str()]));
            } else {
                lines.push((edge, Vec::new()));
            }
        }
        lines
            .into_iter()
            .map(|(edge, outcomes)| {
                let joined = (!outcomes.is_empty()).then(|| outcomes.join(" | "));
                label(edge, joined.as_deref())
            })
            .collect()
    }
}

/// Two moves on one event, chooser and actions: their outcomes can share a line.
fn same_move(a: &Edge, b: &Edge) -> bool {
    match (a, b) {
        (
            Edge::Move {
                event,
                chooser,
                actions,
                ..
            },
            Edge::Move {
                event: event_b,
                chooser: chooser_b,
                actions: actions_b,
                ..
            },
        ) => event == event_b && chooser == chooser_b && actions == actions_b,
        _ => false,
    }
}

fn arrows(graph: &WorkflowGraph) -> Vec<Arrow<'_>> {
    let g = graph.graph();
    let mut arrows: Vec<Arrow> = Vec::new();
    for edge in g.edge_references() {
        let from = node_id(&g[edge.source()]);
        let to = node_id(&g[edge.target()]);
        let deadline = matches!(edge.weight(), Edge::Deadline { .. });
        match arrows
            .iter_mut()
            .find(|a| a.from == from && a.to == to && a.deadline == deadline)
        {
            Some(arrow) => arrow.edges.push(edge.weight()),
            None => arrows.push(Arrow {
                from,
                to,
                deadline,
                edges: vec![edge.weight()],
            }),
        }
    }
    arrows
}

fn node_id(node: &Node) -> String {
    match node {
        Node::Start => "start".to_string(),
        Node::State { name, .. } => name.clone(),
    }
}

/// An edge's text; `outcomes` replaces the edge's own outcome when lines are merged.
fn label(edge: &Edge, outcomes: Option<&str>) -> String {
    let mut text = edge.trigger();
    match edge {
        Edge::Move {
            chooser: Some(chooser),
            outcome,
            ..
        } => {
            if let Some(outcome) = outcomes.or(outcome.as_deref()) {
                let _ = write!(text, " [{chooser}: {outcome}]");
            }
        }
        Edge::Deadline {
            after: Some(after), ..
        } => {
            let _ = write!(text, " ({after})");
        }
        _ => {}
    }
    let actions = match edge {
        Edge::Move { actions, .. } | Edge::Deadline { actions, .. } => actions,
    };
    if !actions.is_empty() {
        let _ = write!(text, " / {}", actions.join(", "));
    }
    text
}

/// Node text: the state's name and what runs on entering it.
fn state_label(graph: &WorkflowGraph, name: &str) -> Vec<String> {
    let mut lines = vec![name.to_string()];
    if let Some(state) = graph.state(name) {
        let effects: Vec<&str> = state
            .enter
            .hooks
            .iter()
            .chain(&state.enter.actions)
            .map(|e| e.value.as_str())
            .collect();
        if !effects.is_empty() {
            lines.push(format!("enter: {}", effects.join(", ")));
        }
    }
    lines
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot_lines(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| dot_escape(l))
        .collect::<Vec<_>>()
        .join("\\n")
}

/// The workflow as Graphviz DOT.
pub fn to_dot(graph: &WorkflowGraph) -> String {
    let w = graph.workflow();
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&w.name.value));
    let _ = writeln!(
        out,
        "  label=\"{} v{}\";\n  labelloc=t;\n  rankdir=LR;\n  fontname=\"Helvetica\";",
        dot_escape(&w.name.value),
        w.version
    );
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    out.push_str("  start [shape=point, width=0.2, label=\"\"];\n");
    let node = |out: &mut String, indent: &str, name: &str, extra: &str| {
        let _ = writeln!(
            out,
            "{indent}\"{}\" [label=\"{}\"{extra}];",
            dot_escape(name),
            dot_lines(&state_label(graph, name))
        );
    };
    for state in w.states.iter().filter(|s| !s.terminal) {
        node(&mut out, "  ", &state.name.value, "");
    }
    out.push_str(
        "  subgraph cluster_ends {\n    label=\"ends\";\n    style=dashed;\n    color=gray50;\n",
    );
    for state in w.states.iter().filter(|s| s.terminal) {
        let drawn_apart = ", style=\"rounded,filled\", fillcolor=gray92, peripheries=2";
        node(&mut out, "    ", &state.name.value, drawn_apart);
    }
    out.push_str("  }\n");
    for arrow in arrows(graph) {
        let style = if arrow.deadline {
            ", style=dashed, color=firebrick, fontcolor=firebrick"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\"{style}];",
            dot_escape(&arrow.from),
            dot_escape(&arrow.to),
            dot_lines(&arrow.lines())
        );
    }
    out.push_str("}\n");
    out
}

/// Mermaid ends a label at `:` and `;`: write them as its entity codes, in one pass.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ':' => out.push_str("#58;"),
            ';' => out.push_str("#59;"),
            c => out.push(c),
        }
    }
    out
}

/// The workflow as a Mermaid state diagram.
pub fn to_mermaid(graph: &WorkflowGraph) -> String {
    let w = graph.workflow();
    let mut out = String::from("stateDiagram-v2\n");
    let _ = writeln!(out, "  %% {} v{}", w.name.value, w.version);
    for state in &w.states {
        let lines = state_label(graph, &state.name.value);
        if lines.len() > 1 {
            let _ = writeln!(
                out,
                "  state \"{}\" as {}",
                mermaid_text(&lines.join("<br/>")),
                state.name.value
            );
        }
    }
    for arrow in arrows(graph) {
        let from = if arrow.from == "start" {
            "[*]"
        } else {
            arrow.from.as_str()
        };
        let _ = writeln!(
            out,
            "  {from} --> {}: {}",
            arrow.to,
            mermaid_text(&arrow.lines().join("<br/>"))
        );
    }
    let terminals: Vec<&str> = w
        .states
        .iter()
        .filter(|s| s.terminal)
        .map(|s| s.name.value.as_str())
        .collect();
    for terminal in &terminals {
        let _ = writeln!(out, "  {terminal} --> [*]");
    }
    if !terminals.is_empty() {
        out.push_str("  classDef terminal fill:#eeeeee,stroke:#777777,stroke-width:2px\n");
        let _ = writeln!(out, "  class {} terminal", terminals.join(","));
    }
    out
}
