//! The checks of one workflow: names, roles, the initial move, every state, move, deadline,
//! hook and action against the contract's vocabulary, and the graph's reachability. Each defect
//! is collected with its place; nothing stops at the first.

use crate::definition::{self, Duration, Move, Reason, SampleDeadline, State, Workflow};
use crate::diagnostic::{self, did_you_mean, Loc, Source, Span, Spanned};
use crate::graph::WorkflowGraph;
use crate::model::vocab::{self, EventScope};

use super::error::*;

/// Every check of `w`'s text: its problems, and whether one of them cut an edge of its graph
/// (then reachability is not checked: it would only repeat that problem in other words).
pub(super) fn workflow(w: &Workflow) -> (Vec<Problem>, bool) {
    let mut checker = Checker {
        w,
        src: w.source.clone(),
        problems: Vec::new(),
        cut_edges: false,
        unknown_events: false,
        unknown_hooks: false,
    };
    checker.check();
    (checker.problems, checker.cut_edges)
}

/// States no sample can reach, and states from which no end can be reached.
pub(super) fn graph(graph: &WorkflowGraph, problems: &mut Vec<Problem>) {
    let w = graph.workflow();
    let reachable = graph.reachable();
    for state in &w.states {
        if !reachable.contains(&state.name.as_str()) {
            problems.push(
                UnreachableState {
                    name: state.name.value.clone(),
                    loc: Loc::new(w.source.clone(), state.name.span),
                }
                .into(),
            );
        }
    }
    for name in graph.dead_ends() {
        if let Some(state) = w.state(name) {
            problems.push(
                DeadEnd {
                    name: name.to_string(),
                    loc: Loc::new(w.source.clone(), state.name.span),
                }
                .into(),
            );
        }
    }
}

struct Checker<'a> {
    w: &'a Workflow,
    src: Source,
    problems: Vec<Problem>,
    cut_edges: bool,
    unknown_events: bool,
    unknown_hooks: bool,
}

fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn quoted_roles() -> String {
    vocab::ROLES
        .iter()
        .map(|(n, _)| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn hint(best: Option<&str>) -> Option<String> {
    best.map(|b| format!("did you mean `{b}`?"))
}

impl Checker<'_> {
    fn push(&mut self, problem: impl Into<Problem>) {
        self.problems.push(problem.into());
    }

    fn check(&mut self) {
        let w = self.w;
        self.name("workflow", &w.name);
        if let Some(stem) = w.path.file_stem().and_then(|s| s.to_str()) {
            if stem != w.name.value {
                self.push(NameMismatch {
                    name: w.name.value.clone(),
                    file: w.path.display().to_string(),
                    stem: stem.to_string(),
                    loc: Loc::new(self.src.clone(), w.name.span),
                });
            }
        }
        for hook in &w.hooks {
            self.name("hook", &hook.name);
            for outcome in &hook.outcomes {
                self.name("outcome", outcome);
            }
        }
        for state in &w.states {
            self.name("state", &state.name);
        }
        self.initial();
        for state in &w.states {
            self.state(state);
        }
        self.roles();
        let mut deadlines: Vec<&Spanned<String>> = Vec::new();
        for state in &w.states {
            deadlines.extend(state.deadlines.iter().map(|d| &d.name));
        }
        deadlines.extend(w.deadlines.iter().map(|d| &d.name));
        for (i, name) in deadlines.iter().enumerate() {
            self.name("deadline", name);
            if let Some(first) = deadlines[..i].iter().find(|d| d.value == name.value) {
                self.push(DuplicateDeadline {
                    name: name.value.clone(),
                    first: first.span,
                    loc: Loc::new(self.src.clone(), name.span),
                });
            }
        }
        for deadline in &w.deadlines {
            self.sample_deadline(deadline);
        }
        self.warnings();
    }

    /// Each state's `role` is a role it can have; a role that one state may have is not given
    /// to two.
    fn roles(&mut self) {
        let w = self.w;
        let mut first: Vec<(vocab::StateRole, &Spanned<String>)> = Vec::new();
        for state in &w.states {
            let Some(role) = &state.role else { continue };
            let Some(known) = vocab::StateRole::named(&role.value) else {
                self.push(BadRole {
                    message: format!("unknown role `{}`", role.value),
                    loc: Loc::new(self.src.clone(), role.span),
                    help: hint(did_you_mean(
                        &role.value,
                        vocab::ROLES.iter().map(|(n, _)| *n),
                    ))
                    .or_else(|| Some(format!("one of {}", quoted_roles()))),
                });
                continue;
            };
            if known.is_end() != state.terminal {
                let message = if known.is_end() {
                    format!(
                        "state `{}` has role `{}`, an end, but is not `terminal: true`",
                        state.name.value, role.value
                    )
                } else {
                    format!(
                        "state `{}` is terminal, but `{}` is the role of a state a sample passes through",
                        state.name.value, role.value
                    )
                };
                self.push(BadRole {
                    message,
                    loc: Loc::new(self.src.clone(), role.span),
                    help: Some(
                        "`fulfilled`, `breach` and `cancelled` are for ends; `approved` and `shipped` for states on the way".into(),
                    ),
                });
            }
            if known.is_unique() {
                if let Some((_, other)) = first.iter().find(|(r, _)| *r == known) {
                    self.push(BadRole {
                        message: format!(
                            "role `{}` is given to two states; one state has it",
                            role.value
                        ),
                        loc: Loc::new(self.src.clone(), role.span),
                        help: Some(format!(
                            "also given at line {}",
                            diagnostic::LineIndex::new(self.src.inner())
                                .line_col(other.span.offset)
                                .0
                        )),
                    });
                    continue;
                }
                first.push((known, role));
            }
        }
    }

    fn name(&mut self, what: &'static str, name: &Spanned<String>) {
        if !is_snake_case(&name.value) {
            self.push(InvalidName {
                what,
                name: name.value.clone(),
                loc: Loc::new(self.src.clone(), name.span),
            });
        }
    }

    fn initial(&mut self) {
        let m = &self.w.initial;
        match vocab::event_type(&m.event.value) {
            None => self.unknown_event(&m.event),
            Some(event) if event.scope != EventScope::Create => self.push(EventNotRoutable {
                name: m.event.value.clone(),
                loc: Loc::new(self.src.clone(), m.event.span),
                why: "does not create a sample".into(),
                help: Some("`initial` takes the creating event: `on: sample_requested`".into()),
            }),
            Some(_) => {}
        }
        self.a_move(None, m);
    }

    fn state(&mut self, state: &State) {
        for hook in &state.enter.hooks {
            if let Some(declared) = self.hook(hook) {
                if !declared.outcomes.is_empty() {
                    self.push(HookMisuse {
                        message: format!("hook `{}` returns outcomes, which `enter` cannot use", hook.value),
                        loc: Loc::new(self.src.clone(), hook.span),
                        help: Some("call it from a move with `outcomes`, or declare a hook without outcomes".into()),
                    });
                }
            }
        }
        self.actions(&state.enter.actions);
        for m in &state.on {
            match vocab::event_type(&m.event.value) {
                None => self.unknown_event(&m.event),
                Some(event) if !event.is_routable() => {
                    let (why, help) = match event.scope {
                        EventScope::Create => (
                            "creates a sample; it is never routed by a state",
                            "a `sample_requested` for an existing sample is refused as `not_allowed`; route new samples in `initial`",
                        ),
                        EventScope::Creator => (
                            "updates a creator's ledger, not a sample",
                            "`creator_adjusted` needs no move; the runner applies it to the ledger",
                        ),
                        _ => ("only moves the clock", "deadlines fire on any event's time; `tick` needs no move"),
                    };
                    self.push(EventNotRoutable {
                        name: m.event.value.clone(),
                        loc: Loc::new(self.src.clone(), m.event.span),
                        why: why.into(),
                        help: Some(help.into()),
                    });
                }
                Some(_) => {}
            }
            self.a_move(Some(state), m);
        }
        for deadline in &state.deadlines {
            self.duration(&deadline.after);
            self.target(&deadline.to);
            self.reason(deadline.reason.as_ref(), None);
            self.actions(&deadline.actions);
            if state.terminal {
                self.push(TerminalWithDeadline {
                    state: state.name.value.clone(),
                    deadline: deadline.name.value.clone(),
                    loc: Loc::new(self.src.clone(), deadline.name.span),
                });
            }
        }
    }

    fn a_move(&mut self, state: Option<&State>, m: &Move) {
        let event = m.event.value.as_str();
        let here = m.event.span;
        let src = self.src.clone();
        let ambiguous = |span: Span, why: &str, help: &str| AmbiguousMove {
            event: event.to_string(),
            why: why.to_string(),
            loc: Loc::new(src.clone(), span),
            help: Some(help.to_string()),
        };
        if let (Some(_), Some(field)) = (&m.hook, &m.field) {
            self.push(ambiguous(
                field.span,
                "both `hook` and `field` would pick the target",
                "keep one of them",
            ));
        }
        if let (Some(to), false) = (&m.to, m.outcomes.is_empty()) {
            self.push(ambiguous(
                to.span,
                "`to` and `outcomes` both give targets",
                "keep `to` for a single target, or `outcomes` for a choice",
            ));
        }
        if m.hook.is_none() && m.field.is_none() && !m.outcomes.is_empty() {
            let targets: Vec<String> = m
                .outcomes
                .iter()
                .map(|o| format!("`{}`", o.to.value))
                .collect();
            self.push(ambiguous(
                here,
                &format!(
                    "it goes to {} with nothing to choose between them",
                    targets.join(" or ")
                ),
                "name the `hook` (a rule) or event `field` whose value picks the outcome",
            ));
        }
        if m.to.is_none() && m.outcomes.is_empty() {
            self.cut_edges = true;
            self.push(MissingTarget {
                event: event.to_string(),
                loc: Loc::new(self.src.clone(), here),
            });
        }
        let allowed = self.allowed_outcomes(m);
        if let (Some(chooser), Some(allowed)) = (m.hook.as_ref().or(m.field.as_ref()), &allowed) {
            if !allowed.is_empty() && m.outcomes.is_empty() && m.to.is_some() {
                self.push(HookMisuse {
                    message: format!(
                        "`{}` returns outcomes but the move on `{event}` maps none",
                        chooser.value
                    ),
                    loc: Loc::new(self.src.clone(), chooser.span),
                    help: Some(format!("map each of {} under `outcomes`", quoted(allowed))),
                });
            } else if allowed.is_empty() && !m.outcomes.is_empty() {
                self.push(HookMisuse {
                    message: format!("hook `{}` returns no outcome to choose by", chooser.value),
                    loc: Loc::new(self.src.clone(), chooser.span),
                    help: Some(
                        "declare its `outcomes` in `hooks`, or give the move a single `to`".into(),
                    ),
                });
            } else if !m.outcomes.is_empty() {
                // A misspelt outcome is one error, not an unknown one plus a missing one.
                let mut meant = Vec::new();
                for outcome in &m.outcomes {
                    if !allowed.contains(&outcome.name.value) {
                        let best =
                            did_you_mean(&outcome.name.value, allowed.iter().map(String::as_str));
                        meant.extend(best.map(str::to_string));
                        self.push(UnknownOutcome {
                            name: outcome.name.value.clone(),
                            chooser: chooser.value.clone(),
                            loc: Loc::new(self.src.clone(), outcome.name.span),
                            help: hint(best).or_else(|| {
                                Some(format!("`{}` returns {}", chooser.value, quoted(allowed)))
                            }),
                        });
                    }
                }
                for outcome in allowed {
                    if !m.outcomes.iter().any(|o| &o.name.value == outcome) {
                        self.cut_edges = true;
                        if meant.contains(outcome) {
                            continue;
                        }
                        self.push(MissingOutcome {
                            event: event.to_string(),
                            outcome: outcome.clone(),
                            chooser: chooser.value.clone(),
                            loc: Loc::new(self.src.clone(), chooser.span),
                        });
                    }
                }
            }
        }
        for (outcome, to) in m.targets() {
            self.target(to);
            if let (Some(state), true) = (state, self.w.state(&to.value).is_some()) {
                if state.terminal && to.value != state.name.value {
                    self.push(TerminalWithMove {
                        state: state.name.value.clone(),
                        event: event.to_string(),
                        target: to.value.clone(),
                        loc: Loc::new(self.src.clone(), to.span),
                    });
                }
            }
            if let Some(outcome) = outcome {
                self.reason(outcome.reason.as_ref(), Some(event));
                self.actions(&outcome.actions);
            }
        }
        self.reason(m.reason.as_ref(), Some(event));
        self.actions(&m.actions);
    }

    /// The outcomes that the move's chooser may return; `None` when there is no usable chooser,
    /// after reporting a hook or field that does not exist.
    fn allowed_outcomes(&mut self, m: &Move) -> Option<Vec<String>> {
        if let Some(hook) = &m.hook {
            return self
                .hook(hook)
                .map(|h| h.outcomes.iter().map(|o| o.value.clone()).collect());
        }
        let field = m.field.as_ref()?;
        let event = vocab::event_type(&m.event.value)?;
        match event.choice_field(&field.value) {
            Some(values) => Some(values.iter().map(|v| v.to_string()).collect()),
            None => {
                let fields: Vec<&str> = event.choice_fields.iter().map(|(f, _)| *f).collect();
                self.push(UnknownChoiceField {
                    event: event.name.to_string(),
                    field: field.value.clone(),
                    loc: Loc::new(self.src.clone(), field.span),
                    help: if fields.is_empty() {
                        Some(format!(
                            "`{}` has no field that can pick a move; use a `hook`",
                            event.name
                        ))
                    } else {
                        hint(did_you_mean(&field.value, fields.iter().copied())).or_else(|| {
                            Some(format!(
                                "choice fields of `{}`: {}",
                                event.name,
                                fields.join(", ")
                            ))
                        })
                    },
                });
                None
            }
        }
    }

    fn hook(&mut self, name: &Spanned<String>) -> Option<&definition::HookDecl> {
        let w = self.w;
        let found = w.hook(&name.value);
        if found.is_none() {
            self.unknown_hooks = true;
            self.push(UnknownHook {
                name: name.value.clone(),
                loc: Loc::new(self.src.clone(), name.span),
                help: hint(did_you_mean(
                    &name.value,
                    w.hooks.iter().map(|h| h.name.as_str()),
                ))
                .or_else(|| Some("declare it under `hooks:` with the outcomes it returns".into())),
            });
        }
        found
    }

    fn target(&mut self, to: &Spanned<String>) {
        if self.w.state(&to.value).is_some() {
            return;
        }
        self.cut_edges = true;
        let names = self.w.states.iter().map(|s| s.name.as_str());
        self.push(UnknownState {
            name: to.value.clone(),
            loc: Loc::new(self.src.clone(), to.span),
            help: hint(did_you_mean(&to.value, names)),
        });
    }

    fn unknown_event(&mut self, event: &Spanned<String>) {
        self.unknown_events = true;
        self.push(UnknownEvent {
            name: event.value.clone(),
            loc: Loc::new(self.src.clone(), event.span),
            help: hint(did_you_mean(
                &event.value,
                vocab::EVENT_TYPES.iter().map(|e| e.name),
            )),
        });
    }

    fn actions(&mut self, actions: &[Spanned<String>]) {
        for action in actions {
            if !vocab::is_action_type(&action.value) {
                self.push(UnknownAction {
                    name: action.value.clone(),
                    loc: Loc::new(self.src.clone(), action.span),
                    help: hint(did_you_mean(
                        &action.value,
                        vocab::ACTION_TYPES.iter().copied(),
                    )),
                });
            }
        }
    }

    /// `event` is the event whose move writes the reason; `None` for a deadline.
    fn reason(&mut self, reason: Option<&Spanned<Reason>>, event: Option<&str>) {
        let Some(reason) = reason else { return };
        match &reason.value {
            Reason::Code(code) => self.name("reason", &Spanned::new(code.clone(), reason.span)),
            Reason::EventReason => {
                let has_reason = event
                    .and_then(vocab::event_type)
                    .is_some_and(|e| e.choice_field("reason").is_some());
                if !has_reason {
                    self.push(NoEventReason {
                        what: match event {
                            Some(event) => format!("`{event}`"),
                            None => "a deadline".to_string(),
                        },
                        loc: Loc::new(self.src.clone(), reason.span),
                    });
                }
            }
        }
    }

    fn duration(&mut self, text: &Spanned<String>) {
        if let Err(e) = Duration::parse(&text.value) {
            self.push(BadDuration {
                text: text.value.clone(),
                why: e.0,
                loc: Loc::new(self.src.clone(), text.span),
            });
        }
    }

    fn scope_problem(
        &mut self,
        deadline: &SampleDeadline,
        span: Span,
        message: String,
        help: Option<String>,
    ) {
        self.push(DeadlineScope {
            deadline: deadline.name.value.clone(),
            message,
            loc: Loc::new(self.src.clone(), span),
            help,
        });
    }

    fn sample_deadline(&mut self, d: &SampleDeadline) {
        let w = self.w;
        match vocab::event_type(&d.from.value) {
            None => self.unknown_event(&d.from),
            // A misspelt event of a move may be the one meant here: that error says it already.
            Some(_) if self.unknown_events => {}
            Some(_) => {
                if !w.moves().any(|(_, m)| m.event.value == d.from.value) {
                    self.scope_problem(
                        d,
                        d.from.span,
                        format!("never armed: no move takes `{}`", d.from.value),
                        Some("`from` names the event whose time starts the deadline".into()),
                    );
                }
            }
        }
        self.duration(&d.after);
        if d.fires_in.is_empty() {
            self.scope_problem(
                d,
                d.name.span,
                "fires in no state".into(),
                Some("list the states where it fires under `fires_in`".into()),
            );
        }
        for state in d.fires_in.iter().chain(&d.held_in) {
            self.target(state);
            if w.state(&state.value).is_some_and(|s| s.terminal) {
                self.push(TerminalWithDeadline {
                    state: state.value.clone(),
                    deadline: d.name.value.clone(),
                    loc: Loc::new(self.src.clone(), state.span),
                });
            }
        }
        for held in &d.held_in {
            if d.fires_in.iter().any(|f| f.value == held.value) {
                self.scope_problem(
                    d,
                    held.span,
                    format!("`{}` is in both `fires_in` and `held_in`", held.value),
                    None,
                );
            }
        }
        self.target(&d.to);
        self.reason(d.reason.as_ref(), None);
        self.actions(&d.actions);
        if let Some(extend) = &d.extend {
            if vocab::event_type(&extend.on.value).is_none() {
                self.unknown_event(&extend.on);
            } else {
                let lives_in = d.fires_in.iter().chain(&d.held_in);
                let taken = lives_in
                    .filter_map(|s| w.state(&s.value))
                    .any(|s| s.on.iter().any(|m| m.event.value == extend.on.value));
                if !taken {
                    self.scope_problem(
                        d,
                        extend.on.span,
                        format!(
                            "`{}` is not taken in any state where the deadline lives",
                            extend.on.value
                        ),
                        Some(
                            "add a self-move on that event to a `fires_in` or `held_in` state"
                                .into(),
                        ),
                    );
                }
            }
            self.duration(&extend.by);
            if extend.times.value == 0 {
                self.scope_problem(
                    d,
                    extend.times.span,
                    "`times` is 0, so it can never be extended".into(),
                    Some("remove `extend`, or allow at least 1".into()),
                );
            }
        }
    }

    fn warnings(&mut self) {
        let w = self.w;
        for state in w.states.iter().filter(|s| !s.terminal) {
            let timed = !state.deadlines.is_empty()
                || w.deadlines.iter().any(|d| {
                    d.fires_in
                        .iter()
                        .chain(&d.held_in)
                        .any(|s| s.value == state.name.value)
                });
            if !timed {
                self.push(WaitingWithoutDeadline {
                    name: state.name.value.clone(),
                    loc: Loc::new(self.src.clone(), state.name.span),
                });
            }
        }
        // A misspelt call may be meant for the hook that looks unused.
        let hooks = if self.unknown_hooks {
            &[][..]
        } else {
            &w.hooks[..]
        };
        for hook in hooks {
            let called = w
                .moves()
                .any(|(_, m)| m.hook.as_ref().is_some_and(|h| h.value == hook.name.value))
                || w.states
                    .iter()
                    .any(|s| s.enter.hooks.iter().any(|h| h.value == hook.name.value));
            if !called {
                self.push(UnusedHook {
                    name: hook.name.value.clone(),
                    loc: Loc::new(self.src.clone(), hook.name.span),
                });
            }
        }
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
