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
//! types being false. `tests` below and `tests/rules.rs` hold the two paths to the same answers.

use std::sync::Arc;

use rhai::{ASTFlags, Dynamic, Expr, FnCallExpr, ImmutableString, Stmt, StmtBlock, Token, AST};

use super::Limits;
use crate::model::{
    Action, Creator, Decision, LedgerView, Post, Product, Request, Sample, Verdict, DAY,
};

/// A value while a lowered function runs; the hook's arguments are borrowed.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(ImmutableString),
    Request(&'a Arc<Request>),
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

/// A hook's arguments, as Rhai takes them and as the lowered form borrows them.
pub(crate) trait HookArgs: rhai::FuncArgs + Clone {
    fn vals(&self) -> Vec<Val<'_>>;
}

/// A frame that starts with the hook's arguments, with room for its locals and calls.
fn frame<'a, const N: usize>(args: [Val<'a>; N]) -> Vec<Val<'a>> {
    let mut frame = Vec::with_capacity(16);
    frame.extend(args);
    frame
}

impl HookArgs for (Arc<Request>, Arc<Creator>, Arc<Product>, LedgerView) {
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

/// A property of one of the registered types (`rules/types.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prop {
    Sample,
    Quantity,
    AutoApprovalsToday,
    Tier,
    At,
    Id,
    Followers,
    EngagementRate,
    Posts30d,
    Gmv30d,
    AvgVideoViews,
    FulfillmentRate90d,
    FulfillmentKnown,
    TopCategories,
    Category,
    Price,
    UnitCost,
    Samples,
    Completed,
    Credit,
    Gmv,
    Blocked,
    PaidCollabInvited,
    Quarter,
    ContentId,
    Format,
    HasProductLink,
    HasAdDisclosure,
    LiveMinutes,
    State,
    Creator,
    Product,
    Cost,
    Deposit,
    KeepUpContent,
    Decision,
    Reason,
    Type,
}

impl Prop {
    fn named(name: &str) -> Option<Prop> {
        Some(match name {
            "sample" => Prop::Sample,
            "quantity" => Prop::Quantity,
            "auto_approvals_today" => Prop::AutoApprovalsToday,
            "tier" => Prop::Tier,
            "at" => Prop::At,
            "id" => Prop::Id,
            "followers" => Prop::Followers,
            "engagement_rate" => Prop::EngagementRate,
            "posts_30d" => Prop::Posts30d,
            "gmv_30d" => Prop::Gmv30d,
            "avg_video_views" => Prop::AvgVideoViews,
            "fulfillment_rate_90d" => Prop::FulfillmentRate90d,
            "fulfillment_known" => Prop::FulfillmentKnown,
            "top_categories" => Prop::TopCategories,
            "category" => Prop::Category,
            "price" => Prop::Price,
            "unit_cost" => Prop::UnitCost,
            "samples" => Prop::Samples,
            "completed" => Prop::Completed,
            "credit" => Prop::Credit,
            "gmv" => Prop::Gmv,
            "blocked" => Prop::Blocked,
            "paid_collab_invited" => Prop::PaidCollabInvited,
            "quarter" => Prop::Quarter,
            "content_id" => Prop::ContentId,
            "format" => Prop::Format,
            "has_product_link" => Prop::HasProductLink,
            "has_ad_disclosure" => Prop::HasAdDisclosure,
            "live_minutes" => Prop::LiveMinutes,
            "state" => Prop::State,
            "creator" => Prop::Creator,
            "product" => Prop::Product,
            "cost" => Prop::Cost,
            "deposit" => Prop::Deposit,
            "keep_up_content" => Prop::KeepUpContent,
            "decision" => Prop::Decision,
            "reason" => Prop::Reason,
            "type" => Prop::Type,
            _ => return None,
        })
    }
}

fn opt(v: Option<f64>) -> Val<'static> {
    v.map_or(Val::Unit, Val::Float)
}

fn text<'a>(s: &ImmutableString) -> Val<'a> {
    Val::Str(s.clone())
}

