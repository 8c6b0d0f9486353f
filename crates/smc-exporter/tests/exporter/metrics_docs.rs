//! `docs/metrics.md` documents every family, label value and `group_by`
//! option the exporter has: the docs cannot drift from the code.

use smc_exporter::labels::StateFamily;
use smc_exporter::metrics::{Format, render_with};
use smc_exporter::state::{MessageErrorKind, ReconnectReason};
use smc_protocol::Change;
use smc_protocol::Definition;

fn docs() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/metrics.md"
    ))
    .unwrap()
}

#[test]
fn every_family_is_documented() {
    let docs = docs();
    let text = render_with(
        &crate::fixture::store(),
        Format::Text,
        &crate::fixture::WITH_PROCESS,
    );
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(families.len(), 8 + 3 + 8 + 4 + 6);
    for f in families {
        assert!(
            docs.contains(&format!("| `{f}` |")),
            "{f} has no row in docs/metrics.md"
        );
    }
}

#[test]
fn every_label_value_is_documented() {
    let docs = docs();
    let values = ReconnectReason::ALL
        .iter()
        .map(|r| r.label())
        .chain(Change::ALL.iter().map(|c| c.wire_name()))
        .chain(MessageErrorKind::ALL.iter().map(|k| k.label()))
        .chain(Definition::ALL.iter().map(|d| d.label()));
    for v in values {
        assert!(docs.contains(&format!("`{v}`")), "`{v}` is not documented");
    }
}

#[test]
fn every_group_by_option_is_documented() {
    let docs = docs();
    for d in Definition::ALL {
        let prefix = format!(
            "| `{}` | `{}` | `{}` | ",
            d.wire_name(false),
            d.family(),
            d.target_label()
        );
        let row = docs
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no group_by row for {d}"));
        let defaults: Vec<String> = d
            .default_group_by()
            .iter()
            .map(|l| format!("`{l}`"))
            .collect();
        assert!(
            row.contains(&format!("| {} |", defaults.join(", "))),
            "{d}: default group_by"
        );
        let allowed = row.rsplit(" | ").next().unwrap();
        let mut labels: Vec<&str> = allowed.split('`').skip(1).step_by(2).collect();
        let mut want: Vec<&str> = d.groupable().iter().map(|g| g.label).collect();
        labels.sort_unstable();
        want.sort_unstable();
        assert_eq!(labels, want, "{d}: allowed group_by labels");
    }
}

#[test]
fn the_running_daemons_families_are_documented() {
    let docs = docs();
    let mut store = crate::fixture::store();
    store.runtime = Some(std::sync::Arc::new(smc_exporter::state::RuntimeInfo::new(
        1,
        3,
        1_700_000_000_500,
    )));
    let text = render_with(&store, Format::Text, &crate::fixture::GOLDEN);
    let samples: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("smc_exporter_config_")
                || l.starts_with("smc_exporter_shard")
                || l.starts_with("smc_exporter_total")
        })
        .collect();
    assert_eq!(
        samples,
        [
            "smc_exporter_config_last_reload_successful 1",
            "smc_exporter_config_last_reload_success_timestamp_seconds 1700000000.5",
            "smc_exporter_shard_ordinal 1",
            "smc_exporter_total_shards 3",
        ]
    );
    for l in samples {
        let f = l.split(' ').next().unwrap();
        assert!(
            docs.contains(&format!("| `{f}` |")),
            "{f} has no row in docs/metrics.md"
        );
    }
    // A store built by hand has none of them.
    let plain = render_with(
        &crate::fixture::store(),
        Format::Text,
        &crate::fixture::GOLDEN,
    );
    assert!(!plain.contains("smc_exporter_config_"));
}

#[test]
fn every_engine_family_and_value_is_documented() {
    use smc_exporter::metrics::engines::{NODE_STATES, NODE_STATUSES};
    use smc_exporter::state::engines::DiscoveryResult;
    let docs = docs();
    let text = render_with(
        &crate::fixture::engine_store(),
        Format::Text,
        &crate::fixture::GOLDEN,
    );
    let engine_families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .filter(|f| f.starts_with("smc_engine_") || f.starts_with("smc_discover"))
        .collect();
    assert_eq!(
        engine_families,
        [
            "smc_engine_node_info",
            "smc_engine_node_status",
            "smc_engine_node_state",
            "smc_discovered_engines",
            "smc_discovery_runs_total"
        ]
    );
    for f in engine_families {
        assert!(
            docs.contains(&format!("| `{f}` |")),
            "{f} has no row in docs/metrics.md"
        );
    }
    let values = NODE_STATUSES
        .iter()
        .chain(NODE_STATES.iter())
        .copied()
        .chain(DiscoveryResult::ALL.iter().map(|r| r.label()));
    for v in values {
        assert!(docs.contains(&format!("`{v}`")), "`{v}` is not documented");
    }
    // Without a polled SMC there are none of them.
    let plain = render_with(
        &crate::fixture::store(),
        Format::Text,
        &crate::fixture::GOLDEN,
    );
    assert!(!plain.contains("smc_engine_") && !plain.contains("smc_discover"));
}

