//! Shared helpers for the integration tests: start the simulator and the
//! exporter on loopback, parse expositions, await convergence.
#![allow(dead_code)]

pub mod client;

use smc_exporter::labels::StateFamily;
use std::collections::BTreeMap;
use std::time::Duration;

use smc_exporter::app::Exporter;
use smc_exporter::config::{self, Config};
use smc_exporter::sim::{self, SimOptions, SimServer};
use smc_protocol::Definition;
use tokio::net::TcpListener;

/// A series: metric name and sorted labels.
pub type SeriesKey = (String, BTreeMap<String, String>);

/// Parse Prometheus text or OpenMetrics samples (comments skipped).
pub fn parse_samples(text: &str) -> BTreeMap<SeriesKey, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (
                n.to_string(),
                parse_labels(rest.strip_suffix('}').expect("closing brace")),
            ),
            None => (series.to_string(), BTreeMap::new()),
        };
        let v: f64 = value.parse().expect("numeric value");
        assert!(
            out.insert((name, labels), v).is_none(),
            "duplicate series in: {line}"
        );
    }
    out
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('='));
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => panic!("dangling escape"),
                },
                '"' => break,
                o => value.push(o),
            }
        }
        out.insert(name.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// The state families (one per definition).
pub fn state_families() -> Vec<&'static str> {
    Definition::ALL.iter().map(|d| d.family()).collect()
}

/// Only the state-family samples of an exposition.
pub fn state_samples(text: &str) -> BTreeMap<SeriesKey, f64> {
    let fams = state_families();
    parse_samples(text)
        .into_iter()
        .filter(|((n, _), _)| fams.contains(&n.as_str()))
        .collect()
}

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

pub async fn start_sim(opts: SimOptions) -> SimServer {
    smc_exporter::smc::tls::install_default_provider();
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
        http: reqwest::Client::new(),
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
        while !self.exporter.store.ready() {
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
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let truth = state_samples(&self.sim.truth(&self.smc));
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

/// Sum of a counter family's samples matching a label.
pub fn sum_where(samples: &BTreeMap<SeriesKey, f64>, name: &str, label: (&str, &str)) -> f64 {
    samples
        .iter()
        .filter(|((n, l), _)| n == name && l.get(label.0).map(String::as_str) == Some(label.1))
        .map(|(_, v)| v)
        .sum()
}

/// The real `smc-exporter` binary, spawned with piped stdout and stderr that
/// are collected line by line; killed on drop if still running.
pub struct Proc {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    err: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    r: impl std::io::Read + Send + 'static,
    into: std::sync::Arc<std::sync::Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            let mut s = into.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    })
}

impl Proc {
    /// Spawn the binary with `args` and extra environment variables.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Proc {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_smc-exporter"));
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn smc-exporter");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), out.clone()),
            collect(child.stderr.take().unwrap(), err.clone()),
        ];
        Proc {
            child,
            out,
            err,
            readers,
        }
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Stderr parsed as `--log.format json` lines (other lines skipped).
    pub fn json_logs(&self) -> Vec<serde_json::Value> {
        self.stderr()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Wait (bounded) for a JSON log line matching `pred`; returns it.
    pub async fn wait_log(
        &self,
        within: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(v) = self.json_logs().into_iter().find(|v| pred(v)) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no such log line within {within:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The address /metrics is served on, from the "smc-exporter started" log
    /// line, in either log format (start it with `--web.listen-address 127.0.0.1:0`).
    pub async fn metrics_addr(&self) -> std::net::SocketAddr {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let err = self.stderr();
            if let Some(line) = err.lines().find(|l| l.contains("smc-exporter started")) {
                let addr = match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(v) => v["fields"]["addr"].as_str().unwrap().to_string(),
                    Err(_) => line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                        .unwrap()
                        .to_string(),
                };
                return addr.parse().unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "exporter did not start; stderr:\n{err}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Send a signal (`libc::SIGTERM`, `libc::SIGINT`, …).
    pub fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with our own child's pid and a valid signal number.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Wait (bounded) for the process to exit; None if it did not in time.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// After exit: all of stdout and stderr.
    pub fn output(mut self) -> (String, String) {
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        (self.out.lock().unwrap().clone(), self.stderr())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET url` → (status, body), with a fresh client.
pub async fn http_get(url: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(url)
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Wait (bounded) until `GET http://addr/-/ready` answers 200.
pub async fn wait_ready(addr: std::net::SocketAddr, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let url = format!("http://{addr}/-/ready");
    loop {
        let (status, body) = http_get(&url).await;
        if status == 200 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready within {within:?}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
