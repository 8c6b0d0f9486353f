//! A hand-built store shared by the metrics and HTTP tests.
#![allow(dead_code)]

use smc_exporter::labels::StateFamily;
use std::sync::Arc;

use smc_exporter::metrics::{BuildInfo, ProcessMetrics, ProcessStats, RenderOptions};
use smc_exporter::state::{MessageErrorKind, ReconnectReason, SmcState, Store, SubscriptionState};
use smc_fold::{Published, SeriesBudget};
use smc_protocol::{Change, Definition};

pub const BUILD: BuildInfo = BuildInfo {
    version: "0.1.0",
    revision: "abc1234",
    rustc_version: "1.95.0",
};

/// Golden renders: no machine-dependent `process_*`, pinned build labels.
pub const GOLDEN: RenderOptions = RenderOptions {
    process: ProcessMetrics::Omit,
    build: BUILD,
};

/// Pinned process values, for renders that include the `process_*` families.
pub const PROCESS: ProcessStats = ProcessStats {
    cpu_seconds: Some(12.34),
    resident_memory_bytes: Some(25_165_824),
    virtual_memory_bytes: Some(1_073_741_824),
    open_fds: Some(17),
    max_fds: Some(1_048_576),
    start_time_seconds: Some(1_699_999_000.25),
};

pub const WITH_PROCESS: RenderOptions = RenderOptions {
    process: ProcessMetrics::Fixed(PROCESS),
    build: BUILD,
};

fn values(v: &[&str]) -> Arc<[Arc<str>]> {
    v.iter().map(|s| Arc::from(*s)).collect()
}

