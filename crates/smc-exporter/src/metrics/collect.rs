//! The walk over the [`Store`]: which families exist, in which order, with
//! which labels. Nothing here knows about text formats (see
//! [`exposition`](super::exposition)).
//!
//! Everything is read from `ArcSwap` snapshots and atomics, so a scrape never
//! waits on a socket task.

use crate::labels::StateFamily;
use crate::state::{MessageErrorKind, ReconnectReason, Store, SubscriptionState};
use smc_protocol::{Change, Definition};

use super::exposition::{FamilyDesc, MetricSink, Value};
use super::process::ProcessStats;
use super::{ProcessMetrics, RenderOptions};

// Per SMC.
pub const SMC_UP: FamilyDesc = FamilyDesc::gauge(
    "smc_up",
    "1 while a session with the SMC exists and the SMC answered recently (an upgrade with it was accepted, no connection failed since), else 0.",
);
pub const SMC_LOGINS: FamilyDesc =
    FamilyDesc::counter("smc_logins_total", "Successful logins to the SMC REST API.");
pub const SMC_LOGIN_FAILURES: FamilyDesc = FamilyDesc::counter(
    "smc_login_failures_total",
    "Login attempts to the SMC REST API answered with an error (not those without an answer).",
);

// Per subscription.
pub const SUB_UP: FamilyDesc = FamilyDesc::gauge(
    "smc_subscription_up",
    "1 while the subscription is connected and its current snapshot is complete, else 0.",
);
pub const SUB_ENTRIES: FamilyDesc = FamilyDesc::gauge(
    "smc_subscription_entries",
    "Table entries tracked by the subscription, including those in series dropped by the cap.",
);
pub const SUB_LAST_MESSAGE: FamilyDesc = FamilyDesc::gauge(
    "smc_subscription_last_message_timestamp_seconds",
    "Unix time of the last message received on the subscription, or of its first connection before any message; absent until then.",
)
.with_unit("seconds");
pub const SUB_RECONNECTS: FamilyDesc = FamilyDesc::counter(
    "smc_subscription_reconnects_total",
    "Reconnects of the subscription, by the reason the previous connection ended.",
);
pub const SUB_SNAPSHOTS: FamilyDesc = FamilyDesc::counter(
    "smc_subscription_snapshots_total",
    "Completed snapshots (initial synchronisation and every resync).",
);
pub const RECORDS: FamilyDesc = FamilyDesc::counter(
    "smc_monitoring_records_total",
    "Records received from the SMC, by change kind.",
);
pub const UNKNOWN_DELETES: FamilyDesc = FamilyDesc::counter(
    "smc_monitoring_unknown_deletes_total",
    "Deletes of entries the exporter did not hold.",
);
pub const MESSAGE_ERRORS: FamilyDesc = FamilyDesc::counter(
    "smc_monitoring_message_errors_total",
    "Received messages that could not be used, by kind.",
);

// The running daemon (only when the store has `runtime`).
pub const RELOAD_SUCCESSFUL: FamilyDesc = FamilyDesc::gauge(
    "smc_exporter_config_last_reload_successful",
    "1 if the last configuration reload attempt (SIGHUP, POST /-/reload, auto-reload) succeeded, else 0.",
);
pub const RELOAD_SUCCESS_TIME: FamilyDesc = FamilyDesc::gauge(
    "smc_exporter_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful configuration load (at start, or a reload).",
)
.with_unit("seconds");
pub const SHARD_ORDINAL: FamilyDesc = FamilyDesc::gauge(
    "smc_exporter_shard_ordinal",
    "The shard this replica serves (--shard, or the StatefulSet pod ordinal); 0 when not sharded.",
);
pub const TOTAL_SHARDS: FamilyDesc = FamilyDesc::gauge(
    "smc_exporter_total_shards",
    "The number of shards the engines are split into (--total-shards); 1 when not sharded.",
);

// Exporter.
pub const BUILD_INFO: FamilyDesc = FamilyDesc::gauge(
    "smc_exporter_build_info",
    "A metric with a constant '1' value labeled by version, revision and rustc_version of the build.",
);
pub const SERIES_LIMIT: FamilyDesc = FamilyDesc::gauge(
    "smc_exporter_series_limit",
    "Maximum number of series exported per state family (max_series_per_family).",
);
pub const SERIES_DROPPED: FamilyDesc = FamilyDesc::counter(
    "smc_exporter_series_dropped_total",
    "Records that needed a new series while their state family was at its series limit.",
);
// Its HELP names the cap.
const _: () = assert!(smc_fold::MAX_LABEL_VALUE_BYTES == 1024);
pub const LABEL_VALUES_TRUNCATED: FamilyDesc = FamilyDesc::counter(
    "smc_exporter_label_values_truncated_total",
    "Record field values cut to 1024 bytes to become label values of their state family.",
);

