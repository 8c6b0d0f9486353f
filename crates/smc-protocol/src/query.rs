//! Client → server frames of the session socket: the query (protocol §3.1)
//! and the abort of a fetch. Their server-side parsing for the simulator is
//! in `decode` ([`crate::parse_abort`]).

use crate::Definition;

/// The session-socket query for a definition and target, in `id` field
/// format, asking for the fields `field_ids` (the log-field ids that become
/// labels). No `field_ids` would mean "every field", so an empty list asks
/// for the timestamp (field 1) only. `filter` is `query.filter`, sent as
/// given (the JSON form of [`crate::filter`]).
pub fn query_json(
    definition: Definition,
    target: &str,
    legacy: bool,
    field_ids: &[u32],
    filter: Option<&serde_json::Value>,
) -> String {
    let query = serde_json::json!({"definition": definition.wire_name(legacy), "target": target});
    frame(query, filter, serde_json::json!({}), field_ids)
}

/// `{"query": query + filter, "fetch": fetch, "format": texts in id format
/// with senders resolved, asking for `field_ids` (empty: field 1 only)}`.
fn frame(
    mut query: serde_json::Value,
    filter: Option<&serde_json::Value>,
    fetch: serde_json::Value,
    field_ids: &[u32],
) -> String {
    let ids: &[u32] = if field_ids.is_empty() {
        &[1]
    } else {
        field_ids
    };
    if let (Some(f), Some(q)) = (filter, query.as_object_mut()) {
        q.insert("filter".into(), f.clone());
    }
    serde_json::json!({
        "query": query,
        "fetch": fetch,
        "format": {
            "type": "texts",
            "field_format": "id",
            "resolving": {"senders": true},
            "field_ids": ids,
        },
    })
    .to_string()
}

/// The log-socket query (`/monitoring/log/socket`, protocol §2.2) for live
/// records only: `type: "current"` over the whole time range, as the
/// official client's `fetch_live` sends it, in `id` field format asking for
/// `field_ids` (empty: the timestamp only). A `current` fetch replays no
/// history, so opening it again after a drop cannot deliver a record twice.
/// `filter` is `query.filter`, sent as given.
pub fn log_live_query(field_ids: &[u32], filter: Option<&serde_json::Value>) -> String {
    let query = serde_json::json!({"start_ms": 0, "end_ms": 0, "type": "current"});
    frame(
        query,
        filter,
        serde_json::json!({"backwards": true}),
        field_ids,
    )
}

/// The frame that aborts fetch `fetch`: `{"abort":N}`.
pub fn abort_frame(fetch: i64) -> String {
    format!("{{\"abort\":{fetch}}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_abort;

    #[test]
    fn query_is_id_format_with_the_given_fields() {
        let q: serde_json::Value = serde_json::from_str(&query_json(
            Definition::Users,
            "HQ",
            false,
            &[4, 3003],
            None,
        ))
        .unwrap();
        assert_eq!(
            q,
            serde_json::json!({
                "query": {"definition": "USERS", "target": "HQ"},
                "fetch": {},
                "format": {"type": "texts", "field_format": "id", "resolving": {"senders": true}, "field_ids": [4, 3003]},
            })
        );
    }

    #[test]
    fn a_filter_is_sent_as_given_in_the_query() {
        let f = serde_json::json!({"type": "translated", "value": "$Dport == 443"});
        let q: serde_json::Value = serde_json::from_str(&query_json(
            Definition::Connections,
            "fw",
            false,
            &[4],
            Some(&f),
        ))
        .unwrap();
        assert_eq!(
            q["query"],
            serde_json::json!({"definition": "CONNECTIONS", "target": "fw", "filter": f})
        );
    }

    #[test]
    fn log_live_query_asks_for_current_records_only() {
        let f = serde_json::json!({"type": "translated", "value": "$Action == \"Discard\""});
        let q: serde_json::Value =
            serde_json::from_str(&log_live_query(&[4, 14], Some(&f))).unwrap();
        assert_eq!(
            q,
            serde_json::json!({
                "query": {"start_ms": 0, "end_ms": 0, "type": "current", "filter": f},
                "fetch": {"backwards": true},
                "format": {"type": "texts", "field_format": "id", "resolving": {"senders": true}, "field_ids": [4, 14]},
            })
        );
        let q: serde_json::Value = serde_json::from_str(&log_live_query(&[], None)).unwrap();
        assert_eq!(q["format"]["field_ids"], serde_json::json!([1]));
        assert!(q["query"].get("filter").is_none());
    }

    #[test]
    fn abort_frame_is_what_the_simulator_parses() {
        assert_eq!(abort_frame(-1616514795), r#"{"abort":-1616514795}"#);
        assert_eq!(parse_abort(&abort_frame(-7)), Some(-7));
    }
}
