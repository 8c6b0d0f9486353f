//! The folding side of a session-socket subscription: the served table
//! and, during a (re)sync, the staging table (the kube-rs
//! `Init → InitApply → InitDone` pattern). After every (re)connect the
//! records are folded into the staging table while the previous one keeps
//! being served; when [`super::resync`] says the snapshot is complete, the
//! staging table replaces it in one step, so entries deleted during an
//! outage vanish and counts never dip. Outside a snapshot changes are
//! published at most every [`PUBLISH_INTERVAL`] ([`Pacer`]): publishing
//! re-reads every series of the table, so doing it per frame would cost
//! O(series) per frame at full ingest speed. A completed snapshot is
//! published at once; the staging table never is.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use smc_fold::{RecordFold, SeriesBudget, Table};
use smc_protocol::Records;

use crate::labels::GroupField;
use crate::smc::events::SubEvent;
use crate::smc::resync::Completion;
use crate::state::SubscriptionState;

/// Everything one subscription task needs.
#[derive(Debug, Clone)]
pub struct SubscriptionSpec {
    pub state: Arc<SubscriptionState>,
    /// In the order of `state.group_labels`.
    pub group_fields: Vec<GroupField>,
    /// `query.filter` (JSON form), from `[smc.filters]`.
    pub filter: Option<Arc<serde_json::Value>>,
    pub budget: Arc<SeriesBudget>,
}

/// Live changes reach `/metrics` at most this much later.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// When to publish live changes: at once if nothing was published within
/// [`PUBLISH_INTERVAL`], else when the interval is over. Pure; `now` is
/// passed in.
#[derive(Debug, Clone, Default)]
pub struct Pacer {
    last: Option<Instant>,
    pending: bool,
}

impl Pacer {
    /// Something changed at `now`: true if it is to be published now.
    pub fn changed(&mut self, now: Instant) -> bool {
        self.pending = true;
        self.due(now)
    }

    /// Whether pending changes are to be published at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.pending && self.last.is_none_or(|t| now >= t + PUBLISH_INTERVAL)
    }

    /// When pending changes are to be published. Before the first publish
    /// there is no deadline: [`Pacer::changed`] says "now" then.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.pending {
            return None;
        }
        Some(self.last? + PUBLISH_INTERVAL)
    }

    /// Whether anything changed since the last publish.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Published at `now`.
    pub fn published(&mut self, now: Instant) {
        self.pending = false;
        self.last = Some(now);
    }
}

/// See the module documentation.
pub struct Folder {
    pub spec: SubscriptionSpec,
    fold: RecordFold,
    live: Option<Table>,
    staging: Option<Table>,
    pacer: Pacer,
}

impl Folder {
    pub fn new(spec: SubscriptionSpec) -> Self {
        let picks: Vec<_> = spec.group_fields.iter().map(|g| g.pick()).collect();
        Folder {
            fold: RecordFold::new(&picks),
            spec,
            live: None,
            staging: None,
            pacer: Pacer::default(),
        }
    }

    pub fn st(&self) -> &SubscriptionState {
        &self.spec.state
    }

    /// The record fields the fold reads (decode only those).
    pub fn wanted(&self) -> &smc_protocol::FieldSet {
        self.fold.wanted()
    }

    /// A new connection's snapshot begins: fold into a fresh staging table.
    pub fn begin_snapshot(&mut self) {
        // The served table stays published but stops counting against the
        // family cap, so the snapshot can rebuild the same series.
        if let Some(live) = self.live.as_mut() {
            live.detach_budget();
        }
        self.staging = Some(self.new_table());
    }

    fn new_table(&self) -> Table {
        Table::new(self.spec.group_fields.len(), self.spec.budget.clone())
    }

    /// Fold one `records` message (at `now`): into the staging table during
    /// a snapshot, else into the served table, published when the pacer
    /// says so.
    pub fn fold(&mut self, now: Instant, records: &Records) {
        let (arity, budget) = (self.spec.group_fields.len(), &self.spec.budget);
        let table = match &mut self.staging {
            Some(t) => t,
            None => self
                .live
                .get_or_insert_with(|| Table::new(arity, budget.clone())),
        };
        let counts = self.fold.apply(table, records);
        SubEvent::Folded {
            added: records.added.len(),
            updated: records.updated.len(),
            deleted: records.deleted.len(),
            counts,
        }
        .emit(&self.spec.state);
        if self.staging.is_none() && self.pacer.changed(now) {
            self.publish(now);
        }
    }

    /// When live changes are due to be published, if any are pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pacer.next_deadline()
    }

    /// Publish pending live changes if they are due at `now`.
    pub fn on_deadline(&mut self, now: Instant) {
        if self.pacer.due(now) {
            self.publish(now);
        }
    }

    /// Publish pending live changes now (the connection ended: what was
    /// folded is served until the next snapshot replaces it).
    pub fn flush(&mut self, now: Instant) {
        if self.pacer.pending() {
            self.publish(now);
        }
    }

    /// The snapshot is complete: the staging table is served from now on.
    pub fn complete(&mut self, now: Instant, why: Completion) {
        if let Some(t) = self.staging.take() {
            // Replacing drops the previous table, which returns its series budget.
            self.live = Some(t);
            self.publish(now);
            let entries = self.st().published().entries;
            SubEvent::SnapshotComplete { why, entries }.emit(&self.spec.state);
        }
    }

    fn publish(&mut self, now: Instant) {
        if let Some(t) = &self.live {
            self.spec.state.publish(t.publish());
        }
        self.pacer.published(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_first_change_publishes_at_once_then_at_most_every_interval() {
        let t0 = Instant::now();
        let mut p = Pacer::default();
        assert_eq!(p.next_deadline(), None);
        assert!(p.changed(t0), "nothing published yet");
        p.published(t0);
        assert!(!p.pending() && p.next_deadline().is_none());
        assert!(!p.changed(t0 + 10 * MS), "10 ms after a publish: later");
        assert!(!p.changed(t0 + 50 * MS));
        assert_eq!(p.next_deadline(), Some(t0 + PUBLISH_INTERVAL));
        assert!(!p.due(t0 + 99 * MS));
        assert!(p.due(t0 + 100 * MS));
        p.published(t0 + 100 * MS);
        assert!(
            p.changed(t0 + 250 * MS),
            "a change after a quiet interval: at once"
        );
    }
}
