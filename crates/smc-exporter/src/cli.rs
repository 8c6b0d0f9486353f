//! The command line: `smc-exporter -c FILE [--config.check]`.
//!
//! The simulator and the demo are not in this binary: they are `smc-lab
//! simulate` and `smc-lab demo` (crate `smc-lab`), which reuse [`runtime`],
//! [`bind`] and [`fail`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tokio::net::TcpListener;

use crate::app::{Exporter, Shard, StartOptions};
use crate::config::{self, Config};
use crate::http::listen::ListenAddress;
pub use crate::logging::LogFormat;
use crate::signals::{Signal, Signals};
use crate::web::LiveWebConfig;

/// Exit status for a bad configuration or command line.
pub const EXIT_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "smc-exporter",
    version,
    about = "Prometheus exporter for Forcepoint NGFW SMC session monitoring"
)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(short = 'c', long = "config.file", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Validate the configuration and exit (0 = valid, 2 = invalid).
    #[arg(long = "config.check")]
    pub check: bool,
    /// Address to serve /metrics on: :PORT (every interface), HOST:PORT,
    /// IP:PORT or [IPv6]:PORT. Repeat it for several; given, it replaces
    /// `listen_address`.
    #[arg(long = "web.listen-address", value_name = "HOST:PORT", value_parser = crate::http::listen::parse)]
    pub listen: Vec<ListenAddress>,
    /// Serve on the sockets systemd passes (socket activation) instead of
    /// --web.listen-address.
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,
    /// exporter-toolkit web config (YAML): TLS, basic auth, headers.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Path under which the metrics are served.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", value_parser = parse_telemetry_path)]
    pub telemetry_path: String,
    /// Most /metrics (and landing page) requests answered at once; more get
    /// 503. 0 = no limit.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = crate::http::DEFAULT_MAX_REQUESTS)]
    pub max_requests: usize,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long = "log.level", default_value = "info")]
    pub log_level: String,
    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Reload the configuration when the file's content changes, checked
    /// this often (e.g. "30s"). Off by default; SIGHUP and POST /-/reload
    /// always reload.
    #[arg(long = "config.auto-reload-interval", value_name = "DURATION", value_parser = parse_interval)]
    pub auto_reload: Option<std::time::Duration>,
    /// Answer POST /-/reload (off: 403), as Prometheus's flag of that name.
    /// SIGHUP reloads either way.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// This replica's shard, 0 ≤ N < --total-shards (kube-state-metrics'
    /// flag). Default: from --pod, else 0.
    #[arg(long = "shard", value_name = "N")]
    pub shard: Option<u32>,
    /// Number of shards the engines are split into (by a stable hash of SMC
    /// and engine name); alert domains are served by shard 0.
    #[arg(long = "total-shards", value_name = "M")]
    pub total_shards: Option<u32>,
    /// StatefulSet pod name: with --total-shards and no --shard, the shard
    /// is its ordinal (the number after the last "-").
    #[arg(long = "pod", value_name = "NAME", env = "POD_NAME")]
    pub pod: Option<String>,
}

/// `--web.telemetry-path`: an absolute path that is not another endpoint's.
fn parse_telemetry_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') || s.len() > 256 || s.contains(['?', '#', ' ']) {
        return Err(format!("{s:?}: expected a path such as /metrics"));
    }
    if matches!(s, "/" | "/-/healthy" | "/-/ready" | "/-/reload") {
        return Err(format!("{s:?}: that path is another endpoint's"));
    }
    Ok(s.to_string())
}

/// `--config.auto-reload-interval`: a humantime duration above zero.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| format!("{s:?}: {e}"))?;
    if d.is_zero() {
        return Err("must be greater than 0 (omit the flag to turn auto-reload off)".into());
    }
    Ok(d)
}

/// The daemon's runtime. The blocking pool only runs DNS lookups (a
/// WebSocket connect to a host name, a new REST connection); /metrics renders
/// have their own threads (at most four, src/http/flight.rs). 16 threads
/// resolve thousands of names a second, and keep the process far below the
/// systemd unit's TasksMax=256 whatever happens (tokio's default would allow
/// 512). Its threads run at a lower priority than the HTTP thread
/// ([`crate::priority`]): scrapes and probes first, ingest when a core is
/// free.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .thread_name("smc-ingest")
        .on_thread_start(crate::priority::lower_current_thread)
        .build()
}

