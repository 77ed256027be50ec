//! The values a lowered function computes with (the hook's arguments borrowed, never cloned),
//! the constants it takes from the script, and Rhai's built-in operators on them.

use std::sync::Arc;

use rhai::{Dynamic, ImmutableString, Token};

use crate::model::{Action, Creator, Decision, LedgerView, Post, Product, Sample, SampleRequest};

/// A value while a lowered function runs; the hook's arguments are borrowed.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(ImmutableString),
    Request(&'a Arc<SampleRequest>),
    Creator(&'a Arc<Creator>),
    Product(&'a Arc<Product>),
    Ledger(&'a LedgerView),
    Sample(&'a Arc<Sample>),
    Post(&'a Arc<Post>),
    Decision(Decision),
    Action(Action),
    Array(Vec<Val<'a>>),
}

impl Val<'_> {
    /// Which of Rhai's types the value is: two values of different kinds are never equal.
    fn kind(&self) -> u8 {
        match self {
            Val::Unit => 0,
            Val::Bool(_) => 1,
            Val::Int(_) => 2,
            Val::Float(_) => 3,
            Val::Str(_) => 4,
            Val::Request(_) => 5,
            Val::Creator(_) => 6,
            Val::Product(_) => 7,
            Val::Ledger(_) => 8,
            Val::Sample(_) => 9,
            Val::Post(_) => 10,
            Val::Decision(_) => 11,
            Val::Action(_) => 12,
            Val::Array(_) => 13,
        }
    }

    /// The value as Rhai holds it, for the hook's caller.
    pub(crate) fn into_dynamic(self) -> Dynamic {
        match self {
            Val::Unit => Dynamic::UNIT,
            Val::Bool(b) => Dynamic::from_bool(b),
            Val::Int(n) => Dynamic::from_int(n),
            Val::Float(x) => Dynamic::from_float(x),
            Val::Str(s) => Dynamic::from(s),
            Val::Request(r) => Dynamic::from(r.clone()),
            Val::Creator(c) => Dynamic::from(c.clone()),
            Val::Product(p) => Dynamic::from(p.clone()),
            Val::Ledger(l) => Dynamic::from(l.clone()),
            Val::Sample(s) => Dynamic::from(s.clone()),
            Val::Post(p) => Dynamic::from(p.clone()),
            Val::Decision(d) => Dynamic::from(d),
            Val::Action(a) => Dynamic::from(a),
            Val::Array(items) => {
                Dynamic::from_array(items.into_iter().map(Val::into_dynamic).collect())
            }
        }
    }
}

/// A constant of the script (a literal, or what Rhai's optimizer folded), where it is one
/// the lowered form knows.
pub(super) fn constant(value: &Dynamic) -> Option<Val<'static>> {
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

/// A hook's arguments, as Rhai takes them and as the lowered form borrows them.
pub(crate) trait HookArgs: rhai::FuncArgs + Clone {
    fn vals(&self) -> Vec<Val<'_>>;
}

/// A frame that starts with the hook's arguments, with room for its locals and calls.
pub(super) fn frame<'a, const N: usize>(args: [Val<'a>; N]) -> Vec<Val<'a>> {
    let mut frame = Vec::with_capacity(16);
    frame.extend(args);
    frame
}

impl HookArgs for (Arc<SampleRequest>, Arc<Creator>, Arc<Product>, LedgerView) {
    fn vals(&self) -> Vec<Val<'_>> {
        frame([
            Val::Request(&self.0),
            Val::Creator(&self.1),
            Val::Product(&self.2),
            Val::Ledger(&self.3),
        ])
    }
}

impl HookArgs for (Arc<Creator>, LedgerView) {
    fn vals(&self) -> Vec<Val<'_>> {
        frame([Val::Creator(&self.0), Val::Ledger(&self.1)])
    }
}

impl HookArgs for (Arc<Post>, Arc<Sample>) {
    fn vals(&self) -> Vec<Val<'_>> {
        frame([Val::Post(&self.0), Val::Sample(&self.1)])
    }
}

impl HookArgs for (ImmutableString, Arc<Sample>) {
    fn vals(&self) -> Vec<Val<'_>> {
        frame([Val::Str(self.0.clone()), Val::Sample(&self.1)])
    }
}

