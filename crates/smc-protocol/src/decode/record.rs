//! One record, read straight from the JSON text: keys and string values are
//! borrowed, fields the caller does not want are skipped without being
//! stored, nested objects (the `combined` format) are merged as they are read.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::records::{FieldSet, Record, Records};

/// Nested objects (combined format) are merged, at most this deep.
const MAX_NESTING: usize = 4;

/// Reads one record (an object, or a bare string that is its `delta_key`),
/// pushing its kept fields into `records`' field arena.
pub(super) struct RecordSeed<'r, 'a> {
    pub records: &'r mut Records<'a>,
    pub wanted: &'r FieldSet,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, 'de> {
    type Value = Record<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Record<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, 'de> {
    type Value = Record<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record<'de>, A::Error> {
        let start = self.records.fields_len();
        let mut m = Merge {
            records: self.records,
            wanted: self.wanted,
            delta_key: None,
            first_fetch: None,
        };
        while let Some(key) = map.next_key_seed(Text)? {
            match key.as_ref() {
                "delta_key" => m.delta_key = map.next_value_seed(AsText { null: None })?,
                "first_fetch" => m.first_fetch = map.next_value_seed(Flag { strings: true })?,
                _ => map.next_value_seed(FieldSeed {
                    merge: &mut m,
                    key,
                    depth: 0,
                })?,
            }
        }
        Ok(m.records.record(start, m.delta_key, m.first_fetch))
    }

    // A bare string in a `deleted` list: treat it as the key itself.
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Record<'de>, E> {
        Ok(self.key_only(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Record<'de>, E> {
        Ok(self.key_only(Cow::Owned(v.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Record<'de>, A::Error> {
        Err(de::Error::custom("a record must be an object"))
    }
}

impl<'de> RecordSeed<'_, 'de> {
    fn key_only(self, key: Cow<'de, str>) -> Record<'de> {
        let start = self.records.fields_len();
        self.records.record(start, Some(key), None)
    }
}

/// The record being read: its arena, what to keep, and its special keys.
struct Merge<'r, 'a> {
    records: &'r mut Records<'a>,
    wanted: &'r FieldSet,
    delta_key: Option<Cow<'a, str>>,
    first_fetch: Option<bool>,
}

impl<'a> Merge<'_, 'a> {
    /// Keep `key: value` if wanted; `value` is only made when kept.
    fn keep(&mut self, key: Cow<'a, str>, value: impl FnOnce() -> Cow<'a, str>) {
        if self.wanted.contains(&key) {
            self.records.push_field((key, value()));
        }
    }
}

/// A string borrowed from the frame when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// Any JSON value as text: a string as itself, anything else as its JSON
/// (`35236`, `true`, `{"a":"b"}`); `null` is `self.null`.
struct AsText {
    null: Option<&'static str>,
}

fn json<E>(v: Value) -> Result<Option<Cow<'static, str>>, E> {
    Ok(Some(Cow::Owned(v.to_string())))
}

impl<'de> DeserializeSeed<'de> for AsText {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AsText {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.null.map(Cow::Borrowed))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        json(Value::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        json(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        json(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        json(Value::from(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        json(Value::deserialize(SeqAccessDeserializer::new(seq))?)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        json(Value::deserialize(MapAccessDeserializer::new(map))?)
    }
}

/// `first_fetch`: a boolean, or (when `strings`) a string meaning true when
/// it reads `true` in any case; anything else is absent.
struct Flag {
    strings: bool,
}

impl<'de> DeserializeSeed<'de> for Flag {
    type Value = Option<bool>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<bool>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flag {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<bool>, E> {
        Ok(Some(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<bool>, E> {
        Ok(self.strings.then(|| v.eq_ignore_ascii_case("true")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<bool>, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<bool>, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<bool>, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<bool>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<bool>, A::Error> {
        Skip.visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<bool>, A::Error> {
        Skip.visit_map(map).map(|()| None)
    }
}

/// The value of an ordinary record key: kept as text if wanted, merged if
/// it is an object, skipped otherwise.
struct FieldSeed<'m, 'r, 'a> {
    merge: &'m mut Merge<'r, 'a>,
    key: Cow<'a, str>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> FieldSeed<'_, '_, 'de> {
    fn number<E>(self, v: Value) -> Result<(), E> {
        self.merge.keep(self.key, || Cow::Owned(v.to_string()));
        Ok(())
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.merge.keep(self.key, || Cow::Borrowed(v));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.merge.keep(self.key, || Cow::Owned(v.to_owned()));
        Ok(())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.merge.keep(self.key, || Cow::Owned(v));
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        let text = if v { "true" } else { "false" };
        self.merge.keep(self.key, || Cow::Borrowed(text));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.number(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.number(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.number(Value::from(v))
    }

    /// `null` is absent.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        if self.merge.wanted.contains(&self.key) {
            let v = Value::deserialize(SeqAccessDeserializer::new(seq))?;
            self.merge.keep(self.key, || Cow::Owned(v.to_string()));
        } else {
            Skip.visit_seq(seq)?;
        }
        Ok(())
    }

    /// A nested object (combined format): its keys merge into the record; its
    /// `delta_key` / `first_fetch` count only if the record has none yet.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_NESTING {
            return Err(de::Error::custom(format!(
                "record nested deeper than {MAX_NESTING}"
            )));
        }
        let m = self.merge;
        while let Some(key) = map.next_key_seed(Text)? {
            match key.as_ref() {
                "delta_key" if m.delta_key.is_none() => {
                    m.delta_key = map.next_value_seed(AsText { null: Some("null") })?;
                }
                "first_fetch" if m.first_fetch.is_none() => {
                    m.first_fetch = map.next_value_seed(Flag { strings: false })?;
                }
                _ => map.next_value_seed(FieldSeed {
                    merge: &mut *m,
                    key,
                    depth: self.depth + 1,
                })?,
            }
        }
        Ok(())
    }
}

/// Any value, read and dropped. Unlike `IgnoredAny`, strings are read
/// whole, so a skipped value is validated as a kept one is (serde_json skips
/// a string without checking its `\u` escapes for lone surrogates).
pub(super) struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}
