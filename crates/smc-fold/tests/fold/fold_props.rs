//! Property tests: any sequence of deltas leaves the table with the counts a
//! simple model recomputes from its final state.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use smc_fold::{Change, Delta, Outcome, SeriesBudget, Table};

#[derive(Debug, Clone)]
struct Op {
    change: Change,
    key: u8,
    values: Vec<Option<&'static str>>,
}

const ALPHABET: [&str; 4] = ["a", "b", "", "TCP established"];

fn op(arity: usize) -> impl Strategy<Value = Op> {
    let change = prop_oneof![
        Just(Change::Added),
        Just(Change::Updated),
        Just(Change::Deleted)
    ];
    let value = proptest::option::weighted(0.7, proptest::sample::select(&ALPHABET[..]));
    (
        change,
        0u8..20,
        proptest::collection::vec(value, arity),
        any::<bool>(),
    )
        .prop_map(|(change, key, values, bare_delete)| Op {
            change,
            key,
            // A deleted record may carry only its delta_key.
            values: if change == Change::Deleted && bare_delete {
                Vec::new()
            } else {
                values
            },
        })
}

fn case() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (1usize..=3).prop_flat_map(|arity| (Just(arity), proptest::collection::vec(op(arity), 0..200)))
}

/// The reference semantics: a map from key to labels.
#[derive(Default)]
struct Model {
    rows: BTreeMap<u8, Vec<String>>,
}

impl Model {
    fn apply(&mut self, op: &Op, arity: usize) -> Outcome {
        let fresh = || {
            (0..arity)
                .map(|i| op.values[i].unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        match op.change {
            Change::Deleted => match self.rows.remove(&op.key) {
                Some(_) => Outcome::Removed,
                None => Outcome::UnknownDelete,
            },
            Change::Added => match self.rows.insert(op.key, fresh()) {
                None => Outcome::Inserted,
                Some(prev) if prev == self.rows[&op.key] => Outcome::Unchanged,
                Some(_) => Outcome::Replaced,
            },
            Change::Updated => match self.rows.get_mut(&op.key) {
                None => {
                    self.rows.insert(op.key, fresh());
                    Outcome::Inserted
                }
                Some(row) => {
                    let next: Vec<String> = (0..arity)
                        .map(|i| op.values[i].map_or_else(|| row[i].clone(), str::to_string))
                        .collect();
                    if next == *row {
                        Outcome::Unchanged
                    } else {
                        *row = next;
                        Outcome::Moved
                    }
                }
            },
        }
    }

    fn counts(&self) -> BTreeMap<Vec<String>, u64> {
        let mut out = BTreeMap::new();
        for labels in self.rows.values() {
            *out.entry(labels.clone()).or_insert(0) += 1;
        }
        out
    }
}

fn key(k: u8) -> String {
    // Realistic-looking keys that differ only near the end.
    format!("AAAAAAAAAAAAAAAAAAAAAAAAA{k:03}")
}

fn apply(t: &mut Table, op: &Op) -> Outcome {
    let values: Vec<Option<&str>> = op.values.clone();
    t.apply(Delta {
        change: op.change,
        key: &key(op.key),
        values: &values,
    })
}

/// Published series as strings; fails on a duplicate series or a zero count.
fn table_counts(t: &Table) -> Result<BTreeMap<Vec<String>, u64>, TestCaseError> {
    let mut out = BTreeMap::new();
    for (labels, n) in t.groups() {
        prop_assert!(n > 0, "zero count in output");
        let k: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        prop_assert!(out.insert(k, n).is_none(), "series listed twice");
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// With room for every series the table is exact, step by step.
    #[test]
    fn table_matches_model((arity, ops) in case()) {
        let budget = Arc::new(SeriesBudget::new(10_000));
        let mut table = Table::new(arity, budget.clone());
        let mut model = Model::default();
        for op in &ops {
            let expected = model.apply(op, arity);
            let got = apply(&mut table, op);
            prop_assert_eq!(got, expected, "outcome of {:?}", op);
            prop_assert_eq!(table.len(), model.rows.len());
            prop_assert_eq!(table_counts(&table)?, model.counts());
            prop_assert_eq!(budget.used(), table.groups().count());
            prop_assert_eq!(table.dropped_entries(), 0);
        }
        let published = table.publish();
        prop_assert_eq!(published.entries, model.rows.len() as u64);
        prop_assert_eq!(published.groups.len(), model.counts().len());
        drop(table);
        prop_assert_eq!(budget.used(), 0);
    }

    /// With a small cap: published series stay within the cap, every entry
    /// is either published or in the dropped group, published series never
    /// overcount, and dropping the table gives the budget back.
    #[test]
    fn cap_is_respected((arity, ops) in case(), cap in 0usize..4) {
        let budget = Arc::new(SeriesBudget::new(cap));
        let mut table = Table::new(arity, budget.clone());
        let mut model = Model::default();
        for op in &ops {
            let expected = model.apply(op, arity);
            let got = apply(&mut table, op);
            // Whether a key is known does not depend on the cap.
            prop_assert_eq!(
                got == Outcome::UnknownDelete,
                expected == Outcome::UnknownDelete
            );
            prop_assert_eq!(got == Outcome::Removed, expected == Outcome::Removed);
            let counts = table_counts(&table)?;
            prop_assert!(counts.len() <= cap);
            prop_assert_eq!(budget.used(), counts.len());
            prop_assert_eq!(table.len(), model.rows.len());
            let published: u64 = counts.values().sum();
            prop_assert_eq!(published + table.dropped_entries() as u64, table.len() as u64);
            let truth = model.counts();
            for (labels, n) in &counts {
                let real = truth.get(labels).copied().unwrap_or(0);
                prop_assert!(*n <= real, "series {:?} counts {} but only {} exist", labels, n, real);
            }
        }
        drop(table);
        prop_assert_eq!(budget.used(), 0);
    }

    /// Two tables sharing one budget (a family across subscriptions) and a
    /// resync replacing one of them.
    #[test]
    fn shared_budget_is_returned((arity, ops) in case(), cap in 1usize..6) {
        let budget = Arc::new(SeriesBudget::new(cap));
        let mut a = Table::new(arity, budget.clone());
        let mut b = Table::new(arity, budget.clone());
        for (i, op) in ops.iter().enumerate() {
            let t = if i % 2 == 0 { &mut a } else { &mut b };
            apply(t, op);
            prop_assert_eq!(budget.used(), a.series() + b.series());
            prop_assert!(budget.used() <= cap);
        }
        // Resync of `a`: a new table replaces it.
        let mut fresh = Table::new(arity, budget.clone());
        for op in ops.iter().filter(|o| o.change == Change::Added) {
            apply(&mut fresh, op);
        }
        a = fresh;
        prop_assert_eq!(budget.used(), a.series() + b.series());
        drop(a);
        drop(b);
        prop_assert_eq!(budget.used(), 0);
    }
}
