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
//! A case may set `hook` (`screen`, the default; `tier`; `deposit`), `quantity`,
//! `auto_approvals_today`, a `ledger`, and `policy` overrides for the product's category.
//! `expect` holds `decision` and `reason`, `tier`, or `deposit` (an amount; 0 for none).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;
use serde::Deserialize;
use serde_yaml::Value;

use super::{Action, Creator, Ledger, LedgerView, Product, Request, RuleSet, ScreenInput, Verdict};
use crate::definition::{join, Doc, LoadError, ReadFailed};

/// The folder of test cases inside a rules folder.
pub const TESTS_DIR: &str = "tests";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: Value,
    cases: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    hook: Option<String>,
    at: DateTime<Utc>,
    #[serde(default = "one")]
    quantity: i64,
    #[serde(default)]
    auto_approvals_today: i64,
    creator: Creator,
    product: Product,
    #[serde(default)]
    ledger: Ledger,
    #[serde(default)]
    policy: BTreeMap<String, Value>,
    expect: Expect,
}

fn one() -> i64 {
    1
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
}

/// One case, read and ready to run.
#[derive(Debug, Clone)]
pub struct Case {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub hook: String,
    pub input: ScreenInput,
    pub policy: BTreeMap<String, Value>,
    pub expect: Expect,
}

/// What a case did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub case: String,
    /// `file:line` of the case.
    pub place: String,
    pub passed: bool,
    /// What came out, or why the case could not run.
    pub detail: String,
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
        let case: RawCase = match doc.typed(&merged, &path) {
            Ok(case) => case,
            Err(e) => {
                errors.push(*e);
                continue;
            }
        };
        let hook = case.hook.unwrap_or_else(|| "screen".into());
        if !matches!(hook.as_str(), "screen" | "tier" | "deposit") {
            errors.push(doc.schema(
                &join(&path, &["hook"]),
                false,
                format!("rule tests cannot call hook `{hook}`"),
                "not testable here",
                Some("use `screen`, `tier` or `deposit`".into()),
            ));
            continue;
        }
        let e = &case.expect;
        let checks = match hook.as_str() {
            "tier" => e.tier.is_some(),
            "deposit" => e.deposit.is_some(),
            _ => e.decision.is_some() || e.reason.is_some() || e.tier.is_some(),
        };
        if !checks {
            // A case that checks nothing would pass whatever the rules do.
            errors.push(doc.schema(
                &join(&path, &["expect"]),
                true,
                format!("`expect` checks nothing that hook `{hook}` gives"),
                "nothing to compare",
                Some(match hook.as_str() {
                    "tier" => "expect `tier`".into(),
                    "deposit" => "expect `deposit` (0 for none)".into(),
                    _ => "expect `decision`, `reason` or `tier`".into(),
                }),
            ));
            continue;
        }
        let (line, _) = doc.span(&path, false).line_col(doc.src.inner());
        cases.push(Case {
            file: name.to_string(),
            line,
            name: case.name,
            hook,
            input: ScreenInput {
                request: Request {
                    sample: ImmutableString::from(format!("case-{}", i + 1)),
                    at: case.at,
                    quantity: case.quantity,
                    auto_approvals_today: case.auto_approvals_today,
                    tier: ImmutableString::new(),
                },
                creator: Arc::new(case.creator),
                product: Arc::new(case.product),
                ledger: Arc::new(case.ledger),
            },
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
pub fn run(rules: &RuleSet, case: &Case) -> Outcome {
    let place = format!("{}:{}", case.file, case.line);
    let fail = |detail: String| Outcome {
        case: case.name.clone(),
        place: place.clone(),
        passed: false,
        detail,
    };
    let owned;
    let rules = if case.policy.is_empty() {
        rules
    } else {
        match rules
            .policy()
            .with_overrides(&case.input.product.category, &case.policy)
        {
            Ok(policy) => {
                owned = rules.with_policy(policy);
                &owned
            }
            Err(e) => return fail(e),
        }
    };
    let e = &case.expect;
    let mut got = Vec::new();
    let mut expected = Vec::new();
    match case.hook.as_str() {
        "tier" => {
            let view = LedgerView::new(
                case.input.ledger.clone(),
                case.input.request.at,
                rules.policy().timezone,
            );
            match rules.tier(&case.input.product.category, &case.input.creator, &view) {
                Ok(tier) => compare(
                    &mut expected,
                    &mut got,
                    "tier",
                    e.tier.as_deref(),
                    tier.as_str(),
                ),
                Err(fault) => return fail(format!("rule failed: {fault}")),
            }
        }
        "deposit" => match rules.deposit(&case.input) {
            Ok(actions) => {
                let amount = actions
                    .iter()
                    .find_map(|a| match a {
                        Action::RequireDeposit { amount } => Some(*amount),
                        _ => None,
                    })
                    .unwrap_or(0.0);
                let want = e.deposit.map(|d| d.to_string());
                compare(
                    &mut expected,
                    &mut got,
                    "deposit",
                    want.as_deref(),
                    &amount.to_string(),
                );
            }
            Err(fault) => return fail(format!("rule failed: {fault}")),
        },
        _ => {
            let s = rules.screen(case.input.clone());
            compare(
                &mut expected,
                &mut got,
                "decision",
                e.decision.map(Verdict::as_str),
                s.decision.as_str(),
            );
            compare(
                &mut expected,
                &mut got,
                "reason",
                e.reason.as_deref(),
                &s.reason,
            );
            compare(&mut expected, &mut got, "tier", e.tier.as_deref(), &s.tier);
            if let Some(fault) = s.fault {
                return fail(format!("rule failed: {fault}"));
            }
        }
    }
    let passed = expected == got;
    Outcome {
        case: case.name.clone(),
        place,
        passed,
        detail: if passed {
            got.join(" ")
        } else {
            format!("expected {}, got {}", expected.join(" "), got.join(" "))
        },
    }
}

fn compare(
    expected: &mut Vec<String>,
    got: &mut Vec<String>,
    what: &str,
    want: Option<&str>,
    have: &str,
) {
    if let Some(want) = want {
        expected.push(format!("{what}={want}"));
        got.push(format!("{what}={have}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_merge_under_each_case() {
        let text = "defaults:\n  at: 2026-03-01T00:00:00Z\n  creator: {id: c, followers: 1, engagement_rate: 0.1, posts_30d: 3}\n  product: {id: p, category: beauty, price: 1, unit_cost: 1}\ncases:\n  - name: one\n    creator: {followers: 9}\n    expect: {decision: approve}\n";
        let cases = parse("t.yaml", text).unwrap();
        assert_eq!(cases[0].input.creator.followers, 9);
        assert_eq!(cases[0].input.creator.posts_30d, 3);
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
