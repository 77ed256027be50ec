//! Defects in rule scripts and the policy, each pointing at its file, line and column.

use miette::Diagnostic;
use thiserror::Error;

use crate::definition::LoadError;
use crate::diagnostic::defect;

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

defect! {
    /// A policy key that is no parameter.
    #[error("unknown policy parameter `{name}`")]
    #[diagnostic(code(policy::unknown_param))]
    pub struct UnknownParam at "not a parameter" {
        pub name: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A parameter of the wrong type, or with an impossible value.
    #[error("{message}")]
    #[diagnostic(code(policy::bad_value))]
    pub struct BadValue at "here" {
        pub message: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// Parameters that the `default` block leaves out.
    #[error("`default` lacks {names}")]
    #[diagnostic(
        code(policy::missing_param),
        help("`default` sets every parameter; category blocks override some of them")
    )]
    pub struct MissingParam at "in this block" {
        pub names: String,
    }
}

defect! {
    /// A `timezone` that is not an IANA zone.
    #[error("unknown timezone `{name}`")]
    #[diagnostic(code(policy::unknown_timezone))]
    pub struct UnknownTimezone at "not a timezone" {
        pub name: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A script that Rhai cannot parse.
    #[error("rhai syntax error: {message}")]
    #[diagnostic(code(rules::syntax))]
    pub struct ScriptSyntax at "here" {
        pub message: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A call of a function that neither the scripts nor the engine define.
    #[error("call of unknown function `{name}`")]
    #[diagnostic(code(rules::unknown_function))]
    pub struct UnknownFunction at "no such function" {
        pub name: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// `policy.<name>` in a script or workflow, naming no parameter.
    #[error("unknown policy parameter `{name}`")]
    #[diagnostic(code(rules::unknown_policy_param))]
    pub struct UnknownPolicyParam at "not in policy.yaml" {
        pub name: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A hook that a workflow names but `default.rhai` does not define.
    #[error("hook `{hook}` is not defined in `{file}`")]
    #[diagnostic(code(rules::missing_hook))]
    pub struct MissingHook at "named here" {
        pub hook: String,
        pub file: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A hook function with the wrong number of parameters.
    #[error("hook `{hook}` takes {expected}, not {found} parameters")]
    #[diagnostic(code(rules::hook_arity))]
    pub struct HookArity at "defined here" {
        pub hook: String,
        pub expected: String,
        pub found: usize,
    }
}

defect! {
    /// A property or method read on a hook's parameter that its type does not have.
    #[error("`{type_name}` has no {kind} `{name}`")]
    #[diagnostic(code(rules::unknown_member))]
    pub struct UnknownMember at "`{var}` is a {type_name}" {
        pub type_name: String,
        /// `property` or `method`.
        pub kind: &'static str,
        pub name: String,
        pub var: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A call of a script function or method with a number of arguments it is not defined with.
    #[error("`{name}` takes {expected}, not {found}")]
    #[diagnostic(code(rules::call_arity))]
    pub struct CallArity at "called here" {
        pub name: String,
        pub expected: String,
        pub found: String,
    }
}

defect! {
    /// A category block, category script or `restricted_categories` entry naming a category that
    /// `categories:` does not declare (or a policy that declares none).
    #[error("{message}")]
    #[diagnostic(code(policy::undeclared_category))]
    pub struct UndeclaredCategory at "{label}" {
        pub message: String,
        pub label: String,
        #[help]
        pub help: Option<String>,
    }
}
