//! Static checks of a compiled script: calls of functions that exist nowhere or with the wrong
//! number of arguments, `policy.<name>` reads of parameters that `policy.yaml` lacks, and
//! properties and methods read on a hook's parameters that their registered types lack. Rhai
//! itself only finds these when the line runs, and then every decision becomes `rule_error`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rhai::Engine;

use super::error::{
    CallArity, HookArity, RuleProblem, ScriptSyntax, UnknownFunction, UnknownMember,
    UnknownPolicyParam,
};
use super::hooks::{hook_spec, param_type};
use super::script::{span_at, Read, ScriptFile};
use super::uses::Use;
use super::{param_named, PARAMS};
use crate::diagnostic::{did_you_mean, LineIndex, Loc, Span};

/// Calls that Rhai handles itself rather than through the function registry.
const KEYWORDS: &[&str] = &[
    "Fn",
    "call",
    "curry",
    "is_def_fn",
    "is_def_var",
    "is_shared",
    "type_of",
    "print",
    "debug",
];

/// Names of every function the engine provides, from its signatures.
pub(crate) fn native_names(engine: &rhai::Engine) -> HashSet<String> {
    let mut names: HashSet<String> = engine
        .gen_fn_signatures(true)
        .iter()
        .filter_map(|sig| sig.split('(').next())
        .map(|name| name.trim().to_string())
        .collect();
    names.extend(KEYWORDS.iter().map(|k| k.to_string()));
    names
}

/// What scripts may read on each registered type: its properties (getters) and its methods with
/// the numbers of arguments they take. Read back from the engine's own registrations, so the
/// check and what scripts can really call never drift apart.
#[derive(Debug, Default)]
pub(crate) struct Members {
    types: HashMap<String, TypeMembers>,
}

#[derive(Debug, Default)]
pub(crate) struct TypeMembers {
    pub properties: BTreeSet<String>,
    /// Method name to the argument counts it is registered with (the receiver not counted).
    pub methods: BTreeMap<String, BTreeSet<usize>>,
}

impl Members {
    pub(crate) fn of(engine: &rhai::Engine) -> Members {
        let mut members = Members::default();
        for sig in engine.gen_fn_signatures(false) {
            let Some((name, rest)) = sig.split_once('(') else {
                continue;
            };
            let params = rest.split_once(')').map_or("", |(p, _)| p);
            let mut types = params
                .split(", ")
                .filter(|p| !p.is_empty())
                .map(|p| p.rsplit(": ").next().unwrap_or(p));
            let Some(receiver) = types.next().and_then(|t| t.strip_prefix("&mut ")) else {
                continue;
            };
            let entry = members.types.entry(receiver.to_string()).or_default();
            if let Some(property) = name.strip_prefix("get$") {
                entry.properties.insert(property.to_string());
            } else if !name.contains('$') {
                let arity = types.count();
                entry
                    .methods
                    .entry(name.to_string())
                    .or_default()
                    .insert(arity);
            }
        }
        members
    }

    pub(crate) fn get(&self, type_name: &str) -> Option<&TypeMembers> {
        self.types.get(type_name)
    }
}

