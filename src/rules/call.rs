//! Calling hooks: lowered where they can run so, else on Rhai under the sandbox; what each
//! known hook returns, checked and typed, with the explain of the function that decided.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::{CallFnOptions, Dynamic, Engine, ImmutableString, Scope};

use super::load::Compiled;
use super::{lower, sandbox, RuleFault, RuleSet};
use crate::model::{
    Action, Creator, Decision, Explain, Ledger, LedgerView, Post, Product, Sample, SampleRequest,
    Verdict,
};

/// What screening decided, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Screening {
    /// Approve, reject or review.
    pub decision: Verdict,
    /// The reason code.
    pub reason: ImmutableString,
    /// The tier that screening used.
    pub tier: ImmutableString,
    /// How the rules got there, row by row.
    pub explain: Explain,
    /// The rules hash (scripts plus policy).
    pub rules: String,
    /// Set when a rule failed and the decision fell back to `review`/`rule_error`.
    pub fault: Option<Box<RuleFault>>,
}

/// Everything screening reads.
#[derive(Debug, Clone)]
pub struct ScreenInput {
    /// The sample request.
    pub request: SampleRequest,
    /// The creator, with the figures the request gave.
    pub creator: Arc<Creator>,
    /// The product.
    pub product: Arc<Product>,
    /// The creator's ledger as it stands.
    pub ledger: Arc<Ledger>,
}

/// The reason code of a decision that fell back because a rule failed.
pub const RULE_ERROR: &str = "rule_error";
impl RuleSet {
    /// Calls `hook` of `category`'s script under the sandbox.
    fn call(
        &self,
        c: &Compiled,
        category: &str,
        hook: &str,
        args: impl lower::HookArgs,
    ) -> Result<Dynamic, Box<RuleFault>> {
        self.call_typed(c, category, hook, &args)
            .map(Returned::into_dynamic)
    }

