//! Records out: one JSON object per move of a sample, or per refused event.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::json::{key, JsonWriter};
use super::SharedStr;

/// What happened to one sample: an event applied or a deadline fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub sample: SharedStr,
    #[serde(serialize_with = "super::utc")]
    pub at: DateTime<Utc>,
    pub from: Option<SharedStr>,
    pub to: SharedStr,
    /// An event type (a name of the vocabulary, not copied) or `deadline:<name>`.
    pub trigger: Cow<'static, str>,
    pub event: Option<SharedStr>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    pub actions: Vec<ActionOut>,
    pub rules: Arc<str>,
    pub workflow: Arc<str>,
    pub explain: Option<Explain>,
    /// Who made the event (null for a deadline or an event that names nobody), and their note.
    #[serde(default)]
    pub by: Option<SharedStr>,
    #[serde(default)]
    pub note: Option<SharedStr>,
    /// The shop the sample is one of (records kept before shops read as `default`'s).
    #[serde(default = "default_shop")]
    pub shop: SharedStr,
}

fn default_shop() -> SharedStr {
    super::DEFAULT_SHOP.into()
}

fn default_shop_text() -> String {
    super::DEFAULT_SHOP.to_string()
}

impl Record {
    /// The record as its derived `Serialize` writes it (a test holds the two equal), written
    /// field by field (see [`super::json`]).
    pub fn write_json(&self, out: &mut String) {
        let mut o = JsonWriter(out);
        key!(o, first "sample").str(&self.sample);
        key!(o, "at").time(&self.at);
        key!(o, "from").opt_str(self.from.as_deref());
        key!(o, "to").str(&self.to);
        key!(o, "trigger").str(&self.trigger);
        key!(o, "event").opt_str(self.event.as_deref());
        key!(o, "decision").opt_str(self.decision.as_deref());
        key!(o, "reason").opt_str(self.reason.as_deref());
        key!(o, "actions").list(&self.actions, |o, a| a.write_json(o));
        key!(o, "rules").str(&self.rules);
        key!(o, "workflow").str(&self.workflow);
        key!(o, "explain");
        match &self.explain {
            None => o.null(),
            Some(x) => {
                key!(o, first "hook").str(&x.hook);
                key!(o, "category").str(&x.category);
                key!(o, "file").str(&x.file);
                key!(o, "function").str(&x.function);
                o.raw("}");
            }
        }
        key!(o, "by").opt_str(self.by.as_deref());
        key!(o, "note").opt_str(self.note.as_deref());
        key!(o, "shop").str(&self.shop);
        o.raw("}");
    }
}

/// An action issued, with a stable id (the same on a replay) and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionOut {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub creator: Option<SharedStr>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amount: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub days: Option<i64>,
}

impl ActionOut {
    pub fn new(kind: &str, id: String) -> Self {
        ActionOut {
            kind: kind.to_string(),
            id,
            creator: None,
            amount: None,
            credit: None,
            days: None,
        }
    }

    fn write_json(&self, o: &mut JsonWriter) {
        key!(o, first "type").str(&self.kind);
        key!(o, "id").str(&self.id);
        if let Some(creator) = &self.creator {
            key!(o, "creator").str(creator);
        }
        if let Some(amount) = self.amount {
            key!(o, "amount").f64(amount);
        }
        if let Some(credit) = self.credit {
            key!(o, "credit").int(credit);
        }
        if let Some(days) = self.days {
            key!(o, "days").int(days);
        }
        o.raw("}");
    }
}

/// A refused event: nothing was changed by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub line: u64,
    pub event: Option<String>,
    pub error: String,
    pub message: String,
    /// The shop whose input refused it (the command's, for an event naming an unknown shop).
    #[serde(default = "default_shop_text")]
    pub shop: String,
}

/// One line of output. Records are nearly every line: boxing them would cost an allocation
/// each to save the space of the rare refusal.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    Record(Record),
    Error(ErrorRecord),
}

impl Output {
    /// The sample a record concerns (none for a refusal).
    pub fn sample(&self) -> Option<&SharedStr> {
        match self {
            Output::Record(r) => Some(&r.sample),
            Output::Error(_) => None,
        }
    }

    pub fn to_json(&self) -> String {
        match self {
            Output::Record(r) => {
                // Room for a usual record at once: growing a buffer was a measurable share of
                // the runner.
                let mut out = String::with_capacity(512);
                r.write_json(&mut out);
                out
            }
            Output::Error(e) => serde_json::to_string(e)
                .unwrap_or_else(|e| format!("{{\"error\":\"cannot write record: {e}\"}}")),
        }
    }
}

/// Where a decision came from: the contract's `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explain {
    pub hook: String,
    pub category: String,
    pub file: String,
    pub function: String,
}
