//! `rules/policy.yaml`: the numbers category managers tune, typed and checked.
//!
//! A `default:` block names every parameter; a block per category overrides only what it names;
//! `timezone` is the shop's and decides which day and quarter a moment falls in.

use std::collections::BTreeMap;
use std::fmt;

use chrono_tz::Tz;
use serde_yaml::Value;

use super::error::{
    BadValue, MissingParam, RuleProblem, UndeclaredCategory, UnknownParam, UnknownTimezone,
};
use crate::definition::{join, Doc, Duration};
use crate::diagnostic::{did_you_mean, Loc, Source, Span};

/// The timezone when `policy.yaml` names none.
pub const DEFAULT_TIMEZONE: Tz = Tz::America__Los_Angeles;

/// What a parameter holds, and what values are possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
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

/// Where a block's parameter was set, for later checks that point at it.
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub values: BTreeMap<&'static str, ParamValue>,
    pub spans: BTreeMap<&'static str, Span>,
    /// Parameters that a misspelt key probably meant: not reported missing as well.
    pub meant: Vec<&'static str>,
}

/// The loaded policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file's text, for diagnostics.
    pub source: Source,
    /// The shop's timezone (`timezone:`).
    pub timezone: Tz,
    /// The default block: every category's values unless it overrides them.
    pub default: Block,
    /// Each category's block, over the default.
    pub categories: BTreeMap<String, Block>,
    /// The shop's categories, as `categories:` declares them, in their order.
    pub declared: Vec<String>,
}

