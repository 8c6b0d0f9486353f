//! The simulator's engine truth (`GET /sim/truth/engines`,
//! [`smc_sim::SimServer::engine_truth`]) as the engine and node health
//! samples the exporter should serve, written from the metric contract
//! (`docs/metrics.md`, "Engine and node health families") and the
//! exporter's bounded value lists, never from its rendering code.

use std::collections::BTreeMap;

use smc_exporter::metrics::engines::{NODE_STATES, NODE_STATUSES, OTHER};
use smc_sim::EngineTruth;

use crate::expo::SeriesKey;

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    (
        name.to_string(),
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Every `smc_engine_node_info`, `smc_engine_node_status`,
/// `smc_engine_node_state` sample and `smc_discovered_engines` of SMC `smc`
/// whose engines are `truth`.
pub fn engine_samples(smc: &str, truth: &[EngineTruth]) -> BTreeMap<SeriesKey, f64> {
    let mut out = BTreeMap::new();
    for e in truth {
        for n in &e.nodes {
            let policy = n.installed_policy.clone().unwrap_or_default();
            let info = [
                ("smc", smc),
                ("engine", &e.name),
                ("engine_type", &e.etype),
                ("node", &n.name),
                ("version", &n.version),
                ("dyn_up", &n.dyn_up),
                ("installed_policy", &policy),
                ("platform", &n.platform),
                ("configuration_status", &n.configuration_status),
            ];
            out.insert(key("smc_engine_node_info", &info), 1.0);
            for (family, label, all, current) in [
                (
                    "smc_engine_node_status",
                    "status",
                    &NODE_STATUSES[..],
                    &n.status,
                ),
                ("smc_engine_node_state", "state", &NODE_STATES[..], &n.state),
            ] {
                for v in all {
                    let labels = [
                        ("smc", smc),
                        ("engine", &e.name),
                        ("node", &n.name),
                        (label, v),
                    ];
                    let on = *v != OTHER && *v == current.as_str();
                    out.insert(key(family, &labels), f64::from(u8::from(on)));
                }
            }
        }
    }
    out.insert(
        key("smc_discovered_engines", &[("smc", smc)]),
        truth.len() as f64,
    );
    out
}

/// The engine families of parsed samples (what [`engine_samples`] covers).
pub fn engine_families(samples: &BTreeMap<SeriesKey, f64>) -> BTreeMap<SeriesKey, f64> {
    samples
        .iter()
        .filter(|((f, _), _)| f.starts_with("smc_engine_node_") || f == "smc_discovered_engines")
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}
