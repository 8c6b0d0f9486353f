//! The SPS families (`sps_*`, the contract §D; `docs/metrics.md` "SPS
//! families"). Rendered only when some `[[sps]]` exists; every series has
//! the `sps` label. They read only [`crate::state::sps`], never SMC state.

use crate::sps::ledger::{DURATION_BUCKETS, HistogramFamily, RISK_BUCKETS};
use crate::state::Store;
use crate::state::sps::{POLL_BUCKETS, SpsView};

use super::exposition::{FamilyDesc, HistogramValue, MetricSink, Value};

pub const INFO: FamilyDesc = FamilyDesc::gauge(
    "sps_info",
    "1 for the appliance's firmware version (from /api/info).",
);
pub const ACTIVE_SESSIONS: FamilyDesc = FamilyDesc::gauge(
    "sps_active_sessions",
    "Sessions active on the appliance now, by protocol as health_status reports it (lower case).",
);
pub const STARTED: FamilyDesc = FamilyDesc::counter(
    "sps_sessions_started_total",
    "Audited sessions that started since the exporter began counting (sps_counting_since_timestamp_seconds), by protocol and connection policy.",
);
pub const CLOSED: FamilyDesc = FamilyDesc::counter(
    "sps_sessions_closed_total",
    "Counted sessions seen closed, by protocol, connection policy and verdict.",
);
pub const DURATION: FamilyDesc = FamilyDesc::histogram(
    "sps_session_duration_seconds",
    "Duration of the counted sessions at their close, by protocol.",
)
.with_unit("seconds");
pub const RISK: FamilyDesc = FamilyDesc::histogram(
    "sps_session_risk_score",
    "Aggregated analytics risk score (0-100) of the counted sessions at their close, by protocol (sessions without a score are not observed).",
);
pub const ALERTS: FamilyDesc = FamilyDesc::counter(
    "sps_alerts_total",
    "Content-policy alerts of the counted sessions, by alert type, rule, protocol and connection policy.",
);
pub const CPU: FamilyDesc = FamilyDesc::gauge(
    "sps_cpu_usage_percent",
    "CPU usage of the appliance, percent.",
);
pub const MEMORY: FamilyDesc = FamilyDesc::gauge(
    "sps_memory_usage_percent",
    "Memory usage of the appliance, percent.",
);
pub const SWAP: FamilyDesc = FamilyDesc::gauge(
    "sps_swap_usage_percent",
    "Swap usage of the appliance, percent.",
);
pub const DISK: FamilyDesc = FamilyDesc::gauge(
    "sps_disk_usage_percent",
    "Disk usage of the appliance, percent.",
);
pub const LOAD: FamilyDesc = FamilyDesc::gauge(
    "sps_load_average",
    "Load average of the appliance, by period (1m, 5m, 15m).",
);
pub const WORKERS: FamilyDesc = FamilyDesc::gauge(
    "sps_indexer_workers",
    "Indexer workers, summed over the appliance's indexers.",
);
pub const IDLE_WORKERS: FamilyDesc = FamilyDesc::gauge(
    "sps_indexer_idle_workers",
    "Idle indexer workers, summed over the appliance's indexers.",
);
pub const JOBS: FamilyDesc = FamilyDesc::gauge(
    "sps_indexer_jobs",
    "Indexer jobs, by kind (index, screenshot, video), summed over the appliance's indexers.",
);
pub const RAID_OK: FamilyDesc = FamilyDesc::gauge(
    "sps_raid_ok",
    "1 if the appliance's RAID status is OK, else 0.",
);
pub const UP: FamilyDesc =
    FamilyDesc::gauge("sps_up", "1 if the last poll cycle completed, else 0.");
pub const POLL_DURATION: FamilyDesc = FamilyDesc::histogram(
    "sps_poll_duration_seconds",
    "Duration of whole poll cycles (completed or not).",
)
.with_unit("seconds");
pub const REQUESTS: FamilyDesc = FamilyDesc::counter(
    "sps_api_requests_total",
    "Requests to the appliance's REST API, by endpoint group and HTTP status (none: no answer).",
);
pub const ERRORS: FamilyDesc = FamilyDesc::counter(
    "sps_api_errors_total",
    "Failed requests to the appliance's REST API, by endpoint group and kind.",
);
pub const LOGINS: FamilyDesc =
    FamilyDesc::counter("sps_logins_total", "Logins to the appliance, by result.");
