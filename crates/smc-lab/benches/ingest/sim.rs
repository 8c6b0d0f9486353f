//! The fake SMC: smc-sim in replay mode, in a child process of its own (so
//! its CPU and memory are never the consumer's), and its control.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use smc_sim::replay::{Replay, ReplaySpec, Variant};
use smc_sim::{self as sim, SimOptions};

/// Longest a simulator child lives (it also ends when its stdin closes).
const SIM_LIFETIME: Duration = Duration::from_secs(3600);

/// The child: render the stream, serve it until stdin closes. It runs at
/// the exporter's ingest priority (nice +19, its threads inherit it from
/// this one): it stands for an SMC on another host, and here shares the
/// cores with the exporter, so at the default priority it would compete
/// with the exporter's HTTP thread as a real SMC never does. CPU times are
/// per process and unaffected.
pub fn child(spec: ReplaySpec, variants: &[Variant]) -> ExitCode {
    smc_exporter::priority::lower_current_thread();
    let started = Instant::now();
    let replay = match Replay::render(spec, variants) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("sim child: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rendered = started.elapsed();
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async {
        let Ok(l) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
            return ExitCode::FAILURE;
        };
        let opts = SimOptions {
            replay: Some(replay),
            ..SimOptions::default()
        };
        let Ok(server) = sim::start(l, opts).await else {
            return ExitCode::FAILURE;
        };
        let info = serde_json::json!({"url": server.url(), "api_key": server.world_info().api_key,
                                      "render_ms": rendered.as_millis() as u64});
        println!("{info}");
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        let _ = tokio::time::timeout(SIM_LIFETIME, stdin_closed).await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// A running simulator child; killed when dropped.
pub struct Sim {
    child: Child,
    pub url: String,
    pub api_key: String,
    pub render_ms: u64,
    http: reqwest::Client,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn variant_arg(v: &[Variant]) -> String {
    let names: Vec<&str> = v
        .iter()
        .map(|v| match v {
            Variant::Id => "id",
            Variant::Full => "full",
        })
        .collect();
    names.join(",")
}

pub fn parse_variants(s: &str) -> Result<Vec<Variant>, String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p {
            "id" => Ok(Variant::Id),
            "full" => Ok(Variant::Full),
            other => Err(format!("unknown variant {other:?}")),
        })
        .collect()
}

impl Sim {
    /// Start the child and wait until it has rendered and listens.
    pub fn spawn(spec: ReplaySpec, variants: &[Variant]) -> Result<Sim, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["--sim-child", "--variants", &variant_arg(variants)])
            .args(["--snapshot", &spec.snapshot.to_string()])
            .args(["--live", &spec.live.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the simulator: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut sim = Sim {
            child,
            url: String::new(),
            api_key: String::new(),
            render_ms: 0,
            http: smc_lab::http::client(),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let v: Value =
            serde_json::from_str(&line).map_err(|e| format!("simulator said {line:?}: {e}"))?;
        let field = |k: &str| v[k].as_str().map(str::to_string).ok_or(format!("no {k}"));
        sim.url = field("url")?;
        sim.api_key = field("api_key")?;
        sim.render_ms = v["render_ms"].as_u64().unwrap_or(0);
        Ok(sim)
    }

    pub async fn status(&self) -> Result<Value, String> {
        let r = self
            .http
            .get(format!("{}/sim/replay", self.url))
            .send()
            .await;
        let r = r.map_err(|e| format!("GET /sim/replay: {e}"))?;
        r.json().await.map_err(|e| format!("GET /sim/replay: {e}"))
    }

    pub async fn set_phase(&self, phase: u8) -> Result<(), String> {
        let url = format!("{}/sim/replay?phase={phase}", self.url);
        let r = self.http.post(url).send().await;
        match r {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(format!("POST /sim/replay: {}", r.status())),
            Err(e) => Err(format!("POST /sim/replay: {e}")),
        }
    }

    /// Wait (bounded) until `n` sockets have subscribed.
    pub async fn wait_subscribed(&self, n: u64, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.status().await?["subscribed"].as_u64().unwrap_or(0);
            if got >= n {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{got} of {n} sockets subscribed within {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
