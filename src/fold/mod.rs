//! The fold: delta semantics, nothing about sockets or metrics.
//!
//! A [`Table`] maps each entry's `delta_key` to the series (label tuple) it
//! counts in. `added` inserts or replaces, `updated` moves the entry to its new
//! series (absent fields keep their previous value), `deleted` removes it; a
//! delete of an unknown key is reported and never makes a count negative.

mod budget;
mod table;

pub use budget::SeriesBudget;
pub use table::{Change, Delta, Outcome, Table};
