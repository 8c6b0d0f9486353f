//! Unit tests of the fold table's delta semantics and series cap.

use std::collections::BTreeMap;
use std::sync::Arc;

use smc_fold::{Change, Delta, Outcome, SeriesBudget, Table};

fn budget(cap: usize) -> Arc<SeriesBudget> {
    Arc::new(SeriesBudget::new(cap))
}

fn add(t: &mut Table, key: &str, values: &[Option<&str>]) -> Outcome {
    t.apply(Delta {
        change: Change::Added,
        key,
        values,
    })
}

fn upd(t: &mut Table, key: &str, values: &[Option<&str>]) -> Outcome {
    t.apply(Delta {
        change: Change::Updated,
        key,
        values,
    })
}

fn del(t: &mut Table, key: &str) -> Outcome {
    t.apply(Delta {
        change: Change::Deleted,
        key,
        values: &[],
    })
}

/// The published series as plain strings.
fn counts(t: &Table) -> BTreeMap<Vec<String>, u64> {
    let mut out = BTreeMap::new();
    for (labels, n) in t.groups() {
        let k: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        assert!(out.insert(k, n).is_none(), "a series is listed twice");
    }
    out
}

fn series(list: &[(&[&str], u64)]) -> BTreeMap<Vec<String>, u64> {
    list.iter()
        .map(|(l, n)| (l.iter().map(|s| s.to_string()).collect(), *n))
        .collect()
}

#[test]
fn added_inserts_and_counts_per_series() {
    let b = budget(100);
    let mut t = Table::new(2, b.clone());
    assert!(t.is_empty());
    assert_eq!(
        add(&mut t, "k1", &[Some("TCP"), Some("est")]),
        Outcome::Inserted
    );
    assert_eq!(
        add(&mut t, "k2", &[Some("TCP"), Some("est")]),
        Outcome::Inserted
    );
    assert_eq!(add(&mut t, "k3", &[Some("UDP"), None]), Outcome::Inserted);
    assert_eq!(t.len(), 3);
    assert!(!t.is_empty());
    assert_eq!(
        counts(&t),
        series(&[(&["TCP", "est"], 2), (&["UDP", ""], 1)])
    );
    assert_eq!(b.used(), 2);
    assert_eq!(t.series(), 2);
}

#[test]
fn added_of_known_key_replaces() {
    let b = budget(100);
    let mut t = Table::new(2, b.clone());
    add(&mut t, "k1", &[Some("TCP"), Some("est")]);
    add(&mut t, "k2", &[Some("TCP"), Some("est")]);
    assert_eq!(
        add(&mut t, "k1", &[Some("TCP"), Some("est")]),
        Outcome::Unchanged
    );
    // A replace does not keep absent fields: they become "".
    assert_eq!(add(&mut t, "k1", &[Some("UDP"), None]), Outcome::Replaced);
    assert_eq!(t.len(), 2);
    assert_eq!(
        counts(&t),
        series(&[(&["TCP", "est"], 1), (&["UDP", ""], 1)])
    );
    // Replacing the only entry of a series empties it.
    assert_eq!(
        add(&mut t, "k1", &[Some("TCP"), Some("est")]),
        Outcome::Replaced
    );
    assert_eq!(counts(&t), series(&[(&["TCP", "est"], 2)]));
    assert_eq!(b.used(), 1);
}

#[test]
fn updated_keeps_absent_fields() {
    let b = budget(100);
    let mut t = Table::new(3, b.clone());
    add(&mut t, "k1", &[Some("fw1"), Some("TCP"), Some("syn")]);
    add(&mut t, "k2", &[Some("fw1"), Some("TCP"), Some("syn")]);
    assert_eq!(
        upd(&mut t, "k1", &[None, None, Some("est")]),
        Outcome::Moved
    );
    assert_eq!(
        counts(&t),
        series(&[(&["fw1", "TCP", "syn"], 1), (&["fw1", "TCP", "est"], 1)])
    );
    assert_eq!(upd(&mut t, "k1", &[None, None, None]), Outcome::Unchanged);
    assert_eq!(
        upd(&mut t, "k1", &[Some("fw1"), None, Some("est")]),
        Outcome::Unchanged
    );
    // Moving the only entry of a series to a new series.
    assert_eq!(
        upd(&mut t, "k1", &[None, Some("UDP"), None]),
        Outcome::Moved
    );
    assert_eq!(
        counts(&t),
        series(&[(&["fw1", "TCP", "syn"], 1), (&["fw1", "UDP", "est"], 1)])
    );
    // Moving into an existing series empties the old one.
    assert_eq!(
        upd(&mut t, "k2", &[None, Some("UDP"), Some("est")]),
        Outcome::Moved
    );
    assert_eq!(counts(&t), series(&[(&["fw1", "UDP", "est"], 2)]));
    assert_eq!(b.used(), 1);
    assert_eq!(t.len(), 2);
}

#[test]
fn updated_of_unknown_key_upserts() {
    let b = budget(100);
    let mut t = Table::new(2, b.clone());
    assert_eq!(upd(&mut t, "k1", &[None, Some("est")]), Outcome::Inserted);
    assert_eq!(t.len(), 1);
    assert_eq!(counts(&t), series(&[(&["", "est"], 1)]));
}

