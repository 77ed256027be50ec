//! The lowered tree, and lowering a script function into it: a function outside the subset
//! is refused whole and stays with Rhai.

use rhai::{ASTFlags, Dynamic, Expr, FnCallExpr, ImmutableString, Stmt, StmtBlock, Token};

use super::value::{Native, Op, Prop, Val};
use super::Lowered;
use crate::model::{Action, Decision};

/// A constant of the script (a literal, or what Rhai's optimizer folded), where it is one
/// the lowered form knows.
fn constant(value: &Dynamic) -> Option<Val<'static>> {
    if value.is_unit() {
        return Some(Val::Unit);
    }
    if let Ok(b) = value.as_bool() {
        return Some(Val::Bool(b));
    }
    if let Ok(n) = value.as_int() {
        return Some(Val::Int(n));
    }
    if let Ok(x) = value.as_float() {
        return Some(Val::Float(x));
    }
    if value.is_string() {
        return value.clone().into_immutable_string().ok().map(Val::Str);
    }
    if let Some(d) = value.read_lock::<Decision>() {
        return Some(Val::Decision(d.clone()));
    }
    if let Some(a) = value.read_lock::<Action>() {
        return Some(Val::Action(a.clone()));
    }
    if value.is_array() {
        let items = value.read_lock::<rhai::Array>()?;
        return items
            .iter()
            .map(constant)
            .collect::<Option<_>>()
            .map(Val::Array);
    }
    None
}

/// A lowered expression or statement.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Const(Val<'static>),
    /// A parameter or `let` of the running function, by its place in the frame.
    Local(usize),
    Get(Box<Node>, Prop),
    /// A property of a local (`creator.followers`): read in place.
    GetLocal(usize, Prop),
    Native(Native, Box<[Node]>),
    /// A script function, by its index.
    Script(usize, Box<[Node]>),
    Binary(Op, Box<(Node, Node)>),
    Not(Box<Node>),
    Neg(Box<Node>),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Coalesce(Box<[Node]>),
    Array(Box<[Node]>),
    /// `list.push(x)` of a local array.
    Push(usize, Box<Node>),
    If(Box<(Node, Block, Block)>),
    Block(Block),
    /// `let`: the value joins the frame until its block ends.
    Let(Box<Node>),
    Return(Box<Node>),
    /// What Rhai would answer with an error (an unknown variable or property, `throw`): run
    /// the call on Rhai.
    Bail,
}

/// Statements; the value of the last is the block's.
#[derive(Debug, Clone)]
pub(super) struct Block(pub(super) Box<[Node]>);

#[derive(Debug, Clone)]
pub(super) struct Function {
    pub(super) params: usize,
    pub(super) body: Block,
}

/// Why a function stays with Rhai.
#[derive(Debug)]
pub(super) struct Unsupported;

pub(super) type Lowering<T> = Result<T, Unsupported>;

/// Names in scope while a function body is lowered, parameters first.
pub(super) struct Scope<'l> {
    pub(super) lowered: &'l Lowered,
    pub(super) names: Vec<ImmutableString>,
}

