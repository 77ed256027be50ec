//! The workflow files: their serde model, positions for every name, and loading them.
//!
//! The model keeps what the file says, even where it is wrong (an unknown target, a move with
//! both `to` and `outcomes`), so that `validate` can report every defect at once.

mod doc;
mod duration;
mod error;
mod load;
pub mod yaml;

pub use doc::{join, Doc};
pub use duration::{Duration, DurationError};
pub use error::{
    DuplicateKey, DuplicateMove, DuplicateState, LoadError, ReadFailed, SchemaError, SyntaxError,
};
pub use load::{load_dir, load_str, Loaded};

use std::path::PathBuf;

use crate::diagnostic::{Source, Spanned};
use crate::model::vocab;

/// The name of the workflow that a `sample_requested` event without a `workflow` field starts.
pub const DEFAULT_WORKFLOW: &str = "sample";

/// One workflow file.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The file it was read from.
    pub path: PathBuf,
    /// The file's text, for diagnostics.
    pub source: Source,
    /// `workflow:`, with its place.
    pub name: Spanned<String>,
    /// `version:`.
    pub version: u32,
    /// `description:`, if any.
    pub description: Option<String>,
    /// The move that creates a sample: its event and where it goes.
    pub initial: Move,
    /// `hooks:`: the rule hooks the workflow declares.
    pub hooks: Vec<HookDecl>,
    /// `states:`, in file order.
    pub states: Vec<State>,
    /// Deadlines measured from a moment in the sample's life, living across states.
    pub deadlines: Vec<SampleDeadline>,
}

impl Workflow {
    /// The state of that name.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name.value == name)
    }

    /// The states declared with `role`.
    pub fn states_with(&self, role: vocab::StateRole) -> impl Iterator<Item = &State> {
        self.states.iter().filter(move |s| s.role() == Some(role))
    }

    /// The declared hook of that name.
    pub fn hook(&self, name: &str) -> Option<&HookDecl> {
        self.hooks.iter().find(|h| h.name.value == name)
    }

    /// Every move of the workflow with the state it leaves (`None` for the initial move).
    pub fn moves(&self) -> impl Iterator<Item = (Option<&State>, &Move)> {
        std::iter::once((None, &self.initial)).chain(
            self.states
                .iter()
                .flat_map(|s| s.on.iter().map(move |m| (Some(s), m))),
        )
    }
}

impl State {
    /// The state's role, when it names a known one.
    pub fn role(&self) -> Option<vocab::StateRole> {
        self.role
            .as_ref()
            .and_then(|r| vocab::StateRole::named(&r.value))
    }
}

/// A rule hook the workflow calls, with the outcomes it may return.
///
/// A hook with outcomes picks a move's target; one without only adds actions.
#[derive(Debug, Clone)]
pub struct HookDecl {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub outcomes: Vec<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub terminal: bool,
    /// What the state means (`role: breach`), as written; `validate` checks the name.
    pub role: Option<Spanned<String>>,
    /// Hooks and actions run on entering the state (not on a self-move).
    pub enter: Effects,
    pub on: Vec<Move>,
    pub deadlines: Vec<StateDeadline>,
}

#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub hooks: Vec<Spanned<String>>,
    pub actions: Vec<Spanned<String>>,
}

/// What one event does in one state.
///
/// Either a plain target (`to`), or a choice: `hook` (a rule) or `field` (of the event) returns an
/// outcome and `outcomes` maps it to a target. A target equal to the state is a self-move: the
/// sample stays, nothing is exited or entered, deadlines keep running.
#[derive(Debug, Clone)]
pub struct Move {
    pub event: Spanned<String>,
    pub to: Option<Spanned<String>>,
    pub hook: Option<Spanned<String>>,
    pub field: Option<Spanned<String>>,
    pub outcomes: Vec<OutcomeTarget>,
    pub reason: Option<Spanned<Reason>>,
    pub actions: Vec<Spanned<String>>,
}

impl Move {
    /// Every target this move may go to, with the outcome that picks it.
    pub fn targets(&self) -> impl Iterator<Item = (Option<&OutcomeTarget>, &Spanned<String>)> {
        self.to
            .iter()
            .map(|to| (None, to))
            .chain(self.outcomes.iter().map(|o| (Some(o), &o.to)))
    }
}

#[derive(Debug, Clone)]
pub struct OutcomeTarget {
    pub name: Spanned<String>,
    pub to: Spanned<String>,
    pub reason: Option<Spanned<Reason>>,
    pub actions: Vec<Spanned<String>>,
}

/// The reason code a move writes into its record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// A fixed code such as `review_expired`.
    Code(String),
    /// `event.reason`: the event's own `reason` field.
    EventReason,
}

impl Reason {
    pub fn parse(text: &str) -> Self {
        match text {
            "event.reason" => Reason::EventReason,
            code => Reason::Code(code.to_string()),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Code(code) => f.write_str(code),
            Reason::EventReason => f.write_str("event.reason"),
        }
    }
}

/// A deadline armed on entering a state and cancelled on leaving it.
#[derive(Debug, Clone)]
pub struct StateDeadline {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub after: Spanned<String>,
    pub to: Spanned<String>,
    pub reason: Option<Spanned<Reason>>,
    pub actions: Vec<Spanned<String>>,
}

/// A deadline measured from an event in the sample's life (the post deadline from delivery).
///
/// When due, it fires if the sample is in a `fires_in` state; waits if it is in a `held_in` state
/// and fires at once on returning to a `fires_in` state; else it is dropped for good. It is
/// cancelled when the sample reaches a terminal state.
#[derive(Debug, Clone)]
pub struct SampleDeadline {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub from: Spanned<String>,
    pub after: Spanned<String>,
    pub fires_in: Vec<Spanned<String>>,
    pub held_in: Vec<Spanned<String>>,
    pub to: Spanned<String>,
    pub reason: Option<Spanned<Reason>>,
    pub actions: Vec<Spanned<String>>,
    pub extend: Option<Extend>,
}

/// An event that moves a sample deadline later, a bounded number of times per sample.
#[derive(Debug, Clone)]
pub struct Extend {
    pub on: Spanned<String>,
    pub by: Spanned<String>,
    pub times: Spanned<u32>,
}
