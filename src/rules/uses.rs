//! What a script uses, walked once from its syntax tree at load: the calls it makes, the
//! members it reads on its parameters, the policy parameters it reads, and the literal decisions
//! it returns. The static checks (`check`) and the reason catalogue read this list; nothing here
//! judges it.

use rhai::{ASTNode, Expr, Position, Stmt, AST};

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