impl Scope<'_> {
    fn block(&mut self, block: &StmtBlock) -> Lowering<Block> {
        self.statements(block.statements())
    }

    pub(super) fn statements(&mut self, statements: &[Stmt]) -> Lowering<Block> {
        let depth = self.names.len();
        let nodes = statements
            .iter()
            .map(|s| self.stmt(s))
            .collect::<Lowering<Vec<_>>>();
        self.names.truncate(depth);
        Ok(Block(nodes?.into()))
    }

    fn stmt(&mut self, stmt: &Stmt) -> Lowering<Node> {
        Ok(match stmt {
            Stmt::Noop(_) => Node::Const(Val::Unit),
            Stmt::If(flow, _) => Node::If(Box::new((
                self.expr(&flow.expr)?,
                self.block(&flow.body)?,
                self.block(&flow.branch)?,
            ))),
            Stmt::Var(var, flags, _) if !flags.contains(ASTFlags::EXPORTED) => {
                let value = self.expr(&var.1)?;
                self.names.push(var.0.name.clone());
                Node::Let(Box::new(value))
            }
            Stmt::Expr(e) => self.expr(e)?,
            Stmt::FnCall(call, _) => self.call(call)?,
            Stmt::Block(block) => Node::Block(self.block(block)?),
            // `throw` raises an error: Rhai's to give.
            Stmt::Return(_, flags, _) if flags.contains(ASTFlags::BREAK) => Node::Bail,
            Stmt::Return(value, _, _) => Node::Return(Box::new(match value {
                Some(e) => self.expr(e)?,
                None => Node::Const(Val::Unit),
            })),
            _ => return Err(Unsupported),
        })
    }

    fn local(&self, name: &str) -> Option<usize> {
        self.names.iter().rposition(|n| n.as_str() == name)
    }

    /// A call's arguments. Each is pushed on the frame as it is computed, so a `let` inside a
    /// later one (`f(a, { let x = ..; x })`) has its place after them: nameless places keep
    /// the count.
    fn operands(&mut self, first: Option<Node>, rest: &[Expr]) -> Lowering<Box<[Node]>> {
        let depth = self.names.len();
        let mut nodes = Vec::with_capacity(rest.len() + 1);
        if let Some(first) = first {
            nodes.push(first);
            self.names.push(ImmutableString::new());
        }
        for e in rest {
            let node = self.expr(e);
            match node {
                Ok(node) => nodes.push(node),
                Err(e) => {
                    self.names.truncate(depth);
                    return Err(e);
                }
            }
            self.names.push(ImmutableString::new());
        }
        self.names.truncate(depth);
        Ok(nodes.into())
    }

    fn exprs(&mut self, exprs: &[Expr]) -> Lowering<Box<[Node]>> {
        exprs.iter().map(|e| self.expr(e)).collect()
    }

    fn expr(&mut self, expr: &Expr) -> Lowering<Node> {
        Ok(match expr {
            Expr::DynamicConstant(value, _) => Node::Const(constant(value).ok_or(Unsupported)?),
            Expr::BoolConstant(b, _) => Node::Const(Val::Bool(*b)),
            Expr::IntegerConstant(n, _) => Node::Const(Val::Int(*n)),
            Expr::FloatConstant(x, _) => Node::Const(Val::Float(**x)),
            Expr::StringConstant(s, _) => Node::Const(Val::Str(s.clone())),
            Expr::Unit(_) => Node::Const(Val::Unit),
            Expr::Array(items, _) => Node::Array(self.exprs(items)?),
            Expr::Variable(var, _, _) if var.2.is_empty() => {
                self.local(&var.1).map_or(Node::Bail, Node::Local)
            }
            Expr::Stmt(block) => Node::Block(self.block(block)?),
            Expr::FnCall(call, _) => self.call(call)?,
            Expr::Dot(chain, flags, _) if !flags.contains(ASTFlags::NEGATED) => {
                self.dot(&chain.lhs, &chain.rhs)?
            }
            Expr::And(items, _) => Node::And(self.exprs(items)?),
            Expr::Or(items, _) => Node::Or(self.exprs(items)?),
            Expr::Coalesce(items, _) => Node::Coalesce(self.exprs(items)?),
            _ => return Err(Unsupported),
        })
    }

    /// `lhs.rhs`: a property, a method, a chain of them, a local array's `push`, or a constant
    /// map's entry (a policy read the optimizer left).
    fn dot(&mut self, lhs: &Expr, rhs: &Expr) -> Lowering<Node> {
        if let (Expr::Variable(var, _, _), Expr::MethodCall(call, _)) = (lhs, rhs) {
            if call.name == "push" && call.args.len() == 1 && var.2.is_empty() {
                let slot = self.local(&var.1).ok_or(Unsupported)?;
                if self.lowered.position(&call.name, 2).is_some() {
                    return Err(Unsupported);
                }
                return Ok(Node::Push(slot, Box::new(self.expr(&call.args[0])?)));
            }
        }
        if let (Expr::DynamicConstant(map, _), Expr::Property(prop, _)) = (lhs, rhs) {
            if let Some(map) = map.read_lock::<rhai::Map>() {
                return Ok(match map.get(prop.2.as_str()) {
                    Some(value) => Node::Const(constant(value).ok_or(Unsupported)?),
                    None => Node::Bail,
                });
            }
        }
        let base = self.expr(lhs)?;
        self.chain(base, rhs)
    }

    fn chain(&mut self, base: Node, rhs: &Expr) -> Lowering<Node> {
        match rhs {
            Expr::Property(prop, _) => Ok(match (Prop::named(prop.2.as_str()), base) {
                (Some(p), Node::Local(slot)) => Node::GetLocal(slot, p),
                (Some(p), base) => Node::Get(Box::new(base), p),
                (None, _) => Node::Bail,
            }),
            Expr::MethodCall(call, _) => {
                let arity = call.args.len() + 1;
                // A script function called as a method binds `this`: Rhai's to run.
                if self.lowered.position(&call.name, arity).is_some() || !call.namespace.is_empty()
                {
                    return Err(Unsupported);
                }
                let native = Native::named(&call.name, arity).ok_or(Unsupported)?;
                Ok(Node::Native(native, self.operands(Some(base), &call.args)?))
            }
            Expr::Dot(chain, flags, _) if !flags.contains(ASTFlags::NEGATED) => {
                let inner = self.chain(base, &chain.lhs)?;
                self.chain(inner, &chain.rhs)
            }
            _ => Err(Unsupported),
        }
    }

    fn call(&mut self, call: &FnCallExpr) -> Lowering<Node> {
        if !call.namespace.is_empty() || call.capture_parent_scope {
            return Err(Unsupported);
        }
        if let Some(token) = &call.op_token {
            return match (token, &call.args[..]) {
                (Token::Bang, [x]) => Ok(Node::Not(Box::new(self.expr(x)?))),
                (Token::Minus | Token::UnaryMinus, [x]) => Ok(Node::Neg(Box::new(self.expr(x)?))),
                (token, [a, b]) => {
                    let op = Op::of(token).ok_or(Unsupported)?;
                    Ok(Node::Binary(op, Box::new((self.expr(a)?, self.expr(b)?))))
                }
                _ => Err(Unsupported),
            };
        }
        let arity = call.args.len();
        // Script functions come before registered ones, as Rhai resolves them.
        if let Some(i) = self.lowered.position(&call.name, arity) {
            return Ok(Node::Script(i, self.operands(None, &call.args)?));
        }
        let native = Native::named(&call.name, arity).ok_or(Unsupported)?;
        Ok(Node::Native(native, self.operands(None, &call.args)?))
    }
}
