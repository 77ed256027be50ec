//! The wire parser: one JSON object per line, checked into a typed [`Event`] (the model's) or
//! refused with the contract's error kind. The line's raw fields and their typed reads, the
//! ranges of its numbers and the checks of each event type's own fields are one pass here, in
//! one module (one compiled unit: the hot path of every line).

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rhai::ImmutableString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::vocab::{self, EventKind, EventScope};
use crate::model::{Body, Creator, ErrorKind, Event, Metrics, Post, Product, Refusal};

/// A line that could not become an [`Event`]: it changes nothing, not even the clock.
#[derive(Debug, Clone)]
pub struct Bad {
    pub id: Option<String>,
    pub refusal: Refusal,
}

/// Parses one line. Blank lines are the caller's to skip.
///
/// The line is read once into its top-level fields, each kept as the raw JSON text it was
/// (borrowed from the line, no tree of values); a field is then deserialized straight into its
/// typed place when the event type asks for it.
pub fn parse(line: &str) -> Result<Event, Bad> {
    let malformed = |id: Option<String>, message: String| Bad {
        id,
        refusal: Refusal::new(ErrorKind::Malformed, message),
    };
    let fields: Fields = match serde_json::from_str::<Top>(line) {
        Ok(Top::Object(fields)) => fields,
        Ok(Top::Other) => return Err(malformed(None, "not a JSON object".into())),
        Err(e) => return Err(malformed(None, format!("not JSON: {e}"))),
    };
    let id = match fields.raw("id").map(text) {
        Some(Text::Str(id)) if !id.is_empty() => id,
        Some(Text::Str(_)) => return Err(malformed(None, "`id` is empty".into())),
        Some(_) => return Err(malformed(None, "`id` is not a string".into())),
        None => return Err(malformed(None, "no `id`".into())),
    };
    let malformed_id = |message: String| malformed(Some(id.to_string()), message);
    let kind = match fields.raw("type").map(text) {
        Some(Text::Str(kind)) => kind,
        Some(_) => return Err(malformed_id("`type` is not a string".into())),
        None => return Err(malformed_id("no `type`".into())),
    };
    let at = match fields.raw("at").map(text) {
        Some(Text::Str(at)) => DateTime::parse_from_rfc3339(&at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| malformed_id(format!("bad time `{at}`: {e}")))?,
        Some(_) => return Err(malformed_id("`at` is not a string".into())),
        None => return Err(malformed_id("no `at`".into())),
    };
    let bad = |kind: ErrorKind, message: String| Bad {
        id: Some(id.to_string()),
        refusal: Refusal::new(kind, message),
    };
    let Some(event_type) = vocab::event_type(&kind) else {
        let hint =
            crate::diagnostic::did_you_mean(&kind, vocab::EVENT_TYPES.iter().map(|e| e.name))
                .map(|m| format!("; did you mean `{m}`?"))
                .unwrap_or_default();
        return Err(bad(
            ErrorKind::UnknownType,
            format!("unknown event type `{kind}`{hint}"),
        ));
    };
    let sample = match event_type.scope {
        EventScope::Create | EventScope::Sample => Some(
            fields
                .filled_string("sample")
                .map(|s| ImmutableString::from(s.as_ref()))
                .map_err(|m| bad(ErrorKind::InvalidField, m))?,
        ),
        _ => None,
    };
    let body = body(event_type.kind, &fields).map_err(|m| bad(ErrorKind::InvalidField, m))?;
    let by = fields
        .string("by")
        .map_err(|m| bad(ErrorKind::InvalidField, m))?;
    let note = fields
        .string("note")
        .map_err(|m| bad(ErrorKind::InvalidField, m))?;
    let shop = fields
        .string("shop")
        .map_err(|m| bad(ErrorKind::InvalidField, m))?;
    Ok(Event {
        shop: shop.map(|s| s.as_ref().into()),
        id: id.as_ref().into(),
        kind: event_type.kind,
        at,
        sample,
        by: by.map(|s| s.as_ref().into()),
        note: note.map(|s| s.as_ref().into()),
        body,
    })
}

