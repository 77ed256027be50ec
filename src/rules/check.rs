//! Static checks of a compiled script: calls of functions that exist nowhere or with the wrong
//! number of arguments, `policy.<name>` reads of parameters that `policy.yaml` lacks, and
//! properties and methods read on a hook's parameters that their registered types lack. Rhai
//! itself only finds these when the line runs, and then every decision becomes `rule_error`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rhai::{ASTNode, Expr, Position, Stmt, AST};

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

/// Something a script uses, found by walking its syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Use {
    /// A function call by name, with its number of arguments.
    Call {
        name: String,
        arity: usize,
        position: Position,
    },
    /// A method call `x.name(..)` on something other than a variable (checked by name only).
    MethodOn { name: String, position: Position },
    /// `var.name` (`arity` `None`) or `var.name(..)` inside function `function`.
    Member {
        function: String,
        var: String,
        name: String,
        arity: Option<usize>,
        position: Position,
    },
    /// A call of `callee` inside `function`, with each argument's variable name where it is one.
    Pass {
        function: String,
        callee: String,
        args: Vec<Option<String>>,
    },
    /// `policy.<name>`.
    PolicyParam { name: String, position: Position },
    /// `import`: rules cannot load modules.
    Import { position: Position },
    /// `approve|reject|review("<reason>")` inside function `function`.
    Decision { function: String, reason: String },
}

/// Every call, policy read and literal decision of a script.
pub(crate) fn uses(ast: &AST) -> Vec<Use> {
    // Nodes belong to the function whose body spans their position.
    let bodies: Vec<(String, Position, Position)> = ast
        .iter_fn_def()
        .map(|f| {
            (
                f.name.to_string(),
                f.body.start_position(),
                f.body.end_position(),
            )
        })
        .collect();
    let owner = |at: Position| {
        let key = |p: Position| (p.line().unwrap_or(0), p.position().unwrap_or(0));
        bodies
            .iter()
            .find(|(_, start, end)| key(*start) <= key(at) && key(at) <= key(*end))
            .map_or("", |(name, ..)| name.as_str())
    };
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(node) = path.last() {
            inspect(&owner, node, &mut found);
        }
        true
    });
    found
}

fn inspect<'a>(owner: &dyn Fn(Position) -> &'a str, node: &ASTNode, found: &mut Vec<Use>) {
    match node {
        ASTNode::Expr(Expr::FnCall(call, position))
        | ASTNode::Stmt(Stmt::FnCall(call, position)) => {
            if call.op_token.is_some() || !call.namespace.is_empty() {
                return;
            }
            let name = call.name.to_string();
            if matches!(name.as_str(), "approve" | "reject" | "review") {
                if let Some(Expr::StringConstant(reason, _)) = call.args.first() {
                    found.push(Use::Decision {
                        function: owner(*position).to_string(),
                        reason: reason.to_string(),
                    });
                }
            }
            let args = call
                .args
                .iter()
                .map(|a| match a {
                    Expr::Variable(v, _, _) => Some(v.1.to_string()),
                    _ => None,
                })
                .collect();
            found.push(Use::Pass {
                function: owner(*position).to_string(),
                callee: name.clone(),
                args,
            });
            found.push(Use::Call {
                name,
                arity: call.args.len(),
                position: *position,
            });
        }
        ASTNode::Stmt(Stmt::Import(_, position)) => found.push(Use::Import {
            position: *position,
        }),
        ASTNode::Expr(Expr::Dot(x, _, _)) => {
            // `a.b.c` is `a . (b . c)`: what is read on `a` is the head of the right side.
            let head = match &x.rhs {
                Expr::Dot(inner, _, _) => &inner.lhs,
                rhs => rhs,
            };
            let Expr::Variable(var, _, _) = &x.lhs else {
                if let Expr::MethodCall(call, position) = head {
                    found.push(Use::MethodOn {
                        name: call.name.to_string(),
                        position: *position,
                    });
                }
                return;
            };
            let (name, arity, position) = match head {
                Expr::Property(prop, position) => (prop.2.to_string(), None, *position),
                Expr::MethodCall(call, position) => {
                    (call.name.to_string(), Some(call.args.len()), *position)
                }
                _ => return,
            };
            if var.1.as_str() == "policy" && arity.is_none() {
                found.push(Use::PolicyParam { name, position });
                return;
            }
            found.push(Use::Member {
                function: owner(position).to_string(),
                var: var.1.to_string(),
                name,
                arity,
                position,
            });
        }
        _ => {}
    }
}

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
