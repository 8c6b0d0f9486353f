//! Ground truth of what the live sockets wrote: a ledger per `current` log
//! fetch (`GET /sim/logs/sent`, [`crate::SimServer::sent_logs`]) and per
//! notification socket (`GET /sim/notifications/sent`,
//! [`crate::SimServer::sent_notifications`]), so a test can compare an
//! exporter's counter deltas with exactly what it was sent.
//!
//! An entry opens when its fetch or socket registers (before the client can
//! see anything of it) and stays listed after it ends (`live` false). An
//! item goes in just before the message carrying it is written and comes out
//! again when that write fails, so once a client has read a message, the
//! ledger already holds what it carried. Bounded: at most [`MAX_ENTRIES`]
//! entries (a new one evicts the oldest ended entry, else the oldest) and
//! [`MAX_ITEMS`] items per entry (a new item evicts the entry's oldest;
//! `dropped` counts them, and `sent` = items kept + `dropped`), and
//! [`MAX_TOTAL_ITEMS`] in all (beyond it the oldest entry holding items
//! loses its oldest, counted in its `dropped`): a log record holds some 20
//! short strings, roughly 1 kB (an estimate, not measured), so a long soak
//! with reconnecting subscribers keeps the ledger near 400 MB at most.

use std::collections::VecDeque;

/// Entries (fetches or sockets) kept.
pub(crate) const MAX_ENTRIES: usize = 64;
/// Items (records or events) kept per entry.
pub(crate) const MAX_ITEMS: usize = 200_000;
/// Items kept in all entries together.
pub(crate) const MAX_TOTAL_ITEMS: usize = 400_000;

/// One fetch's or socket's part of a ledger.
#[derive(Debug)]
pub(crate) struct Entry<K, T> {
    pub id: K,
    pub live: bool,
    /// Oldest first.
    pub items: VecDeque<T>,
    /// Items sent but no longer kept.
    pub dropped: u64,
    /// What the client asked for (a log fetch: its `query.filter`).
    pub filter: Option<serde_json::Value>,
}

impl<K, T> Entry<K, T> {
    /// Every item written, kept or not.
    pub fn sent(&self) -> u64 {
        self.items.len() as u64 + self.dropped
    }
}

/// The entries of one kind of socket, oldest first.
#[derive(Debug)]
pub(crate) struct Ledger<K, T> {
    max_entries: usize,
    max_items: usize,
    max_total: usize,
    /// Items kept in all entries.
    total: usize,
    entries: VecDeque<Entry<K, T>>,
    /// Entries evicted by newer ones.
    dropped_entries: u64,
}

impl<K: Copy + PartialEq, T> Default for Ledger<K, T> {
    fn default() -> Self {
        Ledger::new(MAX_ENTRIES, MAX_ITEMS, MAX_TOTAL_ITEMS)
    }
}

impl<K: Copy + PartialEq, T> Ledger<K, T> {
    pub fn new(max_entries: usize, max_items: usize, max_total: usize) -> Self {
        Ledger {
            max_entries: max_entries.max(1),
            max_items: max_items.max(1),
            max_total: max_total.max(1),
            total: 0,
            entries: VecDeque::new(),
            dropped_entries: 0,
        }
    }

    /// A new live entry; evicts the oldest ended one (else the oldest) when
    /// full.
    pub fn open(&mut self, id: K) {
        self.open_with(id, None);
    }

    /// [`Ledger::open`], noting the entry's `filter`.
    pub fn open_with(&mut self, id: K, filter: Option<serde_json::Value>) {
        if self.entries.len() >= self.max_entries {
            let victim = self.entries.iter().position(|e| !e.live).unwrap_or(0);
            if let Some(gone) = self.entries.remove(victim) {
                self.total -= gone.items.len();
            }
            self.dropped_entries += 1;
        }
        self.entries.push_back(Entry {
            id,
            live: true,
            items: VecDeque::new(),
            dropped: 0,
            filter,
        });
    }

    fn entry(&mut self, id: K) -> Option<&mut Entry<K, T>> {
        self.entries.iter_mut().rev().find(|e| e.id == id)
    }

    /// Items about to be written by entry `id`; returns how many went in (0
    /// when the entry was evicted).
    pub fn record(&mut self, id: K, items: impl IntoIterator<Item = T>) -> usize {
        let max = self.max_items;
        let Some(e) = self.entry(id) else {
            return 0;
        };
        let before = e.items.len();
        let mut n = 0;
        for it in items {
            if e.items.len() >= max {
                e.items.pop_front();
                e.dropped += 1;
            }
            e.items.push_back(it);
            n += 1;
        }
        let after = e.items.len();
        self.total = self.total + after - before;
        self.trim();
        n
    }

    /// Beyond `max_total`: the oldest items of the oldest entries go.
    fn trim(&mut self) {
        for e in &mut self.entries {
            if self.total <= self.max_total {
                return;
            }
            let k = (self.total - self.max_total).min(e.items.len());
            e.items.drain(..k);
            e.dropped += k as u64;
            self.total -= k;
        }
    }

