//! The sandboxed Rhai engine: limits on operations, depth and sizes, a wall-clock budget per
//! call, no `eval`, no modules, no file or network access; and faults mapped to file:line:column.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, Position};

/// The limits every rule call runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operations per call (each expression, statement and function call counts).
    pub operations: u64,
    /// Nested function calls.
    pub call_levels: usize,
    /// Nesting of expressions, at top level and inside functions.
    pub expr_depth: usize,
    pub fn_expr_depth: usize,
    /// Characters in one string.
    pub string_size: usize,
    /// Items in one array, entries in one map.
    pub array_size: usize,
    pub map_size: usize,
    /// Wall-clock time per call.
    pub wall: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            operations: 1_000_000,
            call_levels: 32,
            expr_depth: 64,
            fn_expr_depth: 32,
            string_size: 64 * 1024,
            array_size: 10_000,
            map_size: 10_000,
            wall: Duration::from_millis(250),
        }
    }
}

/// The budget of the call running on this thread: when it must stop, the progress reports it
/// has made and how many it may make.
#[derive(Clone, Copy)]
struct Budget {
    deadline: Instant,
    steps: u64,
    max_steps: u64,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

thread_local! {
    /// The script function and position that the tracing engine ran last.
    static TRACE: RefCell<Option<(String, Position)>> = const { RefCell::new(None) };
}

/// An engine that records where it is at every step: slow, so used only to locate a fault that
/// Rhai reports without its place (operation, depth, size and time limits are reported at the
/// outermost call).
#[allow(deprecated)] // Rhai marks its debugger API volatile, not deprecated.
pub(crate) fn tracer(limits: Limits) -> Engine {
    use rhai::debugger::{DebuggerCommand, DebuggerEvent};
    let mut engine = engine(limits);
    engine.register_debugger(
        |_, debugger| debugger,
        |context, event, node, _, position| {
            // A call counts as reaching its function, even one whose body has no step.
            if let rhai::ASTNode::Expr(rhai::Expr::FnCall(call, _))
            | rhai::ASTNode::Stmt(rhai::Stmt::FnCall(call, _)) = node
            {
                COVER.with(|c| {
                    if let Some(reached) = c.borrow_mut().as_mut() {
                        reached.insert(call.name.to_string());
                    }
                });
            }
            // Exits unwind past the fault; the last step is where it happened.
            let step = matches!(event, DebuggerEvent::Step | DebuggerEvent::Start);
            if !step || position.is_none() {
                return Ok(DebuggerCommand::StepInto);
            }
            let function = context
                .global_runtime_state()
                .debugger()
                .call_stack()
                .last()
                .map(|frame| frame.fn_name.to_string())
                .unwrap_or_default();
            COVER.with(|c| {
                if let Some(reached) = c.borrow_mut().as_mut() {
                    if !reached.contains(&function) {
                        reached.insert(function.clone());
                    }
                }
            });
            TRACE.with(|t| *t.borrow_mut() = Some((function, position)));
            Ok(DebuggerCommand::StepInto)
        },
    );
    engine
}

thread_local! {
    /// The script functions that the tracing engine ran, while coverage is recorded.
    static COVER: RefCell<Option<std::collections::BTreeSet<String>>> = const { RefCell::new(None) };
}

/// Runs `f` (on the tracing engine) and returns every script function it ran a step of.
pub(crate) fn cover<T>(f: impl FnOnce() -> T) -> (T, std::collections::BTreeSet<String>) {
    let previous = COVER.with(|c| c.replace(Some(Default::default())));
    let out = f();
    let reached = COVER.with(|c| c.replace(previous)).unwrap_or_default();
    (out, reached)
}

/// Runs `f` on the tracing engine and returns the last place it reached.
pub(crate) fn trace<T>(f: impl FnOnce() -> T) -> Option<(String, Position)> {
    TRACE.with(|t| t.borrow_mut().take());
    let _ = f();
    TRACE.with(|t| t.borrow_mut().take())
}

/// Runs `f` with the budget of `limits` armed for this thread: its wall-clock time, and its
/// operations counted by progress report.
pub(crate) fn with_budget<T>(limits: &Limits, f: impl FnOnce() -> T) -> T {
    let budget = Budget {
        deadline: Instant::now() + limits.wall,
        steps: 0,
        max_steps: limits.operations,
    };
    let previous = BUDGET.with(|b| b.replace(Some(budget)));
    let out = f();
    BUDGET.with(|b| b.set(previous));
    out
}

/// One progress report of the running call: why it must stop, if it must.
///
/// Rhai's own operation count does not bind inside native calls that call back into the script
/// (`map`, `filter`, `reduce`...): each callback counts from a copy of the count and the copy is
/// dropped, so a loop of `map` runs for ever under `max_operations`. Reports are counted here
/// instead, every one of them, callbacks included; the clock is read every 1024.
fn progress() -> Option<&'static str> {
    BUDGET.with(|b| {
        let mut budget = b.get()?;
        budget.steps += 1;
        b.set(Some(budget));
        if budget.steps > budget.max_steps {
            return Some("too many operations: the rule did not decide within its budget");
        }
        (budget.steps & 0x3ff == 0 && Instant::now() > budget.deadline)
            .then_some("wall-clock budget exceeded")
    })
}

