//! One JSON object's top-level fields, each kept as the raw JSON text it was (borrowed from the
//! line, no tree of values), and the typed reads of them with the field's path in every message.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

/// A line's top level: an object's fields, or anything else (which is refused).
pub(super) enum Top<'a> {
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
pub(super) struct Key<'a>(Cow<'a, str>);

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
pub(super) struct Fields<'a>(pub(super) Vec<(Cow<'a, str>, &'a RawValue)>);

/// What a raw field holds, for the envelope's checks.
pub(super) enum Text<'a> {
    Str(Cow<'a, str>),
    Other,
}

pub(super) fn text(raw: &RawValue) -> Text<'_> {
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
pub(super) fn plain(raw: &RawValue) -> Option<&str> {
    raw.get()
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .filter(|s| !s.contains('\\'))
}

pub(super) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

impl<'a> Fields<'a> {
    pub(super) fn raw(&self, name: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    /// The field, absent when null.
    pub(super) fn present(&self, name: &str) -> Option<&'a RawValue> {
        self.raw(name).filter(|v| !is_null(v))
    }

    /// A string field, borrowed from the line where it has no escapes.
    pub(super) fn string(&self, name: &str) -> Result<Option<Cow<'a, str>>, String> {
        match self.present(name) {
            None => Ok(None),
            Some(v) => match plain(v) {
                Some(s) => Ok(Some(Cow::Borrowed(s))),
                None => typed::<String>(name, v).map(|s| Some(Cow::Owned(s))),
            },
        }
    }

    pub(super) fn required_string(&self, name: &str) -> Result<Cow<'a, str>, String> {
        self.string(name)?
            .ok_or_else(|| format!("`{name}` is required"))
    }

    /// A string field that must be given and not empty.
    pub(super) fn filled_string(&self, name: &str) -> Result<Cow<'a, str>, String> {
        let value = self.required_string(name)?;
        filled(name, &value)?;
        Ok(value)
    }

    /// Absent and null both mean the default.
    pub(super) fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        match self.present(name) {
            None => Ok(None),
            Some(v) => typed(name, v).map(Some),
        }
    }

    /// A nested object, keeping only the fields the contract names (others are ignored).
    pub(super) fn object<T: DeserializeOwned>(
        &self,
        name: &str,
        known: &[&str],
    ) -> Result<T, String> {
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
    pub(super) fn whole<T: DeserializeOwned>(&self, known: &[&str]) -> Result<T, String> {
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

pub(super) fn typed<T: DeserializeOwned>(name: &str, raw: &RawValue) -> Result<T, String> {
    serde_json::from_str(raw.get()).or_else(|_| {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        serde_path_to_error::deserialize(&mut de).map_err(|e| field_error(Some(name), &e))
    })
}

pub(super) fn field_error(
    prefix: Option<&str>,
    e: &serde_path_to_error::Error<serde_json::Error>,
) -> String {
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
pub(super) fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if e.line() == 0 {
        return message;
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    message
        .strip_suffix(&suffix)
        .map_or_else(|| message.clone(), str::to_string)
}

/// `value` is not empty (a check that keeps the value where it is).
pub(super) fn filled(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("`{name}` is empty"))
    } else {
        Ok(())
    }
}
