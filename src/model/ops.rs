//! The operators' actions (`review`, `ship`, `adjust`), one type for the command line, the API
//! and the console: checked, then turned into the event line in this one place.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::vocab::EventKind;

/// The start of an ops event's id (`ops-review-20260301T080000.000Z-…`): the spool hands such
/// files to the command that is waiting for their reply.
pub const OPS_PREFIX: &str = "ops-";

/// An operator's action on a sample or a creator.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OpsAction {
    /// Approve or reject a pending sample.
    Review {
        /// The pending sample.
        sample: String,
        /// `approve` or `reject`.
        decision: String,
        /// Why, for the audit trail.
        note: Option<String>,
    },
    /// Enter the tracking number of an approved sample.
    Ship {
        /// The approved sample.
        sample: String,
        /// The parcel's tracking number.
        tracking_number: String,
        /// The carrier.
        carrier: Option<String>,
        /// What shipping cost, in USD.
        shipping_cost: Option<f64>,
        /// A note.
        note: Option<String>,
    },
    /// Change a creator's credit or block.
    Adjust {
        /// The creator.
        creator: String,
        /// The credit change.
        credit: Option<f64>,
        /// Days blocked from the event (0 unblocks).
        block_days: Option<i64>,
        /// A note.
        note: Option<String>,
    },
}

/// The event an action made: its fresh id and the event itself.
#[derive(Debug, Clone)]
pub struct OpsEvent {
    /// The event's id.
    pub id: String,
    /// The event, as it is posted.
    pub event: Value,
}

impl OpsAction {
    /// What is wrong with the action before any event is made.
    pub fn problem(&self) -> Option<String> {
        match self {
            OpsAction::Review { decision, .. }
                if !matches!(decision.as_str(), "approve" | "reject") =>
            {
                Some(format!(
                    "the decision is `{decision}`; it is `approve` or `reject`"
                ))
            }
            OpsAction::Adjust {
                credit: None,
                block_days: None,
                ..
            } => Some("give a credit change (`credit`), `block_days` or both".into()),
            _ => None,
        }
    }

    /// The command it stands for: `review`, `ship` or `adjust`.
    pub fn command(&self) -> &'static str {
        match self {
            OpsAction::Review { .. } => "review",
            OpsAction::Ship { .. } => "ship",
            OpsAction::Adjust { .. } => "adjust",
        }
    }

    /// The type of the event it makes.
    pub fn kind(&self) -> EventKind {
        match self {
            OpsAction::Review { .. } => EventKind::SampleReviewed,
            OpsAction::Ship { .. } => EventKind::SampleShipped,
            OpsAction::Adjust { .. } => EventKind::CreatorAdjusted,
        }
    }

    /// The event's own fields (nulls included; [`OpsAction::event`] leaves them out).
    fn fields(self) -> Value {
        match self {
            OpsAction::Review {
                sample,
                decision,
                note,
            } => json!({"sample": sample, "decision": decision, "note": note}),
            OpsAction::Ship {
                sample,
                tracking_number,
                carrier,
                shipping_cost,
                note,
            } => json!({"sample": sample, "tracking_number": tracking_number, "carrier": carrier,
                       "shipping_cost": shipping_cost, "note": note}),
            OpsAction::Adjust {
                creator,
                credit,
                block_days,
                note,
            } => json!({"creator": {"id": creator}, "credit": credit, "block_days": block_days,
                       "note": note}),
        }
    }

    /// The action's event: a fresh unique id, `at`, `by` and the action's fields (nulls left
    /// out).
    pub fn event(self, by: &str, at: DateTime<Utc>) -> OpsEvent {
        let command = self.command();
        let kind = self.kind();
        let id = format!(
            "{OPS_PREFIX}{command}-{}-{:016x}",
            at.format("%Y%m%dT%H%M%S%.3fZ"),
            fastrand::u64(..)
        );
        let mut event = json!({
            "id": id, "type": kind.name(), "at": at.to_rfc3339_opts(SecondsFormat::AutoSi, true), "by": by,
        });
        if let (Some(event), Value::Object(fields)) = (event.as_object_mut(), self.fields()) {
            event.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
        }
        OpsEvent { id, event }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_makes_its_event_with_the_nulls_left_out() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        let made = OpsAction::Ship {
            sample: "s1".into(),
            tracking_number: "1Z".into(),
            carrier: None,
            shipping_cost: Some(4.5),
            note: None,
        }
        .event("ann", at);
        assert!(made.id.starts_with("ops-ship-20260301T080000.000Z-"));
        let mut event = made.event;
        assert_eq!(event["id"].take(), Value::String(made.id));
        assert_eq!(
            event.to_string(),
            r#"{"id":null,"type":"sample_shipped","at":"2026-03-01T08:00:00Z","by":"ann","sample":"s1","tracking_number":"1Z","shipping_cost":4.5}"#
        );
        let adjust = OpsAction::Adjust {
            creator: "c1".into(),
            credit: None,
            block_days: None,
            note: None,
        };
        assert!(adjust.problem().is_some());
    }
}