#[test]
fn deleted_removes_and_empties_series() {
    let b = budget(100);
    let mut t = Table::new(1, b.clone());
    add(&mut t, "k1", &[Some("a")]);
    add(&mut t, "k2", &[Some("a")]);
    add(&mut t, "k3", &[Some("b")]);
    assert_eq!(del(&mut t, "k3"), Outcome::Removed);
    assert_eq!(counts(&t), series(&[(&["a"], 2)]));
    assert_eq!(b.used(), 1);
    // Values on a delete are ignored.
    assert_eq!(
        t.apply(Delta {
            change: Change::Deleted,
            key: "k1",
            values: &[Some("zzz")]
        }),
        Outcome::Removed
    );
    assert_eq!(del(&mut t, "k2"), Outcome::Removed);
    assert!(t.is_empty());
    assert_eq!(t.groups().count(), 0);
    assert_eq!(t.publish().groups.len(), 0);
    assert_eq!(b.used(), 0);
}

#[test]
fn unknown_delete_changes_nothing() {
    let b = budget(100);
    let mut t = Table::new(1, b.clone());
    add(&mut t, "k1", &[Some("a")]);
    assert_eq!(del(&mut t, "nope"), Outcome::UnknownDelete);
    assert_eq!(del(&mut t, "k1"), Outcome::Removed);
    assert_eq!(del(&mut t, "k1"), Outcome::UnknownDelete);
    assert_eq!(t.len(), 0);
    assert_eq!(counts(&t), series(&[]));
    assert_eq!(b.used(), 0);
}

#[test]
fn short_values_count_as_absent() {
    let b = budget(100);
    let mut t = Table::new(3, b);
    add(&mut t, "k1", &[Some("x")]);
    assert_eq!(counts(&t), series(&[(&["x", "", ""], 1)]));
    assert_eq!(upd(&mut t, "k1", &[None, Some("y")]), Outcome::Moved);
    assert_eq!(counts(&t), series(&[(&["x", "y", ""], 1)]));
}

#[test]
fn publish_reports_groups_and_entries() {
    let b = budget(1);
    let mut t = Table::new(1, b);
    add(&mut t, "k1", &[Some("a")]);
    add(&mut t, "k2", &[Some("a")]);
    add(&mut t, "k3", &[Some("b")]); // refused: dropped
    let p = t.publish();
    assert_eq!(p.entries, 3);
    assert_eq!(p.groups.len(), 1);
    assert_eq!(&*p.groups[0].0[0], "a");
    assert_eq!(p.groups[0].1, 2);
}

#[test]
fn cap_tracks_refused_entries_in_the_dropped_group() {
    let b = budget(2);
    let mut t = Table::new(1, b.clone());
    assert_eq!(add(&mut t, "k1", &[Some("a")]), Outcome::Inserted);
    assert_eq!(add(&mut t, "k2", &[Some("b")]), Outcome::Inserted);
    assert_eq!(add(&mut t, "k3", &[Some("c")]), Outcome::Inserted);
    assert_eq!(b.used(), 2);
    assert_eq!(b.dropped(), 1);
    assert_eq!(t.len(), 3);
    assert_eq!(t.dropped_entries(), 1);
    assert_eq!(counts(&t), series(&[(&["a"], 1), (&["b"], 1)]));
    // Its delete is known.
    assert_eq!(del(&mut t, "k3"), Outcome::Removed);
    assert_eq!(t.dropped_entries(), 0);
    assert_eq!(t.len(), 2);
}

#[test]
fn dropped_entry_joins_an_existing_series_on_update() {
    let b = budget(1);
    let mut t = Table::new(2, b.clone());
    add(&mut t, "k1", &[Some("a"), Some("x")]);
    add(&mut t, "k2", &[Some("b"), Some("x")]); // dropped
    assert_eq!(t.dropped_entries(), 1);
    // Partial update: previous labels unknown, stays dropped.
    assert_eq!(upd(&mut t, "k2", &[Some("a"), None]), Outcome::Unchanged);
    assert_eq!(t.dropped_entries(), 1);
    // Complete update into an existing series: joins it.
    assert_eq!(upd(&mut t, "k2", &[Some("a"), Some("x")]), Outcome::Moved);
    assert_eq!(t.dropped_entries(), 0);
    assert_eq!(counts(&t), series(&[(&["a", "x"], 2)]));
    // An added into a refused series goes back to the dropped group.
    assert_eq!(
        add(&mut t, "k2", &[Some("c"), Some("x")]),
        Outcome::Replaced
    );
    assert_eq!(t.dropped_entries(), 1);
    assert_eq!(counts(&t), series(&[(&["a", "x"], 1)]));
    // Still refused: nothing changes.
    assert_eq!(
        add(&mut t, "k2", &[Some("d"), Some("x")]),
        Outcome::Unchanged
    );
    assert_eq!(b.used(), 1);
}

