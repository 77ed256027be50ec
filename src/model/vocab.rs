//! The contract's fixed vocabulary: event types and action types, letter for letter, and the
//! roles a workflow may give its states.
//!
//! Workflows may only name these: the runner parses exactly these events and issues exactly these
//! actions, so a name outside the lists is a typo to report, not a new feature to accept.

/// What an event concerns, which decides whether a workflow may route it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventScope {
    /// Creates a sample; routed by the workflow's `initial` block.
    Create,
    /// Names one sample; routed by the `on` block of that sample's state.
    Sample,
    /// Names a product; reaches every sample of it whose state takes the event.
    Product,
    /// Names a creator; updates the ledger only.
    Creator,
    /// Moves the clock only.
    Clock,
}

/// Every event type of the contract, as one enum: a new event type is a new variant, and every
/// `match` on it that the compiler finds is the checklist of what to do for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    SampleRequested,
    SampleReviewed,
    SampleWithdrawn,
    SampleShipped,
    TrackingUpdated,
    SampleDelivered,
    DeliveryFailed,
    ExtensionRequested,
    AppealFiled,
    ContentPosted,
    ContentRemoved,
    ContentMetrics,
    ProductUnavailable,
    CreatorAdjusted,
    Tick,
}

impl EventKind {
    /// The contract's name, letter for letter.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::SampleRequested => "sample_requested",
            EventKind::SampleReviewed => "sample_reviewed",
            EventKind::SampleWithdrawn => "sample_withdrawn",
            EventKind::SampleShipped => "sample_shipped",
            EventKind::TrackingUpdated => "tracking_updated",
            EventKind::SampleDelivered => "sample_delivered",
            EventKind::DeliveryFailed => "delivery_failed",
            EventKind::ExtensionRequested => "extension_requested",
            EventKind::AppealFiled => "appeal_filed",
            EventKind::ContentPosted => "content_posted",
            EventKind::ContentRemoved => "content_removed",
            EventKind::ContentMetrics => "content_metrics",
            EventKind::ProductUnavailable => "product_unavailable",
            EventKind::CreatorAdjusted => "creator_adjusted",
            EventKind::Tick => "tick",
        }
    }

    /// What the contract says of this event type.
    pub fn event_type(self) -> &'static EventType {
        &EVENT_TYPES[self as usize]
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One event type of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    pub kind: EventKind,
    pub name: &'static str,
    pub scope: EventScope,
    /// Fields whose value may pick a move (`field:` in a workflow), with their allowed values.
    pub choice_fields: &'static [(&'static str, &'static [&'static str])],
}

impl EventType {
    /// The allowed values of a field that can pick a move, if the event has that field.
    pub fn choice_field(&self, field: &str) -> Option<&'static [&'static str]> {
        self.choice_fields
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, values)| *values)
    }

    /// True where a workflow may name this event in a state's `on` block.
    pub fn is_routable(&self) -> bool {
        matches!(self.scope, EventScope::Sample | EventScope::Product)
    }
}

const REVIEW_DECISIONS: &[&str] = &["approve", "reject"];
const DELIVERY_FAILURES: &[&str] = &["invalid_address", "customs_hold", "lost", "returned"];
const UNAVAILABLE_REASONS: &[&str] = &["out_of_stock", "deactivated"];

/// Every event type of the contract, in the contract's order.
pub const EVENT_TYPES: &[EventType] = &[
    event(EventKind::SampleRequested, EventScope::Create, &[]),
    event(
        EventKind::SampleReviewed,
        EventScope::Sample,
        &[("decision", REVIEW_DECISIONS)],
    ),
    event(EventKind::SampleWithdrawn, EventScope::Sample, &[]),
    event(EventKind::SampleShipped, EventScope::Sample, &[]),
    event(EventKind::TrackingUpdated, EventScope::Sample, &[]),
    event(EventKind::SampleDelivered, EventScope::Sample, &[]),
    event(
        EventKind::DeliveryFailed,
        EventScope::Sample,
        &[("reason", DELIVERY_FAILURES)],
    ),
    event(EventKind::ExtensionRequested, EventScope::Sample, &[]),
    event(EventKind::AppealFiled, EventScope::Sample, &[]),
    event(EventKind::ContentPosted, EventScope::Sample, &[]),
    event(EventKind::ContentRemoved, EventScope::Sample, &[]),
    event(EventKind::ContentMetrics, EventScope::Sample, &[]),
    event(
        EventKind::ProductUnavailable,
        EventScope::Product,
        &[("reason", UNAVAILABLE_REASONS)],
    ),
    event(EventKind::CreatorAdjusted, EventScope::Creator, &[]),
    event(EventKind::Tick, EventScope::Clock, &[]),
];

const fn event(
    kind: EventKind,
    scope: EventScope,
    choice_fields: &'static [(&'static str, &'static [&'static str])],
) -> EventType {
    EventType {
        kind,
        name: kind.name(),
        scope,
        choice_fields,
    }
}

