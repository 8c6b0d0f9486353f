//! The per-family series cap, end to end: at exactly the family's size
//! nothing is dropped, not even while a resync rebuilds every series; one
//! below, exactly the overflow is refused and counted.

use smc_lab::*;

const FAMILY: &str = "smc_connections";

fn family_series(text: &str) -> usize {
    state_samples(text)
        .keys()
        .filter(|(n, _)| n == FAMILY)
        .count()
}

fn dropped(text: &str) -> f64 {
    sum_where(
        &parse_samples(text),
        "smc_exporter_series_dropped_total",
        ("family", FAMILY),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_at_family_size_drops_nothing_across_resync() {
    let mut n = 0;
    let pair = start_pair_with(21, |cfg, sim| {
        n = family_series(&smc_lab::truth_text(sim, "demo"));
        cfg.max_series_per_family = n;
    })
    .await;
    assert!(
        n > 10,
        "the world must have a real connections family, got {n}"
    );
    pair.ready().await;
    pair.converge().await;
    assert_eq!(dropped(&pair.metrics().await), 0.0);

    // A resync rebuilds every series while the old ones are still served.
    pair.sim.drop_connections();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while pair
        .exporter
        .store()
        .subscriptions
        .iter()
        .any(|s| s.health.snapshots() < 2)
    {
        assert!(tokio::time::Instant::now() < deadline, "no resync in 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    pair.converge().await;
    assert_eq!(
        dropped(&pair.metrics().await),
        0.0,
        "a resync must not count series twice"
    );
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_below_family_size_refuses_and_counts() {
    let mut n = 0;
    let pair = start_pair_with(21, |cfg, sim| {
        n = family_series(&smc_lab::truth_text(sim, "demo"));
        cfg.max_series_per_family = n - 3;
    })
    .await;
    pair.ready().await;
    let text = pair.metrics().await;
    assert_eq!(family_series(&text), n - 3);
    assert!(
        dropped(&text) >= 3.0,
        "at least one record per refused series: {}",
        dropped(&text)
    );
    let limit = parse_samples(&text);
    assert_eq!(
        sum_where(&limit, "smc_exporter_series_limit", ("family", FAMILY)),
        (n - 3) as f64
    );
    pair.stop().await;
}
