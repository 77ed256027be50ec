//! Rule test cases: `rules/tests/*.yaml`, each a list of requests and the decision expected.
//!
//! ```yaml
//! defaults:            # merged under every case (a case's own keys win, maps merge deeply)
//!   at: 2026-03-10T18:00:00Z
//!   creator: {id: c1, followers: 20000, engagement_rate: 0.05, posts_30d: 6}
//!   product: {id: p1, category: beauty, price: 25, unit_cost: 8}
//! cases:
//!   - name: restricted categories are never sampled
//!     product: {category: adult}
//!     expect: {decision: reject, reason: restricted_category}
//! ```
//!
//! A case may set `hook`: `screen` (the default), `tier`, `deposit`, `content_check`,
//! `removal_check`, `penalty` or `reward`; each reads what it takes of `at`, `creator`,
//! `product`, `quantity`, `auto_approvals_today`, `ledger`, `sample`, `post` and `content_id`,
//! and `policy` overrides apply to its category (the product's, or the sample's). `expect` holds
//! what the hook gives: `decision`, `reason` and `tier` (screen), `tier`, `deposit` (an amount; 0
//! for none), `outcome` (content and removal checks) or `actions` (a list of `{type, ...}`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;
use serde::Deserialize;
use serde_yaml::Value;

use super::{RuleSet, ScreenInput};
use crate::definition::{join, Doc, LoadError, ReadFailed};
use crate::model::{
    Action, Creator, Ledger, LedgerView, Post, Product, Sample, SampleRequest, Verdict,
};

/// The folder of test cases inside a rules folder.
pub const TESTS_DIR: &str = "tests";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: Value,
    cases: Vec<Value>,
}

/// A case's own keys; the rest of it is the hook's [`RawInput`].
#[derive(Debug, Deserialize)]
struct RawCase {
    name: String,
    #[serde(default)]
    hook: Option<String>,
    #[serde(default)]
    policy: BTreeMap<String, Value>,
    expect: Expect,
}

const CASE_KEYS: &[&str] = &["name", "hook", "policy", "expect"];

/// What a hook is given: each hook reads the parts it takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    at: DateTime<Utc>,
    #[serde(default = "one")]
    quantity: i64,
    #[serde(default)]
    auto_approvals_today: i64,
    #[serde(default)]
    creator: Option<Creator>,
    #[serde(default)]
    product: Option<Product>,
    #[serde(default)]
    ledger: Ledger,
    /// The sample that `content_check`, `removal_check`, `penalty` and `reward` see; its
    /// `category` (else the product's) picks the category's rules.
    #[serde(default)]
    sample: Option<Sample>,
    #[serde(default)]
    post: Option<Post>,
    /// The removed content, for `removal_check`.
    #[serde(default)]
    content_id: Option<String>,
}

fn one() -> i64 {
    1
}

/// The hooks that a case can call.
pub const HOOKS: &[&str] = &[
    "screen",
    "tier",
    "deposit",
    "content_check",
    "removal_check",
    "penalty",
    "reward",
];

/// What each hook gives, as `expect` names it.
fn gives(hook: &str) -> &'static [&'static str] {
    match hook {
        "screen" => &["decision", "reason", "tier"],
        "tier" => &["tier"],
        "deposit" => &["deposit", "actions"],
        "content_check" | "removal_check" => &["outcome"],
        _ => &["actions"],
    }
}

/// What each hook takes beyond `at` and a ledger.
fn takes(hook: &str) -> &'static [&'static str] {
    match hook {
        "screen" | "tier" | "deposit" => &["creator", "product"],
        "content_check" => &["post"],
        "removal_check" => &["content_id"],
        _ => &[],
    }
}

/// What a case expects; fields left out are not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub decision: Option<Verdict>,
    pub reason: Option<String>,
    pub tier: Option<String>,
    /// The deposit asked; 0 for none.
    pub deposit: Option<f64>,
    /// `content_check`'s or `removal_check`'s outcome name.
    pub outcome: Option<String>,
    /// The actions returned, in order, each `{type, ...its fields}`; `[]` for none.
    pub actions: Option<Vec<Value>>,
}

impl Expect {
    fn named(&self) -> Vec<&'static str> {
        let mut named = Vec::new();
        let fields: [(&'static str, bool); 6] = [
            ("decision", self.decision.is_some()),
            ("reason", self.reason.is_some()),
            ("tier", self.tier.is_some()),
            ("deposit", self.deposit.is_some()),
            ("outcome", self.outcome.is_some()),
            ("actions", self.actions.is_some()),
        ];
        for (name, set) in fields {
            if set {
                named.push(name);
            }
        }
        named
    }
}