impl Policy {
    /// Reads and checks `policy.yaml`'s text; every problem is collected.
    pub fn parse(name: &str, text: &str) -> Result<Policy, Vec<RuleProblem>> {
        let doc = Doc::parse(name, text).map_err(|errors| {
            errors
                .into_iter()
                .map(RuleProblem::from)
                .collect::<Vec<_>>()
        })?;
        let mut problems = Vec::new();
        let mut policy = Policy {
            source: doc.src.clone(),
            timezone: DEFAULT_TIMEZONE,
            default: Block::default(),
            categories: BTreeMap::new(),
            declared: Vec::new(),
        };
        let entries = match &doc.value {
            Value::Mapping(map) => map.clone(),
            Value::Null => Default::default(),
            _ => {
                return Err(vec![doc
                    .schema(
                        &[],
                        false,
                        "a policy file must be a mapping".into(),
                        "not a mapping",
                        Some("start with `timezone:` and a `default:` block".into()),
                    )
                    .into()])
            }
        };
        let mut has_default = false;
        let mut has_declared = false;
        for (key, value) in &entries {
            let Some(key) = key.as_str() else {
                problems.push(
                    doc.schema(&[], false, "keys must be text".into(), "here", None)
                        .into(),
                );
                continue;
            };
            let path = vec![key.to_string()];
            match key {
                "timezone" => match value.as_str().map(str::parse::<Tz>) {
                    Some(Ok(tz)) => policy.timezone = tz,
                    _ => problems.push(unknown_timezone(&doc, &path, value)),
                },
                "categories" => {
                    has_declared = true;
                    policy.declared = read_declared(&doc, &path, value, &mut problems);
                }
                "default" => {
                    has_default = true;
                    policy.default = read_block(&doc, &path, value, true, &mut problems);
                }
                category => {
                    let block = read_block(&doc, &path, value, false, &mut problems);
                    policy.categories.insert(category.to_string(), block);
                }
            }
        }
        let missing: Vec<&str> = PARAMS
            .iter()
            .map(|p| p.name)
            .filter(|name| {
                !policy.default.spans.contains_key(name) && !policy.default.meant.contains(name)
            })
            .collect();
        if !missing.is_empty() {
            let path = if has_default {
                vec!["default".to_string()]
            } else {
                vec![]
            };
            problems.push(
                MissingParam {
                    names: missing
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    loc: Loc::new(doc.src.clone(), doc.span(&path, true)),
                }
                .into(),
            );
        }
        if has_declared {
            policy.check_declared(&doc, &mut problems);
        } else {
            problems.push(
                UndeclaredCategory {
                    message: "the policy declares no `categories:`".into(),
                    loc: Loc::new(doc.src.clone(), doc.span(&[], true)),
                    label: "here".into(),
                    help: Some(
                        "list the shop's categories, e.g. `categories: [beauty, home, adult]`: a block, a script or a restricted category naming another is then caught".into(),
                    ),
                }
                .into(),
            );
        }
        policy.check_tiers(&mut problems);
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(problems)
        }
    }

    /// The value of `name` for `category`: its block's, else the default's.
    pub fn get(&self, category: &str, name: &str) -> Option<&ParamValue> {
        self.categories
            .get(category)
            .and_then(|b| b.values.get(name))
            .or_else(|| self.default.values.get(name))
    }

    /// Every parameter for `category`, overrides applied.
    pub fn resolved(&self, category: &str) -> BTreeMap<&'static str, ParamValue> {
        let mut all = self.default.values.clone();
        if let Some(block) = self.categories.get(category) {
            all.extend(block.values.iter().map(|(k, v)| (*k, v.clone())));
        }
        all
    }

    /// A duration parameter in seconds, for `category`.
    pub fn duration(&self, category: &str, name: &str) -> Option<i64> {
        match self.get(category, name)? {
            ParamValue::Duration(secs) => Some(*secs),
            _ => None,
        }
    }

    /// The same policy with `overrides` applied to `category` (rule test cases use this).
    pub fn with_overrides(
        &self,
        category: &str,
        overrides: &BTreeMap<String, serde_yaml::Value>,
    ) -> Result<Policy, String> {
        let mut policy = self.clone();
        let block = policy.categories.entry(category.to_string()).or_default();
        for (name, value) in overrides {
            let param = param_named(name).ok_or_else(|| {
                match did_you_mean(name, PARAMS.iter().map(|p| p.name)) {
                    Some(best) => {
                        format!("unknown policy parameter `{name}`; did you mean `{best}`?")
                    }
                    None => format!("unknown policy parameter `{name}`"),
                }
            })?;
            let value = convert(param.kind, value).map_err(|e| format!("`{name}`: {e}"))?;
            block.values.insert(param.name, value);
        }
        Ok(policy)
    }

    /// True when `categories:` declares `category`.
    pub fn declares(&self, category: &str) -> bool {
        self.declared.iter().any(|c| c == category)
    }

    /// The problem of a name that `categories:` does not declare, at `span` of `src`.
    pub fn undeclared(&self, what: &str, name: &str, src: Source, span: Span) -> RuleProblem {
        UndeclaredCategory {
            message: format!("{what} `{name}` is not a declared category"),
            loc: Loc::new(src, span),
            label: "not in `categories:`".into(),
            help: Some(
                match did_you_mean(name, self.declared.iter().map(String::as_str)) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!(
                        "add it to `categories:` in policy.yaml ({})",
                        self.declared.join(", ")
                    ),
                },
            ),
        }
        .into()
    }

    /// Every category block and `restricted_categories` entry names a declared category.
    fn check_declared(&self, doc: &Doc, problems: &mut Vec<RuleProblem>) {
        for name in self.categories.keys() {
            if !self.declares(name) {
                let span = doc.span(std::slice::from_ref(name), true);
                problems.push(self.undeclared("category block", name, doc.src.clone(), span));
            }
        }
        let blocks = std::iter::once(("default", &self.default))
            .chain(self.categories.iter().map(|(k, v)| (k.as_str(), v)));
        for (block_name, block) in blocks {
            let Some(ParamValue::List(items)) = block.values.get("restricted_categories") else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                if !self.declares(item) {
                    let path = [
                        block_name.to_string(),
                        "restricted_categories".to_string(),
                        i.to_string(),
                    ];
                    let span = doc.span(&path, false);
                    problems.push(self.undeclared(
                        "restricted category",
                        item,
                        doc.src.clone(),
                        span,
                    ));
                }
            }
        }
    }

    /// Tiers must rise: silver's GMV cannot be above gold's.
    fn check_tiers(&self, problems: &mut Vec<RuleProblem>) {
        let blocks = std::iter::once(("default", &self.default))
            .chain(self.categories.iter().map(|(k, v)| (k.as_str(), v)));
        for (category, block) in blocks {
            let silver = self.get(category, "silver_gmv").map(ParamValue::as_f64);
            let gold = self.get(category, "gold_gmv").map(ParamValue::as_f64);
            if let (Some(silver), Some(gold)) = (silver, gold) {
                if silver > gold {
                    let span = block
                        .spans
                        .get("silver_gmv")
                        .or_else(|| block.spans.get("gold_gmv"));
                    if let Some(span) = span {
                        problems.push(
                            BadValue {
                                message: format!(
                                    "`silver_gmv` ({silver}) is above `gold_gmv` ({gold}) for `{category}`"
                                ),
                                loc: Loc::new(self.source.clone(), *span),
                                help: Some("a higher tier needs the higher threshold".into()),
                            }
                            .into(),
                        );
                    }
                }
            }
        }
    }
}

