//! smc-fold: delta semantics of SMC session-monitoring records, nothing
//! about sockets or metrics.
//!
//! It depends on `smc-protocol` (the decoded records, [`Change`]) and on
//! hashing crates only: no tokio, no networking, no metric names. The
//! exporter's subscriptions fold with it, its state store serves the
//! [`Published`] snapshots, and the fuzz targets drive [`RecordFold`].
//!
//! A [`Table`] maps each entry's `delta_key` to the series (label tuple) it
//! counts in. `added` inserts or replaces, `updated` moves the entry to its new
//! series (absent fields keep their previous value), `deleted` removes it; a
//! delete of an unknown key is reported and never makes a count negative.
//!
//! Memory: a table stores a 96-bit keyed fingerprint of each `delta_key`, not
//! the key: 19 to 39 bytes per tracked entry (36 at a million, 54 for a moment
//! while its table grows, 58 at most); label strings
//! exist once per series. See [`Table`] for the layout, the collision
//! trade-off and the series cap.
//!
//! Label values are record field values cut to [`MAX_LABEL_VALUE_BYTES`]
//! (on a character boundary), counted in the family's [`SeriesBudget`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod budget;
mod groups;
mod key;
mod label;
mod published;
mod record;
mod table;

pub use budget::SeriesBudget;
pub use label::{MAX_LABEL_VALUE_BYTES, cap_label_value};
pub use published::{LabelValues, Published};
pub use record::{FieldPick, FoldCounts, RecordFold};
pub use smc_protocol::{Change, Transform};
pub use table::{Delta, Outcome, Table};
