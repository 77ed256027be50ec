//! A YAML file read for diagnostics: its source, its span tree and its serde value.
//!
//! Workflows, the policy and rule test cases are all read this way, so that every defect in any of
//! them is reported at its file, line and column.

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::error::{DuplicateKey, LoadError, SchemaError, SyntaxError};
use super::yaml::{self, Duplicate, Node};
use crate::diagnostic::{self, did_you_mean, Loc, Source, Span};

/// A parsed YAML document.
#[derive(Debug, Clone)]
pub struct Doc {
    pub src: Source,
    pub tree: Node,
    pub value: Value,
}

impl Doc {
    /// Parses `text`; duplicate keys are reported as generic [`DuplicateKey`]s.
    pub fn parse(name: &str, text: &str) -> Result<Doc, Vec<LoadError>> {
        Self::parse_with(name, text, duplicate_key)
    }

    /// Parses `text`, turning each duplicate key into an error with `on_duplicate`.
    pub fn parse_with(
        name: &str,
        text: &str,
        on_duplicate: impl Fn(Duplicate, &Source) -> LoadError,
    ) -> Result<Doc, Vec<LoadError>> {
        let src = diagnostic::source(name, text);
        let tree = yaml::parse(text).map_err(|e| {
            vec![LoadError::from(SyntaxError {
                message: e.message,
                loc: Loc::new(src.clone(), e.span),
            })]
        })?;
        let duplicates = yaml::duplicates(&tree, text);
        if !duplicates.is_empty() {
            return Err(duplicates
                .into_iter()
                .map(|d| on_duplicate(d, &src))
                .collect());
        }
        let value: Value = serde_yaml::from_str(text).map_err(|e| {
            let span = e
                .location()
                // serde_yaml counts columns from 1, saphyr from 0.
                .map(|l| yaml::char_span(text, l.line(), l.column().saturating_sub(1)))
                .unwrap_or_default();
            vec![LoadError::from(SyntaxError {
                message: e.to_string(),
                loc: Loc::new(src.clone(), span),
            })]
        })?;
        Ok(Doc { src, tree, value })
    }

    /// The span of the node at `path`: its key when `key` is true.
    pub fn span(&self, path: &[String], key: bool) -> Span {
        self.tree.locate(path, key)
    }

    /// Reads the piece at `path` into its serde type, or says where and why it does not fit.
    pub fn typed<T: DeserializeOwned>(
        &self,
        value: &Value,
        path: &[String],
    ) -> Result<T, Box<LoadError>> {
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            let mut full = path.to_vec();
            full.extend(e.path().iter().filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                _ => None,
            }));
            let message = e.inner().to_string();
            let (message, label, on_key, help) = explain_serde(&message);
            Box::new(self.schema(&full, on_key, message, label, help))
        })
    }

    /// A shape error at `path`.
    pub fn schema(
        &self,
        path: &[String],
        key: bool,
        message: String,
        label: &str,
        help: Option<String>,
    ) -> LoadError {
        SchemaError {
            message,
            loc: Loc::new(self.src.clone(), self.span(path, key)),
            label: label.to_string(),
            help,
        }
        .into()
    }
}

/// A path of keys from the document's root, as serde_path_to_error and the span tree use it.
pub fn join(path: &[String], more: &[&str]) -> Vec<String> {
    path.iter()
        .cloned()
        .chain(more.iter().map(|s| s.to_string()))
        .collect()
}

pub(crate) fn duplicate_key(d: Duplicate, src: &Source) -> LoadError {
    DuplicateKey {
        key: d.key,
        within: if d.path.is_empty() {
            "at the top level".into()
        } else {
            format!("in `{}`", d.path.join("."))
        },
        first: d.first,
        loc: Loc::new(src.clone(), d.again),
    }
    .into()
}

/// Turns serde's message into ours: the message, a label, whether it is about a key, a hint.
fn explain_serde(message: &str) -> (String, &'static str, bool, Option<String>) {
    let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    if message.starts_with("unknown field") {
        let unknown = names.first().copied().unwrap_or_default();
        let expected = &names[1.min(names.len())..];
        let help = match did_you_mean(unknown, expected.iter().copied()) {
            Some(best) => Some(format!("did you mean `{best}`?")),
            None if expected.is_empty() => None,
            None => Some(format!(
                "expected one of {}",
                expected
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        (
            format!("unknown field `{unknown}`"),
            "unknown field",
            true,
            help,
        )
    } else if message.starts_with("missing field") {
        (message.to_string(), "in this mapping", true, None)
    } else {
        (plain_types(message), "wrong type or value", false, None)
    }
}

/// serde names Rust types; users wrote YAML.
fn plain_types(message: &str) -> String {
    [
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a mapping"),
        ("expected a string", "expected text"),
    ]
    .iter()
    .fold(message.to_string(), |m, (from, to)| m.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_get_hints() {
        let (message, _, key, help) =
            explain_serde("unknown field `desciption`, expected `description` or `to`");
        assert_eq!(message, "unknown field `desciption`");
        assert!(key);
        assert_eq!(help.as_deref(), Some("did you mean `description`?"));
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_places() {
        let errors = Doc::parse("p.yaml", "a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        let text = format!("{}", errors[0]);
        assert_eq!(text, "key `c` appears twice in `b`");
    }
}
