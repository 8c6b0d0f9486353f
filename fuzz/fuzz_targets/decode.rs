//! `smc_protocol::decode` and `parse_abort` on arbitrary UTF-8: every input
//! is one frame, and neither function may panic, whatever it returns.

#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use smc_protocol::ServerMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ServerMessage::Records { records, .. }) = smc_protocol::decode(text) {
        // The accessors a subscription uses on every message and record.
        let lists = [&records.added, &records.updated, &records.deleted];
        assert_eq!(records.len(), lists.iter().map(|l| l.len()).sum::<usize>());
        assert_eq!(records.is_empty(), lists.iter().all(|l| l.is_empty()));
        for rec in lists.into_iter().flatten() {
            // `get` returns the first field of a key (a few per record:
            // `get` is linear).
            for (k, _) in rec.fields.iter().take(8) {
                let first = rec.fields.iter().find(|(f, _)| f == k);
                assert_eq!(rec.get(k), first.map(|(_, v)| v.as_str()));
            }
        }
    }
    let _ = smc_protocol::parse_abort(text);
});
