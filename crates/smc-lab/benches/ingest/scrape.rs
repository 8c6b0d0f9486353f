//! Scrape latency under full-speed ingest, and idle render cost.
//!
//! One exporter subscribes to CONNECTIONS of `n` engines (the replaying
//! simulator gives each socket the whole stream: n × 1,000 label tuples);
//! once all are subscribed the gate opens both phases at once and a client
//! requests `/metrics`, `/-/healthy` and `/-/ready` in turn, back to back,
//! until the exporter has counted every record (read from those same
//! /metrics bodies). Then, with no ingest, it scrapes /metrics
//! `idle_scrapes` times and divides the exporter's CPU time by the series
//! served.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::consumers::{exporter_config, phase_bound, records_total, sim_spec, spawn_exporter};
use crate::procfs;
use crate::sim::Sim;

/// Bound of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Latencies of one endpoint, in milliseconds: every answer counts,
/// whatever its status (`/-/ready` answers 503 until the snapshots are in).
#[derive(Clone, Debug, Default)]
pub struct Latency {
    pub samples: Vec<f64>,
    /// Answers other than 200.
    pub not_ok: usize,
    /// Requests without an answer (transport error, timeout).
    pub errors: usize,
}

impl Latency {
    /// Time the request `f` (an answer's status and body); the body of a 200.
    async fn time<F: std::future::Future<Output = Option<(u16, String)>>>(
        &mut self,
        f: F,
    ) -> Option<String> {
        let started = Instant::now();
        match f.await {
            Some((status, body)) => {
                self.samples.push(started.elapsed().as_secs_f64() * 1e3);
                if status == 200 {
                    return Some(body);
                }
                self.not_ok += 1;
            }
            None => self.errors += 1,
        }
        None
    }

    /// (p50, p99, max); zeros without samples.
    pub fn summary(&self) -> (f64, f64, f64) {
        let mut v = self.samples.clone();
        if v.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        (at(0.50), at(0.99), v[v.len() - 1])
    }
}

#[derive(Clone, Debug, Default)]
pub struct ScrapeResult {
    pub label: String,
    pub subscriptions: usize,
    pub series: usize,
    pub ingest_wall: f64,
    pub metrics: Latency,
    pub healthy: Latency,
    pub ready: Latency,
    pub idle_scrapes: usize,
    pub idle_ns_per_series: f64,
    pub idle_wall: Latency,
}

async fn get(http: &reqwest::Client, url: &str) -> Option<(u16, String)> {
    let r = http
        .get(url)
        .header("accept", "text/plain")
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.ok()?))
}

/// Samples in an exposition (lines that are not comments).
pub fn series(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// Scrape the three endpoints in turn until `total` records are counted.
async fn under_ingest(
    http: &reqwest::Client,
    base: &str,
    total: f64,
    within: Duration,
    r: &mut ScrapeResult,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let started = Instant::now();
    loop {
        let body = r.metrics.time(get(http, &format!("{base}/metrics"))).await;
        r.healthy
            .time(get(http, &format!("{base}/-/healthy")))
            .await;
        r.ready.time(get(http, &format!("{base}/-/ready"))).await;
        if body.as_deref().map(records_total).unwrap_or(0.0) >= total {
            r.ingest_wall = started.elapsed().as_secs_f64();
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{total} records not counted within {within:?}"));
        }
    }
}

/// Scrape an idle exporter `n` times; its CPU per series served.
async fn idle(
    http: &reqwest::Client,
    base: &str,
    pid: u32,
    n: usize,
    r: &mut ScrapeResult,
) -> Result<(), String> {
    let url = format!("{base}/metrics");
    let body = match get(http, &url).await {
        Some((200, body)) => body,
        other => return Err(format!("idle scrape failed: {:?}", other.map(|(s, _)| s))),
    };
    r.series = series(&body);
    let cpu0 = procfs::cpu_seconds(pid)?;
    for _ in 0..n {
        r.idle_wall.time(get(http, &url)).await;
    }
    let cpu = procfs::cpu_seconds(pid)? - cpu0;
    r.idle_scrapes = n;
    r.idle_ns_per_series = cpu * 1e9 / (n * r.series.max(1)) as f64;
    Ok(())
}

/// The whole measurement for one exporter binary.
pub async fn run(
    label: &str,
    path: &str,
    sim: &Sim,
    subs: usize,
    idle_scrapes: usize,
    dir: &Path,
) -> Result<ScrapeResult, String> {
    let spec = sim_spec(sim).await?;
    sim.set_phase(0).await?;
    let engines: Vec<String> = (0..subs).map(|i| format!("bench-fw-{i}")).collect();
    let cfg = exporter_config(dir, &format!("{label}-scrape"), &sim.url, &engines)?;
    let (proc, addr) = spawn_exporter(path, &cfg, &sim.api_key).await;
    sim.wait_subscribed(subs as u64, Duration::from_secs(60))
        .await?;
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("http://{addr}");
    let mut r = ScrapeResult {
        label: label.into(),
        subscriptions: subs,
        ..Default::default()
    };
    sim.set_phase(2).await?;
    let total = (subs * (spec.snapshot + spec.live)) as f64;
    let bound = phase_bound(subs * (spec.snapshot + spec.live));
    under_ingest(&http, &base, total, bound, &mut r).await?;
    idle(&http, &base, proc.pid(), idle_scrapes, &mut r).await?;
    drop(proc);
    Ok(r)
}
