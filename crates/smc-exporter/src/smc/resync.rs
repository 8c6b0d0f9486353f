//! When is a (re)subscription's snapshot complete? A pure state machine
//! stepped by the connection's events with `now` passed in: it decides, the
//! subscription acts (swaps its staging table in, publishes, turns healthy).
//!
//! The SMC sends no explicit marker (the `SessionEvent` code 4 "all sent" was
//! never captured; `docs/smc-protocol.md` §3.2), so:
//! 1. SMC 7.x marks snapshot rows with `first_fetch: true`: once such rows
//!    came, the first message carrying `updated` / `deleted` entries or an
//!    `added` row without the flag is live, so the snapshot ended with it
//!    (an `updated` or `deleted` entry ends it even without the flag);
//! 2. snapshot batches hold at most [`SNAPSHOT_BATCH`] rows: a batch of
//!    fewer ends it;
//! 3. otherwise (a snapshot of an exact multiple of 200 rows, or SMC 6.x
//!    silence) it ends `settle` after the last `records` message; if none
//!    came at all, ten `settle`s after connecting (an empty table) — but only
//!    once the server answered the query at all (its `success` reply
//!    counts). A socket that never answers never completes; liveness gives
//!    it up ([`super::liveness`]).
//!
//! In every case the message that completes the snapshot belongs to it: the
//! subscription folds it into the staging table, then swaps.

use std::time::Duration;

use smc_protocol::Records;
use tokio::time::Instant;

/// Snapshot batches hold at most this many rows (`smc-protocol.md` §3.2).
pub const SNAPSHOT_BATCH: usize = 200;

/// With no `records` message at all, the snapshot (an empty table) is
/// complete after this many `settle`s.
pub const EMPTY_SETTLE_FACTOR: u32 = 10;

/// What a `records` message holds, as far as completion is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Batch {
    pub added: usize,
    /// `added` rows flagged `first_fetch: true`.
    pub added_first_fetch: usize,
    pub updated: usize,
    pub deleted: usize,
}

impl Batch {
    pub fn of(records: &Records) -> Self {
        Batch {
            added: records.added.len(),
            added_first_fetch: records
                .added
                .iter()
                .filter(|r| r.first_fetch == Some(true))
                .count(),
            updated: records.updated.len(),
            deleted: records.deleted.len(),
        }
    }
}

/// Why a snapshot was complete (for the debug log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Rule 1: a live entry arrived.
    LiveEntry,
    /// Rule 2: a batch of fewer than [`SNAPSHOT_BATCH`] rows.
    ShortBatch,
    /// Rule 3: nothing more came within `settle` of the last batch.
    Settled,
    /// Rule 3: no `records` at all within ten `settle`s: the table is empty.
    Empty,
}

impl Completion {
    pub fn label(self) -> &'static str {
        match self {
            Completion::LiveEntry => "live entry",
            Completion::ShortBatch => "short batch",
            Completion::Settled => "settled",
            Completion::Empty => "empty",
        }
    }
}

#[derive(Debug, Clone)]
struct Snapshot {
    /// The server sent a data frame (its `success` reply or anything else).
    answered: bool,
    got_records: bool,
    saw_first_fetch: bool,
    /// Rule 3's deadline.
    settle_at: Instant,
}

/// See the module documentation. `Live` once complete, until the next
/// [`Resync::begin`] (a new connection).
#[derive(Debug, Clone)]
pub struct Resync {
    settle: Duration,
    snapshot: Option<Snapshot>,
}

impl Resync {
    /// A connection's query was sent at `now`: its snapshot begins.
    pub fn begin(now: Instant, settle: Duration) -> Self {
        Resync {
            settle,
            snapshot: Some(Snapshot {
                answered: false,
                got_records: false,
                saw_first_fetch: false,
                settle_at: now + settle.saturating_mul(EMPTY_SETTLE_FACTOR),
            }),
        }
    }

