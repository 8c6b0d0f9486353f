//! The fold table: entries keyed by `delta_key`, counted per series.
//!
//! See [`Table`] for the layout, the collision trade-off and the series cap.

use std::fmt;
use std::sync::Arc;

use hashbrown::HashTable;

use super::SeriesBudget;
use super::groups::{GroupId, Groups};
use super::key::{KeyHash, hash_labels};
use super::label::{MAX_LABEL_VALUE_BYTES, cap_label_value};
use crate::{LabelValues, Published};
use smc_protocol::Change;

/// One record's effect on the table. `values` has one slot per group label;
/// `None` means the record did not carry that field. A value longer than
/// [`MAX_LABEL_VALUE_BYTES`](super::MAX_LABEL_VALUE_BYTES) is cut to it.
#[derive(Debug, Clone, Copy)]
pub struct Delta<'a> {
    pub change: Change,
    pub key: &'a str,
    pub values: &'a [Option<&'a str>],
}

/// What applying a delta did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new entry (an `added`, or an `updated` of an unknown key).
    Inserted,
    /// An `added` of a known key whose series changed.
    Replaced,
    /// An `updated` of a known key whose series changed.
    Moved,
    /// A known key whose series stayed the same.
    Unchanged,
    /// A `deleted` of a known key.
    Removed,
    /// A `deleted` of a key the table does not hold: nothing changed.
    UnknownDelete,
}

/// The sentinel group of entries whose series the budget refused.
const DROPPED: GroupId = GroupId::MAX;

/// One tracked entry: the key's fingerprint and its series.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: KeyHash,
    group: GroupId,
}

const _: () = assert!(size_of::<Entry>() == 16);

/// Entries keyed by `delta_key`, counted per series.
///
/// # Layout
///
/// A table holds two structures:
///
/// * **entries**: a [`hashbrown::HashTable`] of 16-byte slots, each the 96-bit
///   keyed fingerprint of a `delta_key` (see `src/key.rs`) and the id of the
///   series the entry counts in. The key string itself is never stored.
/// * **series** (`src/groups.rs`): a slab of `(labels, count)` slots with a
///   free list, and an intern index from label tuple to slot. Entries point to
///   series by a `u32` id, so label strings exist once per series.
///
/// The entry table costs 17 bytes per bucket (16-byte slot + 1 control byte)
/// and keeps its buckets at most 7/8 full in a power of two, so between about
/// 19.4 (just before growing) and 38.9 (just after) bytes per entry: 35.7 at
/// 1,000,000 entries (2²¹ buckets). While it grows, the old and new bucket
/// arrays coexist for a moment: 3 × 17 / (7/8) ≈ 58.3 bytes per entry at
/// most, at any size (53.5 at the 1M peak, the doubling from 2²⁰ buckets at
/// 917,505 entries). The series side costs per series, not per entry.
/// `benches/fold_memory.rs` measures all of this and fails above 64 bytes per
/// entry, steady or peak.
///
/// A `(u128, u32)` slot would be 32 bytes (u128 is 16-byte aligned) and all
/// 128 bits as `[u32; 4]` 20 (44 bytes per entry at 1M, 66 at the growth
/// peak); 96 bits as `[u32; 3]` make it 16.
///
/// # Fingerprint collisions
///
/// Two distinct keys with the same fingerprint would be taken for one entry:
/// the second `added` would replace the first, and the table would count one
/// entry fewer until the next resync. With a per-process random secret the
/// fingerprints behave like random 96-bit values, so the chance of any
/// collision among `n` live keys is about `n² / 2⁹⁷`: for a million
/// connections, about 6.3·10⁻¹⁸ per table state. Over time: each insert into
/// a table of `n` keys collides with probability `n / 2⁹⁶` (1.3·10⁻²³ at a
/// million), so a year of a million inserts a second into a table that
/// always holds a million keys (3·10¹³ inserts) collides with probability
/// about 4·10⁻¹⁰. An attacker cannot steer it
/// because the secret is unknown and differs per process. This is the price of
/// not storing keys (a 28-character key alone would cost more than the whole
/// slot); it is far below the hardware's own memory error rate.
///
/// # Series cap
///
/// Creating a series takes one slot of the family's [`SeriesBudget`]. When
/// the budget refuses, the entry is still tracked (its later delete is not
/// "unknown", and [`Table::len`] counts it) but in the *dropped* sentinel
/// group, which is never published and does not remember labels. A dropped
/// entry leaves the sentinel when an `added` or `updated` record resolves it
/// to a series that exists (it joins it) or that the budget now admits. An
/// `updated` record that lacks some label field cannot be resolved for a
/// dropped entry (its previous labels are unknown), so the entry stays
/// dropped. Dropping a table releases its series back to the budget.
pub struct Table {
    arity: usize,
    entries: HashTable<Entry>,
    groups: Groups,
    /// Entries in the dropped sentinel group.
    dropped: usize,
    /// Shared `""` for fields a record did not carry.
    empty: Arc<str>,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("arity", &self.arity)
            .field("entries", &self.entries.len())
            .field("series", &self.groups.live())
            .field("dropped_entries", &self.dropped)
            .finish()
    }
}