pub const LAST_SUCCESS: FamilyDesc = FamilyDesc::gauge(
    "sps_last_success_timestamp_seconds",
    "Unix time the last poll cycle completed.",
)
.with_unit("seconds");
pub const WATERMARK: FamilyDesc = FamilyDesc::gauge(
    "sps_watermark_timestamp_seconds",
    "The watermark: the latest start time of the sessions of fully searched windows, appliance clock, Unix seconds.",
)
.with_unit("seconds");
pub const COUNTING_SINCE: FamilyDesc = FamilyDesc::gauge(
    "sps_counting_since_timestamp_seconds",
    "Sessions that started before this (appliance clock, Unix seconds) are never counted.",
)
.with_unit("seconds");
pub const LAG: FamilyDesc = FamilyDesc::gauge(
    "sps_watermark_lag_seconds",
    "The appliance's clock at the last cycle minus the watermark.",
)
.with_unit("seconds");
pub const TRACKED: FamilyDesc = FamilyDesc::gauge(
    "sps_tracked_sessions",
    "Counted sessions followed until they close (and their last alerts are fetched).",
);
pub const SPLITS: FamilyDesc = FamilyDesc::counter(
    "sps_window_splits_total",
    "Session search windows split because they matched more than 10,000 sessions.",
);
pub const DROPPED: FamilyDesc = FamilyDesc::counter(
    "sps_series_dropped_total",
    "Increments of SPS counter and histogram families dropped because the family already had 10,000 series.",
);

type Views<'a> = [(&'a str, std::sync::MutexGuard<'a, SpsView>)];

/// Every SPS family, if there is an `[[sps]]`.
pub fn sps_families(store: &Store, sink: &mut impl MetricSink) {
    if store.sps.is_empty() {
        return;
    }
    let views: Vec<_> = store.sps.iter().map(|s| (&*s.name, s.view())).collect();
    data_families(&views, sink);
    health_families(&views, sink);
    self_families(&views, sink);
}

fn data_families(views: &Views<'_>, sink: &mut impl MetricSink) {
    sink.family(&INFO);
    for (sps, v) in views {
        if let Some(fw) = &v.firmware_version {
            sink.sample(&[("sps", sps), ("firmware_version", fw)], Value::Int(1));
        }
    }
    sink.family(&ACTIVE_SESSIONS);
    for (sps, v) in views {
        for (p, n) in v.health.iter().flat_map(|h| &h.sessions) {
            sink.sample(&[("sps", sps), ("protocol", p)], Value::Float(*n));
        }
    }
    let names = [
        (&STARTED, &["protocol", "connection_policy"][..]),
        (&CLOSED, &["protocol", "connection_policy", "verdict"][..]),
    ];
    for (i, (desc, labels)) in names.into_iter().enumerate() {
        sink.family(desc);
        for (sps, v) in views {
            let c = &v.ledger.counters;
            let f = if i == 0 { &c.started } else { &c.closed };
            counter_series(sps, labels, f, sink);
        }
    }
    sink.family(&DURATION);
    for (sps, v) in views {
        histograms(sps, &DURATION_BUCKETS, &v.ledger.counters.duration, sink);
    }
    sink.family(&RISK);
    for (sps, v) in views {
        histograms(sps, &RISK_BUCKETS, &v.ledger.counters.risk, sink);
    }
    sink.family(&ALERTS);
    let labels = ["alert_type", "rule_name", "protocol", "connection_policy"];
    for (sps, v) in views {
        counter_series(sps, &labels, &v.ledger.counters.alerts, sink);
    }
}

