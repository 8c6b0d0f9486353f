//! The top-level object of a frame and its `records` value, read in one pass:
//! `records` is told apart by its shape as it arrives (an object is the
//! session socket's lists, an array the log socket's list), with no
//! buffering of the value first.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::FieldDescriptor;
use super::record::{RecordSeed, Skip};
use super::records::{FieldSet, Records};
use crate::Change;

/// The known keys of a frame, each at most once.
#[derive(Debug, Default)]
pub(super) struct Frame<'a> {
    pub fetch: Option<Value>,
    pub success: Option<Value>,
    pub failure: Option<Value>,
    pub status: Option<Value>,
    pub end: Option<Value>,
    pub records: Option<Records<'a>>,
    pub fields: Option<Vec<FieldDescriptor>>,
}

/// The keys of a frame that mean something, in the order of [`FRAME_KEYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Fetch,
    Success,
    Failure,
    Status,
    End,
    Records,
    Fields,
}

const FRAME_KEYS: [&str; 7] = [
    "fetch", "success", "failure", "status", "end", "records", "fields",
];
const KEYS: [Key; 7] = [
    Key::Fetch,
    Key::Success,
    Key::Failure,
    Key::Status,
    Key::End,
    Key::Records,
    Key::Fields,
];

/// Matches a map key against `names` without keeping it: the index of the
/// match, or `None`.
struct KeyOf<const N: usize>(&'static [&'static str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for KeyOf<N> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<const N: usize> Visitor<'_> for KeyOf<N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == v))
    }
}

/// Reads a frame's top-level object.
pub(super) struct FrameVisitor<'w> {
    pub wanted: &'w FieldSet,
}

impl<'de> Visitor<'de> for FrameVisitor<'_> {
    type Value = Frame<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a server message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Frame<'de>, A::Error> {
        let mut frame = Frame::default();
        let mut seen = [false; FRAME_KEYS.len()];
        while let Some(i) = map.next_key_seed(KeyOf(&FRAME_KEYS))? {
            let Some(i) = i else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(de::Error::duplicate_field(FRAME_KEYS[i]));
            }
            match KEYS[i] {
                Key::Fetch => frame.fetch = map.next_value()?,
                Key::Success => frame.success = map.next_value()?,
                Key::Failure => frame.failure = map.next_value()?,
                Key::Status => frame.status = map.next_value()?,
                Key::End => frame.end = map.next_value()?,
                Key::Fields => frame.fields = map.next_value()?,
                Key::Records => {
                    frame.records = map.next_value_seed(RecordsSeed {
                        wanted: self.wanted,
                    })?;
                }
            }
        }
        Ok(frame)
    }
}

/// The `records` value: `null` is absent, an object holds the optional
/// `added` / `updated` / `deleted` lists, an array is the log socket's list
/// (read as `added`).
struct RecordsSeed<'w> {
    wanted: &'w FieldSet,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Option<Records<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

const LIST_KEYS: [&str; 3] = ["added", "updated", "deleted"];
const LIST_CHANGES: [Change; 3] = [Change::Added, Change::Updated, Change::Deleted];

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Option<Records<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of record lists or a list of records")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records = Records::default();
        let mut seen = [false; LIST_KEYS.len()];
        while let Some(i) = map.next_key_seed(KeyOf(&LIST_KEYS))? {
            let Some(i) = i else {
                // Checked as the lists are (the old decoder read all of
                // `records` before looking at it).
                map.next_value_seed(Skip)?;
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(de::Error::duplicate_field(LIST_KEYS[i]));
            }
            map.next_value_seed(ListSeed {
                records: &mut records,
                change: LIST_CHANGES[i],
                wanted: self.wanted,
            })?;
        }
        Ok(Some(records))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Records::default();
        ListSeed {
            records: &mut records,
            change: Change::Added,
            wanted: self.wanted,
        }
        .visit_seq(seq)?;
        Ok(Some(records))
    }
}

/// One record list (`null` is an empty one), appended to `records`.
struct ListSeed<'r, 'a> {
    records: &'r mut Records<'a>,
    change: Change,
    wanted: &'r FieldSet,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(rec) = seq.next_element_seed(RecordSeed {
            records: &mut *self.records,
            wanted: self.wanted,
        })? {
            self.records.push_record(self.change, rec);
        }
        Ok(())
    }
}
