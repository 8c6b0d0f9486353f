//! Thread priorities of the real binary (issue 10, scrapes isolated from
//! ingest): the ingest workers run `INGEST_NICE` lower than the process,
//! the HTTP thread (which starts the render threads) keeps the process's
//! priority, so a probe is answered before a busy fold. (Before: every thread at the
//! process's priority, and `/-/healthy` p99 5.6 ms during full-speed ingest
//! of 10 subscriptions; docs/performance.md.)

use std::collections::BTreeMap;
use std::time::Duration;

use smc_exporter::priority::INGEST_NICE;
use smc_lab::*;
use smc_sim::SimOptions;

/// Nice value of every thread of `pid`, by thread name (`comm`).
fn nice_by_thread(pid: u32) -> BTreeMap<String, Vec<i32>> {
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        let (head, tail) = stat.rsplit_once(')').unwrap();
        let name = head.split_once('(').unwrap().1.to_string();
        // Fields after the name start at field 3 (state); nice is field 19.
        let nice: i32 = tail.split_whitespace().nth(16).unwrap().parse().unwrap();
        out.entry(name).or_default().push(nice);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_threads_run_below_the_http_and_render_threads() {
    let sim = start_sim(SimOptions {
        seed: 10,
        ..SimOptions::default()
    })
    .await;
    let w = sim.world_info();
    let (_dir, cfg) = crate::config_dir(
        &sim,
        &format!(
            "[subscription]\nsnapshot_settle = \"300ms\"\n\n[[smc]]\nname = \"sim\"\nurl = \"{}\"\napi_key_file = \"key\"\nengines = {:?}\ndefinitions = [\"CONNECTIONS\"]\n",
            sim.url(),
            &w.engines[..2]
        ),
    );
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        &[],
    );
    let addr = p.metrics_addr().await;
    wait_ready(addr, Duration::from_secs(20)).await;
    assert_eq!(http_get(&format!("http://{addr}/metrics")).await.0, 200);

    let mut threads = nice_by_thread(p.pid());
    let base = threads["smc-exporter"][0];
    let lowered = (base + INGEST_NICE).min(19);
    let ingest = &threads["smc-ingest"];
    assert!(!ingest.is_empty(), "{threads:?}");
    assert!(ingest.iter().all(|&n| n == lowered), "{threads:?}");
    // `comm` is cut at 15 bytes.
    assert_eq!(threads["smc-exporter-ht"], vec![base], "{threads:?}");
    // Render threads live for one render (one may still be ending after
    // the scrape); the HTTP thread starts them, so they inherit its priority.
    if let Some(render) = threads.remove("metrics-render") {
        assert!(render.iter().all(|&n| n == base), "{render:?}");
    }
    assert_eq!(
        threads.keys().cloned().collect::<Vec<_>>(),
        ["smc-exporter", "smc-exporter-ht", "smc-ingest"],
        "every thread is named, so none is left at an unplanned priority"
    );

    p.sigterm();
    assert!(p.wait_exit(Duration::from_secs(5)).await.unwrap().success());
    sim.shutdown().await;
}
