//! The command line: `smc-exporter -c FILE [--config.check]`.
//!
//! The simulator and the demo are not in this binary: they are `smc-lab
//! simulate` and `smc-lab demo` (crate `smc-lab`), which reuse [`runtime`],
//! [`bind`] and [`fail`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio::net::TcpListener;

use crate::app::{Exporter, Shard, StartOptions};
use crate::config::{self, Config};
pub use crate::logging::LogFormat;
use crate::signals::{Signal, Signals};

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
    /// Address to serve /metrics on (overrides `listen_address`).
    #[arg(long = "web.listen-address", value_name = "HOST:PORT")]
    pub listen: Option<SocketAddr>,
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
    let Some(path) = cli.config else {
        eprintln!(
            "error: no configuration: pass -c FILE (or try the demo: `cargo run --release -p smc-lab -- demo`)"
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    if cli.check {
        println!(
            "{}: configuration is valid ({} SMC)",
            path.display(),
            cfg.smc.len()
        );
        return ExitCode::SUCCESS;
    }
    let listen = cli.listen.unwrap_or(cfg.listen_address);
    let opts = StartOptions {
        config_path: Some(path),
        shard,
        auto_reload: cli.auto_reload,
        enable_lifecycle: cli.enable_lifecycle,
    };
    runtime.block_on(serve(cfg, listen, opts))
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

async fn serve(cfg: Config, listen: SocketAddr, opts: StartOptions) -> ExitCode {
    let mut signals = Signals::new();
    let listener = match bind(listen, "").await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let exporter = match Exporter::start_with(&cfg, listener, opts).await {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    // The reload logs its own outcome.
    while signals.next().await == Signal::Reload {
        tracing::info!("SIGHUP received: reloading the configuration");
        let _ = exporter.reload().await;
    }
    tracing::info!("stopping");
    exporter.shutdown().await;
    ExitCode::SUCCESS
}
