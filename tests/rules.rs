//! The shipped rules as developers test a rule change: a fixed corpus snapshotted (a threshold
//! change shows up as a snapshot diff to review), the plain-Rust baseline agreeing with the
//! scripts, and editing policy.yaml changing decisions with no rebuild.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::corpus::{self, corpus};
#[path = "common/native.rs"]
mod native;

use native::NativeRules;
use sampleflow::machinery::rules::RuleSet;

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
                sampleflow::machinery::diagnostic::location(p).is_some(),
                "{name}: no place for {p}"
            );
        }
        let rendered = sampleflow::machinery::diagnostic::render(
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
        std::sync::Arc::new(sampleflow::machinery::model::Sample {
            id: "s1".into(),
            category: "beauty".into(),
            gmv,
            ..Default::default()
        })
    };
    let ledger = std::sync::Arc::new(sampleflow::machinery::model::Ledger::default());
    assert!(rules
        .reward(sample(499.0), ledger.clone(), at)
        .unwrap()
        .is_empty());
    assert_eq!(
        rules.reward(sample(500.0), ledger.clone(), at).unwrap(),
        [sampleflow::machinery::model::Action::InvitePaidCollab]
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
        [sampleflow::machinery::model::Action::InvitePaidCollab]
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
        sampleflow::machinery::diagnostic::location(&problems[0]).as_deref(),
        Some(format!("{}:1:22", dir.path().join("beauty.rhai").display()).as_str())
    );
}

/// Every hook gives the same answer lowered (`src/rules/lower/`) as on Rhai's interpreter:
/// screening and deposits over the corpus and a random mix, and the post-screening hooks over
/// posts and samples on both sides of every threshold.
#[test]
fn lowered_rules_agree_with_rhai_on_every_hook() {
    let rules = shipped();
    agree_on_every_hook(&rules);
}

/// The same, for scripts that take the lowered form's fallbacks: a function outside its subset
/// (a loop), values Rhai refuses (a fault with its place), and a limit that only Rhai reports.
#[test]
fn lowered_rules_agree_with_rhai_where_they_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir("rules").unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    // Beauty counts its creator's top categories with a loop (not lowered); toys divides by
    // the number of completed samples (a fault when there are none); home recurses too deep.
    std::fs::write(
        dir.path().join("beauty.rhai"),
        "fn category_check(request, creator, product, ledger) {\n    let n = 0;\n    for c in creator.top_categories { n += 1; }\n    if n < 2 { return review(\"category_mismatch\"); }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("toys.rhai"),
        "fn category_check(request, creator, product, ledger) {\n    if ledger.samples / ledger.completed > 3 { return review(\"inactive\"); }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("home.rhai"),
        "fn category_check(request, creator, product, ledger) {\n    deep(40)\n}\nfn deep(n) { if n == 0 { () } else { deep(n - 1) } }\n",
    )
    .unwrap();
    let rules = RuleSet::load(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let faults = agree_on_every_hook(&rules);
    assert!(faults > 0, "the toys and home scripts fault somewhere");
}

/// Holds `rules` lowered to `rules.interpreted()` on every hook; returns how many faulted.
fn agree_on_every_hook(rules: &RuleSet) -> usize {
    use sampleflow::machinery::model::{LedgerView, Post, Sample};
    use std::sync::Arc;
    let rhai = rules.interpreted();
    let inputs: Vec<_> = corpus()
        .into_iter()
        .map(|(_, input)| input)
        .chain(corpus::random(5_000, 11))
        .collect();
    let mut faults = 0;
    for input in &inputs {
        let lowered = rules.screen(input.clone());
        assert_eq!(lowered, rhai.screen(input.clone()), "{input:?}");
        faults += usize::from(lowered.fault.is_some());
        assert_eq!(rules.deposit(input), rhai.deposit(input), "{input:?}");
    }
    let at = corpus::now();
    for (i, input) in inputs.iter().take(400).enumerate() {
        let sample = Arc::new(Sample {
            id: format!("s{i}").into(),
            state: "content_pending".into(),
            creator: input.creator.id.clone(),
            product: input.product.id.clone(),
            category: input.product.category.clone(),
            quantity: input.request.quantity,
            cost: 12.5,
            gmv: [0.0, 499.99, 500.0, 2500.0][i % 4],
            deposit: (i % 3 == 0).then_some(10.0),
            keep_up_content: (i % 2 == 0).then(|| format!("v{}", i % 5).into()),
        });
        let post = Arc::new(Post {
            content_id: format!("v{}", i % 5).into(),
            format: if i % 3 == 0 { "live" } else { "video" }.into(),
            has_product_link: i % 7 != 0,
            has_ad_disclosure: i % 2 == 0,
            live_minutes: [None, Some(9.99), Some(10.0), Some(45.0)][i % 4],
        });
        let ledger = input.ledger.clone();
        assert_eq!(
            rules.content_check(post.clone(), sample.clone()),
            rhai.content_check(post.clone(), sample.clone())
        );
        assert_eq!(
            rules.removal_check(post.content_id.clone(), sample.clone()),
            rhai.removal_check(post.content_id.clone(), sample.clone())
        );
        for hook in ["penalty", "reward"] {
            assert_eq!(
                rules.call_hook(hook, sample.clone(), ledger.clone(), at),
                rhai.call_hook(hook, sample.clone(), ledger.clone(), at),
                "{hook} {sample:?}"
            );
        }
        let view = LedgerView::new(ledger.clone(), at, rules.policy().timezone);
        assert_eq!(
            rules.tier(&input.product.category, &input.creator, &view),
            rhai.tier(&input.product.category, &input.creator, &view)
        );
    }
    faults
}
