//! Defects in rule scripts and the policy, each pointing at its file, line and column.

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

use crate::definition::LoadError;
use crate::diagnostic::Source;

/// Every problem found while loading a rules folder.
#[derive(Debug, Error, Diagnostic)]
#[non_exhaustive]
pub enum RuleProblem {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingFile(#[from] MissingFile),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownParam(#[from] UnknownParam),
    #[error(transparent)]
    #[diagnostic(transparent)]
    BadValue(#[from] BadValue),
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingParam(#[from] MissingParam),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownTimezone(#[from] UnknownTimezone),
    #[error(transparent)]
    #[diagnostic(transparent)]
    ScriptSyntax(#[from] ScriptSyntax),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownFunction(#[from] UnknownFunction),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownPolicyParam(#[from] UnknownPolicyParam),
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingHook(#[from] MissingHook),
    #[error(transparent)]
    #[diagnostic(transparent)]
    HookArity(#[from] HookArity),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownMember(#[from] UnknownMember),
    #[error(transparent)]
    #[diagnostic(transparent)]
    CallArity(#[from] CallArity),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UndeclaredCategory(#[from] UndeclaredCategory),
}

/// A file that the rules folder must have.
#[derive(Debug, Error, Diagnostic)]
#[error("`{path}` is missing")]
#[diagnostic(code(rules::missing_file))]
pub struct MissingFile {
    pub path: String,
    #[help]
    pub help: Option<String>,
}

/// A policy key that is no parameter.
#[derive(Debug, Error, Diagnostic)]
#[error("unknown policy parameter `{name}`")]
#[diagnostic(code(policy::unknown_param))]
pub struct UnknownParam {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("not a parameter")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// A parameter of the wrong type, or with an impossible value.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(policy::bad_value))]
pub struct BadValue {
    pub message: String,
    #[source_code]
    pub src: Source,
    #[label("here")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// Parameters that the `default` block leaves out.
#[derive(Debug, Error, Diagnostic)]
#[error("`default` lacks {names}")]
#[diagnostic(
    code(policy::missing_param),
    help("`default` sets every parameter; category blocks override some of them")
)]
pub struct MissingParam {
    pub names: String,
    #[source_code]
    pub src: Source,
    #[label("in this block")]
    pub span: SourceSpan,
}

/// A `timezone` that is not an IANA zone.
#[derive(Debug, Error, Diagnostic)]
#[error("unknown timezone `{name}`")]
#[diagnostic(code(policy::unknown_timezone))]
pub struct UnknownTimezone {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("not a timezone")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// A script that Rhai cannot parse.
#[derive(Debug, Error, Diagnostic)]
#[error("rhai syntax error: {message}")]
#[diagnostic(code(rules::syntax))]
pub struct ScriptSyntax {
    pub message: String,
    #[source_code]
    pub src: Source,
    #[label("here")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// A call of a function that neither the scripts nor the engine define.
#[derive(Debug, Error, Diagnostic)]
#[error("call of unknown function `{name}`")]
#[diagnostic(code(rules::unknown_function))]
pub struct UnknownFunction {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("no such function")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// `policy.<name>` in a script or workflow, naming no parameter.
#[derive(Debug, Error, Diagnostic)]
#[error("unknown policy parameter `{name}`")]
#[diagnostic(code(rules::unknown_policy_param))]
pub struct UnknownPolicyParam {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("not in policy.yaml")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// A hook that a workflow names but `default.rhai` does not define.
#[derive(Debug, Error, Diagnostic)]
#[error("hook `{hook}` is not defined in `{file}`")]
#[diagnostic(code(rules::missing_hook))]
pub struct MissingHook {
    pub hook: String,
    pub file: String,
    #[source_code]
    pub src: Source,
    #[label("named here")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// A hook function with the wrong number of parameters.
#[derive(Debug, Error, Diagnostic)]
#[error("hook `{hook}` takes {expected}, not {found} parameters")]
#[diagnostic(code(rules::hook_arity))]
pub struct HookArity {
    pub hook: String,
    pub expected: String,
    pub found: usize,
    #[source_code]
    pub src: Source,
    #[label("defined here")]
    pub span: SourceSpan,
}

/// A property or method read on a hook's parameter that its type does not have.
#[derive(Debug, Error, Diagnostic)]
#[error("`{type_name}` has no {kind} `{name}`")]
#[diagnostic(code(rules::unknown_member))]
pub struct UnknownMember {
    pub type_name: String,
    /// `property` or `method`.
    pub kind: &'static str,
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("`{var}` is a {type_name}")]
    pub span: SourceSpan,
    pub var: String,
    #[help]
    pub help: Option<String>,
}

/// A call of a script function or method with a number of arguments it is not defined with.
#[derive(Debug, Error, Diagnostic)]
#[error("`{name}` takes {expected}, not {found}")]
#[diagnostic(code(rules::call_arity))]
pub struct CallArity {
    pub name: String,
    pub expected: String,
    pub found: String,
    #[source_code]
    pub src: Source,
    #[label("called here")]
    pub span: SourceSpan,
}

/// A category block, category script or `restricted_categories` entry naming a category that
/// `categories:` does not declare (or a policy that declares none).
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(policy::undeclared_category))]
pub struct UndeclaredCategory {
    pub message: String,
    #[source_code]
    pub src: Source,
    #[label("{label}")]
    pub span: SourceSpan,
    pub label: String,
    #[help]
    pub help: Option<String>,
}
