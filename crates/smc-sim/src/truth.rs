//! The simulator's ground truth: per session-monitoring table, the field
//! values of every row, read from the world's typed entries (not from the
//! records `render.rs` sends, so a test compares against something the
//! wire encoding did not produce).
//!
//! What an exporter should serve for it (family names, labels, Prometheus
//! text) is the exporter's contract, not the simulator's: `GET /sim/truth`
//! answers with the [`TruthText`] renderer given in
//! [`SimOptions::truth_text`](crate::SimOptions::truth_text), and with 501
//! when there is none. `smc-lab` has the renderer.

use std::fmt;
use std::sync::Arc;

use smc_protocol::Definition;

/// The rows of one table: a (definition, target) subscription's truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableTruth {
    pub definition: Definition,
    /// The engine (or admin domain, for ACTIVE_ALERTS) the table belongs to.
    pub target: String,
    pub rows: Vec<TruthRow>,
}

/// One row: the values of the fields that tell rows of a table apart into
/// series (`NodeId` and, per definition, protocol, state, SA type, peer
/// gateway, route type or severity), by log-field id, as the SMC renders
/// them (a severity is `Critical`, not `critical`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthRow {
    pub(crate) values: Vec<(u32, String)>,
}

impl TruthRow {
    /// A row with these (field id, value) pairs.
    pub fn new(values: Vec<(u32, String)>) -> Self {
        TruthRow { values }
    }

    /// The value of log field `field`, if the row carries it.
    pub fn get(&self, field: u32) -> Option<&str> {
        self.values
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_str())
    }

    /// Every (field id, value) of the row.
    pub fn values(&self) -> &[(u32, String)] {
        &self.values
    }
}

type Render = dyn Fn(&[TableTruth], &str) -> String + Send + Sync;

/// Renders the ground truth as the text `GET /sim/truth?smc=NAME` answers:
/// called with every table and the `smc` name.
#[derive(Clone)]
pub struct TruthText(Arc<Render>);

impl TruthText {
    pub fn new(render: impl Fn(&[TableTruth], &str) -> String + Send + Sync + 'static) -> Self {
        TruthText(Arc::new(render))
    }

    pub fn render(&self, tables: &[TableTruth], smc: &str) -> String {
        (self.0)(tables, smc)
    }
}

impl fmt::Debug for TruthText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TruthText(..)")
    }
}
