//! The engine and node health families (what the REST engine poll found,
//! [`crate::state::engines`]), after the kube-state-metrics conventions: an
//! `_info` series of value 1 carrying the descriptive labels, and state
//! sets with one series per possible value, 1 for the current one and 0 for
//! the others. The value lists are bounded (the SMC's documented values,
//! `docs/smc-protocol.md` §9.3, plus `other`), so a node has a fixed number
//! of series whatever the SMC answers.
//!
//! Rendered only when at least one SMC has an engine poll: an exporter
//! without one shows none of these families.

use crate::state::Store;
use crate::state::engines::{DiscoveryResult, EngineInfo, EngineState, NodeInfo};

use super::exposition::{FamilyDesc, MetricSink, Value};

pub const NODE_INFO: FamilyDesc = FamilyDesc::gauge(
    "smc_engine_node_info",
    "Engine node as the SMC's REST API describes it (value 1): engine type, software version, dynamic update package, installed policy, platform, configuration status.",
);
pub const NODE_STATUS: FamilyDesc = FamilyDesc::gauge(
    "smc_engine_node_status",
    "Operating status of the engine node: 1 for the current status, 0 for the others (other: a status outside the documented list). All 0 while the status is unknown.",
);
pub const NODE_STATE: FamilyDesc = FamilyDesc::gauge(
    "smc_engine_node_state",
    "State of the SMC's management connection to the engine node: 1 for the current state, 0 for the others (other: a state outside the documented list). All 0 while the state is unknown.",
);
pub const DISCOVERED: FamilyDesc = FamilyDesc::gauge(
    "smc_discovered_engines",
    "Engines the SMC listed at its last successful engine poll.",
);
pub const RUNS: FamilyDesc = FamilyDesc::counter(
    "smc_discovery_runs_total",
    "Engine polls of the SMC's REST API, by result.",
);

/// The `status` values of `smc_engine_node_status` (the SMC's documented
/// node statuses, then `other`).
pub const NODE_STATUSES: [&str; 14] = with_other(smc_protocol::NODE_STATUSES);

/// The `state` values of `smc_engine_node_state` (the documented states,
/// then `other`).
pub const NODE_STATES: [&str; 9] = with_other(smc_protocol::NODE_STATES);

/// `list` followed by [`OTHER`]; `M` must be one more than its length
/// (checked at compile time).
const fn with_other<const M: usize>(list: &[&'static str]) -> [&'static str; M] {
    assert!(list.len() + 1 == M, "M must be the list's length + 1");
    let mut out = [OTHER; M];
    let mut i = 0;
    while i < list.len() {
        out[i] = list[i];
        i += 1;
    }
    out
}

/// A value outside the documented list.
pub const OTHER: &str = "other";

/// Which of `all` a reported value is: itself when listed, else `other`.
/// `None` when not reported.
pub fn state_set_value<'a>(all: &[&'a str], reported: Option<&str>) -> Option<&'a str> {
    let v = reported?;
    Some(
        all.iter()
            .copied()
            .find(|a| *a != OTHER && *a == v)
            .unwrap_or(OTHER),
    )
}

/// Every engine family, if any SMC has an engine poll.
pub fn engine_families(store: &Store, sink: &mut impl MetricSink) {
    if store.engines.is_empty() {
        return;
    }
    sink.family(&NODE_INFO);
    each_node(store, |st, e, n| {
        let h = n.health.clone().unwrap_or_default();
        let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
        let labels = [
            ("smc", &*st.smc),
            ("engine", e.name.as_str()),
            ("engine_type", e.etype.as_str()),
            ("node", n.name.as_str()),
            ("version", &or_empty(&h.version)),
            ("dyn_up", &or_empty(&h.dyn_up)),
            ("installed_policy", &or_empty(&h.installed_policy)),
            ("platform", &or_empty(&h.platform)),
            ("configuration_status", &or_empty(&h.configuration_status)),
        ];
        sink.sample(&labels, Value::Int(1));
    });
    state_set(store, sink, &NODE_STATUS, "status", &NODE_STATUSES, |n| {
        n.health.as_ref().and_then(|h| h.status.as_deref())
    });
    state_set(store, sink, &NODE_STATE, "state", &NODE_STATES, |n| {
        n.health.as_ref().and_then(|h| h.state.as_deref())
    });
    sink.family(&DISCOVERED);
    for st in &store.engines {
        if let Some(s) = st.snapshot() {
            sink.sample(&[("smc", &st.smc)], Value::Int(s.engines.len() as u64));
        }
    }
    sink.family(&RUNS);
    for st in &store.engines {
        for r in DiscoveryResult::ALL {
            sink.sample(
                &[("smc", &st.smc), ("result", r.label())],
                Value::Int(st.runs(r)),
            );
        }
    }
}

/// Call `f` for every node of every published snapshot.
fn each_node(store: &Store, mut f: impl FnMut(&EngineState, &EngineInfo, &NodeInfo)) {
    for st in &store.engines {
        let Some(snap) = st.snapshot() else { continue };
        for e in snap.engines.iter().filter(|e| st.serves(&e.name)) {
            for n in &e.nodes {
                f(st, e, n);
            }
        }
    }
}

/// One state-set family: per node, one series per value of `all`.
fn state_set(
    store: &Store,
    sink: &mut impl MetricSink,
    desc: &FamilyDesc,
    label: &'static str,
    all: &[&'static str],
    reported: impl Fn(&NodeInfo) -> Option<&str>,
) {
    sink.family(desc);
    each_node(store, |st, e, n| {
        let current = state_set_value(all, reported(n));
        for v in all {
            let labels = [
                ("smc", &*st.smc),
                ("engine", e.name.as_str()),
                ("node", n.name.as_str()),
                (label, v),
            ];
            sink.sample(&labels, Value::Int(u64::from(current == Some(*v))));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_values_map_onto_the_bounded_lists() {
        assert_eq!(
            state_set_value(&NODE_STATUSES, Some("Online")),
            Some("Online")
        );
        assert_eq!(
            state_set_value(&NODE_STATUSES, Some("online")),
            Some("other")
        );
        // "other" reported verbatim is still outside the documented list.
        assert_eq!(state_set_value(&NODE_STATES, Some("other")), Some("other"));
        assert_eq!(state_set_value(&NODE_STATES, None), None);
    }
}