fn body(kind: EventKind, f: &Fields) -> Result<Body, String> {
    Ok(match kind {
        EventKind::SampleRequested => {
            let creator: Creator = f.object("creator", CREATOR_FIELDS)?;
            check_creator(&creator)?;
            let product: Product = f.object("product", PRODUCT_FIELDS)?;
            filled("product.id", &product.id)?;
            filled("product.category", &product.category)?;
            money("product.price", product.price)?;
            money("product.unit_cost", product.unit_cost)?;
            let quantity = f.optional::<i64>("quantity")?.unwrap_or(1);
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                return Err(format!(
                    "`quantity` is {quantity}; it must be from 1 to {MAX_QUANTITY}"
                ));
            }
            Body::Requested {
                creator: Arc::new(creator),
                product: Arc::new(product),
                quantity,
                workflow: f.optional("workflow")?,
            }
        }
        EventKind::SampleReviewed => Body::Reviewed {
            decision: one_of(f, "decision", &["approve", "reject"])?,
            reason: f.optional("reason")?,
        },
        EventKind::SampleShipped => {
            let shipping_cost = f.optional::<f64>("shipping_cost")?.unwrap_or(0.0);
            money("shipping_cost", shipping_cost)?;
            Body::Shipped {
                tracking_number: f.filled_string("tracking_number")?.into_owned(),
                carrier: f.optional("carrier")?,
                shipping_cost,
            }
        }
        EventKind::TrackingUpdated => {
            f.string("status")?;
            f.string("location")?;
            Body::Plain
        }
        EventKind::DeliveryFailed => Body::DeliveryFailed {
            reason: one_of(
                f,
                "reason",
                &["invalid_address", "customs_hold", "lost", "returned"],
            )?,
        },
        EventKind::AppealFiled => {
            f.string("reason")?;
            Body::Plain
        }
        EventKind::ContentPosted => {
            let post: Post = f.whole(POST_FIELDS)?;
            filled("content_id", &post.content_id)?;
            match post.format.as_str() {
                "video" => {}
                "live" => match post.live_minutes {
                    None => return Err("`live_minutes` is required for a live".into()),
                    Some(m) => count_f("live_minutes", m)?,
                },
                other => {
                    return Err(format!(
                        "`format` is `{other}`; it must be `video` or `live`"
                    ))
                }
            }
            Body::Posted(Arc::new(post))
        }
        EventKind::ContentRemoved => Body::Removed {
            content_id: f.filled_string("content_id")?.as_ref().into(),
        },
        EventKind::ContentMetrics => {
            let metrics: Metrics = f.whole(METRICS_FIELDS)?;
            filled("content_id", &metrics.content_id)?;
            for (name, v) in [
                ("views", metrics.views),
                ("likes", metrics.likes),
                ("comments", metrics.comments),
                ("orders", metrics.orders),
            ] {
                count(name, v.unwrap_or(0))?;
            }
            money("gmv", metrics.gmv.unwrap_or(0.0))?;
            Body::Metrics(metrics)
        }
        EventKind::ProductUnavailable => {
            let product: IdOnly = f.object("product", &["id"])?;
            Body::ProductUnavailable {
                product: non_empty("product.id", product.id)?.into(),
                reason: one_of(f, "reason", &["out_of_stock", "deactivated"])?,
            }
        }
        EventKind::CreatorAdjusted => {
            let creator: IdOnly = f.object("creator", &["id"])?;
            let credit: Option<f64> = f.optional("credit")?;
            if let Some(c) = credit.filter(|c| !(-MAX_CREDIT..=MAX_CREDIT).contains(c)) {
                return Err(format!(
                    "`credit` is {}; a change of credit must be within ±1e6",
                    num(c)
                ));
            }
            let block_days: Option<i64> = f.optional("block_days")?;
            if let Some(days) = block_days.filter(|d| !(0..=MAX_BLOCK_DAYS).contains(d)) {
                return Err(format!(
                    "`block_days` is {days}; it must be from 0 to {MAX_BLOCK_DAYS}"
                ));
            }
            Body::CreatorAdjusted {
                creator: non_empty("creator.id", creator.id)?.into(),
                credit,
                block_days,
            }
        }
        EventKind::SampleWithdrawn
        | EventKind::SampleDelivered
        | EventKind::ExtensionRequested
        | EventKind::Tick => Body::Plain,
    })
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

