//! Ingest benchmark (issue 10): what one CONNECTIONS stream costs each of
//! its consumers, in CPU time per record, in one run.
//!
//! `cargo bench -p smc-lab --bench ingest -- [--quick] [--exporter [NAME=]PATH]…`
//! (docs/performance.md). A fake SMC (smc-sim in replay mode, a child
//! process) sends a pre-rendered stream: `--snapshot` rows in batches of 200,
//! then `--live` records, 30 per frame, a third each added / updated /
//! deleted. Each consumer, its own process, reads it in turn, `--runs`
//! times (interleaved); CPU = utime + stime from `/proc/<pid>/stat` between
//! "subscribed" and "snapshot consumed", then to "all consumed":
//!
//! 1. each `--exporter` binary (repeatable: before and after in one run;
//!    default `target/release/smc-exporter`);
//! 2. the parse-only floors (this binary, `--floor-child`): frames into
//!    `serde_json::Value`, and through `IgnoredAny`;
//! 3. Forcepoint's official Python client (`fetch_raw`) from the venv
//!    `--official-venv` / `OFFICIAL_CLIENT_VENV` (default
//!    `target/official-client-venv`, made by tests/official_client/run.sh);
//!    skipped, with a line saying so, when absent.
//!
//! Then, per exporter, scrape latency of /metrics, /-/healthy and /-/ready
//! while `--scrape-subscriptions` subscriptions stream at full speed, and
//! the idle render CPU per series. Prints a table and writes
//! `target/bench-ingest.json`. Exits non-zero only when an exporter's RSS
//! growth per tracked entry (after the snapshot, after the live stream, or
//! at peak) is above `--max-bytes-per-entry`, or when the harness itself
//! fails. `--quick` (CI): 100k + 50k records, one run, fewer idle scrapes.
//!
//! Every child dies with the harness (a Drop guard, and `setpriv
//! --pdeathsig` where present); every wait is bounded; loopback only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod consumers;
mod floor;
mod procfs;
mod report;
mod scrape;
mod sim;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use consumers::Consumer;
use floor::Parse;
use smc_sim::replay::{ReplaySpec, Variant};

#[derive(Parser, Debug)]
#[command(about = "smc-exporter ingest benchmark (docs/performance.md)")]
struct Args {
    /// CI size: 100k + 50k records, one run.
    #[arg(long)]
    quick: bool,
    /// An exporter binary to measure, `PATH` or `NAME=PATH` (repeatable).
    #[arg(long = "exporter", value_name = "[NAME=]PATH")]
    exporters: Vec<String>,
    /// The official client's venv.
    #[arg(long, env = "OFFICIAL_CLIENT_VENV", value_name = "DIR")]
    official_venv: Option<PathBuf>,
    /// Snapshot rows (default 1000000; --quick 100000).
    #[arg(long)]
    snapshot: Option<usize>,
    /// Live records (default 1000000; --quick 50000).
    #[arg(long)]
    live: Option<usize>,
    /// Runs per consumer; the table shows medians (default 3; --quick 1).
    #[arg(long)]
    runs: Option<usize>,
    /// Subscriptions of the scrape-latency measurement (0: skip it).
    #[arg(long, default_value_t = 10)]
    scrape_subscriptions: usize,
    /// Idle /metrics scrapes of the render measurement (default 200; --quick 50).
    #[arg(long)]
    idle_scrapes: Option<usize>,
    /// The memory bound, bytes of exporter RSS per tracked entry.
    #[arg(long, default_value_t = 64.0)]
    max_bytes_per_entry: f64,
    /// Where the JSON goes (default target/bench-ingest.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Skip the consumers other than the exporters.
    #[arg(long)]
    exporters_only: bool,
    /// Skip the official Python client (it costs ~100x the others).
    #[arg(long)]
    skip_official: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    // Child roles (this binary runs them).
    #[arg(long, hide = true)]
    sim_child: bool,
    #[arg(long, hide = true)]
    variants: Option<String>,
    #[arg(long, hide = true)]
    floor_child: Option<String>,
    #[arg(long, hide = true)]
    url: Option<String>,
    #[arg(long, hide = true)]
    api_key: Option<String>,
    #[arg(long, hide = true)]
    snapshot_frames: Option<usize>,
    #[arg(long, hide = true)]
    live_frames: Option<usize>,
}

