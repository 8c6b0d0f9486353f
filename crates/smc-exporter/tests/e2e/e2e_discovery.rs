//! Discovery, wired (issue 11, items 3 and 4): an `[[smc]]` without
//! `engines` subscribes every engine the SMC lists, so its state equals the
//! simulator's truth for every engine; an engine added and one removed in
//! the simulator appear and vanish within one discovery interval; the
//! node-health families served on `/metrics` equal the truth, including
//! after a node goes offline. (Before the wiring: no subscription at all,
//! and no engine family on `/metrics`.)

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use smc_lab::*;
use smc_sim::{SimOptions, SimServer};

/// Bound of every wait in this file (many discovery intervals).
const WAIT: Duration = Duration::from_secs(20);

async fn control(sim: &SimServer, path: &str) -> Value {
    client::post_json(&client::http(), sim, path).await
}

/// Wait (bounded) until the served engine families equal the truth.
async fn engines_converge(pair: &Pair) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let want: BTreeMap<_, _> =
            engine_truth::engine_samples(&pair.smc, &pair.sim.engine_truth());
        let got = engine_truth::engine_families(&parse_samples(&pair.metrics().await));
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "engine families never matched the truth:\n got {got:#?}\nwant {want:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_without_engines_follows_the_smcs_engines_and_their_health() {
    let opts = SimOptions {
        seed: 17,
        engines: 7,
        ..SimOptions::default()
    };
    let pair = start_pair_opts(opts, |cfg, _| {
        cfg.smc[0].engines.clear();
        cfg.smc[0].discovery_interval = Duration::from_millis(300);
    })
    .await;
    // Every engine of the listing, every definition: the whole truth.
    pair.converge().await;
    engines_converge(&pair).await;

    control(&pair.sim, "/sim/engines?action=add&name=fw-new&nodes=2").await;
    control(&pair.sim, "/sim/engines?action=remove&name=plano-fw").await;
    // Within a discovery interval or two: fw-new subscribed, plano-fw gone
    // from every family (its subscriptions were removed, not left failing).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = pair.metrics().await;
        let served = |e: &str| {
            text.contains(&format!("engine=\"{e}\"")) || text.contains(&format!("target=\"{e}\""))
        };
        if served("fw-new") && !served("plano-fw") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "fw-new not subscribed or plano-fw still served:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pair.converge().await;
    engines_converge(&pair).await;

    control(
        &pair.sim,
        "/sim/nodes?engine=HQ%20Cluster&node=2&status=Offline",
    )
    .await;
    engines_converge(&pair).await;
    let text = pair.metrics().await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("smc_engine_node_status{")
                && l.contains("engine=\"HQ Cluster\"")
                && l.contains("status=\"Offline\"")
                && l.ends_with(" 1")),
        "{text}"
    );
    pair.stop().await;
}
