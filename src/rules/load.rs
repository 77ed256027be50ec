//! Loading a rules folder: the policy and every script read (all defects at once), hashed,
//! checked, then compiled per category with the category's policy folded in as a constant.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use rhai::{Dynamic, Engine, ImmutableString, Map, Scope, AST};
use sha2::{Digest, Sha256};

use super::error::{MissingFile, RuleProblem, ScriptSyntax};
use super::hooks::REWARD_WAKES_AT;
use super::sandbox::{self, Place};
use super::script::{parse_script, ScriptFile, DEFAULT_SCRIPT};
use super::{check, lower, types, uses, Limits, ParamValue, Policy, RuleSet};
use crate::definition::ReadFailed;
use crate::diagnostic::{self, LineIndex, Loc, Span};

/// The tunable numbers.
pub const POLICY_FILE: &str = "policy.yaml";

/// The merged, optimized script of one category.
#[derive(Debug, Clone)]
pub(super) struct Compiled {
    pub(super) ast: AST,
    /// The functions that run without Rhai's interpreter (`lower/`).
    pub(super) lowered: lower::Lowered,
    /// Function name to where the category's script gets it from.
    pub(super) places: HashMap<String, Place>,
    /// Reason code to the function that decides it with a literal `approve|reject|review`.
    pub(super) decided_by: HashMap<String, String>,
    /// What `reward_wakes_at()` declares: below this GMV of one sample, `reward` can give
    /// nothing, so it is not called. `Err` holds why the declaration gave no number.
    pub(super) reward_wakes_at: Option<Result<f64, String>>,
}

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
        let reads = check::check_scripts(&engine, &files, &mut problems);
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
        let mut rules = Self::compile(engines, limits, Arc::new(policy), hash, dir, files, None);
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
                    loc: Loc::new(file.source.clone(), lines.char_span(place.line, place.column.saturating_sub(1))),
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
        before: Option<&RuleSet>,
    ) -> RuleSet {
        let categories: BTreeSet<String> = policy
            .categories
            .keys()
            .cloned()
            .chain(files.iter().filter_map(|f| f.category.clone()))
            .collect();
        // The same scripts (`before`'s) keep a category's compiled form where its policy
        // resolves as before: folding and lowering are most of a build, and the tuner builds one
        // set per point of its grid, each changing a number or two.
        let default = match before {
            Some(b) if b.policy.default.values == policy.default.values => b.default.clone(),
            _ => Arc::new(compile_category(&engine, limits, &policy, &files, None)),
        };
        let categories = categories
            .into_iter()
            .map(|c| {
                let kept = before.and_then(|b| {
                    let same = b.policy.resolved(&c) == policy.resolved(&c);
                    b.categories.get(&c).filter(|_| same).cloned()
                });
                let compiled = kept.unwrap_or_else(|| {
                    Arc::new(compile_category(&engine, limits, &policy, &files, Some(&c)))
                });
                (c, compiled)
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

    /// The same scripts under another policy (rule test cases override parameters this way).
    pub fn with_policy(&self, policy: Policy) -> RuleSet {
        let mut rules = Self::compile(
            (self.engine.clone(), self.tracer.clone()),
            self.limits,
            Arc::new(policy),
            self.hash.clone(),
            &self.dir,
            self.files.clone(),
            Some(self),
        );
        rules.texts = self.texts.clone();
        rules.reads = self.reads.clone();
        rules.lowered = self.lowered;
        rules
    }
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
            if let uses::Use::Decision { function, reason } = u {
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
pub(crate) mod tests {
    use super::*;

    pub(crate) fn shipped() -> RuleSet {
        RuleSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap()
    }

    #[test]
    fn another_policy_recompiles_only_the_categories_it_changes() {
        let rules = shipped();
        let overrides = [("min_followers".to_string(), serde_yaml::Value::from(4000))];
        let policy = rules
            .policy()
            .with_overrides("home", &overrides.into_iter().collect())
            .unwrap();
        let tuned = rules.with_policy(policy);
        assert!(Arc::ptr_eq(&tuned.default, &rules.default));
        assert!(Arc::ptr_eq(
            &tuned.categories["beauty"],
            &rules.categories["beauty"]
        ));
        assert!(!Arc::ptr_eq(
            &tuned.categories["home"],
            &rules.categories["home"]
        ));
        // The default block reaches every category that does not set the number itself.
        let mut policy = rules.policy().clone();
        policy
            .default
            .values
            .insert("min_followers", ParamValue::Int(4000));
        let tuned = rules.with_policy(policy);
        assert!(!Arc::ptr_eq(&tuned.default, &rules.default));
        assert!(!Arc::ptr_eq(
            &tuned.categories["home"],
            &rules.categories["home"]
        ));
        // Beauty sets its own floor: unchanged, kept.
        assert!(Arc::ptr_eq(
            &tuned.categories["beauty"],
            &rules.categories["beauty"]
        ));
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
}
