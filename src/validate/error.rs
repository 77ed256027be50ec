//! One struct per kind of defect that `validate` finds, each pointing at its place in the file.

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

use crate::definition::LoadError;
use crate::diagnostic::Source;
use crate::rules::RuleProblem;

/// Every problem `validate` reports: errors, and warnings (see `miette::Diagnostic::severity`).
#[derive(Debug, Error, Diagnostic)]
#[non_exhaustive]
pub enum Problem {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Rules(#[from] RuleProblem),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownState(#[from] UnknownState),
    #[error(transparent)]
    #[diagnostic(transparent)]
    BadRole(#[from] BadRole),
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingRole(#[from] MissingRole),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownEvent(#[from] UnknownEvent),
    #[error(transparent)]
    #[diagnostic(transparent)]
    EventNotRoutable(#[from] EventNotRoutable),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownAction(#[from] UnknownAction),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownHook(#[from] UnknownHook),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownOutcome(#[from] UnknownOutcome),
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingOutcome(#[from] MissingOutcome),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownChoiceField(#[from] UnknownChoiceField),
    #[error(transparent)]
    #[diagnostic(transparent)]
    AmbiguousMove(#[from] AmbiguousMove),
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingTarget(#[from] MissingTarget),
    #[error(transparent)]
    #[diagnostic(transparent)]
    HookMisuse(#[from] HookMisuse),
    #[error(transparent)]
    #[diagnostic(transparent)]
    BadDuration(#[from] BadDuration),
    #[error(transparent)]
    #[diagnostic(transparent)]
    InvalidName(#[from] InvalidName),
    #[error(transparent)]
    #[diagnostic(transparent)]
    DuplicateDeadline(#[from] DuplicateDeadline),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnreachableState(#[from] UnreachableState),
    #[error(transparent)]
    #[diagnostic(transparent)]
    DeadEnd(#[from] DeadEnd),
    #[error(transparent)]
    #[diagnostic(transparent)]
    TerminalWithMove(#[from] TerminalWithMove),
    #[error(transparent)]
    #[diagnostic(transparent)]
    TerminalWithDeadline(#[from] TerminalWithDeadline),
    #[error(transparent)]
    #[diagnostic(transparent)]
    DeadlineScope(#[from] DeadlineScope),
    #[error(transparent)]
    #[diagnostic(transparent)]
    NoEventReason(#[from] NoEventReason),
    #[error(transparent)]
    #[diagnostic(transparent)]
    NameMismatch(#[from] NameMismatch),
    #[error(transparent)]
    #[diagnostic(transparent)]
    DuplicateWorkflow(#[from] DuplicateWorkflow),
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingDefaultWorkflow(#[from] MissingDefaultWorkflow),
    #[error(transparent)]
    #[diagnostic(transparent)]
    WaitingWithoutDeadline(#[from] WaitingWithoutDeadline),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnusedHook(#[from] UnusedHook),
}

/// A target, `fires_in` or `held_in` that names no state of the workflow.
#[derive(Debug, Error, Diagnostic)]
#[error("unknown state `{name}`")]
#[diagnostic(code(workflow::unknown_state))]
pub struct UnknownState {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("no state of this name")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// An event type that the contract does not have.
#[derive(Debug, Error, Diagnostic)]
#[error("unknown event type `{name}`")]
#[diagnostic(code(workflow::unknown_event))]
pub struct UnknownEvent {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("not an event type")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// An event that exists but cannot be routed where it is written.
#[derive(Debug, Error, Diagnostic)]
#[error("event `{name}` cannot be used here")]
#[diagnostic(code(workflow::event_not_routable))]
pub struct EventNotRoutable {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("{why}")]
    pub span: SourceSpan,
    pub why: String,
    #[help]
    pub help: Option<String>,
}

/// An action type that the contract does not have.
#[derive(Debug, Error, Diagnostic)]
#[error("unknown action `{name}`")]
#[diagnostic(code(workflow::unknown_action))]
pub struct UnknownAction {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("not an action")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// A hook that the workflow's `hooks` block does not declare.
#[derive(Debug, Error, Diagnostic)]
#[error("unknown hook `{name}`")]
#[diagnostic(code(workflow::unknown_hook))]
pub struct UnknownHook {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("not declared in `hooks`")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// An outcome that the hook or field never returns.
#[derive(Debug, Error, Diagnostic)]
#[error("`{chooser}` has no outcome `{name}`")]
#[diagnostic(code(workflow::unknown_outcome))]
pub struct UnknownOutcome {
    pub name: String,
    pub chooser: String,
    #[source_code]
    pub src: Source,
    #[label("never returned")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// An outcome that the hook or field may return but the move does not map.
#[derive(Debug, Error, Diagnostic)]
#[error("move on `{event}` does not map outcome `{outcome}` of `{chooser}`")]
#[diagnostic(
    code(workflow::missing_outcome),
    help("add `{outcome}: <state>` to the move's `outcomes`")
)]
pub struct MissingOutcome {
    pub event: String,
    pub outcome: String,
    pub chooser: String,
    #[source_code]
    pub src: Source,
    #[label("`{outcome}` would have nowhere to go")]
    pub span: SourceSpan,
}

/// A `field:` chooser that the event does not have.
#[derive(Debug, Error, Diagnostic)]
#[error("event `{event}` has no field `{field}` to choose by")]
#[diagnostic(code(workflow::unknown_choice_field))]
pub struct UnknownChoiceField {
    pub event: String,
    pub field: String,
    #[source_code]
    pub src: Source,
    #[label("not a choice field of `{event}`")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// One event from one state to two targets with nothing to choose between them.
#[derive(Debug, Error, Diagnostic)]
#[error("ambiguous move on `{event}`: {why}")]
#[diagnostic(code(workflow::ambiguous_move))]
pub struct AmbiguousMove {
    pub event: String,
    pub why: String,
    #[source_code]
    pub src: Source,
    #[label("this move")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// A move that goes nowhere.
#[derive(Debug, Error, Diagnostic)]
#[error("move on `{event}` has no target")]
#[diagnostic(
    code(workflow::missing_target),
    help("give it `to: <state>` (the state's own name to stay), or a `hook` with `outcomes`")
)]
pub struct MissingTarget {
    pub event: String,
    #[source_code]
    pub src: Source,
    #[label("goes nowhere")]
    pub span: SourceSpan,
}

/// A hook used against its kind: one with outcomes where none is mapped, or one without where
/// outcomes are expected.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(workflow::hook_misuse))]
pub struct HookMisuse {
    pub message: String,
    #[source_code]
    pub src: Source,
    #[label("here")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// A duration that cannot be read.
#[derive(Debug, Error, Diagnostic)]
#[error("malformed duration `{text}`: {why}")]
#[diagnostic(
    code(workflow::bad_duration),
    help("write a number and a unit, largest unit first (`7d`, `24h`, `1d12h`), or a policy parameter (`policy.review_window`)")
)]
pub struct BadDuration {
    pub text: String,
    pub why: String,
    #[source_code]
    pub src: Source,
    #[label("not a duration")]
    pub span: SourceSpan,
}

/// A name that records and scripts could not carry: states, hooks, outcomes, deadlines, reasons.
#[derive(Debug, Error, Diagnostic)]
#[error("{what} name `{name}` is not snake_case")]
#[diagnostic(
    code(workflow::invalid_name),
    help("use lowercase letters, digits and `_`, starting with a letter")
)]
pub struct InvalidName {
    pub what: &'static str,
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("invalid name")]
    pub span: SourceSpan,
}

/// Two deadlines with one name: their records' trigger `deadline:<name>` would be ambiguous.
#[derive(Debug, Error, Diagnostic)]
#[error("deadline `{name}` is defined twice")]
#[diagnostic(
    code(workflow::duplicate_deadline),
    help("deadline names are workflow-wide, since records name them as `deadline:<name>`")
)]
pub struct DuplicateDeadline {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("first defined here")]
    pub first: SourceSpan,
    #[label(primary, "defined again here")]
    pub again: SourceSpan,
}

/// A state that no sample can ever reach.
#[derive(Debug, Error, Diagnostic)]
#[error("state `{name}` is unreachable")]
#[diagnostic(
    code(workflow::unreachable_state),
    help("no move or deadline leads here from `initial`; add one, or remove the state")
)]
pub struct UnreachableState {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("never entered")]
    pub span: SourceSpan,
}

/// A non-terminal state from which no terminal state can be reached.
#[derive(Debug, Error, Diagnostic)]
#[error("no terminal state can be reached from `{name}`")]
#[diagnostic(
    code(workflow::dead_end),
    help("a sample here would never end; add a move or a deadline towards a terminal state")
)]
pub struct DeadEnd {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("samples get stuck here")]
    pub span: SourceSpan,
}

/// A terminal state with a move to another state.
#[derive(Debug, Error, Diagnostic)]
#[error("terminal state `{state}` moves to `{target}` on `{event}`")]
#[diagnostic(
    code(workflow::terminal_with_move),
    help("a terminal state may only take self-moves (updates that keep it); make the state non-terminal or drop the move")
)]
pub struct TerminalWithMove {
    pub state: String,
    pub event: String,
    pub target: String,
    #[source_code]
    pub src: Source,
    #[label("leaves a terminal state")]
    pub span: SourceSpan,
}

/// A deadline armed or firing in a terminal state.
#[derive(Debug, Error, Diagnostic)]
#[error("terminal state `{state}` has deadline `{deadline}`")]
#[diagnostic(
    code(workflow::terminal_with_deadline),
    help("nothing happens to a sample after it ends; remove the deadline or make the state non-terminal")
)]
pub struct TerminalWithDeadline {
    pub state: String,
    pub deadline: String,
    #[source_code]
    pub src: Source,
    #[label("deadline in a terminal state")]
    pub span: SourceSpan,
}

/// A sample deadline that could never arm, fire or be extended as written.
#[derive(Debug, Error, Diagnostic)]
#[error("deadline `{deadline}`: {message}")]
#[diagnostic(code(workflow::deadline_scope))]
pub struct DeadlineScope {
    pub deadline: String,
    pub message: String,
    #[source_code]
    pub src: Source,
    #[label("here")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// `reason: event.reason` where the event carries no reason code.
#[derive(Debug, Error, Diagnostic)]
#[error("`event.reason` is not available on {what}")]
#[diagnostic(
    code(workflow::no_event_reason),
    help("only `delivery_failed` and `product_unavailable` carry a reason code; write a fixed code instead")
)]
pub struct NoEventReason {
    pub what: String,
    #[source_code]
    pub src: Source,
    #[label("no event reason here")]
    pub span: SourceSpan,
}

/// A workflow whose name differs from its file's: events name workflows, users find files.
#[derive(Debug, Error, Diagnostic)]
#[error("workflow `{name}` is in file `{file}`")]
#[diagnostic(
    code(workflow::name_mismatch),
    help("name the file `{name}.yaml`, or the workflow `{stem}`")
)]
pub struct NameMismatch {
    pub name: String,
    pub file: String,
    pub stem: String,
    #[source_code]
    pub src: Source,
    #[label("does not match the file name")]
    pub span: SourceSpan,
}

/// Two files define one workflow.
#[derive(Debug, Error, Diagnostic)]
#[error("workflow `{name}` is defined in more than one file")]
#[diagnostic(code(workflow::duplicate_workflow), help("also defined in `{other}`"))]
pub struct DuplicateWorkflow {
    pub name: String,
    pub other: String,
    #[source_code]
    pub src: Source,
    #[label("defined again here")]
    pub span: SourceSpan,
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

/// A state where a sample may wait for ever: no deadline fires or waits there.
#[derive(Debug, Error, Diagnostic)]
#[error("state `{name}` has no deadline")]
#[diagnostic(
    code(workflow::waiting_without_deadline),
    severity(Warning),
    help("a sample may wait here for ever if no event comes; add a deadline, or list the state in a sample deadline's `fires_in` or `held_in`")
)]
pub struct WaitingWithoutDeadline {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("no deadline")]
    pub span: SourceSpan,
}

