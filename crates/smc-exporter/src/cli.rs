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

use crate::app::Exporter;
use crate::config::{self, Config};
pub use crate::logging::LogFormat;
use crate::signals::Signals;

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
    runtime.block_on(serve(cfg, listen))
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

async fn serve(cfg: Config, listen: SocketAddr) -> ExitCode {
    let mut signals = Signals::new();
    let listener = match bind(listen, "").await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let exporter = match Exporter::start(&cfg, listener).await {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    signals.stopped().await;
    tracing::info!("stopping");
    exporter.shutdown().await;
    ExitCode::SUCCESS
}
