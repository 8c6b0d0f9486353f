//! The records quoted in Forcepoint's SMC WebSocket guide (kept in
//! `tests/fixtures/seeds/`, see its README) decode, and fold as the exporter
//! would fold them.

use smc_protocol::{ServerMessage, decode};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/fixtures/seeds")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn seed_001_block_list_message_decodes() {
    let json = fixture("block-list-records.json");
    let msg = decode(json.trim()).expect("the guide's message decodes");
    let ServerMessage::Records { fetch, records } = msg else {
        panic!("not a records message: {msg:?}")
    };
    assert_eq!(fetch, Some(-1616514795));
    assert_eq!(records.added.len(), 1);
    assert!(records.updated.is_empty() && records.deleted.is_empty());
    let r = &records.added[0];
    assert_eq!(r.delta_key.as_deref(), Some("AgE="));
    assert_eq!(records.get(r, "NodeId"), Some("Plano FW node 1"));
    assert_eq!(records.get(r, "BlackListEntryProtocol"), Some("TCP"));
    assert_eq!(
        records.get(r, "block_list_href"),
        Some("http://localhost:8082/7.0/elements/single_fw/1649/block_list/MQ==")
    );
    assert_eq!(records.get(r, "blackListEntryDestinationPort"), Some("80"));
    assert_eq!(r.first_fetch, None);
}

#[test]
fn seed_000_record_fragment_decodes_as_a_record_without_key() {
    // Seed 000 quotes only the middle of a record: it starts inside a value
    // and ends after a comma. Closed into an object, every field decodes; it
    // carries no delta_key, which the exporter counts as `missing_key`.
    let text = fixture("record-fragment.txt");
    let body: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let body = body.trim().trim_end_matches(',');
    let json = format!("{{\"fetch\":1,\"records\":{{\"added\":[{{\"CompId\":{body}}}]}}}}");
    let ServerMessage::Records { records, .. } = decode(&json).expect("fragment decodes") else {
        panic!("not records")
    };
    let r = &records.added[0];
    assert_eq!(r.delta_key, None);
    assert_eq!(records.get(r, "CompId"), Some("Plano FW node 1"));
    assert_eq!(records.get(r, "BlackListEntryId"), Some("MQ=="));
    assert_eq!(
        records.get(r, "DataTags"),
        Some("INFO: BLOCK_LIST Monitoring")
    );
    assert_eq!(records.get(r, "BlackListEntryDestinationIpMask"), Some(""));
}
