//! Soak harness (issue 4): continuous churn plus seeded random faults across
//! every engine, against the real `smc-exporter` binary in its own process.
//!
//! `cargo bench --locked -p smc-exporter --bench soak [-- --seconds N --seed S --rate R --fault-every F]`
//! (or `SOAK_SECONDS`, `SOAK_SEED`, `SOAK_RATE`, `SOAK_FAULT_EVERY`). See
//! `docs/soak.md`. The simulator runs in this process; the exporter is
//! started from `CARGO_BIN_EXE_smc-exporter` (override: `SOAK_EXPORTER_BIN`)
//! with a config file and an `api_key_file` written to a temp dir, so its
//! memory is measured alone.
//!
//! Phases: warm-up (20 % of the duration) and soak (the rest), both with
//! churn and faults; each phase ends at a *settle point*: churn stops, the
//! faults clear, every session socket is open again, every subscription is
//! up and the state families equal `/sim/truth`; the exporter's memory is
//! read there. `/metrics` is scraped every second throughout.
//!
//! Asserts (exit status 1 with the list of violations otherwise):
//! - every scrape answers 200 with a parseable exposition;
//! - no `*_total` series ever decreases or vanishes between two scrapes;
//! - both settle points are reached within their bounds (state = truth);
//! - RSS after the soak ≤ RSS after warm-up × 1.05 + 2 MiB;
//! - the exporter logs no panic and exits 0 on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use smc_lab::{SeriesKey, parse_samples, state_families, state_samples};
use smc_sim::{SimOptions, SimServer};
use tokio::time::{Instant, sleep, sleep_until};

type Samples = BTreeMap<SeriesKey, f64>;

/// Allowed RSS growth from the warm-up settle point to the soak's.
const GROWTH_RATIO: f64 = 0.05;
/// Plus this much, for allocator noise: see `docs/soak.md`.
const GROWTH_SLACK: u64 = 2 * 1024 * 1024;
/// Bound of each settle point (faults clear, reconnects, state = truth).
const SETTLE: Duration = Duration::from_secs(90);
/// Bound of the exporter's start and of its shutdown.
const START: Duration = Duration::from_secs(30);
/// Interval of the `/metrics` scrapes.
const SCRAPE_EVERY: Duration = Duration::from_secs(1);
/// Churn tick: `rate / 20` changes every 50 ms.
const CHURN_TICK: Duration = Duration::from_millis(50);
/// The `smc` label of the exporter's one SMC.
const SMC: &str = "soak";
/// The exporter's frame cap, and the `huge` frames sent above it.
const MAX_FRAME: u64 = 1 << 20;
const HUGE: u64 = 2 << 20;
/// Definitions as the fault scope names them (wire names at API 7.x).
const DEFS: [&str; 8] = [
    "CONNECTIONS",
    "BLOCK_LIST",
    "VPN_SA",
    "USERS",
    "ROUTING",
    "SSLVPNV2",
    "NEIGHBORS",
    "ACTIVE_ALERTS",
];
/// The fault kinds drawn: every kind of `POST /sim/fault/` but `restart`,
/// whose new world has other table sizes and so another memory footprint.
fn drawn_kinds() -> Vec<&'static str> {
    smc_sim::FAULT_KINDS
        .into_iter()
        .filter(|k| *k != "restart")
        .collect()
}

#[derive(Debug, Clone)]
struct Opts {
    seconds: u64,
    seed: u64,
    rate: u64,
    fault_every: f64,
    scale: u32,
    exporter: String,
}

fn usage() -> &'static str {
    "usage: soak [--seconds N] [--seed S] [--rate CHANGES_PER_S] [--fault-every SECONDS] [--scale K]\n\
     env: SOAK_SECONDS (150), SOAK_SEED (4), SOAK_RATE (300), SOAK_FAULT_EVERY (2), SOAK_SCALE (1), SOAK_EXPORTER_BIN"
}

