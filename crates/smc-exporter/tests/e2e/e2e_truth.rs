//! End to end: the simulator and the exporter on loopback; for every
//! definition the exporter's state families equal the simulator's ground truth
//! after the snapshot, after churn, and after the simulator drops the
//! connections (with changes made during the outage).

use smc_exporter::labels::StateFamily;
use std::collections::BTreeSet;

use smc_lab::*;
use smc_protocol::Definition;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_churn_and_reconnect_match_ground_truth() {
    let pair = start_pair(11).await;
    pair.ready().await;

    // After the snapshot.
    let truth = pair.converge().await;
    let families: BTreeSet<_> = truth.keys().map(|(n, _)| n.as_str()).collect();
    for d in Definition::ALL {
        assert!(
            families.contains(d.family()),
            "the world has no {} series; the test would prove nothing",
            d.family()
        );
    }
    let samples = parse_samples(&pair.metrics().await);
    for s in &pair.exporter.store().subscriptions {
        let key = (
            "smc_subscription_up".to_string(),
            [
                ("smc", &*s.smc),
                ("target", &*s.target),
                ("definition", s.definition.label()),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        );
        assert_eq!(samples.get(&key), Some(&1.0), "{key:?}");
    }

    // After a period of churn.
    assert_eq!(pair.sim.churn(400), 400);
    pair.converge().await;
    let after_churn = parse_samples(&pair.metrics().await);
    assert!(
        sum_where(
            &after_churn,
            "smc_monitoring_records_total",
            ("change", "updated")
        ) > 0.0
    );
    assert!(
        sum_where(
            &after_churn,
            "smc_monitoring_records_total",
            ("change", "deleted")
        ) > 0.0
    );

    // After the simulator drops every connection, with changes during the outage.
    let dropped = pair.sim.drop_connections();
    assert_eq!(dropped, pair.exporter.store().subscriptions.len());
    pair.sim.churn(300);
    pair.converge().await;
    let after_drop = parse_samples(&pair.metrics().await);
    let reconnects: f64 = after_drop
        .iter()
        .filter(|((n, _), _)| n == "smc_subscription_reconnects_total")
        .map(|(_, v)| v)
        .sum();
    assert!(
        reconnects >= dropped as f64,
        "every dropped subscription reconnected: {reconnects}"
    );
    for s in &pair.exporter.store().subscriptions {
        assert!(
            s.health.snapshots() >= 2,
            "{}/{} resynced",
            s.target,
            s.definition
        );
    }
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_do_not_appear_on_metrics_or_landing_page() {
    let pair = start_pair(3).await;
    pair.ready().await;
    let key = pair.sim.world_info().api_key;
    assert!(
        key.len() >= 8,
        "the simulator's key is a real secret: {}",
        key.len()
    );
    let landing = pair.get("/").await;
    for (what, page) in [("/metrics", pair.metrics().await), ("/", landing)] {
        assert!(!page.contains(&key), "{what} leaks the API key");
        assert!(
            !page.contains("JSESSIONID"),
            "{what} leaks the session cookie"
        );
    }
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_keeps_serving_the_previous_state() {
    let pair = start_pair(5).await;
    pair.ready().await;
    let before = pair.converge().await;
    // Without churn, whatever moment the scrape lands in (outage, resync or
    // after), the served state must be the full previous state: no dip.
    pair.sim.drop_connections();
    for _ in 0..20 {
        assert_eq!(state_samples(&pair.metrics().await), before);
    }
    pair.stop().await;
}