    /// The last `n` items of `id` were not written after all.
    pub fn unrecord(&mut self, id: K, n: usize) {
        let Some(e) = self.entry(id) else {
            return;
        };
        let kept = n.min(e.items.len());
        e.items.truncate(e.items.len() - kept);
        e.dropped = e.dropped.saturating_sub((n - kept) as u64);
        self.total -= kept;
    }

    /// Entry `id` ended.
    pub fn close(&mut self, id: K) {
        if let Some(e) = self.entry(id) {
            e.live = false;
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry<K, T>> {
        self.entries.iter()
    }

    pub fn dropped_entries(&self) -> u64 {
        self.dropped_entries
    }
}

/// What one `current` log fetch wrote to its socket
/// ([`crate::SimServer::sent_logs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentFetch {
    /// The fetch id the client got in `success`.
    pub fetch: i64,
    /// Still running.
    pub live: bool,
    /// Records written, kept or not (`records.len() + dropped`).
    pub sent: u64,
    /// The records kept, in sending order: `(field id, value)` ascending by
    /// id, as an `id`-format record carries them.
    pub records: Vec<Vec<(u32, String)>>,
    /// Records written but no longer kept (beyond 200 000 per fetch or
    /// 400 000 in the whole ledger, the oldest first).
    pub dropped: u64,
    /// The fetch's `query.filter` as the client sent it (`None`: none).
    pub filter: Option<serde_json::Value>,
}

/// One element event a notification socket wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SentEvent {
    /// The subscription it was delivered for.
    pub subscription_id: u64,
    /// `host`, `network`, `router`, `single_fw`, …
    pub element_type: String,
    /// `create`, `update` or `delete` (`event.type`).
    pub action: String,
    /// `event.element`.
    pub href: String,
}

/// What one notification socket wrote
/// ([`crate::SimServer::sent_notifications`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentNotifications {
    /// The socket's number (1, 2, … in order of connection).
    pub socket: u64,
    /// Still open.
    pub live: bool,
    /// Events written, kept or not (`events.len() + dropped`).
    pub sent: u64,
    /// The events kept, in sending order.
    pub events: Vec<SentEvent>,
    /// Events written but no longer kept (beyond 200 000 per socket or
    /// 400 000 in the whole ledger, the oldest first).
    pub dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &Ledger<i64, u32>) -> Vec<(i64, bool, Vec<u32>, u64, u64)> {
        l.entries()
            .map(|e| {
                (
                    e.id,
                    e.live,
                    e.items.iter().copied().collect(),
                    e.dropped,
                    e.sent(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_record_close_and_stay_listed() {
        let mut l: Ledger<i64, u32> = Ledger::default();
        l.open(7);
        l.open(8);
        assert_eq!(l.record(7, [1, 2, 3]), 3);
        assert_eq!(l.record(8, [9]), 1);
        l.close(7);
        assert_eq!(l.record(99, [5]), 0);
        l.unrecord(8, 1);
        assert_eq!(
            items(&l),
            vec![(7, false, vec![1, 2, 3], 0, 3), (8, true, vec![], 0, 0)]
        );
    }

    #[test]
    fn bounds_drop_the_oldest_and_count_them() {
        let mut l: Ledger<i64, u32> = Ledger::new(3, 4, 100);
        l.open(1);
        assert_eq!(l.record(1, 0..6), 6);
        assert_eq!(items(&l), vec![(1, true, vec![2, 3, 4, 5], 2, 6)]);
        // A failed write of more than is kept takes the rest from `dropped`.
        l.unrecord(1, 5);
        assert_eq!(items(&l), vec![(1, true, vec![], 1, 1)]);
        l.open(2);
        l.open(3);
        l.close(2);
        // Full: the oldest ended entry goes first, then the oldest.
        l.open(4);
        assert_eq!(l.entries().map(|e| e.id).collect::<Vec<_>>(), vec![1, 3, 4]);
        l.open(5);
        assert_eq!(l.entries().map(|e| e.id).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(l.dropped_entries(), 2);
    }

    #[test]
    fn the_total_bound_drops_the_oldest_entries_items_first() {
        let mut l: Ledger<i64, u32> = Ledger::new(8, 100, 5);
        l.open(1);
        l.open(2);
        l.record(1, [1, 2, 3]);
        l.close(1);
        l.record(2, [4, 5]);
        assert_eq!(l.record(2, [6, 7, 8]), 3);
        assert_eq!(
            items(&l),
            vec![
                (1, false, vec![], 3, 3),
                (2, true, vec![4, 5, 6, 7, 8], 0, 5)
            ]
        );
        l.record(2, [9]);
        assert_eq!(items(&l)[1], (2, true, vec![5, 6, 7, 8, 9], 1, 6));
        // Taken back: room again, nothing more dropped.
        l.unrecord(2, 2);
        l.record(1, [10]);
        assert_eq!(
            items(&l),
            vec![(1, false, vec![10], 3, 4), (2, true, vec![5, 6, 7], 1, 4)]
        );
    }
}
