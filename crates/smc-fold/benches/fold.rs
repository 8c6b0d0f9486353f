//! Fold throughput in records/s for a realistic mix.
//!
//! Keys are 28-character base64 `delta_key`s; records carry 3 group values
//! from small alphabets (engine, protocol, state). Two workloads:
//!
//! * `snapshot_100k_adds`: a resync: a new table takes 100,000 `added`
//!   records and is dropped.
//! * `live_mix_100k`: a table holding 100,000 entries takes 100,000 live
//!   records: 60% `updated` (mostly state-only, partial values), 20%
//!   `deleted`, 20% `added` (deleted keys coming back). Each pass leaves the
//!   key set as it found it, so iterations see a steady state.
//!
//! With `FOLD_ONCE=N` it runs each workload N times (1 if N is not a
//! number), without criterion, prints the fastest pass of each (wall and
//! thread CPU time) and exits: a fixed amount of work whose instruction count
//! is repeatable on a busy machine (`valgrind --tool=callgrind`, the
//! inclusive cost of `fold::once_snapshot` and `fold::once_live`;
//! docs/performance.md, "Fold memory").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, Throughput, criterion_group};
use smc_fold::{Change, Delta, SeriesBudget, Table};

const SNAPSHOT: usize = 100_000;
const KEY_LEN: usize = 28;

const ENGINES: [&str; 5] = ["fw-hq-1", "fw-hq-2", "fw-branch-a", "fw-branch-b", "fw-dmz"];
const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "ICMP"];
const STATES: [&str; 6] = [
    "TCP established",
    "TCP syn seen",
    "TCP fin wait",
    "TCP time wait",
    "UDP unreplied",
    "UDP replied",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An owned record, as the decoder would hand it over.
struct Record {
    change: Change,
    key: usize,
    values: [Option<&'static str>; 3],
}

fn keys(rng: &mut Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut raw = [0u8; 21];
            for b in &mut raw {
                *b = rng.next() as u8;
            }
            STANDARD.encode(raw)
        })
        .collect()
}

fn full(rng: &mut Rng) -> [Option<&'static str>; 3] {
    [
        Some(ENGINES[rng.below(ENGINES.len())]),
        Some(PROTOCOLS[rng.below(PROTOCOLS.len())]),
        Some(STATES[rng.below(STATES.len())]),
    ]
}

fn snapshot(rng: &mut Rng) -> Vec<Record> {
    (0..SNAPSHOT)
        .map(|key| Record {
            change: Change::Added,
            key,
            values: full(rng),
        })
        .collect()
}

/// 100k live records over the snapshot's keys; the key set is the same
/// before and after a pass.
fn live_mix(rng: &mut Rng) -> Vec<Record> {
    let mut order: Vec<usize> = (0..SNAPSHOT).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    const ROUNDS: usize = SNAPSHOT / 5;
    const LAG: usize = 50;
    let mut out = Vec::with_capacity(SNAPSHOT);
    for r in 0..ROUNDS {
        for _ in 0..3 {
            let key = rng.below(SNAPSHOT);
            let values = if rng.below(5) == 0 {
                full(rng)
            } else {
                [None, None, Some(STATES[rng.below(STATES.len())])]
            };
            out.push(Record {
                change: Change::Updated,
                key,
                values,
            });
        }
        out.push(Record {
            change: Change::Deleted,
            key: order[r],
            values: [None; 3],
        });
        if r >= LAG {
            out.push(Record {
                change: Change::Added,
                key: order[r - LAG],
                values: full(rng),
            });
        }
    }
    for &key in &order[ROUNDS - LAG..ROUNDS] {
        out.push(Record {
            change: Change::Added,
            key,
            values: full(rng),
        });
    }
    out
}

/// A record stream as the decoder hands it over: key text contiguous in
/// stream order (in the frame buffer), not scattered over the heap.
struct Stream {
    text: String,
    records: Vec<Record>,
}

impl Stream {
    fn new(keys: &[String], records: Vec<Record>) -> Self {
        let text = records.iter().map(|r| keys[r.key].as_str()).collect();
        Stream { text, records }
    }

    fn len(&self) -> usize {
        self.records.len()
    }
}

