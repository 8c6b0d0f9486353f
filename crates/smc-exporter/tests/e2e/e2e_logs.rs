//! Log streams end to end (issue 13, item 1): two streams on one SMC, one
//! of them filtered, count exactly what the simulator says it sent each of
//! their fetches ([`SimServer::sent_logs`]), by label set, after
//! `POST /sim/logs`, after churn, and after the simulator drops every
//! socket (the stream reconnects with a new `current` fetch: nothing is
//! counted twice, and the time it was down is counted).

use std::collections::BTreeMap;
use std::time::Duration;

use smc_exporter::config::{self, LogStreamConfig};
use smc_lab::log_truth::{log_samples, log_truth};
use smc_lab::*;
use smc_sim::{SentFetch, SimOptions, SimServer};

const WAIT: Duration = Duration::from_secs(20);

/// The demo's two streams: `all` (engine, action, service, rule hits) and
/// `discards` (Discard and Refuse only, engine and action).
fn demo_streams(sim: &SimServer) -> Vec<LogStreamConfig> {
    let w = sim.world_info();
    let addr = "127.0.0.1:1".parse().unwrap();
    let cfg =
        config::demo_with_streams(&sim.url(), &w.api_key, &w.engines, &[], addr, None).unwrap();
    cfg.smc[0].log_streams.clone()
}

async fn logs(sim: &SimServer, n: usize) {
    let v = client::post_json(&client::http(), sim, &format!("/sim/logs?count={n}")).await;
    assert_eq!(v["appended"], n);
}

/// Records the simulator sent the unfiltered stream's fetches.
fn all_sent(sim: &SimServer) -> u64 {
    sim.sent_logs()
        .iter()
        .filter(|f| f.filter.is_none())
        .map(|f| f.sent)
        .sum()
}

/// The fetches the simulator served for `s` (told apart by their filter).
fn fetches_of<'a>(sent: &'a [SentFetch], s: &LogStreamConfig) -> Vec<&'a SentFetch> {
    sent.iter()
        .filter(|f| f.filter.as_ref() == s.filter.as_deref())
        .collect()
}

