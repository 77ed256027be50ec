//! Checks between workflows and rules: every hook a workflow names is defined in
//! `default.rhai`, and every `policy.<name>` a workflow reads is a duration of the policy.

use crate::definition::{Duration, Workflow};
use crate::diagnostic::{did_you_mean, Loc, Spanned};
use crate::model::vocab::StateRole;
use crate::rules::{
    param_named, BadValue, Kind, MissingHook, RuleSet, UnknownPolicyParam, DEFAULT_SCRIPT, PARAMS,
};

use super::{MissingRole, Problem};

/// What the ledger keeps of a role's states, and the reads of it that need the role.
const NEEDS: &[(&str, StateRole, &str)] = &[
    (
        "breaches_within",
        StateRole::Breach,
        "a breach on the creator's ledger",
    ),
    (
        "completed",
        StateRole::Fulfilled,
        "a completed sample on the creator's ledger",
    ),
    (
        "has_product",
        StateRole::Fulfilled,
        "a completed sample of the product",
    ),
    (
        "cancelled_within",
        StateRole::Cancelled,
        "the product's last cancellation",
    ),
];

/// The hooks that screening calls on its own, beyond those a workflow names.
const SCREENING_HOOKS: &[&str] = &["tier"];

/// Problems between `workflows` and the loaded `rules`.
pub fn check(workflows: &[&Workflow], rules: &RuleSet) -> Vec<Problem> {
    let mut problems = Vec::new();
    for w in workflows {
        for hook in used_hooks(w) {
            let name = hook.value.as_str();
            let mut needed = vec![name];
            if name == "screen" {
                needed.extend(SCREENING_HOOKS);
            }
            for needed in needed {
                if !rules.defines(needed) {
                    problems.push(Problem::Rules(
                        MissingHook {
                            hook: needed.to_string(),
                            file: rules.dir().join(DEFAULT_SCRIPT).display().to_string(),
                            loc: Loc::new(w.source.clone(), hook.span),
                            help: Some(format!(
                                "define `fn {needed}(...)` in `{DEFAULT_SCRIPT}`; category files may override it"
                            )),
                        }
                        .into(),
                    ));
                }
            }
        }
        let mut missing: Vec<StateRole> = Vec::new();
        for (read, role, keeps) in NEEDS {
            let Some(at) = rules.reads("Ledger", read) else {
                continue;
            };
            if missing.contains(role) {
                continue;
            }
            // A breach is a cancellation too.
            let has = w.states.iter().any(|s| {
                s.role().is_some_and(|r| {
                    r == *role || (*role == StateRole::Cancelled && r.is_cancellation())
                })
            });
            if !has {
                missing.push(*role);
                problems.push(Problem::from(MissingRole {
                    workflow: w.name.value.clone(),
                    role: role.name(),
                    loc: Loc::new(w.source.clone(), w.name.span),
                    help: Some(format!(
                        "`{}:{}:{}` reads `ledger.{read}`, which counts {keeps}; give the state that means it `role: {}`",
                        rules.dir().join(&at.file).display(),
                        at.line,
                        at.column,
                        role.name()
                    )),
                }));
            }
        }
        for duration in durations(w) {
            if let Ok(Duration::Policy(name)) = Duration::parse(&duration.value) {
                check_param(w, duration, &name, &mut problems);
            }
        }
    }
    problems
}

fn check_param(w: &Workflow, at: &Spanned<String>, name: &str, problems: &mut Vec<Problem>) {
    match param_named(name) {
        Some(p) if p.kind == Kind::Duration => {}
        Some(p) => problems.push(Problem::Rules(
            BadValue {
                message: format!("policy parameter `{name}` is not a duration"),
                loc: Loc::new(w.source.clone(), at.span),
                help: Some(format!("`{name}` is {}", p.kind)),
            }
            .into(),
        )),
        None => problems.push(Problem::Rules(
            UnknownPolicyParam {
                name: name.to_string(),
                loc: Loc::new(w.source.clone(), at.span),
                help: did_you_mean(
                    name,
                    PARAMS
                        .iter()
                        .filter(|p| p.kind == Kind::Duration)
                        .map(|p| p.name),
                )
                .map(|b| format!("did you mean `policy.{b}`?")),
            }
            .into(),
        )),
    }
}

/// The first call of each hook that a workflow's moves and `enter` blocks make.
fn used_hooks(w: &Workflow) -> Vec<&Spanned<String>> {
    let moves = std::iter::once(&w.initial).chain(w.states.iter().flat_map(|s| s.on.iter()));
    let calls = moves
        .filter_map(|m| m.hook.as_ref())
        .chain(w.states.iter().flat_map(|s| s.enter.hooks.iter()));
    let mut seen = Vec::<&Spanned<String>>::new();
    for call in calls {
        if !seen.iter().any(|s| s.value == call.value) {
            seen.push(call);
        }
    }
    seen
}

/// Every duration a workflow writes.
fn durations(w: &Workflow) -> impl Iterator<Item = &Spanned<String>> {
    let state = w
        .states
        .iter()
        .flat_map(|s| s.deadlines.iter().map(|d| &d.after));
    let sample = w
        .deadlines
        .iter()
        .flat_map(|d| std::iter::once(&d.after).chain(d.extend.as_ref().map(|e| &e.by)));
    state.chain(sample)
}
