//! The SPS source end to end (issue 14): the exporter polls the simulator's
//! SPS appliance and every `sps_` data family equals the simulator's ground
//! truth for the exporter's own counting start
//! (`sps_counting_since_timestamp_seconds`), after churn, after each fault
//! (cookie expiry, 5xx, 429, a window over the 10,000-result cap), and
//! across a restart with and without the state file. An SMC and an SPS in
//! one config run side by side; one failing leaves the other alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use smc_exporter::app::Exporter;
use smc_exporter::config;
use smc_lab::*;
use smc_sim::{SimOptions, SimServer};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(40);

/// The data families of the truth (the self families are the exporter's own).
const DATA: &[&str] = &[
    "sps_info",
    "sps_active_sessions",
    "sps_sessions_started_total",
    "sps_sessions_closed_total",
    "sps_session_duration_seconds_bucket",
    "sps_session_duration_seconds_sum",
    "sps_session_duration_seconds_count",
    "sps_session_risk_score_bucket",
    "sps_session_risk_score_sum",
    "sps_session_risk_score_count",
    "sps_alerts_total",
    "sps_cpu_usage_percent",
    "sps_memory_usage_percent",
    "sps_swap_usage_percent",
    "sps_disk_usage_percent",
    "sps_load_average",
    "sps_indexer_workers",
    "sps_indexer_idle_workers",
    "sps_indexer_jobs",
    "sps_raid_ok",
];