impl HookArgs for (Arc<Sample>, LedgerView) {
    fn vals(&self) -> Vec<Val<'_>> {
        frame([Val::Sample(&self.0), Val::Ledger(&self.1)])
    }
}

/// A binary operator with Rhai's built-in meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl Op {
    pub(super) fn of(token: &Token) -> Option<Op> {
        Some(match token {
            Token::EqualsTo => Op::Eq,
            Token::NotEqualsTo => Op::Ne,
            Token::LessThan => Op::Lt,
            Token::LessThanEqualsTo => Op::Le,
            Token::GreaterThan => Op::Gt,
            Token::GreaterThanEqualsTo => Op::Ge,
            Token::Plus => Op::Add,
            Token::Minus => Op::Sub,
            Token::Multiply => Op::Mul,
            Token::Divide => Op::Div,
            Token::Modulo => Op::Rem,
            _ => return None,
        })
    }

    fn compares(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    /// `a op b` as Rhai's built-in operators give it; `None` where Rhai would raise an error
    /// (overflow, division by zero) or look for a function the lowered form does not know.
    pub(super) fn apply<'a>(self, a: &Val<'a>, b: &Val<'a>) -> Option<Val<'a>> {
        let ordered = |o: std::cmp::Ordering| {
            use std::cmp::Ordering::*;
            let answer = match self {
                Op::Eq => o == Equal,
                Op::Ne => o != Equal,
                Op::Lt => o == Less,
                Op::Le => o != Greater,
                Op::Gt => o == Greater,
                Op::Ge => o != Less,
                _ => return None,
            };
            Some(Val::Bool(answer))
        };
        match (a, b) {
            (Val::Int(x), Val::Int(y)) => {
                let (x, y) = (*x, *y);
                match self {
                    Op::Add => x.checked_add(y).map(Val::Int),
                    Op::Sub => x.checked_sub(y).map(Val::Int),
                    Op::Mul => x.checked_mul(y).map(Val::Int),
                    Op::Div => x.checked_div(y).map(Val::Int),
                    Op::Rem => x.checked_rem(y).map(Val::Int),
                    _ => ordered(x.cmp(&y)),
                }
            }
            (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
                let float = |v: &Val| match v {
                    Val::Int(n) => *n as f64,
                    Val::Float(x) => *x,
                    _ => 0.0,
                };
                Some(self.floats(float(a), float(b)))
            }
            (Val::Str(x), Val::Str(y)) if self.compares() => ordered(x.as_str().cmp(y.as_str())),
            (Val::Bool(x), Val::Bool(y)) if self.compares() => ordered(x.cmp(y)),
            (Val::Unit, Val::Unit) if self.compares() => Some(Val::Bool(self == Op::Eq)),
            // Two different types (not both numbers): never equal, never ordered.
            _ if self.compares() && a.kind() != b.kind() => Some(Val::Bool(self == Op::Ne)),
            _ => None,
        }
    }

    /// Float arithmetic, and comparisons within Rhai's relative epsilon.
    fn floats(self, x: f64, y: f64) -> Val<'static> {
        // The scale that Rhai's checked build compares a difference against.
        let max = if x * y == 0.0 {
            1.0
        } else {
            x.abs().max(y.abs())
        };
        let eps = f64::EPSILON;
        match self {
            Op::Add => Val::Float(x + y),
            Op::Sub => Val::Float(x - y),
            Op::Mul => Val::Float(x * y),
            Op::Div => Val::Float(x / y),
            Op::Rem => Val::Float(x % y),
            Op::Eq => Val::Bool(max == 0.0 || (x - y).abs() / max <= eps),
            Op::Ne => Val::Bool(max != 0.0 && (x - y).abs() / max > eps),
            Op::Gt => Val::Bool(max != 0.0 && (x - y) / max > eps),
            Op::Ge => Val::Bool(max == 0.0 || (x - y) / max > -eps),
            Op::Lt => Val::Bool(max != 0.0 && (y - x) / max > eps),
            Op::Le => Val::Bool(max == 0.0 || (y - x) / max > -eps),
        }
    }
}