/// One hook's input, read and ready to run.
#[derive(Debug, Clone)]
pub struct Input {
    /// What screening, `tier` and `deposit` read (creator and product present for them).
    pub screen: ScreenInput,
    pub sample: Arc<Sample>,
    pub post: Option<Arc<Post>>,
    pub content_id: Option<ImmutableString>,
    /// The category whose rules and policy the hook runs under.
    pub category: String,
}

/// One case, read and ready to run.
#[derive(Debug, Clone)]
pub struct Case {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub hook: String,
    pub input: Input,
    pub policy: BTreeMap<String, Value>,
    pub expect: Expect,
}

/// What a case did.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub case: String,
    /// `file:line` of the case.
    pub place: String,
    pub passed: bool,
    /// What came out, or why the case could not run.
    pub detail: String,
    /// The screening reason it got, if it screened.
    pub reason: Option<String>,
    /// The script functions it ran, as `file:function` (with `test --coverage` only).
    pub functions: Vec<String>,
}

/// Every case file of `rules_dir/tests`, read; a defect in a file is collected with the others.
pub fn load(rules_dir: &Path) -> (Vec<Case>, Vec<LoadError>) {
    let dir = rules_dir.join(TESTS_DIR);
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect(),
        Err(_) => return (Vec::new(), Vec::new()),
    };
    paths.sort();
    let (mut cases, mut errors) = (Vec::new(), Vec::new());
    for path in paths {
        match crate::diagnostic::read_bounded(&path, crate::diagnostic::MAX_YAML_FILE) {
            Ok(text) => match parse(&path.display().to_string(), &text) {
                Ok(found) => cases.extend(found),
                Err(e) => errors.extend(e),
            },
            Err(e) => errors.push(
                ReadFailed {
                    path: path.display().to_string(),
                    cause: e.to_string(),
                }
                .into(),
            ),
        }
    }
    (cases, errors)
}

