//! Running a lowered function: the walk of the tree with its frame of values, its budget of
//! nodes, and a bail-out to Rhai wherever the answer might differ from Rhai's.

use super::tree::{Block, Node};
use super::value::{get, Val};
use super::Lowered;

/// Why a lowered run stopped early.
pub(super) enum Stop<'a> {
    Return(Val<'a>),
    /// Not sure of Rhai's answer: run the call on Rhai.
    Bail,
}

pub(super) type Step<'a> = Result<Val<'a>, Stop<'a>>;

pub(super) struct Run<'l, 'a> {
    pub(super) lowered: &'l Lowered,
    pub(super) frame: Vec<Val<'a>>,
    /// Where the running function's parameters start in the frame.
    pub(super) base: usize,
    pub(super) ops: u64,
    pub(super) max_ops: u64,
    pub(super) depth: usize,
    pub(super) max_depth: usize,
    /// Arrays and strings this large run on Rhai, which checks its own size limits.
    pub(super) max_array: usize,
    pub(super) max_string: usize,
}

impl<'a> Run<'_, 'a> {
    /// Runs function `i` on the arguments at the top of the frame.
    pub(super) fn function(&mut self, i: usize) -> Step<'a> {
        let lowered = self.lowered;
        let Some(Some(f)) = lowered.functions.get(i) else {
            return Err(Stop::Bail);
        };
        debug_assert!(self.frame.len() >= self.base + f.params);
        match self.block(&f.body) {
            Ok(v) | Err(Stop::Return(v)) => Ok(v),
            Err(Stop::Bail) => Err(Stop::Bail),
        }
    }

    fn tick(&mut self) -> Result<(), Stop<'a>> {
        self.ops += 1;
        if self.ops > self.max_ops {
            return Err(Stop::Bail);
        }
        Ok(())
    }

    fn block(&mut self, block: &Block) -> Step<'a> {
        let depth = self.frame.len();
        let mut value = Val::Unit;
        for node in block.0.iter() {
            match self.eval(node) {
                Ok(v) => value = v,
                Err(stop) => {
                    self.frame.truncate(depth);
                    return Err(stop);
                }
            }
        }
        self.frame.truncate(depth);
        Ok(value)
    }

    /// A value a call returned, where it is well within Rhai's size limits.
    #[inline]
    fn sized(&self, value: Option<Val<'a>>) -> Step<'a> {
        match value {
            Some(Val::Str(s)) if s.len() >= self.max_string => Err(Stop::Bail),
            Some(Val::Array(items))
                if items.len() + 1 >= self.max_array
                    || items.iter().any(nested)
                    || items
                        .iter()
                        .map(|i| match i {
                            Val::Str(s) => s.len(),
                            _ => 0,
                        })
                        .sum::<usize>()
                        >= self.max_string =>
            {
                Err(Stop::Bail)
            }
            Some(v) => Ok(v),
            None => Err(Stop::Bail),
        }
    }

    fn bool(&mut self, node: &Node) -> Result<bool, Stop<'a>> {
        match self.eval(node)? {
            Val::Bool(b) => Ok(b),
            _ => Err(Stop::Bail),
        }
    }

    fn eval(&mut self, node: &Node) -> Step<'a> {
        self.tick()?;
        Ok(match node {
            Node::Const(v) => v.clone(),
            Node::Local(i) => self.frame.get(self.base + i).cloned().ok_or(Stop::Bail)?,
            Node::Get(of, prop) => {
                let of = self.eval(of)?;
                self.sized(get(&of, *prop))?
            }
            Node::GetLocal(slot, prop) => {
                let of = self.frame.get(self.base + slot).ok_or(Stop::Bail)?;
                let value = get(of, *prop);
                self.sized(value)?
            }
            Node::Native(native, args) => {
                // The arguments go on the frame for the call (no allocation per call).
                let start = self.frame.len();
                for a in args.iter() {
                    match self.eval(a) {
                        Ok(v) => self.frame.push(v),
                        Err(stop) => {
                            self.frame.truncate(start);
                            return Err(stop);
                        }
                    }
                }
                let out = native.call(&self.frame[start..]);
                self.frame.truncate(start);
                self.sized(out)?
            }
            Node::Script(i, args) => {
                if self.depth >= self.max_depth {
                    return Err(Stop::Bail);
                }
                let base = self.frame.len();
                for a in args.iter() {
                    match self.eval(a) {
                        Ok(v) => self.frame.push(v),
                        Err(stop) => {
                            self.frame.truncate(base);
                            return Err(stop);
                        }
                    }
                }
                let (outer, depth) = (self.base, self.depth);
                self.base = base;
                self.depth += 1;
                let out = self.function(*i);
                self.base = outer;
                self.depth = depth;
                self.frame.truncate(base);
                out?
            }
            Node::Binary(op, operands) => {
                let a = self.eval(&operands.0)?;
                let b = self.eval(&operands.1)?;
                op.apply(&a, &b).ok_or(Stop::Bail)?
            }
            Node::Not(x) => match self.eval(x)? {
                Val::Bool(b) => Val::Bool(!b),
                _ => return Err(Stop::Bail),
            },
            Node::Neg(x) => match self.eval(x)? {
                Val::Int(n) => Val::Int(n.checked_neg().ok_or(Stop::Bail)?),
                Val::Float(x) => Val::Float(-x),
                _ => return Err(Stop::Bail),
            },
            Node::And(items) => {
                for item in items.iter() {
                    if !self.bool(item)? {
                        return Ok(Val::Bool(false));
                    }
                }
                Val::Bool(true)
            }
            Node::Or(items) => {
                for item in items.iter() {
                    if self.bool(item)? {
                        return Ok(Val::Bool(true));
                    }
                }
                Val::Bool(false)
            }
            Node::Coalesce(items) => {
                let mut value = Val::Unit;
                for item in items.iter() {
                    value = self.eval(item)?;
                    if !matches!(value, Val::Unit) {
                        break;
                    }
                }
                value
            }
            Node::Array(items) => {
                let items = items
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<_, _>>()?;
                self.sized(Some(Val::Array(items)))?
            }
            Node::Push(slot, item) => {
                let item = self.eval(item)?;
                let max = self.max_array;
                match self.frame.get_mut(self.base + slot) {
                    Some(Val::Array(items)) if items.len() + 1 < max && !nested(&item) => {
                        items.push(item);
                        Val::Unit
                    }
                    _ => return Err(Stop::Bail),
                }
            }
            Node::If(parts) => {
                let (condition, then, otherwise) = &**parts;
                if self.bool(condition)? {
                    self.block(then)?
                } else {
                    self.block(otherwise)?
                }
            }
            Node::Block(block) => self.block(block)?,
            Node::Let(value) => {
                let v = self.eval(value)?;
                self.frame.push(v);
                Val::Unit
            }
            Node::Return(value) => return Err(Stop::Return(self.eval(value)?)),
            Node::Bail => return Err(Stop::Bail),
        })
    }
}

/// Arrays inside arrays count toward Rhai's size limits in ways the lowered form leaves to Rhai.
pub(super) fn nested(v: &Val) -> bool {
    matches!(v, Val::Array(_))
}