fn parse_opts() -> Result<Opts, String> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let mut raw: BTreeMap<String, String> = BTreeMap::from([
        ("seconds".to_string(), env("SOAK_SECONDS", "150")),
        ("seed".to_string(), env("SOAK_SEED", "4")),
        ("rate".to_string(), env("SOAK_RATE", "300")),
        ("fault-every".to_string(), env("SOAK_FAULT_EVERY", "2")),
        ("scale".to_string(), env("SOAK_SCALE", "1")),
    ]);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        // `cargo bench` passes `--bench`; a filter word may follow it.
        if a == "--bench" {
            continue;
        }
        let key = a
            .strip_prefix("--")
            .filter(|k| raw.contains_key(*k))
            .ok_or_else(|| format!("unknown argument {a:?}"))?
            .to_string();
        let v = args.next().ok_or_else(|| format!("{a} needs a value"))?;
        raw.insert(key, v);
    }
    let num = |k: &str| -> Result<f64, String> {
        raw[k]
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("{k} must be a number ≥ 0, not {:?}", raw[k]))
    };
    let opts = Opts {
        seconds: num("seconds")? as u64,
        seed: num("seed")? as u64,
        rate: num("rate")? as u64,
        fault_every: num("fault-every")?,
        scale: num("scale")? as u32,
        exporter: std::env::var("SOAK_EXPORTER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_smc-exporter").to_string()),
    };
    if opts.seconds < 10 {
        return Err("seconds must be at least 10".into());
    }
    if !(0.2..=600.0).contains(&opts.fault_every) {
        return Err("fault-every must be in 0.2..=600 seconds".into());
    }
    if !(1..=20).contains(&opts.scale) {
        return Err("scale must be in 1..=20".into());
    }
    if opts.rate > 20_000 {
        return Err("rate must be at most 20000 changes/s".into());
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("soak: {e}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soak: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(opts)) {
        Ok(report) => {
            println!("{report}");
            println!("soak: PASS");
            ExitCode::SUCCESS
        }
        Err(report) => {
            println!("{report}");
            println!("soak: FAIL");
            ExitCode::FAILURE
        }
    }
}

/// The exporter process; killed if the harness ends without stopping it.
struct ExporterProc {
    child: Child,
    pid: u32,
    log: std::path::PathBuf,
    panics: Arc<AtomicU64>,
    warnings: Arc<AtomicU64>,
}

impl Drop for ExporterProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl ExporterProc {
    /// `VmRSS` and `VmHWM` of `/proc/<pid>/status`, in bytes.
    fn proc_memory(&self) -> (u64, u64) {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let kb = |key: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |k| k * 1024)
        };
        (kb("VmRSS:"), kb("VmHWM:"))
    }

    /// The last `n` lines of the exporter's log.
    fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Start the exporter with a config file and key file in `dir`; returns the
/// process and the address it serves `/metrics` on (from its
/// "serving /metrics" log line: it binds port 0).
fn start_exporter(
    opts: &Opts,
    dir: &std::path::Path,
    sim: &SimServer,
) -> Result<(ExporterProc, String), String> {
    let w = sim.world_info();
    std::fs::write(dir.join("soak.key"), format!("{}\n", w.api_key)).map_err(|e| e.to_string())?;
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let cfg = format!(
        r#"# Written by benches/soak.rs.
listen_address = "127.0.0.1:0"

[subscription]
connect_timeout = "5s"
backoff_initial = "100ms"
backoff_max = "2s"
snapshot_settle = "500ms"
max_frame_bytes = {MAX_FRAME}

[[smc]]
name = "{SMC}"
url = "{url}"
api_key_file = "soak.key"
engines = [{engines}]
alert_domains = [{domains}]
"#,
        url = sim.url(),
        engines = list(&w.engines),
        domains = list(&w.alert_domains),
    );
    let cfg_path = dir.join("soak.toml");
    std::fs::write(&cfg_path, cfg).map_err(|e| e.to_string())?;
    let log = dir.join("exporter.log");
    let mut child = Command::new(&opts.exporter)
        .arg("-c")
        .arg(&cfg_path)
        .args(["--log.format", "json", "--log.level", "info"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", opts.exporter))?;
    let pid = child.id();
    let stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let panics = Arc::new(AtomicU64::new(0));
    let warnings = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<String>();
    {
        let (panics, warnings, log) = (panics.clone(), warnings.clone(), log.clone());
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&log).ok();
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if line.contains("panicked") {
                    panics.fetch_add(1, Ordering::Relaxed);
                }
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if matches!(v["level"].as_str(), Some("warn" | "error")) {
                    warnings.fetch_add(1, Ordering::Relaxed);
                }
                if v["msg"] == "serving /metrics" {
                    if let (Some(t), Some(a)) = (tx.take(), v["addr"].as_str()) {
                        let _ = t.send(a.to_string());
                    }
                }
            }
        });
    }
    let proc = ExporterProc {
        child,
        pid,
        log,
        panics,
        warnings,
    };
    match rx.recv_timeout(START) {
        Ok(addr) => Ok((proc, addr)),
        Err(_) => Err(format!(
            "the exporter did not log \"serving /metrics\" within {START:?}:\n{}",
            proc.log_tail(20)
        )),
    }
}

