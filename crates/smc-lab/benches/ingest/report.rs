//! The results: a Markdown table on stdout and JSON for the record.

use serde_json::{Value, json};
use smc_sim::replay::ReplaySpec;

use crate::consumers::{Consumer, Run};
use crate::scrape::ScrapeResult;

/// Median of a non-empty list (mean of the middle two when even).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One consumer's medians, µs per record.
#[derive(Clone, Debug)]
pub struct Row {
    pub consumer: Consumer,
    pub runs: Vec<Run>,
    pub snapshot_us: f64,
    pub live_us: f64,
    pub whole_us: f64,
}

impl Row {
    pub fn new(consumer: Consumer, runs: Vec<Run>, spec: ReplaySpec) -> Row {
        let (s, l) = (spec.snapshot as f64, spec.live.max(1) as f64);
        let per =
            |f: &dyn Fn(&Run) -> f64, n: f64| median(runs.iter().map(|r| f(r) * 1e6 / n).collect());
        Row {
            snapshot_us: per(&|r| r.snapshot_cpu, s),
            live_us: per(&|r| r.live_cpu, l),
            whole_us: per(&|r| r.snapshot_cpu + r.live_cpu, s + spec.live as f64),
            consumer,
            runs,
        }
    }

    /// Exporter RSS growth per tracked entry: (after snapshot, after live,
    /// peak), bytes, the worst run of each.
    pub fn bytes_per_entry(&self, spec: ReplaySpec) -> (f64, f64, f64) {
        let n = spec.snapshot as f64;
        let worst = |f: &dyn Fn(&Run) -> u64| {
            self.runs
                .iter()
                .map(|r| f(r).saturating_sub(r.rss_subscribed) as f64 / n)
                .fold(0.0, f64::max)
        };
        (
            worst(&|r| r.rss_snapshot),
            worst(&|r| r.rss_live),
            worst(&|r| r.hwm),
        )
    }
}

pub fn print_table(rows: &[Row], spec: ReplaySpec, runs: usize, tick: f64) {
    println!();
    println!(
        "ingest: {} snapshot rows (batches of 200) + {} live records (30 per frame), CPU µs per record, median of {runs}; CPU clock tick {:.0} ms",
        spec.snapshot,
        spec.live,
        tick * 1e3
    );
    println!("| consumer | records | snapshot | live | whole stream |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.3} |",
            r.consumer.label(),
            r.consumer.variant(),
            r.snapshot_us,
            r.live_us,
            r.whole_us
        );
    }
    let find = |f: &dyn Fn(&Consumer) -> bool| rows.iter().find(|r| f(&r.consumer));
    let official = find(&|c| {
        matches!(
            c,
            Consumer::Official {
                same_stream: true,
                ..
            }
        )
    });
    let value = find(&|c| matches!(c, Consumer::Floor(crate::floor::Parse::Value)));
    for r in rows
        .iter()
        .filter(|r| matches!(r.consumer, Consumer::Exporter { .. }))
    {
        let label = r.consumer.label();
        if let Some(o) = official {
            println!(
                "ratio: {label} is {:.1}x the official client (whole stream, the same frames)",
                o.whole_us / r.whole_us
            );
        }
        if let Some(v) = value {
            println!(
                "ratio: {label} costs {:.2}x the Value floor (whole stream)",
                r.whole_us / v.whole_us
            );
        }
        let (s, l, p) = r.bytes_per_entry(spec);
        println!(
            "memory: {label}: RSS growth per tracked entry {s:.1} B after the snapshot, {l:.1} B after the live stream, {p:.1} B at peak (VmHWM)"
        );
    }
}

pub fn print_scrape(s: &ScrapeResult) {
    let line = |name: &str, l: &crate::scrape::Latency| {
        let (p50, p99, max) = l.summary();
        println!(
            "scrape: smc-exporter ({}) {name} during ingest: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms ({} answers, {} of them not 200; {} without an answer)",
            s.label,
            l.samples.len(),
            l.not_ok,
            l.errors
        );
    };
    println!(
        "scrape: {} subscriptions streaming at full speed, ingest took {:.1} s; {} series at the end",
        s.subscriptions, s.ingest_wall, s.series
    );
    line("/metrics", &s.metrics);
    line("/-/healthy", &s.healthy);
    line("/-/ready", &s.ready);
    let (p50, p99, _) = s.idle_wall.summary();
    println!(
        "render: smc-exporter ({}) idle: {:.0} ns CPU per series ({} scrapes of {} series; wall p50 {p50:.2} ms, p99 {p99:.2} ms)",
        s.label, s.idle_ns_per_series, s.idle_scrapes, s.series
    );
}

fn lat(l: &crate::scrape::Latency) -> Value {
    let (p50, p99, max) = l.summary();
    json!({"p50_ms": p50, "p99_ms": p99, "max_ms": max, "answers": l.samples.len(), "not_200": l.not_ok, "no_answer": l.errors})
}

pub fn json(rows: &[Row], scrapes: &[ScrapeResult], spec: ReplaySpec, runs: usize) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let (s, l, p) = r.bytes_per_entry(spec);
            let runs: Vec<Value> = r
                .runs
                .iter()
                .map(|x| {
                    json!({
            "snapshot_cpu_s": x.snapshot_cpu, "live_cpu_s": x.live_cpu,
            "snapshot_wall_s": x.snapshot_wall, "live_wall_s": x.live_wall,
            "rss_subscribed": x.rss_subscribed, "rss_snapshot": x.rss_snapshot,
            "rss_live": x.rss_live, "vm_hwm": x.hwm})
                })
                .collect();
            json!({"consumer": r.consumer.label(), "records": r.consumer.variant(),
               "snapshot_us_per_record": r.snapshot_us, "live_us_per_record": r.live_us,
               "whole_us_per_record": r.whole_us,
               "rss_bytes_per_entry": {"after_snapshot": s, "after_live": l, "peak": p},
               "runs": runs})
        })
        .collect();
    let scrapes: Vec<Value> = scrapes
        .iter()
        .map(|s| {
            json!({
        "exporter": s.label, "subscriptions": s.subscriptions, "series": s.series,
        "ingest_wall_s": s.ingest_wall, "metrics": lat(&s.metrics), "healthy": lat(&s.healthy),
        "ready": lat(&s.ready), "idle_scrapes": s.idle_scrapes,
        "idle_ns_per_series": s.idle_ns_per_series, "idle_wall": lat(&s.idle_wall)})
        })
        .collect();
    json!({"snapshot": spec.snapshot, "live": spec.live, "runs": runs, "consumers": rows, "scrape": scrapes})
}
