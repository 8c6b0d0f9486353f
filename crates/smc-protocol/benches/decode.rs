//! Decode cost per record, old decoder against new, with the parse floors,
//! in one run: CPU ns/record and heap allocations/record.
//!
//! Input: pre-rendered CONNECTIONS frames as a session socket sends them
//! (`field_format: "id"`): snapshot batches of 200 `added` rows with
//! `first_fetch: true`, and live frames of 30 records (10 added, 10 updated
//! with their fields, 10 key-only deletes). Each row carries a 28-character
//! base64 `delta_key` and 14 fields: node (4), protocol (11) and state (116),
//! which a fold groups by, and 11 others the SMC sends with them (the
//! always-present 3, 24, 34, 38, 485 of docs/smc-protocol.md §3.2, the
//! 5-tuple 7, 8, 9, 10, the session event 302 and the timestamp 1).
//!
//! Decoders, each consuming and dropping every frame:
//! * `old`: the decoder before issue 10 (`tests/protocol/reference.rs`);
//! * `new, all fields`: `decode` (what the log sockets use);
//! * `new, fold's fields`: `decode_fields` with 4, 11, 116 (what a
//!   subscription uses);
//! * floors: `serde_json::from_str::<Value>` and `IgnoredAny`.
//!
//! Time is this thread's CPU time, the best of `ROUNDS` passes (decoders interleaved, so all see the
//! same machine load); allocations are counted over one pass (`stats_alloc`,
//! allocations + reallocations).
//!
//! `cargo bench -p smc-protocol --bench decode` prints the table;
//! `… -- --callgrind NAME` (NAME: old, all, fields, value, ignored) decodes a
//! small fixed input once with NAME only, for
//! `valgrind --tool=callgrind --toggle-collect='*measured*'` (instructions
//! inside `measured`, divided by the record count it prints).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/protocol/reference.rs"]
mod reference;

use std::alloc::System;
use std::hint::black_box;

use rustix::time::{ClockId, clock_gettime};
use serde_json::{Value, json};
use smc_protocol::{FieldSet, ServerMessage};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SNAPSHOT_FRAMES: usize = 50;
const LIVE_FRAMES: usize = 300;
const ROUNDS: usize = 15;

/// A 28-character base64 key, as the SMC's connection keys are.
fn key(i: usize) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..28)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            B64[(x % 64) as usize] as char
        })
        .collect()
}

fn row(i: usize, first_fetch: bool) -> Value {
    let proto = ["6", "17", "1", "50"][i % 4];
    let state = ["Established", "SYN sent", "Closing", "FIN wait"][i % 4];
    let dport = ["443", "80", "53", "22"][i % 4];
    json!({
        "delta_key": key(i),
        "first_fetch": first_fetch,
        "1": format!("2026-12-01 13:{:02}:{:02}", i / 60 % 60, i % 60),
        "3": format!("fw-{} node {}", i % 10, i % 2 + 1),
        "4": format!("fw-{} node {}", i % 10, i % 2 + 1),
        "7": format!("192.168.{}.{}", i / 256 % 256, i % 256),
        "8": format!("52.206.{}.{}", i / 7 % 256, i % 251),
        "9": format!("{}", 1024 + i % 60000),
        "10": dport,
        "11": proto,
        "24": "1764594720000",
        "34": "6",
        "38": "Shared Domain",
        "116": state,
        "302": "1",
        "485": "INFO: Connection Monitoring",
    })
}

struct Frames {
    snapshot: Vec<String>,
    live: Vec<String>,
}

