//! The policy's parameters: every number the shipped rules and workflows read, with its kind,
//! what it is for, and the typed value a policy gives it.

use std::fmt;

/// What a parameter holds, and what values are possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number, at least the bound.
    Count(i64),
    /// An amount in USD, at least 0.
    Money,
    /// A number within 0..=1.
    Rate,
    /// A length of time above zero: `7d`, `24h`, `1d12h`.
    Duration,
    /// A list of category names.
    Categories,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Count(0) => f.write_str("a whole number, at least 0"),
            Kind::Count(n) => write!(f, "a whole number, at least {n}"),
            Kind::Money => f.write_str("an amount in USD, at least 0"),
            Kind::Rate => f.write_str("a rate from 0 to 1"),
            Kind::Duration => f.write_str("a duration such as `7d` or `36h`"),
            Kind::Categories => f.write_str("a list of category names"),
        }
    }
}

/// One tunable parameter.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    /// Shop-wide parameters may be set in `default` only.
    pub shop_wide: bool,
    pub about: &'static str,
}

const fn param(name: &'static str, kind: Kind, about: &'static str) -> Param {
    Param {
        name,
        kind,
        shop_wide: false,
        about,
    }
}

/// Every parameter the shipped rules and workflows read; `default` must set them all.
pub const PARAMS: &[Param] = &[
    param(
        "restricted_categories",
        Kind::Categories,
        "categories that never get samples (row 1)",
    ),
    param(
        "breach_window",
        Kind::Duration,
        "a breach this recent rejects a request (row 3)",
    ),
    param(
        "cooldown",
        Kind::Duration,
        "after another cancellation, the same product waits this long (row 5)",
    ),
    param(
        "quarter_limit",
        Kind::Count(0),
        "approvals per creator, category and quarter (row 6)",
    ),
    param(
        "min_followers",
        Kind::Count(0),
        "the follower floor (row 7)",
    ),
    param(
        "min_fulfillment_rate",
        Kind::Rate,
        "a known 90-day fulfillment rate below this rejects (row 8)",
    ),
    param(
        "max_quantity",
        Kind::Count(1),
        "a larger quantity goes to review (row 11)",
    ),
    param(
        "price_cap",
        Kind::Money,
        "a unit price above this goes to review (row 12)",
    ),
    param(
        "min_engagement_rate",
        Kind::Rate,
        "a lower engagement rate goes to review (row 13)",
    ),
    param(
        "min_posts_30d",
        Kind::Count(0),
        "fewer posts in 30 days go to review (row 14)",
    ),
    Param {
        name: "daily_quota",
        kind: Kind::Count(0),
        shop_wide: true,
        about: "the shop's auto-approvals per day (row 15)",
    },
    param(
        "deposit_below",
        Kind::Rate,
        "a deposit is asked when the fulfillment rate is unknown or below this",
    ),
    param("deposit_amount", Kind::Money, "the refundable deposit"),
    param(
        "penalty_credit",
        Kind::Count(0),
        "credit taken from a creator on a breach",
    ),
    param(
        "repeat_breach_window",
        Kind::Duration,
        "a second breach within this blocks the creator",
    ),
    param(
        "block_length",
        Kind::Duration,
        "how long a repeat breach blocks the creator",
    ),
    param(
        "silver_gmv",
        Kind::Money,
        "attributed GMV for the silver tier",
    ),
    param("gold_gmv", Kind::Money, "attributed GMV for the gold tier"),
    param(
        "gold_clean_window",
        Kind::Duration,
        "gold needs no breach within this",
    ),
    param(
        "paid_collab_gmv",
        Kind::Money,
        "one sample's GMV that earns a paid-collab invitation",
    ),
    param(
        "min_live_minutes",
        Kind::Count(0),
        "a LIVE this long (with the product linked) qualifies",
    ),
    param(
        "review_window",
        Kind::Duration,
        "deadline `review`: a request expires unreviewed",
    ),
    param(
        "ship_window",
        Kind::Duration,
        "deadline `ship`: an approved sample must ship",
    ),
    param(
        "transit_window",
        Kind::Duration,
        "deadline `in_transit`: an undelivered parcel is lost",
    ),
    param(
        "post_window",
        Kind::Duration,
        "deadline `post`: the creator must post after delivery",
    ),
    param(
        "post_extension",
        Kind::Duration,
        "how much one extension adds to the post deadline",
    ),
    param(
        "keep_up_period",
        Kind::Duration,
        "deadline `keep_up`: a video kept up this long completes",
    ),
    param(
        "remind_after",
        Kind::Duration,
        "deadline `remind`: the reminder after delivery",
    ),
];

/// The parameter named `name`.
pub fn param_named(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

/// A parameter's value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Number(f64),
    /// Seconds.
    Duration(i64),
    List(Vec<String>),
}

impl fmt::Display for ParamValue {
    /// As `policy.yaml` writes it: `5000`, `0.02`, `180d`, `[adult, medical_devices]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(n) => write!(f, "{n}"),
            ParamValue::Number(x) => write!(f, "{x}"),
            ParamValue::Duration(secs) if secs % 86_400 == 0 => write!(f, "{}d", secs / 86_400),
            ParamValue::Duration(secs) if secs % 3_600 == 0 => write!(f, "{}h", secs / 3_600),
            ParamValue::Duration(secs) => write!(f, "{secs}s"),
            ParamValue::List(items) => write!(f, "[{}]", items.join(", ")),
        }
    }
}

impl ParamValue {
    pub fn as_f64(&self) -> f64 {
        match self {
            ParamValue::Int(n) | ParamValue::Duration(n) => *n as f64,
            ParamValue::Number(x) => *x,
            ParamValue::List(_) => f64::NAN,
        }
    }

    pub fn as_i64(&self) -> i64 {
        match self {
            ParamValue::Int(n) | ParamValue::Duration(n) => *n,
            ParamValue::Number(x) => *x as i64,
            ParamValue::List(_) => 0,
        }
    }

    pub fn as_list(&self) -> &[String] {
        match self {
            ParamValue::List(items) => items,
            _ => &[],
        }
    }
}