fn value(m: &BTreeMap<SeriesKey, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.iter()
        .filter(|((n, l), _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| *v)
        .sum()
}

/// Wait (bounded) until every stream's counted families equal the
/// simulator's ledger; the last exposition.
async fn converge(pair: &Pair, streams: &[LogStreamConfig]) -> BTreeMap<SeriesKey, f64> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let engines = pair.sim.engine_truth();
    loop {
        let sent = pair.sim.sent_logs();
        let m = parse_samples(&pair.metrics().await);
        let mut diffs = Vec::new();
        for s in streams {
            let want = log_truth(&pair.smc, s, &fetches_of(&sent, s), &engines);
            let got = log_samples(&m, &s.name);
            if got != want {
                diffs.push((s.name.clone(), got, want));
            }
        }
        if diffs.is_empty() {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never converged: {diffs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_up(
    pair: &Pair,
    streams: &[LogStreamConfig],
    reconnects: f64,
) -> BTreeMap<SeriesKey, f64> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let m = parse_samples(&pair.metrics().await);
        let up = streams
            .iter()
            .all(|s| value(&m, "smc_log_stream_up", &[("stream", &s.name)]) == 1.0);
        if up && value(&m, "smc_log_stream_reconnects_total", &[]) >= reconnects {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "streams never up: {m:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_counters_equal_what_the_simulator_sent_each_stream() {
    let opts = SimOptions {
        seed: 41,
        ..SimOptions::default()
    };
    let mut streams = Vec::new();
    let pair = start_pair_opts(opts, |cfg, sim| {
        streams = demo_streams(sim);
        cfg.smc[0].log_streams = streams.clone();
    })
    .await;
    let m = wait_up(&pair, &streams, 0.0).await;
    // Live records only: the stored history (hundreds of records) is not
    // counted.
    assert_eq!(value(&m, "smc_log_records_total", &[]), 0.0);
    assert_eq!(
        pair.sim.sent_logs().len(),
        2,
        "one current fetch per stream"
    );

    logs(&pair.sim, 300).await;
    assert_eq!(pair.sim.churn(40), 40);
    // Background churn (one record per step) while the exporter counts;
    // stopped once the streams have been sent 60 of its records, then the
    // counters must equal the ledger.
    pair.sim.set_churn_rate(200.0);
    let deadline = tokio::time::Instant::now() + WAIT;
    while all_sent(&pair.sim) < 400 {
        assert!(tokio::time::Instant::now() < deadline, "churn sent nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pair.sim.set_churn_rate(0.0);
    let m = converge(&pair, &streams).await;
    let all = value(&m, "smc_log_records_total", &[("stream", "all")]);
    let discards = value(&m, "smc_log_records_total", &[("stream", "discards")]);
    let sent = all_sent(&pair.sim) as f64;
    assert!(sent >= 400.0, "{sent}");
    assert_eq!(all, sent, "every record, once");
    assert!(discards > 0.0 && discards < all, "{discards} of {all}");
    assert!(value(&m, "smc_log_bytes_total", &[("direction", "sent")]) > 0.0);
    assert!(value(&m, "smc_log_rule_hits_total", &[]) > 0.0);
    assert_eq!(value(&m, "smc_log_stream_gap_seconds_total", &[]), 0.0);
    assert_eq!(value(&m, "smc_log_stream_malformed_total", &[]), 0.0);

    // Every socket dropped: each stream opens a new current fetch; what
    // the old ones sent stays counted once, and the gap is counted.
    assert!(pair.sim.drop_connections() > 0);
    let m = wait_up(&pair, &streams, 2.0).await;
    assert_eq!(
        value(&m, "smc_log_records_total", &[("stream", "all")]),
        sent
    );
    assert!(value(&m, "smc_log_stream_gap_seconds_total", &[("stream", "all")]) > 0.0);
    logs(&pair.sim, 100).await;
    let m = converge(&pair, &streams).await;
    assert_eq!(
        value(&m, "smc_log_records_total", &[("stream", "all")]),
        sent + 100.0
    );
    let fetches = pair.sim.sent_logs();
    assert_eq!(fetches.len(), 4, "two fetches per stream");
    assert_eq!(fetches.iter().filter(|f| f.live).count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumes_after_the_session_expires() {
    let opts = SimOptions {
        seed: 43,
        ..SimOptions::default()
    };
    let mut streams = Vec::new();
    let pair = start_pair_opts(opts, |cfg, sim| {
        streams = demo_streams(sim)[1..].to_vec();
        cfg.smc[0].log_streams = streams.clone();
    })
    .await;
    wait_up(&pair, &streams, 0.0).await;
    logs(&pair.sim, 50).await;
    converge(&pair, &streams).await;
    let v = client::post_json(
        &client::http(),
        &pair.sim,
        "/sim/fault/expire_sessions?drop=true",
    )
    .await;
    assert!(v["sessions_expired"].as_u64().unwrap() >= 1, "{v}");
    wait_up(&pair, &streams, 1.0).await;
    logs(&pair.sim, 50).await;
    let m = converge(&pair, &streams).await;
    assert!(value(&m, "smc_logins_total", &[]) >= 2.0, "logged in again");
    assert_eq!(pair.sim.sent_logs().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_sets_beyond_the_cap_are_not_counted_and_are_counted_as_dropped() {
    let opts = SimOptions {
        seed: 47,
        ..SimOptions::default()
    };
    let pair = start_pair_opts(opts, |cfg, sim| {
        let mut s = demo_streams(sim)[0].clone();
        s.group_by.retain(|g| g.label == "service");
        s.rule_hits = false;
        cfg.smc[0].log_streams = vec![s];
        cfg.max_series_per_family = 3;
        cfg.smc[0].definitions = vec![smc_protocol::Definition::Routing];
        cfg.smc[0].alert_domains.clear();
    })
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while pair.sim.sent_logs().iter().all(|f| !f.live) {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    wait_until_stream_up(&pair).await;
    logs(&pair.sim, 200).await;
    // The first three services seen take the three series; every later
    // record of another service is dropped.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let sent = pair.sim.sent_logs();
        let records: Vec<&Vec<(u32, String)>> = sent.iter().flat_map(|f| &f.records).collect();
        let mut kept: Vec<&str> = Vec::new();
        let (mut counted, mut dropped) = (BTreeMap::<&str, f64>::new(), 0.0);
        for r in &records {
            let service = r
                .iter()
                .find(|(i, _)| *i == 27)
                .map_or("", |(_, v)| v.as_str());
            if kept.contains(&service) || kept.len() < 3 {
                if !kept.contains(&service) {
                    kept.push(service);
                }
                *counted.entry(service).or_default() += 1.0;
            } else {
                dropped += 1.0;
            }
        }
        let m = parse_samples(&pair.metrics().await);
        let got: BTreeMap<String, f64> = m
            .iter()
            .filter(|((n, _), _)| n == "smc_log_records_total")
            .map(|((_, l), v)| (l["service"].clone(), *v))
            .collect();
        let want: BTreeMap<String, f64> =
            counted.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let got_dropped = value(
            &m,
            "smc_exporter_series_dropped_total",
            &[("family", "smc_log_records_total")],
        );
        if records.len() == 200 && got == want && got_dropped == dropped {
            assert!(dropped > 0.0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{got:?} != {want:?} or {got_dropped} != {dropped}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_until_stream_up(pair: &Pair) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let m = parse_samples(&pair.metrics().await);
        if value(&m, "smc_log_stream_up", &[]) == 1.0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{m:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