/// Where a record's label values come from: the record's fields, and for
/// fields it lacks either the entry's previous labels or `""`.
struct Target<'a> {
    values: &'a [Option<&'a str>],
    base: Option<&'a [Arc<str>]>,
    arity: usize,
}

impl<'a> Target<'a> {
    /// The record's value for label `i`, cut to the length cap.
    fn value(&self, i: usize) -> Option<&'a str> {
        self.values.get(i).copied().flatten().map(cap_label_value)
    }

    fn slot(&self, i: usize) -> &'a str {
        match self.value(i) {
            Some(v) => v,
            None => self.base.and_then(|b| b.get(i)).map_or("", |s| &**s),
        }
    }

    fn slots(&self) -> impl Iterator<Item = &'a str> + '_ {
        (0..self.arity).map(|i| self.slot(i))
    }

    fn hash(&self) -> u64 {
        hash_labels(self.slots())
    }

    fn matches(&self, labels: &[Arc<str>]) -> bool {
        labels.len() == self.arity && labels.iter().zip(self.slots()).all(|(l, s)| **l == *s)
    }

    /// True when every label comes from the record or `""`, not from an
    /// unknown previous value.
    fn is_complete(&self) -> bool {
        self.base.is_some()
            || (0..self.arity).all(|i| self.values.get(i).copied().flatten().is_some())
    }

    fn build(&self, empty: &Arc<str>) -> LabelValues {
        (0..self.arity)
            .map(|i| {
                let prev = self.base.and_then(|b| b.get(i));
                match self.value(i) {
                    // Reuse the previous string when the value did not change.
                    Some(v) => match prev {
                        Some(p) if **p == *v => p.clone(),
                        _ if v.is_empty() => empty.clone(),
                        _ => Arc::from(v),
                    },
                    None => prev.cloned().unwrap_or_else(|| empty.clone()),
                }
            })
            .collect()
    }
}

impl Table {
    /// An empty table whose series have `arity` labels and take their slots
    /// from `budget`.
    pub fn new(arity: usize, budget: Arc<SeriesBudget>) -> Self {
        Table {
            arity,
            entries: HashTable::new(),
            groups: Groups::new(budget),
            dropped: 0,
            empty: Arc::from(""),
        }
    }

