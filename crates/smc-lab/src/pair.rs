//! A simulator and an exporter on loopback, in this process: the pair the
//! end-to-end tests drive, and the ways to wait for them.

use std::collections::BTreeMap;
use std::time::Duration;

use smc_exporter::app::Exporter;
use smc_exporter::config::{self, Config};
use smc_sim::{self as sim, SimOptions, SimServer};
use tokio::net::TcpListener;

use crate::expo::{SeriesKey, state_samples};
use crate::truth::truth_text;

pub struct Pair {
    pub sim: SimServer,
    pub exporter: Exporter,
    pub http: reqwest::Client,
    pub smc: String,
}

/// Fast timings for tests: the real defaults are seconds.
pub fn fast(cfg: &mut Config) {
    cfg.subscription.backoff_initial = Duration::from_millis(20);
    cfg.subscription.backoff_max = Duration::from_millis(300);
    cfg.subscription.snapshot_settle = Duration::from_millis(300);
    cfg.subscription.connect_timeout = Duration::from_secs(5);
}

/// A simulator on 127.0.0.1:0 whose `GET /sim/truth` renders with
/// [`crate::truth::renderer`] and `GET /sim/sps/truth` with
/// [`crate::sps_truth::renderer`] (unless `opts` names others).
pub async fn start_sim(mut opts: SimOptions) -> SimServer {
    smc_exporter::smc::tls::install_default_provider();
    if opts.truth_text.is_none() {
        opts.truth_text = Some(crate::truth::renderer());
    }
    if let Some(sps) = opts.sps.as_mut() {
        sps.truth_text
            .get_or_insert_with(crate::sps_truth::renderer);
    }
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    sim::start(l, opts).await.unwrap()
}

/// Simulator + exporter monitoring every engine and alert domain of the world.
pub async fn start_pair(seed: u64) -> Pair {
    start_pair_with(seed, |_, _| {}).await
}

/// Like [`start_pair`], with a hook that may change the exporter config
/// (it also sees the simulator, e.g. to read the ground truth).
pub async fn start_pair_with(seed: u64, tweak: impl FnOnce(&mut Config, &SimServer)) -> Pair {
    start_pair_opts(
        SimOptions {
            seed,
            ..SimOptions::default()
        },
        tweak,
    )
    .await
}

/// Like [`start_pair_with`], with every simulator option chosen by the caller.
pub async fn start_pair_opts(
    opts: SimOptions,
    tweak: impl FnOnce(&mut Config, &SimServer),
) -> Pair {
    smc_exporter::smc::tls::install_default_provider();
    let sim = start_sim(opts).await;
    let w = sim.world_info();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut cfg = config::demo(&sim.url(), &w.api_key, &w.engines, &w.alert_domains, addr).unwrap();
    fast(&mut cfg);
    tweak(&mut cfg, &sim);
    let exporter = Exporter::start(&cfg, l).await.unwrap();
    Pair {
        sim,
        exporter,
        http: crate::http::client(),
        smc: cfg.smc[0].name.clone(),
    }
}

impl Pair {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.exporter.addr(), path)
    }

    /// The body of `GET path` on the exporter (any status).
    pub async fn get(&self, path: &str) -> String {
        let req = self.http.get(self.url(path)).header("accept", "text/plain");
        req.send().await.unwrap().text().await.unwrap()
    }

    /// `/metrics` in Prometheus text format.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await
    }

    /// Wait (bounded) until every subscription finished its first snapshot.
    pub async fn ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !self.exporter.store().ready() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "exporter not ready in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Wait (bounded) until the exporter's state families equal the
    /// simulator's ground truth; on timeout, fail showing the difference.
    pub async fn converge(&self) -> BTreeMap<SeriesKey, f64> {
        self.converge_to(|| truth_text(&self.sim, &self.smc)).await
    }

    /// [`Pair::converge`] to the truth `truth` renders (as `/sim/truth`
    /// text), e.g. of filtered tables.
    pub async fn converge_to(&self, truth: impl Fn() -> String) -> BTreeMap<SeriesKey, f64> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let truth = state_samples(&truth());
            let got = state_samples(&self.metrics().await);
            if got == truth {
                return truth;
            }
            if tokio::time::Instant::now() > deadline {
                let missing: Vec<_> = truth
                    .iter()
                    .filter(|(k, v)| got.get(*k) != Some(v))
                    .take(10)
                    .collect();
                let extra: Vec<_> = got
                    .iter()
                    .filter(|(k, v)| truth.get(*k) != Some(v))
                    .take(10)
                    .collect();
                panic!(
                    "exporter never matched the ground truth\nexpected but not served: {missing:#?}\nserved but not expected: {extra:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn stop(self) {
        self.exporter.shutdown().await;
        self.sim.shutdown().await;
    }
}
