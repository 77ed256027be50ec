//! Rules: per-category Rhai scripts over a tunable policy, compiled once, run sandboxed.
//!
//! `rules/default.rhai` defines every hook; `rules/<category>.rhai` overrides any function of it
//! for one category (Rhai's AST merge: a function of the same name and arity replaces default's).
//! For each category the merged script is optimized with that category's `policy` as a constant,
//! so `policy.min_followers` is folded into a literal before the first call.

pub(crate) mod cases;
mod check;
mod error;
pub(crate) mod explain;
mod lower;
mod policy;
mod sandbox;
mod types;

pub use error::*;
pub use policy::{param_named, Kind, Param, ParamValue, Policy, DEFAULT_TIMEZONE, PARAMS};
pub use sandbox::{Limits, RuleFault};

use sandbox::Place;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::{CallFnOptions, Dynamic, Engine, ImmutableString, Map, Scope, AST};
use sha2::{Digest, Sha256};

use crate::definition::vocab::did_you_mean;
use crate::definition::ReadFailed;
use crate::diagnostic::LineIndex;
use crate::diagnostic::{self, Source, Span};
use crate::model::{
    Action, Creator, Decision, Explain, Ledger, LedgerView, Post, Product, Request, Sample, Verdict,
};

/// The script every category falls back to.
pub const DEFAULT_SCRIPT: &str = "default.rhai";
/// The tunable numbers.
pub const POLICY_FILE: &str = "policy.yaml";

/// A hook that the engine knows how to call, and the parameters it passes.
#[derive(Debug)]
pub struct HookSpec {
    pub name: &'static str,
    pub params: &'static [&'static str],
}

/// The hooks of the shipped workflow, with their parameters in order.
pub const HOOKS: &[HookSpec] = &[
    HookSpec {
        name: "screen",
        params: &["request", "creator", "product", "ledger"],
    },
    HookSpec {
        name: "tier",
        params: &["creator", "ledger"],
    },
    HookSpec {
        name: "deposit",
        params: &["request", "creator", "product", "ledger"],
    },
    HookSpec {
        name: "content_check",
        params: &["post", "sample"],
    },
    HookSpec {
        name: "removal_check",
        params: &["content_id", "sample"],
    },
    HookSpec {
        name: "penalty",
        params: &["sample", "ledger"],
    },
    HookSpec {
        name: "reward",
        params: &["sample", "ledger"],
    },
];

/// A hook as a workflow names it and the runner calls it: the engine's own, each called with
/// the arguments it takes, or a script's own function by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    Screen,
    Deposit,
    ContentCheck,
    RemovalCheck,
    Penalty,
    Reward,
    /// A function of the scripts that the engine gives the sample and ledger.
    Own(String),
}

impl Hook {
    pub fn named(name: &str) -> Hook {
        match name {
            "screen" => Hook::Screen,
            "deposit" => Hook::Deposit,
            "content_check" => Hook::ContentCheck,
            "removal_check" => Hook::RemovalCheck,
            "penalty" => Hook::Penalty,
            "reward" => Hook::Reward,
            other => Hook::Own(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Hook::Screen => "screen",
            Hook::Deposit => "deposit",
            Hook::ContentCheck => "content_check",
            Hook::RemovalCheck => "removal_check",
            Hook::Penalty => "penalty",
            Hook::Reward => "reward",
            Hook::Own(name) => name,
        }
    }
}

/// The spec of hook `name`.
pub fn hook_spec(name: &str) -> Option<&'static HookSpec> {
    HOOKS.iter().find(|h| h.name == name)
}

/// A property or method that a script reads on a hook's parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The registered type: `Ledger`, `Creator`...
    pub type_name: &'static str,
    pub name: String,
    /// The script file, and the place in it.
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// A function defined in a script file.
#[derive(Debug, Clone)]
pub struct FnInfo {
    pub name: String,
    pub arity: usize,
    /// Its parameters' names.
    pub params: Vec<String>,
    /// Where its body starts.
    pub span: Span,
}

/// One `.rhai` file, parsed but not optimized.
#[derive(Debug, Clone)]
pub struct ScriptFile {
    /// The file name within the rules folder: `default.rhai`, `electronics.rhai`.
    pub name: String,
    /// `None` for `default.rhai`.
    pub category: Option<String>,
    pub source: Source,
    pub functions: Vec<FnInfo>,
    ast: AST,
    /// What the script calls and reads, walked once at load.
    uses: Vec<check::Use>,
}