    /// Calls `hook`: lowered where it can run so, else on Rhai.
    fn call_typed<'a, A: lower::HookArgs>(
        &self,
        c: &Compiled,
        category: &str,
        hook: &str,
        args: &'a A,
    ) -> Result<Returned<'a>, Box<RuleFault>> {
        if self.lowered {
            if let Some(out) = c.lowered.call(hook, args.vals(), &self.limits) {
                return Ok(Returned::Lowered(out));
            }
        }
        let args = args.clone();
        let run = |engine: &Engine, args| {
            sandbox::with_budget(&self.limits, || {
                engine.call_fn_with_options::<Dynamic>(
                    CallFnOptions::new().eval_ast(false).rewind_scope(false),
                    &mut Scope::new(),
                    &c.ast,
                    hook,
                    args,
                )
            })
        };
        run(&self.engine, args.clone())
            .map_err(|e| {
                // Limits are reported at the outermost call; run again, tracing, to find the place.
                let trace = sandbox::innermost(&e)
                    .1
                    .is_system_exception()
                    .then(|| sandbox::trace(|| run(&self.tracer, args)))
                    .flatten();
                Box::new(RuleFault::from_eval(hook, category, &e, &c.places, trace))
            })
            .map(Returned::Rhai)
    }

    fn explain(&self, c: &Compiled, category: &str, hook: &str, function: &str) -> Explain {
        Explain {
            hook: hook.to_string(),
            category: category.to_string(),
            file: c
                .places
                .get(function)
                .map(|p| p.file.clone())
                .unwrap_or_default(),
            function: function.to_string(),
        }
    }

    fn bad_return(
        &self,
        c: &Compiled,
        category: &str,
        hook: &str,
        expected: &str,
        got: &Dynamic,
    ) -> Box<RuleFault> {
        let place = c.places.get(hook).cloned().unwrap_or_default();
        Box::new(RuleFault::bad_return(hook, category, &place, expected, got))
    }

    /// The creator's tier (`new`, `bronze`, `silver`, `gold`) by the `tier` hook.
    pub fn tier(
        &self,
        category: &str,
        creator: &Arc<Creator>,
        ledger: &LedgerView,
    ) -> Result<ImmutableString, Box<RuleFault>> {
        self.tier_in(self.compiled(category), category, creator, ledger)
    }

    fn tier_in(
        &self,
        c: &Compiled,
        category: &str,
        creator: &Arc<Creator>,
        ledger: &LedgerView,
    ) -> Result<ImmutableString, Box<RuleFault>> {
        let args = (creator.clone(), ledger.clone());
        let out = match self.call_typed(c, category, "tier", &args)? {
            Returned::Lowered(lower::Val::Str(tier)) => return Ok(tier),
            other => other.into_dynamic(),
        };
        out.clone()
            .into_immutable_string()
            .map_err(|_| self.bad_return(c, category, "tier", "a tier name", &out))
    }

    /// Screens a request: the `tier` hook, then `screen`. A failing rule gives `review` with
    /// reason `rule_error` and the fault; it never stops the caller.
    pub fn screen(&self, input: ScreenInput) -> Screening {
        let category = input.product.category.clone();
        let c = self.compiled(&category);
        let ledger = LedgerView::new(input.ledger, input.request.at, self.policy.timezone);
        let fallback = |fault: Box<RuleFault>, tier: ImmutableString| Screening {
            decision: Verdict::Review,
            reason: RULE_ERROR.into(),
            tier,
            explain: Explain {
                hook: fault.hook.clone(),
                category: category.to_string(),
                file: fault.file.clone(),
                function: fault.function.clone(),
            },
            rules: self.hash.clone(),
            fault: Some(fault),
        };
        let tier = match self.tier_in(c, &category, &input.creator, &ledger) {
            Ok(tier) => tier,
            Err(fault) => return fallback(fault, ImmutableString::new()),
        };
        let mut request = input.request;
        request.tier = tier.clone();
        let args = (Arc::new(request), input.creator, input.product, ledger);
        let out = match self.call_typed(c, &category, "screen", &args) {
            Ok(Returned::Lowered(lower::Val::Decision(decision))) => {
                return self.screened(c, &category, decision, tier)
            }
            Ok(out) => out.into_dynamic(),
            Err(fault) => return fallback(fault, tier),
        };
        let Some(decision) = out.clone().try_cast::<Decision>() else {
            let fault = self.bad_return(
                c,
                &category,
                "screen",
                "a decision (`approve`, `reject` or `review`)",
                &out,
            );
            return fallback(fault, tier);
        };
        self.screened(c, &category, decision, tier)
    }

    /// A screening decision with the function that made it.
    fn screened(
        &self,
        c: &Compiled,
        category: &str,
        decision: Decision,
        tier: ImmutableString,
    ) -> Screening {
        let function = c
            .decided_by
            .get(decision.reason.as_str())
            .map_or("screen", String::as_str);
        Screening {
            decision: decision.verdict,
            explain: self.explain(c, category, "screen", function),
            reason: decision.reason,
            tier,
            rules: self.hash.clone(),
            fault: None,
        }
    }

    /// The `deposit` hook: the actions for a newly approved sample (a `require_deposit` or none).
    pub fn deposit(&self, input: &ScreenInput) -> Result<Vec<Action>, Box<RuleFault>> {
        let category = input.product.category.as_str();
        let c = self.compiled(category);
        let ledger = LedgerView::new(input.ledger.clone(), input.request.at, self.policy.timezone);
        let args = (
            Arc::new(input.request.clone()),
            input.creator.clone(),
            input.product.clone(),
            ledger,
        );
        let out = self.call(c, category, "deposit", args)?;
        self.actions(c, category, "deposit", out)
    }

    /// The `content_check` hook: `qualifying_video`, `qualifying_live` or `not_qualifying`.
    pub fn content_check(
        &self,
        post: Arc<Post>,
        sample: Arc<Sample>,
    ) -> Result<(ImmutableString, Explain), Box<RuleFault>> {
        let category = sample.category.clone();
        self.outcome(&category, "content_check", (post, sample))
    }

    /// The `removal_check` hook: `keep_up_broken` or `other`.
    pub fn removal_check(
        &self,
        content_id: ImmutableString,
        sample: Arc<Sample>,
    ) -> Result<(ImmutableString, Explain), Box<RuleFault>> {
        let category = sample.category.clone();
        self.outcome(&category, "removal_check", (content_id, sample))
    }

    /// The `penalty` hook, on a breach.
    pub fn penalty(
        &self,
        sample: Arc<Sample>,
        ledger: Arc<Ledger>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Action>, Box<RuleFault>> {
        self.action_hook("penalty", sample, ledger, at)
    }

    /// The `reward` hook, on new metrics; not called while the sample's GMV is below what the
    /// category's `reward_wakes_at()` declares (it could give nothing there).
    pub fn reward(
        &self,
        sample: Arc<Sample>,
        ledger: Arc<Ledger>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Action>, Box<RuleFault>> {
        if self.sleeps("reward", &sample) {
            return Ok(Vec::new());
        }
        self.action_hook("reward", sample, ledger, at)
    }

    /// True when `hook` can give nothing for `sample` by its category's declaration.
    fn sleeps(&self, hook: &str, sample: &Sample) -> bool {
        hook == "reward"
            && matches!(
                self.compiled(&sample.category).reward_wakes_at,
                Some(Ok(at)) if sample.gmv < at
            )
    }

    /// Any other hook of a sample: actions, or an outcome name.
    pub fn call_hook(
        &self,
        hook: &str,
        sample: Arc<Sample>,
        ledger: Arc<Ledger>,
        at: DateTime<Utc>,
    ) -> Result<HookResult, Box<RuleFault>> {
        if self.sleeps(hook, &sample) {
            return Ok(HookResult::Actions(Vec::new()));
        }
        let category = sample.category.clone();
        let c = self.compiled(&category);
        let view = LedgerView::new(ledger, at, self.policy.timezone);
        let out = self.call(c, &category, hook, (sample, view))?;
        if out.is_string() {
            return Ok(HookResult::Outcome(
                out.into_immutable_string().unwrap_or_default(),
            ));
        }
        self.actions(c, &category, hook, out)
            .map(HookResult::Actions)
    }

    fn action_hook(
        &self,
        hook: &str,
        sample: Arc<Sample>,
        ledger: Arc<Ledger>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Action>, Box<RuleFault>> {
        let category = sample.category.clone();
        match self.call_hook(hook, sample, ledger, at)? {
            HookResult::Actions(actions) => Ok(actions),
            HookResult::Outcome(outcome) => {
                let c = self.compiled(&category);
                let got = Dynamic::from(outcome);
                Err(self.bad_return(
                    c,
                    &category,
                    hook,
                    "an action, a list of actions or ()",
                    &got,
                ))
            }
        }
    }

    fn outcome(
        &self,
        category: &str,
        hook: &str,
        args: impl lower::HookArgs,
    ) -> Result<(ImmutableString, Explain), Box<RuleFault>> {
        let c = self.compiled(category);
        let out = self.call(c, category, hook, args)?;
        let outcome = out
            .clone()
            .into_immutable_string()
            .map_err(|_| self.bad_return(c, category, hook, "an outcome name", &out))?;
        Ok((outcome, self.explain(c, category, hook, hook)))
    }

    /// `()`, one action, or an array of actions.
    fn actions(
        &self,
        c: &Compiled,
        category: &str,
        hook: &str,
        out: Dynamic,
    ) -> Result<Vec<Action>, Box<RuleFault>> {
        if out.is_unit() {
            return Ok(Vec::new());
        }
        if out.is::<Action>() {
            return Ok(out.try_cast::<Action>().into_iter().collect());
        }
        let bad = |out: &Dynamic| {
            self.bad_return(c, category, hook, "an action, a list of actions or ()", out)
        };
        let Some(items) = out.clone().try_cast::<rhai::Array>() else {
            return Err(bad(&out));
        };
        items
            .into_iter()
            .map(|item| item.clone().try_cast::<Action>().ok_or_else(|| bad(&item)))
            .collect()
    }
}

/// What a hook returned: a lowered value (borrowing the hook's arguments) or Rhai's.
enum Returned<'a> {
    Lowered(lower::Val<'a>),
    Rhai(Dynamic),
}

impl Returned<'_> {
    fn into_dynamic(self) -> Dynamic {
        match self {
            Returned::Lowered(v) => v.into_dynamic(),
            Returned::Rhai(d) => d,
        }
    }
}

/// What a hook without a known signature returned.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HookResult {
    Outcome(ImmutableString),
    Actions(Vec<Action>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load::tests::shipped;

    pub(crate) fn input(category: &str) -> ScreenInput {
        ScreenInput {
            request: SampleRequest {
                sample: "s1".into(),
                at: "2026-03-10T18:00:00Z".parse().unwrap(),
                quantity: 1,
                auto_approvals_today: 0,
                tier: ImmutableString::new(),
            },
            creator: Arc::new(Creator {
                id: "c1".into(),
                followers: 20_000,
                engagement_rate: 0.05,
                posts_30d: 6,
                gmv_30d: None,
                avg_video_views: None,
                fulfillment_rate_90d: Some(0.9),
                top_categories: vec!["beauty".into()],
            }),
            product: Arc::new(Product {
                id: "p1".into(),
                category: category.into(),
                price: 25.0,
                unit_cost: 8.0,
                flags: vec![],
            }),
            ledger: Arc::new(Ledger::default()),
        }
    }

    #[test]
    fn a_plain_request_is_approved_with_its_explain() {
        let rules = shipped();
        let s = rules.screen(input("beauty"));
        assert_eq!(
            (s.decision, s.reason.as_str(), s.tier.as_str()),
            (Verdict::Approve, "auto_approved", "new")
        );
        assert_eq!(s.fault, None);
        assert_eq!(s.explain.file, "default.rhai");
        assert_eq!(s.explain.function, "screen");
        assert_eq!(s.rules.len(), 12);
    }

    #[test]
    fn a_category_file_overrides_one_function() {
        let rules = shipped();
        let mut i = input("apparel");
        let s = rules.screen(i.clone());
        assert_eq!(s.reason.as_str(), "category_mismatch");
        assert_eq!(s.explain.file, "apparel.rhai");
        assert_eq!(s.explain.function, "category_check");
        i.product = Arc::new(Product {
            category: "electronics".into(),
            ..(*i.product).clone()
        });
        i.creator = Arc::new(Creator {
            fulfillment_rate_90d: None,
            ..(*i.creator).clone()
        });
        let s = rules.screen(i);
        assert_eq!(
            (s.decision, s.reason.as_str()),
            (Verdict::Review, "unknown_fulfillment")
        );
        assert_eq!(s.explain.file, "electronics.rhai");
    }

    fn sample(gmv: f64, keep_up: Option<&str>) -> Arc<Sample> {
        Arc::new(Sample {
            id: "s1".into(),
            state: "post_in_review".into(),
            creator: "c1".into(),
            product: "p1".into(),
            category: "beauty".into(),
            quantity: 1,
            cost: 12.0,
            gmv,
            deposit: None,
            keep_up_content: keep_up.map(Into::into),
        })
    }

    fn post(format: &str, link: bool, minutes: Option<f64>) -> Arc<Post> {
        Arc::new(Post {
            content_id: "v1".into(),
            format: format.into(),
            has_product_link: link,
            has_ad_disclosure: false,
            live_minutes: minutes,
        })
    }

    #[test]
    fn content_qualifies_by_link_and_live_minutes() {
        let rules = shipped();
        let check = |p| rules.content_check(p, sample(0.0, None)).unwrap().0;
        assert_eq!(
            check(post("video", true, None)).as_str(),
            "qualifying_video"
        );
        assert_eq!(check(post("video", false, None)).as_str(), "not_qualifying");
        assert_eq!(
            check(post("live", true, Some(10.0))).as_str(),
            "qualifying_live"
        );
        assert_eq!(
            check(post("live", true, Some(9.5))).as_str(),
            "not_qualifying"
        );
        assert_eq!(check(post("live", true, None)).as_str(), "not_qualifying");
        let (_, explain) = rules
            .content_check(post("video", true, None), sample(0.0, None))
            .unwrap();
        assert_eq!(
            (explain.hook.as_str(), explain.file.as_str()),
            ("content_check", "default.rhai")
        );
    }

    #[test]
    fn removal_breaks_keep_up_only_for_its_video() {
        let rules = shipped();
        let removed = |id: &str, s| rules.removal_check(id.into(), s).unwrap().0;
        assert_eq!(
            removed("v1", sample(0.0, Some("v1"))).as_str(),
            "keep_up_broken"
        );
        assert_eq!(removed("v2", sample(0.0, Some("v1"))).as_str(), "other");
        assert_eq!(removed("v1", sample(0.0, None)).as_str(), "other");
    }

    #[test]
    fn a_repeat_breach_is_penalized_and_blocked() {
        let rules = shipped();
        let at: DateTime<Utc> = "2026-03-10T18:00:00Z".parse().unwrap();
        let first = rules
            .penalty(sample(0.0, None), Arc::new(Ledger::default()), at)
            .unwrap();
        assert_eq!(first, [Action::Penalize { credit: -20 }]);
        let ledger = Ledger {
            breaches: vec!["2026-01-10T00:00:00Z".parse().unwrap()],
            ..Ledger::default()
        };
        let again = rules
            .penalty(sample(0.0, None), Arc::new(ledger), at)
            .unwrap();
        assert_eq!(
            again,
            [
                Action::Penalize { credit: -20 },
                Action::BlockCreator { days: 90 }
            ]
        );
    }

    #[test]
    fn a_paid_collab_is_offered_once_at_500_of_gmv() {
        let rules = shipped();
        let at: DateTime<Utc> = "2026-03-10T18:00:00Z".parse().unwrap();
        let fresh = Arc::new(Ledger::default());
        assert!(rules
            .reward(sample(499.99, None), fresh.clone(), at)
            .unwrap()
            .is_empty());
        assert_eq!(
            rules.reward(sample(500.0, None), fresh, at).unwrap(),
            [Action::InvitePaidCollab]
        );
        let invited = Arc::new(Ledger {
            paid_collab_invited: true,
            ..Ledger::default()
        });
        assert!(rules
            .reward(sample(900.0, None), invited, at)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_rule_set_can_be_shared_across_threads() {
        // Hot reload compiles off the hot path and swaps the set in; `diff` decides in parallel.
        fn shared<T: Send + Sync + 'static>() {}
        shared::<RuleSet>();
        let rules = Arc::new(shipped());
        let other = Arc::clone(&rules);
        let decided = std::thread::spawn(move || other.screen(input("beauty")).reason)
            .join()
            .unwrap();
        assert_eq!(decided.as_str(), "auto_approved");
    }

    #[test]
    fn any_hook_can_be_called_by_name() {
        let rules = shipped();
        let at: DateTime<Utc> = "2026-03-10T18:00:00Z".parse().unwrap();
        let out = rules.call_hook(
            "reward",
            sample(600.0, None),
            Arc::new(Ledger::default()),
            at,
        );
        assert_eq!(
            out.unwrap(),
            HookResult::Actions(vec![Action::InvitePaidCollab])
        );
        let missing = rules.call_hook(
            "nothing_here",
            sample(0.0, None),
            Arc::new(Ledger::default()),
            at,
        );
        let fault = missing.unwrap_err();
        assert!(fault.message.contains("nothing_here"), "{fault}");
    }
}