/// What the scraper saw.
#[derive(Default)]
struct ScrapeLog {
    scrapes: u64,
    failures: Vec<String>,
    violations: Vec<String>,
    violation_count: u64,
    peak_rss: u64,
    slowest: Duration,
    last: Samples,
}

impl ScrapeLog {
    fn violation(&mut self, v: String) {
        self.violation_count += 1;
        if self.violations.len() < 20 {
            self.violations.push(v);
        }
    }
}

/// Every `_total` series of `prev` is in `cur` with a value ≥ its previous.
fn check_counters(prev: &Samples, cur: &Samples, log: &mut ScrapeLog) {
    for ((name, labels), v) in prev {
        if !name.ends_with("_total") {
            continue;
        }
        match cur.get(&(name.clone(), labels.clone())) {
            None => log.violation(format!(
                "scrape {}: counter {name}{labels:?} vanished (was {v})",
                log.scrapes
            )),
            Some(c) if c < v => log.violation(format!(
                "scrape {}: counter {name}{labels:?} decreased {v} → {c}",
                log.scrapes
            )),
            Some(_) => {}
        }
    }
}

async fn scrape_once(http: &reqwest::Client, url: &str) -> Result<Samples, String> {
    let r = http
        .get(url)
        .header("accept", "text/plain")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("GET /metrics: {e}"))?;
    let status = r.status().as_u16();
    let body = r
        .text()
        .await
        .map_err(|e| format!("GET /metrics body: {e}"))?;
    if status != 200 {
        return Err(format!("GET /metrics answered {status}"));
    }
    // The shared parser panics on a bad line: catch it as a failure.
    std::panic::catch_unwind(|| parse_samples(&body))
        .map_err(|_| "unparseable exposition".to_string())
}

/// Scrape every second until `stop`, checking counters between scrapes.
async fn scraper(
    http: reqwest::Client,
    url: String,
    log: Arc<Mutex<ScrapeLog>>,
    stop: Arc<AtomicBool>,
) {
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        sleep_until(next).await;
        next += SCRAPE_EVERY;
        let t0 = Instant::now();
        let res = scrape_once(&http, &url).await;
        let took = t0.elapsed();
        let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
        l.scrapes += 1;
        l.slowest = l.slowest.max(took);
        match res {
            Err(e) => {
                let n = l.scrapes;
                l.failures.push(format!("scrape {n}: {e}"));
            }
            Ok(cur) => {
                let prev = std::mem::take(&mut l.last);
                check_counters(&prev, &cur, &mut l);
                if let Some(rss) =
                    cur.get(&("process_resident_memory_bytes".into(), BTreeMap::new()))
                {
                    l.peak_rss = l.peak_rss.max(*rss as u64);
                }
                l.last = cur;
            }
        }
    }
}

