//! Conformance of the OpenMetrics output against `prometheus-client`, the
//! project's reference encoder: the same family walk, fed through the crate's
//! `Collector` API, must encode to exactly the same bytes.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType as PcType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use smc_exporter::metrics::{
    FamilyDesc, Format, HistogramValue, MetricSink, MetricType, RenderOptions, Value, collect,
    render_with,
};
use smc_exporter::state::Store;

type Labels = Vec<(String, String)>;

/// A recorded sample: a value, or a histogram (sum, count, (bound, count) per bucket).
#[derive(Debug, Clone)]
enum Rec {
    V(Value),
    H(f64, u64, Vec<(f64, u64)>),
}

/// Records the walk so it can be replayed into prometheus-client.
#[derive(Debug, Default)]
struct Recorded(Vec<(FamilyDesc, Vec<(Labels, Rec)>)>);

impl MetricSink for Recorded {
    fn family(&mut self, desc: &FamilyDesc) {
        self.0.push((*desc, Vec::new()));
    }
    fn sample(&mut self, labels: &[(&str, &str)], value: Value) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0
            .last_mut()
            .expect("sample before family")
            .1
            .push((labels, Rec::V(value)));
    }
    fn histogram(&mut self, labels: &[(&str, &str)], h: &HistogramValue<'_>) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let buckets = h
            .buckets
            .iter()
            .enumerate()
            .map(|(i, n)| (h.bounds.get(i).copied().unwrap_or(f64::INFINITY), *n))
            .collect();
        self.0
            .last_mut()
            .expect("sample before family")
            .1
            .push((labels, Rec::H(h.sum, h.count, buckets)));
    }
}

impl Collector for Recorded {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (desc, samples) in &self.0 {
            let unit = desc.unit.map(|u| match u {
                "seconds" => Unit::Seconds,
                "bytes" => Unit::Bytes,
                other => Unit::Other(other.to_owned()),
            });
            // prometheus-client appends `_<unit>` to the name itself.
            let family = desc.family_name();
            let name = match desc.unit {
                Some(u) => family.strip_suffix(&format!("_{u}")).unwrap_or(family),
                None => family,
            };
            let kind = match desc.kind {
                MetricType::Counter => PcType::Counter,
                MetricType::Gauge => PcType::Gauge,
                MetricType::Histogram => PcType::Histogram,
            };
            let mut metric = encoder.encode_descriptor(name, desc.help, unit.as_ref(), kind)?;
            match samples.as_slice() {
                // A label-less family has exactly one sample (process_*).
                [(labels, value)] if labels.is_empty() => {
                    encode_value(desc.kind, value.clone(), metric)?
                }
                _ => {
                    for (labels, value) in samples {
                        encode_value(desc.kind, value.clone(), metric.encode_family(labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn encode_value(
    kind: MetricType,
    value: Rec,
    mut e: prometheus_client::encoding::MetricEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let value = match value {
        Rec::V(v) => v,
        Rec::H(sum, count, buckets) => {
            return e.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                sum, count, &buckets, None,
            );
        }
    };
    match (kind, value) {
        (MetricType::Counter, Value::Int(v)) => ConstCounter::new(v).encode(e),
        (MetricType::Counter, Value::Float(v)) => ConstCounter::new(v).encode(e),
        (MetricType::Gauge, Value::Int(v)) => ConstGauge::new(v).encode(e),
        (MetricType::Gauge, Value::Float(v)) => ConstGauge::new(v).encode(e),
        (MetricType::Histogram, _) => Err(std::fmt::Error),
    }
}

fn oracle(store: &Store, opts: &RenderOptions) -> String {
    let mut rec = Recorded::default();
    collect(store, opts, &mut rec);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(rec));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
    out
}

#[test]
fn openmetrics_matches_prometheus_client() {
    let store = crate::fixture::store();
    for opts in [crate::fixture::GOLDEN, crate::fixture::WITH_PROCESS] {
        assert_eq!(
            render_with(&store, Format::OpenMetrics, &opts),
            oracle(&store, &opts)
        );
    }
    assert_eq!(
        render_with(
            &Store::default(),
            Format::OpenMetrics,
            &crate::fixture::GOLDEN
        ),
        oracle(&Store::default(), &crate::fixture::GOLDEN)
    );
}

/// The state families' lines are rendered once per snapshot and copied by
/// later scrapes: a warm render, and one after every subscription published
/// new counts, still match the oracle byte for byte.
#[test]
fn cached_and_rerendered_lines_match_prometheus_client() {
    let store = crate::fixture::store();
    let opts = crate::fixture::GOLDEN;
    let first = render_with(&store, Format::OpenMetrics, &opts);
    assert_eq!(render_with(&store, Format::OpenMetrics, &opts), first);
    for s in &store.subscriptions {
        let mut p = (*s.published()).clone();
        for (_, count) in &mut p.groups {
            *count += 10;
        }
        s.publish(p);
    }
    let after = render_with(&store, Format::OpenMetrics, &opts);
    assert_ne!(after, first);
    assert_eq!(after, oracle(&store, &opts));
    assert_eq!(render_with(&store, Format::OpenMetrics, &opts), after);
}

/// The SPS families, histograms included, match the oracle byte for byte.
#[test]
fn sps_families_match_prometheus_client() {
    let store = crate::fixture::sps_store();
    let opts = crate::fixture::GOLDEN;
    let ours = render_with(&store, Format::OpenMetrics, &opts);
    assert!(ours.contains("# TYPE sps_session_duration_seconds histogram\n"));
    assert!(ours.contains(
        "sps_session_duration_seconds_bucket{le=\"+Inf\",sps=\"pam\",protocol=\"SSH\"} 2\n"
    ));
    assert_eq!(ours, oracle(&store, &opts));
}
