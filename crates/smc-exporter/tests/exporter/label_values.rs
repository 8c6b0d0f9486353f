//! Label values are capped (issue 8, item 7): a record field value longer
//! than `MAX_LABEL_VALUE_BYTES` becomes a label of exactly the cap (on a
//! character boundary) and the cut is counted in
//! `smc_exporter_label_values_truncated_total{family}`; fifty 1 MiB node
//! values no longer make a 52 MB exposition.

use smc_exporter::labels::StateFamily;
use std::sync::Arc;

use smc_exporter::metrics::{Format, ProcessMetrics, RenderOptions, render_with};
use smc_exporter::state::{SmcState, Store, SubscriptionState};
use smc_fold::{RecordFold, SeriesBudget, Table};
use smc_protocol::{Definition, Records, ServerMessage};

const OPTS: RenderOptions = RenderOptions {
    process: ProcessMetrics::Omit,
    build: smc_exporter::metrics::BUILD,
};
const CAP: usize = 1024;

fn records(rows: &[(String, String)]) -> Records<'static> {
    // ACTIVE_ALERTS with `group_by = ["severity", "node"]`: 602 and 4.
    let added: Vec<serde_json::Value> = rows
        .iter()
        .map(|(key, node)| serde_json::json!({"delta_key": key, "602": "10", "4": node}))
        .collect();
    let text = serde_json::json!({"fetch": 1, "records": {"added": added}}).to_string();
    match smc_protocol::decode(&text) {
        Ok(ServerMessage::Records { records, .. }) => records.into_owned(),
        other => panic!("not records: {other:?}"),
    }
}

/// Fold `rows` into a one-subscription store and render it.
fn fold_and_render(rows: &[(String, String)]) -> (Store, String) {
    let d = Definition::ActiveAlerts;
    let fields = [
        d.group_field("severity").unwrap(),
        d.group_field("node").unwrap(),
    ];
    let budget = Arc::new(SeriesBudget::new(10_000));
    let mut table = Table::new(2, budget.clone());
    RecordFold::new(&fields.map(|g| g.pick())).apply(&mut table, &records(rows));
    let sub = Arc::new(SubscriptionState::new(
        "smc".into(),
        "Shared Domain".into(),
        d,
        vec!["severity", "node"].into(),
    ));
    sub.publish(table.publish());
    let store = Store {
        runtime: None,
        smcs: vec![Arc::new(SmcState::new("smc".into()))],
        subscriptions: vec![sub],
        budgets: Definition::ALL
            .iter()
            .map(|x| {
                let b = if *x == d {
                    budget.clone()
                } else {
                    Arc::new(SeriesBudget::new(10_000))
                };
                (x.family(), b)
            })
            .collect(),
        ..Store::default()
    };
    let text = render_with(&store, Format::Text, &OPTS);
    (store, text)
}

/// The `node` label values of the `smc_active_alerts` samples.
fn nodes(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("smc_active_alerts{"))
        .map(|l| {
            let from = l.find("node=\"").unwrap() + 6;
            let to = l[from..].find('"').unwrap() + from;
            l[from..to].to_string()
        })
        .collect()
}

fn truncated_sample(text: &str) -> Option<&str> {
    text.lines().find(|l| {
        l.starts_with("smc_exporter_label_values_truncated_total{family=\"smc_active_alerts\"}")
    })
}

#[test]
fn a_1_mib_value_becomes_a_label_of_exactly_the_cap_and_is_counted_once() {
    let (store, text) = fold_and_render(&[("a".into(), "n".repeat(1 << 20))]);
    let lengths: Vec<usize> = nodes(&text).iter().map(String::len).collect();
    assert_eq!(lengths, [CAP]);
    assert_eq!(nodes(&text), ["n".repeat(CAP)]);
    assert_eq!(
        truncated_sample(&text),
        Some("smc_exporter_label_values_truncated_total{family=\"smc_active_alerts\"} 1")
    );
    assert_eq!(store.budget("smc_active_alerts").unwrap().truncated(), 1);
    assert_eq!(smc_fold::MAX_LABEL_VALUE_BYTES, CAP);
}

#[test]
fn multibyte_values_are_cut_on_a_character_boundary() {
    // "€" is 3 bytes: 341 of them (1,023 bytes) fit.
    let (_, text) = fold_and_render(&[("a".into(), "€".repeat(100_000))]);
    let lengths: Vec<usize> = nodes(&text).iter().map(String::len).collect();
    assert_eq!(lengths, [1023]);
    assert_eq!(nodes(&text), ["€".repeat(341)]);
    assert!(truncated_sample(&text).unwrap().ends_with(" 1"));
}

#[test]
fn values_within_the_cap_are_not_cut_nor_counted() {
    let (_, text) = fold_and_render(&[
        ("a".into(), "n".repeat(CAP)),
        ("b".into(), "fw-1 node 1".into()),
    ]);
    let mut got = nodes(&text);
    got.sort();
    assert_eq!(got, ["fw-1 node 1".to_string(), "n".repeat(CAP)]);
    assert!(truncated_sample(&text).unwrap().ends_with(" 0"));
}

/// The probe: fifty distinct 1 MiB node values made a 52 MB
/// exposition. Now fifty series of at most 1 KiB labels.
#[test]
fn fifty_1_mib_node_values_make_a_small_exposition() {
    let rows: Vec<(String, String)> = (0..50)
        .map(|i| (format!("k{i}"), format!("{i:02}{}", "x".repeat(1 << 20))))
        .collect();
    let (_, text) = fold_and_render(&rows);
    // Each sample line: the 1 KiB node, the other labels and the value.
    let family_bytes: usize = text
        .lines()
        .filter(|l| l.starts_with("smc_active_alerts{"))
        .map(|l| l.len() + 1)
        .sum();
    assert!(
        family_bytes <= 50 * (CAP + 100),
        "{family_bytes} bytes of smc_active_alerts samples"
    );
    assert_eq!(nodes(&text).len(), 50);
    assert!(nodes(&text).iter().all(|n| n.len() == CAP));
    assert!(truncated_sample(&text).unwrap().ends_with(" 50"));
}