/// Apply `rate` changes per second (in 50 ms ticks) while `on`, until `stop`.
async fn churner(
    sim: Arc<SimServer>,
    rate: u64,
    on: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    applied: Arc<AtomicU64>,
) {
    let per_tick = rate as f64 * CHURN_TICK.as_secs_f64();
    let mut owed = 0.0;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        next += CHURN_TICK;
        sleep_until(next).await;
        if !on.load(Ordering::Relaxed) {
            owed = 0.0;
            continue;
        }
        owed += per_tick;
        let n = owed.floor();
        if n >= 1.0 {
            owed -= n;
            applied.fetch_add(u64::from(sim.churn(n as u32)), Ordering::Relaxed);
        }
    }
}

/// Control-endpoint client of the simulator.
struct Sim {
    server: Arc<SimServer>,
    url: String,
    http: reqwest::Client,
}

impl Sim {
    async fn post(&self, path: &str) -> Result<Value, String> {
        let r = self
            .http
            .post(format!("{}/sim/fault/{path}", self.url))
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| format!("POST /sim/fault/{path}: {e}"))?;
        let status = r.status().as_u16();
        let v: Value = r
            .json()
            .await
            .map_err(|e| format!("POST /sim/fault/{path}: {e}"))?;
        if status != 200 {
            return Err(format!("POST /sim/fault/{path} answered {status}: {v}"));
        }
        Ok(v)
    }

    async fn faults(&self) -> Result<Value, String> {
        self.http
            .get(format!("{}/sim/faults", self.url))
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| format!("GET /sim/faults: {e}"))?
            .json()
            .await
            .map_err(|e| format!("GET /sim/faults: {e}"))
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A random scope: none, a target, a definition, or both.
fn scope(rng: &mut ChaCha8Rng, targets: &[String]) -> Vec<String> {
    let mut q = vec![];
    let pick = rng.random_range(0..4);
    if pick & 1 == 1 {
        q.push(format!(
            "target={}",
            enc(&targets[rng.random_range(0..targets.len())])
        ));
    }
    if pick & 2 == 2 {
        q.push(format!(
            "definition={}",
            DEFS[rng.random_range(0..DEFS.len())]
        ));
    }
    q
}

fn path(kind: &str, mut params: Vec<String>, scope: Vec<String>) -> String {
    params.extend(scope);
    if params.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}?{}", params.join("&"))
    }
}

/// One drawn fault: the `POST /sim/fault/` paths to send, in order.
fn draw_fault(rng: &mut ChaCha8Rng, targets: &[String]) -> Vec<String> {
    let kinds = drawn_kinds();
    let kind = kinds[rng.random_range(0..kinds.len())];
    let bool_of = |b: bool| if b { "true" } else { "false" };
    match kind {
        // Armed, then forced: a drop of the same scope reconnects into it.
        "drop_mid_snapshot" => {
            let s = scope(rng, targets);
            vec![
                path(
                    kind,
                    vec![format!("count={}", rng.random_range(1..=2))],
                    s.clone(),
                ),
                path("drop", vec![], s),
            ]
        }
        "expire_sessions" => vec![path(
            kind,
            vec![format!("drop={}", bool_of(rng.random_bool(0.5)))],
            vec![],
        )],
        "stall_accept" => vec![path(
            kind,
            vec![
                format!("seconds={}", rng.random_range(1..=2)),
                format!("drop={}", bool_of(rng.random_bool(0.3))),
            ],
            vec![],
        )],
        "stall_socket" => {
            let then = if rng.random_bool(0.5) {
                "resume"
            } else {
                "drop"
            };
            let p = vec![
                format!("seconds={}", rng.random_range(1..=3)),
                format!("then={then}"),
            ];
            vec![path(kind, p, scope(rng, targets))]
        }
        "missing_fields" => {
            let what = if rng.random_bool(0.5) {
                "delta_key"
            } else {
                "labels"
            };
            vec![path(
                kind,
                vec![format!("what={what}")],
                scope(rng, targets),
            )]
        }
        "huge" => vec![path(
            kind,
            vec![format!("bytes={HUGE}")],
            scope(rng, targets),
        )],
        // Refused logins matter only to a login: expire (and drop) the session.
        "refuse_logins" => {
            let status = if rng.random_bool(0.5) { 503 } else { 401 };
            vec![
                path(
                    kind,
                    vec![
                        format!("seconds={}", rng.random_range(1..=3)),
                        format!("status={status}"),
                    ],
                    vec![],
                ),
                path("expire_sessions", vec!["drop=true".into()], vec![]),
            ]
        }
        // Refused upgrades matter only to an upgrade: drop every socket so
        // all reconnect into the window (their session is still valid).
        "refuse_upgrades" => {
            let status = if rng.random_bool(0.5) { 403 } else { 401 };
            vec![
                path(
                    kind,
                    vec![
                        format!("seconds={}", rng.random_range(1..=3)),
                        format!("status={status}"),
                    ],
                    vec![],
                ),
                path("drop", vec![], vec![]),
            ]
        }
        // Silent sockets matter only to a new socket: drop the scope into it.
        "silent_sockets" => vec![
            path(
                kind,
                vec![format!("seconds={}", rng.random_range(1..=2))],
                vec![],
            ),
            path("drop", vec![], scope(rng, targets)),
        ],
        // Small: well under the simulator's 8192-delta subscriber queues.
        "burst" => vec![path(
            kind,
            vec![format!("steps={}", rng.random_range(200..=2000))],
            vec![],
        )],
        // drop, malformed, binary, unknown_kind, invalid_utf8.
        _ => vec![path(kind, vec![], scope(rng, targets))],
    }
}

