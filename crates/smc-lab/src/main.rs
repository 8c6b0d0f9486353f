//! `smc-lab`: the lab bench of smc-exporter. `smc-lab simulate` serves a
//! simulated SMC (the flags of the former `smc-exporter simulate`);
//! `smc-lab demo` runs the simulator and the exporter together (the former
//! `smc-exporter demo`). Not shipped with the exporter.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use smc_exporter::cli::LogFormat;
use smc_lab::commands;
use smc_sim::SimOptions;

#[derive(Debug, Parser)]
#[command(
    name = "smc-lab",
    version,
    about = "The smc-exporter lab: a simulated Forcepoint SMC, and a demo of the exporter against it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long = "log.level", default_value = "info", global = true)]
    log_level: String,
    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
}

/// Session identification of the simulated SMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SimAuth {
    Cookie,
    Token,
}

#[derive(Debug, Subcommand)]
enum Command {
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
        /// Serve https / wss with this PEM certificate chain (needs
        /// --tls-key); hrefs are then `https://`.
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        /// Ask every client for a certificate signed by this PEM CA.
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_client_ca: Option<std::path::PathBuf>,
        /// Number of engines: the five named ones, then fw-006, fw-007, …
        /// (at most 10000).
        #[arg(long, default_value_t = 5)]
        engines: usize,
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

/// The simulator's TLS configuration from the PEM files of the flags.
fn sim_tls(
    cert: Option<std::path::PathBuf>,
    key: Option<std::path::PathBuf>,
    client_ca: Option<std::path::PathBuf>,
) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>, String> {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    let ca = client_ca.as_deref().map(read).transpose()?;
    smc_sim::tls_config(&read(&cert)?, &read(&key)?, ca.as_deref())
        .map(Some)
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    smc_exporter::logging::init(&cli.log_level, cli.log_format);
    smc_exporter::smc::tls::install_default_provider();
    let runtime = match smc_exporter::cli::runtime() {
        Ok(r) => r,
        Err(e) => return smc_exporter::cli::fail(format!("cannot start the runtime: {e}")),
    };
    match cli.command {
        Command::Simulate {
            listen,
            seed,
            churn,
            scale,
            auth,
            tls_cert,
            tls_key,
            tls_client_ca,
            engines,
        } => {
            let tls = match sim_tls(tls_cert, tls_key, tls_client_ca) {
                Ok(t) => t,
                Err(e) => return smc_exporter::cli::fail(e),
            };
            runtime.block_on(commands::simulate(
                listen,
                SimOptions {
                    seed,
                    churn_per_second: churn,
                    scale,
                    token_auth: auth == SimAuth::Token,
                    tls,
                    engines,
                    ..SimOptions::default()
                },
            ))
        }
        Command::Demo {
            listen,
            seed,
            churn,
        } => runtime.block_on(commands::demo(listen, seed, churn)),
    }
}
