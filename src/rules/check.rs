//! Static checks of a compiled script: calls of functions that exist nowhere, and `policy.<name>`
//! reads of parameters that `policy.yaml` lacks. Rhai itself only finds these when the line runs.

use std::collections::HashSet;

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
    /// A function or method call by name.
    Call { name: String, position: Position },
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
            found.push(Use::Call {
                name,
                position: *position,
            });
        }
        ASTNode::Stmt(Stmt::Import(_, position)) => found.push(Use::Import {
            position: *position,
        }),
        ASTNode::Expr(Expr::MethodCall(call, position)) => found.push(Use::Call {
            name: call.name.to_string(),
            position: *position,
        }),
        ASTNode::Expr(Expr::Dot(x, _, _)) => {
            if let (Expr::Variable(var, _, _), Expr::Property(prop, position)) = (&x.lhs, &x.rhs) {
                if var.1.as_str() == "policy" {
                    found.push(Use::PolicyParam {
                        name: prop.2.to_string(),
                        position: *position,
                    });
                }
            }
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