fn unknown_timezone(doc: &Doc, path: &[String], value: &Value) -> RuleProblem {
    let name = value.as_str().unwrap_or_default().to_string();
    let help = did_you_mean(&name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()))
        .map(|best| format!("did you mean `{best}`?"))
        .or_else(|| Some("an IANA name such as `America/Los_Angeles`".into()));
    UnknownTimezone {
        name,
        loc: Loc::new(doc.src.clone(), doc.span(path, false)),
        help,
    }
    .into()
}

fn read_block(
    doc: &Doc,
    path: &[String],
    value: &Value,
    is_default: bool,
    problems: &mut Vec<RuleProblem>,
) -> Block {
    let mut block = Block::default();
    let map = match value {
        Value::Mapping(map) => map,
        Value::Null => return block,
        _ => {
            problems.push(
                doc.schema(
                    path,
                    false,
                    format!(
                        "policy block `{}` must be a mapping of parameters",
                        path.join(".")
                    ),
                    "not a mapping",
                    None,
                )
                .into(),
            );
            return block;
        }
    };
    for (key, value) in map {
        let name = key.as_str().unwrap_or_default();
        let here = join(path, &[name]);
        let Some(param) = param_named(name) else {
            let best = did_you_mean(name, PARAMS.iter().map(|p| p.name));
            block
                .meant
                .extend(best.and_then(param_named).map(|p| p.name));
            problems.push(
                UnknownParam {
                    name: name.to_string(),
                    loc: Loc::new(doc.src.clone(), doc.span(&here, true)),
                    help: best.map(|best| format!("did you mean `{best}`?")),
                }
                .into(),
            );
            continue;
        };
        if param.shop_wide && !is_default {
            problems.push(
                BadValue {
                    message: format!("`{name}` is shop-wide and cannot differ per category"),
                    loc: Loc::new(doc.src.clone(), doc.span(&here, true)),
                    help: Some("set it in the `default` block".into()),
                }
                .into(),
            );
            continue;
        }
        // Set, even if badly: it is not also "missing".
        block.spans.insert(param.name, doc.span(&here, false));
        match convert(param.kind, value) {
            Ok(v) => {
                block.values.insert(param.name, v);
            }
            Err(message) => problems.push(
                BadValue {
                    message: format!("`{name}`: {message}"),
                    loc: Loc::new(doc.src.clone(), doc.span(&here, false)),
                    help: Some(param.about.to_string()),
                }
                .into(),
            ),
        }
    }
    block
}

/// `categories: [a, b, ...]`: names in snake_case, each once.
fn read_declared(
    doc: &Doc,
    path: &[String],
    value: &Value,
    problems: &mut Vec<RuleProblem>,
) -> Vec<String> {
    let Some(items) = value.as_sequence() else {
        problems.push(
            doc.schema(
                path,
                false,
                "`categories` must be a list of category names".into(),
                "not a list",
                Some("e.g. `categories: [beauty, electronics, home]`".into()),
            )
            .into(),
        );
        return Vec::new();
    };
    let mut declared: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = join(path, &[&i.to_string()]);
        let name = item.as_str().unwrap_or_default();
        let well_formed = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !well_formed {
            problems.push(
                BadValue {
                    message: "a category is a snake_case name".into(),
                    loc: Loc::new(doc.src.clone(), doc.span(&here, false)),
                    help: Some("as events write it: `beauty`, `medical_devices`".into()),
                }
                .into(),
            );
        } else if declared.iter().any(|d| d == name) {
            problems.push(
                BadValue {
                    message: format!("category `{name}` is declared twice"),
                    loc: Loc::new(doc.src.clone(), doc.span(&here, false)),
                    help: None,
                }
                .into(),
            );
        } else {
            declared.push(name.to_string());
        }
    }
    declared
}