/// The registered type of each parameter of each script function, keyed by name and arity:
/// a hook's from the hook table, and a helper's from the calls that pass it a typed parameter
/// (`category_check(request, creator, product, ledger)`), to a fixed point.
fn param_types(files: &[ScriptFile]) -> HashMap<(String, usize), Vec<Option<&'static str>>> {
    let mut types: HashMap<(String, usize), Vec<Option<&'static str>>> = HashMap::new();
    let mut params: HashMap<String, Vec<(usize, Vec<String>)>> = HashMap::new();
    for file in files {
        for f in &file.functions {
            params
                .entry(f.name.clone())
                .or_default()
                .push((f.arity, f.params.clone()));
            let slot = types
                .entry((f.name.clone(), f.arity))
                .or_insert_with(|| vec![None; f.arity]);
            if let Some(spec) = hook_spec(&f.name).filter(|s| s.params.len() == f.arity) {
                for (t, p) in slot.iter_mut().zip(spec.params) {
                    *t = param_type(p);
                }
            }
        }
    }
    // The type of variable `var` inside function `function` (first of that name in a file).
    let lookup =
        |types: &HashMap<(String, usize), Vec<Option<&'static str>>>, function: &str, var: &str| {
            let (arity, names) = params.get(function)?.first()?;
            let i = names.iter().position(|n| n == var)?;
            types
                .get(&(function.to_string(), *arity))?
                .get(i)
                .copied()?
        };
    for _ in 0..16 {
        let mut changed = false;
        for file in files {
            for u in &file.uses {
                let Use::Pass {
                    function,
                    callee,
                    args,
                } = u
                else {
                    continue;
                };
                let found: Vec<Option<&'static str>> = args
                    .iter()
                    .map(|a| a.as_deref().and_then(|v| lookup(&types, function, v)))
                    .collect();
                if let Some(slot) = types.get_mut(&(callee.clone(), args.len())) {
                    for (t, f) in slot.iter_mut().zip(found) {
                        if t.is_none() && f.is_some() {
                            *t = f;
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    types
}

/// Unknown functions, calls of the wrong arity, unknown policy parameters, unknown properties and
/// methods of hook parameters, and hooks of the wrong arity, in every file. Returns the known
/// reads of hook parameters.
pub(super) fn check_scripts(
    engine: &Engine,
    files: &[ScriptFile],
    problems: &mut Vec<RuleProblem>,
) -> Vec<Read> {
    let mut reads = Vec::new();
    let natives = native_names(engine);
    let members = Members::of(engine);
    let types = param_types(files);
    let default_fns: BTreeSet<&str> = files
        .iter()
        .filter(|f| f.category.is_none())
        .flat_map(|f| f.functions.iter().map(|g| g.name.as_str()))
        .collect();
    // Script functions by name: the argument counts they are defined with.
    let mut arities: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    for file in files {
        for f in &file.functions {
            arities.entry(f.name.as_str()).or_default().insert(f.arity);
        }
    }
    for file in files {
        let text = file.source.inner().as_ref();
        let lines = LineIndex::new(text);
        let own: BTreeSet<&str> = file.functions.iter().map(|g| g.name.as_str()).collect();
        let span_of =
            |position, name: &str| Span::new(span_at(&lines, position).offset, name.len());
        let unknown_function = |name: String, position| -> RuleProblem {
            let candidates = own
                .iter()
                .chain(default_fns.iter())
                .copied()
                .chain(natives.iter().map(String::as_str));
            let span = span_of(position, &name);
            UnknownFunction {
                help: did_you_mean(&name, candidates).map(|b| format!("did you mean `{b}`?")),
                name,
                loc: Loc::new(file.source.clone(), span),
            }
            .into()
        };
        // The type of `var` in `function` of this file, where it is a typed parameter.
        let type_of = |function: &str, var: &str| {
            let f = file.functions.iter().find(|f| f.name == function)?;
            let i = f.params.iter().position(|p| p == var)?;
            types.get(&(f.name.clone(), f.arity))?.get(i).copied()?
        };
        for u in &file.uses {
            match u.clone() {
                Use::Call {
                    name,
                    arity,
                    position,
                } => {
                    if natives.contains(&name) {
                        continue;
                    }
                    if !own.contains(name.as_str()) && !default_fns.contains(name.as_str()) {
                        problems.push(unknown_function(name, position));
                        continue;
                    }
                    let defined = &arities[name.as_str()];
                    if !defined.contains(&arity) {
                        let expected = defined
                            .iter()
                            .map(|n| arguments(*n))
                            .collect::<Vec<_>>()
                            .join(" or ");
                        let span = span_of(position, &name);
                        problems.push(
                            CallArity {
                                name,
                                expected,
                                found: arity.to_string(),
                                loc: Loc::new(file.source.clone(), span),
                            }
                            .into(),
                        );
                    }
                }
                Use::MethodOn { name, position } => {
                    if !natives.contains(&name) {
                        problems.push(unknown_function(name, position));
                    }
                }
                Use::Member {
                    function,
                    var,
                    name,
                    arity,
                    position,
                } => {
                    let typed = type_of(&function, &var).and_then(|t| Some((t, members.get(t)?)));
                    let Some((type_name, known)) = typed else {
                        // Not a hook's parameter: a method must exist somewhere.
                        if arity.is_some() && !natives.contains(&name) {
                            problems.push(unknown_function(name, position));
                        }
                        continue;
                    };
                    let span = span_of(position, &name);
                    let known_read = match arity {
                        None => known.properties.contains(&name),
                        Some(_) => known.methods.contains_key(&name),
                    };
                    if known_read {
                        let (line, column) = lines.line_col(span.offset);
                        reads.push(Read {
                            type_name,
                            name: name.clone(),
                            file: file.name.clone(),
                            line,
                            column,
                        });
                    }
                    let unknown = |kind: &'static str, name: String, var: String| -> RuleProblem {
                        let method = kind == "method";
                        let (same, other): (Vec<&str>, bool) = if method {
                            let same = known.methods.keys().map(String::as_str).collect();
                            (same, known.properties.contains(&name))
                        } else {
                            let same = known.properties.iter().map(String::as_str).collect();
                            (same, known.methods.contains_key(&name))
                        };
                        let call = |n: &str| if method { format!("{var}.{n}(..)") } else { format!("{var}.{n}") };
                        let help = did_you_mean(&name, same)
                            .map(|b| format!("did you mean `{}`?", call(b)))
                            .or_else(|| {
                                other.then(|| {
                                    let (is, form) = if method {
                                        ("a property", format!("{var}.{name}"))
                                    } else {
                                        ("a method", format!("{var}.{name}(..)"))
                                    };
                                    format!("`{name}` is {is}: `{form}`")
                                })
                            });
                        UnknownMember {
                            help,
                            type_name: type_name.to_string(),
                            kind,
                            name,
                            loc: Loc::new(file.source.clone(), span),
                            var,
                        }
                        .into()
                    };
                    let problem = match arity {
                        None if known.properties.contains(&name) => None,
                        None => Some(unknown("property", name, var)),
                        Some(n) => match known.methods.get(&name) {
                            Some(takes) if takes.contains(&n) => None,
                            Some(takes) => Some(
                                CallArity {
                                    expected: takes
                                        .iter()
                                        .map(|n| arguments(*n))
                                        .collect::<Vec<_>>()
                                        .join(" or "),
                                    name: format!("{var}.{name}"),
                                    found: n.to_string(),
                                    loc: Loc::new(file.source.clone(), span),
                                }
                                .into(),
                            ),
                            // Functions of any value (`type_of`, `to_string`) are methods too.
                            None if UNIVERSAL_METHODS.contains(&name.as_str()) => None,
                            None => Some(unknown("method", name, var)),
                        },
                    };
                    problems.extend(problem);
                }
                Use::PolicyParam { name, position } => {
                    if param_named(&name).is_none() {
                        let span = span_of(position, &name);
                        problems.push(
                            UnknownPolicyParam {
                                help: did_you_mean(&name, PARAMS.iter().map(|p| p.name))
                                    .map(|b| format!("did you mean `{b}`?")),
                                name,
                                loc: Loc::new(file.source.clone(), span),
                            }
                            .into(),
                        );
                    }
                }
                Use::Import { position } => problems.push(
                    ScriptSyntax {
                        message: "`import` is not allowed".into(),
                        loc: Loc::new(file.source.clone(), span_at(&lines, position)),
                        help: Some(
                            "rules cannot load modules or files; put shared functions in `default.rhai`"
                                .into(),
                        ),
                    }
                    .into(),
                ),
                Use::Decision { .. } | Use::Pass { .. } => {}
            }
        }
        for f in &file.functions {
            if let Some(spec) = hook_spec(&f.name) {
                if spec.params.len() != f.arity {
                    problems.push(
                        HookArity {
                            hook: f.name.clone(),
                            expected: format!("({})", spec.params.join(", ")),
                            found: f.arity,
                            loc: Loc::new(file.source.clone(), f.span),
                        }
                        .into(),
                    );
                }
            }
        }
    }
    reads
}

/// Methods that every value has.
const UNIVERSAL_METHODS: &[&str] = &["type_of", "to_string", "to_debug", "is_shared"];

fn arguments(n: usize) -> String {
    match n {
        1 => "1 argument".to_string(),
        n => format!("{n} arguments"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_back_from_the_registrations() {
        let mut engine = rhai::Engine::new_raw();
        crate::rules::types::register(&mut engine);
        let members = Members::of(&engine);
        let creator = members.get("Creator").unwrap();
        assert!(creator.properties.contains("engagement_rate"));
        assert!(!creator.properties.contains("engagment_rate"));
        assert_eq!(
            creator.methods.get("has_top_category"),
            Some(&BTreeSet::from([1]))
        );
        let ledger = members.get("Ledger").unwrap();
        assert_eq!(
            ledger.methods.get("cancelled_within"),
            Some(&BTreeSet::from([2]))
        );
        assert!(ledger.properties.contains("blocked"));
    }
}