/// The merged, optimized script of one category.
#[derive(Debug, Clone)]
struct Compiled {
    ast: AST,
    /// The functions that run without Rhai's interpreter (`lower.rs`).
    lowered: lower::Lowered,
    /// Function name to where the category's script gets it from.
    places: HashMap<String, Place>,
    /// Reason code to the function that decides it with a literal `approve|reject|review`.
    decided_by: HashMap<String, String>,
    /// What `reward_wakes_at()` declares: below this GMV of one sample, `reward` can give
    /// nothing, so it is not called. `Err` holds why the declaration gave no number.
    reward_wakes_at: Option<Result<f64, String>>,
}

/// The declaration that lets the runner skip `reward` where it can give nothing: a function of
/// no parameters returning the GMV of one sample below which `reward` returns no action.
pub const REWARD_WAKES_AT: &str = "reward_wakes_at";

/// A loaded, checked and compiled rules folder.
#[derive(Clone)]
pub struct RuleSet {
    engine: Arc<Engine>,
    /// The same engine with a step tracer, to locate faults that Rhai reports without a place.
    tracer: Arc<Engine>,
    limits: Limits,
    policy: Arc<Policy>,
    hash: String,
    /// Each hashed file's name and text, as the hash saw them (policy first).
    texts: Arc<Vec<(String, String)>>,
    dir: PathBuf,
    files: Vec<ScriptFile>,
    /// Every property and method read on a hook parameter, with its type and place.
    reads: Arc<Vec<Read>>,
    default: Arc<Compiled>,
    categories: HashMap<String, Arc<Compiled>>,
    /// Hooks run lowered where they can; off where every step must go through Rhai (coverage,
    /// explain traces).
    lowered: bool,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("dir", &self.dir)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// What screening decided, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Screening {
    pub decision: Verdict,
    pub reason: ImmutableString,
    /// The tier that screening used.
    pub tier: ImmutableString,
    pub explain: Explain,
    /// The rules hash (scripts plus policy).
    pub rules: String,
    /// Set when a rule failed and the decision fell back to `review`/`rule_error`.
    pub fault: Option<Box<RuleFault>>,
}

/// Everything screening reads.
#[derive(Debug, Clone)]
pub struct ScreenInput {
    pub request: Request,
    pub creator: Arc<Creator>,
    pub product: Arc<Product>,
    pub ledger: Arc<Ledger>,
}

/// The reason code of a decision that fell back because a rule failed.
pub const RULE_ERROR: &str = "rule_error";

fn engine(limits: Limits) -> Engine {
    let mut engine = sandbox::engine(limits);
    types::register(&mut engine);
    engine
}

fn tracer(limits: Limits) -> Engine {
    let mut engine = sandbox::tracer(limits);
    types::register(&mut engine);
    engine
}

impl RuleSet {
    /// Loads, checks and compiles `dir` with the default sandbox limits.
    pub fn load(dir: &Path) -> Result<RuleSet, Vec<RuleProblem>> {
        Self::load_with(dir, Limits::default())
    }

