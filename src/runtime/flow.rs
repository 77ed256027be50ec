//! A workflow compiled for the runner: states and moves by index, every duration resolved per
//! category, hooks and actions as enums, each state's role. The runner reads this and never the
//! YAML model: a name is looked up once, when the sample's current state is found.

use super::HashMap;
use std::sync::Arc;

use rhai::ImmutableString;

use crate::definition::{Duration, Reason, Workflow};
use crate::graph::WorkflowGraph;
use crate::model::vocab::{self, ActionKind, EventKind, StateRole};
use crate::rules::{Hook, Policy};
use crate::Spanned;

/// A state's place in its flow.
pub(super) type StateId = usize;

/// One workflow ready to run, with the short hash of its file.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The graph it was compiled from, for what is not on the hot path (versions, help texts).
    pub graph: Arc<WorkflowGraph>,
    pub hash: Arc<str>,
    states: Vec<StateCode>,
    by_name: HashMap<ImmutableString, StateId>,
    initial: MoveCode,
    /// Where a move whose outcome is not among its outcomes, and which has no `to`, goes: the
    /// empty state, as the record has always written it.
    nowhere: StateId,
    sample_deadlines: Vec<SampleDeadlineCode>,
}

/// A state: its moves by event, what entering it does, the deadlines it arms.
#[derive(Debug, Clone)]
pub(super) struct StateCode {
    pub(super) name: ImmutableString,
    /// False for a name a move targets that the workflow does not declare (`validate` refuses
    /// such workflows; the runner still runs them as it did, a sample there takes no event).
    pub(super) declared: bool,
    pub(super) terminal: bool,
    pub(super) role: Option<StateRole>,
    pub(super) enter_hooks: Vec<Hook>,
    pub(super) enter_actions: Vec<ActionKind>,
    moves: Vec<MoveCode>,
    pub(super) deadlines: Vec<StateDeadlineCode>,
}

/// How one event moves a sample: a target, or a hook's or field's outcome among several.
#[derive(Debug, Clone)]
pub(super) struct MoveCode {
    /// None for an event name outside the contract (such a move never matches).
    event: Option<EventKind>,
    pub(super) hook: Option<Hook>,
    /// The event field whose value picks the outcome (`decision`, `reason`).
    pub(super) field: Option<String>,
    pub(super) to: Option<StateId>,
    pub(super) reason: Option<Reason>,
    pub(super) actions: Vec<ActionKind>,
    pub(super) outcomes: Vec<OutcomeCode>,
}

#[derive(Debug, Clone)]
pub(super) struct OutcomeCode {
    pub(super) name: String,
    pub(super) to: StateId,
    pub(super) reason: Option<Reason>,
    pub(super) actions: Vec<ActionKind>,
}

/// A deadline armed on entering a state.
#[derive(Debug, Clone)]
pub(super) struct StateDeadlineCode {
    pub(super) name: ImmutableString,
    pub(super) after: Seconds,
    pub(super) to: StateId,
    /// Only a fixed code: a deadline has no event to take a reason from.
    pub(super) reason: Option<String>,
    pub(super) actions: Vec<ActionKind>,
}

/// A deadline measured from an event in the sample's life.
#[derive(Debug, Clone)]
pub(super) struct SampleDeadlineCode {
    pub(super) name: ImmutableString,
    pub(super) from: Option<EventKind>,
    pub(super) after: Seconds,
    fires_in: Vec<StateId>,
    held_in: Vec<StateId>,
    pub(super) to: StateId,
    pub(super) reason: Option<String>,
    pub(super) actions: Vec<ActionKind>,
    pub(super) extend: Option<ExtendCode>,
}

#[derive(Debug, Clone)]
pub(super) struct ExtendCode {
    pub(super) on: Option<EventKind>,
    pub(super) by: Seconds,
    pub(super) times: u32,
}

/// A workflow duration resolved against the policy: seconds for `default` and for each
/// category whose policy block says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Seconds {
    default: i64,
    by_category: HashMap<String, i64>,
}

