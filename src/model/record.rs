//! Records out: one JSON object per move of a sample, or per refused event.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rhai::ImmutableString;
use serde::{Deserialize, Serialize, Serializer};

/// What happened to one sample: an event applied or a deadline fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub sample: ImmutableString,
    #[serde(serialize_with = "utc")]
    pub at: DateTime<Utc>,
    pub from: Option<ImmutableString>,
    pub to: ImmutableString,
    pub trigger: String,
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
        // Room for a usual record at once: growing from serde_json's default was a measurable
        // share of the runner.
        let mut buf = Vec::with_capacity(512);
        let written = match self {
            Output::Record(r) => serde_json::to_writer(&mut buf, r),
            Output::Error(e) => serde_json::to_writer(&mut buf, e),
        };
        written
            .map_err(|e| e.to_string())
            .and_then(|()| String::from_utf8(buf).map_err(|e| e.to_string()))
            .unwrap_or_else(|e| format!("{{\"error\":\"cannot write record: {e}\"}}"))
    }
}

/// Times out are UTC with `Z`.
pub fn utc<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Where a decision came from: the contract's `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explain {
    pub hook: String,
    pub category: String,
    pub file: String,
    pub function: String,
}
