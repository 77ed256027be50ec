//! Records out: one JSON object per move of a sample, or per refused event.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;
use serde::{Deserialize, Serialize};

use super::Rfc3339;

/// What happened to one sample: an event applied or a deadline fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub sample: ImmutableString,
    #[serde(serialize_with = "super::utc")]
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

impl Record {
    /// The record as its derived `Serialize` writes it (a test holds the two equal), written
    /// field by field: nearly every line out is a record, and serde's general path through 14
    /// fields was the largest share of the runner after parsing. Strings with something to
    /// escape, and numbers, are still written by serde_json.
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"sample\":");
        json::str(out, &self.sample);
        out.push_str(",\"at\":\"");
        out.push_str(Rfc3339::new(&self.at).as_str());
        out.push_str("\",\"from\":");
        json::opt_str(out, self.from.as_deref());
        out.push_str(",\"to\":");
        json::str(out, &self.to);
        out.push_str(",\"trigger\":");
        json::str(out, &self.trigger);
        out.push_str(",\"event\":");
        json::opt_str(out, self.event.as_deref());
        out.push_str(",\"decision\":");
        json::opt_str(out, self.decision.as_deref());
        out.push_str(",\"reason\":");
        json::opt_str(out, self.reason.as_deref());
        out.push_str(",\"actions\":[");
        for (i, a) in self.actions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            a.write_json(out);
        }
        out.push_str("],\"rules\":");
        json::str(out, &self.rules);
        out.push_str(",\"workflow\":");
        json::str(out, &self.workflow);
        out.push_str(",\"explain\":");
        match &self.explain {
            None => out.push_str("null"),
            Some(x) => {
                out.push_str("{\"hook\":");
                json::str(out, &x.hook);
                out.push_str(",\"category\":");
                json::str(out, &x.category);
                out.push_str(",\"file\":");
                json::str(out, &x.file);
                out.push_str(",\"function\":");
                json::str(out, &x.function);
                out.push('}');
            }
        }
        out.push_str(",\"by\":");
        json::opt_str(out, self.by.as_deref());
        out.push_str(",\"note\":");
        json::opt_str(out, self.note.as_deref());
        out.push('}');
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
}

impl ActionOut {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"type\":");
        json::str(out, &self.kind);
        out.push_str(",\"id\":");
        json::str(out, &self.id);
        if let Some(creator) = &self.creator {
            out.push_str(",\"creator\":");
            json::str(out, creator);
        }
        if let Some(amount) = self.amount {
            out.push_str(",\"amount\":");
            json::value(out, &amount);
        }
        if let Some(credit) = self.credit {
            out.push_str(",\"credit\":");
            json::value(out, &credit);
        }
        if let Some(days) = self.days {
            out.push_str(",\"days\":");
            json::value(out, &days);
        }
        out.push('}');
    }
}

/// Pieces of JSON for [`Record::write_json`].
mod json {
    /// A string: as it is when nothing in it needs escaping, else as serde_json escapes it.
    pub(super) fn str(out: &mut String, s: &str) {
        if plain(s.as_bytes()) {
            out.reserve(s.len() + 2);
            out.push('"');
            out.push_str(s);
            out.push('"');
        } else {
            value(out, s);
        }
    }

    /// True when no byte needs escaping: none below 0x20, no `"` and no `\\`. Eight bytes at
    /// a time (a byte-wise loop was most of the cost of writing a record).
    pub(super) fn plain(bytes: &[u8]) -> bool {
        const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
        const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
        // Whether any byte of `x` is below `n` (n <= 0x80): exact, with no false positives.
        let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0;
        let quote = ONES * u64::from(b'"');
        let backslash = ONES * u64::from(b'\\');
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            let x = u64::from_ne_bytes(word);
            if below(x, 0x20) || below(x ^ quote, 1) || below(x ^ backslash, 1) {
                return false;
            }
        }
        chunks
            .remainder()
            .iter()
            .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
    }

    pub(super) fn opt_str(out: &mut String, s: Option<&str>) {
        match s {
            Some(s) => str(out, s),
            None => out.push_str("null"),
        }
    }

    /// Any value, as serde_json writes it.
    pub(super) fn value<T: serde::Serialize + ?Sized>(out: &mut String, v: &T) {
        match serde_json::to_string(v) {
            Ok(text) => out.push_str(&text),
            // A string, a number or null cannot fail to serialize.
            Err(_) => out.push_str("null"),
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
        // Room for a usual record at once: growing a buffer was a measurable share of the
        // runner.
        let mut out = String::with_capacity(512);
        match self {
            Output::Record(r) => r.write_json(&mut out),
            Output::Error(e) => match serde_json::to_string(e) {
                Ok(text) => out = text,
                Err(e) => out = format!("{{\"error\":\"cannot write record: {e}\"}}"),
            },
        }
        out
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
