//! Memory harness: 200 concurrent scrapes of a large exposition.
//!
//! `cargo bench -p smc-exporter --bench scrape_memory`. Builds a store with 7 state families
//! at the 10,000-series cap (a ~4.6 MB text exposition), serves it with the
//! real HTTP server on 127.0.0.1:0 in this process, and fires 200 concurrent
//! scrapes at it, three times:
//!
//! 1. the default server (`max_requests` 40): text, no gzip;
//! 2. a server without limit (`max_requests` 0): text, no gzip, all served;
//! 3. the same, 50 requests for each of the four variants (text / OpenMetrics,
//!    gzip or not): every render lane busy at once.
//!
//! The clients are raw TCP sockets reading into a 16 KiB buffer, so they add
//! almost nothing to this process's memory. Prints the process's VmHWM /
//! VmRSS (from /proc/self/status) before and after each wave, the answers
//! (200 / 503), how many distinct bodies (renders) were seen and the peak
//! thread count, and exits non-zero if the peak RSS grew by more than
//! 64 MiB over the idle server (one render of the exposition costs about
//! 10 MiB: see docs/hardening.md "Scrape concurrency").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use smc_exporter::labels::StateFamily;
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use smc_exporter::state::{SmcState, Store, SubscriptionState};
use smc_fold::{Published, SeriesBudget};
use smc_protocol::Definition;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;
use tokio_util::sync::CancellationToken;

const SERIES: usize = 10_000;
const FAMILIES: usize = 7;
const SCRAPES: usize = 200;
const LIMIT_MIB: usize = 64;
/// Each wave must end within this (it takes well under a second).
const WAVE_TIMEOUT: Duration = Duration::from_secs(60);

const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// Label values for series `i` of a family with `n` group labels, like
/// engine nodes and protocols; the last one makes the series unique.
fn values(i: usize, n: usize) -> Arc<[Arc<str>]> {
    (0..n)
        .map(|j| match j {
            _ if j + 1 == n => Arc::from(format!("{i:05}")),
            0 => Arc::from(format!("n{}", i % 7 + 1)),
            _ => Arc::from(["TCP", "UDP", "ICMP", "ESP"][i % 4]),
        })
        .collect()
}

/// 7 families (one subscription each), every one at the series cap.
fn store() -> Store {
    let smc = Arc::new(SmcState::new("smc-a".into()));
    smc.set_up(true);
    let mut subscriptions = Vec::new();
    let mut budgets = Vec::new();
    for (k, d) in Definition::ALL.iter().enumerate() {
        let budget = Arc::new(SeriesBudget::new(SERIES));
        if k < FAMILIES {
            let labels = d.default_group_by();
            let s = SubscriptionState::new(
                "smc-a".into(),
                format!("fw-{k}").into(),
                *d,
                labels.to_vec().into(),
            );
            for _ in 0..SERIES {
                budget.try_acquire();
            }
            s.publish(Published {
                groups: (0..SERIES)
                    .map(|i| (values(i, labels.len()), (i % 500 + 1) as u64))
                    .collect(),
                entries: (SERIES * 3) as u64,
            });
            s.health.set_up(true);
            s.health.set_ready();
            s.health.touch(1_700_000_000_000);
            subscriptions.push(Arc::new(s));
        }
        budgets.push((d.family(), budget));
    }
    Store {
        runtime: None,
        smcs: vec![smc],
        subscriptions,
        budgets,
        ..Store::default()
    }
}

/// (VmHWM, VmRSS, Threads) from /proc/self/status; sizes in bytes.
fn status() -> Option<(usize, usize, usize)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<usize> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((
        field("VmHWM:")? * 1024,
        field("VmRSS:")? * 1024,
        field("Threads:")?,
    ))
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Serve `store` on 127.0.0.1:0 with at most `max_requests` in flight
/// (0 = no limit).
async fn start_server(store: Arc<Store>, max_requests: usize, stop: CancellationToken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let opts = smc_exporter::http::ServerOptions {
        max_requests,
        ..Default::default()
    };
    let live = Arc::new(smc_exporter::state::LiveStore::from_arc(store));
    tokio::spawn(smc_exporter::http::serve_with(listener, live, opts, stop));
    addr.to_string()
}

/// What one scrape saw: status, body length, body hash.
type Answer = (u16, usize, u64);