#[test]
fn dropped_entry_gets_a_series_once_the_budget_allows() {
    let b = budget(1);
    let mut t = Table::new(1, b.clone());
    add(&mut t, "k1", &[Some("a")]);
    add(&mut t, "k2", &[Some("b")]); // dropped
    del(&mut t, "k1");
    assert_eq!(b.used(), 0);
    assert_eq!(upd(&mut t, "k2", &[Some("b")]), Outcome::Moved);
    assert_eq!(t.dropped_entries(), 0);
    assert_eq!(counts(&t), series(&[(&["b"], 1)]));
    assert_eq!(b.used(), 1);
}

#[test]
fn moving_the_only_entry_at_the_cap_keeps_its_slot() {
    let b = budget(1);
    let mut t = Table::new(1, b.clone());
    add(&mut t, "k1", &[Some("a")]);
    // The old series empties as the new one appears: no refusal.
    assert_eq!(upd(&mut t, "k1", &[Some("b")]), Outcome::Moved);
    assert_eq!(add(&mut t, "k1", &[Some("c")]), Outcome::Replaced);
    assert_eq!(counts(&t), series(&[(&["c"], 1)]));
    assert_eq!(b.dropped(), 0);
    assert_eq!(b.used(), 1);
}

#[test]
fn budget_is_shared_and_released_on_drop() {
    let b = budget(3);
    let mut t1 = Table::new(1, b.clone());
    let mut t2 = Table::new(1, b.clone());
    add(&mut t1, "k1", &[Some("a")]);
    add(&mut t1, "k2", &[Some("b")]);
    add(&mut t2, "k1", &[Some("a")]);
    assert_eq!(add(&mut t2, "k2", &[Some("b")]), Outcome::Inserted);
    assert_eq!(t2.dropped_entries(), 1);
    assert_eq!(b.used(), 3);
    drop(t1);
    assert_eq!(b.used(), 1);
    drop(t2);
    assert_eq!(b.used(), 0);
}

#[test]
fn series_ids_are_recycled() {
    let b = budget(100);
    let mut t = Table::new(1, b.clone());
    for round in 0..50 {
        let v = format!("v{round}");
        add(&mut t, "k", &[Some(&v)]);
        add(&mut t, "other", &[Some(&v)]);
        del(&mut t, "other");
    }
    assert_eq!(counts(&t), series(&[(&["v49"], 1)]));
    assert_eq!(b.used(), 1);
    assert!(t.heap_bytes() < 4096, "slab grew: {} bytes", t.heap_bytes());
}

#[test]
fn many_keys_round_trip() {
    let b = budget(100);
    let mut t = Table::new(1, b.clone());
    let keys: Vec<String> = (0..10_000).map(|i| format!("key-{i:06}")).collect();
    for (i, k) in keys.iter().enumerate() {
        let v = ["a", "b", "c"][i % 3];
        assert_eq!(add(&mut t, k, &[Some(v)]), Outcome::Inserted);
    }
    assert_eq!(t.len(), 10_000);
    for k in &keys {
        assert_eq!(del(&mut t, k), Outcome::Removed);
    }
    assert!(t.is_empty());
    assert_eq!(b.used(), 0);
}

#[test]
fn detached_table_frees_its_slots_for_the_resync() {
    use smc_fold::{Change, Delta, SeriesBudget, Table};
    use std::sync::Arc;
    let budget = Arc::new(SeriesBudget::new(2));
    let mut old = Table::new(1, budget.clone());
    for (k, v) in [("a", "x"), ("b", "y")] {
        old.apply(Delta {
            change: Change::Added,
            key: k,
            values: &[Some(v)],
        });
    }
    assert_eq!(budget.used(), 2);
    // Without detaching, the staging table could create no series at all.
    old.detach_budget();
    assert_eq!(budget.used(), 0);
    let mut staging = Table::new(1, budget.clone());
    for (k, v) in [("a", "x"), ("b", "y")] {
        staging.apply(Delta {
            change: Change::Added,
            key: k,
            values: &[Some(v)],
        });
    }
    assert_eq!(staging.series(), 2);
    assert_eq!(budget.dropped(), 0);
    drop(old);
    assert_eq!(
        budget.used(),
        2,
        "dropping the detached table releases nothing more"
    );
    drop(staging);
    assert_eq!(budget.used(), 0);
}

/// An entry costs a 16-byte slot and a control byte per bucket: at 100,000
/// entries the table has 2^17 buckets, 2,228,224 bytes of them (a 20-byte
/// slot made it 2,752,512). The 1M steady and growth-peak figures follow from
/// it; `benches/fold_memory.rs` measures and gates them.
#[test]
fn entry_table_costs_17_bytes_per_bucket() {
    let b = budget(100);
    let mut t = Table::new(1, b.clone());
    for i in 0..100_000 {
        add(&mut t, &format!("key-{i:06}"), &[Some("a")]);
    }
    assert_eq!(t.len(), 100_000);
    let buckets = 1 << 17;
    let bytes = t.heap_bytes();
    // The rest: hashbrown's 16 trailing control bytes and one series.
    assert!(
        (buckets * 17..buckets * 17 + 1024).contains(&bytes),
        "{bytes} heap bytes for {buckets} buckets"
    );
}
