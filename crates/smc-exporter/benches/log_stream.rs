//! Log stream counting speed: what one live log record costs the exporter,
//! from the text of a `records` message to the counters (decode keeping
//! only the counted fields, label values, the group lookup, bytes and rule
//! hits), in ns/record.
//!
//! `cargo bench -p smc-exporter --bench log_stream`. The stream groups by
//! engine, action and service with rule hits, as the demo's `all`; each
//! message holds 200 records of 12 fields (the simulator's shape: node,
//! addresses, ports, service, action, rule tag, zones, accounting), over 8
//! engines × 4 actions × 8 services. Prints the median of 7 batches of
//! 500 messages and exits non-zero above 5,000 ns/record (a regression
//! bound: it measures well under that on a loaded 2-core machine).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use smc_exporter::config::LogStreamConfig;
use smc_exporter::labels::log_group_field;
use smc_exporter::smc::feed::Feed;
use smc_exporter::smc::log_stream::LogFeed;
use smc_exporter::state::log_stream::{LogBudgets, LogStreamState};
use smc_fold::SeriesBudget;

const RECORDS: usize = 200;
const MESSAGES: usize = 500;
const BATCHES: usize = 7;
const LIMIT_NS: f64 = 5_000.0;

const ACTIONS: [&str; 4] = ["Allow", "Discard", "Refuse", "Permit"];
const SERVICES: [&str; 8] = [
    "HTTPS",
    "HTTP",
    "SSH",
    "DNS (UDP)",
    "SMTP",
    "RDP",
    "NTP (UDP)",
    "IMAPS",
];

fn message(m: usize) -> String {
    let records: Vec<String> = (0..RECORDS)
        .map(|i| {
            let k = m * RECORDS + i;
            format!(
                r#"{{"4":"fw-{e} node {n}","7":"10.{e}.{a}.{b}","8":"52.206.{a}.{b}","9":"{sp}","10":"443","11":"TCP","14":"{act}","20":"@{rule}.1","27":"{svc}","46":"Internal","47":"External","105":"{tx}","106":"{rx}"}}"#,
                e = k % 8,
                n = k % 2 + 1,
                a = k % 251,
                b = k % 253,
                sp = 1024 + k % 60000,
                act = ACTIONS[k % 4],
                rule = k % 37 + 2,
                svc = SERVICES[k / 4 % 8],
                tx = k * 17 % 1_000_000,
                rx = k * 31 % 1_000_000,
            )
        })
        .collect();
    format!(r#"{{"fetch":7,"records":[{}]}}"#, records.join(","))
}

fn feed() -> LogFeed {
    let config = LogStreamConfig {
        name: "all".into(),
        filter: None,
        group_by: ["engine", "action", "service"]
            .iter()
            .map(|l| log_group_field(l).unwrap())
            .collect(),
        rule_hits: true,
    };
    let budgets = LogBudgets {
        records: Arc::new(SeriesBudget::new(10_000)),
        rule_hits: Arc::new(SeriesBudget::new(10_000)),
    };
    LogFeed::new(Arc::new(LogStreamState::new(
        "hq".into(),
        config,
        None,
        budgets,
    )))
}

fn main() -> ExitCode {
    let messages: Vec<String> = (0..MESSAGES).map(message).collect();
    let f = feed();
    // Warm up: every label set exists, as in a stream that has run a while.
    for m in &messages {
        f.on_message(m).unwrap();
    }
    let mut per_record: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for m in &messages {
                f.on_message(m).unwrap();
            }
            t.elapsed().as_nanos() as f64 / (MESSAGES * RECORDS) as f64
        })
        .collect();
    per_record.sort_by(f64::total_cmp);
    let median = per_record[BATCHES / 2];
    println!(
        "log_stream: {median:.0} ns/record (median of {BATCHES} batches of {} records; min {:.0}, max {:.0})",
        MESSAGES * RECORDS,
        per_record[0],
        per_record[BATCHES - 1]
    );
    if median > LIMIT_NS {
        eprintln!("log_stream: {median:.0} ns/record is above the {LIMIT_NS} ns bound");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
