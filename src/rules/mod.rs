//! Rules: per-category Rhai scripts over a tunable policy, compiled once, run sandboxed.
//!
//! `rules/default.rhai` defines every hook; `rules/<category>.rhai` overrides any function of it
//! for one category (Rhai's AST merge: a function of the same name and arity replaces default's).
//! For each category the merged script is optimized with that category's `policy` as a constant,
//! so `policy.min_followers` is folded into a literal before the first call.
//!
//! By idea: the hook catalogue (`hooks`), one script file (`script`), loading and
//! compiling a folder (`load`), the loaded set (`set`), calling hooks (`call`), the static checks
//! of scripts (`check`), the lowered fast path (`lower`), the sandbox, the policy, the types
//! scripts see, explain traces and rule test cases.

mod call;
pub(crate) mod cases;
mod check;
mod error;
pub(crate) mod explain;
mod hooks;
mod load;
mod lower;
mod policy;
mod sandbox;
mod script;
mod set;
mod types;
mod uses;

pub use call::{HookResult, ScreenInput, Screening, RULE_ERROR};
pub use error::*;
pub use hooks::{hook_spec, Hook, HookSpec, HOOKS, REWARD_WAKES_AT};
pub use load::POLICY_FILE;
pub use policy::{param_named, Kind, Param, ParamValue, Policy, DEFAULT_TIMEZONE, PARAMS};
pub use sandbox::{Limits, RuleFault};
pub use script::DEFAULT_SCRIPT;
pub use script::{FnInfo, Read, ScriptFile, MAX_SCRIPT_LINE, MAX_SCRIPT_LINES};
pub use set::RuleSet;