fn counter_series(
    sps: &str,
    names: &[&'static str],
    f: &crate::sps::ledger::CounterFamily,
    sink: &mut impl MetricSink,
) {
    for (values, n) in &f.0 {
        let mut labels: Vec<(&str, &str)> = vec![("sps", sps)];
        labels.extend(names.iter().copied().zip(values.iter().map(String::as_str)));
        sink.sample(&labels, Value::Int(*n));
    }
}

fn histograms(sps: &str, bounds: &[f64], f: &HistogramFamily, sink: &mut impl MetricSink) {
    for (protocol, h) in &f.0 {
        let v = HistogramValue {
            bounds,
            buckets: &h.buckets,
            sum: h.sum,
            count: h.count,
        };
        sink.histogram(&[("sps", sps), ("protocol", protocol)], &v);
    }
}

fn health_families(views: &Views<'_>, sink: &mut impl MetricSink) {
    type Get = fn(&crate::sps::body::Health) -> Option<f64>;
    let plain: [(&FamilyDesc, Get); 4] = [
        (&CPU, |h| h.cpu),
        (&MEMORY, |h| h.memory),
        (&SWAP, |h| h.swap),
        (&DISK, |h| h.disk),
    ];
    for (desc, get) in plain {
        gauge(views, desc, sink, |v| v.health.as_ref().and_then(get));
    }
    sink.family(&LOAD);
    for (sps, v) in views {
        let Some(h) = &v.health else { continue };
        for (period, l) in ["1m", "5m", "15m"].iter().zip(h.load) {
            if let Some(l) = l {
                sink.sample(&[("sps", sps), ("period", period)], Value::Float(l));
            }
        }
    }
    gauge(views, &WORKERS, sink, |v| {
        v.health.as_ref()?.indexer_workers
    });
    gauge(views, &IDLE_WORKERS, sink, |v| {
        v.health.as_ref()?.indexer_idle_workers
    });
    sink.family(&JOBS);
    for (sps, v) in views {
        let Some(h) = &v.health else { continue };
        for (kind, j) in ["index", "screenshot", "video"].iter().zip(h.indexer_jobs) {
            if let Some(j) = j {
                sink.sample(&[("sps", sps), ("kind", kind)], Value::Float(j));
            }
        }
    }
    sink.family(&RAID_OK);
    for (sps, v) in views {
        if let Some(ok) = v.health.as_ref().and_then(|h| h.raid_ok) {
            sink.sample(&[("sps", sps)], Value::Int(u64::from(ok)));
        }
    }
}

fn gauge(
    views: &Views<'_>,
    desc: &FamilyDesc,
    sink: &mut impl MetricSink,
    get: impl Fn(&SpsView) -> Option<f64>,
) {
    sink.family(desc);
    for (sps, v) in views {
        if let Some(x) = get(v) {
            sink.sample(&[("sps", sps)], Value::Float(x));
        }
    }
}

fn self_families(views: &Views<'_>, sink: &mut impl MetricSink) {
    sink.family(&UP);
    for (sps, v) in views {
        sink.sample(&[("sps", sps)], Value::Int(u64::from(v.up)));
    }
    sink.family(&POLL_DURATION);
    for (sps, v) in views {
        let h = &v.poll_duration;
        let hv = HistogramValue {
            bounds: &POLL_BUCKETS,
            buckets: &h.buckets,
            sum: h.sum,
            count: h.count,
        };
        sink.histogram(&[("sps", sps)], &hv);
    }
    sink.family(&REQUESTS);
    for (sps, v) in views {
        for ((e, code), n) in &v.requests {
            let labels = [("sps", *sps), ("endpoint", e.label()), ("code", code)];
            sink.sample(&labels, Value::Int(*n));
        }
    }
    sink.family(&ERRORS);
    for (sps, v) in views {
        for ((e, kind), n) in &v.errors {
            let labels = [
                ("sps", *sps),
                ("endpoint", e.label()),
                ("kind", kind.label()),
            ];
            sink.sample(&labels, Value::Int(*n));
        }
    }
    sink.family(&LOGINS);
    for (sps, v) in views {
        for (result, n) in ["success", "failure"].iter().zip(v.logins) {
            sink.sample(&[("sps", sps), ("result", result)], Value::Int(n));
        }
    }
    timestamps(views, sink);
    gauge(views, &TRACKED, sink, |v| {
        Some(v.ledger.tracked.len() as f64)
    });
    counter(views, &SPLITS, sink, |v| v.ledger.counters.window_splits);
    counter(views, &DROPPED, sink, |v| v.ledger.counters.dropped);
}

fn timestamps(views: &Views<'_>, sink: &mut impl MetricSink) {
    gauge(views, &LAST_SUCCESS, sink, |v| v.last_success);
    gauge(views, &WATERMARK, sink, |v| {
        v.ledger.watermark.map(|w| w.as_secs_f64())
    });
    gauge(views, &COUNTING_SINCE, sink, |v| {
        v.ledger.counting_since.map(|w| w.as_secs_f64())
    });
    gauge(views, &LAG, sink, |v| v.watermark_lag);
}

fn counter(
    views: &Views<'_>,
    desc: &FamilyDesc,
    sink: &mut impl MetricSink,
    get: impl Fn(&SpsView) -> u64,
) {
    sink.family(desc);
    for (sps, v) in views {
        sink.sample(&[("sps", sps)], Value::Int(get(v)));
    }
}