/// Counts per fault kind, per phase (0 warm-up, 1 soak).
#[derive(Default)]
struct FaultLog {
    by_kind: BTreeMap<String, [u64; 2]>,
    burst_applied: u64,
    disarmed: u64,
}

/// Send faults at random intervals (mean `every` seconds) until `until`,
/// while churn runs.
async fn fault_phase(
    sim: &Sim,
    rng: &mut ChaCha8Rng,
    targets: &[String],
    every: f64,
    until: Instant,
    phase: usize,
    log: &mut FaultLog,
) -> Result<(), String> {
    loop {
        let wait = Duration::from_secs_f64(every * rng.random_range(0.5..1.5));
        let at = Instant::now() + wait;
        if at >= until {
            sleep_until(until).await;
            return Ok(());
        }
        sleep_until(at).await;
        for p in draw_fault(rng, targets) {
            let v = sim.post(&p).await?;
            let kind = p.split('?').next().unwrap_or(&p).to_string();
            log.by_kind.entry(kind).or_default()[phase] += 1;
            if let Some(n) = v["applied"].as_u64() {
                log.burst_applied += n;
            }
        }
    }
}

/// Figures at a settle point.
#[derive(Debug, Clone, Copy, Default)]
struct Settled {
    /// From the start of the settle to state = truth.
    took: Duration,
    rss_metrics: u64,
    rss_proc: u64,
}