/// Reads one case file's text.
pub fn parse(name: &str, text: &str) -> Result<Vec<Case>, Vec<LoadError>> {
    let doc = Doc::parse(name, text)?;
    let file: RawFile = doc.typed(&doc.value, &[]).map_err(|e| vec![*e])?;
    let (mut cases, mut errors) = (Vec::new(), Vec::new());
    for (i, raw) in file.cases.iter().enumerate() {
        let path = join(&[], &["cases", &i.to_string()]);
        let merged = merge(&file.defaults, raw);
        // Read apart (not with `serde(flatten)`, which would lose the place of an error).
        let mut rest = merged.clone();
        if let Value::Mapping(map) = &mut rest {
            for key in CASE_KEYS {
                map.remove(*key);
            }
        }
        let read = doc
            .typed::<RawCase>(&merged, &path)
            .and_then(|case| Ok((case, doc.typed::<RawInput>(&rest, &path)?)));
        let (case, raw_input) = match read {
            Ok(both) => both,
            Err(e) => {
                errors.push(*e);
                continue;
            }
        };
        let hook = case.hook.unwrap_or_else(|| "screen".into());
        if !HOOKS.contains(&hook.as_str()) {
            errors.push(
                doc.schema(
                    &join(&path, &["hook"]),
                    false,
                    format!("rule tests cannot call hook `{hook}`"),
                    "no such hook",
                    crate::diagnostic::did_you_mean(&hook, HOOKS.iter().copied())
                        .map(|b| format!("did you mean `{b}`?"))
                        .or_else(|| Some(format!("one of {}", HOOKS.join(", ")))),
                ),
            );
            continue;
        }
        let named = case.expect.named();
        let given = gives(&hook);
        if let Some(other) = named.iter().find(|n| !given.contains(n)) {
            // A case that checks nothing the hook gives would pass whatever the rules do.
            let nothing = !named.iter().any(|n| given.contains(n));
            let message = if nothing {
                format!("`expect` checks nothing that hook `{hook}` gives")
            } else {
                format!("hook `{hook}` gives no `{other}`")
            };
            errors.push(doc.schema(
                &join(&path, &["expect"]),
                true,
                message,
                "nothing to compare",
                Some(format!("hook `{hook}` gives {}", quoted(given))),
            ));
            continue;
        }
        if named.is_empty() {
            errors.push(doc.schema(
                &join(&path, &["expect"]),
                true,
                format!("`expect` checks nothing that hook `{hook}` gives"),
                "nothing to compare",
                Some(format!("expect {}", quoted(given))),
            ));
            continue;
        }
        let input = match build(&hook, raw_input, i) {
            Ok(input) => input,
            Err(message) => {
                errors.push(doc.schema(
                    &path,
                    true,
                    message,
                    "this case",
                    Some(format!("hook `{hook}` takes {}", quoted(takes(&hook)))),
                ));
                continue;
            }
        };
        let (line, _) = doc.span(&path, false).line_col(doc.src.inner());
        cases.push(Case {
            file: name.to_string(),
            line,
            name: case.name,
            hook,
            input,
            policy: case.policy,
            expect: case.expect,
        });
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A hook's input from its parts; an error names the part the hook needs and lacks.
pub fn build(hook: &str, raw: RawInput, index: usize) -> Result<Input, String> {
    for part in takes(hook) {
        let present = match *part {
            "creator" => raw.creator.is_some(),
            "product" => raw.product.is_some(),
            "post" => raw.post.is_some(),
            _ => raw.content_id.is_some(),
        };
        if !present {
            return Err(format!("hook `{hook}` needs `{part}`"));
        }
    }
    let id = ImmutableString::from(format!("case-{}", index + 1));
    let creator = raw.creator.unwrap_or_else(|| Creator {
        id: "c1".into(),
        followers: 0,
        engagement_rate: 0.0,
        posts_30d: 0,
        gmv_30d: None,
        avg_video_views: None,
        fulfillment_rate_90d: None,
        top_categories: Vec::new(),
    });
    let mut sample = raw.sample.unwrap_or_default();
    let fill = |field: &mut ImmutableString, with: &ImmutableString| {
        if field.is_empty() {
            *field = with.clone();
        }
    };
    fill(&mut sample.id, &id);
    fill(&mut sample.creator, &creator.id);
    if let Some(p) = &raw.product {
        fill(&mut sample.product, &p.id);
        fill(&mut sample.category, &p.category);
    }
    if sample.quantity == 0 {
        sample.quantity = raw.quantity;
    }
    let product = raw.product.unwrap_or_else(|| Product {
        id: sample.product.clone(),
        category: sample.category.clone(),
        price: 0.0,
        unit_cost: 0.0,
        flags: Vec::new(),
    });
    let mut input = Input {
        screen: ScreenInput {
            request: SampleRequest {
                sample: id,
                at: raw.at,
                quantity: raw.quantity,
                auto_approvals_today: raw.auto_approvals_today,
                tier: ImmutableString::new(),
            },
            creator: Arc::new(creator),
            product: Arc::new(product),
            ledger: Arc::new(raw.ledger),
        },
        sample: Arc::new(sample),
        post: raw.post.map(Arc::new),
        content_id: raw.content_id.map(ImmutableString::from),
        category: String::new(),
    };
    input.category = category_for(hook, &input);
    Ok(input)
}

/// The category whose rules `hook` runs under for `input`: the product's for screening, the
/// sample's for the hooks of a sample.
pub fn category_for(hook: &str, input: &Input) -> String {
    if matches!(hook, "screen" | "tier" | "deposit") {
        input.screen.product.category.to_string()
    } else {
        input.sample.category.to_string()
    }
}

/// Reads a hook's input from a YAML or JSON file: the keys of a case, without `name` and
/// `expect` (`eval --input`).
pub fn input_file(name: &str, text: &str, hook: &str) -> Result<Input, Vec<LoadError>> {
    let doc = Doc::parse(name, text)?;
    let raw: RawInput = doc.typed(&doc.value, &[]).map_err(|e| vec![*e])?;
    build(hook, raw, 0).map_err(|message| {
        vec![doc.schema(
            &[],
            true,
            message,
            "this input",
            Some(format!("hook `{hook}` takes {}", quoted(takes(hook)))),
        )]
    })
}

/// What a hook returned, in the terms `expect` uses.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub decision: Option<Verdict>,
    pub reason: Option<String>,
    pub tier: Option<String>,
    pub outcome: Option<String>,
    pub actions: Option<Vec<Action>>,
    pub explain: Option<crate::model::Explain>,
    /// The rule failed: what and where.
    pub fault: Option<String>,
}

impl Output {
    /// `decision=approve reason=auto_approved tier=new`, for people.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = self.decision {
            parts.push(format!("decision={d}"));
        }
        if let Some(r) = &self.reason {
            parts.push(format!("reason={r}"));
        }
        if let Some(t) = &self.tier {
            parts.push(format!("tier={t}"));
        }
        if let Some(o) = &self.outcome {
            parts.push(format!("outcome={o}"));
        }
        if let Some(a) = &self.actions {
            parts.push(format!("actions={}", actions_text(a)));
        }
        parts.join(" ")
    }
}

