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

/// Serve a simulated SMC on `listen` until stopped. `GET /sim/truth`
/// renders with [`crate::truth::renderer`].
pub async fn simulate(listen: SocketAddr, mut opts: SimOptions) -> ExitCode {
    let mut signals = Signals::new();
    let listener = match bind(listen, "").await {
        Ok(l) => l,
        Err(code) => return code,
    };
    opts.truth_text.get_or_insert_with(crate::truth::renderer);
    let server = match smc_sim::start(listener, opts).await {
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
        ..SimOptions::default()
    };
    let server = match smc_sim::start(sim_listener, opts).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let world = server.world_info();
    let cfg = match config::demo_with_streams(
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
