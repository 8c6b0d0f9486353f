//! Idle benchmark (issue 10): what the release exporter costs when nothing
//! happens — ten engines × every definition (two simulated SMCs of five
//! engines each, every engine definition, every alert domain), no churn.
//!
//! `cargo bench -p smc-lab --bench idle -- [--exporter PATH] [--seconds S]`
//!
//! The simulators run in this process; the exporter is its own process
//! (default `target/release/smc-exporter`, real default timings: ping
//! interval, silence limit). Once every snapshot is in and one /metrics
//! scrape has been served, it measures the exporter's CPU time
//! (`utime + stime`) over `--seconds` with no requests at all, then its
//! resident memory (`VmRSS`, and the peak `VmHWM`). Prints a line per figure,
//! writes `target/bench-idle.json`, and exits non-zero when RSS is above
//! `--max-rss-mib` or CPU above `--max-cpu-percent` of one core. Loopback
//! only; every wait is bounded; the exporter dies with the harness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "ingest/procfs.rs"]
mod procfs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use smc_lab::*;
use smc_protocol::Definition;
use smc_sim::SimOptions;

#[derive(Parser, Debug)]
#[command(about = "smc-exporter idle benchmark (docs/performance.md)")]
struct Args {
    /// The exporter binary (default target/release/smc-exporter).
    #[arg(long)]
    exporter: Option<PathBuf>,
    /// Length of the idle window.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Fail above this resident memory after the window (MiB).
    #[arg(long, default_value_t = 20.0)]
    max_rss_mib: f64,
    /// Fail above this CPU over the window (percent of one core).
    #[arg(long, default_value_t = 1.0)]
    max_cpu_percent: f64,
    /// Where the JSON goes (default target/bench-idle.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Bound of the start (logins, every snapshot).
const READY_WITHIN: Duration = Duration::from_secs(60);
const MIB: f64 = 1024.0 * 1024.0;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One `[[smc]]` table: every engine of the simulator, every engine
/// definition, every alert domain.
fn smc_table(name: &str, sim: &smc_sim::SimServer, key_file: &Path) -> String {
    let w = sim.world_info();
    let defs: Vec<&str> = Definition::engine_scoped()
        .map(|d| d.wire_name(false))
        .collect();
    format!(
        "[[smc]]\nname = {name:?}\nurl = {:?}\napi_key_file = {:?}\nengines = {:?}\ndefinitions = {defs:?}\nalert_domains = {:?}\n\n",
        sim.url(),
        key_file.display().to_string(),
        w.engines,
        w.alert_domains
    )
}

struct Figures {
    engines: usize,
    subscriptions: usize,
    series: usize,
    cpu_seconds: f64,
    rss: u64,
    hwm: u64,
}

/// Two simulators of five engines each, and the exporter config that
/// monitors all of them: (simulators, config path, engines).
async fn worlds(dir: &Path) -> Result<(Vec<smc_sim::SimServer>, PathBuf, usize), String> {
    let mut sims = Vec::new();
    for seed in [1, 2] {
        sims.push(
            start_sim(SimOptions {
                seed,
                ..SimOptions::default()
            })
            .await,
        );
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut cfg = String::new();
    let mut engines = 0;
    for (i, sim) in sims.iter().enumerate() {
        let key = dir.join(format!("key-{i}"));
        std::fs::write(&key, sim.world_info().api_key).map_err(|e| e.to_string())?;
        cfg += &smc_table(&format!("smc-{i}"), sim, &key);
        engines += sim.world_info().engines.len();
    }
    let cfg_path = dir.join("config.toml");
    std::fs::write(&cfg_path, cfg).map_err(|e| e.to_string())?;
    Ok((sims, cfg_path, engines))
}

async fn measure(a: &Args) -> Result<Figures, String> {
    let dir = std::env::temp_dir().join(format!("smc-idle-{}", std::process::id()));
    let (_sims, cfg_path, engines) = worlds(&dir).await?;
    let bin = a
        .exporter
        .clone()
        .unwrap_or_else(|| root().join("target/release/smc-exporter"));
    let bin = std::path::absolute(&bin)
        .unwrap_or(bin)
        .display()
        .to_string();
    let p = procfs::spawn(
        &bin,
        &[
            "-c",
            cfg_path.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        &[],
    );
    let addr = p.metrics_addr().await;
    wait_ready(addr, READY_WITHIN).await;
    let (status, body) = http_get(&format!("http://{addr}/metrics")).await;
    if status != 200 {
        return Err(format!("/metrics answered {status}"));
    }
    let subscriptions = body
        .lines()
        .filter(|l| l.starts_with("smc_subscription_up{"))
        .count();
    let series = body.lines().filter(|l| !l.starts_with('#')).count();
    let cpu0 = procfs::cpu_seconds(p.pid())?;
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let cpu1 = procfs::cpu_seconds(p.pid())?;
    let (rss, hwm) = procfs::memory(p.pid())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Figures {
        engines,
        subscriptions,
        series,
        cpu_seconds: cpu1 - cpu0,
        rss,
        hwm,
    })
}

fn main() -> ExitCode {
    let a = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let f = match rt.block_on(measure(&a)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("idle: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cpu_percent = f.cpu_seconds / a.seconds.max(1) as f64 * 100.0;
    println!(
        "idle: {} engines, {} subscriptions, {} series; over {} s with no requests: {:.2} s CPU ({cpu_percent:.2} % of a core, clock tick {:.0} ms); VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        f.engines,
        f.subscriptions,
        f.series,
        a.seconds,
        f.cpu_seconds,
        procfs::cpu_tick() * 1e3,
        f.rss as f64 / MIB,
        f.hwm as f64 / MIB
    );
    let json = serde_json::json!({
        "engines": f.engines, "subscriptions": f.subscriptions, "series": f.series,
        "seconds": a.seconds, "cpu_seconds": f.cpu_seconds, "cpu_percent": cpu_percent,
        "rss_bytes": f.rss, "hwm_bytes": f.hwm,
    });
    let out = a
        .json
        .clone()
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .unwrap_or_else(|| root().join("target/bench-idle.json"));
    if let Err(e) = std::fs::write(&out, json.to_string()) {
        eprintln!("idle: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let mut ok = true;
    if f.rss as f64 / MIB > a.max_rss_mib {
        eprintln!(
            "idle: FAIL: VmRSS {:.1} MiB is above {} MiB",
            f.rss as f64 / MIB,
            a.max_rss_mib
        );
        ok = false;
    }
    if cpu_percent > a.max_cpu_percent {
        eprintln!(
            "idle: FAIL: {cpu_percent:.2} % CPU is above {} %",
            a.max_cpu_percent
        );
        ok = false;
    }
    if ok {
        println!("idle: OK");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