/// Actions as `[penalize(credit=-20), block_creator(days=90)]`.
pub fn actions_text(actions: &[Action]) -> String {
    let values: Vec<serde_json::Value> = actions
        .iter()
        .map(|a| serde_json::to_value(a).unwrap_or_default())
        .collect();
    values_text(&values)
}

fn values_text(values: &[serde_json::Value]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| {
            let Some(map) = v.as_object() else {
                return v.to_string();
            };
            let kind = map.get("type").and_then(|t| t.as_str()).unwrap_or("?");
            let fields: Vec<String> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "type")
                .map(|(k, v)| match v.as_f64() {
                    Some(x) => format!("{k}={x}"),
                    None => format!("{k}={v}"),
                })
                .collect();
            format!("{kind}({})", fields.join(", "))
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Runs `hook` on `input` under `rules`: what it returned, or its fault.
pub fn call(rules: &RuleSet, hook: &str, input: &Input) -> Output {
    let mut out = Output::default();
    let at = input.screen.request.at;
    let ledger = input.screen.ledger.clone();
    let fault = |f: Box<super::RuleFault>| f.to_string();
    match hook {
        "screen" => {
            let s = rules.screen(input.screen.clone());
            out.decision = Some(s.decision);
            out.reason = Some(s.reason.to_string());
            out.tier = Some(s.tier.to_string());
            out.explain = Some(s.explain);
            out.fault = s.fault.map(fault);
        }
        "tier" => {
            let view = LedgerView::new(ledger, at, rules.policy().timezone);
            match rules.tier(&input.category, &input.screen.creator, &view) {
                Ok(tier) => out.tier = Some(tier.to_string()),
                Err(f) => out.fault = Some(fault(f)),
            }
        }
        "deposit" => match rules.deposit(&input.screen) {
            Ok(actions) => out.actions = Some(actions),
            Err(f) => out.fault = Some(fault(f)),
        },
        "content_check" | "removal_check" => {
            let sample = input.sample.clone();
            let result = if hook == "content_check" {
                let post = input.post.clone().unwrap_or_else(|| {
                    Arc::new(Post {
                        content_id: ImmutableString::new(),
                        format: ImmutableString::new(),
                        has_product_link: false,
                        has_ad_disclosure: false,
                        live_minutes: None,
                    })
                });
                rules.content_check(post, sample)
            } else {
                let id = input.content_id.clone().unwrap_or_default();
                rules.removal_check(id, sample)
            };
            match result {
                Ok((outcome, explain)) => {
                    out.outcome = Some(outcome.to_string());
                    out.explain = Some(explain);
                }
                Err(f) => out.fault = Some(fault(f)),
            }
        }
        _ => {
            let result = if hook == "penalty" {
                rules.penalty(input.sample.clone(), ledger, at)
            } else {
                rules.reward(input.sample.clone(), ledger, at)
            };
            match result {
                Ok(actions) => out.actions = Some(actions),
                Err(f) => out.fault = Some(fault(f)),
            }
        }
    }
    out
}

/// `over` laid on `under`: mappings merge key by key, anything else is replaced.
fn merge(under: &Value, over: &Value) -> Value {
    match (under, over) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            let mut out = a.clone();
            for (k, v) in b {
                let merged = match a.get(k) {
                    Some(base) => merge(base, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Mapping(out)
        }
        _ => over.clone(),
    }
}

/// Runs one case against `rules`.
pub fn run(rules: &RuleSet, case: &Case) -> CaseOutcome {
    run_case(rules, case, false)
}

/// Runs one case, recording the script functions it reaches when `cover` is set.
pub fn run_case(rules: &RuleSet, case: &Case, cover: bool) -> CaseOutcome {
    let place = format!("{}:{}", case.file, case.line);
    let fail = |detail: String| CaseOutcome {
        case: case.name.clone(),
        place: place.clone(),
        passed: false,
        detail,
        reason: None,
        functions: Vec::new(),
    };
    let owned;
    let rules = if case.policy.is_empty() {
        rules
    } else {
        match rules
            .policy()
            .with_overrides(&case.input.category, &case.policy)
        {
            Ok(policy) => {
                owned = rules.with_policy(policy);
                &owned
            }
            Err(e) => return fail(e),
        }
    };
    let (got_out, functions) = if cover {
        let (out, reached) = rules.covering(|r| call(r, &case.hook, &case.input));
        let functions = reached
            .into_iter()
            .map(|f| {
                let file = rules.supplier(&case.input.category, &f).unwrap_or("?");
                format!("{file}:{f}")
            })
            .collect();
        (out, functions)
    } else {
        (call(rules, &case.hook, &case.input), Vec::new())
    };
    let reason = (case.hook == "screen")
        .then(|| got_out.reason.clone())
        .flatten();
    if let Some(fault) = &got_out.fault {
        return CaseOutcome {
            reason,
            functions,
            ..fail(format!("rule failed: {fault}"))
        };
    }
    let e = &case.expect;
    let (mut expected, mut got) = (Vec::new(), Vec::new());
    let mut check = |what: &str, want: Option<String>, have: Option<String>| {
        if let Some(want) = want {
            expected.push(format!("{what}={want}"));
            got.push(format!("{what}={}", have.unwrap_or_else(|| "()".into())));
        }
    };
    check(
        "decision",
        e.decision.map(|d| d.to_string()),
        got_out.decision.map(|d| d.to_string()),
    );
    check("reason", e.reason.clone(), got_out.reason.clone());
    check("tier", e.tier.clone(), got_out.tier.clone());
    check("outcome", e.outcome.clone(), got_out.outcome.clone());
    let amount = got_out.actions.as_ref().map(|actions| {
        actions
            .iter()
            .find_map(|a| match a {
                Action::RequireDeposit { amount } => Some(amount),
                _ => None,
            })
            .unwrap_or(&0.0)
            .to_string()
    });
    check("deposit", e.deposit.map(|d| d.to_string()), amount);
    check(
        "actions",
        e.actions.as_ref().map(|want| {
            let values: Vec<serde_json::Value> = want
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or_default())
                .collect();
            values_text(&values)
        }),
        got_out.actions.as_deref().map(actions_text),
    );
    let passed = expected == got;
    CaseOutcome {
        case: case.name.clone(),
        place,
        passed,
        detail: if passed {
            got.join(" ")
        } else {
            format!("expected {}, got {}", expected.join(" "), got.join(" "))
        },
        reason,
        functions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_merge_under_each_case() {
        let text = "defaults:\n  at: 2026-03-01T00:00:00Z\n  creator: {id: c, followers: 1, engagement_rate: 0.1, posts_30d: 3}\n  product: {id: p, category: beauty, price: 1, unit_cost: 1}\ncases:\n  - name: one\n    creator: {followers: 9}\n    expect: {decision: approve}\n";
        let cases = parse("t.yaml", text).unwrap();
        assert_eq!(cases[0].input.screen.creator.followers, 9);
        assert_eq!(cases[0].input.screen.creator.posts_30d, 3);
        assert_eq!(cases[0].line, 6);
    }

    #[test]
    fn a_case_that_checks_nothing_is_refused() {
        let text = "cases:\n  - name: one\n    at: 2026-03-01T00:00:00Z\n    creator: {id: c, followers: 9, engagement_rate: 0.1, posts_30d: 3}\n    product: {id: p, category: beauty, price: 1, unit_cost: 1}\n    hook: tier\n    expect: {decision: approve}\n";
        let errors = parse("t.yaml", text).unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "`expect` checks nothing that hook `tier` gives"
        );
        assert_eq!(
            crate::diagnostic::location(&errors[0]).unwrap(),
            "t.yaml:7:5"
        );
    }

    #[test]
    fn a_bad_case_is_located() {
        let text = "cases:\n  - name: one\n    at: 2026-03-01T00:00:00Z\n    creator: {id: c, followers: many, engagement_rate: 0.1, posts_30d: 3}\n    product: {id: p, category: beauty, price: 1, unit_cost: 1}\n    expect: {decision: approve}\n";
        let errors = parse("t.yaml", text).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            crate::diagnostic::location(&errors[0]).unwrap(),
            "t.yaml:4:33"
        );
    }
}