const CREATOR_FIELDS: &[&str] = &[
    "id",
    "followers",
    "engagement_rate",
    "posts_30d",
    "gmv_30d",
    "avg_video_views",
    "fulfillment_rate_90d",
    "top_categories",
];
const PRODUCT_FIELDS: &[&str] = &["id", "category", "price", "unit_cost", "flags"];
const POST_FIELDS: &[&str] = &[
    "content_id",
    "format",
    "has_product_link",
    "has_ad_disclosure",
    "live_minutes",
];
const METRICS_FIELDS: &[&str] = &["content_id", "views", "likes", "comments", "orders", "gmv"];

fn check_creator(c: &Creator) -> Result<(), String> {
    filled("creator.id", &c.id)?;
    count("creator.followers", c.followers)?;
    count("creator.posts_30d", c.posts_30d)?;
    rate("creator.engagement_rate", c.engagement_rate)?;
    if let Some(r) = c.fulfillment_rate_90d {
        rate("creator.fulfillment_rate_90d", r)?;
    }
    if let Some(g) = c.gmv_30d {
        money("creator.gmv_30d", g)?;
    }
    if let Some(v) = c.avg_video_views {
        count_f("creator.avg_video_views", v)?;
    }
    Ok(())
}

/// A line's top level: an object's fields, or anything else (which is refused).
enum Top<'a> {
    Object(Fields<'a>),
    Other,
}

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Top<'de>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    fields.push((k, v));
                }
                Ok(Top::Object(Fields(fields)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Top<'de>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Top::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_unit<E>(self) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A key: borrowed from the line, or unescaped into its own string when it holds an escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// One object's fields as raw JSON text borrowed from the line (a key with an escape is
/// unescaped into its own string), read with the field's path in every message. A key given
/// twice means its last value, as JSON parsers agree.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

/// What a raw field holds, for the envelope's checks.
enum Text<'a> {
    Str(Cow<'a, str>),
    Other,
}

fn text(raw: &RawValue) -> Text<'_> {
    if let Some(s) = plain(raw) {
        return Text::Str(Cow::Borrowed(s));
    }
    match serde_json::from_str::<Key>(raw.get()) {
        Ok(Key(s)) => Text::Str(s),
        Err(_) => Text::Other,
    }
}

/// A JSON string with no escapes, as the text between its quotes (what deserializing it would
/// give, without a deserializer); `None` for anything else. A raw value is valid JSON, so a
/// string in it holds no control characters.
fn plain(raw: &RawValue) -> Option<&str> {
    raw.get()
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .filter(|s| !s.contains('\\'))
}

fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

impl<'a> Fields<'a> {
    fn raw(&self, name: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    /// The field, absent when null.
    fn present(&self, name: &str) -> Option<&'a RawValue> {
        self.raw(name).filter(|v| !is_null(v))
    }

    /// A string field, borrowed from the line where it has no escapes.
    fn string(&self, name: &str) -> Result<Option<Cow<'a, str>>, String> {
        match self.present(name) {
            None => Ok(None),
            Some(v) => match plain(v) {
                Some(s) => Ok(Some(Cow::Borrowed(s))),
                None => typed::<String>(name, v).map(|s| Some(Cow::Owned(s))),
            },
        }
    }

    fn required_string(&self, name: &str) -> Result<Cow<'a, str>, String> {
        self.string(name)?
            .ok_or_else(|| format!("`{name}` is required"))
    }

    /// A string field that must be given and not empty.
    fn filled_string(&self, name: &str) -> Result<Cow<'a, str>, String> {
        let value = self.required_string(name)?;
        filled(name, &value)?;
        Ok(value)
    }

    /// Absent and null both mean the default.
    fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        match self.present(name) {
            None => Ok(None),
            Some(v) => typed(name, v).map(Some),
        }
    }

    /// A nested object, keeping only the fields the contract names (others are ignored).
    fn object<T: DeserializeOwned>(&self, name: &str, known: &[&str]) -> Result<T, String> {
        let Some(raw) = self.present(name) else {
            return Err(format!("`{name}` is required"));
        };
        // Nearly every object is exactly its struct, read in one pass. Anything else (a key
        // given twice, an unknown one where the struct refuses them, a null where a value must
        // be, a bad value) is read field by field as the contract says, for its reading and
        // its message. `known` lists exactly the struct's fields (a test holds them equal), so
        // what one pass accepts is what the fields give.
        if let Ok(value) = serde_json::from_str::<T>(raw.get()) {
            return Ok(value);
        }
        match serde_json::from_str::<Top>(raw.get()) {
            Ok(Top::Object(inner)) => inner.known(known, Some(name)),
            _ => Err(format!("`{name}` must be an object")),
        }
    }

    /// The event's own fields as one struct.
    fn whole<T: DeserializeOwned>(&self, known: &[&str]) -> Result<T, String> {
        self.known(known, None)
    }

    /// The fields `known` names and that are not null, deserialized as one struct from their
    /// raw text (null fields mean the default, like absent ones).
    fn known<T: DeserializeOwned>(
        &self,
        known: &[&str],
        prefix: Option<&str>,
    ) -> Result<T, String> {
        // A key given again keeps its first place with its last value, as a JSON object would.
        let mut kept: Vec<(&str, Option<&RawValue>)> = Vec::with_capacity(known.len());
        for (k, v) in &self.0 {
            if !known.contains(&k.as_ref()) {
                continue;
            }
            let value = (!is_null(v)).then_some(*v);
            match kept.iter_mut().find(|(seen, _)| *seen == k.as_ref()) {
                Some(slot) => slot.1 = value,
                None => kept.push((k.as_ref(), value)),
            }
        }
        let kept = kept.into_iter().filter_map(|(k, v)| Some((k, v?)));
        let map = |fields| serde::de::value::MapDeserializer::<_, serde_json::Error>::new(fields);
        // Tracking the path costs on every field, and only a failure needs it: a failure is
        // deserialized again, tracked, for the message.
        T::deserialize(map(kept.clone())).or_else(|_| {
            serde_path_to_error::deserialize(map(kept)).map_err(|e| field_error(prefix, &e))
        })
    }
}