#[test]
fn every_notification_family_and_value_is_documented() {
    use smc_exporter::state::notify::ACTIONS;
    let docs = docs();
    let text = render_with(
        &crate::fixture::notify_store(),
        Format::Text,
        &crate::fixture::GOLDEN,
    );
    let samples: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("smc_element_") || l.starts_with("smc_notification_"))
        .filter(|l| !l.contains("reconnects_total"))
        .collect();
    assert_eq!(
        samples,
        [
            r#"smc_element_changes_total{smc="smc-a",element_type="host",action="create"} 2"#,
            r#"smc_element_changes_total{smc="smc-a",element_type="host",action="update"} 0"#,
            r#"smc_element_changes_total{smc="smc-a",element_type="host",action="delete"} 0"#,
            r#"smc_element_changes_total{smc="smc-a",element_type="other",action="trashed"} 1"#,
            r#"smc_notification_up{smc="smc-a"} 1"#,
            r#"smc_notification_malformed_total{smc="smc-a"} 0"#,
        ]
    );
    let families = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .filter(|f| f.starts_with("smc_element_") || f.starts_with("smc_notification_"));
    for f in families {
        assert!(
            docs.contains(&format!("| `{f}` |")),
            "{f} has no row in docs/metrics.md"
        );
    }
    for a in ACTIONS {
        assert!(docs.contains(&format!("`{a}`")), "`{a}` is not documented");
    }
    let plain = render_with(
        &crate::fixture::store(),
        Format::Text,
        &crate::fixture::GOLDEN,
    );
    assert!(!plain.contains("smc_element_") && !plain.contains("smc_notification_"));
}

#[test]
fn every_log_stream_family_and_label_is_documented() {
    let docs = docs();
    let text = render_with(
        &crate::fixture::log_stream_store(),
        Format::Text,
        &crate::fixture::GOLDEN,
    );
    let samples: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("smc_log_") || l.contains("family=\"smc_log_"))
        .filter(|l| !l.contains("reconnects_total"))
        .collect();
    assert_eq!(
        samples,
        [
            r#"smc_log_records_total{smc="smc-a",stream="all",engine="fw",action="Allow"} 1"#,
            r#"smc_log_records_total{smc="smc-a",stream="all",engine="fw",action="Discard"} 1"#,
            r#"smc_log_bytes_total{smc="smc-a",stream="all",engine="fw",action="Allow",direction="sent"} 1200"#,
            r#"smc_log_bytes_total{smc="smc-a",stream="all",engine="fw",action="Allow",direction="received"} 34"#,
            r#"smc_log_rule_hits_total{smc="smc-a",stream="all",engine="fw",rule_tag="@7.1"} 1"#,
            r#"smc_log_rule_hits_total{smc="smc-a",stream="all",engine="fw",rule_tag="@9.1"} 1"#,
            r#"smc_log_stream_up{smc="smc-a",stream="all"} 1"#,
            r#"smc_log_stream_gap_seconds_total{smc="smc-a",stream="all"} 0.0"#,
            r#"smc_log_stream_malformed_total{smc="smc-a",stream="all"} 0"#,
            r#"smc_exporter_series_limit{family="smc_log_records_total"} 100"#,
            r#"smc_exporter_series_limit{family="smc_log_rule_hits_total"} 100"#,
            r#"smc_exporter_series_dropped_total{family="smc_log_records_total"} 0"#,
            r#"smc_exporter_series_dropped_total{family="smc_log_rule_hits_total"} 0"#,
            r#"smc_exporter_label_values_truncated_total{family="smc_log_records_total"} 0"#,
            r#"smc_exporter_label_values_truncated_total{family="smc_log_rule_hits_total"} 0"#,
        ]
    );
    let families = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .filter(|f| f.starts_with("smc_log_"));
    let mut n = 0;
    for f in families {
        n += 1;
        assert!(
            docs.contains(&format!("| `{f}` |")),
            "{f} has no row in docs/metrics.md"
        );
    }
    assert_eq!(n, 7);
    for g in smc_exporter::labels::LOG_GROUPABLE {
        let row = format!("| `{}` | {} |", g.label, g.field());
        assert!(
            docs.contains(&row),
            "log group_by {row:?} is not in docs/metrics.md"
        );
    }
    let plain = render_with(
        &crate::fixture::store(),
        Format::Text,
        &crate::fixture::GOLDEN,
    );
    assert!(!plain.contains("smc_log_"));
}