fn apply_all(table: &mut Table, stream: &Stream) {
    for (i, r) in stream.records.iter().enumerate() {
        let key = &stream.text[i * KEY_LEN..(i + 1) * KEY_LEN];
        let values: &[Option<&str>] = if r.change == Change::Deleted {
            &[]
        } else {
            &r.values
        };
        black_box(table.apply(Delta {
            change: r.change,
            key,
            values,
        }));
    }
}

/// The snapshot and live streams, the same on every run.
fn streams() -> (Stream, Stream) {
    let mut rng = Rng(0x5EED);
    let keys = keys(&mut rng, SNAPSHOT);
    assert!(keys.iter().all(|k| k.len() == KEY_LEN));
    let snap = Stream::new(&keys, snapshot(&mut rng));
    let live = Stream::new(&keys, live_mix(&mut rng));
    (snap, live)
}

#[inline(never)]
fn once_snapshot(snap: &Stream, budget: &Arc<SeriesBudget>) -> Table {
    let mut t = Table::new(3, budget.clone());
    apply_all(&mut t, snap);
    t
}

#[inline(never)]
fn once_live(table: &mut Table, live: &Stream) {
    apply_all(table, live);
}

/// CPU time this thread has run, in nanoseconds (Linux: the first field of
/// /proc/thread-self/schedstat); 0 where that is unavailable. On a shared
/// machine it leaves out the time spent waiting for a core.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Run `f`, and say how long it took: (wall ms, thread CPU ms).
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let cpu = thread_cpu_ns();
    let wall = Instant::now();
    let out = f();
    let wall_ms = wall.elapsed().as_secs_f64() * 1e3;
    let cpu_ms = thread_cpu_ns().saturating_sub(cpu) as f64 / 1e6;
    (out, wall_ms, cpu_ms)
}

/// Each workload `passes` times (`FOLD_ONCE=passes`), printing the fastest
/// pass of each (wall and thread CPU time).
fn once(passes: usize) {
    let (snap, live) = streams();
    let budget = Arc::new(SeriesBudget::new(10_000));
    let fastest = |a: (f64, f64), b: (f64, f64)| (a.0.min(b.0), a.1.min(b.1));
    let mut snap_ms = (f64::MAX, f64::MAX);
    let mut table = Table::new(3, budget.clone());
    for _ in 0..passes {
        let (t, wall, cpu) = timed(|| once_snapshot(&snap, &budget));
        snap_ms = fastest(snap_ms, (wall, cpu));
        table = t;
    }
    let snap_bytes = table.heap_bytes();
    let mut live_ms = (f64::MAX, f64::MAX);
    for _ in 0..passes {
        let ((), wall, cpu) = timed(|| once_live(&mut table, &live));
        live_ms = fastest(live_ms, (wall, cpu));
    }
    assert_eq!(table.len(), SNAPSHOT);
    println!(
        "fold once: snapshot {} records {:.3} ms wall {:.3} ms cpu; live {} records {:.3} ms wall {:.3} ms cpu; {} series; fastest of {passes}; heap {snap_bytes} B after the snapshot, {} B after the live passes",
        snap.len(),
        snap_ms.0,
        snap_ms.1,
        live.len(),
        live_ms.0,
        live_ms.1,
        table.series(),
        table.heap_bytes()
    );
}

fn bench(c: &mut Criterion) {
    let (snap, live) = streams();
    let budget = Arc::new(SeriesBudget::new(10_000));

    let mut g = c.benchmark_group("fold");
    g.throughput(Throughput::Elements(snap.len() as u64));
    g.bench_function("snapshot_100k_adds", |b| {
        b.iter(|| {
            let mut t = Table::new(3, budget.clone());
            apply_all(&mut t, &snap);
            t
        })
    });

    let mut table = Table::new(3, budget.clone());
    apply_all(&mut table, &snap);
    g.throughput(Throughput::Elements(live.len() as u64));
    g.bench_function("live_mix_100k", |b| {
        b.iter(|| {
            apply_all(&mut table, &live);
            assert_eq!(table.len(), SNAPSHOT);
        })
    });

    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("publish_{}_series", table.series()), |b| {
        b.iter(|| table.publish())
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Some(passes) = std::env::var_os("FOLD_ONCE") {
        once(passes.to_str().and_then(|p| p.parse().ok()).unwrap_or(1));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
