//! The log-stream families (what the live log streams of the SMCs counted,
//! [`crate::state::log_stream`]). Rendered only when some SMC has a
//! `[[smc.log_stream]]`. Every sample carries `stream`: two streams may
//! count the same record, so sums must keep it apart.

use tokio::time::Instant;

use crate::state::Store;
use crate::state::log_stream::LogStreamState;

use super::exposition::{FamilyDesc, MetricSink, Value};

pub const LOG_RECORDS: FamilyDesc = FamilyDesc::counter(
    "smc_log_records_total",
    "Live log records the SMC sent on a log stream, by the stream's group_by labels (default engine and action). Records logged while the stream was down are not counted (smc_log_stream_gap_seconds_total).",
);
pub const LOG_BYTES: FamilyDesc = FamilyDesc::counter(
    "smc_log_bytes_total",
    "Bytes of the connections whose closing records a log stream counted (accounting fields 105 and 106), by the stream's group_by labels and direction (sent, received).",
);
pub const LOG_RULE_HITS: FamilyDesc = FamilyDesc::counter(
    "smc_log_rule_hits_total",
    "Live log records naming a rule tag, by engine and rule tag (log streams with rule_hits = true).",
);
pub const LOG_STREAM_UP: FamilyDesc = FamilyDesc::gauge(
    "smc_log_stream_up",
    "1 while the log stream's socket is open and its live query acknowledged, else 0.",
);
pub const LOG_STREAM_RECONNECTS: FamilyDesc = FamilyDesc::counter(
    "smc_log_stream_reconnects_total",
    "Reconnects of a log stream's socket, by reason (the reasons of smc_subscription_reconnects_total).",
);
pub const LOG_STREAM_GAP: FamilyDesc = FamilyDesc::counter(
    "smc_log_stream_gap_seconds_total",
    "Seconds a log stream had no acknowledged live query since its first one, the current outage included: records the SMC logged then are not counted.",
);
pub const LOG_STREAM_MALFORMED: FamilyDesc = FamilyDesc::counter(
    "smc_log_stream_malformed_total",
    "Messages of a log stream that could not be read (not JSON, a wrong shape), and accounting fields that were not numbers.",
);

/// Every log-stream family, if any SMC has a log stream.
pub fn log_stream_families(store: &Store, sink: &mut impl MetricSink) {
    let streams = &store.log_streams;
    if streams.is_empty() {
        return;
    }
    records_and_bytes(streams, sink);
    if streams.iter().any(|s| s.config.rule_hits) {
        sink.family(&LOG_RULE_HITS);
        for st in streams {
            for (engine, tag, n) in st.rule_hits() {
                let labels = [
                    ("smc", &*st.smc),
                    ("stream", &*st.stream),
                    ("engine", &*engine),
                    ("rule_tag", &*tag),
                ];
                sink.sample(&labels, Value::Int(n));
            }
        }
    }
    health(streams, sink);
}

fn records_and_bytes(streams: &[std::sync::Arc<LogStreamState>], sink: &mut impl MetricSink) {
    let groups: Vec<_> = streams.iter().map(|s| s.groups()).collect();
    sink.family(&LOG_RECORDS);
    for (st, gs) in streams.iter().zip(&groups) {
        for (values, c) in gs {
            let mut labels = base(st);
            labels.extend(st.labels.iter().copied().zip(values.iter().map(|v| &**v)));
            sink.sample(&labels, Value::Int(c.records));
        }
    }
    sink.family(&LOG_BYTES);
    for (st, gs) in streams.iter().zip(&groups) {
        for (values, c) in gs.iter().filter(|(_, c)| c.accounted) {
            for (direction, n) in [("sent", c.bytes_sent), ("received", c.bytes_received)] {
                let mut labels = base(st);
                labels.extend(st.labels.iter().copied().zip(values.iter().map(|v| &**v)));
                labels.push(("direction", direction));
                sink.sample(&labels, Value::Int(n));
            }
        }
    }
}

fn base(st: &LogStreamState) -> Vec<(&'static str, &str)> {
    vec![("smc", &*st.smc), ("stream", &*st.stream)]
}

fn health(streams: &[std::sync::Arc<LogStreamState>], sink: &mut impl MetricSink) {
    sink.family(&LOG_STREAM_UP);
    for st in streams {
        sink.sample(&base(st), Value::Int(u64::from(st.up())));
    }
    sink.family(&LOG_STREAM_RECONNECTS);
    for st in streams {
        for (r, n) in st.reconnects() {
            let mut labels = base(st);
            labels.push(("reason", r.label()));
            sink.sample(&labels, Value::Int(n));
        }
    }
    let now = Instant::now();
    sink.family(&LOG_STREAM_GAP);
    for st in streams {
        sink.sample(&base(st), Value::Float(st.gap_seconds(now)));
    }
    sink.family(&LOG_STREAM_MALFORMED);
    for st in streams {
        sink.sample(&base(st), Value::Int(st.malformed()));
    }
}