/// Stop churn, let the faults clear, wait for every socket to be open again
/// and the state to equal the ground truth, then read memory.
async fn settle(
    sim: &Sim,
    exporter: &ExporterProc,
    (http, metrics_url): (&reqwest::Client, &str),
    churn_on: &AtomicBool,
    subscriptions: usize,
    faults: &mut FaultLog,
) -> Result<Settled, String> {
    churn_on.store(false, Ordering::Relaxed);
    let t0 = Instant::now();
    let deadline = t0 + SETTLE;
    // 1. Timed faults expire by themselves; an armed drop_mid_snapshot whose
    //    scope has no table above 200 rows would stay armed: disarm it once
    //    the stalls are over.
    loop {
        let f = sim.faults().await?;
        let timed = f["stalled_sockets"] != 0
            || f["stall_accept_ms"] != 0
            || f["refuse_logins_ms"] != 0
            || f["refuse_upgrades_ms"] != 0
            || f["silent_sockets_ms"] != 0;
        if !timed && f["drop_mid_snapshot"].is_null() {
            break;
        }
        if !timed {
            sim.post("drop_mid_snapshot?count=0").await?;
            faults.disarmed += 1;
            continue;
        }
        if Instant::now() > deadline {
            return Err(format!("faults did not clear within {SETTLE:?}: {f}"));
        }
        sleep(Duration::from_millis(100)).await;
    }
    // 2. Every subscription has its socket and is up, and state = truth.
    let mut last = String::new();
    loop {
        let f = sim.faults().await?;
        let open = f["session_sockets"].as_array().map_or(0, Vec::len);
        let s = scrape_once(http, metrics_url).await;
        if let Ok(s) = &s {
            let up: f64 = s
                .iter()
                .filter(|((n, _), _)| n == "smc_subscription_up")
                .map(|(_, v)| v)
                .sum();
            let truth = state_samples(&smc_lab::truth_text(&sim.server, SMC));
            let fams = state_families();
            let got: Samples = s
                .iter()
                .filter(|((n, _), _)| fams.contains(&n.as_str()))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            if open == subscriptions && up as usize == subscriptions && got == truth {
                let (rss_proc, _) = exporter.proc_memory();
                let rss_metrics = s
                    .get(&("process_resident_memory_bytes".into(), BTreeMap::new()))
                    .map_or(0, |v| *v as u64);
                return Ok(Settled {
                    took: t0.elapsed(),
                    rss_metrics,
                    rss_proc,
                });
            }
            let missing = truth.iter().filter(|(k, v)| got.get(*k) != Some(v)).count();
            let extra = got.iter().filter(|(k, v)| truth.get(*k) != Some(v)).count();
            last = format!(
                "{open}/{subscriptions} sockets open, {up}/{subscriptions} up, {missing} truth series not served, {extra} served series not in the truth"
            );
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no settle within {SETTLE:?}: {last}\nexporter log tail:\n{}",
                exporter.log_tail(15)
            ));
        }
        sleep(Duration::from_millis(50)).await;
    }
}

fn sum_by(s: &Samples, name: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for ((n, l), v) in s {
        if n == name {
            *out.entry(l.get(label).cloned().unwrap_or_default())
                .or_insert(0.0) += v;
        }
    }
    out
}

fn total(s: &Samples, name: &str) -> f64 {
    s.iter()
        .filter(|((n, _), _)| n == name)
        .map(|(_, v)| v)
        .sum()
}

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0))
}

