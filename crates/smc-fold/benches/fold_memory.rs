//! Memory harness: bytes per tracked connection at 1,000,000 entries.
//!
//! `cargo bench -p smc-fold --bench fold_memory`. Counts heap bytes with a
//! wrapping global allocator (`cap`), inserts 1M entries with realistic
//! 28-character base64 `delta_key`s into ~50 series, and prints allocated
//! bytes per entry (net and peak) and the process's peak / current RSS per
//! entry. Exits non-zero if any of the steady figure (allocated, net), the
//! peak figure (the allocation high-water mark, reached while the entry table
//! grows) or the peak RSS added over the process's baseline is above
//! 64 bytes per entry (issue 10; `.ci/run` runs this bench).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cap::Cap;
use smc_fold::{Change, Delta, SeriesBudget, Table};

/// Counts live heap bytes (`allocated`) and their high-water mark
/// (`max_allocated`, over the whole run: before the table is built only
/// start-up allocations exist, far below it). `cap` wraps the system
/// allocator, so this file needs no unsafe code.
#[global_allocator]
static GLOBAL: Cap<System> = Cap::new(System, usize::MAX);

const ENTRIES: usize = 1_000_000;
/// Bytes per tracked entry, steady and at peak.
const LIMIT: f64 = 64.0;

const ENGINES: [&str; 5] = ["fw-hq-1", "fw-hq-2", "fw-branch-a", "fw-branch-b", "fw-dmz"];
const PROTOCOLS: [&str; 2] = ["TCP", "UDP"];
const STATES: [&str; 5] = [
    "TCP established",
    "TCP syn seen",
    "TCP fin wait",
    "UDP unreplied",
    "UDP replied",
];

/// splitmix64: a cheap deterministic stream of well-mixed words.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The i-th 28-character base64 key (21 pseudo-random bytes), on the stack.
fn key(i: u64, out: &mut [u8; 28]) -> &str {
    let mut raw = [0u8; 21];
    for (j, chunk) in raw.chunks_mut(8).enumerate() {
        let w = mix(i.wrapping_mul(3).wrapping_add(j as u64)).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
    let n = STANDARD.encode_slice(raw, out).unwrap_or(0);
    std::str::from_utf8(&out[..n]).unwrap_or("")
}

/// (VmHWM, VmRSS) in bytes from /proc/self/status, if available.
fn rss() -> Option<(usize, usize)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<usize> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// True (and says so) when `per_entry` is above the limit.
fn gate(what: &str, per_entry: f64) -> bool {
    let over = per_entry > LIMIT;
    if over {
        eprintln!("fold_memory: {what}: {per_entry:.1} B/entry is above {LIMIT}");
    }
    over
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; any filter argument is ignored.
    let rss_before = rss();
    let budget = Arc::new(SeriesBudget::new(10_000));
    let before = GLOBAL.allocated();
    let started = Instant::now();

    let mut table = Table::new(3, budget.clone());
    let mut buf = [0u8; 28];
    for i in 0..ENTRIES as u64 {
        let r = mix(!i);
        let values = [
            Some(ENGINES[(r % 5) as usize]),
            Some(PROTOCOLS[((r >> 8) % 2) as usize]),
            Some(STATES[((r >> 16) % 5) as usize]),
        ];
        table.apply(Delta {
            change: Change::Added,
            key: key(i, &mut buf),
            values: &values,
        });
    }
    let elapsed = started.elapsed();
    assert_eq!(table.len(), ENTRIES, "keys collided or were lost");

    let after = GLOBAL.allocated();
    let peak = GLOBAL.max_allocated();
    let net = (after - before) as f64 / ENTRIES as f64;
    let peak_alloc = (peak - before) as f64 / ENTRIES as f64;
    println!(
        "fold_memory: {} entries, {} series, inserted in {:.2?} ({:.1} M records/s)",
        table.len(),
        table.series(),
        elapsed,
        ENTRIES as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "fold_memory: table.heap_bytes()        = {} ({:.1} B/entry)",
        table.heap_bytes(),
        table.heap_bytes() as f64 / ENTRIES as f64
    );
    println!(
        "fold_memory: allocated (net)           = {} B ({net:.1} B/entry)",
        after - before
    );
    println!(
        "fold_memory: allocated (peak, growth)  = {} B ({peak_alloc:.1} B/entry)",
        peak - before
    );

    let mut failed = gate("allocated (net, steady)", net);
    failed |= gate("allocated (peak, growth)", peak_alloc);
    match (rss_before, rss()) {
        (Some((_, rss0)), Some((hwm, rss1))) => {
            let per = |bytes: usize| bytes as f64 / ENTRIES as f64;
            let added = per(hwm.saturating_sub(rss0));
            println!(
                "fold_memory: VmHWM {} KiB ({:.1} B/entry, whole process; {added:.1} B/entry over the baseline RSS of {} KiB), VmRSS {} KiB ({:.1} B/entry over baseline)",
                hwm / 1024,
                per(hwm),
                rss0 / 1024,
                rss1 / 1024,
                per(rss1.saturating_sub(rss0))
            );
            failed |= gate("peak RSS over baseline", added);
        }
        _ => println!("fold_memory: /proc/self/status unavailable, RSS not measured"),
    }

    // Dropping the table gives back its memory and its budget.
    drop(table);
    let left = GLOBAL.allocated().saturating_sub(before);
    println!(
        "fold_memory: after drop: {left} B still allocated, budget used {}",
        budget.used()
    );

    if failed {
        eprintln!("fold_memory: FAIL: above {LIMIT} bytes per entry");
        ExitCode::FAILURE
    } else {
        println!("fold_memory: OK (at most {LIMIT} bytes per entry, steady and peak)");
        ExitCode::SUCCESS
    }
}
