//! The values a lowered function computes with (the hook's arguments borrowed, never cloned),
//! Rhai's built-in operators on them, and the registered types' properties and functions as
//! `rules/types.rs` gives them: the vocabulary both the lowering (`tree`) and the walk (`run`)
//! speak.

use std::sync::Arc;

use rhai::{Dynamic, ImmutableString, Token};

use crate::model::{
    Action, Creator, Decision, LedgerView, Post, Product, Sample, SampleRequest, Verdict, DAY,
};

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

/// A property of one of the registered types (`rules/types.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prop {
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
    pub(super) fn named(name: &str) -> Option<Prop> {
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

pub(super) fn opt(v: Option<f64>) -> Val<'static> {
    v.map_or(Val::Unit, Val::Float)
}

pub(super) fn text<'a>(s: &ImmutableString) -> Val<'a> {
    Val::Str(s.clone())
}

/// A property read as the getters of `rules/types.rs` give it; `None` where Rhai has no getter.
pub(super) fn get<'a>(value: &Val<'a>, prop: Prop) -> Option<Val<'a>> {
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
pub(super) enum Native {
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
    pub(super) fn named(name: &str, arity: usize) -> Option<Native> {
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
    pub(super) fn call<'a>(self, args: &[Val<'a>]) -> Option<Val<'a>> {
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