/// One scrape over a raw socket: connect, wait for everyone, send, read
/// everything into a small buffer.
async fn scrape(
    addr: String,
    accept: &str,
    gzip: bool,
    go: Arc<Barrier>,
) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(&addr).await?;
    let mut req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !accept.is_empty() {
        req.push_str(&format!("Accept: {accept}\r\n"));
    }
    if gzip {
        req.push_str("Accept-Encoding: gzip\r\n");
    }
    req.push_str("\r\n");
    go.wait().await;
    s.write_all(req.as_bytes()).await?;

    let mut buf = vec![0u8; 16 * 1024];
    let mut head = Vec::new();
    let mut hash = xxhash_rust::xxh3::Xxh3::new();
    let mut body_len = 0;
    let mut in_body = false;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if in_body {
            hash.update(&buf[..n]);
            body_len += n;
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = &head[end + 4..];
            hash.update(rest);
            body_len += rest.len();
            head.truncate(end);
            in_body = true;
        } else if head.len() > 64 * 1024 {
            return Err(std::io::Error::other("response head too long"));
        }
    }
    let status = std::str::from_utf8(head.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body_len, hash.digest()))
}

/// Fire `SCRAPES` concurrent scrapes, `variants` in turn; print what came back.
async fn wave(name: &str, addr: &str, variants: &[(&'static str, bool)]) -> Result<(), String> {
    let go = Arc::new(Barrier::new(SCRAPES));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..SCRAPES {
        let (accept, gzip) = variants[i % variants.len()];
        set.spawn(scrape(addr.to_string(), accept, gzip, Arc::clone(&go)));
    }
    let threads = Arc::new(AtomicUsize::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn({
        let (threads, sampling) = (Arc::clone(&threads), Arc::clone(&sampling));
        async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some((_, _, t)) = status() {
                    threads.fetch_max(t, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let started = Instant::now();
    let answers = tokio::time::timeout(WAVE_TIMEOUT, set.join_all())
        .await
        .map_err(|_| format!("{name}: scrapes still running after {WAVE_TIMEOUT:?}"))?;
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;

    let mut statuses = BTreeMap::new();
    let mut bodies = BTreeSet::new();
    let mut ok_bytes = 0;
    let (mut min_len, mut max_len) = (usize::MAX, 0);
    for a in answers {
        let (status, len, hash) = a.map_err(|e| format!("{name}: a scrape failed: {e}"))?;
        *statuses.entry(status).or_insert(0) += 1;
        if status == 200 {
            bodies.insert(hash);
            ok_bytes += len;
            min_len = min_len.min(len);
            max_len = max_len.max(len);
        }
    }
    println!(
        "scrape_memory: {name}: {SCRAPES} scrapes in {elapsed:.2?}: status {statuses:?}, \
         {} distinct 200 bodies of {min_len}..={max_len} bytes, {:.1} MiB sent, peak {} threads",
        bodies.len(),
        mib(ok_bytes),
        threads.load(Ordering::Relaxed)
    );
    if !statuses.contains_key(&200) {
        return Err(format!("{name}: no scrape was answered 200"));
    }
    Ok(())
}

fn report(what: &str, base_hwm: usize) -> usize {
    match status() {
        Some((hwm, rss, threads)) => {
            println!(
                "scrape_memory: {what}: VmHWM {:.1} MiB (+{:.1} MiB), VmRSS {:.1} MiB, {threads} threads",
                mib(hwm),
                mib(hwm.saturating_sub(base_hwm)),
                mib(rss)
            );
            hwm
        }
        None => 0,
    }
}

async fn run() -> Result<usize, String> {
    let store = Arc::new(store());
    println!("scrape_memory: {FAMILIES} families x {SERIES} series");
    let stop = CancellationToken::new();
    let limited = start_server(Arc::clone(&store), 40, stop.clone()).await;
    let open = start_server(Arc::clone(&store), 0, stop.clone()).await;
    let Some((hwm0, rss0, threads0)) = status() else {
        return Err("/proc/self/status unavailable: cannot measure".into());
    };
    println!(
        "scrape_memory: idle servers: VmHWM {:.1} MiB, VmRSS {:.1} MiB, {threads0} threads",
        mib(hwm0),
        mib(rss0)
    );

    wave("wave 1 (limit 40, text)", &limited, &[("", false)]).await?;
    report("after wave 1", hwm0);
    wave("wave 2 (no limit, text)", &open, &[("", false)]).await?;
    report("after wave 2", hwm0);
    let mixed = [
        ("", false),
        ("", true),
        (PROMETHEUS_3, false),
        (PROMETHEUS_3, true),
    ];
    wave("wave 3 (no limit, 4 variants)", &open, &mixed).await?;
    let hwm = report("after wave 3", hwm0);
    stop.cancel();
    Ok(hwm.saturating_sub(hwm0))
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; any filter argument is ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("scrape_memory: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(added) if added <= LIMIT_MIB << 20 => {
            println!(
                "scrape_memory: OK: peak RSS grew {:.1} MiB (limit {LIMIT_MIB} MiB)",
                mib(added)
            );
            ExitCode::SUCCESS
        }
        Ok(added) => {
            eprintln!(
                "scrape_memory: FAIL: peak RSS grew {:.1} MiB (limit {LIMIT_MIB} MiB)",
                mib(added)
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("scrape_memory: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
