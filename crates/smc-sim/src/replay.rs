//! Replay mode ([`crate::SimOptions::replay`]): the fake SMC of the ingest
//! benchmark. Every session-socket query, whatever its definition and
//! target, gets the same pre-rendered CONNECTIONS stream: `success`, then a
//! snapshot of `snapshot` rows in `records.added` batches of 200
//! (`first_fetch: true`), then `live` records, 30 per frame, a third each
//! added / updated / deleted. Frames are rendered once, by
//! [`Replay::render`], before any socket opens, and sent back to back as
//! fast as the reader takes them.
//!
//! The stream is a pure function of its [`ReplaySpec`]:
//!
//! * keys: the snapshot holds keys `0..snapshot`; each live frame adds the
//!   next unused keys, deletes the oldest live keys (so every delete is of a
//!   row the client holds, and the table size stays constant) and updates
//!   keys in between (never one the same frame adds or deletes);
//! * labels: 1,000 distinct (node 4, protocol 11, state 116) tuples (4
//!   nodes × 10 protocols × 25 states); a key's tuple is a hash of the key
//!   and its version, and an update bumps the version, so updates move
//!   entries between series;
//! * two variants, rendered by the simulator's own renderer: [`Variant::Id`]
//!   (`field_format: "id"`, only fields 4, 11 and 116: what smc-exporter
//!   asks for) for a query with `field_ids` / `field_names`, and
//!   [`Variant::Full`] (every CONNECTIONS field, id format) for a query
//!   without (the official client's `fetch_raw` after dropping its
//!   default `field_ids`). Deletes are key-only for about half of the
//!   keys, as the simulator sends them.
//!
//! A gate orders the phases so a benchmark can read a consumer's CPU time
//! between them: a socket sends `success`, counts itself subscribed and
//! waits for phase ≥ 1 to send the snapshot, then for phase ≥ 2 to send the
//! live frames; then it reads (answering pings) until the client closes.
//! `GET /sim/replay` shows the gate and counters; `POST /sim/replay?phase=N`
//! sets the phase (`0` also zeroes the counters, for the next consumer).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::render::{self, Ctx, EVENT_NEW, EVENT_UPDATE, FieldFormat, Format, SubFormat};
use super::socket::records_message;
use super::world::{Connection, Data, Entry};
use super::ws::{Incoming, Ws, next_frame, send};
use smc_protocol::Definition;

/// Records per snapshot frame.
pub const SNAPSHOT_BATCH: usize = 200;
/// Records per live frame (a third each added, updated, deleted).
pub const LIVE_PER_FRAME: usize = 30;
/// Distinct label tuples: `NODES × PROTOCOLS × STATES`.
pub const TUPLES: u64 = 1000;
/// The fetch id of every replayed frame.
pub const FETCH: i64 = 1;
/// The fields of the [`Variant::Id`] records (the exporter's default
/// CONNECTIONS `group_by`: node, protocol, state).
pub const ID_FIELDS: [u32; 3] = [4, 11, 116];
/// Smallest snapshot: the live frames need a window of live keys to update.
pub const MIN_SNAPSHOT: usize = 1000;
/// Largest snapshot or live stream (the frames are held in memory).
pub const MAX_RECORDS: usize = 20_000_000;

const NODES: [&str; 4] = [
    "bench-fw node 1",
    "bench-fw node 2",
    "bench-fw node 3",
    "bench-fw node 4",
];
const PROTOCOLS: [&str; 10] = [
    "TCP",
    "UDP",
    "ICMP",
    "ESP",
    "GRE",
    "AH",
    "SCTP",
    "IPv6-ICMP",
    "OSPF",
    "PIM",
];
const STATES: [&str; 25] = [
    "TCP established",
    "TCP syn seen",
    "TCP syn ack seen",
    "TCP time wait",
    "TCP fin wait 1",
    "TCP fin wait 2",
    "TCP close wait",
    "TCP last ack",
    "TCP closing",
    "TCP closed",
    "UDP established",
    "UDP unidirectional",
    "ICMP echo",
    "ICMP echo reply",
    "ESP established",
    "GRE established",
    "AH established",
    "SCTP established",
    "SCTP init",
    "SCTP shutdown",
    "Discarded",
    "Rejected",
    "Invalid",
    "Related",
    "Untracked",
];
/// `Timestamp` of key 0 (2026-01-01T00:00:00Z).
const BASE_TIME: i64 = 1_767_225_600;

