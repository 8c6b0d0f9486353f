//! The record → delta mapper: one decoded `records` message applied to a
//! [`Table`], each label value read from a record field by id.

use smc_protocol::{Change, FieldSet, Records, Transform};

use crate::{Delta, Outcome, Table};

/// What folding one `records` message did besides changing the table, for
/// the subscription's health counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldCounts {
    /// `deleted` records whose key the table did not hold (nothing changed).
    pub unknown_deletes: u64,
    /// Records without a `delta_key`: skipped.
    pub missing_keys: u64,
}

/// The record field that feeds one label of a table, and how its value
/// becomes the label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPick {
    /// The SMC log-field id (the key in `field_format: "id"` records).
    pub field: u32,
    pub transform: Transform,
}

/// How decoded records become table deltas: which record field (by id, as
/// `field_format: "id"` names it) feeds each label, and its transform. The
/// exporter's subscriptions fold with it, and so do the fuzz targets
/// (`fuzz/`), so they drive the exact fold path of a subscription.
#[derive(Debug, Clone)]
pub struct RecordFold {
    picks: Vec<FieldPick>,
    /// `picks[i].field` as the record key string, computed once.
    keys: Vec<String>,
    /// The same keys, for the decoder ([`RecordFold::wanted`]).
    wanted: FieldSet,
}

impl RecordFold {
    /// A fold whose table has one label per entry of `picks`, in order.
    pub fn new(picks: &[FieldPick]) -> Self {
        let keys: Vec<String> = picks.iter().map(|g| g.field.to_string()).collect();
        RecordFold {
            picks: picks.to_vec(),
            wanted: FieldSet::only(keys.iter().map(String::as_str)),
            keys,
        }
    }

    /// The record fields this fold reads, for
    /// [`smc_protocol::decode_fields`]: a message decoded with them folds
    /// exactly as one decoded whole.
    pub fn wanted(&self) -> &FieldSet {
        &self.wanted
    }

    /// The number of labels (the arity of the tables it folds into).
    pub fn arity(&self) -> usize {
        self.picks.len()
    }

    /// Apply one decoded `records` message to `table`: every `added`, then
    /// every `updated`, then every `deleted` record, in wire order. A record
    /// without `delta_key` is skipped and counted in
    /// [`FoldCounts::missing_keys`]; a label field it lacks is `None` in the
    /// [`Delta`]. `table` should have this fold's arity.
    pub fn apply(&self, table: &mut Table, records: &Records<'_>) -> FoldCounts {
        let mut counts = FoldCounts::default();
        let lists = [
            (Change::Added, &records.added),
            (Change::Updated, &records.updated),
            (Change::Deleted, &records.deleted),
        ];
        let mut values: Vec<Option<&str>> = Vec::with_capacity(self.keys.len());
        for (change, list) in lists {
            for rec in list.iter() {
                let Some(key) = rec.delta_key.as_deref() else {
                    counts.missing_keys += 1;
                    continue;
                };
                values.clear();
                for (k, g) in self.keys.iter().zip(&self.picks) {
                    values.push(records.get(rec, k).map(|v| g.transform.apply(v)));
                }
                if table.apply(Delta {
                    change,
                    key,
                    values: &values,
                }) == Outcome::UnknownDelete
                {
                    counts.unknown_deletes += 1;
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use smc_protocol::ServerMessage;

    use super::*;
    use crate::SeriesBudget;

    #[test]
    fn record_fold_applies_lists_in_order_and_counts_skips() {
        // ACTIVE_ALERTS grouped by severity (602) and node (4).
        let fields = [
            FieldPick {
                field: 602,
                transform: Transform::Severity,
            },
            FieldPick {
                field: 4,
                transform: Transform::AsIs,
            },
        ];
        let fold = RecordFold::new(&fields);
        let budget = Arc::new(SeriesBudget::new(10));
        let mut table = Table::new(2, budget.clone());
        let text = r#"{"fetch":-3,"records":{"added":[{"delta_key":"a","602":"10","4":"n1"},{"4":"no key"},{"delta_key":"b","602":"Low"}],"updated":[{"delta_key":"a","4":"n2"}],"deleted":["b","zz",{"delta_key":"a"},"a"]}}"#;
        let Ok(ServerMessage::Records { records, .. }) = smc_protocol::decode(text) else {
            panic!("not records")
        };
        let counts = fold.apply(&mut table, &records);
        // "zz" and the second "a" are unknown when their delete comes.
        assert_eq!(
            counts,
            FoldCounts {
                unknown_deletes: 2,
                missing_keys: 1
            }
        );
        assert!(table.is_empty());
        assert_eq!(table.series(), 0);
        assert_eq!(budget.used(), 0);

        let text = r#"{"fetch":-3,"records":{"added":[{"delta_key":"a","602":"10","4":"n1"}],"updated":[{"delta_key":"a","4":"n2"},{"delta_key":"c","602":"3"}]}}"#;
        let Ok(ServerMessage::Records { records, .. }) = smc_protocol::decode(text) else {
            panic!("not records")
        };
        assert_eq!(fold.apply(&mut table, &records), FoldCounts::default());
        let mut groups: Vec<(Vec<String>, u64)> = table
            .groups()
            .map(|(l, c)| (l.iter().map(|s| s.to_string()).collect(), c))
            .collect();
        groups.sort();
        assert_eq!(
            groups,
            [
                (vec!["critical".to_owned(), "n2".to_owned()], 1),
                (vec!["low".to_owned(), String::new()], 1),
            ]
        );
    }

    /// A message decoded with only the fold's fields folds as one decoded
    /// whole, and keeps no other field.
    #[test]
    fn wanted_fields_fold_as_the_whole_record() {
        let fields = [
            FieldPick {
                field: 4,
                transform: Transform::AsIs,
            },
            FieldPick {
                field: 602,
                transform: Transform::Severity,
            },
        ];
        let fold = RecordFold::new(&fields);
        let text = r#"{"fetch":1,"records":{"added":[{"delta_key":"a","3":"x","4":"n\u0031","602":10,"604":"z"},{"delta_key":"b","bl":{"4":"n2","5":"y"}}],"deleted":["c"]}}"#;
        let groups = |records: &Records<'_>| {
            let mut table = Table::new(2, Arc::new(SeriesBudget::new(10)));
            let counts = fold.apply(&mut table, records);
            let mut g: Vec<(Vec<String>, u64)> = table
                .groups()
                .map(|(l, c)| (l.iter().map(|s| s.to_string()).collect(), c))
                .collect();
            g.sort();
            (counts, g)
        };
        let Ok(ServerMessage::Records { records: all, .. }) = smc_protocol::decode(text) else {
            panic!("not records")
        };
        let Ok(ServerMessage::Records { records: some, .. }) =
            smc_protocol::decode_fields(text, fold.wanted())
        else {
            panic!("not records")
        };
        assert_eq!(groups(&all), groups(&some));
        let keys = |r: &Records<'_>, i: usize| -> Vec<String> {
            r.fields(&r.added[i])
                .iter()
                .map(|(k, _)| k.to_string())
                .collect()
        };
        assert_eq!(keys(&all, 0), ["3", "4", "602", "604"]);
        assert_eq!(keys(&some, 0), ["4", "602"]);
        assert_eq!(keys(&some, 1), ["4"]);
        assert_eq!(some.get(&some.added[0], "4"), Some("n1"));
        assert_eq!(
            groups(&some).1,
            [
                (vec!["n1".to_owned(), "critical".to_owned()], 1),
                (vec!["n2".to_owned(), String::new()], 1),
            ]
        );
    }
}
