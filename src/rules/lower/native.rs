//! The registered types as the lowered form reads them: their properties (as the getters of
//! `rules/types.rs` give them) and the functions it calls without Rhai.

use rhai::ImmutableString;

use super::value::Val;
use crate::model::{Action, Decision, Verdict, DAY};

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
