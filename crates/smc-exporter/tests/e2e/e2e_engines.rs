//! The engine poll against the simulator (issue 11, items 3 and 4): the
//! node-health families and `smc_discovered_engines` equal the simulator's
//! truth (`GET /sim/truth/engines`), after a node goes offline through the
//! control endpoint, after churn moves node statuses, and after engines
//! are added and removed live; an expired session is renewed once.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use smc_exporter::config;
use smc_exporter::metrics::{BUILD, Format, ProcessMetrics, RenderOptions, render_with};
use smc_exporter::smc::engine_poll::{poll_once, run};
use smc_exporter::smc::session::SmcSession;
use smc_exporter::state::engines::{DiscoveryResult, EngineSnapshot, EngineState};
use smc_exporter::state::{SmcState, Store};
use smc_lab::*;
use smc_sim::{SimOptions, SimServer};

type Samples = BTreeMap<SeriesKey, f64>;

/// The SMC name of `config::demo`.
const SMC: &str = config::DEMO_SMC_NAME;

const OPTS: RenderOptions = RenderOptions {
    process: ProcessMetrics::Omit,
    build: BUILD,
};

fn key(name: &str, labels: &[(&str, &str)]) -> SeriesKey {
    (
        name.to_string(),
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The engine families of a render of `store`.
fn engine_samples(store: &Store) -> Samples {
    engine_truth::engine_families(&parse_samples(&render_with(store, Format::Text, &OPTS)))
}

fn runs(store: &Store, result: DiscoveryResult) -> f64 {
    let text = render_with(store, Format::Text, &OPTS);
    parse_samples(&text)[&key(
        "smc_discovery_runs_total",
        &[("smc", SMC), ("result", result.label())],
    )]
}

struct Poller {
    session: Arc<SmcSession>,
    store: Store,
}

impl Poller {
    fn new(sim: &SimServer) -> Poller {
        let w = sim.world_info();
        // The configured engines do not matter to the poll (today's config
        // requires one).
        let cfg = config::demo(
            &sim.url(),
            &w.api_key,
            &w.engines[..1],
            &w.alert_domains,
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let smc = Arc::new(SmcState::new(cfg.smc[0].name.as_str().into()));
        let session =
            Arc::new(SmcSession::new(&cfg.smc[0], smc.clone(), &cfg.subscription).unwrap());
        let store = Store {
            smcs: vec![smc.clone()],
            engines: vec![Arc::new(EngineState::new(smc.name.clone()))],
            ..Store::default()
        };
        Poller { session, store }
    }

    async fn poll(&self) -> DiscoveryResult {
        poll_once(&self.session, &self.store.engines[0]).await
    }

    async fn assert_equals_truth(&self, sim: &SimServer) {
        assert_eq!(self.poll().await, DiscoveryResult::Ok);
        let truth = sim.engine_truth();
        assert_eq!(
            engine_samples(&self.store),
            engine_truth::engine_samples(SMC, &truth)
        );
    }
}

async fn control(sim: &SimServer, path: &str) -> Value {
    client::post_json(&client::http(), sim, path).await
}

#[tokio::test]
async fn node_health_equals_the_truth_through_offline_nodes_churn_and_live_engines() {
    let sim = start_sim(SimOptions {
        engines: 12,
        ..SimOptions::default()
    })
    .await;
    let p = Poller::new(&sim);
    // Before any poll: the run counters only.
    assert_eq!(engine_samples(&p.store), Samples::new());
    p.assert_equals_truth(&sim).await;
    assert_eq!(sim.engine_truth().len(), 12);

    // A node set offline (and one lost: Unknown / TIMEOUT).
    control(&sim, "/sim/nodes?engine=HQ%20Cluster&node=2&status=Offline").await;
    control(&sim, "/sim/nodes?engine=fw-006&node=1&status=Unknown").await;
    p.assert_equals_truth(&sim).await;
    let s = engine_samples(&p.store);
    let status = |engine: &str, node: &str, v: &str| {
        s[&key(
            "smc_engine_node_status",
            &[
                ("smc", SMC),
                ("engine", engine),
                ("node", node),
                ("status", v),
            ],
        )]
    };
    assert_eq!(status("HQ Cluster", "HQ Cluster node 2", "Offline"), 1.0);
    assert_eq!(status("HQ Cluster", "HQ Cluster node 2", "Online"), 0.0);
    assert_eq!(status("HQ Cluster", "HQ Cluster node 1", "Online"), 1.0);

    // Churn moves node statuses (deterministically); still the truth.
    let before = sim.engine_truth();
    sim.churn(3000);
    assert_ne!(sim.engine_truth(), before);
    p.assert_equals_truth(&sim).await;

    // Engines added and removed live.
    control(&sim, "/sim/engines?action=add&name=fw-new&nodes=2").await;
    control(&sim, "/sim/engines?action=remove&name=plano-fw").await;
    p.assert_equals_truth(&sim).await;
    let s = engine_samples(&p.store);
    assert_eq!(s[&key("smc_discovered_engines", &[("smc", SMC)])], 12.0);
    assert!(
        !s.keys()
            .any(|(_, l)| l.get("engine").map(String::as_str) == Some("plano-fw"))
    );
    assert_eq!(runs(&p.store, DiscoveryResult::Ok), 4.0);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_and_failures_keep_the_last_listing() {
    let sim = start_sim(SimOptions::default()).await;
    let p = Poller::new(&sim);
    p.assert_equals_truth(&sim).await;
    assert_eq!(p.session.state.logins(), 1);
    // The SMC forgets the session: the poll is refused, the session is
    // renewed, the poll succeeds with the new one.
    assert_eq!(sim.expire_sessions(), 1);
    p.assert_equals_truth(&sim).await;
    assert_eq!(p.session.state.logins(), 2);
    assert_eq!(sim.sessions().live.len(), 1);

    // Logins refused: the run fails as login_failed and the last listing stays.
    let listed = engine_samples(&p.store);
    sim.expire_sessions();
    control(&sim, "/sim/fault/refuse_logins?seconds=60&status=401").await;
    assert_eq!(p.poll().await, DiscoveryResult::LoginFailed);
    assert_eq!(engine_samples(&p.store), listed);
    assert_eq!(runs(&p.store, DiscoveryResult::LoginFailed), 1.0);
    assert_eq!(runs(&p.store, DiscoveryResult::Ok), 2.0);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_poll_loop_sees_engines_come_and_go_within_one_interval() {
    use std::time::Duration;
    use tokio::time::{Instant, timeout};
    const INTERVAL: Duration = Duration::from_millis(400);
    // One interval plus its jitter, plus scheduling slack on a loaded machine.
    const WITHIN: Duration = Duration::from_millis(440 + 1500);
    let sim = start_sim(SimOptions::default()).await;
    let p = Poller::new(&sim);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(run(
        p.session.clone(),
        p.store.engines[0].clone(),
        INTERVAL,
        Duration::from_millis(100),
        cancel.clone(),
        move |s: &Arc<EngineSnapshot>| {
            let _ = tx.send(s.names());
        },
    ));
    // The first poll is at once.
    let first = timeout(WITHIN, rx.recv()).await.unwrap().unwrap();
    assert_eq!(first, sim.world_info().engines);
    // Wait for the listing `want` within one interval of `since`.
    async fn until_listed(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<String>>,
        want: &[String],
        since: Instant,
    ) {
        loop {
            let left = (since + WITHIN).saturating_duration_since(Instant::now());
            let got = timeout(left, rx.recv())
                .await
                .expect("not listed within one interval")
                .unwrap();
            if got == want {
                return;
            }
        }
    }
    control(&sim, "/sim/engines?action=add&name=fw-live").await;
    until_listed(&mut rx, &sim.world_info().engines, Instant::now()).await;
    assert!(sim.world_info().engines.contains(&"fw-live".to_string()));
    control(&sim, "/sim/engines?action=remove&name=ngf-1065").await;
    until_listed(&mut rx, &sim.world_info().engines, Instant::now()).await;
    assert_eq!(sim.world_info().engines.len(), 5);
    p.assert_equals_truth(&sim).await;
    cancel.cancel();
    timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    sim.shutdown().await;
}