/// Run the command line. Returns the process exit code.
pub fn main_with(cli: Cli) -> ExitCode {
    crate::logging::init(&cli.log_level, cli.log_format);
    crate::smc::tls::install_default_provider();
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shard = match Shard::from_flags(cli.shard, cli.total_shards, cli.pod.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let (path, cfg, web) = match load(&cli) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if cli.check {
        // SPS appliances are named only when there are some, so the line
        // of an SMC-only config stays what scripts already read.
        let sps = match cfg.sps.len() {
            0 => String::new(),
            n => format!(", {n} SPS"),
        };
        println!(
            "{}: configuration is valid ({} SMC{sps})",
            path.display(),
            cfg.smc.len()
        );
        if let Some(w) = &web {
            println!("{}: web config is valid", w.path().display());
        }
        return ExitCode::SUCCESS;
    }
    let listen = Listen {
        addresses: if cli.listen.is_empty() {
            vec![cfg.listen_address.clone()]
        } else {
            cli.listen.clone()
        },
        systemd: cli.systemd_socket,
    };
    let opts = StartOptions {
        config_path: Some(path),
        shard,
        auto_reload: cli.auto_reload,
        enable_lifecycle: cli.enable_lifecycle,
        http: server_options(&cli, web),
    };
    runtime.block_on(serve(cfg, listen, opts))
}

/// The config file and the web config file, checked; a bad one is one
/// line on stderr and [`EXIT_CONFIG`].
fn load(cli: &Cli) -> Result<(PathBuf, Config, Option<Arc<LiveWebConfig>>), ExitCode> {
    let bad = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_CONFIG)
    };
    let Some(path) = cli.config.clone() else {
        return Err(bad(
            &"no configuration: pass -c FILE (or try the demo: `cargo run --release -p smc-lab -- demo`)",
        ));
    };
    let cfg = config::load(&path).map_err(|e| bad(&e))?;
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let web = cli
        .web_config
        .as_deref()
        .map(LiveWebConfig::open)
        .transpose()
        .map_err(|e| bad(&e))?;
    Ok((path, cfg, web))
}

fn server_options(cli: &Cli, web: Option<Arc<LiveWebConfig>>) -> crate::http::ServerOptions {
    crate::http::ServerOptions {
        web,
        telemetry_path: cli.telemetry_path.clone(),
        max_requests: cli.max_requests,
        ..crate::http::ServerOptions::default()
    }
}

/// Where to listen.
struct Listen {
    addresses: Vec<ListenAddress>,
    /// systemd's sockets instead.
    systemd: bool,
}

impl Listen {
    async fn bind(&self) -> Result<Vec<TcpListener>, ExitCode> {
        if self.systemd {
            return crate::http::systemd::listeners().map_err(fail);
        }
        let mut out = Vec::new();
        for a in &self.addresses {
            out.extend(crate::http::listen::bind(a).await.map_err(fail)?);
        }
        Ok(out)
    }
}

/// Print an error line and return the failure exit code.
pub fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

/// Bind a listener, or explain which address failed (`hint` follows the
/// error).
pub async fn bind(addr: SocketAddr, hint: &str) -> Result<TcpListener, ExitCode> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| fail(format!("listen on {addr}: {e}{hint}")))
}

async fn serve(cfg: Config, listen: Listen, opts: StartOptions) -> ExitCode {
    let mut signals = Signals::new();
    let listeners = match listen.bind().await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let exporter = match Exporter::start_on(&cfg, listeners, opts).await {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    supervise(&exporter, &mut signals).await;
    tracing::info!("stopping");
    crate::notify::stopping();
    exporter.shutdown().await;
    ExitCode::SUCCESS
}

/// The daemon's own loop until a stop signal: SIGHUP reloads; systemd hears
/// `READY=1` once every first snapshot is in (or after
/// [`crate::notify::READY_TIMEOUT`]) and `WATCHDOG=1` from this loop, so a
/// wedged runtime stops the pings and systemd restarts the unit.
async fn supervise(exporter: &Exporter, signals: &mut Signals) {
    use tokio::time::{Instant, MissedTickBehavior, interval};
    let ready_by = Instant::now() + crate::notify::READY_TIMEOUT;
    let mut ready_sent = false;
    let mut ready_poll = interval(std::time::Duration::from_millis(100));
    let watchdog = crate::notify::watchdog_interval();
    let mut watchdog_tick = interval(watchdog.unwrap_or(std::time::Duration::from_secs(3600)));
    watchdog_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            signal = signals.next() => match signal {
                Signal::Stop => return,
                Signal::Reload => {
                    // The reload logs (and notifies) its own outcome.
                    tracing::info!("SIGHUP received: reloading the configuration");
                    let _ = exporter.reload().await;
                }
            },
            _ = watchdog_tick.tick(), if watchdog.is_some() => crate::notify::watchdog(),
            _ = ready_poll.tick(), if !ready_sent => {
                let store = exporter.store();
                if store.ready() || Instant::now() >= ready_by {
                    crate::notify::ready(&crate::notify::ready_status(&store));
                    ready_sent = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from([&["smc-exporter"], args].concat()).unwrap()
    }

    #[test]
    fn web_flags_reach_the_server_options() {
        let o = server_options(&parse(&[]), None);
        assert_eq!(
            (o.max_requests, o.telemetry_path.as_str()),
            (40, "/metrics")
        );
        let cli = parse(&[
            "--web.max-requests",
            "3",
            "--web.telemetry-path",
            "/m",
            "--web.listen-address",
            ":9791",
            "--web.listen-address",
            "localhost:1",
        ]);
        let o = server_options(&cli, None);
        assert_eq!((o.max_requests, o.telemetry_path.as_str()), (3, "/m"));
        assert_eq!(
            cli.listen,
            [
                ListenAddress::Any(9791),
                ListenAddress::Host("localhost".into(), 1)
            ]
        );
        assert_eq!(
            server_options(&parse(&["--web.max-requests", "0"]), None).max_requests,
            0
        );
    }
}