/// Record variant of a socket, chosen by its query's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Fields 4, 11, 116 only, id format (a query with a field selection).
    Id,
    /// Every CONNECTIONS field, id format (a query without one).
    Full,
}

/// Sizes of the replayed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySpec {
    /// Snapshot rows (≥ [`MIN_SNAPSHOT`]).
    pub snapshot: usize,
    /// Live records after it.
    pub live: usize,
}

/// What the stream holds, for a consumer that counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayCounts {
    pub snapshot_frames: usize,
    pub live_frames: usize,
    /// Records in `added` lists of the live frames (every live frame has one).
    pub live_added: usize,
}

impl ReplaySpec {
    /// Whether the sizes can be replayed; the reason if not.
    pub fn check(&self) -> Result<(), String> {
        if self.snapshot < MIN_SNAPSHOT || self.snapshot > MAX_RECORDS {
            return Err(format!(
                "replay snapshot must be {MIN_SNAPSHOT}..={MAX_RECORDS} rows, not {}",
                self.snapshot
            ));
        }
        if self.live > MAX_RECORDS {
            return Err(format!(
                "replay live stream must be at most {MAX_RECORDS} records, not {}",
                self.live
            ));
        }
        Ok(())
    }

    pub fn counts(&self) -> ReplayCounts {
        let full = self.live / LIVE_PER_FRAME;
        let rest = self.live % LIVE_PER_FRAME;
        ReplayCounts {
            snapshot_frames: self.snapshot.div_ceil(SNAPSHOT_BATCH),
            live_frames: self.live.div_ceil(LIVE_PER_FRAME),
            live_added: full * LIVE_PER_FRAME / 3 + rest.div_ceil(3),
        }
    }
}

/// One variant's frames.
#[derive(Debug, Default)]
struct Frames {
    snapshot: Vec<Utf8Bytes>,
    live: Vec<Utf8Bytes>,
}

/// The pre-rendered stream, its gate and counters (shared by every socket).
pub struct Replay {
    spec: ReplaySpec,
    frames: HashMap<Variant, Frames>,
    phase: watch::Sender<u8>,
    subscribed: AtomicUsize,
    snapshot_sent: AtomicUsize,
    live_sent: AtomicUsize,
}

impl std::fmt::Debug for Replay {
    /// The sizes, not the frames.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// The label tuple of `key` at `version`.
fn tuple(key: u64, version: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&[key.to_le_bytes(), version.to_le_bytes()].concat()) % TUPLES
}

/// The table entry of `key` at `version`.
fn entry(key: u64, version: u64, pools: &Pools) -> Entry {
    let t = tuple(key, version) as usize;
    let (node, protocol, state) = (t % 4, (t / 4) % 10, t / 40);
    let k = key as u32;
    Entry {
        key: key.to_be_bytes().to_vec(),
        node: pools.nodes[node].clone(),
        domain: pools.domain.clone(),
        element: pools.element.clone(),
        created: BASE_TIME + key as i64,
        received: BASE_TIME + key as i64 + version as i64,
        data: Data::Connection(Connection {
            src: Ipv4Addr::from(0x0a00_0000 | (k & 0x00ff_ffff)),
            dst: Ipv4Addr::from(0xc000_0000 | (k.wrapping_mul(2_654_435_761) & 0x00ff_ffff)),
            sport: 1024 + (k % 60_000) as u16,
            dport: [443, 80, 53, 22, 25][(k % 5) as usize],
            protocol: PROTOCOLS[protocol],
            state: STATES[state],
            service: ["HTTPS", "HTTP", "DNS (UDP)", "SSH", "SMTP"][(k % 5) as usize],
            src_if: "Interface #0",
            dst_if: "Interface #1",
            src_zone: "Internal",
            dst_zone: "External",
            timeout: 300 + k % 3300,
        }),
    }
}

