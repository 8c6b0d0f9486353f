//! What a table publishes: an immutable snapshot of its series counts, for
//! the exporter's state store to serve without waiting on the table's owner.

use std::sync::Arc;

/// The label values of one series, in the order of the subscription's `group_labels`.
pub type LabelValues = Arc<[Arc<str>]>;

/// An immutable view of one subscription's folded state.
#[derive(Debug, Default, Clone)]
pub struct Published {
    /// One entry per series with a non-zero count, in no particular order.
    pub groups: Vec<(LabelValues, u64)>,
    /// Tracked entries (table rows), including those in dropped series.
    pub entries: u64,
}