/// A declared hook that no move or state calls.
#[derive(Debug, Error, Diagnostic)]
#[error("hook `{name}` is never called")]
#[diagnostic(
    code(workflow::unused_hook),
    severity(Warning),
    help("call it from a move (`hook: {name}`) or a state's `enter`, or remove it")
)]
pub struct UnusedHook {
    pub name: String,
    #[source_code]
    pub src: Source,
    #[label("declared here")]
    pub span: SourceSpan,
}

/// A state's `role` that is no role, or that the state cannot have (an end's role on a state
/// that is not terminal), or a role given twice where one state may have it.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(workflow::bad_role))]
pub struct BadRole {
    pub message: String,
    #[source_code]
    pub src: Source,
    #[label("here")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

/// A workflow that declares no state of a role its rules depend on: the ledger would never
/// record what the rules read (a breach, a completion, a cancellation).
#[derive(Debug, Error, Diagnostic)]
#[error("workflow `{workflow}` declares no `role: {role}` state, which the rules need")]
#[diagnostic(code(workflow::missing_role))]
pub struct MissingRole {
    pub workflow: String,
    pub role: &'static str,
    #[source_code]
    pub src: Source,
    #[label("no state here has `role: {role}`")]
    pub span: SourceSpan,
    #[help]
    pub help: Option<String>,
}
