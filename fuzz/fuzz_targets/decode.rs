//! `smc_protocol::decode`, `decode_fields` and `parse_abort` on arbitrary
//! UTF-8: every input is one frame, and no function may panic, whatever it
//! returns. `decode_fields` with a fold's field set must give `decode`'s
//! result with the other fields left out (or fail when it fails, with the
//! same error up to its position).

#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use smc_protocol::{Change, DecodeError, FieldSet, Records, ServerMessage};

/// CONNECTIONS' node, protocol and state, an alert severity, and a key of
/// the combined format: the fields a fold asks for.
const WANTED: [&str; 5] = ["4", "11", "116", "602", "NodeId"];

/// An error without its position: serde_json places an error a character
/// apart when it skips a string (a field not wanted) rather than reading it.
fn same_error(e: &DecodeError) -> String {
    let text = e.to_string();
    text.split(" at line ")
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `some` is `all` with only the fields of `WANTED`.
fn check_filtered(all: &Records<'_>, some: &Records<'_>, wanted: &FieldSet) {
    for change in [Change::Added, Change::Updated, Change::Deleted] {
        let (a, s) = (all.list(change), some.list(change));
        assert_eq!(a.len(), s.len());
        for (ra, rs) in a.iter().zip(s) {
            assert_eq!(ra.delta_key, rs.delta_key);
            assert_eq!(ra.first_fetch, rs.first_fetch);
            let kept: Vec<_> = all
                .fields(ra)
                .iter()
                .filter(|(k, _)| wanted.contains(k))
                .collect();
            assert_eq!(kept, some.fields(rs).iter().collect::<Vec<_>>());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let wanted = FieldSet::only(WANTED);
    let all = smc_protocol::decode(text);
    let some = smc_protocol::decode_fields(text, &wanted);
    match (&all, &some) {
        (
            Ok(ServerMessage::Records { records: a, .. }),
            Ok(ServerMessage::Records { records: s, .. }),
        ) => check_filtered(a, s, &wanted),
        (Ok(a), Ok(s)) => assert_eq!(a, s),
        (Err(a), Err(s)) => assert_eq!(same_error(a), same_error(s)),
        _ => panic!("decode {all:?} but decode_fields {some:?}"),
    }
    if let Ok(m) = &all {
        assert_eq!(&m.clone().into_owned(), m);
    }
    if let Ok(ServerMessage::Records { records, .. }) = all {
        // The accessors a subscription uses on every message and record.
        let lists = [&records.added, &records.updated, &records.deleted];
        assert_eq!(records.len(), lists.iter().map(|l| l.len()).sum::<usize>());
        assert_eq!(records.is_empty(), lists.iter().all(|l| l.is_empty()));
        for rec in lists.into_iter().flatten() {
            // `get` returns the first field of a key (a few per record:
            // `get` is linear).
            let fields = records.fields(rec);
            for (k, _) in fields.iter().take(8) {
                let first = fields.iter().find(|(f, _)| f == k);
                assert_eq!(records.get(rec, k), first.map(|(_, v)| v.as_ref()));
            }
        }
    }
    let _ = smc_protocol::parse_abort(text);
});