pub fn sub(
    smc: &str,
    target: &str,
    def: Definition,
    labels: &[&'static str],
    groups: &[(&[&str], u64)],
    entries: u64,
) -> Arc<SubscriptionState> {
    let s = SubscriptionState::new(smc.into(), target.into(), def, labels.to_vec().into());
    s.publish(Published {
        groups: groups.iter().map(|(v, n)| (values(v), *n)).collect(),
        entries,
    });
    Arc::new(s)
}

/// Two SMCs, four subscriptions (one ACTIVE_ALERTS with `domain`), label
/// values that need escaping, and some health counters.
pub fn store() -> Store {
    let a = Arc::new(SmcState::new("smc-a".into()));
    a.set_up(true);
    for _ in 0..3 {
        a.inc_logins();
    }
    a.inc_login_failures();
    let b = Arc::new(SmcState::new("smc-b".into()));
    b.inc_login_failures();
    b.inc_login_failures();

    // Groups deliberately out of order: the render sorts them.
    let conns = sub(
        "smc-a",
        "fw-1",
        Definition::Connections,
        &["node", "protocol", "state"],
        &[
            (&["fw-1 node 2", "TCP", "TCP established"], 5),
            (&["fw-1 node 1", "UDP", "UDP"], 7),
            (&["fw-1 node 1", "TCP", "TCP established"], 42),
        ],
        54,
    );
    let h = &conns.health;
    h.set_up(true);
    h.set_ready();
    h.touch(1_700_000_000_123);
    h.inc_reconnect(ReconnectReason::Closed);
    h.inc_reconnect(ReconnectReason::Closed);
    h.inc_reconnect(ReconnectReason::Idle);
    h.add_records(Change::Added, 60);
    h.add_records(Change::Updated, 10);
    h.add_records(Change::Deleted, 6);
    h.inc_snapshots();
    h.inc_snapshots();
    h.inc_snapshots();
    h.add_unknown_deletes(1);
    h.inc_message_error(MessageErrorKind::Malformed);

    let blocks = sub(
        "smc-a",
        "edge\\fw \"2\"",
        Definition::BlockList,
        &["node", "protocol"],
        &[(&["node\n1", "TCP"], 3)],
        3,
    );
    blocks.health.set_up(true);
    blocks.health.set_ready();
    blocks.health.touch(1_700_000_001_000);
    blocks.health.inc_snapshots();
    blocks.health.add_records(Change::Added, 3);

    let alerts = sub(
        "smc-a",
        "Shared Domain",
        Definition::ActiveAlerts,
        &["severity"],
        &[(&["low"], 5), (&["critical"], 2)],
        7,
    );
    alerts.health.set_up(true);
    alerts.health.set_ready();
    alerts.health.touch(1_700_000_002_500);
    alerts.health.inc_snapshots();
    alerts.health.add_records(Change::Added, 7);

    // Never connected: down, not ready, no last-message series.
    let routes = sub(
        "smc-b",
        "fw-3",
        Definition::Routing,
        &["route_type"],
        &[],
        0,
    );
    routes.health.inc_reconnect(ReconnectReason::LoginFailed);
    routes.health.inc_reconnect(ReconnectReason::LoginFailed);

    let budgets = Definition::ALL
        .iter()
        .map(|d| {
            let cap = if *d == Definition::Connections {
                3
            } else {
                10_000
            };
            let budget = Arc::new(SeriesBudget::new(cap));
            if *d == Definition::Connections {
                for _ in 0..5 {
                    budget.try_acquire();
                }
            }
            if *d == Definition::ActiveAlerts {
                budget.note_truncated(4);
            }
            (d.family(), budget)
        })
        .collect();

    Store {
        runtime: None,
        smcs: vec![a, b],
        subscriptions: vec![conns, blocks, alerts, routes],
        budgets,
        ..Store::default()
    }
}

/// A store with one polled SMC: the engine families are rendered only then.
pub fn engine_store() -> smc_exporter::state::Store {
    use smc_exporter::state::engines::*;
    use std::sync::Arc;
    let st = EngineState::new("smc-a".into());
    st.publish(EngineSnapshot {
        engines: vec![EngineInfo {
            name: "fw".into(),
            etype: "single_fw".into(),
            nodes: vec![NodeInfo {
                name: "fw node 1".into(),
                health: Some(NodeHealth {
                    status: Some("Online".into()),
                    ..NodeHealth::default()
                }),
            }],
        }],
    });
    smc_exporter::state::Store {
        engines: vec![Arc::new(st)],
        ..smc_exporter::state::Store::default()
    }
}

/// A store with one SMC's notification socket: up, two host creations and
/// one change of an unconfigured type.
pub fn notify_store() -> smc_exporter::state::Store {
    use smc_exporter::state::notify::NotifyState;
    use std::sync::Arc;
    let st = NotifyState::new("smc-a".into(), &["host".into()]);
    st.count(Some("host"), "create");
    st.count(Some("host"), "create");
    st.count(Some("router"), "trashed");
    st.set_up(true);
    smc_exporter::state::Store {
        notifications: vec![Arc::new(st)],
        ..smc_exporter::state::Store::default()
    }
}

/// A store with one SMC's log stream `all` (by engine and action, with
/// rule hits): up, two records of which one closed a connection.
pub fn log_stream_store() -> smc_exporter::state::Store {
    use smc_exporter::config::LogStreamConfig;
    use smc_exporter::labels::log_group_field;
    use smc_exporter::state::log_stream::{LogBudgets, LogStreamState};
    use std::sync::Arc;
    let budgets = LogBudgets {
        records: Arc::new(smc_fold::SeriesBudget::new(100)),
        rule_hits: Arc::new(smc_fold::SeriesBudget::new(100)),
    };
    let config = LogStreamConfig {
        name: "all".into(),
        filter: None,
        group_by: ["engine", "action"]
            .iter()
            .filter_map(|l| log_group_field(l))
            .collect(),
        rule_hits: true,
    };
    let st = LogStreamState::new("smc-a".into(), config, None, budgets.clone());
    let closed: &[(u32, &str)] = &[
        (4, "fw node 1"),
        (14, "Allow"),
        (20, "@7.1"),
        (105, "1200"),
        (106, "34"),
    ];
    let discard: &[(u32, &str)] = &[(4, "fw node 2"), (14, "Discard"), (20, "@9.1")];
    st.count_batch(&[closed, discard]);
    st.set_up(true);
    smc_exporter::state::Store {
        log_streams: vec![Arc::new(st)],
        log_budgets: Some(budgets),
        ..smc_exporter::state::Store::default()
    }
}
