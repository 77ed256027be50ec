//! Records out: one JSON object per move of a sample, or per refused event.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;
use serde::{Deserialize, Serialize};

use super::json::Out;

/// What happened to one sample: an event applied or a deadline fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub sample: ImmutableString,
    #[serde(serialize_with = "super::utc")]
    pub at: DateTime<Utc>,
    pub from: Option<ImmutableString>,
    pub to: ImmutableString,
    /// An event type (a name of the vocabulary, not copied) or `deadline:<name>`.
    pub trigger: Cow<'static, str>,
    pub event: Option<ImmutableString>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    pub actions: Vec<ActionOut>,
    pub rules: Arc<str>,
    pub workflow: Arc<str>,
    pub explain: Option<Explain>,
    /// Who made the event (null for a deadline or an event that names nobody), and their note.
    #[serde(default)]
    pub by: Option<ImmutableString>,
    #[serde(default)]
    pub note: Option<ImmutableString>,
}

impl Record {
    /// The record as its derived `Serialize` writes it (a test holds the two equal), written
    /// field by field (see [`super::json`]).
    pub fn write_json(&self, out: &mut String) {
        let mut o = Out(out);
        o.raw("{\"sample\":");
        o.str(&self.sample);
        o.raw(",\"at\":");
        o.time(&self.at);
        o.raw(",\"from\":");
        o.opt_str(self.from.as_deref());
        o.raw(",\"to\":");
        o.str(&self.to);
        o.raw(",\"trigger\":");
        o.str(&self.trigger);
        o.raw(",\"event\":");
        o.opt_str(self.event.as_deref());
        o.raw(",\"decision\":");
        o.opt_str(self.decision.as_deref());
        o.raw(",\"reason\":");
        o.opt_str(self.reason.as_deref());
        o.raw(",\"actions\":[");
        for (i, a) in self.actions.iter().enumerate() {
            if i > 0 {
                o.raw(",");
            }
            a.write_json(&mut o);
        }
        o.raw("],\"rules\":");
        o.str(&self.rules);
        o.raw(",\"workflow\":");
        o.str(&self.workflow);
        o.raw(",\"explain\":");
        match &self.explain {
            None => o.null(),
            Some(x) => {
                o.raw("{\"hook\":");
                o.str(&x.hook);
                o.raw(",\"category\":");
                o.str(&x.category);
                o.raw(",\"file\":");
                o.str(&x.file);
                o.raw(",\"function\":");
                o.str(&x.function);
                o.raw("}");
            }
        }
        o.raw(",\"by\":");
        o.opt_str(self.by.as_deref());
        o.raw(",\"note\":");
        o.opt_str(self.note.as_deref());
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
    pub creator: Option<ImmutableString>,
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

    fn write_json(&self, o: &mut Out) {
        o.raw("{\"type\":");
        o.str(&self.kind);
        o.raw(",\"id\":");
        o.str(&self.id);
        if let Some(creator) = &self.creator {
            o.raw(",\"creator\":");
            o.str(creator);
        }
        if let Some(amount) = self.amount {
            o.raw(",\"amount\":");
            o.f64(amount);
        }
        if let Some(credit) = self.credit {
            o.raw(",\"credit\":");
            o.int(credit);
        }
        if let Some(days) = self.days {
            o.raw(",\"days\":");
            o.int(days);
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
}

/// One line of output. Records are nearly every line: boxing them would cost an allocation
/// each to save the space of the rare refusal.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Record(Record),
    Error(ErrorRecord),
}

impl Output {
    /// The sample a record concerns (none for a refusal).
    pub fn sample(&self) -> Option<&ImmutableString> {
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
