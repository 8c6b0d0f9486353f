//! Live reload (issue 11), with the real binary and the simulator as SMC:
//! SIGHUP and `POST /-/reload` re-read the config; unchanged subscriptions
//! keep their socket (their `smc_subscription_snapshots_total` does not
//! move), removed ones leave `/metrics`, added ones equal the simulator's
//! truth; a bad config changes nothing and says which key. Also: three
//! replicas sharding one simulator's engines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use smc_lab::*;
use smc_protocol::Definition;
use smc_sim::{SimOptions, SimServer};

const WITHIN: Duration = Duration::from_secs(20);

/// A config file for `sim` (the key beside it) and its directory.
struct Files {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    url: String,
}

impl Files {
    fn new(sim: &SimServer) -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), sim.world_info().api_key).unwrap();
        let cfg = dir.path().join("config.toml");
        Files {
            dir,
            cfg,
            url: sim.url(),
        }
    }

    /// Write the config: `engines` × `definitions`, plus `extra` lines in
    /// the `[[smc]]`. No engines: the key is left out (discovery).
    fn write(&self, engines: &[&str], definitions: &[&str], extra: &str) {
        let engines = if engines.is_empty() {
            String::new()
        } else {
            format!("engines = {engines:?}")
        };
        let text = format!(
            "[subscription]\nsnapshot_settle = \"300ms\"\n\n[[smc]]\nname = \"sim\"\nurl = \"{}\"\napi_key_file = \"key\"\n{engines}\ndefinitions = {definitions:?}\n{extra}\n",
            self.url
        );
        std::fs::write(&self.cfg, text).unwrap();
    }

    fn path(&self) -> &Path {
        let _ = &self.dir;
        &self.cfg
    }
}

fn spawn(cfg: &Path, more: &[&str]) -> Proc {
    let mut args = vec![
        "-c",
        cfg.to_str().unwrap(),
        "--web.listen-address",
        "127.0.0.1:0",
        "--log.format",
        "json",
        "--web.enable-lifecycle",
    ];
    args.extend_from_slice(more);
    Proc::spawn(crate::EXPORTER, &args, &[])
}

async fn scrape(addr: std::net::SocketAddr) -> BTreeMap<SeriesKey, f64> {
    let (status, body) = http_get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    parse_samples(&body)
}

/// The simulator's truth for the tables of `targets` × `definitions` only.
fn truth_for(sim: &SimServer, keep: &dyn Fn(&str, Definition) -> bool) -> BTreeMap<SeriesKey, f64> {
    let tables: Vec<_> = sim
        .truth_tables()
        .into_iter()
        .filter(|t| keep(&t.target, t.definition))
        .collect();
    state_samples(&smc_lab::truth::render(&tables, "sim"))
}

