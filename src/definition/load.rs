//! Reading workflow files into the model.
//!
//! Three passes over the same text: saphyr-parser's events into a span tree (syntax errors and
//! duplicate keys, which serde_yaml would hide), serde_yaml into a `Value`, and serde types read
//! piece by piece (each state, move, deadline and hook on its own) so that one wrong field does
//! not hide the defects in the rest. Every piece gets its spans from the tree by path.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml::Value;

use super::doc::{self, join, Doc};
use super::error::*;
use super::yaml;
use super::*;
use crate::diagnostic::{Loc, Span};

/// The workflows of a folder, and the defects that kept any file from loading.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The workflows that loaded.
    pub workflows: Vec<Workflow>,
    /// The files that did not, each with its place.
    pub errors: Vec<LoadError>,
    /// Every file that was read, loaded or not.
    pub files: Vec<PathBuf>,
}

/// Reads every `*.yaml` and `*.yml` file of `dir`, in name order.
///
/// An unreadable folder is an error of the tool; an unreadable or invalid file is a defect that
/// is collected with the others.
pub fn load_dir(dir: &Path) -> std::io::Result<Loaded> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
        })
        .collect();
    paths.sort();
    let mut loaded = Loaded {
        files: paths.clone(),
        ..Loaded::default()
    };
    for path in paths {
        let text = match crate::diagnostic::read_bounded(&path, crate::diagnostic::MAX_YAML_FILE) {
            Ok(text) => text,
            Err(e) => {
                loaded.errors.push(
                    ReadFailed {
                        path: path.display().to_string(),
                        cause: e.to_string(),
                    }
                    .into(),
                );
                continue;
            }
        };
        match load_str(&path, &text) {
            Ok(workflow) => loaded.workflows.push(workflow),
            Err(errors) => loaded.errors.extend(errors),
        }
    }
    Ok(loaded)
}

/// Reads one workflow file's text; `path` names it in diagnostics.
pub fn load_str(path: &Path, text: &str) -> Result<Workflow, Vec<LoadError>> {
    let doc = Doc::parse_with(&path.display().to_string(), text, duplicate_error)?;
    let value = doc.value.clone();
    let mut reader = Reader {
        doc,
        errors: Vec::new(),
    };
    let workflow = reader.workflow(path, value);
    match workflow {
        Some(workflow) if reader.errors.is_empty() => Ok(workflow),
        _ => Err(reader.errors),
    }
}