/// `--quick` sizes (snapshot, live): a snapshot large enough for the memory
/// bound, a live stream short enough for CI (the official client costs
/// ~150 µs per record of the full variant).
const QUICK: (usize, usize) = (100_000, 50_000);

/// The workspace root (benches run with the package as working directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A path the user gave: relative to the working directory (under `cargo
/// bench`, the package directory crates/smc-lab).
fn user_path(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

impl Args {
    fn spec(&self) -> ReplaySpec {
        let (s, l) = if self.quick {
            QUICK
        } else {
            (1_000_000, 1_000_000)
        };
        ReplaySpec {
            snapshot: self.snapshot.unwrap_or(s),
            live: self.live.unwrap_or(l),
        }
    }

    fn runs(&self) -> usize {
        self.runs.unwrap_or(if self.quick { 1 } else { 3 }).max(1)
    }

    fn exporters(&self) -> Vec<Consumer> {
        let given = if self.exporters.is_empty() {
            vec![
                root()
                    .join("target/release/smc-exporter")
                    .display()
                    .to_string(),
            ]
        } else {
            self.exporters.clone()
        };
        given
            .iter()
            .map(|e| {
                let (label, path) = match e.split_once('=') {
                    Some((n, p)) => (n.to_string(), p.to_string()),
                    None => (
                        Path::new(e)
                            .file_name()
                            .map_or(e.clone(), |f| f.to_string_lossy().into()),
                        e.clone(),
                    ),
                };
                Consumer::Exporter {
                    label,
                    path: user_path(Path::new(&path)).display().to_string(),
                }
            })
            .collect()
    }

    /// The official client's python and script, or why not.
    fn official(&self) -> Result<(PathBuf, PathBuf), String> {
        let venv = match &self.official_venv {
            Some(v) => user_path(v),
            None => root().join("target/official-client-venv"),
        };
        let python = venv.join("bin/python");
        if !python.exists() {
            return Err(format!(
                "no venv at {} (tests/official_client/run.sh makes it)",
                venv.display()
            ));
        }
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ingest/official_client.py");
        Ok((python, script))
    }
}

fn children(a: &Args) -> Option<ExitCode> {
    if a.sim_child {
        let variants = match sim::parse_variants(a.variants.as_deref().unwrap_or("id")) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("sim child: {e}");
                return Some(ExitCode::FAILURE);
            }
        };
        return Some(sim::child(a.spec(), &variants));
    }
    let kind = a.floor_child.as_deref()?;
    let parse = if kind == "value" {
        Parse::Value
    } else {
        Parse::Ignored
    };
    Some(floor::child(floor::FloorArgs {
        parse,
        url: a.url.clone().unwrap_or_default(),
        api_key: a.api_key.clone().unwrap_or_default(),
        snapshot_frames: a.snapshot_frames.unwrap_or(0),
        live_frames: a.live_frames.unwrap_or(0),
    }))
}

/// The consumers of this run, and the variants the simulator must render.
fn pick_consumers(a: &Args) -> (Vec<Consumer>, Vec<Variant>) {
    let mut list = a.exporters();
    let mut variants = vec![Variant::Id];
    if !a.exporters_only {
        list.push(Consumer::Floor(Parse::Value));
        list.push(Consumer::Floor(Parse::Ignored));
        let official = if a.skip_official {
            Err("--skip-official".to_string())
        } else {
            a.official()
        };
        match official {
            Ok((python, script)) => {
                // The same frames as the exporter (the ratio), and every
                // field (what a script that keeps the records asks for).
                for same_stream in [true, false] {
                    list.push(Consumer::Official {
                        python: python.clone(),
                        script: script.clone(),
                        same_stream,
                    });
                }
                variants.push(Variant::Full)
            }
            Err(why) => println!("ingest: official Python client skipped: {why}"),
        }
    }
    (list, variants)
}