/// Shared label strings of the entries.
struct Pools {
    nodes: Vec<Arc<str>>,
    domain: Arc<str>,
    element: Arc<str>,
}

/// A frame's `added`, `updated` and `deleted` lists.
type Lists = (Vec<Value>, Vec<Value>, Vec<Value>);

/// How each variant renders, and its context.
struct Renderer {
    ctx: Ctx,
    pools: Pools,
    formats: Vec<(Variant, Format)>,
}

impl Renderer {
    fn new(variants: &[Variant]) -> Renderer {
        let fmt = |v: Variant| {
            Format::Single(SubFormat {
                field_format: FieldFormat::Id,
                select: (v == Variant::Id).then(|| ID_FIELDS.to_vec()),
                detailed: false,
            })
        };
        Renderer {
            ctx: Ctx {
                base: "http://127.0.0.1".into(),
                version: "7.1".into(),
                legacy: false,
                def: Definition::Connections,
            },
            pools: Pools {
                nodes: NODES.iter().map(|n| Arc::from(*n)).collect(),
                domain: Arc::from("Shared Domain"),
                element: Arc::from("single_fw/1"),
            },
            formats: variants.iter().map(|v| (*v, fmt(*v))).collect(),
        }
    }

    /// One frame per variant, from per-variant record lists.
    fn push(
        &self,
        out: &mut HashMap<Variant, Frames>,
        live: bool,
        records: &dyn Fn(&Format) -> Lists,
    ) {
        for (v, fmt) in &self.formats {
            let (a, u, d) = records(fmt);
            let shape: &[&str] = if live {
                &[]
            } else {
                &["added", "updated", "deleted"]
            };
            let text = Utf8Bytes::from(records_message(FETCH, a, u, d, shape).to_string());
            let f = out.entry(*v).or_default();
            if live {
                f.live.push(text)
            } else {
                f.snapshot.push(text)
            }
        }
    }
}

impl Replay {
    /// Render the stream of `spec` in each of `variants`.
    pub fn render(spec: ReplaySpec, variants: &[Variant]) -> Result<Replay, String> {
        spec.check()?;
        let r = Renderer::new(variants);
        let mut frames = HashMap::new();
        let snapshot = spec.snapshot as u64;
        for start in (0..snapshot).step_by(SNAPSHOT_BATCH) {
            let end = (start + SNAPSHOT_BATCH as u64).min(snapshot);
            r.push(&mut frames, false, &|fmt| {
                let added = (start..end)
                    .map(|k| render::render(&entry(k, 0, &r.pools), &r.ctx, fmt, EVENT_NEW, true))
                    .collect();
                (added, vec![], vec![])
            });
        }
        render_live(&r, spec, &mut frames);
        let (phase, _) = watch::channel(0);
        Ok(Replay {
            spec,
            frames,
            phase,
            subscribed: AtomicUsize::new(0),
            snapshot_sent: AtomicUsize::new(0),
            live_sent: AtomicUsize::new(0),
        })
    }

    pub fn spec(&self) -> ReplaySpec {
        self.spec
    }

    /// Set the gate; phase 0 also zeroes the counters.
    pub fn set_phase(&self, phase: u8) {
        if phase == 0 {
            for c in [&self.subscribed, &self.snapshot_sent, &self.live_sent] {
                c.store(0, Ordering::SeqCst);
            }
        }
        self.phase.send_replace(phase);
    }

    /// `GET /sim/replay`: the gate, the counters and the stream's shape.
    pub fn status(&self) -> Value {
        let c = self.spec.counts();
        json!({
            "phase": *self.phase.borrow(),
            "subscribed": self.subscribed.load(Ordering::SeqCst),
            "snapshot_sent": self.snapshot_sent.load(Ordering::SeqCst),
            "live_sent": self.live_sent.load(Ordering::SeqCst),
            "snapshot": self.spec.snapshot,
            "live": self.spec.live,
            "snapshot_frames": c.snapshot_frames,
            "live_frames": c.live_frames,
            "live_added": c.live_added,
        })
    }
}

