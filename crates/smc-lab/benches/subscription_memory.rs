//! Memory harness: resident memory per idle subscription.
//!
//! `cargo bench -p smc-lab --bench subscription_memory`. Runs the simulator (a still
//! world, churn 0, with 1,005 engines) and subscribes the exporter to tables
//! that hold no rows (SSL VPN sessions of the generated engines `fw-006` …,
//! one subscription each: the plan is keyed by target, so one engine
//! subscribed twice is one subscription), many times over: the subscriptions open
//! their sockets, complete an empty snapshot and then idle, so what they cost
//! is the socket, its buffers and the task, with no data. It starts 100
//! subscriptions, waits for `/-/ready`, then 900 more (a second exporter on
//! the same simulator), waits again, and prints the process's VmRSS at each
//! step and the growth per subscription of the second step. Exits non-zero
//! above 48 KiB per subscription (tungstenite's default read buffer alone
//! was 128 KiB; see docs/hardening.md "Per-subscription memory").
//!
//! The simulator runs in a child process (this binary, `--sim-child`): in
//! this process, its server side of every socket would be counted with the
//! exporter's. The child exits when its stdin closes, so it never outlives
//! the harness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use smc_exporter::app::Exporter;
use smc_exporter::config;
use smc_protocol::Definition;
use smc_sim::{self as sim, SimOptions};
use tokio::net::TcpListener;

const FIRST: usize = 100;
const SECOND: usize = 900;
const LIMIT_KIB: f64 = 48.0;
/// The definition whose table the simulator keeps empty on its generated
/// engines (`fw-006` …: the engines after the five named ones).
const EMPTY_DEFINITION: Definition = Definition::SslVpn;
/// The simulator's world: the five named engines and one generated engine
/// per subscription.
const SIM_ENGINES: usize = 5 + FIRST + SECOND;

/// The `i`-th generated engine (0-based): `fw-006`, `fw-007`, …
fn empty_engine(i: usize) -> String {
    format!("fw-{:03}", i + 6)
}
const READY_TIMEOUT: Duration = Duration::from_secs(60);

fn vm_rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn kib(b: f64) -> f64 {
    b / 1024.0
}

/// The child: serve the simulator until stdin closes (or 5 minutes pass).
fn sim_child() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sim child: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        smc_exporter::smc::tls::install_default_provider();
        let Ok(l) = TcpListener::bind("127.0.0.1:0").await else {
            return ExitCode::FAILURE;
        };
        let opts = SimOptions {
            churn_per_second: 0.0,
            engines: SIM_ENGINES,
            ..SimOptions::default()
        };
        let Ok(server) = sim::start(l, opts).await else {
            return ExitCode::FAILURE;
        };
        let info = serde_json::json!({"url": server.url(), "api_key": server.world_info().api_key});
        println!("{info}");
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        let _ = tokio::time::timeout(Duration::from_secs(300), stdin_closed).await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Kills the child when dropped.
struct SimChild(Child);

impl Drop for SimChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the simulator child; its URL and API key.
fn spawn_sim() -> Result<(SimChild, String, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("--sim-child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let child = SimChild(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| format!("simulator said {line:?}: {e}"))?;
    let field = |k: &str| v[k].as_str().map(str::to_string).ok_or(format!("no {k}"));
    Ok((child, field("url")?, field("api_key")?))
}

/// An exporter with `n` subscriptions to the empty table, ready.
async fn exporter(
    url: &str,
    key: &str,
    first: usize,
    n: usize,
    http: &reqwest::Client,
) -> Result<Exporter, String> {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr: SocketAddr = l.local_addr().map_err(|e| e.to_string())?;
    let engines: Vec<String> = (first..first + n).map(empty_engine).collect();
    let mut cfg = config::demo(url, key, &engines, &[], addr).map_err(|e| e.to_string())?;
    cfg.subscription.snapshot_settle = Duration::from_millis(300);
    cfg.smc[0].definitions = vec![EMPTY_DEFINITION];
    let x = Exporter::start(&cfg, l).await.map_err(|e| e.to_string())?;
    if x.store().subscriptions.len() != n {
        return Err(format!(
            "{} subscriptions, not {n}",
            x.store().subscriptions.len()
        ));
    }
    let ready = format!("http://{addr}/-/ready");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let ok = http
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return Ok(x);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{n} subscriptions not ready within {READY_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(url: String, key: String) -> Result<f64, String> {
    let http = smc_lab::http::client();
    let rss = || vm_rss().ok_or("/proc/self/status unavailable: cannot measure");
    // Warm the client and the runtime before the baseline.
    let _ = http.get(format!("{url}/api")).send().await;
    let rss0 = rss()?;
    let started = Instant::now();
    let a = exporter(&url, &key, 0, FIRST, &http).await?;
    let rss1 = rss()?;
    let b = exporter(&url, &key, FIRST, SECOND, &http).await?;
    let rss2 = rss()?;
    let elapsed = started.elapsed();
    let per_first = (rss1 as f64 - rss0 as f64) / FIRST as f64;
    let per_second = (rss2 as f64 - rss1 as f64) / SECOND as f64;
    println!(
        "subscription_memory: VmRSS {:.1} MiB before, {:.1} MiB with {FIRST} subscriptions, {:.1} MiB with {} (ready in {elapsed:.2?})",
        kib(rss0 as f64) / 1024.0,
        kib(rss1 as f64) / 1024.0,
        kib(rss2 as f64) / 1024.0,
        FIRST + SECOND,
    );
    println!(
        "subscription_memory: {:.1} KiB per subscription for the first {FIRST} (with a session), {:.1} KiB each for the next {SECOND}",
        kib(per_first),
        kib(per_second)
    );
    b.shutdown().await;
    a.shutdown().await;
    Ok(kib(per_second))
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--sim-child") {
        return sim_child();
    }
    // `cargo bench` passes `--bench`; any filter argument is ignored.
    let (child, url, key) = match spawn_sim() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("subscription_memory: FAIL: {e}");
            return ExitCode::FAILURE;
        }
    };
    smc_exporter::smc::tls::install_default_provider();
    // The daemon's own runtime.
    let result = match smc_exporter::cli::runtime() {
        Ok(r) => r.block_on(run(url, key)),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    drop(child);
    match result {
        Ok(per) if per <= LIMIT_KIB => {
            println!("subscription_memory: OK (<= {LIMIT_KIB} KiB per subscription)");
            ExitCode::SUCCESS
        }
        Ok(per) => {
            eprintln!(
                "subscription_memory: FAIL: {per:.1} KiB per subscription (limit {LIMIT_KIB} KiB)"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("subscription_memory: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
