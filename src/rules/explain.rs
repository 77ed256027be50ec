//! The explain trace of one hook call (`sampleflow eval`): every rule row checked, in order,
//! with the values it compared and whether it held, as `opa eval --explain` shows a query.
//!
//! A row is an `if` of a script. The call runs on an engine of its own whose debugger stops at
//! each `if` before its condition runs, evaluates the condition's parts in the call's own scope
//! (properties, method calls and variables), and the condition itself. Conditions are reads of
//! read-only values, so evaluating them once more changes nothing. Slow, and only for `eval`.

use std::cell::RefCell;
use std::sync::Arc;

use rhai::{ASTNode, Dynamic, Engine, Expr, Stmt};
use serde::Serialize;

use super::sandbox::{self, Limits};

/// One `if` checked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// The script file and the function the row is in.
    pub file: String,
    pub function: String,
    pub line: usize,
    pub column: usize,
    /// The condition as written.
    pub condition: String,
    /// Each part the condition read, with its value, in the order written; the policy
    /// parameters it names last.
    pub values: Vec<(String, String)>,
    /// Whether the condition held.
    pub held: bool,
}

/// A row as the debugger saw it, before its file and text are looked up.
#[derive(Debug, Clone)]
pub(crate) struct RawRow {
    pub function: String,
    pub source: Option<String>,
    pub line: usize,
    pub column: usize,
    pub values: Vec<(String, String)>,
    pub held: bool,
}

thread_local! {
    static ROWS: RefCell<Option<Vec<RawRow>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns the rows that the explaining engine checked while it ran.
pub(crate) fn record<T>(f: impl FnOnce() -> T) -> (T, Vec<RawRow>) {
    let previous = ROWS.with(|r| r.replace(Some(Vec::new())));
    let out = f();
    let rows = ROWS.with(|r| r.replace(previous)).unwrap_or_default();
    (out, rows)
}

/// The engine that records rows; the caller registers the types.
#[allow(deprecated)] // Rhai marks its debugger API volatile, not deprecated.
pub(crate) fn engine(limits: Limits) -> Engine {
    use rhai::debugger::{DebuggerCommand, DebuggerEvent};
    let mut engine = sandbox::engine(limits);
    engine.register_debugger(
        |_, debugger| debugger,
        |mut context, event, node, _, position| {
            let ASTNode::Stmt(Stmt::If(flow, _)) = node else {
                return Ok(DebuggerCommand::StepInto);
            };
            if !matches!(event, DebuggerEvent::Step) || ROWS.with(|r| r.borrow().is_none()) {
                return Ok(DebuggerCommand::StepInto);
            }
            let (function, source) = context
                .global_runtime_state()
                .debugger()
                .call_stack()
                .last()
                .map(|f| {
                    (
                        f.fn_name.to_string(),
                        f.source.as_ref().map(|s| s.to_string()),
                    )
                })
                .unwrap_or_default();
            let mut parts = Vec::new();
            observables(&flow.expr, &mut parts);
            let mut values = Vec::new();
            for part in parts {
                let text = render(part);
                if values.iter().any(|(t, _)| *t == text) {
                    continue;
                }
                let value = context
                    .eval_expression_tree(&part.into())
                    .map_or_else(|e| format!("error: {e}"), |v| show(&v));
                values.push((text, value));
            }
            let held = context
                .eval_expression_tree(&(&flow.expr).into())
                .ok()
                .and_then(|v| v.as_bool().ok())
                .unwrap_or(false);
            let (line, column) = sandbox::pos(position);
            ROWS.with(|r| {
                if let Some(rows) = r.borrow_mut().as_mut() {
                    rows.push(RawRow {
                        function,
                        source,
                        line,
                        column,
                        values,
                        held,
                    });
                }
            });
            Ok(DebuggerCommand::StepInto)
        },
    );
    engine
}

/// The parts of a condition worth showing: reads of properties, method calls and variables.
fn observables<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match expr {
        Expr::Dot(..) | Expr::Variable(..) => out.push(expr),
        Expr::FnCall(call, _) => call.args.iter().for_each(|a| observables(a, out)),
        Expr::And(items, _) | Expr::Or(items, _) | Expr::Coalesce(items, _) => {
            items.iter().for_each(|a| observables(a, out))
        }
        Expr::Index(x, _, _) => {
            observables(&x.lhs, out);
            observables(&x.rhs, out);
        }
        _ => {}
    }
}

/// An expression as a person would write it (for the parts that `observables` picks).
fn render(expr: &Expr) -> String {
    match expr {
        Expr::Variable(v, _, _) => v.1.to_string(),
        Expr::Property(p, _) => p.2.to_string(),
        Expr::MethodCall(call, _) | Expr::FnCall(call, _) => {
            let args: Vec<String> = call.args.iter().map(render).collect();
            format!("{}({})", call.name, args.join(", "))
        }
        Expr::Dot(x, _, _) => format!("{}.{}", render(&x.lhs), render(&x.rhs)),
        Expr::IntegerConstant(n, _) => n.to_string(),
        Expr::FloatConstant(x, _) => x.to_string(),
        Expr::StringConstant(s, _) => format!("{s:?}"),
        Expr::BoolConstant(b, _) => b.to_string(),
        Expr::Unit(_) => "()".to_string(),
        other => format!("{other:?}"),
    }
}

/// A value as the trace prints it: text quoted, `()` for nothing.
pub(crate) fn show(value: &Dynamic) -> String {
    if value.is_unit() {
        return "()".to_string();
    }
    if let Some(s) = value.read_lock::<rhai::ImmutableString>() {
        return format!("{:?}", s.as_str());
    }
    if let Some(d) = value.read_lock::<crate::model::Decision>() {
        return format!("{}({:?})", d.verdict, d.reason.as_str());
    }
    if let Some(a) = value.read_lock::<crate::model::Action>() {
        return a.kind().to_string();
    }
    if let Some(items) = value.read_lock::<rhai::Array>() {
        let items: Vec<String> = items.iter().map(show).collect();
        return format!("[{}]", items.join(", "));
    }
    value.to_string()
}

/// The condition of the `if` at `line:column` of `text`: what follows `if` up to the `{` of its
/// body (a condition may run over lines).
pub(crate) fn condition_text(text: &str, line: usize, column: usize) -> String {
    let Some(start) = text.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let from = start
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    let offset = start.as_ptr() as usize - text.as_ptr() as usize + from;
    let rest = &text[offset..];
    let rest = rest.strip_prefix("if").unwrap_or(rest);
    // The body's `{`: the first one at bracket depth 0.
    let mut depth = 0i32;
    let mut end = rest.len().min(2000);
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '{' if depth <= 0 => {
                end = i;
                break;
            }
            _ => {}
        }
        if i > 2000 {
            break;
        }
    }
    rest[..end].split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `policy.<name>` reads in a condition's text, in order, each once.
pub(crate) fn policy_reads(condition: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in condition.match_indices("policy.") {
        let before = condition[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let name: String = condition[i + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// A new explaining engine with the script types registered (built per `eval`, not kept).
pub(crate) fn with_types(limits: Limits) -> Arc<Engine> {
    let mut engine = engine(limits);
    super::types::register(&mut engine);
    Arc::new(engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_is_read_up_to_its_body() {
        let text = "fn f() {\n    if a.b(c) > 0 &&\n       d {\n        x\n    }\n}\n";
        assert_eq!(condition_text(text, 2, 5), "a.b(c) > 0 && d");
        assert_eq!(
            policy_reads("x < policy.min_followers && policy.cap > y.policy.z"),
            ["min_followers", "cap"]
        );
    }
}
