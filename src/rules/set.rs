//! A loaded rules folder, compiled per category: what it holds and what it tells of itself
//! (files, hash, reads, suppliers), and the traced and interpreted variants of it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::Engine;

use super::load::Compiled;
use super::script::{Read, ScriptFile};
use super::{explain, sandbox, uses, Limits, Policy};

/// A loaded, checked and compiled rules folder.
#[derive(Clone)]
pub struct RuleSet {
    pub(super) engine: Arc<Engine>,
    /// The same engine with a step tracer, to locate faults that Rhai reports without a place.
    pub(super) tracer: Arc<Engine>,
    pub(super) limits: Limits,
    pub(super) policy: Arc<Policy>,
    pub(super) hash: String,
    /// Each hashed file's name and text, as the hash saw them (policy first).
    pub(super) texts: Arc<Vec<(String, String)>>,
    pub(super) dir: PathBuf,
    pub(super) files: Vec<ScriptFile>,
    /// Every property and method read on a hook parameter, with its type and place.
    pub(super) reads: Arc<Vec<Read>>,
    pub(super) default: Arc<Compiled>,
    pub(super) categories: HashMap<String, Arc<Compiled>>,
    /// Hooks run lowered where they can; off where every step must go through Rhai (coverage,
    /// explain traces).
    pub(super) lowered: bool,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("dir", &self.dir)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl RuleSet {
    /// The same rules with every hook on Rhai's interpreter, none lowered: the reference that
    /// the lowered form is held to, and the baseline the screening bench compares it with.
    pub fn interpreted(&self) -> RuleSet {
        let mut rules = self.clone();
        rules.lowered = false;
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

    /// The policy the scripts read.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The rules folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The script files, parsed.
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
                uses::Use::Decision { reason, .. } => Some(reason.clone()),
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

    pub(super) fn compiled(&self, category: &str) -> &Compiled {
        self.categories.get(category).unwrap_or(&self.default)
    }
}
