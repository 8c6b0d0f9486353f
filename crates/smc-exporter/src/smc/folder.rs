//! The folding side of a session-socket subscription: the served table
//! and, during a (re)sync, the staging table (the kube-rs
//! `Init → InitApply → InitDone` pattern). After every (re)connect the
//! records are folded into the staging table while the previous one keeps
//! being served; when [`super::resync`] says the snapshot is complete, the
//! staging table replaces it in one step, so entries deleted during an
//! outage vanish and counts never dip. Outside a snapshot every message is
//! published as soon as it is folded.

use std::sync::Arc;

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
    pub budget: Arc<SeriesBudget>,
}

/// See the module documentation.
pub struct Folder {
    pub spec: SubscriptionSpec,
    fold: RecordFold,
    live: Option<Table>,
    staging: Option<Table>,
}

impl Folder {
    pub fn new(spec: SubscriptionSpec) -> Self {
        let picks: Vec<_> = spec.group_fields.iter().map(|g| g.pick()).collect();
        Folder {
            fold: RecordFold::new(&picks),
            spec,
            live: None,
            staging: None,
        }
    }

    pub fn st(&self) -> &SubscriptionState {
        &self.spec.state
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

    /// Fold one `records` message: into the staging table during a
    /// snapshot, else into the served table, published at once.
    pub fn fold(&mut self, records: &Records) {
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
        if self.staging.is_none() {
            self.publish();
        }
    }

    /// The snapshot is complete: the staging table is served from now on.
    pub fn complete(&mut self, why: Completion) {
        if let Some(t) = self.staging.take() {
            // Replacing drops the previous table, which returns its series budget.
            self.live = Some(t);
            self.publish();
            let entries = self.st().published().entries;
            SubEvent::SnapshotComplete { why, entries }.emit(&self.spec.state);
        }
    }

    fn publish(&self) {
        if let Some(t) = &self.live {
            self.spec.state.publish(t.publish());
        }
    }
}