impl Seconds {
    pub(super) fn of(&self, category: &str) -> i64 {
        self.by_category
            .get(category)
            .copied()
            .unwrap_or(self.default)
    }

    /// `7d` or `policy.<name>`; None when the text does not resolve.
    fn resolve(text: &str, policy: &Policy) -> Option<Seconds> {
        match Duration::parse(text).ok()? {
            Duration::Seconds(default) => Some(Seconds {
                default,
                by_category: HashMap::default(),
            }),
            Duration::Policy(name) => {
                let default = policy.duration("default", &name)?;
                let by_category = policy
                    .categories
                    .keys()
                    .filter_map(|c| Some((c.clone(), policy.duration(c, &name)?)))
                    .filter(|(_, secs)| *secs != default)
                    .collect();
                Some(Seconds {
                    default,
                    by_category,
                })
            }
        }
    }
}

impl StateCode {
    /// The move `event` makes from this state (the first, if a state names it twice).
    pub(super) fn move_for(&self, event: EventKind) -> Option<&MoveCode> {
        self.moves.iter().find(|m| m.event == Some(event))
    }

    /// The events this state takes, for the help of a refusal.
    pub(super) fn takes(&self) -> impl Iterator<Item = EventKind> + '_ {
        self.moves.iter().filter_map(|m| m.event)
    }
}

impl SampleDeadlineCode {
    pub(super) fn fires_in(&self, state: StateId) -> bool {
        self.fires_in.contains(&state)
    }

    pub(super) fn held_in(&self, state: StateId) -> bool {
        self.held_in.contains(&state)
    }
}

impl Flow {
    /// Compiles `graph` against `policy`. Durations that do not resolve are added to
    /// `unresolved` and count as zero (`validate` refuses such workflows before anything runs).
    pub fn compile(
        graph: Arc<WorkflowGraph>,
        hash: Arc<str>,
        policy: &Policy,
        unresolved: &mut Vec<String>,
    ) -> Flow {
        let w = graph.workflow();
        let mut c = Compiler {
            policy,
            unresolved,
            states: Vec::new(),
            by_name: HashMap::default(),
        };
        // A state named twice: the first is the one the graph keeps.
        let mut first = Vec::new();
        for s in &w.states {
            let id = c.state(&s.name.value);
            let code = &mut c.states[id];
            if code.declared {
                continue;
            }
            code.declared = true;
            code.terminal = s.terminal;
            code.role = s.role();
            first.push((id, s));
        }
        for (id, s) in first {
            let moves = s.on.iter().map(|m| c.moving(m)).collect();
            let deadlines = s
                .deadlines
                .iter()
                .map(|d| StateDeadlineCode {
                    name: d.name.value.as_str().into(),
                    after: c.seconds(&d.after.value),
                    to: c.state(&d.to.value),
                    reason: code_of(d.reason.as_ref()),
                    actions: actions(&d.actions),
                })
                .collect();
            let code = &mut c.states[id];
            code.enter_hooks = s
                .enter
                .hooks
                .iter()
                .map(|h| Hook::named(&h.value))
                .collect();
            code.enter_actions = actions(&s.enter.actions);
            code.moves = moves;
            code.deadlines = deadlines;
        }
        let initial = c.moving(&w.initial);
        let sample_deadlines = sample_deadlines(&mut c, w);
        let nowhere = c.state("");
        Flow {
            states: c.states,
            by_name: c.by_name,
            initial,
            nowhere,
            sample_deadlines,
            hash,
            graph,
        }
    }

    pub fn name(&self) -> &str {
        &self.graph.workflow().name.value
    }

    /// The state named `name`, if a move can reach it.
    pub(super) fn id(&self, name: &str) -> Option<StateId> {
        self.by_name.get(name).copied()
    }

    pub(super) fn state(&self, id: StateId) -> &StateCode {
        &self.states[id]
    }

    /// The state `name`, if the workflow declares it.
    pub(super) fn declared(&self, name: &str) -> Option<&StateCode> {
        self.id(name)
            .map(|id| &self.states[id])
            .filter(|s| s.declared)
    }

