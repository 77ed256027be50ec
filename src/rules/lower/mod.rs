//! Rule scripts lowered to a typed tree that runs without Rhai's interpreter: the hot path of
//! every hook.
//!
//! A script function is lowered when it stays within a plain subset of Rhai: `let`, `if`,
//! `return`, blocks, literals, the registered types' properties and methods, the decision and
//! action constructors, other script functions, `in`, `&&`/`||`/`??`, comparisons and
//! arithmetic, arrays and `push`. Anything else (loops, assignment, maps, closures, strings
//! built with `+`, the standard library...) leaves the function to Rhai. While it runs, the
//! lowered form bails out whenever it is not sure to give Rhai's answer (an error Rhai would
//! raise, a type Rhai would refuse, a limit drawing near) and the call runs again on Rhai,
//! which gives the exact value or fault. Hooks are pure, so running one twice changes nothing.
//!
//! Operators keep Rhai's meaning exactly: checked integer arithmetic, integers and floats
//! mixed, Rhai's epsilon-relative float comparisons, and `==` of two different non-numeric
//! types being false. `lower/tests.rs` and `tests/rules.rs` hold the two paths to the same
//! answers.
//!
//! By idea: the tree and lowering a function into it (`tree`), and running it (`run`: the
//! values, operators, properties and natives, and the walk). What runs on every hook call stays
//! in one module, so that it is compiled in one unit: split further, the runner measured slower.

mod run;
mod tree;
mod value;

pub(crate) use value::{HookArgs, Val};

use rhai::{ImmutableString, Stmt, AST};

use super::Limits;
use run::Run;

use tree::{Function, Scope};

/// One category's merged script, as far as it lowers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lowered {
    /// Every script function; `None` where it stays with Rhai.
    functions: Vec<Option<Function>>,
    /// Each function's name and number of parameters, by index (a few: scanned, not hashed).
    index: Vec<(ImmutableString, usize)>,
}

impl Lowered {
    /// Lowers every function of `ast` that stays within the subset.
    pub(crate) fn new(ast: &AST) -> Lowered {
        let defs: Vec<_> = ast.iter_fn_def().collect();
        let index = defs
            .iter()
            .map(|f| (f.name.clone(), f.params.len()))
            .collect();
        let mut lowered = Lowered {
            functions: Vec::new(),
            index,
        };
        lowered.functions = defs
            .iter()
            .map(|f| {
                if f.this_type.is_some() {
                    return None;
                }
                let body = body_of(ast, &f.name, f.params.len());
                let mut scope = Scope {
                    lowered: &lowered,
                    names: f.params.to_vec(),
                };
                let body = scope.statements(&body).ok()?;
                Some(Function {
                    params: f.params.len(),
                    body,
                })
            })
            .collect();
        lowered
    }

    /// True when the function `name` of `arity` parameters runs lowered.
    #[cfg(test)]
    pub(crate) fn has(&self, name: &str, arity: usize) -> bool {
        self.find(name, arity).is_some()
    }

    fn find(&self, name: &str, arity: usize) -> Option<(usize, &Function)> {
        let i = self.position(name, arity)?;
        Some((i, self.functions.get(i)?.as_ref()?))
    }

    /// The index of the script function `name` of `arity` parameters, lowered or not.
    fn position(&self, name: &str, arity: usize) -> Option<usize> {
        self.index
            .iter()
            .position(|(n, a)| *a == arity && n.as_str() == name)
    }

    /// Calls `name` with `args`; `None` when the call must run on Rhai instead.
    pub(crate) fn call<'a>(
        &self,
        name: &str,
        args: Vec<Val<'a>>,
        limits: &Limits,
    ) -> Option<Val<'a>> {
        let (i, _) = self.find(name, args.len())?;
        let mut run = Run {
            lowered: self,
            frame: args,
            base: 0,
            ops: 0,
            // Rhai counts at most a few operations for each node run here; a call that might
            // reach Rhai's limit runs there, to fault exactly as Rhai does. Without loops, and
            // with every native bounded by its input, the budget of nodes also bounds the time
            // (far below the wall-clock limit), so no clock is read here.
            max_ops: limits.operations / OPS_PER_NODE,
            depth: 1,
            max_depth: limits.call_levels.saturating_sub(2),
            max_array: limits.array_size.min(ARRAY_LIMIT),
            max_string: limits.string_size,
        };
        run.function(i).ok()
    }
}

/// The statements of a function's body. (Rhai does not name the type that holds them; a copy
/// of the AST with that function alone is walked instead.)
fn body_of(ast: &AST, name: &str, arity: usize) -> Vec<Stmt> {
    let mut alone = ast.clone_functions_only();
    alone.retain_functions(|_, _, n, a| n == name && a == arity);
    let mut body = Vec::new();
    alone.walk(&mut |path: &[rhai::ASTNode]| {
        if let [rhai::ASTNode::Stmt(stmt)] = path {
            body.push((*stmt).clone());
        }
        true
    });
    body
}

/// How many of Rhai's operations one lowered node may stand for, at most.
const OPS_PER_NODE: u64 = 4;

/// Arrays grow on the lowered path only this far; a longer one runs on Rhai, under its limit.
const ARRAY_LIMIT: usize = 1_000;

#[cfg(test)]
mod tests;