// Process.
pub const PROCESS_CPU: FamilyDesc = FamilyDesc::counter(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
)
.with_unit("seconds");
pub const PROCESS_RSS: FamilyDesc = FamilyDesc::gauge(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
)
.with_unit("bytes");
pub const PROCESS_VSIZE: FamilyDesc = FamilyDesc::gauge(
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes.",
)
.with_unit("bytes");
pub const PROCESS_OPEN_FDS: FamilyDesc =
    FamilyDesc::gauge("process_open_fds", "Number of open file descriptors.");
pub const PROCESS_MAX_FDS: FamilyDesc = FamilyDesc::gauge(
    "process_max_fds",
    "Maximum number of open file descriptors.",
);
pub const PROCESS_START: FamilyDesc = FamilyDesc::gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
)
.with_unit("seconds");

/// The state family of a definition.
pub fn state_family(d: Definition) -> FamilyDesc {
    FamilyDesc::gauge(d.family(), d.family_help())
}

/// The exporter's build, as labelled on `smc_exporter_build_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
    pub rustc_version: &'static str,
}

/// This binary's build (captured by `build.rs`).
pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    revision: env!("SMC_EXPORTER_REVISION"),
    rustc_version: env!("SMC_EXPORTER_RUSTC_VERSION"),
};

/// Walk the store and feed every family and sample to `sink`, in a fixed order.
pub fn collect(store: &Store, opts: &RenderOptions, sink: &mut impl MetricSink) {
    state_families(store, sink);
    smc_families(store, sink);
    subscription_families(store, sink);
    super::engines::engine_families(store, sink);
    super::notify::notification_families(store, sink);
    super::log_stream::log_stream_families(store, sink);
    exporter_families(store, opts, sink);
    runtime_families(store, sink);
    match opts.process {
        ProcessMetrics::Omit => {}
        ProcessMetrics::Read => process_families(&ProcessStats::read(), sink),
        ProcessMetrics::Fixed(p) => process_families(&p, sink),
    }
}

fn state_families(store: &Store, sink: &mut impl MetricSink) {
    let now = crate::smc::events::now_ms();
    for def in Definition::ALL {
        sink.family(&state_family(def));
        for sub in store
            .subscriptions
            .iter()
            .filter(|s| s.definition == def && !s.state_withdrawn(now))
        {
            // Sorted by label values and rendered once per snapshot.
            sink.series_lines(&sub.series_lines());
        }
    }
}

fn smc_families(store: &Store, sink: &mut impl MetricSink) {
    sink.family(&SMC_UP);
    for smc in &store.smcs {
        sink.sample(&[("smc", &smc.name)], Value::Int(smc.up().into()));
    }
    sink.family(&SMC_LOGINS);
    for smc in &store.smcs {
        sink.sample(&[("smc", &smc.name)], Value::Int(smc.logins()));
    }
    sink.family(&SMC_LOGIN_FAILURES);
    for smc in &store.smcs {
        sink.sample(&[("smc", &smc.name)], Value::Int(smc.login_failures()));
    }
}

fn sub_labels(s: &SubscriptionState) -> [(&str, &str); 3] {
    [
        ("smc", &s.smc),
        ("target", &s.target),
        ("definition", s.definition.label()),
    ]
}

/// One series per subscription, labelled `smc`, `target`, `definition`.
fn per_sub(
    store: &Store,
    sink: &mut impl MetricSink,
    desc: &FamilyDesc,
    value: impl Fn(&SubscriptionState) -> Option<Value>,
) {
    sink.family(desc);
    for s in &store.subscriptions {
        if let Some(v) = value(s) {
            sink.sample(&sub_labels(s), v);
        }
    }
}

/// One series per subscription and value of an extra bounded label.
fn per_sub_by<T: Copy>(
    store: &Store,
    sink: &mut impl MetricSink,
    desc: &FamilyDesc,
    label: &'static str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    value: impl Fn(&SubscriptionState, T) -> u64,
) {
    sink.family(desc);
    for s in &store.subscriptions {
        let [a, b, c] = sub_labels(s);
        for &k in all {
            sink.sample(&[a, b, c, (label, name(k))], Value::Int(value(s, k)));
        }
    }
}