    pub(super) fn is_terminal(&self, name: &str) -> Option<bool> {
        self.declared(name).map(|s| s.terminal)
    }

    /// The creating move.
    pub(super) fn initial(&self) -> &MoveCode {
        &self.initial
    }

    pub(super) fn nowhere(&self) -> StateId {
        self.nowhere
    }

    pub(super) fn sample_deadlines(&self) -> &[SampleDeadlineCode] {
        &self.sample_deadlines
    }

    pub(super) fn sample_deadline(&self, name: &str) -> Option<&SampleDeadlineCode> {
        self.sample_deadlines.iter().find(|d| d.name == name)
    }
}

fn sample_deadlines(c: &mut Compiler<'_>, w: &Workflow) -> Vec<SampleDeadlineCode> {
    w.deadlines
        .iter()
        .map(|d| SampleDeadlineCode {
            name: d.name.value.as_str().into(),
            from: event_kind(&d.from.value),
            after: c.seconds(&d.after.value),
            fires_in: d
                .fires_in
                .iter()
                .filter_map(|s| c.known(&s.value))
                .collect(),
            held_in: d.held_in.iter().filter_map(|s| c.known(&s.value)).collect(),
            to: c.state(&d.to.value),
            reason: code_of(d.reason.as_ref()),
            actions: actions(&d.actions),
            extend: d.extend.as_ref().map(|x| ExtendCode {
                on: event_kind(&x.on.value),
                by: c.seconds(&x.by.value),
                times: x.times.value,
            }),
        })
        .collect()
}

struct Compiler<'a> {
    policy: &'a Policy,
    unresolved: &'a mut Vec<String>,
    states: Vec<StateCode>,
    by_name: HashMap<ImmutableString, StateId>,
}

impl Compiler<'_> {
    /// The index of state `name`, made on first mention.
    fn state(&mut self, name: &str) -> StateId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.states.len();
        let name: ImmutableString = name.into();
        self.states.push(StateCode {
            name: name.clone(),
            declared: false,
            terminal: false,
            role: None,
            enter_hooks: Vec::new(),
            enter_actions: Vec::new(),
            moves: Vec::new(),
            deadlines: Vec::new(),
        });
        self.by_name.insert(name, id);
        id
    }

    /// A state a deadline fires or is held in: one no move reaches never holds a sample.
    fn known(&self, name: &str) -> Option<StateId> {
        self.by_name.get(name).copied()
    }

    fn moving(&mut self, m: &crate::definition::Move) -> MoveCode {
        MoveCode {
            event: event_kind(&m.event.value),
            hook: m.hook.as_ref().map(|h| Hook::named(&h.value)),
            field: m.field.as_ref().map(|f| f.value.clone()),
            to: m.to.as_ref().map(|t| self.state(&t.value)),
            reason: m.reason.as_ref().map(|r| r.value.clone()),
            actions: actions(&m.actions),
            outcomes: m
                .outcomes
                .iter()
                .map(|o| OutcomeCode {
                    name: o.name.value.clone(),
                    to: self.state(&o.to.value),
                    reason: o.reason.as_ref().map(|r| r.value.clone()),
                    actions: actions(&o.actions),
                })
                .collect(),
        }
    }

    fn seconds(&mut self, text: &str) -> Seconds {
        Seconds::resolve(text, self.policy).unwrap_or_else(|| {
            if !self.unresolved.iter().any(|u| u == text) {
                self.unresolved.push(text.to_string());
            }
            Seconds::default()
        })
    }
}

fn event_kind(name: &str) -> Option<EventKind> {
    vocab::event_type(name).map(|t| t.kind)
}

/// The actions a workflow names, as the runner matches them (`validate` refuses any other name,
/// so none is dropped here).
fn actions(names: &[Spanned<String>]) -> Vec<ActionKind> {
    names
        .iter()
        .filter_map(|a| ActionKind::named(&a.value))
        .collect()
}

fn code_of(reason: Option<&Spanned<Reason>>) -> Option<String> {
    match reason.map(|r| &r.value) {
        Some(Reason::Code(code)) => Some(code.clone()),
        _ => None,
    }
}