/// A property read as the getters of `rules/types.rs` give it; `None` where Rhai has no getter.
fn get<'a>(value: &Val<'a>, prop: Prop) -> Option<Val<'a>> {
    use Prop as P;
    Some(match (value, prop) {
        (Val::Request(r), P::Sample) => text(&r.sample),
        (Val::Request(r), P::Quantity) => Val::Int(r.quantity),
        (Val::Request(r), P::AutoApprovalsToday) => Val::Int(r.auto_approvals_today),
        (Val::Request(r), P::Tier) => text(&r.tier),
        (Val::Request(r), P::At) => Val::Str(r.at.to_rfc3339().into()),
        (Val::Creator(c), P::Id) => text(&c.id),
        (Val::Creator(c), P::Followers) => Val::Int(c.followers),
        (Val::Creator(c), P::EngagementRate) => Val::Float(c.engagement_rate),
        (Val::Creator(c), P::Posts30d) => Val::Int(c.posts_30d),
        (Val::Creator(c), P::Gmv30d) => opt(c.gmv_30d),
        (Val::Creator(c), P::AvgVideoViews) => opt(c.avg_video_views),
        (Val::Creator(c), P::FulfillmentRate90d) => opt(c.fulfillment_rate_90d),
        (Val::Creator(c), P::FulfillmentKnown) => Val::Bool(c.fulfillment_rate_90d.is_some()),
        (Val::Creator(c), P::TopCategories) => {
            Val::Array(c.top_categories.iter().map(text).collect())
        }
        (Val::Product(p), P::Id) => text(&p.id),
        (Val::Product(p), P::Category) => text(&p.category),
        (Val::Product(p), P::Price) => Val::Float(p.price),
        (Val::Product(p), P::UnitCost) => Val::Float(p.unit_cost),
        (Val::Ledger(l), P::Samples) => Val::Int(l.ledger.samples),
        (Val::Ledger(l), P::Completed) => Val::Int(l.ledger.completed),
        (Val::Ledger(l), P::Credit) => Val::Float(l.ledger.credit),
        (Val::Ledger(l), P::Gmv) => Val::Float(l.ledger.gmv),
        (Val::Ledger(l), P::Blocked) => Val::Bool(l.blocked()),
        (Val::Ledger(l), P::PaidCollabInvited) => Val::Bool(l.ledger.paid_collab_invited),
        (Val::Ledger(l), P::Tier) => l
            .ledger
            .tier
            .as_deref()
            .map_or(Val::Unit, |t| Val::Str(t.into())),
        (Val::Ledger(l), P::Quarter) => Val::Str(l.quarter.to_string().into()),
        (Val::Post(p), P::ContentId) => text(&p.content_id),
        (Val::Post(p), P::Format) => text(&p.format),
        (Val::Post(p), P::HasProductLink) => Val::Bool(p.has_product_link),
        (Val::Post(p), P::HasAdDisclosure) => Val::Bool(p.has_ad_disclosure),
        (Val::Post(p), P::LiveMinutes) => opt(p.live_minutes),
        (Val::Sample(s), P::Id) => text(&s.id),
        (Val::Sample(s), P::State) => text(&s.state),
        (Val::Sample(s), P::Creator) => text(&s.creator),
        (Val::Sample(s), P::Product) => text(&s.product),
        (Val::Sample(s), P::Category) => text(&s.category),
        (Val::Sample(s), P::Quantity) => Val::Int(s.quantity),
        (Val::Sample(s), P::Cost) => Val::Float(s.cost),
        (Val::Sample(s), P::Gmv) => Val::Float(s.gmv),
        (Val::Sample(s), P::Deposit) => opt(s.deposit),
        (Val::Sample(s), P::KeepUpContent) => s.keep_up_content.as_ref().map_or(Val::Unit, text),
        (Val::Decision(d), P::Decision) => Val::Str(d.verdict.as_str().into()),
        (Val::Decision(d), P::Reason) => Val::Str(d.reason.clone()),
        (Val::Action(a), P::Type) => Val::Str(a.kind().into()),
        _ => return None,
    })
}

/// A registered function (method or not) that the lowered form calls directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Native {
    Approve,
    Reject,
    Review,
    RequireDeposit,
    Penalize,
    BlockCreator,
    InvitePaidCollab,
    FlagDisclosure,
    RemindCreator,
    Days,
    Hours,
    HasTopCategory,
    HasFlag,
    BreachesWithin,
    HasProduct,
    CancelledWithin,
    ApprovalsThisQuarter,
    Contains,
}

impl Native {
    /// The function of that name and number of arguments (a method's object counts).
    fn named(name: &str, arity: usize) -> Option<Native> {
        Some(match (name, arity) {
            ("approve", 1) => Native::Approve,
            ("reject", 1) => Native::Reject,
            ("review", 1) => Native::Review,
            ("require_deposit", 1) => Native::RequireDeposit,
            ("penalize", 1) => Native::Penalize,
            ("block_creator", 1) => Native::BlockCreator,
            ("invite_paid_collab", 0) => Native::InvitePaidCollab,
            ("flag_disclosure", 0) => Native::FlagDisclosure,
            ("remind_creator", 0) => Native::RemindCreator,
            ("days", 1) => Native::Days,
            ("hours", 1) => Native::Hours,
            ("has_top_category", 2) => Native::HasTopCategory,
            ("has_flag", 2) => Native::HasFlag,
            ("breaches_within", 2) => Native::BreachesWithin,
            ("has_product", 2) => Native::HasProduct,
            ("cancelled_within", 3) => Native::CancelledWithin,
            ("approvals_this_quarter", 2) => Native::ApprovalsThisQuarter,
            ("contains", 2) => Native::Contains,
            _ => return None,
        })
    }