fn typed<T: DeserializeOwned>(name: &str, raw: &RawValue) -> Result<T, String> {
    serde_json::from_str(raw.get()).or_else(|_| {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        serde_path_to_error::deserialize(&mut de).map_err(|e| field_error(Some(name), &e))
    })
}

fn field_error(prefix: Option<&str>, e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = e.path().to_string();
    let path = match (prefix, inner.as_str()) {
        (Some(p), ".") => p.to_string(),
        (Some(p), inner) => format!("{p}.{inner}"),
        (None, inner) => inner.to_string(),
    };
    let message = without_position(e.inner());
    // serde says "missing field `x`" at the parent: name the whole path.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        return match (path.as_str(), field) {
            (".", f) => format!("`{f}` is required"),
            (p, f) => format!("`{p}.{f}` is required"),
        };
    }
    format!("`{path}`: {message}")
}

/// serde_json's message without its " at line L column C": a field's text is parsed on its own,
/// so its place in the line is the path, not a column.
fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if e.line() == 0 {
        return message;
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    message
        .strip_suffix(&suffix)
        .map_or_else(|| message.clone(), str::to_string)
}

fn one_of(f: &Fields, name: &str, allowed: &[&str]) -> Result<ImmutableString, String> {
    let value = f.required_string(name)?;
    if allowed.contains(&value.as_ref()) {
        return Ok(value.as_ref().into());
    }
    let list = allowed
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(format!("`{name}` is `{value}`; it must be one of {list}"))
}

fn non_empty(name: &str, value: String) -> Result<String, String> {
    filled(name, &value)?;
    Ok(value)
}

/// `value` is not empty (a check that keeps the value where it is).
fn filled(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("`{name}` is empty"))
    } else {
        Ok(())
    }
}

/// The largest amount of money an event may carry, in USD.
pub const MAX_MONEY: f64 = 1e9;
/// The largest count (followers, views, orders...).
pub const MAX_COUNT: i64 = 1_000_000_000_000;
/// The most units one request may ask for.
pub const MAX_QUANTITY: i64 = 10_000;
/// The longest block `creator_adjusted` may set, in days (100 years).
pub const MAX_BLOCK_DAYS: i64 = 36_500;
/// The largest change of credit one `creator_adjusted` may make, either way.
pub const MAX_CREDIT: f64 = 1e6;

/// Ranges are checked once, here, for every number an event carries: with them no sum over a
/// sample or a ledger can leave the numbers that can be written and read back.
fn money(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=MAX_MONEY).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is {}; money must be from 0 to 1e9",
            num(value)
        ))
    }
}

