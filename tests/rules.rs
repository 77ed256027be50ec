//! The shipped rules as developers test a rule change: a fixed corpus snapshotted (a threshold
//! change shows up as a snapshot diff to review), the plain-Rust baseline agreeing with the
//! scripts, and editing policy.yaml changing decisions with no rebuild.

mod common;

use std::path::Path;

use common::corpus::{self, corpus};
#[path = "common/native.rs"]
mod native;

use native::NativeRules;
use sampleflow::rules::RuleSet;

fn shipped() -> RuleSet {
    RuleSet::load(Path::new("rules")).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Run the corpus through the shipped rules; review a diff with `cargo insta review`.
#[test]
fn decisions_of_the_corpus() {
    let rules = shipped();
    let mut lines = Vec::new();
    for (label, input) in corpus() {
        let s = rules.screen(input);
        assert!(s.fault.is_none(), "{label}: {:?}", s.fault);
        lines.push(format!(
            "{label:<52} {:<7} {:<20} {:<7} {}::{}",
            s.decision.as_str(),
            s.reason.as_str(),
            s.tier.as_str(),
            s.explain.file,
            s.explain.function
        ));
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn the_baseline_agrees_with_the_rules() {
    let rules = shipped();
    let native = NativeRules::new(rules.policy());
    let inputs = corpus()
        .into_iter()
        .map(|(_, input)| input)
        .chain(corpus::random(20_000, 7));
    let mut reasons = std::collections::BTreeSet::new();
    for input in inputs {
        let (tier, verdict, reason) = native.screen(&input);
        let s = rules.screen(input.clone());
        assert_eq!(
            (s.tier.as_str(), s.decision, s.reason.as_str()),
            (tier, verdict, reason),
            "{input:?}"
        );
        reasons.insert(reason);
    }
    // Every reason code of the screening table came up, so the agreement covers every row.
    assert_eq!(reasons.len(), 16, "{reasons:?}");
}

#[test]
fn editing_policy_yaml_changes_decisions_without_a_rebuild() {
    let dir = common::shipped_rules();
    let input = || {
        let mut d = corpus::Draft::new("toys");
        d.creator.followers = 6000;
        d.input()
    };
    let before = RuleSet::load(dir.path()).unwrap();
    assert_eq!(before.screen(input()).reason.as_str(), "auto_approved");
    let policy = std::fs::read_to_string(dir.path().join("policy.yaml")).unwrap();
    let policy = policy.replace("min_followers: 5000", "min_followers: 8000");
    std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
    let after = RuleSet::load(dir.path()).unwrap();
    let s = after.screen(input());
    assert_eq!(s.reason.as_str(), "low_followers");
    assert_ne!(
        before.hash(),
        after.hash(),
        "the rules hash covers the policy"
    );
}

/// `tests/fixtures/rules/err_<code>_*.rhai` is added to the shipped rules as `beauty.rhai` (or
/// as the name its first line gives: `// as: NAME.rhai`);
/// `err_<code>_*.policy.yaml` replaces the shipped policy. Each holds one defect: loading reports
/// it (and nothing else) under its code, at a place, and the rendered message is pinned.
#[test]
fn fixtures() {
    insta::glob!("fixtures/rules/*", |path| {
        let dir = common::shipped_rules();
        let name = path.file_name().unwrap().to_str().unwrap();
        let target = if name.ends_with(".policy.yaml") {
            dir.path().join("policy.yaml")
        } else {
            let text = std::fs::read_to_string(path).unwrap();
            let name = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("// as: "))
                .unwrap_or("beauty.rhai");
            dir.path().join(name.trim())
        };
        std::fs::copy(path, &target).unwrap();
        let problems = RuleSet::load(dir.path()).expect_err(name);
        let defect = name.strip_prefix("err_").unwrap();
        for p in &problems {
            let code = miette::Diagnostic::code(p).unwrap().to_string();
            let short = code.rsplit("::").next().unwrap();
            assert!(defect.starts_with(short), "{name} gave `{code}`: {p}");
            assert!(
                sampleflow::diagnostic::location(p).is_some(),
                "{name}: no place for {p}"
            );
        }
        let rendered = sampleflow::diagnostic::render(
            problems.iter().map(|p| p as &dyn miette::Diagnostic),
            false,
        );
        let rendered = rendered.replace(&dir.path().display().to_string(), "rules");
        insta::assert_snapshot!(rendered);
    });
}

/// `reward_wakes_at()` declares where `reward` can give something: below it, `reward` is not
/// called at all (here a `reward` that always invites is silent below 500).
#[test]
fn reward_sleeps_below_its_declared_threshold() {
    let dir = common::shipped_rules();
    std::fs::write(
        dir.path().join("beauty.rhai"),
        "fn reward(sample, ledger) { invite_paid_collab() }\nfn reward_wakes_at() { 500 }\n",
    )
    .unwrap();
    let rules = RuleSet::load(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let at = "2026-03-10T18:00:00Z".parse().unwrap();
    let sample = |gmv: f64| {
        std::sync::Arc::new(sampleflow::model::Sample {
            id: "s1".into(),
            category: "beauty".into(),
            gmv,
            ..Default::default()
        })
    };
    let ledger = std::sync::Arc::new(sampleflow::model::Ledger::default());
    assert!(rules
        .reward(sample(499.0), ledger.clone(), at)
        .unwrap()
        .is_empty());
    assert_eq!(
        rules.reward(sample(500.0), ledger.clone(), at).unwrap(),
        [sampleflow::model::Action::InvitePaidCollab]
    );
    // Without the declaration the same script invites at any GMV.
    std::fs::write(
        dir.path().join("beauty.rhai"),
        "fn reward(sample, ledger) { invite_paid_collab() }\nfn reward_wakes_at() { 0 }\n",
    )
    .unwrap();
    let rules = RuleSet::load(dir.path()).unwrap();
    assert_eq!(
        rules.reward(sample(1.0), ledger, at).unwrap(),
        [sampleflow::model::Action::InvitePaidCollab]
    );
}

#[test]
fn a_wake_declaration_that_is_no_number_is_refused_at_load() {
    let dir = common::shipped_rules();
    std::fs::write(
        dir.path().join("beauty.rhai"),
        "fn reward_wakes_at() { \"soon\" }\n",
    )
    .unwrap();
    let problems = RuleSet::load(dir.path()).unwrap_err();
    let text = problems[0].to_string();
    assert!(
        text.contains("`reward_wakes_at()` must give a number"),
        "{text}"
    );
    assert_eq!(
        sampleflow::diagnostic::location(&problems[0]).as_deref(),
        Some(format!("{}:1:22", dir.path().join("beauty.rhai").display()).as_str())
    );
}
