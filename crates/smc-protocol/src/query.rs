//! Client → server frames of the session socket: the query (protocol §3.1)
//! and the abort of a fetch. Their server-side parsing for the simulator is
//! in `decode` ([`crate::parse_abort`]).

use crate::Definition;

/// The session-socket query for a definition and target, in `id` field
/// format, asking for the fields `field_ids` (the log-field ids that become
/// labels). No `field_ids` would mean "every field", so an empty list asks
/// for the timestamp (field 1) only.
pub fn query_json(definition: Definition, target: &str, legacy: bool, field_ids: &[u32]) -> String {
    let ids: &[u32] = if field_ids.is_empty() {
        &[1]
    } else {
        field_ids
    };
    serde_json::json!({
        "query": {"definition": definition.wire_name(legacy), "target": target},
        "fetch": {},
        "format": {
            "type": "texts",
            "field_format": "id",
            "resolving": {"senders": true},
            "field_ids": ids,
        },
    })
    .to_string()
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
        let q: serde_json::Value =
            serde_json::from_str(&query_json(Definition::Users, "HQ", false, &[4, 3003])).unwrap();
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
    fn abort_frame_is_what_the_simulator_parses() {
        assert_eq!(abort_frame(-1616514795), r#"{"abort":-1616514795}"#);
        assert_eq!(parse_abort(&abort_frame(-7)), Some(-7));
    }
}