/// A fresh engine with the sandbox's limits; the caller registers the types.
pub(crate) fn engine(limits: Limits) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.operations)
        .set_max_call_levels(limits.call_levels)
        .set_max_expr_depths(limits.expr_depth, limits.fn_expr_depth)
        .set_max_string_size(limits.string_size)
        .set_max_array_size(limits.array_size)
        .set_max_map_size(limits.map_size)
        .set_max_modules(0)
        .set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new())
        .set_optimization_level(rhai::OptimizationLevel::None)
        .set_fail_on_invalid_map_property(true);
    engine.disable_symbol("eval");
    engine.on_progress(|_| progress().map(Dynamic::from));
    // Rules may print while their authors debug them; never onto the records.
    engine.on_print(|text| eprintln!("rules: {text}"));
    engine.on_debug(|text, source, pos| {
        eprintln!("rules: {}:{}: {text}", source.unwrap_or("?"), pos)
    });
    engine
}

/// Where a script function is defined: its file (within the rules folder), line and column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Place {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// The innermost script function named by a Rhai error's call chain, and the error itself.
pub(crate) fn innermost(error: &EvalAltResult) -> (Option<&str>, &EvalAltResult) {
    let mut function = None;
    let mut error = error;
    while let EvalAltResult::ErrorInFunctionCall(name, _, inner, _) = error {
        function = Some(name.as_str());
        error = inner;
    }
    (function, error)
}

/// A rule that failed while running: the decision falls back, the run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFault {
    /// The hook that was running.
    pub hook: String,
    /// The category whose rules ran.
    pub category: String,
    /// The script file.
    pub file: String,
    /// The function that failed.
    pub function: String,
    /// Where, 1-based.
    pub line: usize,
    /// Where, 1-based, in characters.
    pub column: usize,
    /// What went wrong.
    pub message: String,
    /// The sample it was deciding for (set by the runner; empty where there is none).
    pub sample: String,
}

impl fmt::Display for RuleFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: rule `{}` (hook `{}`, category `{}`) failed: {}",
            self.file,
            self.line,
            self.column,
            self.function,
            self.hook,
            self.category,
            self.message
        )
    }
}

impl std::error::Error for RuleFault {}

impl RuleFault {
    /// Finds the innermost script function of a Rhai error and where in its file it failed.
    pub(crate) fn from_eval(
        hook: &str,
        category: &str,
        error: &EvalAltResult,
        places: &HashMap<String, Place>,
        trace: Option<(String, Position)>,
    ) -> RuleFault {
        let (inner, error) = innermost(error);
        let mut function = inner.unwrap_or(hook).to_string();
        let mut position = error.position();
        if let Some((traced, at)) = trace {
            if !traced.is_empty() {
                function = traced;
            }
            position = at;
        }
        let message = match error {
            EvalAltResult::ErrorTerminated(token, _) => token
                .read_lock::<rhai::ImmutableString>()
                .map_or("terminated".to_string(), |t| t.to_string()),
            EvalAltResult::ErrorTooManyOperations(_) => {
                "too many operations (a loop without end?)".to_string()
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                "too many nested calls (recursion without end?)".to_string()
            }
            other => {
                // Rhai appends its own position; ours comes first.
                let text = other.to_string();
                text.rsplit_once(" (line ")
                    .map_or(text.clone(), |(m, _)| m.to_string())
            }
        };
        let (line, column) = pos(position);
        RuleFault {
            hook: hook.to_string(),
            category: category.to_string(),
            file: places
                .get(&function)
                .map(|p| p.file.clone())
                .unwrap_or_default(),
            function,
            line,
            column,
            message,
            sample: String::new(),
        }
    }

    /// A hook that returned a value of the wrong kind.
    pub(crate) fn bad_return(
        hook: &str,
        category: &str,
        at: &Place,
        expected: &str,
        got: &Dynamic,
    ) -> RuleFault {
        RuleFault {
            hook: hook.to_string(),
            category: category.to_string(),
            file: at.file.clone(),
            function: hook.to_string(),
            line: at.line,
            column: at.column,
            message: format!("returned {} where {expected} was expected", got.type_name()),
            sample: String::new(),
        }
    }
}

pub(crate) fn pos(position: Position) -> (usize, usize) {
    (
        position.line().unwrap_or(0),
        position.position().unwrap_or(0),
    )
}