    /// The call, as `rules/types.rs` (or Rhai's own `contains` of a string) answers it; `None`
    /// where Rhai would refuse the arguments or raise an error.
    fn call<'a>(self, args: &[Val<'a>]) -> Option<Val<'a>> {
        use Native as N;
        let decide = |verdict, reason: &ImmutableString| {
            Val::Decision(Decision {
                verdict,
                reason: reason.clone(),
            })
        };
        Some(match (self, args) {
            (N::Approve, [Val::Str(r)]) => decide(Verdict::Approve, r),
            (N::Reject, [Val::Str(r)]) => decide(Verdict::Reject, r),
            (N::Review, [Val::Str(r)]) => decide(Verdict::Review, r),
            (N::RequireDeposit, [amount]) => {
                let amount = match amount {
                    Val::Float(x) => *x,
                    Val::Int(n) => *n as f64,
                    _ => return None,
                };
                (0.0..=1e9)
                    .contains(&amount)
                    .then_some(Val::Action(Action::RequireDeposit { amount }))?
            }
            (N::Penalize, [Val::Int(credit)]) => (-1_000_000..=1_000_000)
                .contains(credit)
                .then_some(Val::Action(Action::Penalize { credit: *credit }))?,
            (N::BlockCreator, [Val::Int(days)]) => (0..=36_500)
                .contains(days)
                .then_some(Val::Action(Action::BlockCreator { days: *days }))?,
            (N::InvitePaidCollab, []) => Val::Action(Action::InvitePaidCollab),
            (N::FlagDisclosure, []) => Val::Action(Action::FlagDisclosure),
            (N::RemindCreator, []) => Val::Action(Action::RemindCreator),
            (N::Days, [Val::Int(n)]) => Val::Int(n.saturating_mul(DAY)),
            (N::Hours, [Val::Int(n)]) => Val::Int(n.saturating_mul(3_600)),
            (N::HasTopCategory, [Val::Creator(c), Val::Str(cat)]) => {
                Val::Bool(c.top_categories.iter().any(|t| t == cat))
            }
            (N::HasFlag, [Val::Product(p), Val::Str(flag)]) => {
                Val::Bool(p.flags.iter().any(|f| f == flag))
            }
            (N::BreachesWithin, [Val::Ledger(l), Val::Int(secs)]) => {
                Val::Int(l.breaches_within(*secs))
            }
            (N::HasProduct, [Val::Ledger(l), Val::Str(p)]) => Val::Bool(l.has_product(p)),
            (N::CancelledWithin, [Val::Ledger(l), Val::Str(p), Val::Int(secs)]) => {
                Val::Bool(l.cancelled_within(p, *secs))
            }
            (N::ApprovalsThisQuarter, [Val::Ledger(l), Val::Str(cat)]) => {
                Val::Int(l.approvals_this_quarter(cat))
            }
            // `x in list`: the registered `contains` compares strings as strings, and an item
            // of any other type is not equal to a string.
            (N::Contains, [Val::Array(items), Val::Str(needle)]) => Val::Bool(
                items
                    .iter()
                    .any(|item| matches!(item, Val::Str(s) if s == needle)),
            ),
            (N::Contains, [Val::Str(hay), Val::Str(needle)]) => {
                Val::Bool(hay.contains(needle.as_str()))
            }
            _ => return None,
        })
    }
}

