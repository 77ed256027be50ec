//! Who may post what (contract "Who may post what"): an `ingest` poster (an ingest token, a
//! signed body, a spool run with `--spool-role ingest`) posts what the platform, a warehouse or
//! an ERP reports; decisions (`sample_reviewed`) and ledger changes (`creator_adjusted`) need an
//! `operator`. A body holding any line its poster may not post is refused whole, before anything
//! of it is applied.
//!
//! A line's type is read here as the runner reads it (the last top-level `type` key, escapes
//! decoded), without building the event: the line is scanned once, every value but `type`
//! skipped.

use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::model::vocab::EventKind;
use crate::runtime::input::LineReader;

/// Who posts a body of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poster {
    /// Events the platform, a warehouse or an ERP reports.
    Ingest,
    /// All of them, decisions and ledger changes included.
    Operator,
}

/// The event types only an operator may post.
const OPERATOR_ONLY: [EventKind; 2] = [EventKind::SampleReviewed, EventKind::CreatorAdjusted];

impl Poster {
    pub fn as_str(self) -> &'static str {
        match self {
            Poster::Ingest => "ingest",
            Poster::Operator => "operator",
        }
    }

    /// `--spool-role`'s values.
    pub fn parse(text: &str) -> Result<Poster, String> {
        match text {
            "ingest" => Ok(Poster::Ingest),
            "operator" => Ok(Poster::Operator),
            other => Err(format!(
                "`{other}` is not a role that posts events; it is `ingest` or `operator`"
            )),
        }
    }

    /// True when this poster may post an event of type `kind`. A type that is no event type
    /// at all is not a question of role: the runner refuses it as `unknown_type`.
    pub fn may_post(self, kind: &str) -> bool {
        self == Poster::Operator || !OPERATOR_ONLY.iter().any(|k| k.name() == kind)
    }
}

/// What a line is, read without building its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'a> {
    /// The type as the runner reads it, when it is a string.
    pub kind: Option<Cow<'a, str>>,
    /// The object has at least one key (a field spliced in needs a comma before it).
    pub fields: bool,
    /// The shop it names (the last top-level `shop`, as the runner reads it), when a string.
    pub shop: Option<Cow<'a, str>>,
}

/// Reads a line's head: `None` when the line is not UTF-8 or not a JSON object (the runner
/// refuses it as `malformed`, whoever posted it).
pub fn head(line: &[u8]) -> Option<Head<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    serde_json::from_str::<HeadOf>(text).ok().map(|h| h.0)
}

/// The first line of `lines` (numbered from 1 by the caller) that `poster` may not post: its
/// number and type.
pub fn first_forbidden<'a>(
    poster: Poster,
    lines: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> Option<(u64, String)> {
    if poster == Poster::Operator {
        return None;
    }
    lines.into_iter().find_map(|(n, line)| {
        let kind = head(line)?.kind?;
        (!poster.may_post(&kind)).then(|| (n, kind.into_owned()))
    })
}

/// The first line of a spool file that `poster` may not post, read as the runner will read it
/// (a file that cannot be read is left to the runner's own reading, which says why).
pub fn scan_file(poster: Poster, path: &std::path::Path) -> Option<(u64, String)> {
    if poster == Poster::Operator {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let mut reader = LineReader::new(std::io::BufReader::with_capacity(1 << 16, file));
    let mut n = 0u64;
    while let Ok(Some(line)) = reader.next_line() {
        n += 1;
        if line.too_long {
            continue;
        }
        let text = line.bytes.strip_suffix(b"\n").unwrap_or(line.bytes);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if let Some(found) = first_forbidden(poster, [(n, text)]) {
            return Some(found);
        }
    }
    None
}

/// The message of a refused body: the line and its type.
pub fn forbidden_message(poster: Poster, line: u64, kind: &str) -> String {
    format!(
        "line {line} is a `{kind}` event, which an `{}` may not post (only an operator posts `sample_reviewed` and `creator_adjusted`); nothing was applied",
        poster.as_str()
    )
}

struct HeadOf<'a>(Head<'a>);

impl<'de> Deserialize<'de> for HeadOf<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = HeadOf<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeadOf<'de>, A::Error> {
                let mut head = Head {
                    kind: None,
                    fields: false,
                    shop: None,
                };
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    head.fields = true;
                    if key == "type" {
                        // The last `type` wins, as in the runner; one that is not a string
                        // makes the line malformed there.
                        head.kind = map.next_value::<MaybeText<'de>>()?.0;
                    } else if key == "shop" {
                        head.shop = map.next_value::<MaybeText<'de>>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(HeadOf(head))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// A key: borrowed from the line, or unescaped into its own string when it holds an escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        MaybeText::deserialize(d).and_then(|t| {
            t.0.map(Key)
                .ok_or_else(|| serde::de::Error::custom("a key is a string"))
        })
    }
}

/// A value that is a string (borrowed where it holds no escape), or anything else (`None`).
struct MaybeText<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for MaybeText<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = MaybeText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(MaybeText(Some(Cow::Borrowed(s))))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(MaybeText(Some(Cow::Owned(s.to_string()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MaybeText(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeText(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeText(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeText(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(MaybeText(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeText(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeText(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &str) -> Option<String> {
        head(line.as_bytes()).and_then(|h| h.kind.map(Cow::into_owned))
    }

    #[test]
    fn the_type_is_read_as_the_runner_reads_it() {
        assert_eq!(kind(r#"{"id":"e","type":"tick"}"#).as_deref(), Some("tick"));
        // The last `type` wins, escapes in keys and values decoded.
        assert_eq!(
            kind(r#"{"type":"tick","typ\u0065":"sample_review\u0065d"}"#).as_deref(),
            Some("sample_reviewed")
        );
        assert_eq!(kind(r#"{"type":7}"#), None);
        assert_eq!(kind(r#"{"id":"x"}"#), None);
        assert!(head(b"not json").is_none());
        assert!(head(b"[1,2]").is_none());
        assert!(head(b"{\"type\":\"tick\"} trailing").is_none());
        assert!(head(b"{\"type\":\"tick\",\"n\":\"\xff\"}").is_none());
        assert_eq!(
            head(b"{}"),
            Some(Head {
                kind: None,
                fields: false,
                shop: None
            })
        );
    }

    #[test]
    fn ingest_may_not_post_decisions_or_ledger_changes() {
        for k in [
            "sample_requested",
            "sample_shipped",
            "tick",
            "content_metrics",
            "nonsense",
        ] {
            assert!(Poster::Ingest.may_post(k), "{k}");
        }
        for k in ["sample_reviewed", "creator_adjusted"] {
            assert!(!Poster::Ingest.may_post(k), "{k}");
            assert!(Poster::Operator.may_post(k), "{k}");
        }
        let lines: Vec<(u64, &[u8])> = vec![
            (1, br#"{"type":"tick"}"#),
            (2, b"not json"),
            (4, br#"{"type":"creator_adjusted"}"#),
            (5, br#"{"type":"sample_reviewed"}"#),
        ];
        assert_eq!(
            first_forbidden(Poster::Ingest, lines.clone()),
            Some((4, "creator_adjusted".to_string()))
        );
        assert_eq!(first_forbidden(Poster::Operator, lines), None);
    }
}
