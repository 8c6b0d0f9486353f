//! The exporter against the simulator's "Use SSL for session ID" (token)
//! mode, end to end (moved from the simulator's `sim_token_table` tests).

use smc_lab::*;
use smc_sim::SimOptions;

fn token_opts(seed: u64) -> SimOptions {
    SimOptions {
        seed,
        churn_per_second: 0.0,
        token_auth: true,
        ..SimOptions::default()
    }
}

/// The exporter's token mode (Authorization on REST, `access_token`
/// subprotocol on every socket) against the simulator: state equals truth,
/// one login, and logout at shutdown ends the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporter_in_token_mode_matches_ground_truth() {
    let pair = start_pair_opts(token_opts(21), |_, _| {}).await;
    pair.ready().await;
    pair.converge().await;
    pair.sim.churn(200);
    pair.converge().await;
    let samples = parse_samples(&pair.metrics().await);
    let logins: f64 = samples
        .iter()
        .filter(|((n, _), _)| n == "smc_logins_total")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(logins, 1.0);
    pair.stop().await;
}