fn frames(snapshot_frames: usize, live_frames: usize) -> Frames {
    let snapshot = (0..snapshot_frames)
        .map(|f| {
            let added: Vec<Value> = (0..200).map(|r| row(f * 200 + r, true)).collect();
            json!({"fetch": -1616514795, "records": {"added": added}}).to_string()
        })
        .collect();
    let base = snapshot_frames * 200;
    let live = (0..live_frames)
        .map(|f| {
            let i = base + f * 10;
            let added: Vec<Value> = (0..10).map(|r| row(i + r, false)).collect();
            let updated: Vec<Value> = (0..10).map(|r| row(f * 10 + r, false)).collect();
            let deleted: Vec<Value> = (0..10)
                .map(|r| json!({"delta_key": key(f * 10 + 5000 + r)}))
                .collect();
            json!({"fetch": -1616514795, "records": {"added": added, "updated": updated, "deleted": deleted}})
                .to_string()
        })
        .collect();
    Frames { snapshot, live }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Decoder {
    Old,
    All,
    Fields,
    Value,
    Ignored,
}

const DECODERS: [(Decoder, &str, &str); 5] = [
    (
        Decoder::Old,
        "old",
        "old decoder (untagged, Value per field)",
    ),
    (Decoder::All, "all", "new, all fields (decode)"),
    (
        Decoder::Fields,
        "fields",
        "new, fold's fields (decode_fields 4/11/116)",
    ),
    (Decoder::Value, "value", "floor: serde_json::Value"),
    (Decoder::Ignored, "ignored", "floor: IgnoredAny"),
];

/// Decode every frame once; returns the records seen (a check that the
/// decoder read them).
#[inline(never)]
fn measured(d: Decoder, frames: &[String], wanted: &FieldSet) -> usize {
    let mut n = 0;
    for text in frames {
        n += match d {
            Decoder::Old => match black_box(reference::decode(text)) {
                Ok(reference::ServerMessage::Records { records, .. }) => records.len(),
                _ => 0,
            },
            Decoder::All | Decoder::Fields => {
                let m = if d == Decoder::All {
                    smc_protocol::decode(text)
                } else {
                    smc_protocol::decode_fields(text, wanted)
                };
                match black_box(m) {
                    Ok(ServerMessage::Records { records, .. }) => records.len(),
                    _ => 0,
                }
            }
            Decoder::Value => {
                let v: Value = black_box(serde_json::from_str(text).unwrap());
                v["records"].as_object().map_or(0, |m| {
                    m.values().filter_map(|l| l.as_array()).map(Vec::len).sum()
                })
            }
            Decoder::Ignored => {
                black_box(serde_json::from_str::<serde::de::IgnoredAny>(text).unwrap());
                0
            }
        };
    }
    n
}

/// The records in `frames` (not through `measured`, which callgrind counts).
fn records_in(frames: &[String]) -> usize {
    frames
        .iter()
        .map(|t| match reference::decode(t) {
            Ok(reference::ServerMessage::Records { records, .. }) => records.len(),
            _ => 0,
        })
        .sum()
}

/// This thread's CPU time, ns.
fn cpu_ns() -> i128 {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
}

/// Best CPU ns/record over `ROUNDS` passes, per decoder, interleaved.
fn time_all(frames: &[String], wanted: &FieldSet) -> Vec<f64> {
    let records = records_in(frames) as f64;
    let mut best = vec![f64::INFINITY; DECODERS.len()];
    for _ in 0..ROUNDS {
        for (i, (d, _, _)) in DECODERS.iter().enumerate() {
            let t = cpu_ns();
            black_box(measured(*d, frames, wanted));
            let ns = (cpu_ns() - t) as f64 / records;
            best[i] = best[i].min(ns);
        }
    }
    best
}

/// Allocations (+ reallocations) and bytes allocated per record, one pass.
fn allocs(d: Decoder, frames: &[String], wanted: &FieldSet) -> (f64, f64) {
    let records = records_in(frames) as f64;
    let region = Region::new(GLOBAL);
    black_box(measured(d, frames, wanted));
    let s = region.change();
    (
        (s.allocations + s.reallocations) as f64 / records,
        s.bytes_allocated as f64 / records,
    )
}

fn report(name: &str, frames: &[String], wanted: &FieldSet) {
    let records = records_in(frames);
    let bytes: usize = frames.iter().map(String::len).sum();
    println!(
        "\n{name}: {} frames, {records} records, {:.0} bytes/record",
        frames.len(),
        bytes as f64 / records as f64
    );
    println!(
        "| decoder | ns/record | allocations/record | bytes allocated/record | vs Value floor |"
    );
    println!("|---|---:|---:|---:|---:|");
    let ns = time_all(frames, wanted);
    let floor = ns[3];
    for (i, (d, _, label)) in DECODERS.iter().enumerate() {
        let (a, b) = allocs(*d, frames, wanted);
        println!(
            "| {label} | {:.0} | {a:.2} | {b:.0} | {:.2}× |",
            ns[i],
            ns[i] / floor
        );
    }
}

fn main() {
    let wanted = FieldSet::only(["4", "11", "116"]);
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--callgrind") {
        let name = args.get(i + 1).map(String::as_str).unwrap_or("fields");
        let (d, _, label) = DECODERS
            .iter()
            .find(|(_, n, _)| *n == name)
            .unwrap_or_else(|| panic!("--callgrind takes old, all, fields, value or ignored"));
        // 2 snapshot frames + 10 live frames: 700 records.
        let f = frames(2, 10);
        let all: Vec<String> = f.snapshot.into_iter().chain(f.live).collect();
        let n = records_in(&all);
        let seen = measured(*d, &all, &wanted);
        println!(
            "callgrind input: {label}: {} frames, {n} records (read {seen})",
            all.len()
        );
        return;
    }
    let f = frames(SNAPSHOT_FRAMES, LIVE_FRAMES);
    println!("decode bench: thread CPU time, best of {ROUNDS} passes, decoders interleaved");
    report("snapshot (200 added per frame)", &f.snapshot, &wanted);
    report(
        "live (10 added, 10 updated, 10 deleted per frame)",
        &f.live,
        &wanted,
    );
}