/// Live frames: per frame, added / updated / deleted in turn.
fn render_live(r: &Renderer, spec: ReplaySpec, frames: &mut HashMap<Variant, Frames>) {
    let mut next_add = spec.snapshot as u64;
    let mut next_del = 0u64;
    let mut versions: HashMap<u64, u64> = HashMap::new();
    let mut left = spec.live;
    let mut frame = 0u64;
    while left > 0 {
        let n = left.min(LIVE_PER_FRAME);
        left -= n;
        let (adds, ups, dels) = (n.div_ceil(3), (n + 1) / 3, n / 3);
        let added: Vec<u64> = (next_add..next_add + adds as u64).collect();
        let deleted: Vec<u64> = (next_del..next_del + dels as u64).collect();
        // Updates: live keys that this frame neither adds nor deletes.
        let lo = next_del + dels as u64;
        let span = next_add - lo;
        let updated: Vec<(u64, u64)> = (0..ups as u64)
            .map(|i| {
                let k = lo + xxhash_rust::xxh3::xxh3_64(&(frame * 31 + i).to_le_bytes()) % span;
                let v = versions.entry(k).or_insert(0);
                *v += 1;
                (k, *v)
            })
            .collect();
        let version = |k: u64, vs: &HashMap<u64, u64>| vs.get(&k).copied().unwrap_or(0);
        let del_versions: Vec<(u64, u64)> = deleted
            .iter()
            .map(|k| (*k, version(*k, &versions)))
            .collect();
        r.push(frames, true, &|fmt| {
            let e = |k, v| entry(k, v, &r.pools);
            (
                added
                    .iter()
                    .map(|k| render::render(&e(*k, 0), &r.ctx, fmt, EVENT_NEW, false))
                    .collect(),
                updated
                    .iter()
                    .map(|(k, v)| render::render(&e(*k, *v), &r.ctx, fmt, EVENT_UPDATE, false))
                    .collect(),
                del_versions
                    .iter()
                    .map(|(k, v)| render::render_deleted(&e(*k, *v), &r.ctx, fmt))
                    .collect(),
            )
        });
        for k in &deleted {
            versions.remove(k);
        }
        next_add += adds as u64;
        next_del += dels as u64;
        frame += 1;
    }
}

/// Wait until the gate reaches `phase`, reading the client meanwhile;
/// false when the client went away.
async fn wait_phase(ws: &mut Ws, rx: &mut watch::Receiver<u8>, phase: u8) -> bool {
    loop {
        if *rx.borrow_and_update() >= phase {
            return true;
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return false },
            m = next_frame(ws) => if matches!(m, Incoming::End) { return false },
        }
    }
}

/// Send `frames` back to back (flushed once at the end); false on error.
async fn send_all(ws: &mut Ws, frames: &[Utf8Bytes]) -> bool {
    for f in frames {
        if ws.feed(Message::Text(f.clone())).await.is_err() {
            return false;
        }
    }
    ws.flush().await.is_ok()
}

