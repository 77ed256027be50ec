//! One struct per kind of defect that `validate` finds, each pointing at its place in the file.

use miette::Diagnostic;
use thiserror::Error;

use crate::definition::LoadError;
use crate::diagnostic::{defect, Span};
use crate::rules::RuleProblem;

/// Every problem `validate` reports: errors, and warnings (see `miette::Diagnostic::severity`).
#[derive(Debug, Error, Diagnostic)]
#[non_exhaustive]
pub enum Problem {
    /// A workflow file that cannot be read or parsed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] LoadError),
    /// A defect of the rules folder (scripts or `policy.yaml`).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Rules(#[from] RuleProblem),
    /// A move or deadline to a state the workflow does not declare.
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownState(#[from] UnknownState),
    /// A state's `role:` that is not one of the contract's roles.
    #[error(transparent)]
    #[diagnostic(transparent)]
    BadRole(#[from] BadRole),
    /// A role the runner needs that no state declares.
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingRole(#[from] MissingRole),
    /// An event type outside the contract's vocabulary.
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownEvent(#[from] UnknownEvent),
    /// An event type no state of the workflow takes.
    #[error(transparent)]
    #[diagnostic(transparent)]
    EventNotRoutable(#[from] EventNotRoutable),
    /// An action outside the contract's vocabulary.
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownAction(#[from] UnknownAction),
    /// A rule hook that the rules do not know.
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownHook(#[from] UnknownHook),
    /// A hook outcome that the hook never gives.
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownOutcome(#[from] UnknownOutcome),
    /// A hook outcome that no move of the state takes.
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingOutcome(#[from] MissingOutcome),
    /// A choice on a field that the event does not carry.
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownChoiceField(#[from] UnknownChoiceField),
    /// Two moves that the same event could both take.
    #[error(transparent)]
    #[diagnostic(transparent)]
    AmbiguousMove(#[from] AmbiguousMove),
    /// A move with no state to go to.
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingTarget(#[from] MissingTarget),
    /// A hook called where its outcomes cannot be taken.
    #[error(transparent)]
    #[diagnostic(transparent)]
    HookMisuse(#[from] HookMisuse),
    /// A duration that does not parse or is out of range.
    #[error(transparent)]
    #[diagnostic(transparent)]
    BadDuration(#[from] BadDuration),
    /// A name (state, deadline) that is not a valid identifier.
    #[error(transparent)]
    #[diagnostic(transparent)]
    InvalidName(#[from] InvalidName),
    /// Two deadlines of one state with the same name.
    #[error(transparent)]
    #[diagnostic(transparent)]
    DuplicateDeadline(#[from] DuplicateDeadline),
    /// A state that no move reaches (a warning).
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnreachableState(#[from] UnreachableState),
    /// A state that is not terminal and has no way out.
    #[error(transparent)]
    #[diagnostic(transparent)]
    DeadEnd(#[from] DeadEnd),
    /// A terminal state with moves out of it.
    #[error(transparent)]
    #[diagnostic(transparent)]
    TerminalWithMove(#[from] TerminalWithMove),
    /// A terminal state with deadlines.
    #[error(transparent)]
    #[diagnostic(transparent)]
    TerminalWithDeadline(#[from] TerminalWithDeadline),
    /// A sample deadline armed or cleared where it cannot be.
    #[error(transparent)]
    #[diagnostic(transparent)]
    DeadlineScope(#[from] DeadlineScope),
    /// A move into an ended state with no reason for its records.
    #[error(transparent)]
    #[diagnostic(transparent)]
    NoEventReason(#[from] NoEventReason),
    /// A workflow whose `workflow:` name differs from its file name.
    #[error(transparent)]
    #[diagnostic(transparent)]
    NameMismatch(#[from] NameMismatch),
    /// Two workflow files with the same name.
    #[error(transparent)]
    #[diagnostic(transparent)]
    DuplicateWorkflow(#[from] DuplicateWorkflow),
    /// No `default` workflow in the folder.
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingDefaultWorkflow(#[from] MissingDefaultWorkflow),
    /// A waiting state with no deadline to end the wait (a warning).
    #[error(transparent)]
    #[diagnostic(transparent)]
    WaitingWithoutDeadline(#[from] WaitingWithoutDeadline),
    /// A rule hook that no workflow calls (a warning).
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnusedHook(#[from] UnusedHook),
}

defect! {
    /// A target, `fires_in` or `held_in` that names no state of the workflow.
    #[error("unknown state `{name}`")]
    #[diagnostic(code(workflow::unknown_state))]
    pub struct UnknownState at "no state of this name" {
        pub name: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// An event type that the contract does not have.
    #[error("unknown event type `{name}`")]
    #[diagnostic(code(workflow::unknown_event))]
    pub struct UnknownEvent at "not an event type" {
        pub name: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// An event that exists but cannot be routed where it is written.
    #[error("event `{name}` cannot be used here")]
    #[diagnostic(code(workflow::event_not_routable))]
    pub struct EventNotRoutable at "{why}" {
        pub name: String,
        pub why: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// An action type that the contract does not have.
    #[error("unknown action `{name}`")]
    #[diagnostic(code(workflow::unknown_action))]
    pub struct UnknownAction at "not an action" {
        pub name: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A hook that the workflow's `hooks` block does not declare.
    #[error("unknown hook `{name}`")]
    #[diagnostic(code(workflow::unknown_hook))]
    pub struct UnknownHook at "not declared in `hooks`" {
        pub name: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// An outcome that the hook or field never returns.
    #[error("`{chooser}` has no outcome `{name}`")]
    #[diagnostic(code(workflow::unknown_outcome))]
    pub struct UnknownOutcome at "never returned" {
        pub name: String,
        pub chooser: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// An outcome that the hook or field may return but the move does not map.
    #[error("move on `{event}` does not map outcome `{outcome}` of `{chooser}`")]
    #[diagnostic(
        code(workflow::missing_outcome),
        help("add `{outcome}: <state>` to the move's `outcomes`")
    )]
    pub struct MissingOutcome at "`{outcome}` would have nowhere to go" {
        pub event: String,
        pub outcome: String,
        pub chooser: String,
    }
}

defect! {
    /// A `field:` chooser that the event does not have.
    #[error("event `{event}` has no field `{field}` to choose by")]
    #[diagnostic(code(workflow::unknown_choice_field))]
    pub struct UnknownChoiceField at "not a choice field of `{event}`" {
        pub event: String,
        pub field: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// One event from one state to two targets with nothing to choose between them.
    #[error("ambiguous move on `{event}`: {why}")]
    #[diagnostic(code(workflow::ambiguous_move))]
    pub struct AmbiguousMove at "this move" {
        pub event: String,
        pub why: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A move that goes nowhere.
    #[error("move on `{event}` has no target")]
    #[diagnostic(
        code(workflow::missing_target),
        help("give it `to: <state>` (the state's own name to stay), or a `hook` with `outcomes`")
    )]
    pub struct MissingTarget at "goes nowhere" {
        pub event: String,
    }
}

defect! {
    /// A hook used against its kind: one with outcomes where none is mapped, or one without where
    /// outcomes are expected.
    #[error("{message}")]
    #[diagnostic(code(workflow::hook_misuse))]
    pub struct HookMisuse at "here" {
        pub message: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A duration that cannot be read.
    #[error("malformed duration `{text}`: {why}")]
    #[diagnostic(
        code(workflow::bad_duration),
        help("write a number and a unit, largest unit first (`7d`, `24h`, `1d12h`), or a policy parameter (`policy.review_window`)")
    )]
    pub struct BadDuration at "not a duration" {
        pub text: String,
        pub why: String,
    }
}

defect! {
    /// A name that records and scripts could not carry: states, hooks, outcomes, deadlines, reasons.
    #[error("{what} name `{name}` is not snake_case")]
    #[diagnostic(
        code(workflow::invalid_name),
        help("use lowercase letters, digits and `_`, starting with a letter")
    )]
    pub struct InvalidName at "invalid name" {
        pub what: &'static str,
        pub name: String,
    }
}

defect! {
    /// Two deadlines with one name: their records' trigger `deadline:<name>` would be ambiguous.
    #[error("deadline `{name}` is defined twice")]
    #[diagnostic(
        code(workflow::duplicate_deadline),
        help("deadline names are workflow-wide, since records name them as `deadline:<name>`")
    )]
    pub struct DuplicateDeadline at primary "defined again here" {
        pub name: String,
        #[label("first defined here")]
        pub first: Span,
    }
}

defect! {
    /// A state that no sample can ever reach.
    #[error("state `{name}` is unreachable")]
    #[diagnostic(
        code(workflow::unreachable_state),
        help("no move or deadline leads here from `initial`; add one, or remove the state")
    )]
    pub struct UnreachableState at "never entered" {
        pub name: String,
    }
}

defect! {
    /// A non-terminal state from which no terminal state can be reached.
    #[error("no terminal state can be reached from `{name}`")]
    #[diagnostic(
        code(workflow::dead_end),
        help("a sample here would never end; add a move or a deadline towards a terminal state")
    )]
    pub struct DeadEnd at "samples get stuck here" {
        pub name: String,
    }
}

defect! {
    /// A terminal state with a move to another state.
    #[error("terminal state `{state}` moves to `{target}` on `{event}`")]
    #[diagnostic(
        code(workflow::terminal_with_move),
        help("a terminal state may only take self-moves (updates that keep it); make the state non-terminal or drop the move")
    )]
    pub struct TerminalWithMove at "leaves a terminal state" {
        pub state: String,
        pub event: String,
        pub target: String,
    }
}

defect! {
    /// A deadline armed or firing in a terminal state.
    #[error("terminal state `{state}` has deadline `{deadline}`")]
    #[diagnostic(
        code(workflow::terminal_with_deadline),
        help("nothing happens to a sample after it ends; remove the deadline or make the state non-terminal")
    )]
    pub struct TerminalWithDeadline at "deadline in a terminal state" {
        pub state: String,
        pub deadline: String,
    }
}

defect! {
    /// A sample deadline that could never arm, fire or be extended as written.
    #[error("deadline `{deadline}`: {message}")]
    #[diagnostic(code(workflow::deadline_scope))]
    pub struct DeadlineScope at "here" {
        pub deadline: String,
        pub message: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// `reason: event.reason` where the event carries no reason code.
    #[error("`event.reason` is not available on {what}")]
    #[diagnostic(
        code(workflow::no_event_reason),
        help("only `delivery_failed` and `product_unavailable` carry a reason code; write a fixed code instead")
    )]
    pub struct NoEventReason at "no event reason here" {
        pub what: String,
    }
}

defect! {
    /// A workflow whose name differs from its file's: events name workflows, users find files.
    #[error("workflow `{name}` is in file `{file}`")]
    #[diagnostic(
        code(workflow::name_mismatch),
        help("name the file `{name}.yaml`, or the workflow `{stem}`")
    )]
    pub struct NameMismatch at "does not match the file name" {
        pub name: String,
        pub file: String,
        pub stem: String,
    }
}

defect! {
    /// Two files define one workflow.
    #[error("workflow `{name}` is defined in more than one file")]
    #[diagnostic(code(workflow::duplicate_workflow), help("also defined in `{other}`"))]
    pub struct DuplicateWorkflow at "defined again here" {
        pub name: String,
        pub other: String,
    }
}

/// The folder lacks the workflow that requests start by default.
#[derive(Debug, Error, Diagnostic)]
#[error("no `sample` workflow in `{dir}`")]
#[diagnostic(
    code(workflow::missing_default),
    help("a `sample_requested` event without a `workflow` field starts `sample`; add `{dir}/sample.yaml`")
)]
pub struct MissingDefaultWorkflow {
    pub dir: String,
}

defect! {
    /// A state where a sample may wait for ever: no deadline fires or waits there.
    #[error("state `{name}` has no deadline")]
    #[diagnostic(
        code(workflow::waiting_without_deadline),
        severity(Warning),
        help("a sample may wait here for ever if no event comes; add a deadline, or list the state in a sample deadline's `fires_in` or `held_in`")
    )]
    pub struct WaitingWithoutDeadline at "no deadline" {
        pub name: String,
    }
}

defect! {
    /// A declared hook that no move or state calls.
    #[error("hook `{name}` is never called")]
    #[diagnostic(
        code(workflow::unused_hook),
        severity(Warning),
        help("call it from a move (`hook: {name}`) or a state's `enter`, or remove it")
    )]
    pub struct UnusedHook at "declared here" {
        pub name: String,
    }
}

defect! {
    /// A state's `role` that is no role, or that the state cannot have (an end's role on a state
    /// that is not terminal), or a role given twice where one state may have it.
    #[error("{message}")]
    #[diagnostic(code(workflow::bad_role))]
    pub struct BadRole at "here" {
        pub message: String,
        #[help]
        pub help: Option<String>,
    }
}

defect! {
    /// A workflow that declares no state of a role its rules depend on: the ledger would never
    /// record what the rules read (a breach, a completion, a cancellation).
    #[error("workflow `{workflow}` declares no `role: {role}` state, which the rules need")]
    #[diagnostic(code(workflow::missing_role))]
    pub struct MissingRole at "no state here has `role: {role}`" {
        pub workflow: String,
        pub role: &'static str,
        #[help]
        pub help: Option<String>,
    }
}