fn count(name: &str, value: i64) -> Result<(), String> {
    if (0..=MAX_COUNT).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is {value}; a count must be from 0 to 1e12"
        ))
    }
}

fn count_f(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=MAX_COUNT as f64).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is {}; it must be from 0 to 1e12",
            num(value)
        ))
    }
}

/// A number as a message shows it: `1e308`, not three hundred digits.
fn num(value: f64) -> String {
    if value.is_finite() && value != 0.0 && !(1e-6..1e15).contains(&value.abs()) {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

fn rate(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("`{name}` is {value}; a rate must be within 0..1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(line: &str) -> (ErrorKind, String) {
        let bad = parse(line).expect_err("refused");
        (bad.refusal.kind, bad.refusal.message)
    }

    const REQUEST: &str = r#"{"id":"e1","type":"sample_requested","at":"2026-03-02T10:00:00-08:00","sample":"s1","creator":{"id":"c1","followers":9000,"engagement_rate":0.05,"posts_30d":4},"product":{"id":"p1","category":"beauty","price":20,"unit_cost":6}}"#;

    #[test]
    fn parses_a_request_with_defaults_and_utc_time() {
        let e = parse(REQUEST).expect("valid");
        assert_eq!(e.at.to_rfc3339(), "2026-03-02T18:00:00+00:00");
        assert_eq!(e.sample.as_deref(), Some("s1"));
        let Body::Requested {
            creator, quantity, ..
        } = e.body
        else {
            panic!("a request")
        };
        assert_eq!(quantity, 1);
        assert_eq!(creator.fulfillment_rate_90d, None);
    }

    #[test]
    fn orders_the_refusals_as_the_contract_does() {
        assert_eq!(refused("{oops").0, ErrorKind::Malformed);
        assert_eq!(
            refused(r#"{"id":"e","type":"x","at":"yesterday"}"#).0,
            ErrorKind::Malformed
        );
        assert_eq!(
            refused(r#"{"id":"e","type":"sample_shiped","at":"2026-01-01T00:00:00Z"}"#),
            (
                ErrorKind::UnknownType,
                "unknown event type `sample_shiped`; did you mean `sample_shipped`?".into()
            )
        );
        let bad_rate = REQUEST.replace("0.05", "1.5");
        assert_eq!(
            refused(&bad_rate),
            (
                ErrorKind::InvalidField,
                "`creator.engagement_rate` is 1.5; a rate must be within 0..1".into()
            )
        );
        let missing = REQUEST.replace(r#""followers":9000,"#, "");
        assert_eq!(
            refused(&missing).1,
            "`creator.followers` is required".to_string()
        );
        let wrong_type = REQUEST.replace("9000", "\"many\"");
        assert!(refused(&wrong_type)
            .1
            .starts_with("`creator.followers`: invalid type"));
    }

    #[test]
    fn null_means_the_default_and_unknown_fields_are_ignored() {
        let line = REQUEST.replace(
            r#""posts_30d":4"#,
            r#""posts_30d":4,"gmv_30d":null,"handle":"@x""#,
        );
        assert!(parse(&line).is_ok());
        let live = r#"{"id":"e","type":"content_posted","at":"2026-01-01T00:00:00Z","sample":"s","content_id":"v","format":"live","has_product_link":true}"#;
        assert_eq!(
            refused(live).1,
            "`live_minutes` is required for a live".to_string()
        );
    }

    #[test]
    fn a_number_out_of_range_is_an_invalid_field_named_by_its_path() {
        // The contract: numbers must be finite and in range, else `invalid_field`.
        let huge = REQUEST.replace(r#""price":20"#, r#""price":1e400"#);
        assert_eq!(
            refused(&huge),
            (
                ErrorKind::InvalidField,
                "`product.price`: number out of range".into()
            )
        );
    }

    #[test]
    fn fields_are_read_from_their_raw_text_with_escapes_duplicates_and_nested_paths() {
        // An escaped key is the key; a key given twice means its last value.
        let escaped = REQUEST
            .replace(r#""type""#, r#""ty\u0070e""#)
            .replace(r#""sample":"s1""#, r#""sample":"s0","sample":"s\u0031""#);
        let e = parse(&escaped).expect("valid");
        assert_eq!(e.sample.as_deref(), Some("s1"));
        // A null nested field means its default, like an absent one; a later null wins.
        let nulled = REQUEST.replace(
            r#""followers":9000"#,
            r#""followers":9000,"followers":null"#,
        );
        assert_eq!(refused(&nulled).1, "`creator.followers` is required");
        let bad_item = REQUEST.replace(
            r#""posts_30d":4"#,
            r#""posts_30d":4,"top_categories":["a",7]"#,
        );
        assert_eq!(
            refused(&bad_item).1,
            "`creator.top_categories[1]`: invalid type: integer `7`, expected a string"
        );
        // Positions inside a field's own text are not the line's: no column is given.
        let wrong = REQUEST.replace(r#""unit_cost":6"#, r#""unit_cost":"6""#);
        assert_eq!(
            refused(&wrong).1,
            "`product.unit_cost`: invalid type: string \"6\", expected f64"
        );
    }

    #[test]
    fn a_bad_field_names_the_event() {
        let bad =
            parse(r#"{"id":"e","type":"sample_shipped","at":"2026-01-01T00:00:00Z","sample":"s"}"#)
                .expect_err("no tracking number");
        assert_eq!(bad.refusal.kind, ErrorKind::InvalidField);
        assert_eq!(bad.id.as_deref(), Some("e"));
    }

    #[test]
    fn a_string_without_escapes_is_borrowed_and_one_with_them_is_read_as_json() {
        fn raw(t: &str) -> &RawValue {
            serde_json::from_str(t).expect("raw")
        }
        assert_eq!(plain(raw(r#""s1""#)), Some("s1"));
        assert_eq!(plain(raw(r#""""#)), Some(""));
        for other in [r#""a\"b""#, r#""\u0041""#, "5", "null", r#"{"a":"b"}"#] {
            assert_eq!(plain(raw(other)), None, "{other}");
        }
        // Both ways give what deserializing the field gives.
        let e = parse(
            r#"{"id":"e\u0031","type":"tracking_updated","at":"2026-01-01T00:00:00Z","sample":"s\"1","by":"ops","note":"a\nb"}"#,
        )
        .expect("event");
        assert_eq!(e.id.as_str(), "e1");
        assert_eq!(e.sample.as_deref(), Some("s\"1"));
        assert_eq!(e.by.as_deref(), Some("ops"));
        assert_eq!(e.note.as_deref(), Some("a\nb"));
    }

    #[test]
    fn the_fields_read_from_an_object_are_exactly_its_struct() {
        fn keys<T: serde::Serialize>(value: T) -> Vec<String> {
            match serde_json::to_value(value).expect("json") {
                serde_json::Value::Object(map) => {
                    let mut keys: Vec<String> = map.keys().cloned().collect();
                    keys.sort();
                    keys
                }
                other => panic!("not an object: {other}"),
            }
        }
        let sorted = |fields: &[&str]| {
            let mut v: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            v.sort();
            v
        };
        let requested = |creator: &str, product: &str| {
            let line = format!(
                r#"{{"id":"e","type":"sample_requested","at":"2026-01-01T00:00:00Z","sample":"s","creator":{creator},"product":{product}}}"#
            );
            match parse(&line).expect("a request").body {
                Body::Requested {
                    creator, product, ..
                } => (creator, product),
                _ => panic!("not a request"),
            }
        };
        let (creator, product) = requested(
            r#"{"id":"c","followers":1,"engagement_rate":0.1,"posts_30d":1}"#,
            r#"{"id":"p","category":"beauty","price":1.0,"unit_cost":0.5}"#,
        );
        assert_eq!(keys(&*creator), sorted(CREATOR_FIELDS));
        assert_eq!(keys(&*product), sorted(PRODUCT_FIELDS));
        // An object that is not exactly the struct reads as the contract says: unknown keys
        // ignored, null for the default, the last of a repeated key.
        let (creator, product) = requested(
            r#"{"id":"c","followers":1,"engagement_rate":0.1,"posts_30d":1,"top_categories":null,"extra":1}"#,
            r#"{"id":"p","category":"beauty","price":1.0,"price":2.0,"unit_cost":0.5}"#,
        );
        assert!(creator.top_categories.is_empty());
        assert_eq!(product.price, 2.0);
    }
}
