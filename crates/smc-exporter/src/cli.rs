//! The command line: `smc-exporter [-c FILE] [--config.check]`, `simulate`, `demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;

use crate::app::Exporter;
use crate::config::{self, Config};
pub use crate::logging::LogFormat;
use crate::signals::Signals;
use crate::sim::{self, SimOptions};

/// Exit status for a bad configuration or command line.
pub const EXIT_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "smc-exporter",
    version,
    about = "Prometheus exporter for Forcepoint NGFW SMC session monitoring"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
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
    #[arg(long = "log.level", default_value = "info", global = true)]
    pub log_level: String,
    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
}

/// Session identification of the simulated SMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimAuth {
    Cookie,
    Token,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a simulated SMC: REST login, the session, log and notification
    /// WebSockets, and /sim/* control endpoints (ground truth, churn, faults).
    Simulate {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: SocketAddr,
        /// World seed: the same seed gives the same world.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Live changes per second (0 = a still world).
        #[arg(long, default_value_t = 5.0)]
        churn: f64,
        /// World size multiplier.
        #[arg(long, default_value_t = 1)]
        scale: u32,
        /// How sessions are identified: a JSESSIONID cookie, or the
        /// "Use SSL for session ID" token (Authorization header,
        /// `access_token` WebSocket subprotocol).
        #[arg(long, value_enum, default_value = "cookie")]
        auth: SimAuth,
    },
    /// Run the simulator and the exporter together on loopback.
    Demo {
        /// Address of the exporter.
        #[arg(long = "web.listen-address", default_value = "127.0.0.1:9791")]
        listen: SocketAddr,
        /// World seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Live changes per second.
        #[arg(long, default_value_t = 5.0)]
        churn: f64,
    },
}

/// Run the command line. Returns the process exit code.
pub fn main_with(cli: Cli) -> ExitCode {
    crate::logging::init(&cli.log_level, cli.log_format);
    crate::smc::tls::install_default_provider();
    // The blocking pool only runs DNS lookups (a WebSocket connect to a host
    // name, a new REST connection); /metrics renders have their own threads
    // (at most four, src/http/flight.rs). 16 threads resolve thousands of
    // names a second, and keep the process far below the systemd unit's
    // TasksMax=256 whatever happens (tokio's default would allow 512).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Simulate {
            listen,
            seed,
            churn,
            scale,
            auth,
        }) => runtime.block_on(simulate(
            listen,
            SimOptions {
                seed,
                churn_per_second: churn,
                scale,
                token_auth: auth == SimAuth::Token,
                ..SimOptions::default()
            },
        )),
        Some(Command::Demo {
            listen,
            seed,
            churn,
        }) => runtime.block_on(demo(listen, seed, churn)),
        None => {
            let Some(path) = cli.config else {
                eprintln!("error: no configuration: pass -c FILE (or try `smc-exporter demo`)");
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
    }
}

/// Print an error line and return the failure exit code.
fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

/// Bind a listener, or explain which address failed.
async fn bind(addr: SocketAddr, hint: &str) -> Result<TcpListener, ExitCode> {
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

async fn simulate(listen: SocketAddr, opts: SimOptions) -> ExitCode {
    let mut signals = Signals::new();
    let listener = match bind(listen, "").await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let server = match sim::start(listener, opts).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    println!("simulated SMC listening on {}", server.url());
    println!("  world:        {}/sim/world", server.url());
    println!("  ground truth: {}/sim/truth?smc=NAME", server.url());
    signals.stopped().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn demo(listen: SocketAddr, seed: u64, churn: f64) -> ExitCode {
    let mut signals = Signals::new();
    let exporter_listener = match bind(listen, " (choose another with --web.listen-address)").await
    {
        Ok(l) => l,
        Err(code) => return code,
    };
    let sim_listener = match bind(SocketAddr::from(([127, 0, 0, 1], 0)), "").await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let opts = SimOptions {
        seed,
        churn_per_second: churn,
        ..SimOptions::default()
    };
    let server = match sim::start(sim_listener, opts).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let world = server.world_info();
    let cfg = match config::demo(
        &server.url(),
        &world.api_key,
        &world.engines,
        &world.alert_domains,
        listen,
    ) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let exporter = match Exporter::start(&cfg, exporter_listener).await {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let addr = exporter.addr();
    println!("smc-exporter demo: a simulated SMC and the exporter, on loopback");
    println!("  metrics:        http://{addr}/metrics");
    println!("  landing page:   http://{addr}/");
    println!(
        "  simulated SMC:  {}  (ground truth: {}/sim/truth?smc=demo)",
        server.url(),
        server.url()
    );
    println!("Press Ctrl-C to stop.");
    signals.stopped().await;
    exporter.shutdown().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
