//! The log families a stream should serve, computed from what the
//! simulator says it sent that stream's fetches ([`smc_sim::SentFetch`]),
//! independently of the exporter's counting: the engine of a record is the
//! simulator's own engine of its sending node ([`smc_sim::EngineTruth`]).

use std::collections::BTreeMap;

use smc_exporter::config::LogStreamConfig;
use smc_exporter::labels::LogSource;
use smc_sim::{EngineTruth, SentFetch};

use crate::expo::SeriesKey;

/// `smc_log_records_total`, `smc_log_bytes_total` and (when the stream has
/// `rule_hits`) `smc_log_rule_hits_total` of stream `s` of SMC `smc`, from
/// the records of `fetches` (the fetches of that stream).
pub fn log_truth(
    smc: &str,
    s: &LogStreamConfig,
    fetches: &[&SentFetch],
    engines: &[EngineTruth],
) -> BTreeMap<SeriesKey, f64> {
    let engine_of: BTreeMap<&str, &str> = engines
        .iter()
        .flat_map(|e| {
            e.nodes
                .iter()
                .map(move |n| (n.name.as_str(), e.name.as_str()))
        })
        .collect();
    let mut out: BTreeMap<SeriesKey, f64> = BTreeMap::new();
    for r in fetches.iter().flat_map(|f| &f.records) {
        let get = |id: u32| r.iter().find(|(i, _)| *i == id).map(|(_, v)| v.as_str());
        let engine = get(4).map_or("", |n| engine_of.get(n).copied().unwrap_or(n));
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        labels.insert("smc".into(), smc.into());
        labels.insert("stream".into(), s.name.clone());
        for g in &s.group_by {
            let v = match g.source {
                LogSource::Engine => engine.to_string(),
                LogSource::Field(602, _) => get(602)
                    .map(|v| smc_protocol::severity_label(v).unwrap_or(v))
                    .unwrap_or("")
                    .to_string(),
                LogSource::Field(id, _) => get(id).unwrap_or("").to_string(),
            };
            labels.insert(g.label.into(), v);
        }
        *out.entry(("smc_log_records_total".into(), labels.clone()))
            .or_default() += 1.0;
        let sent = get(105);
        let received = get(106);
        if sent.is_some() || received.is_some() {
            for (direction, v) in [("sent", sent), ("received", received)] {
                let mut l = labels.clone();
                l.insert("direction".into(), direction.into());
                let n: f64 = v.and_then(|v| v.parse().ok()).unwrap_or(0.0);
                *out.entry(("smc_log_bytes_total".into(), l)).or_default() += n;
            }
        }
        if let Some(tag) = get(20).filter(|_| s.rule_hits) {
            let l: BTreeMap<String, String> = [
                ("smc", smc),
                ("stream", s.name.as_str()),
                ("engine", engine),
                ("rule_tag", tag),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            *out.entry(("smc_log_rule_hits_total".into(), l))
                .or_default() += 1.0;
        }
    }
    out
}

/// The samples of the three counted log families of stream `stream` in a
/// parsed exposition.
pub fn log_samples(m: &BTreeMap<SeriesKey, f64>, stream: &str) -> BTreeMap<SeriesKey, f64> {
    const FAMILIES: [&str; 3] = [
        "smc_log_records_total",
        "smc_log_bytes_total",
        "smc_log_rule_hits_total",
    ];
    m.iter()
        .filter(|((n, l), _)| {
            FAMILIES.contains(&n.as_str()) && l.get("stream").map(String::as_str) == Some(stream)
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}