/// A binary operator with Rhai's built-in meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
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
    fn of(token: &Token) -> Option<Op> {
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
    fn apply<'a>(self, a: &Val<'a>, b: &Val<'a>) -> Option<Val<'a>> {
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

/// A lowered expression or statement.
#[derive(Debug, Clone)]
enum Node {
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
struct Block(Box<[Node]>);

#[derive(Debug, Clone)]
struct Function {
    params: usize,
    body: Block,
}

/// One category's merged script, as far as it lowers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lowered {
    /// Every script function; `None` where it stays with Rhai.
    functions: Vec<Option<Function>>,
    /// Each function's name and number of parameters, by index (a few: scanned, not hashed).
    index: Vec<(ImmutableString, usize)>,
}

/// Why a function stays with Rhai.
#[derive(Debug)]
struct Unsupported;

type Lowering<T> = Result<T, Unsupported>;

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

/// Names in scope while a function body is lowered, parameters first.
struct Scope<'l> {
    lowered: &'l Lowered,
    names: Vec<ImmutableString>,
}

impl Scope<'_> {
    fn block(&mut self, block: &StmtBlock) -> Lowering<Block> {
        self.statements(block.statements())
    }

    fn statements(&mut self, statements: &[Stmt]) -> Lowering<Block> {
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

/// Why a lowered run stopped early.
enum Stop<'a> {
    Return(Val<'a>),
    /// Not sure of Rhai's answer: run the call on Rhai.
    Bail,
}

type Step<'a> = Result<Val<'a>, Stop<'a>>;

struct Run<'l, 'a> {
    lowered: &'l Lowered,
    frame: Vec<Val<'a>>,
    /// Where the running function's parameters start in the frame.
    base: usize,
    ops: u64,
    max_ops: u64,
    depth: usize,
    max_depth: usize,
    /// Arrays and strings this large run on Rhai, which checks its own size limits.
    max_array: usize,
    max_string: usize,
}

impl<'a> Run<'_, 'a> {
    /// Runs function `i` on the arguments at the top of the frame.
    fn function(&mut self, i: usize) -> Step<'a> {
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
fn nested(v: &Val) -> bool {
    matches!(v, Val::Array(_))
}

/// Arrays grow on the lowered path only this far; a longer one runs on Rhai, under its limit.
const ARRAY_LIMIT: usize = 1_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> rhai::Engine {
        let mut engine = super::super::sandbox::engine(Limits::default());
        super::super::types::register(&mut engine);
        engine
    }

    /// The value of `f()` in `script`, lowered (`None` when it ran on neither) and on Rhai.
    fn both(script: &str) -> (Option<String>, Result<String, String>) {
        let engine = engine();
        let ast = engine.compile(script).unwrap();
        let ast = engine.optimize_ast(&rhai::Scope::new(), ast, rhai::OptimizationLevel::Full);
        let lowered = Lowered::new(&ast);
        let fast = lowered
            .call("f", vec![], &Limits::default())
            .map(|v| format!("{:?}", v.into_dynamic()));
        let slow = engine
            .call_fn::<Dynamic>(&mut rhai::Scope::new(), &ast, "f", ())
            .map(|v| format!("{v:?}"))
            .map_err(|e| e.to_string());
        (fast, slow)
    }

    /// Lowered, it gives Rhai's value.
    fn agrees(body: &str) {
        let script = format!("fn f() {{ {body} }} fn g(a, b) {{ let c = a; c + b }}");
        let (fast, slow) = both(&script);
        assert_eq!(fast.as_ref(), slow.as_ref().ok(), "{body}");
        assert!(fast.is_some(), "`{body}` did not run lowered");
    }

    /// Lowered, it bails out (Rhai raises an error or the subset stops short).
    fn bails(body: &str) {
        let (fast, _) = both(&format!("fn f() {{ {body} }}"));
        assert_eq!(fast, None, "{body}");
    }

    #[test]
    fn operators_mean_what_they_mean_in_rhai() {
        for e in [
            "1 + 2",
            "7 / 2",
            "-7 % 3",
            "1 < 2.5",
            "2.5 >= 2",
            "0.1 + 0.2 == 0.3",
            "1.0 == 1.0 + 1e-17",
            "0.0 == -0.0",
            "3 == 3.0",
            "\"a\" < \"b\"",
            "\"a\" == ()",
            "() == ()",
            "() != ()",
            "() < ()",
            "1 == \"1\"",
            "true != false",
            "false < true",
            "[1, 2] != 3",
            "\"x\" in [\"a\", 1, \"x\"]",
            "2 in [\"a\", 1, \"x\"] == false || true",
            "\"ell\" in \"hello\"",
            "\"x\" !in [\"a\"]",
            "!true",
            "-(5)",
            "() ?? 3",
            "true && 1 < 2 || false",
            "let a = 2; let a = a * 3; a",
            "if 1 > 2 { 1 } else if 2 > 1 { 2 } else { 3 }",
            "if false { 1 }",
            "{ let x = 1; x + 1 }",
            "let a = [penalize(-20)]; a.push(block_creator(90)); a",
            "approve(\"auto_approved\")",
            "review(\"x\").reason",
            "days(2) / hours(1)",
            "require_deposit(10)",
            "let y = 5; days({ let z = y; z }) + g(1, { let x = 2; x + y })",
            "let y = \"a\"; let a = [y]; a.push(review({ let q = y; q })); a",
        ] {
            agrees(e);
        }
    }

    #[test]
    fn what_rhai_refuses_runs_on_rhai() {
        for e in [
            "9223372036854775807 + 1",
            "1 / 0",
            "1 % 0",
            "-(-9223372036854775807 - 1)",
            "let x = 1; !x",
            "let x = 1; if x { 2 }",
            "approve(1)",
            "penalize(-2000000)",
            "block_creator(40000)",
            "require_deposit(-1)",
            "undefined_variable",
            "throw \"no\"",
            "(1).followers",
        ] {
            bails(e);
            let (_, slow) = both(&format!("fn f() {{ {e} }}"));
            assert!(slow.is_err(), "Rhai answers `{e}` with {slow:?}");
        }
    }

    #[test]
    fn what_the_subset_lacks_runs_on_rhai() {
        for (body, answer) in [
            ("let x = \"a\"; x + \"b\"", "\"ab\""),
            ("let a = [1]; a == [1]", "true"),
            ("let n = 0; for i in 0..3 { n = i; } n", "2"),
        ] {
            bails(body);
            let (_, slow) = both(&format!("fn f() {{ {body} }}"));
            assert_eq!(slow.as_deref(), Ok(answer));
        }
    }

    #[test]
    fn a_function_outside_the_subset_stays_with_rhai() {
        let engine = engine();
        let ast = engine
            .compile("fn f() { let x = 0; x += 1; x } fn g() { f() } fn h() { 1 }")
            .unwrap();
        let lowered = Lowered::new(&ast);
        assert!(!lowered.has("f", 0));
        assert!(lowered.has("g", 0), "a call of f bails at run time");
        assert!(lowered.has("h", 0));
        assert!(lowered.call("g", vec![], &Limits::default()).is_none());
    }

    #[test]
    fn deep_or_long_calls_run_on_rhai_which_faults() {
        let script = "fn f() { g(30) } fn g(n) { if n == 0 { 0 } else { g(n - 1) + g(n - 1) } }";
        let (fast, slow) = both(script);
        assert_eq!(fast, None);
        assert!(slow.is_err(), "{slow:?}");
        let (fast, slow) = both("fn f() { g(40) } fn g(n) { if n == 0 { 0 } else { g(n - 1) } }");
        assert_eq!(fast, None);
        assert!(slow.is_err(), "{slow:?}");
        // Shallow recursion stays lowered.
        let (fast, slow) =
            both("fn f() { g(10) } fn g(n) { if n == 0 { 0 } else { 1 + g(n - 1) } }");
        assert_eq!(fast.as_deref(), Some("10"));
        assert_eq!(slow.as_deref(), Ok("10"));
    }

    #[test]
    fn rhai_counts_at_most_ops_per_node_operations_for_each_lowered_node() {
        for script in [
            "fn f() { g(12) } fn g(n) { if n <= 0 { 1 } else { let a = [n, n * 2]; g(n - 1) + g(n - 2) } }",
            "fn f() { let x = [penalize(-1)]; if 1 < 2 && 2.0 >= 1 { x.push(flag_disclosure()); } x }",
            "fn f() { if \"a\" in [\"b\", \"c\", \"a\"] { return approve(\"y\") } reject(\"n\") }",
        ] {
            let engine = engine();
            let ast = engine.compile(script).unwrap();
            let lowered = Lowered::new(&ast);
            let mut run = Run {
                lowered: &lowered,
                frame: vec![],
                base: 0,
                ops: 0,
                max_ops: u64::MAX,
                depth: 1,
                max_depth: 30,
                max_array: ARRAY_LIMIT,
                max_string: usize::MAX,
            };
            let (i, _) = lowered.find("f", 0).unwrap();
            assert!(run.function(i).is_ok(), "{script}");
            let nodes = run.ops;
            let mut counting = rhai::Engine::new();
            counting.set_max_call_levels(64);
            super::super::types::register(&mut counting);
            let most = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let seen = most.clone();
            counting.on_progress(move |n| {
                seen.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
                None
            });
            let out = counting.call_fn::<Dynamic>(&mut rhai::Scope::new(), &ast, "f", ());
            assert!(out.is_ok(), "{out:?}");
            let ops = most.load(std::sync::atomic::Ordering::Relaxed);
            assert!(ops > 0 && ops <= nodes * OPS_PER_NODE, "{ops} operations, {nodes} nodes: {script}");
        }
    }
}