    /// Loads `dir`; every problem of every file is returned at once.
    pub fn load_with(dir: &Path, limits: Limits) -> Result<RuleSet, Vec<RuleProblem>> {
        let engine = engine(limits);
        let mut problems = Vec::new();
        let mut hasher = Sha256::new();
        let mut texts = Vec::new();

        let policy_path = dir.join(POLICY_FILE);
        let policy = match diagnostic::read_bounded(&policy_path, diagnostic::MAX_YAML_FILE) {
            Ok(text) => {
                hash_file(&mut hasher, POLICY_FILE, &text);
                texts.push((POLICY_FILE.to_string(), text.clone()));
                Policy::parse(&policy_path.display().to_string(), &text)
                    .map_err(|e| problems.extend(e))
                    .ok()
            }
            Err(e) => {
                problems.push(missing_or_unreadable(
                    &policy_path,
                    e,
                    "the policy: a `default:` block of every parameter",
                ));
                None
            }
        };

        let mut names = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rhai"))
                .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
                .collect::<Vec<_>>(),
            Err(e) => {
                problems.push(missing_or_unreadable(
                    dir,
                    e,
                    "a folder with `default.rhai` and `policy.yaml`",
                ));
                return Err(problems);
            }
        };
        // default.rhai first, then the categories in name order.
        names.sort_by_key(|n| (n != DEFAULT_SCRIPT, n.clone()));
        if names.first().map(String::as_str) != Some(DEFAULT_SCRIPT) {
            problems.push(
                MissingFile {
                    path: dir.join(DEFAULT_SCRIPT).display().to_string(),
                    help: Some(
                        "`default.rhai` defines every hook; category files override some".into(),
                    ),
                }
                .into(),
            );
        }
        let mut files = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let text = match diagnostic::read_bounded(&path, diagnostic::MAX_SCRIPT_FILE) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(missing_or_unreadable(&path, e, ""));
                    continue;
                }
            };
            hash_file(&mut hasher, &name, &text);
            texts.push((name.clone(), text.clone()));
            match parse_script(&engine, &path, &name, &text) {
                Ok(file) => files.push(file),
                Err(problem) => problems.push(*problem),
            }
        }
        let reads = check_scripts(&engine, &files, &mut problems);
        let Some(policy) = policy else {
            return Err(problems);
        };
        for file in &files {
            if let Some(category) = file.category.as_deref() {
                if !policy.declares(category) {
                    let what = "category script";
                    let span = Span::new(0, 0);
                    problems.push(policy.undeclared(what, category, file.source.clone(), span));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let hash = hasher
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        let engines = (Arc::new(engine), Arc::new(tracer(limits)));
        let mut rules = Self::compile(engines, limits, Arc::new(policy), hash, dir, files);
        rules.texts = Arc::new(texts);
        rules.reads = Arc::new(reads);
        let broken = std::iter::once(("default", &rules.default))
            .chain(rules.categories.iter().map(|(k, c)| (k.as_str(), c)))
            .find_map(|(category, c)| match &c.reward_wakes_at {
                Some(Err(why)) => Some((
                    category.to_string(),
                    why.clone(),
                    c.places.get(REWARD_WAKES_AT).cloned(),
                )),
                _ => None,
            });
        if let Some((category, why, place)) = broken {
            let file = place
                .as_ref()
                .and_then(|p| rules.files.iter().find(|f| f.name == p.file));
            if let (Some(file), Some(place)) = (file, place) {
                let lines = LineIndex::new(file.source.inner());
                return Err(vec![ScriptSyntax {
                    message: format!("`{REWARD_WAKES_AT}()` must give a number (for `{category}`): {why}"),
                    src: file.source.clone(),
                    span: lines.char_span(place.line, place.column.saturating_sub(1)).into(),
                    help: Some("the GMV of one sample below which `reward` gives nothing, e.g. `policy.paid_collab_gmv`".into()),
                }
                .into()]);
            }
        }
        Ok(rules)
    }

    fn compile(
        (engine, tracer): (Arc<Engine>, Arc<Engine>),
        limits: Limits,
        policy: Arc<Policy>,
        hash: String,
        dir: &Path,
        files: Vec<ScriptFile>,
    ) -> RuleSet {
        let categories: BTreeSet<String> = policy
            .categories
            .keys()
            .cloned()
            .chain(files.iter().filter_map(|f| f.category.clone()))
            .collect();
        let default = Arc::new(compile_category(&engine, limits, &policy, &files, None));
        let categories = categories
            .into_iter()
            .map(|c| {
                let compiled = compile_category(&engine, limits, &policy, &files, Some(&c));
                (c, Arc::new(compiled))
            })
            .collect();
        RuleSet {
            engine,
            tracer,
            limits,
            policy,
            hash,
            texts: Arc::default(),
            dir: dir.to_path_buf(),
            files,
            reads: Arc::default(),
            default,
            categories,
            lowered: true,
        }
    }

    /// The same rules with every hook on Rhai's interpreter, none lowered: the reference that
    /// the lowered form is held to, and the baseline the screening bench compares it with.
    pub fn interpreted(&self) -> RuleSet {
        let mut rules = self.clone();
        rules.lowered = false;
        rules
    }

    /// The same scripts under another policy (rule test cases override parameters this way).
    pub fn with_policy(&self, policy: Policy) -> RuleSet {
        let mut rules = Self::compile(
            (self.engine.clone(), self.tracer.clone()),
            self.limits,
            Arc::new(policy),
            self.hash.clone(),
            &self.dir,
            self.files.clone(),
        );
        rules.texts = self.texts.clone();
        rules.reads = self.reads.clone();
        rules.lowered = self.lowered;
        rules
    }

    /// Runs `f` with these rules on the tracing engine, and returns the script functions that
    /// ran (by name; [`RuleSet::supplier`] gives each one's file for a category).
    pub fn covering<T>(&self, f: impl FnOnce(&RuleSet) -> T) -> (T, BTreeSet<String>) {
        let mut traced = self.clone();
        traced.engine = self.tracer.clone();
        traced.lowered = false;
        sandbox::cover(|| f(&traced))
    }

    /// Runs `f` with these rules on an explaining engine, and returns every rule row (`if`)
    /// that ran, in order, with its values; `category` gives the policy values rows name.
    pub fn explaining<T>(
        &self,
        category: &str,
        f: impl FnOnce(&RuleSet) -> T,
    ) -> (T, Vec<explain::Row>) {
        let mut traced = self.clone();
        traced.engine = explain::with_types(self.limits);
        traced.lowered = false;
        let (out, raw) = explain::record(|| f(&traced));
        let policy = self.policy.resolved(category);
        let rows = raw
            .into_iter()
            .map(|r| {
                let name = r
                    .source
                    .as_deref()
                    .and_then(|s| Path::new(s).file_name()?.to_str())
                    .or_else(|| self.supplier(category, &r.function));
                let file = name.and_then(|name| self.files.iter().find(|f| f.name == name));
                let condition = file
                    .map(|f| explain::condition_text(f.source.inner(), r.line, r.column))
                    .unwrap_or_default();
                let mut values = r.values;
                for name in explain::policy_reads(&condition) {
                    if let Some(value) = policy.get(name.as_str()) {
                        values.push((format!("policy.{name}"), value.to_string()));
                    }
                }
                explain::Row {
                    file: file.map(|f| f.name.clone()).unwrap_or_default(),
                    function: r.function,
                    line: r.line,
                    column: r.column,
                    condition,
                    values,
                    held: r.held,
                }
            })
            .collect();
        (out, rows)
    }

    /// The first read of `type_name.name` in the scripts, if any script reads it.
    pub fn reads(&self, type_name: &str, name: &str) -> Option<&Read> {
        self.reads
            .iter()
            .find(|r| r.type_name == type_name && r.name == name)
    }

    /// The files the hash covers, by name, with their text: what the store keeps of a version.
    pub fn texts(&self) -> &[(String, String)] {
        &self.texts
    }

    /// The short hash of the scripts plus the policy, as records carry it.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn files(&self) -> &[ScriptFile] {
        &self.files
    }

    /// Every reason code a script decides with a literal `approve|reject|review("...")`, in
    /// name order (`rule_error` is the engine's, not a script's).
    pub fn reasons(&self) -> BTreeSet<String> {
        self.files
            .iter()
            .flat_map(|f| f.uses.iter())
            .filter_map(|u| match u {
                check::Use::Decision { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    /// True when `default.rhai` defines `hook`.
    pub fn defines(&self, hook: &str) -> bool {
        self.files
            .first()
            .is_some_and(|f| f.category.is_none() && f.functions.iter().any(|g| g.name == hook))
    }

    /// `default`, then every category with its own script or policy block, in name order.
    pub fn categories(&self) -> Vec<&str> {
        let mut named: Vec<&str> = self.categories.keys().map(String::as_str).collect();
        named.sort_unstable();
        std::iter::once("default").chain(named).collect()
    }

    /// The file that supplies `function` for `category`.
    pub fn supplier(&self, category: &str, function: &str) -> Option<&str> {
        let c = self.compiled(category);
        c.places.get(function).map(|p| p.file.as_str())
    }

    fn compiled(&self, category: &str) -> &Compiled {
        self.categories.get(category).unwrap_or(&self.default)
    }

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
pub enum HookResult {
    Outcome(ImmutableString),
    Actions(Vec<Action>),
}

fn hash_file(hasher: &mut Sha256, name: &str, text: &str) {
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update(text.as_bytes());
    hasher.update([0]);
}

fn missing_or_unreadable(path: &Path, e: std::io::Error, what: &str) -> RuleProblem {
    if e.kind() == std::io::ErrorKind::NotFound {
        MissingFile {
            path: path.display().to_string(),
            help: (!what.is_empty()).then(|| format!("it holds {what}")),
        }
        .into()
    } else {
        RuleProblem::Load(
            ReadFailed {
                path: path.display().to_string(),
                cause: e.to_string(),
            }
            .into(),
        )
    }
}

/// The span of a Rhai position in the text `lines` index.
fn span_at(lines: &LineIndex, position: rhai::Position) -> Span {
    let (line, column) = sandbox::pos(position);
    lines.char_span(line.max(1), column.saturating_sub(1))
}

/// The longest line of a script, in characters. Rhai counts lines and columns in 16 bits: a
/// longer line (or more than [`MAX_SCRIPT_LINES`] lines) could not be given a true place.
pub const MAX_SCRIPT_LINE: usize = 10_000;
pub const MAX_SCRIPT_LINES: usize = 65_535;

/// A script too long for its places to be told: refused before Rhai reads it.
fn too_long(path: &Path, text: &str, lines: &LineIndex) -> Option<Box<RuleProblem>> {
    let source = diagnostic::source(path.display().to_string(), text);
    let (message, span) = if let Some((n, _)) = lines.lines().nth(MAX_SCRIPT_LINES) {
        (
            format!("the script has more than {MAX_SCRIPT_LINES} lines"),
            lines.char_span(n, 0),
        )
    } else {
        let (n, line) = lines
            .lines()
            .find(|(_, l)| l.chars().count() > MAX_SCRIPT_LINE)?;
        (
            format!(
                "line {n} is {} characters long; a script line may be at most {MAX_SCRIPT_LINE}",
                line.chars().count()
            ),
            lines.char_span(n, 0),
        )
    };
    Some(Box::new(RuleProblem::from(ScriptSyntax {
        message,
        src: source,
        span: span.into(),
        help: Some("split it: rules are for people to read".into()),
    })))
}

fn parse_script(
    engine: &Engine,
    path: &Path,
    name: &str,
    text: &str,
) -> Result<ScriptFile, Box<RuleProblem>> {
    let lines = LineIndex::new(text);
    if let Some(problem) = too_long(path, text, &lines) {
        return Err(problem);
    }
    let source = diagnostic::source(path.display().to_string(), text);
    let mut ast = engine.compile(text).map_err(|e| {
        let message = e.err_type().to_string();
        let help = message
            .contains("'eval'")
            .then(|| "`eval` is disabled: rules cannot run code built at run time".to_string());
        Box::new(RuleProblem::from(ScriptSyntax {
            message,
            src: source.clone(),
            span: span_at(&lines, e.position()).into(),
            help,
        }))
    })?;
    // Hooks are functions; a statement outside them would run nowhere (or, at worst, at load).
    if let Some(stmt) = ast
        .statements()
        .iter()
        .find(|s| !matches!(s, rhai::Stmt::Import(..)))
    {
        return Err(Box::new(RuleProblem::from(ScriptSyntax {
            message: "a statement outside any function: it would never run".into(),
            src: source,
            span: span_at(&lines, stmt.position()).into(),
            help: Some(
                "a rule script holds only functions; move it into the hook it belongs to".into(),
            ),
        })));
    }
    ast.set_source(path.display().to_string());
    let functions = ast
        .iter_fn_def()
        .map(|f| FnInfo {
            name: f.name.to_string(),
            arity: f.params.len(),
            params: f.params.iter().map(|p| p.to_string()).collect(),
            span: span_at(&lines, f.body.start_position()),
        })
        .collect();
    let uses = check::uses(&ast);
    let stem = name.trim_end_matches(".rhai");
    Ok(ScriptFile {
        name: name.to_string(),
        category: (name != DEFAULT_SCRIPT).then(|| stem.to_string()),
        source,
        functions,
        ast,
        uses,
    })
}

/// The registered type of a hook parameter, by the name the hook table gives it.
fn param_type(param: &str) -> Option<&'static str> {
    Some(match param {
        "request" => "Request",
        "creator" => "Creator",
        "product" => "Product",
        "ledger" => "Ledger",
        "sample" => "Sample",
        "post" => "Post",
        _ => return None,
    })
}

/// The registered type of each parameter of each script function, keyed by name and arity:
/// a hook's from the hook table, and a helper's from the calls that pass it a typed parameter
/// (`category_check(request, creator, product, ledger)`), to a fixed point.
fn param_types(files: &[ScriptFile]) -> HashMap<(String, usize), Vec<Option<&'static str>>> {
    let mut types: HashMap<(String, usize), Vec<Option<&'static str>>> = HashMap::new();
    let mut params: HashMap<String, Vec<(usize, Vec<String>)>> = HashMap::new();
    for file in files {
        for f in &file.functions {
            params
                .entry(f.name.clone())
                .or_default()
                .push((f.arity, f.params.clone()));
            let slot = types
                .entry((f.name.clone(), f.arity))
                .or_insert_with(|| vec![None; f.arity]);
            if let Some(spec) = hook_spec(&f.name).filter(|s| s.params.len() == f.arity) {
                for (t, p) in slot.iter_mut().zip(spec.params) {
                    *t = param_type(p);
                }
            }
        }
    }
    // The type of variable `var` inside function `function` (first of that name in a file).
    let lookup =
        |types: &HashMap<(String, usize), Vec<Option<&'static str>>>, function: &str, var: &str| {
            let (arity, names) = params.get(function)?.first()?;
            let i = names.iter().position(|n| n == var)?;
            types
                .get(&(function.to_string(), *arity))?
                .get(i)
                .copied()?
        };
    for _ in 0..16 {
        let mut changed = false;
        for file in files {
            for u in &file.uses {
                let check::Use::Pass {
                    function,
                    callee,
                    args,
                } = u
                else {
                    continue;
                };
                let found: Vec<Option<&'static str>> = args
                    .iter()
                    .map(|a| a.as_deref().and_then(|v| lookup(&types, function, v)))
                    .collect();
                if let Some(slot) = types.get_mut(&(callee.clone(), args.len())) {
                    for (t, f) in slot.iter_mut().zip(found) {
                        if t.is_none() && f.is_some() {
                            *t = f;
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    types
}

/// Unknown functions, calls of the wrong arity, unknown policy parameters, unknown properties and
/// methods of hook parameters, and hooks of the wrong arity, in every file. Returns the known
/// reads of hook parameters.
fn check_scripts(
    engine: &Engine,
    files: &[ScriptFile],
    problems: &mut Vec<RuleProblem>,
) -> Vec<Read> {
    let mut reads = Vec::new();
    let natives = check::native_names(engine);
    let members = check::Members::of(engine);
    let types = param_types(files);
    let default_fns: BTreeSet<&str> = files
        .iter()
        .filter(|f| f.category.is_none())
        .flat_map(|f| f.functions.iter().map(|g| g.name.as_str()))
        .collect();
    // Script functions by name: the argument counts they are defined with.
    let mut arities: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    for file in files {
        for f in &file.functions {
            arities.entry(f.name.as_str()).or_default().insert(f.arity);
        }
    }
    for file in files {
        let text = file.source.inner().as_ref();
        let lines = LineIndex::new(text);
        let own: BTreeSet<&str> = file.functions.iter().map(|g| g.name.as_str()).collect();
        let span_of =
            |position, name: &str| Span::new(span_at(&lines, position).offset, name.len());
        let unknown_function = |name: String, position| -> RuleProblem {
            let candidates = own
                .iter()
                .chain(default_fns.iter())
                .copied()
                .chain(natives.iter().map(String::as_str));
            let span = span_of(position, &name);
            UnknownFunction {
                help: did_you_mean(&name, candidates).map(|b| format!("did you mean `{b}`?")),
                name,
                src: file.source.clone(),
                span: span.into(),
            }
            .into()
        };
        // The type of `var` in `function` of this file, where it is a typed parameter.
        let type_of = |function: &str, var: &str| {
            let f = file.functions.iter().find(|f| f.name == function)?;
            let i = f.params.iter().position(|p| p == var)?;
            types.get(&(f.name.clone(), f.arity))?.get(i).copied()?
        };
        for u in &file.uses {
            match u.clone() {
                check::Use::Call {
                    name,
                    arity,
                    position,
                } => {
                    if natives.contains(&name) {
                        continue;
                    }
                    if !own.contains(name.as_str()) && !default_fns.contains(name.as_str()) {
                        problems.push(unknown_function(name, position));
                        continue;
                    }
                    let defined = &arities[name.as_str()];
                    if !defined.contains(&arity) {
                        let expected = defined
                            .iter()
                            .map(|n| arguments(*n))
                            .collect::<Vec<_>>()
                            .join(" or ");
                        let span = span_of(position, &name);
                        problems.push(
                            CallArity {
                                name,
                                expected,
                                found: arity.to_string(),
                                src: file.source.clone(),
                                span: span.into(),
                            }
                            .into(),
                        );
                    }
                }
                check::Use::MethodOn { name, position } => {
                    if !natives.contains(&name) {
                        problems.push(unknown_function(name, position));
                    }
                }
                check::Use::Member {
                    function,
                    var,
                    name,
                    arity,
                    position,
                } => {
                    let typed = type_of(&function, &var).and_then(|t| Some((t, members.get(t)?)));
                    let Some((type_name, known)) = typed else {
                        // Not a hook's parameter: a method must exist somewhere.
                        if arity.is_some() && !natives.contains(&name) {
                            problems.push(unknown_function(name, position));
                        }
                        continue;
                    };
                    let span = span_of(position, &name);
                    let known_read = match arity {
                        None => known.properties.contains(&name),
                        Some(_) => known.methods.contains_key(&name),
                    };
                    if known_read {
                        let (line, column) = lines.line_col(span.offset);
                        reads.push(Read {
                            type_name,
                            name: name.clone(),
                            file: file.name.clone(),
                            line,
                            column,
                        });
                    }
                    let unknown = |kind: &'static str, name: String, var: String| -> RuleProblem {
                        let method = kind == "method";
                        let (same, other): (Vec<&str>, bool) = if method {
                            let same = known.methods.keys().map(String::as_str).collect();
                            (same, known.properties.contains(&name))
                        } else {
                            let same = known.properties.iter().map(String::as_str).collect();
                            (same, known.methods.contains_key(&name))
                        };
                        let call = |n: &str| if method { format!("{var}.{n}(..)") } else { format!("{var}.{n}") };
                        let help = did_you_mean(&name, same)
                            .map(|b| format!("did you mean `{}`?", call(b)))
                            .or_else(|| {
                                other.then(|| {
                                    let (is, form) = if method {
                                        ("a property", format!("{var}.{name}"))
                                    } else {
                                        ("a method", format!("{var}.{name}(..)"))
                                    };
                                    format!("`{name}` is {is}: `{form}`")
                                })
                            });
                        UnknownMember {
                            help,
                            type_name: type_name.to_string(),
                            kind,
                            name,
                            src: file.source.clone(),
                            span: span.into(),
                            var,
                        }
                        .into()
                    };
                    let problem = match arity {
                        None if known.properties.contains(&name) => None,
                        None => Some(unknown("property", name, var)),
                        Some(n) => match known.methods.get(&name) {
                            Some(takes) if takes.contains(&n) => None,
                            Some(takes) => Some(
                                CallArity {
                                    expected: takes
                                        .iter()
                                        .map(|n| arguments(*n))
                                        .collect::<Vec<_>>()
                                        .join(" or "),
                                    name: format!("{var}.{name}"),
                                    found: n.to_string(),
                                    src: file.source.clone(),
                                    span: span.into(),
                                }
                                .into(),
                            ),
                            // Functions of any value (`type_of`, `to_string`) are methods too.
                            None if UNIVERSAL_METHODS.contains(&name.as_str()) => None,
                            None => Some(unknown("method", name, var)),
                        },
                    };
                    problems.extend(problem);
                }
                check::Use::PolicyParam { name, position } => {
                    if param_named(&name).is_none() {
                        let span = span_of(position, &name);
                        problems.push(
                            UnknownPolicyParam {
                                help: did_you_mean(&name, PARAMS.iter().map(|p| p.name))
                                    .map(|b| format!("did you mean `{b}`?")),
                                name,
                                src: file.source.clone(),
                                span: span.into(),
                            }
                            .into(),
                        );
                    }
                }
                check::Use::Import { position } => problems.push(
                    ScriptSyntax {
                        message: "`import` is not allowed".into(),
                        src: file.source.clone(),
                        span: span_at(&lines, position).into(),
                        help: Some(
                            "rules cannot load modules or files; put shared functions in `default.rhai`"
                                .into(),
                        ),
                    }
                    .into(),
                ),
                check::Use::Decision { .. } | check::Use::Pass { .. } => {}
            }
        }
        for f in &file.functions {
            if let Some(spec) = hook_spec(&f.name) {
                if spec.params.len() != f.arity {
                    problems.push(
                        HookArity {
                            hook: f.name.clone(),
                            expected: format!("({})", spec.params.join(", ")),
                            found: f.arity,
                            src: file.source.clone(),
                            span: f.span.into(),
                        }
                        .into(),
                    );
                }
            }
        }
    }
    reads
}

/// Methods that every value has.
const UNIVERSAL_METHODS: &[&str] = &["type_of", "to_string", "to_debug", "is_shared"];

fn arguments(n: usize) -> String {
    match n {
        1 => "1 argument".to_string(),
        n => format!("{n} arguments"),
    }
}

/// The policy of one category as a Rhai map: durations in seconds, lists as arrays.
fn policy_map(policy: &Policy, category: &str) -> Map {
    policy
        .resolved(category)
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                ParamValue::Int(n) | ParamValue::Duration(n) => Dynamic::from_int(n),
                ParamValue::Number(x) => Dynamic::from_float(x),
                ParamValue::List(items) => Dynamic::from_array(
                    items
                        .into_iter()
                        .map(|s| Dynamic::from(ImmutableString::from(s)))
                        .collect(),
                ),
            };
            (name.into(), value)
        })
        .collect()
}

fn compile_category(
    engine: &Engine,
    limits: Limits,
    policy: &Policy,
    files: &[ScriptFile],
    category: Option<&str>,
) -> Compiled {
    let chosen: Vec<&ScriptFile> = files
        .iter()
        .filter(|f| f.category.is_none() || f.category.as_deref() == category)
        .collect();
    let mut ast = AST::empty();
    let mut places = HashMap::new();
    for file in &chosen {
        ast = ast.merge(&file.ast);
        let lines = LineIndex::new(file.source.inner().as_ref());
        for f in &file.functions {
            let (line, column) = lines.line_col(f.span.offset);
            let file = file.name.clone();
            places.insert(f.name.clone(), Place { file, line, column });
        }
    }
    // A literal decision counts where its function is the one this category uses.
    let mut decided_by: HashMap<String, String> = HashMap::new();
    for file in &chosen {
        for u in &file.uses {
            if let check::Use::Decision { function, reason } = u {
                if places.get(function).is_some_and(|p| p.file == file.name) {
                    decided_by
                        .entry(reason.clone())
                        .or_insert_with(|| function.clone());
                }
            }
        }
    }
    let name = category.unwrap_or("default");
    let mut scope = Scope::new();
    scope.push_constant("policy", policy_map(policy, name));
    let ast = engine.optimize_ast(&scope, ast, rhai::OptimizationLevel::Full);
    // Evaluated once: after folding, it is a constant of the category's policy.
    let reward_wakes_at = ast
        .iter_fn_def()
        .any(|f| f.name == REWARD_WAKES_AT && f.params.is_empty())
        .then(|| {
            let out = sandbox::with_budget(&limits, || {
                engine.call_fn::<Dynamic>(&mut Scope::new(), &ast, REWARD_WAKES_AT, ())
            });
            match out {
                Ok(v) if v.is_float() => v.as_float().map_err(|t| t.to_string()),
                Ok(v) if v.is_int() => v.as_int().map(|n| n as f64).map_err(|t| t.to_string()),
                Ok(v) => Err(format!("it returned {}, not a number", v.type_name())),
                Err(e) => Err(e.to_string()),
            }
        });
    Compiled {
        lowered: lower::Lowered::new(&ast),
        ast,
        places,
        decided_by,
        reward_wakes_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_in_a_list_answers_as_rhai_itself_does() {
        let mut ours = sandbox::engine(Limits::default());
        types::register(&mut ours);
        let plain = rhai::Engine::new();
        for expr in [
            r#""b" in ["a", "b"]"#,
            r#""z" in ["a", "b"]"#,
            r#""c" in ["a", 1, 'c', "c"]"#,
            r#""c" in [1, 'c', 2.5, true, ()]"#,
            r#""1" in [1]"#,
            r#""" in []"#,
            r#""x" in [["x"], #{x: 1}]"#,
            r#"["a", "b"].contains("a")"#,
        ] {
            let want = plain.eval::<bool>(expr).expect(expr);
            assert_eq!(ours.eval::<bool>(expr).expect(expr), want, "{expr}");
        }
        // And it is the engine's own function that answers, not the package's.
        let own: Vec<String> = ours
            .gen_fn_signatures(false)
            .into_iter()
            .filter(|s| s.starts_with("contains("))
            .collect();
        assert_eq!(own.len(), 1, "{own:?}");
    }

    #[test]
    fn a_hook_name_is_its_hook_and_back() {
        for spec in HOOKS.iter().filter(|h| h.name != "tier") {
            let hook = Hook::named(spec.name);
            assert!(!matches!(hook, Hook::Own(_)), "{}", spec.name);
            assert_eq!(hook.as_str(), spec.name);
        }
        assert_eq!(Hook::named("bonus"), Hook::Own("bonus".into()));
        assert_eq!(Hook::named("bonus").as_str(), "bonus");
    }

    fn shipped() -> RuleSet {
        RuleSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap()
    }

    pub(crate) fn input(category: &str) -> ScreenInput {
        ScreenInput {
            request: Request {
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
    fn every_shipped_hook_runs_lowered_in_every_category() {
        let rules = shipped();
        let hooks = [
            ("screen", 4),
            ("tier", 2),
            ("category_check", 4),
            ("deposit", 4),
            ("content_check", 2),
            ("removal_check", 2),
            ("penalty", 2),
            ("reward", 2),
        ];
        for c in std::iter::once(&rules.default).chain(rules.categories.values()) {
            for (hook, arity) in hooks {
                assert!(c.lowered.has(hook, arity), "{hook}");
            }
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

    #[test]
    fn policy_constants_are_folded_into_every_category() {
        let rules = shipped();
        for compiled in std::iter::once(&rules.default).chain(rules.categories.values()) {
            let mut left = Vec::new();
            compiled.ast.walk(&mut |path: &[rhai::ASTNode]| {
                if let Some(rhai::ASTNode::Expr(rhai::Expr::Variable(v, _, pos))) = path.last() {
                    if v.1.as_str() == "policy" {
                        left.push(*pos);
                    }
                }
                true
            });
            assert!(left.is_empty(), "`policy` read at run time at {left:?}");
        }
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