fn subscription_families(store: &Store, sink: &mut impl MetricSink) {
    per_sub(store, sink, &SUB_UP, |s| {
        Some(Value::Int(s.health.up().into()))
    });
    per_sub(store, sink, &SUB_ENTRIES, |s| {
        Some(Value::Int(s.published().entries))
    });
    per_sub(store, sink, &SUB_LAST_MESSAGE, |s| {
        match s.health.last_message_ms() {
            0 => None,
            ms => Some(Value::Float(ms as f64 / 1000.0)),
        }
    });
    per_sub_by(
        store,
        sink,
        &SUB_RECONNECTS,
        "reason",
        &ReconnectReason::ALL,
        ReconnectReason::label,
        |s, r| s.health.reconnects(r),
    );
    per_sub(store, sink, &SUB_SNAPSHOTS, |s| {
        Some(Value::Int(s.health.snapshots()))
    });
    per_sub_by(
        store,
        sink,
        &RECORDS,
        "change",
        &Change::ALL,
        Change::wire_name,
        |s, c| s.health.records(c),
    );
    per_sub(store, sink, &UNKNOWN_DELETES, |s| {
        Some(Value::Int(s.health.unknown_deletes()))
    });
    per_sub_by(
        store,
        sink,
        &MESSAGE_ERRORS,
        "kind",
        &MessageErrorKind::ALL,
        MessageErrorKind::label,
        |s, k| s.health.message_errors(k),
    );
}

fn exporter_families(store: &Store, opts: &RenderOptions, sink: &mut impl MetricSink) {
    let b = &opts.build;
    sink.family(&BUILD_INFO);
    sink.sample(
        &[
            ("version", b.version),
            ("revision", b.revision),
            ("rustc_version", b.rustc_version),
        ],
        Value::Int(1),
    );
    let budgets = family_budgets(store);
    sink.family(&SERIES_LIMIT);
    for (family, budget) in &budgets {
        if let Some(b) = budget {
            sink.sample(&[("family", family)], Value::Int(b.cap() as u64));
        }
    }
    // Pre-initialised for every family with a cap: no budget means nothing
    // dropped.
    sink.family(&SERIES_DROPPED);
    for (family, budget) in &budgets {
        let dropped = budget.map_or(0, |b| b.dropped());
        sink.sample(&[("family", family)], Value::Int(dropped));
    }
    sink.family(&LABEL_VALUES_TRUNCATED);
    for (family, budget) in &budgets {
        let cut = budget.map_or(0, |b| b.truncated());
        sink.sample(&[("family", family)], Value::Int(cut));
    }
}

/// Every family with a series cap and its budget: the state families,
/// then the log families when some SMC has a log stream.
fn family_budgets(store: &Store) -> Vec<(&'static str, Option<&smc_fold::SeriesBudget>)> {
    let mut out: Vec<(&'static str, Option<&smc_fold::SeriesBudget>)> = Definition::ALL
        .iter()
        .map(|d| (d.family(), store.budget(d.family()).map(|b| &**b)))
        .collect();
    if let Some(b) = store
        .log_budgets
        .as_ref()
        .filter(|_| !store.log_streams.is_empty())
    {
        out.push(("smc_log_records_total", Some(&*b.records)));
        out.push(("smc_log_rule_hits_total", Some(&*b.rule_hits)));
    }
    out
}

/// The reload and shard gauges of a running daemon.
fn runtime_families(store: &Store, sink: &mut impl MetricSink) {
    let Some(rt) = &store.runtime else { return };
    sink.family(&RELOAD_SUCCESSFUL);
    sink.sample(&[], Value::Int(u64::from(rt.reload_ok())));
    sink.family(&RELOAD_SUCCESS_TIME);
    sink.sample(&[], Value::Float(rt.reload_success_ms() as f64 / 1000.0));
    sink.family(&SHARD_ORDINAL);
    sink.sample(&[], Value::Int(u64::from(rt.shard_ordinal)));
    sink.family(&TOTAL_SHARDS);
    sink.sample(&[], Value::Int(u64::from(rt.total_shards)));
}

/// The `process_*` families; a value that could not be read is omitted.
pub fn process_families(p: &ProcessStats, sink: &mut impl MetricSink) {
    let families: [(&FamilyDesc, Option<Value>); 6] = [
        (&PROCESS_CPU, p.cpu_seconds.map(Value::Float)),
        (&PROCESS_OPEN_FDS, p.open_fds.map(Value::Int)),
        (&PROCESS_MAX_FDS, p.max_fds.map(Value::Int)),
        (&PROCESS_VSIZE, p.virtual_memory_bytes.map(Value::Int)),
        (&PROCESS_RSS, p.resident_memory_bytes.map(Value::Int)),
        (&PROCESS_START, p.start_time_seconds.map(Value::Float)),
    ];
    for (desc, value) in families {
        if let Some(v) = value {
            sink.family(desc);
            sink.sample(&[], v);
        }
    }
}
