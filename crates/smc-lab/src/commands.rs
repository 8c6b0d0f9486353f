//! The `smc-lab` commands: `simulate` (a simulated SMC alone) and `demo`
//! (the simulator and the exporter library together, in one process, on
//! loopback). Both stop on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use smc_exporter::app::Exporter;
use smc_exporter::cli::{bind, fail};
use smc_exporter::config;
use smc_exporter::signals::Signals;
use smc_sim::SimOptions;

use crate::secret_file::SecretFile;

/// Serve a simulated SMC on `listen` until stopped. `GET /sim/truth`
/// renders with [`crate::truth::renderer`].
pub async fn simulate(listen: SocketAddr, mut opts: SimOptions) -> ExitCode {
    let mut signals = Signals::new();
    let listener = match bind(listen, "").await {
        Ok(l) => l,
        Err(code) => return code,
    };
    opts.truth_text.get_or_insert_with(crate::truth::renderer);
    if let Some(sps) = opts.sps.as_mut() {
        sps.truth_text
            .get_or_insert_with(crate::sps_truth::renderer);
    }
    let server = match smc_sim::start(listener, opts).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    println!("simulated SMC listening on {}", server.url());
    println!("  world:        {}/sim/world", server.url());
    println!("  ground truth: {}/sim/truth?smc=NAME", server.url());
    if let Some(sps) = server.sps_world() {
        println!(
            "  simulated SPS: {}  (world: {}/sim/sps/world)",
            sps.url,
            server.url()
        );
    }
    signals.stopped().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Run a simulated SMC (`seed`, `churn` changes a second) on a free
/// loopback port and the exporter, monitoring all of it, on `listen`.
pub async fn demo(listen: SocketAddr, seed: u64, churn: f64) -> ExitCode {
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
        truth_text: Some(crate::truth::renderer()),
        sps: Some(smc_sim::SpsOptions {
            churn_per_second: churn,
            truth_text: Some(crate::sps_truth::renderer()),
            ..smc_sim::SpsOptions::default()
        }),
        ..SimOptions::default()
    };
    let server = match smc_sim::start(sim_listener, opts).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // The SPS password goes to a private file: the config reads no inline
    // password. The file and its directory go when `demo` returns.
    let sps_password = match sps_password(&server) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let cfg = match demo_config(&server, listen, sps_password.as_ref()) {
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
    print_sps(&server);
    println!("Press Ctrl-C to stop.");
    signals.stopped().await;
    exporter.shutdown().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// The simulated SPS's password in a private file (none without an SPS).
fn sps_password(server: &smc_sim::SimServer) -> Result<Option<SecretFile>, ExitCode> {
    let Some(sps) = server.sps_world() else {
        return Ok(None);
    };
    SecretFile::write("smc-lab-demo", "sps-password", &sps.password)
        .map(Some)
        .map_err(|e| fail(format!("write the SPS password file: {e}")))
}

/// [`config::demo_with_streams`] for the simulator, with its SPS appliance
/// when it runs one (its password read from `sps_password`).
fn demo_config(
    server: &smc_sim::SimServer,
    listen: SocketAddr,
    sps_password: Option<&SecretFile>,
) -> Result<config::Config, config::ConfigError> {
    let world = server.world_info();
    let sps_world = server.sps_world();
    let sps = sps_world
        .as_ref()
        .zip(sps_password)
        .map(|(w, p)| (w.url.as_str(), w.username.as_str(), p.path()));
    config::demo_with_streams(
        &server.url(),
        &world.api_key,
        &world.engines,
        &world.alert_domains,
        listen,
        sps,
    )
}

/// The demo's SPS lines (when the simulator runs one).
fn print_sps(server: &smc_sim::SimServer) {
    if let Some(sps) = server.sps_world() {
        println!(
            "  simulated SPS:  {}  (world: {}/sim/sps/world, ground truth: {}/sim/sps/truth?since=UNIX_SECONDS)",
            sps.url,
            server.url(),
            server.url()
        );
    }
}