/// The event type of that name, if the contract has it.
pub fn event_type(name: &str) -> Option<&'static EventType> {
    EVENT_TYPES.iter().find(|event| event.name == name)
}

/// Every action type of the contract.
pub const ACTION_TYPES: &[&str] = &[
    "require_deposit",
    "refund_deposit",
    "forfeit_deposit",
    "penalize",
    "block_creator",
    "remind_creator",
    "flag_disclosure",
    "invite_paid_collab",
];

/// An action a workflow names (`actions:` of a move, a deadline or a state's entry): one variant
/// per action type of the contract, so the runner's match on it is exhaustive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionKind {
    RequireDeposit,
    RefundDeposit,
    ForfeitDeposit,
    Penalize,
    BlockCreator,
    RemindCreator,
    FlagDisclosure,
    InvitePaidCollab,
}

impl ActionKind {
    pub const ALL: [ActionKind; 8] = [
        ActionKind::RequireDeposit,
        ActionKind::RefundDeposit,
        ActionKind::ForfeitDeposit,
        ActionKind::Penalize,
        ActionKind::BlockCreator,
        ActionKind::RemindCreator,
        ActionKind::FlagDisclosure,
        ActionKind::InvitePaidCollab,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::RequireDeposit => "require_deposit",
            ActionKind::RefundDeposit => "refund_deposit",
            ActionKind::ForfeitDeposit => "forfeit_deposit",
            ActionKind::Penalize => "penalize",
            ActionKind::BlockCreator => "block_creator",
            ActionKind::RemindCreator => "remind_creator",
            ActionKind::FlagDisclosure => "flag_disclosure",
            ActionKind::InvitePaidCollab => "invite_paid_collab",
        }
    }

    /// The action type of that name, if the contract has it.
    pub fn named(name: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// True if the contract has an action of that name.
pub fn is_action_type(name: &str) -> bool {
    ActionKind::named(name).is_some()
}

/// What a state means to the ledger and to the figures: declared per state with `role:` in the
/// workflow, so that no state name is written in Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StateRole {
    /// Entered once a sample is approved (by screening or a reviewer): the funnel's `approved`.
    Approved,
    /// The sample is on its way: the funnel's `shipped`.
    Shipped,
    /// An end: the obligation is met (`completed` in the ledger and the figures).
    Fulfilled,
    /// An end: the creator breached (a breach on the ledger, with its date). Also a cancellation.
    Breach,
    /// An end: cancelled (the product's cooldown counts from it).
    Cancelled,
}

/// Every role, by the name a workflow gives it.
pub const ROLES: &[(&str, StateRole)] = &[
    ("approved", StateRole::Approved),
    ("shipped", StateRole::Shipped),
    ("fulfilled", StateRole::Fulfilled),
    ("breach", StateRole::Breach),
    ("cancelled", StateRole::Cancelled),
];

impl StateRole {
    pub fn named(name: &str) -> Option<StateRole> {
        ROLES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
    }

    pub fn name(self) -> &'static str {
        ROLES
            .iter()
            .find(|(_, r)| *r == self)
            .map_or("?", |(n, _)| n)
    }

    /// Roles of ends: a state with one must be terminal.
    pub fn is_end(self) -> bool {
        matches!(
            self,
            StateRole::Fulfilled | StateRole::Breach | StateRole::Cancelled
        )
    }

    /// True where at most one state of a workflow may have the role.
    pub fn is_unique(self) -> bool {
        !matches!(self, StateRole::Cancelled)
    }

    /// An end in a cancelled state (the product's cooldown): a breach is one too.
    pub fn is_cancellation(self) -> bool {
        matches!(self, StateRole::Breach | StateRole::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_type_has_its_kind_and_back() {
        let names: Vec<&str> = ActionKind::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names, ACTION_TYPES);
        for a in ActionKind::ALL {
            assert_eq!(ActionKind::named(a.as_str()), Some(a));
        }
        assert_eq!(ActionKind::named("refund"), None);
    }

    #[test]
    fn every_event_kind_is_at_its_place_in_the_table() {
        for (i, t) in EVENT_TYPES.iter().enumerate() {
            assert_eq!(t.kind as usize, i, "{}", t.name);
            assert_eq!(t.kind.event_type().name, t.name);
        }
        assert_eq!(EVENT_TYPES.len(), EventKind::Tick as usize + 1);
    }

    #[test]
    fn names_are_unique_and_snake_case() {
        let mut names: Vec<_> = EVENT_TYPES.iter().map(|e| e.name).collect();
        names.extend(ACTION_TYPES);
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }

    #[test]
    fn only_sample_and_product_events_are_routable() {
        assert!(event_type("sample_shipped").unwrap().is_routable());
        assert!(event_type("product_unavailable").unwrap().is_routable());
        assert!(!event_type("tick").unwrap().is_routable());
        assert!(!event_type("sample_requested").unwrap().is_routable());
        assert_eq!(
            event_type("delivery_failed")
                .unwrap()
                .choice_field("reason"),
            Some(DELIVERY_FAILURES)
        );
    }
}