    /// Whether the snapshot is still being received.
    pub fn in_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }

    /// The server sent a data frame: it answered the query.
    pub fn on_answer(&mut self) {
        if let Some(s) = self.snapshot.as_mut() {
            s.answered = true;
        }
    }

    /// A `records` message arrived at `now`; `Some` if it completes the
    /// snapshot (fold it into the staging table, then swap).
    pub fn on_records(&mut self, now: Instant, b: Batch) -> Option<Completion> {
        let s = self.snapshot.as_mut()?;
        s.answered = true;
        s.got_records = true;
        s.saw_first_fetch |= b.added_first_fetch > 0;
        s.settle_at = now + self.settle;
        let live_entry =
            b.updated > 0 || b.deleted > 0 || (s.saw_first_fetch && b.added_first_fetch < b.added);
        let done = if live_entry {
            Completion::LiveEntry
        } else if b.added < SNAPSHOT_BATCH {
            Completion::ShortBatch
        } else {
            return None;
        };
        self.snapshot = None;
        Some(done)
    }

    /// When rule 3 will complete the snapshot, if nothing else comes: only
    /// while in a snapshot whose query the server answered.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.snapshot
            .as_ref()
            .filter(|s| s.answered)
            .map(|s| s.settle_at)
    }

    /// `now` reached (or passed) a deadline: `Some` if rule 3 completes the
    /// snapshot.
    pub fn on_deadline(&mut self, now: Instant) -> Option<Completion> {
        let due = self.next_deadline().is_some_and(|t| t <= now);
        let s = self.snapshot.take_if(|_| due)?;
        Some(if s.got_records {
            Completion::Settled
        } else {
            Completion::Empty
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTLE: Duration = Duration::from_secs(2);
    const S: Duration = Duration::from_secs(1);

    fn added(n: usize, first_fetch: usize) -> Batch {
        Batch {
            added: n,
            added_first_fetch: first_fetch,
            ..Batch::default()
        }
    }

    #[test]
    fn a_short_batch_completes_the_snapshot() {
        let t0 = Instant::now();
        let mut r = Resync::begin(t0, SETTLE);
        assert_eq!(r.on_records(t0, added(200, 0)), None);
        assert_eq!(r.on_records(t0, added(200, 0)), None);
        assert!(r.in_snapshot());
        assert_eq!(
            r.on_records(t0 + S, added(37, 0)),
            Some(Completion::ShortBatch)
        );
        assert!(!r.in_snapshot());
        assert_eq!(r.next_deadline(), None);
        // Live from now on: nothing completes again.
        assert_eq!(r.on_records(t0 + S, added(3, 0)), None);
        assert_eq!(r.on_deadline(t0 + 100 * S), None);
    }

    #[test]
    fn the_first_row_without_first_fetch_ends_a_flagged_snapshot() {
        let t0 = Instant::now();
        let mut r = Resync::begin(t0, SETTLE);
        assert_eq!(r.on_records(t0, added(200, 200)), None);
        // A full batch, one of its rows live: the snapshot ended with it.
        assert_eq!(
            r.on_records(t0, added(200, 199)),
            Some(Completion::LiveEntry)
        );
    }

    #[test]
    fn an_update_or_delete_is_live_even_without_the_flag() {
        let t0 = Instant::now();
        for b in [
            Batch {
                added: 200,
                updated: 1,
                ..Batch::default()
            },
            Batch {
                deleted: 1,
                ..Batch::default()
            },
        ] {
            let mut r = Resync::begin(t0, SETTLE);
            assert_eq!(r.on_records(t0, added(200, 0)), None);
            assert_eq!(r.on_records(t0, b), Some(Completion::LiveEntry), "{b:?}");
        }
    }

    #[test]
    fn unflagged_full_batches_wait_for_the_settle_timer() {
        let t0 = Instant::now();
        let mut r = Resync::begin(t0, SETTLE);
        r.on_answer();
        assert_eq!(r.next_deadline(), Some(t0 + 20 * S), "ten settles at first");
        assert_eq!(r.on_records(t0 + S, added(200, 0)), None);
        assert_eq!(
            r.next_deadline(),
            Some(t0 + 3 * S),
            "settle after the batch"
        );
        assert_eq!(r.on_records(t0 + 2 * S, added(200, 0)), None);
        assert_eq!(r.on_deadline(t0 + 3 * S), None, "moved by the second batch");
        assert_eq!(r.next_deadline(), Some(t0 + 4 * S));
        assert_eq!(r.on_deadline(t0 + 4 * S), Some(Completion::Settled));
        assert!(!r.in_snapshot());
    }

    #[test]
    fn an_answered_query_without_records_is_an_empty_table_after_ten_settles() {
        let t0 = Instant::now();
        let mut r = Resync::begin(t0, SETTLE);
        r.on_answer();
        assert_eq!(r.on_deadline(t0 + 19 * S), None);
        assert_eq!(r.on_deadline(t0 + 20 * S), Some(Completion::Empty));
    }

    #[test]
    fn a_socket_that_never_answered_never_completes() {
        let t0 = Instant::now();
        let mut r = Resync::begin(t0, SETTLE);
        assert_eq!(r.next_deadline(), None);
        assert_eq!(r.on_deadline(t0 + 1000 * S), None);
        assert!(r.in_snapshot());
    }

    #[test]
    fn batch_counts_the_flagged_rows() {
        let frame = r#"{"fetch":1,"records":{"added":[
            {"delta_key":"a","first_fetch":true},{"delta_key":"b"},
            {"delta_key":"c","first_fetch":false}],"deleted":["d"]}}"#;
        let Ok(smc_protocol::ServerMessage::Records { records, .. }) = smc_protocol::decode(frame)
        else {
            panic!("not a records message")
        };
        assert_eq!(
            Batch::of(&records),
            Batch {
                added: 3,
                added_first_fetch: 1,
                updated: 0,
                deleted: 1
            }
        );
    }
}