async fn measure_all(
    a: &Args,
    list: &[Consumer],
    sim: &sim::Sim,
    dir: &Path,
) -> Result<Vec<report::Row>, String> {
    let mut runs: Vec<Vec<consumers::Run>> = vec![Vec::new(); list.len()];
    for i in 0..a.runs() {
        for (c, out) in list.iter().zip(runs.iter_mut()) {
            let r = consumers::measure(c, sim, dir)
                .await
                .map_err(|e| format!("{}: {e}", c.label()))?;
            println!(
                "ingest: run {} {}: snapshot {:.3} s CPU ({:.2} s wall), live {:.3} s CPU ({:.2} s wall)",
                i + 1,
                c.label(),
                r.snapshot_cpu,
                r.snapshot_wall,
                r.live_cpu,
                r.live_wall
            );
            out.push(r);
        }
    }
    let spec = a.spec();
    Ok(list
        .iter()
        .cloned()
        .zip(runs)
        .map(|(c, r)| report::Row::new(c, r, spec))
        .collect())
}

async fn scrapes(
    a: &Args,
    list: &[Consumer],
    sim: &sim::Sim,
    dir: &Path,
) -> Result<Vec<scrape::ScrapeResult>, String> {
    let mut out = Vec::new();
    if a.scrape_subscriptions == 0 {
        return Ok(out);
    }
    let idle = a.idle_scrapes.unwrap_or(if a.quick { 50 } else { 200 });
    for c in list {
        if let Consumer::Exporter { label, path } = c {
            let r = scrape::run(label, path, sim, a.scrape_subscriptions, idle, dir).await?;
            report::print_scrape(&r);
            out.push(r);
        }
    }
    Ok(out)
}

/// The exporters above the memory bound, as lines.
fn over_bound(rows: &[report::Row], spec: ReplaySpec, bound: f64) -> Vec<String> {
    rows.iter()
        .filter(|r| matches!(r.consumer, Consumer::Exporter { .. }))
        .filter_map(|r| {
            let (s, l, p) = r.bytes_per_entry(spec);
            (s.max(l).max(p) > bound).then(|| format!(
                "{}: {s:.1} B after the snapshot, {l:.1} B after the live stream, {p:.1} B at peak (bound {bound} B)",
                r.consumer.label()))
        })
        .collect()
}

async fn run(a: Args) -> Result<Vec<String>, String> {
    let spec = a.spec();
    spec.check()?;
    let (list, variants) = pick_consumers(&a);
    let dir = root().join("target/bench-ingest");
    let sim = sim::Sim::spawn(spec, &variants)?;
    println!(
        "ingest: fake SMC at {} rendered {:?} in {} ms",
        sim.url, variants, sim.render_ms
    );
    let rows = measure_all(&a, &list, &sim, &dir).await?;
    report::print_table(&rows, spec, a.runs(), procfs::cpu_tick());
    let scrapes = scrapes(&a, &list, &sim, &dir).await?;
    let json = report::json(&rows, &scrapes, spec, a.runs());
    let path = match &a.json {
        Some(p) => user_path(p),
        None => root().join("target/bench-ingest.json"),
    };
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("ingest: results in {}", path.display());
    Ok(over_bound(&rows, spec, a.max_bytes_per_entry))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(code) = children(&args) {
        return code;
    }
    smc_exporter::smc::tls::install_default_provider();
    // On this thread only: children spawned here die with it (pdeathsig).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(run(args)) {
        Ok(over) if over.is_empty() => {
            println!("ingest: OK (memory within the bound)");
            ExitCode::SUCCESS
        }
        Ok(over) => {
            for o in over {
                eprintln!("ingest: FAIL: {o}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("ingest: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
