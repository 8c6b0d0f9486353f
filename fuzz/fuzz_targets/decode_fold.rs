//! Frames decoded and folded the way a subscription folds them.
//!
//! Input: UTF-8 text, one frame per line. Each line goes through
//! `smc_protocol::decode_fields` with the fold's field set, as a subscription
//! decodes; every `Records` message is applied with
//! [`RecordFold::apply`] (smc-fold), the function the exporter's
//! subscriptions call, to a table
//! with four labels (node, protocol, state and an alert severity with its
//! transform) and a series budget of [`CAP`], small enough that the cap is
//! reached. A `Started` message begins a resync the way a reconnect does: the
//! served table detaches from the budget and a new staging table is built; an
//! `End` message swaps the staging table in (the subscription's own rules for
//! when a snapshot is complete are not modelled: they decide when to swap,
//! not how a record is folded).
//!
//! Checked after every message, against a model (the set of live keys):
//! * the table holds exactly the live keys, so never more than the distinct
//!   keys added;
//! * `unknown_deletes` / `missing_keys` count exactly what the model predicts;
//! * series ≤ `CAP`; the budget in use equals the attached table's series;
//!   the series counts plus the dropped entries add up to the entries;
//! * deleting every live key empties the table and frees every series, and
//!   dropping the tables returns the whole budget.

#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use smc_fold::{FieldPick, FoldCounts, RecordFold, SeriesBudget, Table, Transform};
use std::borrow::Cow;

use smc_protocol::{Change, Records, ServerMessage};

const CAP: usize = 4;

/// CONNECTIONS' node (4), protocol (11) and state (116), and an
/// ACTIVE_ALERTS severity (602) with its transform: the exporter's
/// `group_by` labels of those names.
fn group_fields() -> [FieldPick; 4] {
    let as_is = |field| FieldPick {
        field,
        transform: Transform::AsIs,
    };
    [
        as_is(4),
        as_is(11),
        as_is(116),
        FieldPick {
            field: 602,
            transform: Transform::Severity,
        },
    ]
}

/// A table and the keys it should hold.
struct Tracked {
    table: Table,
    live: HashSet<String>,
}

impl Tracked {
    fn new(budget: &Arc<SeriesBudget>) -> Self {
        Tracked {
            table: Table::new(4, budget.clone()),
            live: HashSet::new(),
        }
    }

    /// Fold `records` and check the result against the model.
    fn fold(&mut self, fold: &RecordFold, records: &Records<'_>) {
        let mut expected = FoldCounts::default();
        let lists = [&records.added, &records.updated, &records.deleted];
        for (i, list) in lists.into_iter().enumerate() {
            for rec in list {
                match (rec.delta_key.as_deref(), i) {
                    (None, _) => expected.missing_keys += 1,
                    (Some(k), 2) => {
                        if !self.live.remove(k) {
                            expected.unknown_deletes += 1;
                        }
                    }
                    (Some(k), _) => {
                        self.live.insert(k.to_owned());
                    }
                }
            }
        }
        let counts = fold.apply(&mut self.table, records);
        assert_eq!(counts, expected);
        self.check();
    }

    fn check(&self) {
        let t = &self.table;
        assert_eq!(t.len(), self.live.len());
        assert_eq!(t.is_empty(), self.live.is_empty());
        assert!(t.series() <= CAP, "{} series above the cap", t.series());
        let mut counted = 0u64;
        let mut series = 0usize;
        for (labels, count) in t.groups() {
            assert_eq!(labels.len(), 4);
            assert!(count > 0);
            counted += count;
            series += 1;
        }
        assert_eq!(series, t.series());
        assert_eq!(counted as usize + t.dropped_entries(), t.len());
        let published = t.publish();
        assert_eq!(published.entries as usize, t.len());
        assert_eq!(published.groups.len(), series);
    }

    /// Delete every live key through the same fold path.
    fn drain(&mut self, fold: &RecordFold) {
        let mut keys: Vec<String> = self.live.iter().cloned().collect();
        keys.sort();
        let mut records = Records::default();
        for k in keys {
            records.push(Change::Deleted, Some(Cow::Owned(k)), None, []);
        }
        self.fold(fold, &records);
        assert!(self.table.is_empty());
        assert_eq!(self.table.series(), 0);
        assert_eq!(self.table.dropped_entries(), 0);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fields = group_fields();
    let fold = RecordFold::new(&fields);
    let budget = Arc::new(SeriesBudget::new(CAP));
    let mut live = Tracked::new(&budget);
    // The previous table, detached from the budget, while a resync runs.
    let mut staging: Option<Tracked> = None;
    for frame in text.lines() {
        match smc_protocol::decode_fields(frame, fold.wanted()) {
            Ok(ServerMessage::Records { records, .. }) => {
                staging.as_mut().unwrap_or(&mut live).fold(&fold, &records)
            }
            Ok(ServerMessage::Started { .. }) => {
                // As `begin_snapshot`: the served table detaches (again, if
                // a resync was already running) and a new staging table
                // replaces any unfinished one, which returns its series.
                live.table.detach_budget();
                staging = Some(Tracked::new(&budget));
            }
            Ok(ServerMessage::End { .. }) => {
                // Replacing drops the detached table.
                live = staging.take().unwrap_or(live);
            }
            _ => {}
        }
        let attached = staging.as_ref().unwrap_or(&live);
        assert_eq!(budget.used(), attached.table.series());
    }
    // The detached table must still fold correctly; drain both.
    if let Some(mut s) = staging.take() {
        s.drain(&fold);
        assert_eq!(budget.used(), 0);
    }
    live.drain(&fold);
    drop(live);
    assert_eq!(budget.used(), 0);
});
