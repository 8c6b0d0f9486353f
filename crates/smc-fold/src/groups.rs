//! The series of one table: a slab of (labels, count) slots with a free list,
//! an intern index from label tuple to slot, and the budget slots they hold.

use std::sync::Arc;

use hashbrown::HashTable;

use super::SeriesBudget;
use crate::LabelValues;

/// A series id: an index into the slab. Recycled after the series empties.
pub(crate) type GroupId = u32;

#[derive(Debug)]
struct Slot {
    /// `None` while the slot is on the free list.
    labels: Option<LabelValues>,
    /// Keyed hash of `labels` (see [`super::key::hash_labels`]).
    hash: u64,
    /// Entries in this series; a live slot always has `count > 0`.
    count: u64,
}

/// Live series of one table. Every live series holds one slot of the budget;
/// dropping the set gives them all back.
#[derive(Debug)]
pub(crate) struct Groups {
    slots: Vec<Slot>,
    free: Vec<GroupId>,
    /// Live slot ids, hashed by their label hash.
    index: HashTable<GroupId>,
    budget: Arc<SeriesBudget>,
}

impl Groups {
    pub(crate) fn new(budget: Arc<SeriesBudget>) -> Self {
        Groups {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            budget,
        }
    }

    /// The live series whose labels equal `eq`'s idea of the target, if any.
    pub(crate) fn find(
        &self,
        hash: u64,
        mut eq: impl FnMut(&[Arc<str>]) -> bool,
    ) -> Option<GroupId> {
        let slots = &self.slots;
        self.index
            .find(hash, |&id| {
                slots
                    .get(id as usize)
                    .and_then(|s| s.labels.as_deref())
                    .is_some_and(|l| s_hash(slots, id) == hash && eq(l))
            })
            .copied()
    }

    pub(crate) fn labels(&self, id: GroupId) -> Option<&LabelValues> {
        self.slots.get(id as usize).and_then(|s| s.labels.as_ref())
    }

    pub(crate) fn count(&self, id: GroupId) -> u64 {
        self.slots.get(id as usize).map_or(0, |s| s.count)
    }

    /// Number of live series (= budget slots held).
    pub(crate) fn live(&self) -> usize {
        self.index.len()
    }

    /// One more entry in a live series.
    pub(crate) fn inc(&mut self, id: GroupId) {
        if let Some(s) = self.slots.get_mut(id as usize) {
            s.count += 1;
        }
    }

    /// One entry fewer; an emptied series is unindexed, its slot freed and
    /// its budget slot released.
    pub(crate) fn dec(&mut self, id: GroupId) {
        let Some(s) = self.slots.get_mut(id as usize) else {
            return;
        };
        s.count = s.count.saturating_sub(1);
        if s.count == 0 && s.labels.is_some() {
            s.labels = None;
            let hash = s.hash;
            if let Ok(e) = self.index.find_entry(hash, |&i| i == id) {
                e.remove();
            }
            self.free.push(id);
            self.budget.release(1);
        }
    }

    /// Create a series with one entry, if the budget allows.
    pub(crate) fn create(&mut self, hash: u64, labels: LabelValues) -> Option<GroupId> {
        if !self.budget.try_acquire() {
            return None;
        }
        let slot = Slot {
            labels: Some(labels),
            hash,
            count: 1,
        };
        let id = match self.free.pop() {
            Some(id) => match self.slots.get_mut(id as usize) {
                Some(s) => {
                    *s = slot;
                    id
                }
                None => return self.refuse(),
            },
            None => {
                // Ids stop short of u32::MAX, which the table uses as the
                // dropped sentinel.
                let Ok(id) = GroupId::try_from(self.slots.len()) else {
                    return self.refuse();
                };
                if id == GroupId::MAX {
                    return self.refuse();
                }
                self.slots.push(slot);
                id
            }
        };
        let slots = &self.slots;
        self.index.insert_unique(hash, id, |&i| s_hash(slots, i));
        Some(id)
    }

    /// Give a series new labels in place (used when its only entry moves to a
    /// series that does not exist yet: the budget slot carries over).
    pub(crate) fn relabel(&mut self, id: GroupId, hash: u64, labels: LabelValues) {
        let Some(s) = self.slots.get_mut(id as usize) else {
            return;
        };
        let old_hash = s.hash;
        s.labels = Some(labels);
        s.hash = hash;
        if let Ok(e) = self.index.find_entry(old_hash, |&i| i == id) {
            e.remove();
        }
        let slots = &self.slots;
        self.index.insert_unique(hash, id, |&i| s_hash(slots, i));
    }

    /// Count record values cut to become label values, in the family's budget.
    pub(crate) fn note_truncated(&self, n: u64) {
        self.budget.note_truncated(n);
    }

    /// Live series and their counts, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&LabelValues, u64)> {
        self.slots.iter().filter_map(|s| match &s.labels {
            Some(l) if s.count > 0 => Some((l, s.count)),
            _ => None,
        })
    }

    /// Bytes held on the heap by the slab and index (label strings excluded).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>()
            + self.free.capacity() * size_of::<GroupId>()
            + self.index.allocation_size()
    }

    fn refuse(&mut self) -> Option<GroupId> {
        self.budget.release(1);
        None
    }
}

fn s_hash(slots: &[Slot], id: GroupId) -> u64 {
    slots.get(id as usize).map_or(0, |s| s.hash)
}

impl Groups {
    /// Give every held slot back to the shared budget and continue against a
    /// private, unlimited one (see [`crate::Table::detach_budget`]).
    pub(crate) fn detach_budget(&mut self) {
        self.budget.release(self.index.len());
        self.budget = Arc::new(SeriesBudget::new(usize::MAX));
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        self.budget.release(self.index.len());
    }
}