/// `le` as a number, so `10` and `10.0` are the same bucket.
fn normalized(m: &BTreeMap<SeriesKey, f64>) -> BTreeMap<SeriesKey, f64> {
    m.iter()
        .filter(|((n, _), _)| DATA.contains(&n.as_str()))
        .map(|((n, l), v)| {
            let mut l = l.clone();
            if let Some(le) = l.get_mut("le") {
                if let Ok(x) = le.parse::<f64>() {
                    *le = format!("{x}");
                }
            }
            ((n.clone(), l), *v)
        })
        .collect()
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new(sim: &SimServer) -> Dir {
        let dir = tempfile::tempdir().unwrap();
        let w = sim.sps_world().unwrap();
        std::fs::write(dir.path().join("sps.pass"), &w.password).unwrap();
        Dir { dir }
    }

    /// A config with one `[[sps]]` named `pam` (and `extra` inside its table).
    fn config(&self, sim: &SimServer, extra: &str) -> PathBuf {
        let w = sim.sps_world().unwrap();
        let text = format!(
            "[[sps]]\nname = \"pam\"\nurl = \"{}\"\nusername = \"{}\"\npassword_file = \"sps.pass\"\npoll_interval = \"1s\"\nlookback = \"1h\"\n{extra}\n",
            w.url, w.username
        );
        let path = self.dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

async fn start(path: &Path) -> Exporter {
    smc_exporter::smc::tls::install_default_provider();
    let cfg = config::load(path).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Exporter::start(&cfg, l).await.unwrap()
}

async fn scrape(x: &Exporter) -> BTreeMap<SeriesKey, f64> {
    let (status, body) = http_get(&format!("http://{}/metrics", x.addr())).await;
    assert_eq!(status, 200);
    parse_samples(&body)
}

fn value(m: &BTreeMap<SeriesKey, f64>, name: &str) -> Option<f64> {
    m.iter().find(|((n, _), _)| n == name).map(|(_, v)| *v)
}

/// Wait (bounded) until the exporter's data families equal the truth for
/// its counting start; the exposition.
async fn converge(x: &Exporter, sim: &SimServer) -> BTreeMap<SeriesKey, f64> {
    converge_within(x, sim, WAIT).await
}

async fn converge_within(
    x: &Exporter,
    sim: &SimServer,
    wait: Duration,
) -> BTreeMap<SeriesKey, f64> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let m = scrape(x).await;
        if let Some(since) = value(&m, "sps_counting_since_timestamp_seconds") {
            let truth = parse_samples(&sim.sps_truth_text(since, "pam").unwrap());
            let (got, want) = (normalized(&m), normalized(&truth));
            if got == want {
                return m;
            }
            if tokio::time::Instant::now() >= deadline {
                for ((n, l), v) in &m {
                    if n.starts_with("sps_") && !DATA.contains(&n.as_str()) {
                        eprintln!("{n} {l:?} {v}");
                    }
                }
                let only_got: Vec<_> = got
                    .iter()
                    .filter(|(k, v)| want.get(*k) != Some(v))
                    .collect();
                let only_want: Vec<_> = want
                    .iter()
                    .filter(|(k, v)| got.get(*k) != Some(v))
                    .collect();
                panic!(
                    "never converged:\nexporter only: {only_got:#?}\ntruth only: {only_want:#?}"
                );
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no counting start: {m:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fault(sim: &SimServer, kind: &str, params: &[(&str, &str)]) {
    sim.sps_fault(kind, params).unwrap();
}

async fn sim() -> SimServer {
    start_sim(SimOptions {
        seed: 53,
        ..SimOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sps_families_equal_the_truth_through_churn_and_faults() {
    let sim = sim().await;
    let d = Dir::new(&sim);
    let x = start(&d.config(&sim, "")).await;
    let m = converge(&x, &sim).await;
    assert_eq!(value(&m, "sps_up"), Some(1.0));
    assert!(
        m.keys().any(|(n, _)| n == "sps_sessions_closed_total"),
        "the last hour's history counts"
    );

    sim.sps_churn(150);
    converge(&x, &sim).await;

    fault(&sim, "expire_cookies", &[]);
    sim.sps_churn(40);
    let m = converge(&x, &sim).await;
    let logins: f64 = m
        .iter()
        .filter(|((n, l), _)| n == "sps_logins_total" && l["result"] == "success")
        .map(|(_, v)| v)
        .sum();
    assert!(
        logins >= 2.0,
        "logged in again after the cookies expired: {logins}"
    );

    fault(&sim, "error", &[("count", "3")]);
    sim.sps_churn(40);
    converge(&x, &sim).await;

    fault(&sim, "throttle", &[("count", "2"), ("retry_after", "1")]);
    sim.sps_churn(40);
    converge(&x, &sim).await;

    x.shutdown().await;
    sim.shutdown().await;
}

/// A window over the 10,000-result cap (a flood of closed sessions) is
/// split and counted exactly. The poll interval is 10 s here: a cycle may
/// use 8 s, which the flood's pages and splits need in a debug build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_over_the_cap_is_split_and_counted_exactly() {
    let sim = sim().await;
    let d = Dir::new(&sim);
    let path = d.config(&sim, "");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("poll_interval = \"1s\"", "poll_interval = \"10s\""),
    )
    .unwrap();
    let x = start(&path).await;
    converge(&x, &sim).await;
    fault(&sim, "flood", &[("sessions", "10500")]);
    let m = converge_within(&x, &sim, Duration::from_secs(90)).await;
    assert!(
        value(&m, "sps_window_splits_total").unwrap() >= 1.0,
        "the window over 10,000 was split"
    );
    x.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_the_state_file_counts_on_without_recounting() {
    let sim = sim().await;
    let d = Dir::new(&sim);
    let state = d.path("sps.state");
    let extra = format!("state_file = \"{}\"", state.display());
    let x = start(&d.config(&sim, &extra)).await;
    sim.sps_churn(100);
    let before = converge(&x, &sim).await;
    let since = value(&before, "sps_counting_since_timestamp_seconds").unwrap();
    x.shutdown().await;
    assert!(state.exists());

    sim.sps_churn(100);
    let x = start(&d.config(&sim, &extra)).await;
    let after = converge(&x, &sim).await;
    assert_eq!(
        value(&after, "sps_counting_since_timestamp_seconds"),
        Some(since),
        "the same counting start"
    );
    let started = |m: &BTreeMap<SeriesKey, f64>| -> f64 {
        m.iter()
            .filter(|((n, _), _)| n == "sps_sessions_started_total")
            .map(|(_, v)| v)
            .sum()
    };
    assert!(
        started(&after) >= started(&before),
        "counters continue, never go down"
    );
    x.shutdown().await;

    // Without the state file: a new counting start, from zero.
    std::fs::remove_file(&state).unwrap();
    sim.sps_churn(50);
    let x = start(&d.config(&sim, &extra)).await;
    let fresh = converge(&x, &sim).await;
    assert!(value(&fresh, "sps_counting_since_timestamp_seconds").unwrap() > since);
    x.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smc_and_an_sps_run_side_by_side_and_fail_alone() {
    let sim = sim().await;
    let d = Dir::new(&sim);
    std::fs::write(d.path("smc.key"), sim.world_info().api_key).unwrap();
    // The SMC is unreachable: the SPS counts on.
    let smc_down = "[[smc]]\nname = \"hq\"\nurl = \"http://127.0.0.1:9\"\napi_key_file = \"smc.key\"\nengines = [\"fw\"]\ndefinitions = [\"ROUTING\"]\n";
    let path = d.config(&sim, "");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n{smc_down}")).unwrap();
    let x = start(&path).await;
    sim.sps_churn(60);
    let m = converge(&x, &sim).await;
    assert_eq!(value(&m, "smc_up"), Some(0.0));
    x.shutdown().await;

    // The SPS refuses the password: the SMC's metrics and readiness are untouched.
    let e = &sim.world_info().engines[0];
    let smc_up = format!(
        "[[smc]]\nname = \"hq\"\nurl = \"{}\"\napi_key_file = \"smc.key\"\nengines = [\"{e}\"]\ndefinitions = [\"ROUTING\"]\n",
        sim.url()
    );
    std::fs::write(d.path("sps.pass"), "wrong").unwrap();
    std::fs::write(&path, format!("{text}\n{smc_up}")).unwrap();
    let x = start(&path).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let m = scrape(&x).await;
        if value(&m, "smc_up") == Some(1.0) && x.store().ready() && value(&m, "sps_up") == Some(0.0)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{m:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    x.shutdown().await;
    sim.shutdown().await;
}