/// Wait (bounded) until the served state families equal the filtered truth.
async fn converge(
    sim: &SimServer,
    addrs: &[std::net::SocketAddr],
    keep: &dyn Fn(&str, Definition) -> bool,
) -> BTreeMap<SeriesKey, f64> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let want = truth_for(sim, keep);
        let mut got = BTreeMap::new();
        for a in addrs {
            let (_, body) = http_get(&format!("http://{a}/metrics")).await;
            for (k, v) in state_samples(&body) {
                assert!(got.insert(k.clone(), v).is_none(), "{k:?} served twice");
            }
        }
        if got == want {
            return want;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never matched the truth\nwant: {:#?}\ngot: {:#?}",
            want.keys().take(8).collect::<Vec<_>>(),
            got.keys().take(8).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `smc_subscription_snapshots_total` per (target, definition).
fn snapshots(m: &BTreeMap<SeriesKey, f64>) -> BTreeMap<(String, String), f64> {
    m.iter()
        .filter(|((n, _), _)| n == "smc_subscription_snapshots_total")
        .map(|((_, l), v)| ((l["target"].clone(), l["definition"].clone()), *v))
        .collect()
}

/// `smc_subscription_snapshots_total` per (smc, target).
fn snapshots_per_smc(m: &BTreeMap<SeriesKey, f64>) -> BTreeMap<(String, String), f64> {
    m.iter()
        .filter(|((n, _), _)| n == "smc_subscription_snapshots_total")
        .map(|((_, l), v)| ((l["smc"].clone(), l["target"].clone()), *v))
        .collect()
}

fn total(m: &BTreeMap<SeriesKey, f64>, name: &str) -> f64 {
    m.iter()
        .filter(|((n, _), _)| n == name)
        .map(|(_, v)| v)
        .sum()
}

fn value(m: &BTreeMap<SeriesKey, f64>, name: &str) -> Option<f64> {
    m.iter().find(|((n, _), _)| n == name).map(|(_, v)| *v)
}

fn message(v: &serde_json::Value) -> &str {
    v["msg"].as_str().unwrap_or_default()
}

/// Wait until `n` log lines have the message `msg`.
async fn wait_logs(p: &mut Proc, msg: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while p.json_logs().iter().filter(|v| message(v) == msg).count() < n {
        if let Some(status) = p.wait_exit(Duration::ZERO).await {
            panic!("the exporter ended: {status:?}\n{}", p.stderr());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {msg:?} #{n}:\n{}",
            p.stderr()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn post_reload(addr: std::net::SocketAddr) -> (u16, String) {
    let r = smc_lab::http::client()
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn stop(mut p: Proc, sim: &SimServer) {
    p.sigterm();
    let status = p
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exited within 5 s");
    assert!(status.success(), "{status:?}");
    assert_eq!(
        sim.sessions().live,
        Vec::<String>::new(),
        "every session logged out"
    );
}

async fn sim(seed: u64) -> SimServer {
    start_sim(SimOptions {
        seed,
        ..SimOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_an_unchanged_config_changes_nothing() {
    let sim = sim(21).await;
    let e = sim.world_info().engines;
    let f = Files::new(&sim);
    f.write(&[&e[0], &e[1]], &["CONNECTIONS", "ROUTING"], "");
    let mut p = spawn(f.path(), &[]);
    let addr = p.metrics_addr().await;
    wait_ready(addr, WITHIN).await;
    let mine = |t: &str, d: Definition| {
        (t == e[0] || t == e[1]) && matches!(d, Definition::Connections | Definition::Routing)
    };
    converge(&sim, &[addr], &mine).await;
    let before = scrape(addr).await;
    let live = sim.sessions().live;
    assert_eq!(snapshots(&before).len(), 4);

    for n in 1..=2 {
        p.signal(smc_lab::Signal::HUP);
        wait_logs(&mut p, "configuration reloaded", n).await;
    }
    let after = scrape(addr).await;
    assert_eq!(snapshots(&after), snapshots(&before), "no new snapshot");
    for family in ["smc_subscription_reconnects_total", "smc_logins_total"] {
        assert_eq!(total(&after, family), total(&before, family), "{family}");
    }
    assert_eq!(
        value(&after, "smc_exporter_config_last_reload_successful"),
        Some(1.0)
    );
    assert_eq!(sim.sessions().live, live, "the same session");
    converge(&sim, &[addr], &mine).await;
    stop(p, &sim).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_removes_an_engine_and_adds_a_definition_keeping_the_rest() {
    let sim = sim(22).await;
    let e = sim.world_info().engines;
    let (e0, e1) = (e[0].clone(), e[1].clone());
    let f = Files::new(&sim);
    f.write(&[&e0, &e1], &["CONNECTIONS"], "");
    let mut p = spawn(f.path(), &[]);
    let addr = p.metrics_addr().await;
    wait_ready(addr, WITHIN).await;
    converge(&sim, &[addr], &|t, d| {
        (t == e0 || t == e1) && d == Definition::Connections
    })
    .await;
    let kept = (e0.clone(), "connections".to_string());
    let before = snapshots(&scrape(addr).await)[&kept];
    let live = sim.sessions().live;

    // SIGHUP: e1 removed, ROUTING added.
    f.write(&[&e0], &["CONNECTIONS", "ROUTING"], "");
    p.signal(smc_lab::Signal::HUP);
    wait_logs(&mut p, "configuration reloaded", 1).await;
    converge(&sim, &[addr], &|t, d| {
        t == e0 && matches!(d, Definition::Connections | Definition::Routing)
    })
    .await;
    let m = scrape(addr).await;
    let gone: Vec<_> = m
        .keys()
        .filter(|(_, l)| l.get("engine") == Some(&e1) || l.get("target") == Some(&e1))
        .collect();
    assert!(
        gone.is_empty(),
        "the removed engine is still served: {gone:?}"
    );
    assert_eq!(
        snapshots(&m)[&kept],
        before,
        "{e0}/CONNECTIONS kept its socket"
    );
    assert_eq!(snapshots(&m).len(), 2);

    // POST /-/reload: e1 back, ROUTING dropped.
    f.write(&[&e0, &e1], &["CONNECTIONS"], "");
    assert_eq!(
        post_reload(addr).await,
        (200, "configuration reloaded\n".into())
    );
    converge(&sim, &[addr], &|t, d| {
        (t == e0 || t == e1) && d == Definition::Connections
    })
    .await;
    let m = scrape(addr).await;
    assert_eq!(
        snapshots(&m)[&kept],
        before,
        "{e0}/CONNECTIONS kept its socket"
    );
    assert!(
        !m.keys().any(|(n, _)| n == "smc_routes"),
        "ROUTING left /metrics"
    );
    assert_eq!(sim.sessions().live, live, "the same session throughout");
    stop(p, &sim).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_on_reload_changes_nothing_and_names_the_key() {
    let sim = sim(23).await;
    let e = sim.world_info().engines;
    let f = Files::new(&sim);
    f.write(&[&e[0]], &["CONNECTIONS"], "");
    let mut p = spawn(f.path(), &[]);
    let addr = p.metrics_addr().await;
    wait_ready(addr, WITHIN).await;
    let mine = |t: &str, d: Definition| t == e[0] && d == Definition::Connections;
    converge(&sim, &[addr], &mine).await;
    let before = snapshots(&scrape(addr).await);
    let ok_at = value(
        &scrape(addr).await,
        "smc_exporter_config_last_reload_success_timestamp_seconds",
    );
    assert!(ok_at.is_some_and(|t| t > 1.7e9), "{ok_at:?}");

    f.write(&[&e[0]], &["CONNECTIONS"], "engines_exclude = \"(\"");
    let line = "smc[0].engines_exclude: invalid regex: error: unclosed group";
    assert_eq!(post_reload(addr).await, (500, format!("{line}\n")));
    let m = scrape(addr).await;
    assert_eq!(
        value(&m, "smc_exporter_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(
        value(
            &m,
            "smc_exporter_config_last_reload_success_timestamp_seconds"
        ),
        ok_at
    );
    // SIGHUP logs the same one line.
    p.signal(smc_lab::Signal::HUP);
    let failed =
        format!("configuration reload failed; still running the previous configuration: {line}");
    wait_logs(&mut p, &failed, 2).await;
    // The old plan still runs, untouched.
    converge(&sim, &[addr], &mine).await;
    assert_eq!(snapshots(&scrape(addr).await), before);

    // Fixed: applied, and the gauge is back to 1.
    f.write(&[&e[0]], &["CONNECTIONS"], "");
    assert_eq!(post_reload(addr).await.0, 200);
    let m = scrape(addr).await;
    assert_eq!(
        value(&m, "smc_exporter_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(
        value(
            &m,
            "smc_exporter_config_last_reload_success_timestamp_seconds"
        ) > ok_at
    );
    stop(p, &sim).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_partition_the_engines_exactly() {
    let sim = sim(24).await;
    let w = sim.world_info();
    let f = Files::new(&sim);
    let engines: Vec<&str> = w.engines.iter().map(String::as_str).collect();
    f.write(
        &engines,
        &["CONNECTIONS", "ROUTING"],
        &format!("alert_domains = {:?}", w.alert_domains),
    );
    let procs: Vec<Proc> = (0..3)
        .map(|n| {
            spawn(
                f.path(),
                &["--shard", &n.to_string(), "--total-shards", "3"],
            )
        })
        .collect();
    let mut addrs = Vec::new();
    for p in &procs {
        addrs.push(p.metrics_addr().await);
    }
    for a in &addrs {
        wait_ready(*a, WITHIN).await;
    }
    // The union equals the unsharded truth; `converge` fails on a series served twice.
    converge(&sim, &addrs, &|_, d| {
        matches!(
            d,
            Definition::Connections | Definition::Routing | Definition::ActiveAlerts
        )
    })
    .await;
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for (n, a) in addrs.iter().enumerate() {
        let m = scrape(*a).await;
        assert_eq!(value(&m, "smc_exporter_shard_ordinal"), Some(n as f64));
        assert_eq!(value(&m, "smc_exporter_total_shards"), Some(3.0));
        let targets: BTreeSet<String> = m
            .iter()
            .filter(|((name, _), _)| name == "smc_subscription_up")
            .map(|((_, l), _)| format!("{}/{}", l["definition"], l["target"]))
            .collect();
        for t in targets {
            if let Some(first) = owner.insert(t.clone(), n) {
                panic!("{t} is served by shards {first} and {n}");
            }
        }
        let alerts = m
            .keys()
            .filter(|(name, l)| name == "smc_subscription_up" && l["definition"] == "active_alerts")
            .count();
        assert_eq!(
            alerts,
            if n == 0 { w.alert_domains.len() } else { 0 },
            "shard {n}"
        );
    }
    // Every engine × definition and every domain in exactly one shard.
    assert_eq!(owner.len(), 2 * w.engines.len() + w.alert_domains.len());
    // One session per replica.
    assert_eq!(sim.sessions().live.len(), 3);
    for p in procs {
        stop_one(p).await;
    }
    assert_eq!(sim.sessions().live, Vec::<String>::new());
    sim.shutdown().await;
}

async fn stop_one(mut p: Proc) {
    p.sigterm();
    let status = p
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exited within 5 s");
    assert!(status.success(), "{status:?}");
}

/// An exporter in this process, started from `f`'s file (so it can reload).
async fn start_in_process(f: &Files) -> smc_exporter::app::Exporter {
    let cfg = smc_exporter::config::load(f.path()).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let opts = smc_exporter::app::StartOptions {
        config_path: Some(f.path().to_path_buf()),
        enable_lifecycle: true,
        ..Default::default()
    };
    let x = smc_exporter::app::Exporter::start_with(&cfg, l, opts)
        .await
        .unwrap();
    wait_ready(x.addr(), WITHIN).await;
    x
}

/// The label names and the sum of values of one family's samples.
fn family_shape(m: &BTreeMap<SeriesKey, f64>, family: &str) -> (BTreeSet<Vec<String>>, f64) {
    let mut labels = BTreeSet::new();
    let mut sum = 0.0;
    for ((n, l), v) in m {
        if n == family {
            labels.insert(l.keys().cloned().collect::<Vec<_>>());
            sum += v;
        }
    }
    (labels, sum)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_group_by_swaps_in_without_a_dip_and_its_counters_continue() {
    let sim = sim(25).await;
    let e0 = sim.world_info().engines[0].clone();
    let f = Files::new(&sim);
    f.write(&[&e0], &["CONNECTIONS"], "");
    let x = start_in_process(&f).await;
    let addr = x.addr();
    converge(&sim, &[addr], &|t, d| {
        t == e0 && d == Definition::Connections
    })
    .await;
    let before = scrape(addr).await;
    let (old_labels, rows) = family_shape(&before, "smc_connections");
    let s0 = snapshots(&before)[&(e0.clone(), "connections".into())];
    assert!(rows > 0.0);
    let grouped: Vec<String> = ["engine", "node", "smc"].map(String::from).into();

    f.write(
        &[&e0],
        &["CONNECTIONS"],
        "[smc.group_by]\nCONNECTIONS = [\"node\"]",
    );
    let reload = tokio::spawn(async move { x.reload().await.map(|()| x) });
    // Every scrape sees the old grouping or the new one, whole: the same
    // rows, one label set, never an empty family.
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let m = scrape(addr).await;
        let (labels, sum) = family_shape(&m, "smc_connections");
        assert_eq!(sum, rows, "a dip or a mix: {labels:?}");
        assert_eq!(labels.len(), 1, "two label sets in one scrape: {labels:?}");
        if labels.first() == Some(&grouped) {
            let s = snapshots(&m)[&(e0.clone(), "connections".into())];
            assert_eq!(s, s0 + 1.0, "the key's counter continued");
            break;
        }
        assert_eq!(labels, old_labels);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new group_by never served"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let x = reload.await.unwrap().unwrap();
    x.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_connection_gets_a_new_session_and_logs_out_the_old_one() {
    let sim = sim(26).await;
    let e0 = sim.world_info().engines[0].clone();
    let f = Files::new(&sim);
    f.write(&[&e0], &["CONNECTIONS"], "");
    let x = start_in_process(&f).await;
    let addr = x.addr();
    let mine = |t: &str, d: Definition| t == e0 && d == Definition::Connections;
    let truth = converge(&sim, &[addr], &mine).await;
    let old = sim.sessions().live;
    assert_eq!(old.len(), 1);
    let logins = total(&scrape(addr).await, "smc_logins_total");

    // [subscription] timing is part of every session.
    let text = std::fs::read_to_string(f.path()).unwrap();
    std::fs::write(
        f.path(),
        text.replace(
            "[subscription]\n",
            "[subscription]\nbackoff_max = \"30s\"\n",
        ),
    )
    .unwrap();
    x.reload().await.unwrap();
    // Served throughout: the restarted subscription's last snapshot stays.
    assert_eq!(
        state_samples(&http_get(&format!("http://{addr}/metrics")).await.1),
        truth
    );
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !(sim.sessions().logged_out == old && sim.sessions().live.len() == 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            sim.sessions()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_ne!(sim.sessions().live, old);
    wait_ready(addr, WITHIN).await;
    converge(&sim, &[addr], &mine).await;
    // The SMC's counters continue.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while total(&scrape(addr).await, "smc_logins_total") != logins + 1.0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    x.shutdown().await;
    assert_eq!(sim.sessions().live, Vec::<String>::new());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_engines_are_subscribed_filtered_and_dropped_through_the_reconciler() {
    let sim = sim(27).await;
    let all = sim.world_info().engines;
    let f = Files::new(&sim);
    // No engines: nothing to subscribe until discovery reports.
    let excluded = all[4].clone();
    f.write(
        &[],
        &["CONNECTIONS"],
        &format!("engines_exclude = {:?}", regex_quote(&excluded)),
    );
    let x = start_in_process(&f).await;
    let addr = x.addr();
    // The engine poll lists the SMC's engines at once (then every 5 minutes,
    // the default interval: not again within this test); the listings below
    // stand for later polls.
    x.discovered("sim", all.clone()).await.unwrap();
    let kept = |t: &str, d: Definition| t != excluded && d == Definition::Connections;
    converge(&sim, &[addr], &kept).await;
    assert_eq!(x.store().subscriptions.len(), all.len() - 1);
    let before = snapshots(&scrape(addr).await);

    // all[0] is no longer found: it leaves /metrics; the others keep their sockets.
    x.discovered("sim", all[1..].to_vec()).await.unwrap();
    let m = scrape(addr).await;
    assert!(
        !m.keys().any(|(_, l)| l.get("engine") == Some(&all[0])),
        "{} still served",
        all[0]
    );
    converge(&sim, &[addr], &|t, d| kept(t, d) && t != all[0]).await;
    let after = snapshots(&scrape(addr).await);
    let unchanged: BTreeMap<_, _> = before
        .into_iter()
        .filter(|((t, _), _)| *t != all[0])
        .collect();
    assert_eq!(after, unchanged);
    // A reload keeps what discovery found.
    x.reload().await.unwrap();
    assert_eq!(snapshots(&scrape(addr).await), unchanged);
    x.shutdown().await;
    sim.shutdown().await;
}

/// `s` as a regex that matches exactly `s`.
fn regex_quote(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_reload_applies_a_changed_file_once() {
    let sim = sim(28).await;
    let e = sim.world_info().engines;
    let f = Files::new(&sim);
    f.write(&[&e[0], &e[1]], &["CONNECTIONS"], "");
    let mut p = spawn(f.path(), &["--config.auto-reload-interval", "100ms"]);
    let addr = p.metrics_addr().await;
    wait_ready(addr, WITHIN).await;
    f.write(&[&e[0]], &["CONNECTIONS"], "");
    let auto = |v: &serde_json::Value| {
        message(v) == "configuration reloaded" && v["trigger"] == "auto-reload"
    };
    p.wait_log(WITHIN, auto).await;
    converge(&sim, &[addr], &|t, d| {
        t == e[0] && d == Definition::Connections
    })
    .await;
    // An unchanged file is not reloaded again: by the time a SIGHUP's reload
    // is logged, still one auto-reload.
    p.signal(smc_lab::Signal::HUP);
    wait_logs(&mut p, "configuration reloaded", 2).await;
    assert_eq!(p.json_logs().iter().filter(|v| auto(v)).count(), 1);
    stop(p, &sim).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_smc_is_logged_out_and_leaves_metrics() {
    let sim = sim(29).await;
    let e0 = sim.world_info().engines[0].clone();
    let f = Files::new(&sim);
    let table = |name: &str| {
        format!(
            "[[smc]]\nname = \"{name}\"\nurl = \"{}\"\napi_key_file = \"key\"\nengines = [{e0:?}]\ndefinitions = [\"CONNECTIONS\"]\n",
            f.url
        )
    };
    let head = "[subscription]\nsnapshot_settle = \"300ms\"\n";
    std::fs::write(
        f.path(),
        format!("{head}{}{}", table("sim"), table("other")),
    )
    .unwrap();
    let x = start_in_process(&f).await;
    let addr = x.addr();
    let both = sim.sessions().live;
    assert_eq!(both.len(), 2);
    let m = scrape(addr).await;
    assert!(m.keys().any(|(n, l)| n == "smc_up" && l["smc"] == "other"));
    let kept = snapshots_per_smc(&m);
    assert_eq!(kept.len(), 2);

    std::fs::write(f.path(), format!("{head}{}", table("sim"))).unwrap();
    x.reload().await.unwrap();
    let m = scrape(addr).await;
    assert!(
        !m.keys()
            .any(|(_, l)| l.get("smc").map(String::as_str) == Some("other")),
        "the removed SMC is still served"
    );
    // Its session is logged out; the other one is untouched.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while sim.sessions().logged_out.len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            sim.sessions()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = sim.sessions();
    assert_eq!(s.live.len(), 1);
    assert!(both.contains(&s.live[0]) && both.contains(&s.logged_out[0]));
    // smc="sim"'s subscription kept its socket.
    let sim_only: BTreeMap<_, _> = kept
        .into_iter()
        .filter(|((smc, _), _)| smc == "sim")
        .collect();
    assert_eq!(sim_only.len(), 1);
    assert_eq!(snapshots_per_smc(&m), sim_only);
    x.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_rereads_the_key_file() {
    let sim = sim(30).await;
    let e0 = sim.world_info().engines[0].clone();
    let f = Files::new(&sim);
    f.write(&[&e0], &["CONNECTIONS"], "");
    let x = start_in_process(&f).await;
    let addr = x.addr();
    let first = sim.sessions().live;
    assert_eq!(first.len(), 1);

    // Only the key file changes: a new session with the new key (refused
    // here), the old one logged out.
    let key = f.path().with_file_name("key");
    std::fs::write(&key, "not-the-key\n").unwrap();
    x.reload().await.unwrap();
    let deadline = tokio::time::Instant::now() + WITHIN;
    while total(&scrape(addr).await, "smc_login_failures_total") < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new key was never tried"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while sim.sessions().logged_out != first {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            sim.sessions()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(sim.sessions().live.is_empty());

    // The right key again: logged in again.
    std::fs::write(&key, sim.world_info().api_key).unwrap();
    x.reload().await.unwrap();
    wait_ready(addr, WITHIN).await;
    let deadline = tokio::time::Instant::now() + WITHIN;
    while sim.sessions().live.len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            sim.sessions()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    converge(&sim, &[addr], &|t, d| {
        t == e0 && d == Definition::Connections
    })
    .await;
    x.shutdown().await;
    sim.shutdown().await;
}

/// A reload that adds `notify` opens the notification socket on the same
/// session (the subscriptions keep theirs); one that changes the list
/// subscribes the new types; one that removes it closes the socket and its
/// families leave `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_opens_changes_and_closes_the_notification_socket() {
    let sim = sim(31).await;
    let e = sim.world_info().engines;
    let f = Files::new(&sim);
    f.write(&[&e[0]], &["ROUTING"], "");
    let p = spawn(f.path(), &[]);
    let addr = p.metrics_addr().await;
    wait_ready(addr, WITHIN).await;
    let before = scrape(addr).await;
    let live = sim.sessions().live;
    assert!(value(&before, "smc_notification_up").is_none());

    let up_with = async |types: &[&str]| {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let m = scrape(addr).await;
            let served: BTreeSet<String> = m
                .keys()
                .filter(|(n, _)| n == "smc_element_changes_total")
                .filter_map(|(_, l)| l.get("element_type").cloned())
                .collect();
            let want: BTreeSet<String> = types.iter().map(|t| t.to_string()).collect();
            if value(&m, "smc_notification_up") == Some(1.0) && served == want {
                return m;
            }
            assert!(tokio::time::Instant::now() < deadline, "{m:#?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    f.write(&[&e[0]], &["ROUTING"], "notify = [\"host\"]");
    assert_eq!(post_reload(addr).await.0, 200);
    up_with(&["host"]).await;
    f.write(&[&e[0]], &["ROUTING"], "notify = [\"host\", \"network\"]");
    assert_eq!(post_reload(addr).await.0, 200);
    up_with(&["host", "network"]).await;
    client::post_json(
        &client::http(),
        &sim,
        "/sim/elements?type=network&action=create&count=2",
    )
    .await;
    let deadline = tokio::time::Instant::now() + WITHIN;
    while total(&scrape(addr).await, "smc_element_changes_total") < 2.0 {
        assert!(tokio::time::Instant::now() < deadline, "never counted");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    f.write(&[&e[0]], &["ROUTING"], "");
    assert_eq!(post_reload(addr).await.0, 200);
    let after = scrape(addr).await;
    assert!(value(&after, "smc_notification_up").is_none(), "{after:#?}");
    assert_eq!(
        snapshots(&after),
        snapshots(&before),
        "the subscription kept its socket"
    );
    assert_eq!(sim.sessions().live, live, "the same session");
    stop(p, &sim).await;
    sim.shutdown().await;
}

/// Wait until the log stream counts of `stream` sum to `n`.
async fn wait_stream_total(
    addr: std::net::SocketAddr,
    stream: &str,
    n: f64,
) -> BTreeMap<SeriesKey, f64> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let m = scrape(addr).await;
        let got: f64 = m
            .iter()
            .filter(|((name, l), _)| {
                name == "smc_log_records_total"
                    && l.get("stream").map(String::as_str) == Some(stream)
            })
            .map(|(_, v)| v)
            .sum();
        if got == n {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{stream}: {got} != {n}: {m:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn stream_up(addr: std::net::SocketAddr, streams: &[&str]) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let m = scrape(addr).await;
        let up: BTreeSet<String> = m
            .iter()
            .filter(|((n, _), v)| n == "smc_log_stream_up" && **v == 1.0)
            .filter_map(|((_, l), _)| l.get("stream").cloned())
            .collect();
        if up == streams.iter().map(|s| s.to_string()).collect() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{up:?}: {m:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_keeps_and_removes_log_streams() {
    let sim = sim(37).await;
    let e = sim.world_info().engines;
    let f = Files::new(&sim);
    f.write(&[&e[0]], &["ROUTING"], "");
    let p = spawn(f.path(), &[]);
    let addr = p.metrics_addr().await;
    wait_ready(addr, WITHIN).await;
    let live = sim.sessions().live;
    let all = "[[smc.log_stream]]\nname = \"all\"\n";
    f.write(&[&e[0]], &["ROUTING"], all);
    assert_eq!(post_reload(addr).await.0, 200);
    stream_up(addr, &["all"]).await;
    let logs = async |n: usize| {
        let path = format!("/sim/logs?count={n}");
        client::post_json(&client::http(), &sim, &path).await;
    };
    logs(4).await;
    wait_stream_total(addr, "all", 4.0).await;

    // Adding a stream keeps the unchanged one (its counts go on).
    let two = format!("{all}[[smc.log_stream]]\nname = \"tcp\"\nfilter = '$Protocol == \"TCP\"'\n");
    f.write(&[&e[0]], &["ROUTING"], &two);
    assert_eq!(post_reload(addr).await.0, 200);
    stream_up(addr, &["all", "tcp"]).await;
    logs(3).await;
    wait_stream_total(addr, "all", 7.0).await;

    // Removing every stream removes its families and closes its sockets.
    f.write(&[&e[0]], &["ROUTING"], "");
    assert_eq!(post_reload(addr).await.0, 200);
    let after = scrape(addr).await;
    assert!(value(&after, "smc_log_stream_up").is_none(), "{after:#?}");
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let v = client::get_json(&client::http(), &sim, "/sim/logs").await;
        if v["live_fetches"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "log fetches still open"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(sim.sessions().live, live, "the same session");
    stop(p, &sim).await;
    sim.shutdown().await;
}
