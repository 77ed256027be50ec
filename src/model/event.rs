//! The typed event: its envelope, what each event type carries, and why an event may be
//! refused (the contract's error kinds, in the contract's order).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::vocab::EventKind;
use super::{Creator, Post, Product, SharedStr};

/// Why an event was refused, in the contract's order: the first that applies is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    Malformed,
    UnknownType,
    InvalidField,
    DuplicateId,
    UnknownSample,
    TimeBack,
    NotAllowed,
    SecondExtension,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Malformed,
        ErrorKind::UnknownType,
        ErrorKind::InvalidField,
        ErrorKind::DuplicateId,
        ErrorKind::UnknownSample,
        ErrorKind::TimeBack,
        ErrorKind::NotAllowed,
        ErrorKind::SecondExtension,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::UnknownType => "unknown_type",
            ErrorKind::InvalidField => "invalid_field",
            ErrorKind::DuplicateId => "duplicate_id",
            ErrorKind::UnknownSample => "unknown_sample",
            ErrorKind::TimeBack => "time_back",
            ErrorKind::NotAllowed => "not_allowed",
            ErrorKind::SecondExtension => "second_extension",
        }
    }
}

/// A refusal: its kind and a one-line message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub kind: ErrorKind,
    pub message: String,
}

impl Refusal {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Refusal {
            kind,
            message: message.into(),
        }
    }
}

/// One event that passed the checks of its own text.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: SharedStr,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    /// The sample it names (absent for product, creator and clock events).
    pub sample: Option<SharedStr>,
    /// Who made it (a reviewer, an operator), and their note: copied to its records.
    pub by: Option<SharedStr>,
    pub note: Option<SharedStr>,
    /// The shop it names (`None`: the command's).
    pub shop: Option<SharedStr>,
    pub body: Body,
}

/// What each event type carries beyond the envelope.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Body {
    Requested {
        creator: Arc<Creator>,
        product: Arc<Product>,
        quantity: i64,
        workflow: Option<String>,
    },
    Reviewed {
        decision: SharedStr,
        reason: Option<String>,
    },
    Shipped {
        tracking_number: String,
        carrier: Option<String>,
        shipping_cost: f64,
    },
    DeliveryFailed {
        reason: SharedStr,
    },
    Posted(Arc<Post>),
    Removed {
        content_id: SharedStr,
    },
    Metrics(Metrics),
    ProductUnavailable {
        product: SharedStr,
        reason: SharedStr,
    },
    CreatorAdjusted {
        creator: SharedStr,
        credit: Option<f64>,
        block_days: Option<i64>,
    },
    /// Events with no fields of their own that matter to the runner (withdrawn, tracking,
    /// delivered, extension, appeal, tick).
    Plain,
}

impl Event {
    /// The value of a field that can pick a move (`field:` in a workflow) or give a reason.
    pub fn field(&self, name: &str) -> Option<&str> {
        match (&self.body, name) {
            (Body::Reviewed { decision, .. }, "decision") => Some(decision),
            (Body::Reviewed { reason, .. }, "reason") => reason.as_deref(),
            (Body::DeliveryFailed { reason }, "reason") => Some(reason),
            (Body::ProductUnavailable { reason, .. }, "reason") => Some(reason),
            _ => None,
        }
    }
}

/// Totals to date for one content.
#[derive(Debug, Clone, Deserialize)]
pub struct Metrics {
    pub content_id: SharedStr,
    #[serde(default)]
    pub views: Option<i64>,
    #[serde(default)]
    pub likes: Option<i64>,
    #[serde(default)]
    pub comments: Option<i64>,
    #[serde(default)]
    pub orders: Option<i64>,
    #[serde(default)]
    pub gmv: Option<f64>,
}
