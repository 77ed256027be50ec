//! Defects found while reading a workflow file: syntax, types and duplicate keys.

use miette::Diagnostic;
use thiserror::Error;

use crate::diagnostic::{defect, Span};

/// A defect that stops a file from being read into the model.
#[derive(Debug, Error, Diagnostic)]
#[non_exhaustive]
pub enum LoadError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Read(#[from] ReadFailed),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Syntax(#[from] SyntaxError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    DuplicateState(#[from] DuplicateState),
    #[error(transparent)]
    #[diagnostic(transparent)]
    DuplicateMove(#[from] DuplicateMove),
    #[error(transparent)]
    #[diagnostic(transparent)]
    DuplicateKey(#[from] DuplicateKey),
}

/// A workflow file that could not be read at all.
#[derive(Debug, Error, Diagnostic)]
#[error("cannot read `{path}`: {cause}")]
#[diagnostic(code(file::read))]
pub struct ReadFailed {
    pub path: String,
    pub cause: String,
}

defect! {
    /// Text that is not YAML.
    #[error("yaml syntax error: {message}")]
    #[diagnostic(code(yaml::syntax))]
    pub struct SyntaxError at "here" {
        pub message: String,
    }
}

defect! {
    /// YAML of the wrong shape: an unknown or missing field, a value of the wrong type.
    #[error("{message}")]
    #[diagnostic(code(yaml::schema))]
    pub struct SchemaError at "{label}" {
        pub message: String,
        pub label: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// Two states with one name.
    #[error("state `{name}` is defined twice")]
    #[diagnostic(
        code(workflow::duplicate_state),
        help("rename one of them, or merge their `on` and `deadlines` blocks")
    )]
    pub struct DuplicateState at primary "defined again here" {
        pub name: String,
        #[label("first defined here")]
        pub first: Span,
    }
}

defect! {
    /// One event handled twice by one state: two targets with nothing to choose between them.
    #[error("ambiguous move: state `{state}` handles `{event}` twice")]
    #[diagnostic(
        code(workflow::ambiguous_move),
        help("one event needs one move per state; to pick between targets, name a `hook` (or an event `field`) and map its `outcomes`")
    )]
    pub struct DuplicateMove at primary "second move" {
        pub state: String,
        pub event: String,
        #[label("first move")]
        pub first: Span,
    }
}

defect! {
    /// Any other key written twice in one mapping: YAML keeps only one of them.
    #[error("key `{key}` appears twice {within}")]
    #[diagnostic(
        code(yaml::duplicate_key),
        help("only one of them would count; remove the other")
    )]
    pub struct DuplicateKey at primary "again here" {
        pub key: String,
        /// `at the top level`, or `in `states.pending``.
        pub within: String,
        #[label("first here")]
        pub first: Span,
    }
}
