//! The wire: server → client messages of the SMC monitoring sockets, decoded
//! into narrow types. Knows JSON shapes and nothing about metrics.
//!
//! Tolerances (see `docs/smc-protocol.md` §3, §8):
//! * `fetch` ids are i64 and may be negative; a numeric string is accepted.
//! * `records` is a dict of optional `added` / `updated` / `deleted` lists on
//!   the session socket, and a plain list on the log socket.
//! * Record values are JSON strings; numbers and booleans are stringified,
//!   `null` is treated as absent, nested objects (the `combined` format) are
//!   merged into the record.
//! * A record may carry only `delta_key` (deleted entries); one without
//!   `delta_key` decodes with `delta_key: None` and is the caller's to count.
//!
//! Cost: a frame is read in one pass, straight into the decoded types
//! (hand-written visitors; `records` is told apart by its shape as it
//! arrives, never buffered). Keys and string values borrow from the frame
//! (`Cow::Owned` only where JSON escapes or a non-string value force it); the
//! fields of a message share one arena ([`Records`]); [`decode_fields`] keeps
//! only the fields a caller names and skips the others without storing them.
//! A message thus costs a few vector allocations, not a few per field.

use serde::Deserialize;
use serde::de::Deserializer as _;
use serde_json::Value;

mod frame;
mod record;
mod records;

pub use records::{Field, FieldSet, Record, Records};

/// One decoded server message; records borrow from the frame's text.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage<'a> {
    /// `{"success": …, "fetch": id}` (with `fields` for the `detailed` format).
    Started {
        fetch: Option<i64>,
        text: String,
        fields: Vec<FieldDescriptor>,
    },
    /// `{"fetch": id, "records": …}`.
    Records {
        fetch: Option<i64>,
        records: Records<'a>,
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

impl ServerMessage<'_> {
    /// A copy that owns its text, to keep beyond the frame.
    pub fn into_owned(self) -> ServerMessage<'static> {
        match self {
            ServerMessage::Records { fetch, records } => ServerMessage::Records {
                fetch,
                records: records.into_owned(),
            },
            ServerMessage::Started {
                fetch,
                text,
                fields,
            } => ServerMessage::Started {
                fetch,
                text,
                fields,
            },
            ServerMessage::Failure { reason } => ServerMessage::Failure { reason },
            ServerMessage::Status { fetch, text } => ServerMessage::Status { fetch, text },
            ServerMessage::End { fetch, reason } => ServerMessage::End { fetch, reason },
            ServerMessage::Unknown => ServerMessage::Unknown,
        }
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

/// Decode one text frame, keeping every record field (the log and
/// notification sockets, tools, tests).
pub fn decode(text: &str) -> Result<ServerMessage<'_>, DecodeError> {
    decode_fields(text, &FieldSet::All)
}

/// Decode one text frame, keeping only the record fields in `wanted`
/// (`delta_key` and `first_fetch` always). The result is [`decode`]'s with
/// the other fields left out; the frame is validated just the same (an
/// error inside a skipped field may be placed a character apart).
pub fn decode_fields<'a>(
    text: &'a str,
    wanted: &FieldSet,
) -> Result<ServerMessage<'a>, DecodeError> {
    // A frame that is not an object is not read as one.
    if !text.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Err(DecodeError::NotAnObject),
            Err(e) => Err(DecodeError::Json(e.to_string())),
        };
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let frame = de
        .deserialize_map(frame::FrameVisitor { wanted })
        .and_then(|f| de.end().map(|()| f))
        .map_err(|e| {
            if e.is_data() {
                DecodeError::Shape {
                    field: "records",
                    reason: e.to_string(),
                }
            } else {
                DecodeError::Json(e.to_string())
            }
        })?;
    into_message(frame)
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