async fn run(opts: Opts) -> Result<String, String> {
    let started = Instant::now();
    let server = Arc::new(
        smc_lab::start_sim(SimOptions {
            seed: opts.seed,
            scale: opts.scale,
            ..SimOptions::default()
        })
        .await,
    );
    let w = server.world_info();
    let mut targets = w.engines.clone();
    targets.extend(w.alert_domains.iter().cloned());
    let subscriptions = w.engines.len() * 7 + w.alert_domains.len();
    let rows: usize = state_samples(&smc_lab::truth_text(&server, SMC))
        .values()
        .map(|v| *v as usize)
        .sum();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (mut exporter, addr) = start_exporter(&opts, dir.path(), &server)?;
    let http = smc_lab::http::client();
    let metrics_url = format!("http://{addr}/metrics");
    let sim = Sim {
        server: server.clone(),
        url: server.url(),
        http: smc_lab::http::client(),
    };
    // Ready: every subscription completed its first snapshot.
    let deadline = Instant::now() + START;
    loop {
        let ok = http
            .get(format!("http://{addr}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200);
        if ok {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "exporter not ready within {START:?}:\n{}",
                exporter.log_tail(20)
            ));
        }
        sleep(Duration::from_millis(50)).await;
    }
    let t_ready = started.elapsed();

    let scrape_log = Arc::new(Mutex::new(ScrapeLog::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let churn_on = Arc::new(AtomicBool::new(true));
    let applied = Arc::new(AtomicU64::new(0));
    let scraper_task = tokio::spawn(scraper(
        http.clone(),
        metrics_url.clone(),
        scrape_log.clone(),
        stop.clone(),
    ));
    let churn_task = tokio::spawn(churner(
        server.clone(),
        opts.rate,
        churn_on.clone(),
        stop.clone(),
        applied.clone(),
    ));
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut faults = FaultLog::default();
    let total_time = Duration::from_secs(opts.seconds);
    let warm_time = total_time / 5;
    let mut errors: Vec<String> = vec![];

    // Warm-up, settle, soak, settle.
    let t_warm = Instant::now();
    let outcome: Result<(Settled, Settled, Duration), String> = async {
        fault_phase(
            &sim,
            &mut rng,
            &targets,
            opts.fault_every,
            t_warm + warm_time,
            0,
            &mut faults,
        )
        .await?;
        let warm = settle(
            &sim,
            &exporter,
            (&http, &metrics_url),
            &churn_on,
            subscriptions,
            &mut faults,
        )
        .await?;
        churn_on.store(true, Ordering::Relaxed);
        let t_soak = Instant::now();
        fault_phase(
            &sim,
            &mut rng,
            &targets,
            opts.fault_every,
            t_soak + (total_time - warm_time),
            1,
            &mut faults,
        )
        .await?;
        let soak_time = t_soak.elapsed();
        let end = settle(
            &sim,
            &exporter,
            (&http, &metrics_url),
            &churn_on,
            subscriptions,
            &mut faults,
        )
        .await?;
        Ok((warm, end, soak_time))
    }
    .await;

    // One last scrape is part of the checked sequence.
    sleep(SCRAPE_EVERY + Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = churn_task.await;
    if scraper_task.await.is_err() {
        errors.push("the scraper task panicked".into());
    }
    let (_, hwm) = exporter.proc_memory();
    // Graceful stop: SIGTERM, exit 0 within the bound.
    let term = Command::new("kill")
        .args(["-TERM", &exporter.pid.to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    if !term.success() {
        errors.push("kill -TERM failed".into());
    }
    let stop_deadline = Instant::now() + START;
    let exit = loop {
        match exporter.child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() < stop_deadline => sleep(Duration::from_millis(50)).await,
            _ => break None,
        }
    };
    match exit {
        Some(st) if st.success() => {}
        Some(st) => errors.push(format!("exporter exited with {st} after SIGTERM")),
        None => errors.push(format!("exporter still running {START:?} after SIGTERM")),
    }
    drop(sim);
    if let Ok(s) = Arc::try_unwrap(server) {
        s.shutdown().await;
    }

    let log = std::mem::take(&mut *scrape_log.lock().unwrap_or_else(|e| e.into_inner()));
    errors.extend(log.failures.iter().cloned());
    errors.extend(log.violations.iter().cloned());
    if log.violation_count > log.violations.len() as u64 {
        errors.push(format!(
            "… {} counter violations in all",
            log.violation_count
        ));
    }
    let panics = exporter.panics.load(Ordering::Relaxed);
    if panics > 0 {
        errors.push(format!("the exporter logged {panics} panic line(s)"));
    }

    let mut r = String::new();
    let _ = writeln!(r, "\n## soak figures\n");
    let _ = writeln!(
        r,
        "seed {}, scale {}, {} engines + {} alert domains = {} subscriptions, {} rows at start, churn {} changes/s, a fault every {} s on average",
        opts.seed,
        opts.scale,
        w.engines.len(),
        w.alert_domains.len(),
        subscriptions,
        rows,
        opts.rate,
        opts.fault_every
    );
    let _ = writeln!(r, "exporter binary {}", opts.exporter);
    let _ = writeln!(r, "\n| figure | value |\n|---|---|");
    let _ = writeln!(
        r,
        "| exporter ready after | {:.1} s |",
        t_ready.as_secs_f64()
    );
    let _ = writeln!(
        r,
        "| warm-up / soak (planned) | {} s / {} s |",
        warm_time.as_secs(),
        (total_time - warm_time).as_secs()
    );
    let churned = applied.load(Ordering::Relaxed);
    let _ = writeln!(
        r,
        "| changes applied (churn + burst) | {} + {} = {} |",
        churned,
        faults.burst_applied,
        churned + faults.burst_applied
    );
    let _ = writeln!(
        r,
        "| scrapes (failed) | {} ({}) |",
        log.scrapes,
        log.failures.len()
    );
    let _ = writeln!(r, "| slowest scrape | {} ms |", log.slowest.as_millis());
    let _ = writeln!(r, "| counter violations | {} |", log.violation_count);
    let _ = writeln!(
        r,
        "| exporter WARN/ERROR log lines | {} |",
        exporter.warnings.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        r,
        "| armed drop_mid_snapshot disarmed at settle points | {} |",
        faults.disarmed
    );
    if let Ok((warm, end, soak_time)) = &outcome {
        let _ = writeln!(
            r,
            "| soak phase (measured) | {:.1} s |",
            soak_time.as_secs_f64()
        );
        let _ = writeln!(
            r,
            "| settle after warm-up / after soak | {:.2} s / {:.2} s |",
            warm.took.as_secs_f64(),
            end.took.as_secs_f64()
        );
        let _ = writeln!(
            r,
            "| RSS after warm-up (process_resident_memory_bytes / VmRSS) | {} / {} |",
            mib(warm.rss_metrics),
            mib(warm.rss_proc)
        );
        let _ = writeln!(
            r,
            "| RSS after soak (process_resident_memory_bytes / VmRSS) | {} / {} |",
            mib(end.rss_metrics),
            mib(end.rss_proc)
        );
        let growth = end.rss_metrics as i64 - warm.rss_metrics as i64;
        let allowed = (warm.rss_metrics as f64 * GROWTH_RATIO) as u64 + GROWTH_SLACK;
        let _ = writeln!(
            r,
            "| RSS growth (allowed) | {:+.2} MiB = {:+.2} % ({}) |",
            growth as f64 / (1024.0 * 1024.0),
            growth as f64 * 100.0 / warm.rss_metrics.max(1) as f64,
            mib(allowed)
        );
        if growth > allowed as i64 || warm.rss_metrics == 0 {
            errors.push(format!(
                "RSS grew from {} after warm-up to {} after the soak (allowed {})",
                mib(warm.rss_metrics),
                mib(end.rss_metrics),
                mib(allowed)
            ));
        }
    }
    let _ = writeln!(
        r,
        "| peak RSS (scraped / VmHWM) | {} / {} |",
        mib(log.peak_rss),
        mib(hwm)
    );
    let _ = writeln!(
        r,
        "| total run | {:.1} s |",
        started.elapsed().as_secs_f64()
    );

    let _ = writeln!(r, "\n| fault | warm-up | soak |\n|---|---|---|");
    for (k, [a, b]) in &faults.by_kind {
        let _ = writeln!(r, "| {k} | {a} | {b} |");
    }
    let last = &log.last;
    let _ = writeln!(r, "\n| exporter counter (end) | value |\n|---|---|");
    for (reason, v) in sum_by(last, "smc_subscription_reconnects_total", "reason") {
        let _ = writeln!(r, "| reconnects reason={reason} | {v} |");
    }
    for (change, v) in sum_by(last, "smc_monitoring_records_total", "change") {
        let _ = writeln!(r, "| records change={change} | {v} |");
    }
    for (kind, v) in sum_by(last, "smc_monitoring_message_errors_total", "kind") {
        let _ = writeln!(r, "| message errors kind={kind} | {v} |");
    }
    for name in [
        "smc_subscription_snapshots_total",
        "smc_monitoring_unknown_deletes_total",
        "smc_logins_total",
        "smc_login_failures_total",
        "smc_exporter_series_dropped_total",
    ] {
        let _ = writeln!(r, "| {name} | {} |", total(last, name));
    }

    if let Err(e) = outcome {
        errors.insert(0, e);
    }
    if errors.is_empty() {
        Ok(r)
    } else {
        let _ = writeln!(r, "\n## violations\n");
        for e in &errors {
            let _ = writeln!(r, "- {e}");
        }
        let _ = writeln!(r, "\nexporter log: last lines\n{}", exporter.log_tail(20));
        // Keep the temp dir (config, log) for a post-mortem.
        let kept = dir.keep();
        let _ = writeln!(r, "kept {}", kept.display());
        Err(r)
    }
}
