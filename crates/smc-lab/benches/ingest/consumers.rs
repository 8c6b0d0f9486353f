//! One measured run of one consumer: spawned, subscribed, then CPU time and
//! memory read from `/proc/<pid>/` when it subscribed, when it has consumed
//! the snapshot and when it has consumed the live stream. The simulator's
//! gate holds each phase until the previous reading is taken.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use smc_lab::Proc;
use smc_sim::replay::ReplaySpec;

use crate::floor::Parse;
use crate::procfs;
use crate::sim::Sim;

/// The API key variable of the exporter's config.
const KEY_ENV: &str = "SMC_BENCH_API_KEY";
/// How often "all consumed" is polled on the exporter's /metrics (≤ 5 Hz).
const EXPORTER_POLL: Duration = Duration::from_millis(200);
/// How often a floor's or the official client's stdout is polled.
const LINE_POLL: Duration = Duration::from_millis(5);

#[derive(Clone, Debug)]
pub enum Consumer {
    Exporter {
        label: String,
        path: String,
    },
    Floor(Parse),
    /// `same_stream`: the query selects the exporter's fields, so the
    /// simulator sends it the very frames the exporter gets (the issue's
    /// comparison); otherwise every field (a script's default).
    Official {
        python: PathBuf,
        script: PathBuf,
        same_stream: bool,
    },
}

impl Consumer {
    pub fn label(&self) -> String {
        match self {
            Consumer::Exporter { label, .. } => format!("smc-exporter ({label})"),
            Consumer::Floor(Parse::Value) => "parse into serde_json::Value, no fold".into(),
            Consumer::Floor(Parse::Ignored) => {
                "validating parse, keeps nothing (IgnoredAny)".into()
            }
            Consumer::Official {
                same_stream: true, ..
            } => "official Python client (fetch_raw, the exporter's fields)".into(),
            Consumer::Official { .. } => "official Python client (fetch_raw, every field)".into(),
        }
    }

    /// Which record variant the consumer gets (see smc_sim::replay).
    pub fn variant(&self) -> &'static str {
        match self {
            Consumer::Official {
                same_stream: false, ..
            } => "full records (every CONNECTIONS field)",
            _ => "id records (fields 4, 11, 116)",
        }
    }
}

/// CPU seconds and memory of one run.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub snapshot_cpu: f64,
    pub live_cpu: f64,
    pub snapshot_wall: f64,
    pub live_wall: f64,
    pub rss_subscribed: u64,
    pub rss_snapshot: u64,
    pub rss_live: u64,
    pub hwm: u64,
}