/// Which message a frame is: `failure` first, then `records`, `success`,
/// `end`, `status`.
fn into_message(f: frame::Frame<'_>) -> Result<ServerMessage<'_>, DecodeError> {
    let fetch = fetch_id(f.fetch.as_ref())?;
    Ok(if let Some(v) = f.failure {
        ServerMessage::Failure {
            reason: text_of(&v),
        }
    } else if let Some(records) = f.records {
        ServerMessage::Records { fetch, records }
    } else if let Some(v) = f.success {
        ServerMessage::Started {
            fetch,
            text: text_of(&v),
            fields: f.fields.unwrap_or_default(),
        }
    } else if let Some(v) = f.end {
        ServerMessage::End {
            fetch,
            reason: text_of(&v),
        }
    } else if let Some(v) = f.status {
        ServerMessage::Status {
            fetch,
            text: text_of(&v),
        }
    } else {
        ServerMessage::Unknown
    })
}

/// Decode the `abort` a client sends, leniently: `{"abort": N}`, or the
/// async Python client's `{'abort': N}` with single quotes (not JSON). The id
/// may be a number or a numeric string. Used by the simulator.
pub fn parse_abort(text: &str) -> Option<i64> {
    let v: Value = serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&text.replace('\'', "\"")))
        .ok()?;
    fetch_id(v.get("abort")).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_with_negative_fetch() {
        let m = decode(r#"{"success":"Fetch started","fetch":-1616514795}"#).unwrap();
        assert_eq!(
            m,
            ServerMessage::Started {
                fetch: Some(-1616514795),
                text: "Fetch started".into(),
                fields: vec![]
            }
        );
    }

    #[test]
    fn records_with_missing_lists() {
        let m = decode(r#"{"fetch":3,"records":{"added":[{"delta_key":"AgE=","4":"fw node 1"}]}}"#)
            .unwrap();
        let ServerMessage::Records { fetch, records } = m else {
            panic!("not records")
        };
        assert_eq!(fetch, Some(3));
        assert_eq!(records.added.len(), 1);
        assert!(records.updated.is_empty() && records.deleted.is_empty());
        assert_eq!(records.get(&records.added[0], "4"), Some("fw node 1"));
    }

    #[test]
    fn deleted_with_only_key_and_bare_string() {
        let m =
            decode(r#"{"fetch":1,"records":{"deleted":[{"delta_key":"AAE="},"AAI="]}}"#).unwrap();
        let ServerMessage::Records { records, .. } = m else {
            panic!("not records")
        };
        let keys: Vec<_> = records
            .deleted
            .iter()
            .map(|r| r.delta_key.as_deref().unwrap())
            .collect();
        assert_eq!(keys, ["AAE=", "AAI="]);
    }

    #[test]
    fn non_string_values_are_stringified() {
        let m = decode(r#"{"fetch":"7","records":{"added":[{"delta_key":"k","9":35236,"x":true,"y":null,"first_fetch":true}]}}"#)
            .unwrap();
        let ServerMessage::Records { fetch, records } = m else {
            panic!("not records")
        };
        assert_eq!(fetch, Some(7));
        let r = &records.added[0];
        assert_eq!(records.get(r, "9"), Some("35236"));
        assert_eq!(records.get(r, "x"), Some("true"));
        assert_eq!(records.get(r, "y"), None);
        assert_eq!(r.first_fetch, Some(true));
    }

    #[test]
    fn combined_format_is_merged() {
        let m = decode(
            r#"{"fetch":1,"records":{"added":[{"bldata":{"NodeId":"n1","block_list_href":"h"},"blid":{"Blacklist Entry ID":"10"},"delta_key":"BgJ/BQAB","first_fetch":true}]}}"#,
        )
        .unwrap();
        let ServerMessage::Records { records, .. } = m else {
            panic!("not records")
        };
        let r = &records.added[0];
        assert_eq!(records.get(r, "NodeId"), Some("n1"));
        assert_eq!(records.get(r, "Blacklist Entry ID"), Some("10"));
        assert_eq!(r.delta_key.as_deref(), Some("BgJ/BQAB"));
    }

    #[test]
    fn log_socket_list_and_end_and_failure_and_status() {
        let m = decode(r#"{"fetch":1,"records":[{"Timestamp":"t"}]}"#).unwrap();
        let ServerMessage::Records { records, .. } = m else {
            panic!("not records")
        };
        assert_eq!(records.added.len(), 1);
        assert_eq!(records.added[0].delta_key, None);
        assert_eq!(
            decode(r#"{"fetch":1,"end":"end of data"}"#).unwrap(),
            ServerMessage::End {
                fetch: Some(1),
                reason: "end of data".into()
            }
        );
        assert_eq!(
            decode(r#"{"failure":"Unknown target: x"}"#).unwrap(),
            ServerMessage::Failure {
                reason: "Unknown target: x".into()
            }
        );
        assert_eq!(
            decode(r#"{"fetch":1,"status":"Querying..."}"#).unwrap(),
            ServerMessage::Status {
                fetch: Some(1),
                text: "Querying...".into()
            }
        );
        assert_eq!(decode(r#"{"hello":1}"#).unwrap(), ServerMessage::Unknown);
    }

    #[test]
    fn field_schema() {
        let m = decode(r#"{"fields":[{"id":1,"name":"Timestamp","pretty":"Creation Time","visible":true}],"fetch":845,"success":"Fetch started"}"#).unwrap();
        let ServerMessage::Started { fields, .. } = m else {
            panic!("not started")
        };
        assert_eq!(fields[0].pretty.as_deref(), Some("Creation Time"));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(matches!(decode("{"), Err(DecodeError::Json(_))));
        assert_eq!(decode("[1,2]"), Err(DecodeError::NotAnObject));
        assert_eq!(decode("\"x\""), Err(DecodeError::NotAnObject));
        assert!(decode(r#"{"fetch":1.5}"#).is_err());
        assert!(decode(r#"{"fetch":1,"records":{"added":[[1]]}}"#).is_err());
        assert!(
            decode(r#"{"fetch":1,"records":{"added":[{"a":{"b":{"c":{"d":{"e":{}}}}}}]}}"#)
                .is_err()
        );
    }

    #[test]
    fn text_is_borrowed_unless_escaped() {
        use std::borrow::Cow;
        let m = decode(r#"{"fetch":1,"records":{"added":[{"delta_key":"AgE=","4":"n\u0031","1\u0031":"TCP","9":80}]}}"#)
            .unwrap();
        let ServerMessage::Records { records, .. } = m else {
            panic!("not records")
        };
        let r = &records.added[0];
        assert!(matches!(r.delta_key, Some(Cow::Borrowed("AgE="))));
        let fields = records.fields(r);
        assert!(matches!(&fields[0], (Cow::Borrowed("4"), Cow::Owned(v)) if v == "n1"));
        assert!(matches!(&fields[1], (Cow::Owned(k), Cow::Borrowed("TCP")) if k == "11"));
        assert!(matches!(&fields[2], (Cow::Borrowed("9"), Cow::Owned(v)) if v == "80"));
    }

    #[test]
    fn decode_fields_keeps_only_the_wanted_keys() {
        let text = r#"{"fetch":2,"records":{"added":[{"delta_key":"k","first_fetch":"TRUE","3":[1,{"a":2}],"4":"n","c":{"11":"UDP","x":{"4":"m"}}}],"deleted":[{"delta_key":"d","4":"gone"}]}}"#;
        let wanted = FieldSet::only(["4", "11"]);
        let Ok(ServerMessage::Records { fetch, records }) = decode_fields(text, &wanted) else {
            panic!("not records")
        };
        assert_eq!(fetch, Some(2));
        let r = &records.added[0];
        assert_eq!(r.delta_key.as_deref(), Some("k"));
        assert_eq!(r.first_fetch, Some(true));
        let kv: Vec<(&str, &str)> = records
            .fields(r)
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        assert_eq!(kv, [("4", "n"), ("11", "UDP"), ("4", "m")]);
        assert_eq!(records.get(&records.deleted[0], "4"), Some("gone"));
        let Ok(ServerMessage::Records { records: all, .. }) = decode(text) else {
            panic!("not records")
        };
        assert_eq!(all.get(&all.added[0], "3"), Some(r#"[1,{"a":2}]"#));
        // The frame is validated whole, wanted or not.
        let bad = r#"{"fetch":2,"records":{"added":[{"delta_key":"k","3":[1,}]}}"#;
        assert!(matches!(
            decode_fields(bad, &wanted),
            Err(DecodeError::Json(_))
        ));
        // Skipped strings are checked as kept ones: a lone surrogate too.
        for bad in [
            r#"{"fetch":1,"records":{"added":[{"delta_key":"k","3":["\ud800\u0041"]}]}}"#,
            r#"{"fetch":1,"records":{"other":["\ud800\u0041"],"added":[]}}"#,
        ] {
            assert!(
                matches!(decode_fields(bad, &wanted), Err(DecodeError::Json(m)) if m.starts_with("lone leading surrogate")),
                "{bad}"
            );
            assert!(
                matches!(decode(bad), Err(DecodeError::Json(m)) if m.starts_with("lone leading surrogate")),
                "{bad}"
            );
        }
        let deep = r#"{"fetch":1,"records":{"added":[{"z":{"b":{"c":{"d":{"e":{}}}}}}]}}"#;
        assert_eq!(
            decode_fields(deep, &wanted),
            Err(DecodeError::Shape {
                field: "records",
                reason: "record nested deeper than 4 at line 1 column 58".into()
            })
        );
    }

    #[test]
    fn records_shapes_and_duplicates() {
        // `null` records are absent; the message is what the other keys say.
        assert_eq!(
            decode(r#"{"fetch":1,"records":null,"status":"s"}"#).unwrap(),
            ServerMessage::Status {
                fetch: Some(1),
                text: "s".into()
            }
        );
        let shape = |reason: &str| {
            Err(DecodeError::Shape {
                field: "records",
                reason: reason.into(),
            })
        };
        assert_eq!(
            decode(r#"{"fetch":1,"records":{"added":[],"added":[]}}"#),
            shape("duplicate field `added` at line 1 column 40")
        );
        assert_eq!(
            decode(r#"{"fetch":1,"fetch":2}"#),
            shape("duplicate field `fetch` at line 1 column 18")
        );
        assert_eq!(
            decode(r#"{"fetch":1,"records":5}"#),
            shape(
                "invalid type: integer `5`, expected an object of record lists or a list of records at line 1 column 22"
            )
        );
        assert_eq!(
            decode(r#"{"fetch":1,"records":{"updated":{}}}"#),
            shape("invalid type: map, expected a list of records at line 1 column 34")
        );
        assert_eq!(
            decode(r#"{"fetch":1,"records":{"deleted":[7]}}"#),
            shape("invalid type: integer `7`, expected a record object at line 1 column 34")
        );
        // A list of lists is not read as positional added/updated/deleted
        // (the old decoder's accident of serde's derived struct).
        assert_eq!(
            decode(r#"{"fetch":1,"records":[[{"delta_key":"a"}]]}"#),
            shape("a record must be an object at line 1 column 23")
        );
    }

    #[test]
    fn abort_parsing() {
        assert_eq!(parse_abort(r#"{"abort": -5}"#), Some(-5));
        assert_eq!(parse_abort("{'abort': 1004}"), Some(1004));
        assert_eq!(parse_abort("{'other': 1}"), None);
        assert_eq!(parse_abort("{\"query\":{}}"), None);
        assert_eq!(parse_abort("garbage"), None);
    }
}
