//! The decoder as it was before issue 10 (an untagged `records` enum over
//! `serde_json::Value`, every key and value owned), kept verbatim as the
//! reference the new decoder is checked against (`differential.rs`) and
//! measured against (`benches/decode.rs`). Test-only: nothing ships it.

#![allow(dead_code)]

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One decoded server message.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `{"success": …, "fetch": id}` (with `fields` for the `detailed` format).
    Started {
        fetch: Option<i64>,
        text: String,
        fields: Vec<FieldDescriptor>,
    },
    /// `{"fetch": id, "records": …}`.
    Records {
        fetch: Option<i64>,
        records: Records,
    },
    /// `{"failure": reason}`: the query was rejected.
    Failure { reason: String },
    /// `{"fetch": id, "status": …}`: progress, no data.
    Status { fetch: Option<i64>, text: String },
    /// `{"fetch": id, "end": reason}`: the server finished the fetch.
    End { fetch: Option<i64>, reason: String },
    /// Valid JSON object with none of the known keys.
    Unknown,
}

/// The record lists of a `records` message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    pub added: Vec<Record>,
    pub updated: Vec<Record>,
    pub deleted: Vec<Record>,
}

impl Records {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }
    pub fn len(&self) -> usize {
        self.added.len() + self.updated.len() + self.deleted.len()
    }
}

/// One record: its key, its snapshot flag and its fields as strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub delta_key: Option<String>,
    /// `first_fetch` (SMC 7.x): true on rows of the initial snapshot.
    pub first_fetch: Option<bool>,
    /// Every other key with its value rendered as a string, in wire order.
    pub fields: Vec<(String, String)>,
}

impl Record {
    /// The value of a field key (`"4"` in `id` format, `"NodeId"` in `name`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A field descriptor from a `fields` list (log socket, `detailed` format).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FieldDescriptor {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub pretty: Option<String>,
}

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("message is not a JSON object")]
    NotAnObject,
    #[error("field {field:?} has the wrong shape: {reason}")]
    Shape { field: &'static str, reason: String },
}

/// Decode one text frame.
pub fn decode(text: &str) -> Result<ServerMessage, DecodeError> {
    // serde's derived struct decoding would also accept a JSON array.
    if !text.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Err(DecodeError::NotAnObject),
            Err(e) => Err(DecodeError::Json(e.to_string())),
        };
    }
    let raw: RawMessage = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            DecodeError::Shape {
                field: "records",
                reason: e.to_string(),
            }
        } else {
            DecodeError::Json(e.to_string())
        }
    })?;
    raw.into_message()
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    fetch: Option<Value>,
    #[serde(default)]
    success: Option<Value>,
    #[serde(default)]
    failure: Option<Value>,
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    end: Option<Value>,
    #[serde(default)]
    records: Option<RawRecords>,
    #[serde(default)]
    fields: Option<Vec<FieldDescriptor>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRecords {
    Delta {
        #[serde(default)]
        added: Option<Vec<Record>>,
        #[serde(default)]
        updated: Option<Vec<Record>>,
        #[serde(default)]
        deleted: Option<Vec<Record>>,
    },
    List(Vec<Record>),
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn fetch_id(v: Option<&Value>) -> Result<Option<i64>, DecodeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(DecodeError::Shape {
            field: "fetch",
            reason: format!("{n} is not a 64-bit integer"),
        }),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| DecodeError::Shape {
            field: "fetch",
            reason: "not an integer".into(),
        }),
        // `fetch` in a client query is an object; a server echoing one carries no id.
        Some(Value::Object(_)) => Ok(None),
        Some(_) => Err(DecodeError::Shape {
            field: "fetch",
            reason: "not an integer".into(),
        }),
    }
}

impl RawMessage {
    fn into_message(self) -> Result<ServerMessage, DecodeError> {
        let fetch = fetch_id(self.fetch.as_ref())?;
        if let Some(f) = self.failure {
            return Ok(ServerMessage::Failure {
                reason: text_of(&f),
            });
        }
        if let Some(r) = self.records {
            let records = match r {
                RawRecords::Delta {
                    added,
                    updated,
                    deleted,
                } => Records {
                    added: added.unwrap_or_default(),
                    updated: updated.unwrap_or_default(),
                    deleted: deleted.unwrap_or_default(),
                },
                RawRecords::List(added) => Records {
                    added,
                    ..Records::default()
                },
            };
            return Ok(ServerMessage::Records { fetch, records });
        }
        if let Some(s) = self.success {
            return Ok(ServerMessage::Started {
                fetch,
                text: text_of(&s),
                fields: self.fields.unwrap_or_default(),
            });
        }
        if let Some(e) = self.end {
            return Ok(ServerMessage::End {
                fetch,
                reason: text_of(&e),
            });
        }
        if let Some(s) = self.status {
            return Ok(ServerMessage::Status {
                fetch,
                text: text_of(&s),
            });
        }
        Ok(ServerMessage::Unknown)
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut rec = Record::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "delta_key" => {
                    let v: Value = map.next_value()?;
                    rec.delta_key = match v {
                        Value::Null => None,
                        other => Some(text_of(&other)),
                    };
                }
                "first_fetch" => {
                    let v: Value = map.next_value()?;
                    rec.first_fetch = match v {
                        Value::Bool(b) => Some(b),
                        Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
                        _ => None,
                    };
                }
                _ => {
                    let v: Value = map.next_value()?;
                    push_value(&mut rec, key, v, 0).map_err(de::Error::custom)?;
                }
            }
        }
        Ok(rec)
    }

    // A bare string in a `deleted` list: treat it as the key itself.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Record, E> {
        Ok(Record {
            delta_key: Some(v.to_owned()),
            ..Record::default()
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Record, A::Error> {
        Err(de::Error::custom("a record must be an object"))
    }
}

/// Nested objects (combined format) are merged, at most this deep.
const MAX_NESTING: usize = 4;

fn push_value(rec: &mut Record, key: String, v: Value, depth: usize) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::String(s) => {
            rec.fields.push((key, s));
            Ok(())
        }
        Value::Number(_) | Value::Bool(_) | Value::Array(_) => {
            rec.fields.push((key, v.to_string()));
            Ok(())
        }
        Value::Object(m) => {
            if depth >= MAX_NESTING {
                return Err(format!("record nested deeper than {MAX_NESTING}"));
            }
            for (k, v) in m {
                match k.as_str() {
                    "delta_key" if rec.delta_key.is_none() => rec.delta_key = Some(text_of(&v)),
                    "first_fetch" if rec.first_fetch.is_none() => rec.first_fetch = v.as_bool(),
                    _ => push_value(rec, k, v, depth + 1)?,
                }
            }
            Ok(())
        }
    }
}
