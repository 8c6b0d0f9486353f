//! What the notification socket of one SMC reported: element changes
//! counted by element type and action (`smc_element_changes_total`), the
//! socket's health and its reconnects. Counters are atomics in fixed
//! arrays: the label values are bounded by construction (the configured
//! types plus `other`, the SMC's documented actions plus `other`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::state::{ReconnectCounts, ReconnectReason};

/// The event types the SMC documents (protocol §5), then `other`.
pub const ACTIONS: [&str; 8] = [
    "create",
    "update",
    "delete",
    "trashed",
    "untrashed",
    "validating",
    "validated",
    OTHER,
];
/// The actions served for every type from the start (at 0), so `rate()`
/// and `increase()` see the first change; the others appear once seen.
pub const ALWAYS_SERVED: usize = 3;
/// A label value outside the bounded list.
pub const OTHER: &str = "other";

/// See the module documentation.
#[derive(Debug)]
pub struct NotifyState {
    pub smc: Arc<str>,
    /// The configured element types, then [`OTHER`].
    types: Vec<String>,
    /// `types.len() × ACTIONS.len()`, row-major by type.
    changes: Vec<AtomicU64>,
    /// Event list items that were not events (no `type` or `element`).
    malformed: AtomicU64,
    up: AtomicBool,
    reconnects: ReconnectCounts,
}

impl NotifyState {
    pub fn new(smc: Arc<str>, configured: &[String]) -> Self {
        let mut types = configured.to_vec();
        types.push(OTHER.to_string());
        let n = types.len() * ACTIONS.len();
        NotifyState {
            smc,
            changes: (0..n).map(|_| AtomicU64::new(0)).collect(),
            types,
            malformed: AtomicU64::new(0),
            up: AtomicBool::new(false),
            reconnects: ReconnectCounts::default(),
        }
    }

    /// The configured element types (without `other`).
    pub fn configured(&self) -> &[String] {
        &self.types[..self.types.len() - 1]
    }

    /// Count one change of an element of type `etype` (`None`: the href
    /// named none).
    pub fn count(&self, etype: Option<&str>, action: &str) {
        let t = etype
            .and_then(|e| self.configured().iter().position(|c| c == e))
            .unwrap_or(self.types.len() - 1);
        let a = ACTIONS
            .iter()
            .position(|x| *x != OTHER && *x == action)
            .unwrap_or(ACTIONS.len() - 1);
        if let Some(c) = self.changes.get(t * ACTIONS.len() + a) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn count_malformed(&self, n: usize) {
        self.malformed.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// Every (type, action, count) to serve: the [`ALWAYS_SERVED`] actions
    /// of each configured type, and any other pair once counted.
    pub fn changes(&self) -> Vec<(&str, &'static str, u64)> {
        let mut out = Vec::new();
        for (ti, t) in self.types.iter().enumerate() {
            for (ai, a) in ACTIONS.iter().enumerate() {
                let n = self.changes[ti * ACTIONS.len() + ai].load(Ordering::Relaxed);
                let always = ai < ALWAYS_SERVED && ti + 1 < self.types.len();
                if always || n > 0 {
                    out.push((t.as_str(), *a, n));
                }
            }
        }
        out
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn count_reconnect(&self, reason: ReconnectReason) {
        self.reconnects.count(reason);
    }

    /// Reconnects by reason, in [`ReconnectReason::ALL`] order.
    pub fn reconnects(&self) -> impl Iterator<Item = (ReconnectReason, u64)> + '_ {
        self.reconnects.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_bounded_by_type_and_action() {
        let st = NotifyState::new("hq".into(), &["host".into(), "network".into()]);
        st.count(Some("host"), "create");
        st.count(Some("host"), "create");
        st.count(Some("network"), "trashed");
        st.count(Some("router"), "delete");
        st.count(None, "create");
        st.count(Some("host"), "exploded");
        assert_eq!(
            st.changes(),
            [
                ("host", "create", 2),
                ("host", "update", 0),
                ("host", "delete", 0),
                ("host", "other", 1),
                ("network", "create", 0),
                ("network", "update", 0),
                ("network", "delete", 0),
                ("network", "trashed", 1),
                ("other", "create", 1),
                ("other", "delete", 1),
            ]
        );
        // "other" sent as an action is still outside the list.
        st.count(Some("host"), "other");
        assert!(st.changes().contains(&("host", "other", 2)));
    }
}