/// The variant a query's format asks for.
fn variant_of(query: &Value) -> Variant {
    let f = &query["format"];
    let selects = |k: &str| {
        f.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    if selects("field_ids") || selects("field_names") {
        Variant::Id
    } else {
        Variant::Full
    }
}

/// Serve one session socket from the replay (any definition, any target).
pub(crate) async fn serve(mut ws: Ws, replay: &Replay, query: &Value) {
    let variant = variant_of(query);
    let Some(frames) = replay.frames.get(&variant) else {
        let why = format!("replay: the {variant:?} variant was not rendered");
        let _ = send(&mut ws, &json!({ "failure": why })).await;
        return;
    };
    if !send(
        &mut ws,
        &json!({"success": "Fetch started", "fetch": FETCH}),
    )
    .await
    {
        return;
    }
    tracing::debug!(?variant, "replay socket subscribed");
    replay.subscribed.fetch_add(1, Ordering::SeqCst);
    let mut rx = replay.phase.subscribe();
    if !wait_phase(&mut ws, &mut rx, 1).await || !send_all(&mut ws, &frames.snapshot).await {
        return;
    }
    replay.snapshot_sent.fetch_add(1, Ordering::SeqCst);
    if !wait_phase(&mut ws, &mut rx, 2).await || !send_all(&mut ws, &frames.live).await {
        return;
    }
    replay.live_sent.fetch_add(1, Ordering::SeqCst);
    while !matches!(next_frame(&mut ws).await, Incoming::End) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(r: &Replay, v: Variant) -> (Vec<Value>, Vec<Value>) {
        let f = &r.frames[&v];
        let p = |t: &Utf8Bytes| serde_json::from_str::<Value>(t.as_str()).unwrap();
        (
            f.snapshot.iter().map(p).collect(),
            f.live.iter().map(p).collect(),
        )
    }

    fn list<'a>(m: &'a Value, k: &str) -> &'a [Value] {
        m["records"]
            .get(k)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    #[test]
    fn counts_and_sizes() {
        let s = ReplaySpec {
            snapshot: 1001,
            live: 61,
        };
        assert_eq!(
            s.counts(),
            ReplayCounts {
                snapshot_frames: 6,
                live_frames: 3,
                live_added: 21
            }
        );
        assert_eq!(
            ReplaySpec {
                snapshot: 999,
                live: 0
            }
            .check()
            .unwrap_err(),
            "replay snapshot must be 1000..=20000000 rows, not 999"
        );
    }

    #[test]
    fn the_stream_keeps_a_consistent_table() {
        let spec = ReplaySpec {
            snapshot: 1000,
            live: 3000,
        };
        let r = Replay::render(spec, &[Variant::Id, Variant::Full]).unwrap();
        let (snap, live) = texts(&r, Variant::Id);
        assert_eq!(snap.len(), 5);
        assert_eq!(live.len(), 100);
        let mut table: HashMap<String, (String, String, String)> = HashMap::new();
        let labels = |rec: &Value| {
            let s = |k: &str| rec[k].as_str().unwrap().to_string();
            (s("4"), s("11"), s("116"))
        };
        for m in &snap {
            assert_eq!(m["fetch"], json!(FETCH));
            for rec in list(m, "added") {
                assert_eq!(rec.as_object().unwrap().len(), 5, "{rec}");
                assert_eq!(rec["first_fetch"], json!(true));
                let old = table.insert(rec["delta_key"].as_str().unwrap().into(), labels(rec));
                assert!(old.is_none());
            }
        }
        assert_eq!(table.len(), 1000);
        let mut moved = 0;
        for m in &live {
            assert_eq!(list(m, "added").len(), 10);
            assert_eq!(list(m, "updated").len(), 10);
            assert_eq!(list(m, "deleted").len(), 10);
            for rec in list(m, "added") {
                assert!(
                    table
                        .insert(rec["delta_key"].as_str().unwrap().into(), labels(rec))
                        .is_none()
                );
            }
            for rec in list(m, "updated") {
                let old = table.insert(rec["delta_key"].as_str().unwrap().into(), labels(rec));
                moved += usize::from(old.unwrap() != labels(rec));
            }
            for rec in list(m, "deleted") {
                assert!(
                    table.remove(rec["delta_key"].as_str().unwrap()).is_some(),
                    "{rec}"
                );
            }
        }
        assert_eq!(table.len(), 1000);
        assert!(moved > 900, "{moved} of 1000 updates moved series");
        let tuples: std::collections::HashSet<_> = table.values().collect();
        assert!(tuples.len() > 600, "{} tuples", tuples.len());
        // The full variant: the same keys, every CONNECTIONS field.
        let (fsnap, _) = texts(&r, Variant::Full);
        let rec = &list(&fsnap[0], "added")[0];
        assert_eq!(rec.as_object().unwrap().len(), 22, "{rec}");
        assert_eq!(rec["delta_key"], list(&snap[0], "added")[0]["delta_key"]);
        assert_eq!(rec["116"], list(&snap[0], "added")[0]["116"]);
    }

    #[test]
    fn the_query_format_picks_the_variant() {
        let q = |f: Value| json!({"query": {}, "format": f});
        assert_eq!(variant_of(&q(json!({"field_ids": [4]}))), Variant::Id);
        assert_eq!(variant_of(&q(json!({"field_names": ["Src"]}))), Variant::Id);
        assert_eq!(variant_of(&q(json!({"field_format": "id"}))), Variant::Full);
        assert_eq!(variant_of(&q(json!({"field_ids": []}))), Variant::Full);
    }
}