/// The exporter's config: one SMC (the simulator), CONNECTIONS of `engines`.
pub fn exporter_config(
    dir: &Path,
    name: &str,
    url: &str,
    engines: &[String],
) -> Result<PathBuf, String> {
    let list: Vec<String> = engines.iter().map(|e| format!("{e:?}")).collect();
    let text = format!(
        "max_series_per_family = 1000000\n\n[[smc]]\nname = \"bench\"\nurl = \"{url}\"\n\
         api_version = \"7.1\"\napi_key_env = \"{KEY_ENV}\"\nengines = [{}]\n\
         definitions = [\"CONNECTIONS\"]\n",
        list.join(", ")
    );
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Spawn an exporter with `config`; its process and /metrics address.
pub async fn spawn_exporter(path: &str, config: &Path, key: &str) -> (Proc, std::net::SocketAddr) {
    let cfg = config.display().to_string();
    let args = [
        "--config.file",
        cfg.as_str(),
        "--web.listen-address",
        "127.0.0.1:0",
    ];
    let p = procfs::spawn(path, &args, &[(KEY_ENV, key)]);
    let addr = p.metrics_addr().await;
    (p, addr)
}

/// Sum of `smc_monitoring_records_total` in an exposition.
pub fn records_total(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("smc_monitoring_records_total"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// A spawned consumer and how to tell it is through a phase.
enum Watch {
    Metrics { url: String, http: reqwest::Client },
    Lines,
}

struct Running {
    proc: Proc,
    watch: Watch,
}

async fn spawn(c: &Consumer, sim: &Sim, spec: ReplaySpec, dir: &Path) -> Result<Running, String> {
    let counts = spec.counts();
    match c {
        Consumer::Exporter { label, path } => {
            let cfg = exporter_config(dir, label, &sim.url, &["bench-fw".into()])?;
            let (proc, addr) = spawn_exporter(path, &cfg, &sim.api_key).await;
            let watch = Watch::Metrics {
                url: format!("http://{addr}/metrics"),
                http: smc_lab::http::client(),
            };
            Ok(Running { proc, watch })
        }
        Consumer::Floor(p) => {
            let exe = std::env::current_exe()
                .map_err(|e| e.to_string())?
                .display()
                .to_string();
            let kind = if *p == Parse::Value {
                "value"
            } else {
                "ignored"
            };
            let (sf, lf) = (
                counts.snapshot_frames.to_string(),
                counts.live_frames.to_string(),
            );
            let args: [&str; 10] = [
                "--floor-child",
                kind,
                "--url",
                &sim.url,
                "--api-key",
                &sim.api_key,
                "--snapshot-frames",
                &sf,
                "--live-frames",
                &lf,
            ];
            Ok(Running {
                proc: procfs::spawn(&exe, &args, &[]),
                watch: Watch::Lines,
            })
        }
        Consumer::Official {
            python,
            script,
            same_stream,
        } => {
            let (py, sc) = (python.display().to_string(), script.display().to_string());
            let (s, la) = (spec.snapshot.to_string(), counts.live_added.to_string());
            let fields = if *same_stream {
                let ids = smc_sim::replay::ID_FIELDS.map(|f| f.to_string());
                ids.join(",")
            } else {
                "all".to_string()
            };
            let args: [&str; 7] = [&sc, &sim.url, &sim.api_key, "bench-fw", &s, &la, &fields];
            let envs = [("PYTHONDONTWRITEBYTECODE", "1")];
            Ok(Running {
                proc: procfs::spawn(&py, &args, &envs),
                watch: Watch::Lines,
            })
        }
    }
}

/// Wait (bounded) until the consumer is through `stage` ("snapshot" or
/// "live"), which for the exporter means `records` records counted.
async fn wait_through(
    r: &mut Running,
    stage: &str,
    records: f64,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let done = match &r.watch {
            Watch::Metrics { url, http } => match http.get(url).send().await {
                Ok(resp) => records_total(&resp.text().await.unwrap_or_default()) >= records,
                Err(_) => false,
            },
            Watch::Lines => r.proc.stdout().lines().any(|l| l == stage),
        };
        if done {
            return Ok(());
        }
        if let Some(status) = r.proc.wait_exit(Duration::ZERO).await {
            let err = r.proc.stderr();
            let tail = &err[err.len().saturating_sub(2000)..];
            return Err(format!(
                "consumer exited ({status}) before its {stage}: {tail}"
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "consumer not through its {stage} within {within:?}"
            ));
        }
        let poll = if matches!(r.watch, Watch::Metrics { .. }) {
            EXPORTER_POLL
        } else {
            LINE_POLL
        };
        tokio::time::sleep(poll).await;
    }
}

/// Bound of one phase of `records` records (the official client's
/// ~20 µs/record with a wide margin).
pub fn phase_bound(records: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_micros(100) * records as u32
}

/// Measure one run of `c` on the simulator's stream.
pub async fn measure(c: &Consumer, sim: &Sim, dir: &Path) -> Result<Run, String> {
    let spec = sim_spec(sim).await?;
    sim.set_phase(0).await?;
    let mut r = spawn(c, sim, spec, dir).await?;
    sim.wait_subscribed(1, Duration::from_secs(60)).await?;
    let pid = r.proc.pid();
    let (cpu0, (rss0, _)) = (procfs::cpu_seconds(pid)?, procfs::memory(pid)?);
    let t0 = Instant::now();
    sim.set_phase(1).await?;
    let snap = spec.snapshot as f64;
    wait_through(&mut r, "snapshot", snap, phase_bound(spec.snapshot)).await?;
    let (cpu1, (rss1, _)) = (procfs::cpu_seconds(pid)?, procfs::memory(pid)?);
    let t1 = Instant::now();
    sim.set_phase(2).await?;
    wait_through(
        &mut r,
        "live",
        snap + spec.live as f64,
        phase_bound(spec.live),
    )
    .await?;
    let (cpu2, (rss2, hwm)) = (procfs::cpu_seconds(pid)?, procfs::memory(pid)?);
    let t2 = Instant::now();
    drop(r);
    Ok(Run {
        snapshot_cpu: cpu1 - cpu0,
        live_cpu: cpu2 - cpu1,
        snapshot_wall: (t1 - t0).as_secs_f64(),
        live_wall: (t2 - t1).as_secs_f64(),
        rss_subscribed: rss0,
        rss_snapshot: rss1,
        rss_live: rss2,
        hwm,
    })
}

/// The stream's sizes, as the simulator says.
pub async fn sim_spec(sim: &Sim) -> Result<ReplaySpec, String> {
    let s = sim.status().await?;
    let n = |k: &str| {
        s[k].as_u64()
            .map(|v| v as usize)
            .ok_or(format!("/sim/replay: no {k}"))
    };
    Ok(ReplaySpec {
        snapshot: n("snapshot")?,
        live: n("live")?,
    })
}