fn duplicate_error(d: yaml::Duplicate, src: &Source) -> LoadError {
    let path: Vec<&str> = d.path.iter().map(String::as_str).collect();
    match path.as_slice() {
        ["states"] => DuplicateState {
            name: d.key,
            first: d.first,
            loc: Loc::new(src.clone(), d.again),
        }
        .into(),
        ["states", state, "on"] if !d.same_value => DuplicateMove {
            state: state.to_string(),
            event: d.key,
            first: d.first,
            loc: Loc::new(src.clone(), d.again),
        }
        .into(),
        _ => doc::duplicate_key(d, src),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTop {
    workflow: String,
    version: u32,
    #[serde(default)]
    description: Option<String>,
    initial: Value,
    #[serde(default)]
    hooks: IndexMap<String, Value>,
    states: IndexMap<String, Value>,
    #[serde(default)]
    deadlines: IndexMap<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHook {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    outcomes: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    terminal: bool,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    enter: RawEffects,
    #[serde(default)]
    on: IndexMap<String, Value>,
    #[serde(default)]
    deadlines: IndexMap<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEffects {
    #[serde(default)]
    hooks: Vec<String>,
    #[serde(default)]
    actions: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMove {
    /// Only in `initial`: the event that creates a sample.
    #[serde(default)]
    on: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    hook: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    outcomes: IndexMap<String, Value>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    to: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStateDeadline {
    #[serde(default)]
    description: Option<String>,
    after: String,
    to: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSampleDeadline {
    #[serde(default)]
    description: Option<String>,
    from: String,
    after: String,
    fires_in: Vec<String>,
    #[serde(default)]
    held_in: Vec<String>,
    to: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    extend: Option<RawExtend>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtend {
    on: String,
    by: String,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

struct Reader {
    doc: Doc,
    errors: Vec<LoadError>,
}

impl Reader {
    fn workflow(&mut self, path: &Path, value: Value) -> Option<Workflow> {
        let value = match value {
            Value::Null => Value::Mapping(Default::default()),
            Value::Mapping(_) => value,
            _ => {
                self.schema(
                    &[],
                    false,
                    "a workflow file must be a mapping".into(),
                    "not a mapping",
                    Some("start with `workflow: <name>`, `version`, `initial` and `states`".into()),
                );
                return None;
            }
        };
        let top: RawTop = self.typed(&value, &[])?;
        let hooks = top
            .hooks
            .into_iter()
            .filter_map(|(name, v)| self.hook(name, v))
            .collect();
        let states = top
            .states
            .into_iter()
            .filter_map(|(name, v)| self.state(name, v))
            .collect();
        let deadlines = top
            .deadlines
            .into_iter()
            .filter_map(|(name, v)| self.sample_deadline(name, v))
            .collect();
        let initial = self.a_move(&join(&[], &["initial"]), top.initial, None)?;
        Some(Workflow {
            path: path.to_path_buf(),
            source: self.doc.src.clone(),
            name: self.spanned(&join(&[], &["workflow"]), top.workflow),
            version: top.version,
            description: top.description,
            initial,
            hooks,
            states,
            deadlines,
        })
    }

    fn hook(&mut self, name: String, value: Value) -> Option<HookDecl> {
        let path = join(&[], &["hooks", &name]);
        let raw: RawHook = self.typed_or_default(&value, &path)?;
        Some(HookDecl {
            name: self.spanned_key(&path, name),
            description: raw.description,
            outcomes: self.spanned_list(&join(&path, &["outcomes"]), raw.outcomes),
        })
    }

    fn state(&mut self, name: String, value: Value) -> Option<State> {
        let path = join(&[], &["states", &name]);
        let raw: RawState = self.typed_or_default(&value, &path)?;
        let enter_path = join(&path, &["enter"]);
        let enter = Effects {
            hooks: self.spanned_list(&join(&enter_path, &["hooks"]), raw.enter.hooks),
            actions: self.spanned_list(&join(&enter_path, &["actions"]), raw.enter.actions),
        };
        let on = raw
            .on
            .into_iter()
            .filter_map(|(event, v)| {
                let move_path = join(&path, &["on", &event]);
                self.a_move(&move_path, v, Some(event))
            })
            .collect();
        let deadlines = raw
            .deadlines
            .into_iter()
            .filter_map(|(deadline, v)| self.state_deadline(&path, deadline, v))
            .collect();
        Some(State {
            name: self.spanned_key(&path, name),
            description: raw.description,
            terminal: raw.terminal,
            role: raw.role.map(|r| self.spanned(&join(&path, &["role"]), r)),
            enter,
            on,
            deadlines,
        })
    }

    /// A move: a bare target name, or a mapping with `to` or `hook`/`field` and `outcomes`.
    ///
    /// `event` is the key of a state's move; `None` for `initial`, which names it in `on`.
    fn a_move(&mut self, path: &[String], value: Value, event: Option<String>) -> Option<Move> {
        let bare_target = matches!(value, Value::String(_));
        let raw: RawMove = match value {
            Value::String(target) => RawMove {
                to: Some(target),
                ..RawMove::default()
            },
            Value::Mapping(_) | Value::Null => self.typed_or_default(&value, path)?,
            _ => {
                self.schema(
                    path,
                    false,
                    "a move must be a target state or a mapping".into(),
                    "neither a state name nor a mapping",
                    Some(
                        "write `event: target_state`, or `event: {to: target_state, reason: code}`"
                            .into(),
                    ),
                );
                return None;
            }
        };
        let event = match (event, raw.on) {
            (Some(event), None) => self.spanned_key(path, event),
            (None, Some(on)) => self.spanned(&join(path, &["on"]), on),
            (None, None) => {
                self.schema(
                    path,
                    true,
                    "missing field `on`".into(),
                    "`initial` needs `on`",
                    Some("name the event that creates a sample: `on: sample_requested`".into()),
                );
                return None;
            }
            (Some(_), Some(_)) => {
                self.schema(
                    &join(path, &["on"]),
                    true,
                    "unknown field `on`".into(),
                    "only `initial` names its event",
                    Some("the event of a state's move is its key in `on`".into()),
                );
                return None;
            }
        };
        let to = raw.to.map(|to| {
            if bare_target {
                self.spanned(path, to)
            } else {
                self.spanned(&join(path, &["to"]), to)
            }
        });
        let outcomes_path = join(path, &["outcomes"]);
        let outcomes = raw
            .outcomes
            .into_iter()
            .filter_map(|(name, v)| self.outcome(&outcomes_path, name, v))
            .collect();
        Some(Move {
            event,
            to,
            hook: raw.hook.map(|h| self.spanned(&join(path, &["hook"]), h)),
            field: raw.field.map(|f| self.spanned(&join(path, &["field"]), f)),
            outcomes,
            reason: self.reason(path, raw.reason),
            actions: self.spanned_list(&join(path, &["actions"]), raw.actions),
        })
    }

    fn outcome(
        &mut self,
        outcomes: &[String],
        name: String,
        value: Value,
    ) -> Option<OutcomeTarget> {
        let path = join(outcomes, &[&name]);
        let key = self.spanned_key(&path, name);
        match value {
            Value::String(to) => Some(OutcomeTarget {
                name: key,
                to: self.spanned(&path, to),
                reason: None,
                actions: Vec::new(),
            }),
            Value::Mapping(_) => {
                let raw: RawTarget = self.typed(&value, &path)?;
                Some(OutcomeTarget {
                    name: key,
                    to: self.spanned(&join(&path, &["to"]), raw.to),
                    reason: self.reason(&path, raw.reason),
                    actions: self.spanned_list(&join(&path, &["actions"]), raw.actions),
                })
            }
            _ => {
                self.schema(
                    &path,
                    false,
                    "an outcome must name a target state".into(),
                    "not a state name",
                    Some("write `outcome: target_state`, or `outcome: {to: target_state, reason: code}`".into()),
                );
                None
            }
        }
    }

    fn state_deadline(
        &mut self,
        state: &[String],
        name: String,
        value: Value,
    ) -> Option<StateDeadline> {
        let path = join(state, &["deadlines", &name]);
        let raw: RawStateDeadline = self.typed(&value, &path)?;
        Some(StateDeadline {
            name: self.spanned_key(&path, name),
            description: raw.description,
            after: self.spanned(&join(&path, &["after"]), raw.after),
            to: self.spanned(&join(&path, &["to"]), raw.to),
            reason: self.reason(&path, raw.reason),
            actions: self.spanned_list(&join(&path, &["actions"]), raw.actions),
        })
    }

    fn sample_deadline(&mut self, name: String, value: Value) -> Option<SampleDeadline> {
        let path = join(&[], &["deadlines", &name]);
        let raw: RawSampleDeadline = self.typed(&value, &path)?;
        let extend = raw.extend.map(|e| {
            let p = join(&path, &["extend"]);
            Extend {
                on: self.spanned(&join(&p, &["on"]), e.on),
                by: self.spanned(&join(&p, &["by"]), e.by),
                times: Spanned::new(e.times, self.span(&join(&p, &["times"]), false)),
            }
        });
        Some(SampleDeadline {
            name: self.spanned_key(&path, name),
            description: raw.description,
            from: self.spanned(&join(&path, &["from"]), raw.from),
            after: self.spanned(&join(&path, &["after"]), raw.after),
            fires_in: self.spanned_list(&join(&path, &["fires_in"]), raw.fires_in),
            held_in: self.spanned_list(&join(&path, &["held_in"]), raw.held_in),
            to: self.spanned(&join(&path, &["to"]), raw.to),
            reason: self.reason(&path, raw.reason),
            actions: self.spanned_list(&join(&path, &["actions"]), raw.actions),
            extend,
        })
    }

    fn reason(&self, path: &[String], reason: Option<String>) -> Option<Spanned<Reason>> {
        reason.map(|r| {
            Spanned::new(
                Reason::parse(&r),
                self.span(&join(path, &["reason"]), false),
            )
        })
    }

    fn span(&self, path: &[String], key: bool) -> Span {
        self.doc.span(path, key)
    }

    fn spanned(&self, path: &[String], value: String) -> Spanned<String> {
        Spanned::new(value, self.span(path, false))
    }

    fn spanned_key(&self, path: &[String], value: String) -> Spanned<String> {
        Spanned::new(value, self.span(path, true))
    }

    fn spanned_list(&self, path: &[String], values: Vec<String>) -> Vec<Spanned<String>> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| self.spanned(&join(path, &[&i.to_string()]), v))
            .collect()
    }

    /// Reads a piece; an empty value (`state:` with nothing after it) is the default.
    fn typed_or_default<T: DeserializeOwned + Default>(
        &mut self,
        value: &Value,
        path: &[String],
    ) -> Option<T> {
        if value.is_null() {
            return Some(T::default());
        }
        self.typed(value, path)
    }

    /// Reads one piece into its serde type, or records where and why it does not fit.
    fn typed<T: DeserializeOwned>(&mut self, value: &Value, path: &[String]) -> Option<T> {
        self.doc
            .typed(value, path)
            .map_err(|e| self.errors.push(*e))
            .ok()
    }

    fn schema(
        &mut self,
        path: &[String],
        key: bool,
        message: String,
        label: &str,
        help: Option<String>,
    ) {
        let error = self.doc.schema(path, key, message, label, help);
        self.errors.push(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Workflow, Vec<LoadError>> {
        load_str(Path::new("w.yaml"), text)
    }

    const MINI: &str = "workflow: w\nversion: 1\ninitial: {on: sample_requested, to: a}\nstates:\n  a:\n    on:\n      sample_withdrawn: {to: b, reason: withdrawn}\n  b: {terminal: true}\n";

    #[test]
    fn reads_a_small_workflow_with_spans() {
        let w = load(MINI).unwrap();
        assert_eq!(w.name.value, "w");
        assert_eq!(w.initial.event.value, "sample_requested");
        assert_eq!(w.states.len(), 2);
        let m = &w.states[0].on[0];
        assert_eq!(m.event.value, "sample_withdrawn");
        assert_eq!(m.to.as_ref().unwrap().span.line_col(MINI), (7, 30));
        assert_eq!(
            m.reason.as_ref().unwrap().value,
            Reason::Code("withdrawn".into())
        );
        assert!(w.states[1].terminal);
    }

    #[test]
    fn collects_type_errors_from_separate_states() {
        let text = MINI.replace(
            "b: {terminal: true}",
            "b: {terminal: 3}\n  c: {descrption: x}",
        );
        let errors = load(&text).unwrap_err();
        let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("expected a boolean"));
        assert_eq!(messages[1], "unknown field `descrption`");
    }

    #[test]
    fn bare_targets_point_at_the_target() {
        let text = MINI.replace("{to: b, reason: withdrawn}", "b");
        let w = load(&text).unwrap();
        let to = w.states[0].on[0].to.as_ref().unwrap();
        assert_eq!(&text[to.span.offset..to.span.offset + to.span.len], "b");
    }

    #[test]
    fn a_scalar_document_is_refused() {
        let errors = load("just text").unwrap_err();
        assert_eq!(errors[0].to_string(), "a workflow file must be a mapping");
    }
}