/// Checks one value against its kind.
fn convert(kind: Kind, value: &Value) -> Result<ParamValue, String> {
    let wrong = || format!("expected {kind}");
    match kind {
        Kind::Count(min) => {
            let n = value.as_i64().ok_or_else(wrong)?;
            if n < min {
                return Err(format!("{n} is impossible; expected {kind}"));
            }
            Ok(ParamValue::Int(n))
        }
        Kind::Money | Kind::Rate => {
            let x = value.as_f64().ok_or_else(wrong)?;
            let ok = (0.0..=1e9).contains(&x) && (kind != Kind::Rate || x <= 1.0);
            if !ok {
                return Err(format!("{x} is impossible; expected {kind}"));
            }
            Ok(ParamValue::Number(x))
        }
        Kind::Duration => {
            let text = value.as_str().ok_or_else(wrong)?;
            match Duration::parse(text) {
                Ok(Duration::Seconds(secs)) if secs > 0 => Ok(ParamValue::Duration(secs)),
                Ok(Duration::Seconds(_)) => Err(format!(
                    "`{text}` is impossible; expected {kind} above zero"
                )),
                Ok(Duration::Policy(_)) => {
                    Err("a policy value cannot name another parameter".into())
                }
                Err(e) => Err(e.0),
            }
        }
        Kind::Categories => {
            let items = value.as_sequence().ok_or_else(wrong)?;
            items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or_else(wrong))
                .collect::<Result<_, _>>()
                .map(ParamValue::List)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../rules/policy.yaml");

    fn messages(text: &str) -> Vec<String> {
        Policy::parse("policy.yaml", text)
            .unwrap_err()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn the_shipped_policy_loads_with_overrides() {
        let policy = Policy::parse("policy.yaml", SHIPPED).unwrap();
        assert_eq!(
            policy.get("beauty", "min_followers"),
            Some(&ParamValue::Int(3000))
        );
        assert_eq!(
            policy.get("toys", "min_followers"),
            Some(&ParamValue::Int(5000))
        );
        assert_eq!(policy.duration("home", "review_window"), Some(7 * 86_400));
        assert_eq!(policy.timezone, Tz::America__Los_Angeles);
    }

    #[test]
    fn unknown_keys_types_and_impossible_values_are_all_reported() {
        let text = SHIPPED
            .replace("min_followers: 3000", "min_folowers: 3000")
            .replace("price_cap: 50", "price_cap: fifty")
            .replace("min_fulfillment_rate: 0.5", "min_fulfillment_rate: 1.5");
        let found = messages(&text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found
            .iter()
            .any(|m| m == "unknown policy parameter `min_folowers`"));
        assert!(found
            .iter()
            .any(|m| m.contains("`price_cap`: expected an amount")));
        assert!(found.iter().any(|m| m.contains("1.5 is impossible")));
    }

    #[test]
    fn default_must_name_every_parameter() {
        let text: String = SHIPPED
            .lines()
            .filter(|l| !l.starts_with("  cooldown:"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(messages(&text), ["`default` lacks `cooldown`"]);
    }

    #[test]
    fn a_bad_timezone_gets_a_suggestion() {
        let text = SHIPPED.replace("America/Los_Angeles", "America/Los_Angeles2");
        assert_eq!(messages(&text), ["unknown timezone `America/Los_Angeles2`"]);
    }

    #[test]
    fn shop_wide_parameters_stay_in_default() {
        let text = SHIPPED.replace("home:\n", "home:\n  daily_quota: 5\n");
        assert_eq!(
            messages(&text),
            ["`daily_quota` is shop-wide and cannot differ per category"]
        );
    }
}