    /// Make room for `additional` more entries (e.g. a snapshot's size).
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional, |e| e.key.table_hash());
    }

    /// Apply one record.
    pub fn apply(&mut self, delta: Delta<'_>) -> Outcome {
        if delta.change != Change::Deleted {
            self.count_truncations(delta.values);
        }
        let key = KeyHash::of(delta.key);
        let hash = key.table_hash();
        if delta.change == Change::Deleted {
            return match self.entries.find_entry(hash, |e| e.key == key) {
                Ok(occupied) => {
                    let (entry, _) = occupied.remove();
                    self.leave(entry.group);
                    Outcome::Removed
                }
                Err(_) => Outcome::UnknownDelete,
            };
        }
        let Some(old) = self.entries.find(hash, |e| e.key == key).map(|e| e.group) else {
            let group = self.enter(Target {
                values: delta.values,
                base: None,
                arity: self.arity,
            });
            self.entries
                .insert_unique(hash, Entry { key, group }, |e| e.key.table_hash());
            return Outcome::Inserted;
        };
        let keep_absent = delta.change == Change::Updated;
        let Some(new) = self.retarget(old, delta.values, keep_absent) else {
            return Outcome::Unchanged;
        };
        if new != old {
            if let Some(e) = self.entries.find_mut(hash, |e| e.key == key) {
                e.group = new;
            }
        }
        match delta.change {
            Change::Added => Outcome::Replaced,
            _ => Outcome::Moved,
        }
    }

    /// Tracked entries, including those in the dropped group.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Label arity of this table's series.
    pub fn arity(&self) -> usize {
        self.arity
    }

    /// Return this table's series slots to the family budget, for a table
    /// that is about to be replaced: during a resync the old table keeps being
    /// served while the staging table is built, and both holding slots would
    /// count every series twice and make a family near its cap drop series on
    /// each reconnect. A detached table must not be folded into any more.
    pub fn detach_budget(&mut self) {
        self.groups.detach_budget();
    }

    /// Number of published series (each holds one budget slot).
    pub fn series(&self) -> usize {
        self.groups.live()
    }

    /// Entries tracked in the dropped group (their series was refused by the
    /// budget); they are counted by [`Table::len`] but never published.
    pub fn dropped_entries(&self) -> usize {
        self.dropped
    }

    /// Heap bytes of the table's own structures (entry table, series slab and
    /// index; the label strings, shared with published snapshots, excluded).
    pub fn heap_bytes(&self) -> usize {
        self.entries.allocation_size() + self.groups.heap_bytes()
    }

    /// Series with a non-zero count, in no particular order.
    pub fn groups(&self) -> impl Iterator<Item = (&LabelValues, u64)> {
        self.groups.iter()
    }

    /// An immutable snapshot for the state store.
    pub fn publish(&self) -> Published {
        Published {
            groups: self.groups().map(|(l, c)| (l.clone(), c)).collect(),
            entries: self.len() as u64,
        }
    }

    /// Count the record's values that will be cut to the length cap.
    fn count_truncations(&self, values: &[Option<&str>]) {
        let cut = values
            .iter()
            .take(self.arity)
            .flatten()
            .filter(|v| v.len() > MAX_LABEL_VALUE_BYTES)
            .count();
        if cut > 0 {
            self.groups.note_truncated(cut as u64);
        }
    }

    /// The group a new entry joins: an existing series, a new one, or the
    /// dropped group.
    fn enter(&mut self, target: Target<'_>) -> GroupId {
        let hash = target.hash();
        if let Some(id) = self.groups.find(hash, |l| target.matches(l)) {
            self.groups.inc(id);
            return id;
        }
        let labels = target.build(&self.empty);
        match self.groups.create(hash, labels) {
            Some(id) => id,
            None => {
                self.dropped += 1;
                DROPPED
            }
        }
    }

    /// An entry leaves its group.
    fn leave(&mut self, group: GroupId) {
        if group == DROPPED {
            self.dropped = self.dropped.saturating_sub(1);
        } else {
            self.groups.dec(group);
        }
    }

    /// Re-resolve a known entry's series from a record. `None` when the
    /// series stays the same; otherwise the (possibly equal, if relabelled in
    /// place) id of its new group.
    fn retarget(
        &mut self,
        old: GroupId,
        values: &[Option<&str>],
        keep_absent: bool,
    ) -> Option<GroupId> {
        // Clone the Arc (a refcount) so the target can borrow it while the
        // series set changes.
        let old_labels = self.groups.labels(old).cloned();
        let target = Target {
            values,
            base: if keep_absent {
                old_labels.as_deref()
            } else {
                None
            },
            arity: self.arity,
        };
        if old == DROPPED {
            if keep_absent && !target.is_complete() {
                // Previous labels unknown: cannot resolve, stays dropped.
                return None;
            }
        } else if old_labels.as_deref().is_some_and(|l| target.matches(l)) {
            return None;
        }
        let hash = target.hash();
        if let Some(id) = self.groups.find(hash, |l| target.matches(l)) {
            self.groups.inc(id);
            self.leave(old);
            return Some(id);
        }
        let labels = target.build(&self.empty);
        if old != DROPPED && self.groups.count(old) == 1 {
            // Its only entry moves to a series that does not exist yet: the
            // series takes the new labels and keeps its budget slot.
            self.groups.relabel(old, hash, labels);
            return Some(old);
        }
        match self.groups.create(hash, labels) {
            Some(id) => {
                self.leave(old);
                Some(id)
            }
            None if old == DROPPED => None,
            None => {
                self.leave(old);
                self.dropped += 1;
                Some(DROPPED)
            }
        }
    }
}
