//! The log socket (`/{ver}/monitoring/log/socket`, protocol §2.2, §3.3,
//! §3.4, §7.2) and the simulated log history it serves.
//!
//! The history is a function of the seed and the churn steps, like the rest
//! of the world: a few hundred records at start, one more per churn step
//! (and `POST /sim/logs?count=N`), drawn from their own seeded stream.
//!
//! Every record has the time (1), sender (3, 4), addresses and ports (7–10),
//! protocol (11), action (14), information message (19), facility (22),
//! reception time (24), service (27), data type (34), sender domain (38) and
//! zones: 46 `SrcZone` / 47 `DstZone` follow the addresses (`10.S.X.Y` with
//! `X` < 4 → `DMZ`, other `10.…` → `Internal`, public → `External`).
//! Besides:
//!
//! * Packet-filtering records (22 `Packet Filtering`, 34 `1`) carry the rule
//!   tag 20 `@<rule>.1`, the rule the information message names
//!   (`… by rule @<rule>.1`). About a third of the outbound (internal →
//!   public) `Allow` records carry a NAT rule tag 21 `@<n>.0` (`n` 1..=12).
//!   `Connection closed` records carry the accounting: 104 elapsed seconds
//!   (0 to 3 h), 105 bytes sent and 106 bytes received (decimal strings,
//!   100 B to 9.99 GB, mostly 1 kB–1 MB). One in ten has severity 602 `Info`.
//! * Inspection records (22 `Inspection`, 34 `0`) carry the situation
//!   (1000), a severity (602) and no rule tag (20/21): in the SMC they come
//!   from inspection rules, not the access rule an exporter counts hits of,
//!   so they are the records without a rule tag.
//!
//! The zones, NAT tags and accounting come from a second seeded stream, so
//! the other fields of every record are what they were before they existed.
//!
//! One socket runs its fetches one after the other:
//!
//! * `query` without `type` and a `detailed` format — the client's
//!   `resolve_field_ids` request: `success` with a `fields` descriptor for
//!   every requested id, then `end`.
//! * `type: "stored"`: `success` → `status` → `records` lists of ≤ 200 →
//!   `end`. At most `fetch.quantity` records (absent or ≤ 0: all), newest
//!   first unless `fetch.backwards` is false, bounded by `start_ms`/`end_ms`
//!   (0 = unbounded), from `fetch.start_record` when given.
//! * `type: "current"`: `success` → `status` → the records appended from then
//!   on, as lists, until abort or close; no `end`. `quantity`, `backwards`
//!   and the time range are not applied to live records (the official
//!   client's `last_five_minutes()` uses the wall clock, the world's clock is
//!   simulated).
//!
//! A `detailed` format adds `fields` to the `success` of a query too. A
//! refused query gets `{"failure":…}` and the socket stays open.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::render::{self, FieldFormat, Format, SubFormat};
use super::socket::BATCH;
use super::world::{Engine, fmt_time};
use super::ws::{Incoming, Ws, classify, next_frame, send, too_big};
use smc_protocol::parse_abort;

/// Records kept; older ones are dropped (bounds memory under fast churn).
pub(crate) const MAX_STORED: usize = 10_000;
/// Live records queued per `current` fetch before it counts as too slow and
/// its socket is closed.
const LIVE_QUEUE: usize = 16_384;

/// The fields every log record may carry, ascending (a `detailed` format
/// without `field_ids` describes these).
pub(crate) const LOG_FIELDS: &[u32] = &[
    1, 3, 4, 6, 7, 8, 9, 10, 11, 14, 19, 20, 21, 22, 24, 27, 34, 38, 46, 47, 104, 105, 106, 602,
    1000,
];

// ---------------------------------------------------------------------------
// The log history.

/// One stored log record.
#[derive(Debug)]
pub(crate) struct LogRecord {
    /// The log key, `<time_ms>/<component>/<event>` (opaque to clients; used
    /// by `fetch.start_record`).
    pub key: String,
    /// `Timestamp` (1) as epoch milliseconds (whole seconds).
    pub time_ms: i64,
    /// Field values by id, ascending; all strings.
    pub values: Vec<(u32, String)>,
}

/// A `current` fetch waiting for new records.
#[derive(Debug)]
struct LiveSubscriber {
    id: u64,
    tx: mpsc::Sender<Arc<LogRecord>>,
    overflow: CancellationToken,
}

/// A `current` fetch's registration: new records arrive on `rx`.
#[derive(Debug)]
pub(crate) struct Live {
    pub id: u64,
    pub rx: mpsc::Receiver<Arc<LogRecord>>,
    /// Cancelled when the queue overflowed.
    pub overflow: CancellationToken,
}

#[derive(Debug)]
pub(crate) struct LogHistory {
    rng: ChaCha8Rng,
    /// The zones, rule tags and accounting fields, from a stream of their
    /// own so the other fields are what they were before these existed.
    detail: ChaCha8Rng,
    serial: u64,
    records: VecDeque<Arc<LogRecord>>,
    subscribers: Vec<LiveSubscriber>,
    next_subscriber: u64,
}

const PF_ACTIONS: &[(&str, &str, &str, u32)] = &[
    // (action, event, info message, weight)
    (
        "Allow",
        "Connection closed",
        "Connection closed normally",
        45,
    ),
    ("Allow", "New connection", "Connection allowed by rule", 20),
    (
        "Discard",
        "Connection discarded",
        "Packet dropped by rule",
        22,
    ),
    (
        "Refuse",
        "Connection refused",
        "Connection refused by rule",
        8,
    ),
    (
        "Permit",
        "New VPN connection",
        "Connection permitted into VPN",
        5,
    ),
];
const INSPECTION_ACTIONS: &[(&str, u32)] = &[
    ("Allow", 50),
    ("Discard", 20),
    ("Terminate", 20),
    ("Refuse", 10),
];
const SEVERITIES: &[(&str, u32)] = &[("Info", 40), ("Low", 30), ("High", 20), ("Critical", 10)];
const SITUATIONS: &[&str] = &[
    "HTTP_CS-Suspicious-Header",
    "SSH_Brute-Force-Login",
    "Anti-Malware_Malware-Detected",
    "TCP_SYN-Flood",
    "DNS_Tunneling-Detected",
    "HTTP_Log4j-JNDI-Lookup",
    "SMB_EternalBlue-Exploit",
];
const TCP_SERVICES: &[(u16, &str, u32)] = &[
    (443, "HTTPS", 50),
    (80, "HTTP", 15),
    (22, "SSH", 8),
    (25, "SMTP", 5),
    (3389, "RDP", 5),
    (445, "Microsoft-DS", 5),
    (8080, "HTTP proxy", 7),
    (993, "IMAPS", 5),
];
const UDP_SERVICES: &[(u16, &str, u32)] = &[
    (53, "DNS (UDP)", 60),
    (123, "NTP (UDP)", 20),
    (514, "Syslog (UDP)", 10),
    (443, "QUIC (UDP)", 10),
];
const PUBLIC_PREFIXES: &[[u8; 2]] = &[[52, 206], [13, 107], [142, 250], [151, 101], [104, 16]];

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[T], weight: impl Fn(&T) -> u32) -> T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut x = rng.random_range(0..total.max(1));
    for it in items {
        let w = weight(it);
        if x < w {
            return *it;
        }
        x -= w;
    }
    items[items.len() - 1]
}

/// The zone of an address: the internal `10.S.X.Y` in `X` < 4 are the
/// DMZ, the other internal ones `Internal`, the public ones `External`.
fn zone(addr: &str) -> &'static str {
    let mut octets = addr.split('.');
    match (
        octets.next(),
        octets.nth(1).and_then(|x| x.parse::<u8>().ok()),
    ) {
        (Some("10"), Some(x)) if x < 4 => "DMZ",
        (Some("10"), _) => "Internal",
        _ => "External",
    }
}

/// Decimal orders of magnitude of the byte counts, weighted: mostly 1 kB to
/// 1 MB, now and then a few GB.
const BYTE_MAGNITUDES: &[(u32, u32)] = &[
    (2, 10),
    (3, 25),
    (4, 25),
    (5, 20),
    (6, 12),
    (7, 5),
    (8, 2),
    (9, 1),
];

/// A byte count: `m × 10^(e-2)`, `m` in 100..1000, so 100 B to 9.99 GB.
fn byte_count(rng: &mut ChaCha8Rng) -> u64 {
    let e = weighted(rng, BYTE_MAGNITUDES, |m| m.1).0;
    rng.random_range(100..1000u64) * 10u64.pow(e - 2)
}

/// A closed connection's accounting: 104 elapsed seconds (0 to about 3 h),
/// 105 bytes sent, 106 bytes received.
fn accounting(rng: &mut ChaCha8Rng) -> [(u32, String); 3] {
    let elapsed = match rng.random_range(0..10u32) {
        0..=5 => rng.random_range(0..60u64),
        6..=8 => rng.random_range(60..1800u64),
        _ => rng.random_range(1800..10_800u64),
    };
    [
        (104, elapsed.to_string()),
        (105, byte_count(rng).to_string()),
        (106, byte_count(rng).to_string()),
    ]
}

impl LogHistory {
    /// The history at start: 300–600 records over the two hours before
    /// `clock`, oldest first.
    pub fn generate(seed: u64, engines: &[Engine], clock: i64) -> LogHistory {
        let mut h = LogHistory {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x1065_0c4e_7000_0003),
            detail: ChaCha8Rng::seed_from_u64(seed ^ 0x1065_0c4e_7000_0013),
            serial: 0,
            records: VecDeque::new(),
            subscribers: Vec::new(),
            next_subscriber: 1,
        };
        let n = h.rng.random_range(300..=600);
        let mut times: Vec<i64> = (0..n)
            .map(|_| clock - h.rng.random_range(0..7200))
            .collect();
        times.sort_unstable();
        for t in times {
            if let Some(r) = h.record(engines, t) {
                h.records.push_back(Arc::new(r));
            }
        }
        h
    }

    /// One churn step: one record at `clock`.
    pub fn step(&mut self, engines: &[Engine], clock: i64) {
        self.append(1, engines, clock);
    }

    /// Append `n` records at `clock` and push them to the live fetches.
    /// Returns how many were appended.
    pub fn append(&mut self, n: usize, engines: &[Engine], clock: i64) -> usize {
        let mut done = 0;
        for _ in 0..n {
            let Some(r) = self.record(engines, clock) else {
                break;
            };
            let r = Arc::new(r);
            self.records.push_back(r.clone());
            if self.records.len() > MAX_STORED {
                self.records.pop_front();
            }
            self.notify(&r);
            done += 1;
        }
        done
    }

    fn notify(&mut self, r: &Arc<LogRecord>) {
        self.subscribers.retain(|s| match s.tx.try_send(r.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(subscriber = s.id, "log socket queue overflow; closing it");
                s.overflow.cancel();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// The stored records, oldest first.
    pub fn records(&self) -> std::collections::vec_deque::Iter<'_, Arc<LogRecord>> {
        self.records.iter()
    }

    pub fn subscribe(&mut self) -> Live {
        let id = self.next_subscriber;
        self.next_subscriber += 1;
        let (tx, rx) = mpsc::channel(LIVE_QUEUE);
        let overflow = CancellationToken::new();
        self.subscribers.push(LiveSubscriber {
            id,
            tx,
            overflow: overflow.clone(),
        });
        Live { id, rx, overflow }
    }

    /// How many `current` fetches are registered for appended records.
    pub fn live_fetches(&self) -> usize {
        self.subscribers.len()
    }

    pub fn unsubscribe(&mut self, id: u64) {
        self.subscribers.retain(|s| s.id != id);
    }

    /// The records a stored query returns, in sending order.
    pub fn select(&self, q: &LogQuery) -> Result<Vec<Arc<LogRecord>>, String> {
        let in_range = |r: &&Arc<LogRecord>| {
            (q.start_ms == 0 || r.time_ms >= q.start_ms) && (q.end_ms == 0 || r.time_ms <= q.end_ms)
        };
        let ordered: Box<dyn Iterator<Item = &Arc<LogRecord>>> = if q.backwards {
            Box::new(self.records.iter().rev())
        } else {
            Box::new(self.records.iter())
        };
        let mut it = ordered.filter(in_range).peekable();
        if let Some(start) = &q.start_record {
            // Skip to the start record (it must be stored and in range).
            loop {
                match it.peek() {
                    None => return Err(format!("Unknown start_record '{start}'")),
                    Some(r) if r.key == *start => break,
                    Some(_) => {
                        it.next();
                    }
                }
            }
            if !q.start_inclusive {
                it.next();
            }
        }
        let limit = if q.quantity == 0 {
            usize::MAX
        } else {
            q.quantity
        };
        Ok(it
            .filter(|r| q.filter.matches(&r.values))
            .take(limit)
            .cloned()
            .collect())
    }

    /// A new record at `secs` from a random engine node. `None`: no engines.
    fn record(&mut self, engines: &[Engine], secs: i64) -> Option<LogRecord> {
        if engines.is_empty() {
            return None;
        }
        let rng = &mut self.rng;
        let ei = rng.random_range(0..engines.len());
        let eng = &engines[ei];
        let ni = rng.random_range(0..eng.nodes.len().max(1));
        let node = eng
            .nodes
            .get(ni)
            .cloned()
            .unwrap_or_else(|| eng.name.clone());
        self.serial += 1;
        let component = ei * 10 + ni + 1;
        let time_ms = secs * 1000;
        let key = format!("{time_ms}/{component}/{}", self.serial);

        let protocol = weighted(rng, &[("TCP", 65u32), ("UDP", 30), ("ICMP", 5)], |p| p.1).0;
        let (dport, service) = match protocol {
            "TCP" => {
                let s = weighted(rng, TCP_SERVICES, |s| s.2);
                (s.0, s.1)
            }
            "UDP" => {
                let s = weighted(rng, UDP_SERVICES, |s| s.2);
                (s.0, s.1)
            }
            _ => (0, "Ping"),
        };
        let internal = format!(
            "10.{}.{}.{}",
            eng.site,
            rng.random_range(0..=31u8),
            rng.random_range(1..=254u8)
        );
        let p = PUBLIC_PREFIXES[rng.random_range(0..PUBLIC_PREFIXES.len())];
        let public = format!(
            "{}.{}.{}.{}",
            p[0],
            p[1],
            rng.random_range(0..=255u8),
            rng.random_range(1..=254u8)
        );
        let outbound = !rng.random_bool(0.25);
        let (src, dst) = if outbound {
            (internal, public)
        } else {
            (public, internal)
        };
        let zones = [(46, zone(&src)), (47, zone(&dst))].map(|(id, z)| (id, z.to_string()));
        let inspection = rng.random_bool(0.3);
        let mut v: Vec<(u32, String)> = vec![
            (1, fmt_time(secs)),
            (3, node.clone()),
            (4, node),
            (7, src),
            (8, dst),
            (11, protocol.into()),
            (24, fmt_time(secs + rng.random_range(0..=2))),
            (27, service.into()),
            (38, eng.domain.clone()),
        ];
        v.extend(zones);
        if protocol != "ICMP" {
            v.push((9, rng.random_range(1024..=65535u16).to_string()));
            v.push((10, dport.to_string()));
        }
        if inspection {
            let situation = SITUATIONS[rng.random_range(0..SITUATIONS.len())];
            v.extend([
                (6, "Situation".to_string()),
                (14, weighted(rng, INSPECTION_ACTIONS, |a| a.1).0.into()),
                (19, format!("Situation {situation} detected")),
                (22, "Inspection".into()),
                (34, "0".into()), // IPS_LOGS
                (602, weighted(rng, SEVERITIES, |s| s.1).0.into()),
                (1000, situation.into()),
            ]);
        } else {
            let (action, event, info, _) = weighted(rng, PF_ACTIONS, |a| a.3);
            let rule = rng.random_range(2..40u32);
            v.extend([
                (6, event.to_string()),
                (14, action.into()),
                (19, format!("{info} @{rule}.1")),
                (22, "Packet Filtering".into()),
                (34, "1".into()), // FW_LOGS
                (20, format!("@{rule}.1")),
            ]);
            // Some firewall entries carry an alert severity too.
            if rng.random_bool(0.1) {
                v.push((602, "Info".into()));
            }
            let d = &mut self.detail;
            if outbound && action == "Allow" && d.random_ratio(1, 3) {
                v.push((21, format!("@{}.0", d.random_range(1..=12u32))));
            }
            if event == "Connection closed" {
                v.extend(accounting(d));
            }
        }
        v.sort_by_key(|(id, _)| *id);
        Some(LogRecord {
            key,
            time_ms,
            values: v,
        })
    }
}

// ---------------------------------------------------------------------------
// Queries.

/// The query's `filter` (`None`: every record matches).
#[derive(Debug, Clone, Default)]
pub(crate) struct LogFilter(pub Option<smc_protocol::Filter>);

impl LogFilter {
    /// Whether a record's `(field id, value)` pairs satisfy the filter.
    pub fn matches(&self, values: &[(u32, String)]) -> bool {
        self.0.as_ref().is_none_or(|f| {
            f.matches(&|id| {
                values
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, v)| v.as_str())
            })
        })
    }
}

/// A stored or current log query's parameters.
#[derive(Debug, Clone)]
pub(crate) struct LogQuery {
    /// Epoch ms, 0 = unbounded.
    pub start_ms: i64,
    pub end_ms: i64,
    /// 0 = all.
    pub quantity: usize,
    /// Newest first.
    pub backwards: bool,
    pub start_record: Option<String>,
    pub start_inclusive: bool,
    pub filter: LogFilter,
    /// `query.filter` as sent (for the ledger of what a fetch was sent).
    pub raw_filter: Option<Value>,
}

/// What a client frame asks for.
#[derive(Debug)]
pub(crate) enum Request {
    /// `query` without `type`, `detailed` format: only the field schema.
    FieldsOnly,
    Stored(LogQuery),
    Current(LogQuery),
}

const INVALID: &str = "Invalid request: expected {\"query\":{\"type\":\"stored\"|\"current\",...},\"fetch\":{...},\"format\":{...}}";

fn opt_i64(v: &Value, key: &str, what: &str) -> Result<Option<i64>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_i64()
            .or_else(|| x.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("Invalid {what}.{key}: expected an integer, got {x}")),
    }
}

/// Parse one client frame (already JSON) into a request, or the `failure`
/// text.
pub(crate) fn parse_request(v: &Value, fmt: &Format) -> Result<Request, String> {
    let q = v.get("query").filter(|q| q.is_object()).ok_or(INVALID)?;
    let empty = Value::Object(Map::new());
    let fetch = match v.get("fetch") {
        None | Some(Value::Null) => &empty,
        Some(f) if f.is_object() => f,
        Some(_) => return Err(INVALID.into()),
    };
    let detailed = matches!(fmt, Format::Single(s) if s.detailed);
    let kind = match q.get("type") {
        None | Some(Value::Null) if detailed => return Ok(Request::FieldsOnly),
        None | Some(Value::Null) => {
            return Err("Missing query.type: expected 'stored' or 'current'".into());
        }
        Some(Value::String(s)) if s == "stored" || s == "current" => s.as_str(),
        Some(other) => {
            return Err(format!(
                "Unknown log query type {other}: expected 'stored' or 'current'"
            ));
        }
    };
    let quantity = opt_i64(fetch, "quantity", "fetch")?.unwrap_or(0);
    let backwards = match fetch.get("backwards") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(x) => {
            return Err(format!(
                "Invalid fetch.backwards: expected a boolean, got {x}"
            ));
        }
    };
    let start_record = match fetch.get("start_record") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(x) => {
            return Err(format!(
                "Invalid fetch.start_record: expected a log key string, got {x}"
            ));
        }
    };
    let filter = match q.get("filter") {
        None | Some(Value::Null) => LogFilter(None),
        Some(f) => LogFilter(Some(
            smc_protocol::Filter::parse(f).map_err(|e| format!("Invalid filter: {e}"))?,
        )),
    };
    let lq = LogQuery {
        start_ms: opt_i64(q, "start_ms", "query")?.unwrap_or(0).max(0),
        end_ms: opt_i64(q, "end_ms", "query")?.unwrap_or(0).max(0),
        quantity: usize::try_from(quantity).unwrap_or(0),
        backwards,
        start_record,
        start_inclusive: fetch
            .get("start_inclusive")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        filter,
        raw_filter: q.get("filter").filter(|f| !f.is_null()).cloned(),
    };
    Ok(if kind == "stored" {
        Request::Stored(lq)
    } else {
        Request::Current(lq)
    })
}

// ---------------------------------------------------------------------------
// Rendering.

fn render_sub(values: &[(u32, String)], sub: &SubFormat) -> Map<String, Value> {
    values
        .iter()
        .filter(|(id, _)| sub.select.as_ref().is_none_or(|s| s.contains(id)))
        .map(|(id, v)| (sub.field_format.key(*id), Value::String(v.clone())))
        .collect()
}

/// One log record as the query's `format` wants it.
pub(crate) fn render_record(values: &[(u32, String)], fmt: &Format) -> Value {
    match fmt {
        Format::Single(sub) => Value::Object(render_sub(values, sub)),
        Format::Combined(subs) => Value::Object(
            subs.iter()
                .map(|(k, sub)| (k.clone(), Value::Object(render_sub(values, sub))))
                .collect(),
        ),
    }
}

/// Descriptors for the requested ids (in request order, once each), or for
/// every log field when none were requested.
pub(crate) fn descriptors(sub: &SubFormat) -> Vec<Value> {
    let mut ids: Vec<u32> = Vec::new();
    match &sub.select {
        Some(sel) => {
            for id in sel {
                if !ids.contains(id) {
                    ids.push(*id);
                }
            }
        }
        None => ids.extend_from_slice(LOG_FIELDS),
    }
    ids.into_iter().map(render::descriptor).collect()
}

/// The stored records as `id`-format records plus their log keys (the
/// ground truth of `GET /sim/logs`), newest first when `backwards`.
pub(crate) fn truth(shared: &Shared, backwards: bool) -> Value {
    let fmt = Format::Single(SubFormat {
        field_format: FieldFormat::Id,
        select: None,
        detailed: false,
    });
    let w = shared.world();
    let all: Vec<&Arc<LogRecord>> = if backwards {
        w.logs.records().rev().collect()
    } else {
        w.logs.records().collect()
    };
    let records: Vec<Value> = all.iter().map(|r| render_record(&r.values, &fmt)).collect();
    let keys: Vec<&str> = all.iter().map(|r| r.key.as_str()).collect();
    json!({"count": records.len(), "records": records, "log_keys": keys,
           "live_fetches": w.logs.live_fetches()})
}

/// `POST /sim/logs?count=N`: append N records now.
pub(crate) fn append_now(shared: &Shared, n: usize) -> usize {
    let mut w = shared.world();
    let w = &mut *w;
    let (engines, clock) = (w.log_engines().to_vec(), w.g.clock);
    w.logs.append(n, &engines, clock)
}

// ---------------------------------------------------------------------------
// The socket.

/// How a fetch ended.
enum Outcome {
    /// Done or aborted: the socket takes the next query.
    Next,
    /// The socket is gone.
    Closed,
}

/// Unregisters a `current` fetch from the history, and marks its ledger
/// entry ended.
struct LiveGuard<'a> {
    shared: &'a Shared,
    id: u64,
    fetch: i64,
}

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        self.shared.world().logs.unsubscribe(self.id);
        self.shared.log_sent().close(self.fetch);
    }
}

pub(crate) async fn serve(mut ws: Ws, shared: &Arc<Shared>) {
    // Each loop handles one client frame; bounded by the client's frames.
    loop {
        let t = match next_frame(&mut ws).await {
            Incoming::End => return,
            Incoming::TooBig(_) | Incoming::Other => continue,
            Incoming::Text(t) => t,
        };
        if let Some(id) = parse_abort(&t) {
            // The client aborts even after `end` (protocol §2.4).
            tracing::debug!(id, "abort with no running log fetch ignored");
            continue;
        }
        let outcome = match serde_json::from_str::<Value>(&t) {
            Ok(v) => fetch(&mut ws, shared, &v).await,
            Err(_) => failure(&mut ws, INVALID.into()).await,
        };
        if let Outcome::Closed = outcome {
            return;
        }
    }
}

async fn failure(ws: &mut Ws, reason: String) -> Outcome {
    tracing::info!(%reason, "log query refused");
    if send(ws, &json!({ "failure": reason })).await {
        Outcome::Next
    } else {
        Outcome::Closed
    }
}

async fn fetch(ws: &mut Ws, shared: &Arc<Shared>, v: &Value) -> Outcome {
    let fmt = render::parse_format(v.get("format"));
    let req = match parse_request(v, &fmt) {
        Ok(r) => r,
        Err(reason) => return failure(ws, reason).await,
    };
    let id = shared.next_fetch_id();
    let mut ok = json!({ "success": "Fetch started", "fetch": id });
    if let Format::Single(s) = &fmt {
        if s.detailed {
            ok["fields"] = Value::Array(descriptors(s));
        }
    }
    match req {
        Request::FieldsOnly => {
            if send(ws, &ok).await && send(ws, &json!({"fetch": id, "end": "end of data"})).await {
                Outcome::Next
            } else {
                Outcome::Closed
            }
        }
        Request::Stored(q) => {
            let selected = shared.world().logs.select(&q);
            let records = match selected {
                Ok(r) => r,
                Err(reason) => return failure(ws, reason).await,
            };
            tracing::debug!(fetch = id, records = records.len(), "stored log fetch");
            if !send(ws, &ok).await
                || !send(ws, &json!({"fetch": id, "status": "Querying..."})).await
            {
                return Outcome::Closed;
            }
            for chunk in records.chunks(BATCH) {
                let list: Vec<Value> = chunk
                    .iter()
                    .map(|r| render_record(&r.values, &fmt))
                    .collect();
                if !send(ws, &json!({"fetch": id, "records": list})).await {
                    return Outcome::Closed;
                }
                // An abort (e.g. after `fetch_batch`'s first message) stops the rest.
                match ws.next().now_or_never().map(classify) {
                    None | Some(Incoming::Other) => {}
                    Some(Incoming::End) => return Outcome::Closed,
                    Some(Incoming::TooBig(len)) => {
                        too_big(ws, len).await;
                        return Outcome::Closed;
                    }
                    Some(Incoming::Text(t)) => match parse_abort(&t) {
                        Some(a) if a == id => {
                            tracing::debug!(fetch = id, "stored log fetch aborted");
                            return Outcome::Next;
                        }
                        _ => tracing::debug!(
                            fetch = id,
                            "client frame during a stored fetch ignored"
                        ),
                    },
                }
            }
            if send(ws, &json!({"fetch": id, "end": "end of data"})).await {
                Outcome::Next
            } else {
                Outcome::Closed
            }
        }
        Request::Current(q) => current(ws, shared, id, &ok, &q, &fmt).await,
    }
}

async fn current(
    ws: &mut Ws,
    shared: &Arc<Shared>,
    id: i64,
    ok: &Value,
    q: &LogQuery,
    fmt: &Format,
) -> Outcome {
    shared.log_sent().open_with(id, q.raw_filter.clone());
    let Live {
        id: live_id,
        mut rx,
        overflow,
    } = shared.world().logs.subscribe();
    let _guard = LiveGuard {
        shared,
        id: live_id,
        fetch: id,
    };
    if !send(ws, ok).await || !send(ws, &json!({"fetch": id, "status": "Querying..."})).await {
        return Outcome::Closed;
    }
    loop {
        tokio::select! {
            _ = overflow.cancelled() => return Outcome::Closed,
            r = rx.recv() => {
                let Some(first) = r else { return Outcome::Closed };
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                if !send_live(ws, shared, id, &batch, q, fmt).await {
                    return Outcome::Closed;
                }
            }
            m = next_frame(ws) => match m {
                Incoming::End => return Outcome::Closed,
                Incoming::TooBig(_) | Incoming::Other => {}
                Incoming::Text(t) => match parse_abort(&t) {
                    Some(a) if a == id => {
                        tracing::debug!(fetch = id, "current log fetch aborted");
                        return Outcome::Next;
                    }
                    Some(a) => tracing::debug!(fetch = id, a, "abort of an unknown fetch ignored"),
                    None => tracing::debug!(fetch = id, "client frame during a current fetch ignored"),
                },
            }
        }
    }
}

/// Write the records of `batch` the query's filter passes, as one `records`
/// message of fetch `id` (none: nothing), in the ledger from just before the
/// write. False: the socket is gone.
async fn send_live(
    ws: &mut Ws,
    shared: &Shared,
    id: i64,
    batch: &[Arc<LogRecord>],
    q: &LogQuery,
    fmt: &Format,
) -> bool {
    let matching: Vec<&Arc<LogRecord>> = batch
        .iter()
        .filter(|r| q.filter.matches(&r.values))
        .collect();
    if matching.is_empty() {
        return true;
    }
    let list: Vec<Value> = matching
        .iter()
        .map(|r| render_record(&r.values, fmt))
        .collect();
    let n = shared
        .log_sent()
        .record(id, matching.iter().map(|r| Arc::clone(r)));
    if send(ws, &json!({"fetch": id, "records": list})).await {
        return true;
    }
    shared.log_sent().unrecord(id, n);
    false
}

/// `GET /sim/logs/sent`: every `current` fetch's ledger, oldest first, its
/// records in `id` format.
pub(crate) fn sent_truth(shared: &Shared) -> Value {
    let fmt = Format::Single(SubFormat {
        field_format: FieldFormat::Id,
        select: None,
        detailed: false,
    });
    let ledger = shared.log_sent();
    let fetches: Vec<Value> = ledger
        .entries()
        .map(|e| {
            let records: Vec<Value> = e
                .items
                .iter()
                .map(|r| render_record(&r.values, &fmt))
                .collect();
            json!({"fetch": e.id, "live": e.live, "sent": e.sent(), "records": records,
                   "dropped": e.dropped, "filter": e.filter})
        })
        .collect();
    json!({"fetches": fetches, "dropped_fetches": ledger.dropped_entries()})
}

#[cfg(test)]
mod tests {
    use super::super::world::World;
    use super::*;

    fn value(r: &LogRecord, id: u32) -> Option<&str> {
        r.values
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v.as_str())
    }

    fn q(v: Value) -> Result<Request, String> {
        let fmt = render::parse_format(v.get("format"));
        parse_request(&v, &fmt)
    }

    #[test]
    fn requests_parse() {
        let meta = json!({"fetch":{"quantity":0},"format":{"type":"detailed","field_ids":[1,4]},"query":{}});
        assert!(matches!(q(meta), Ok(Request::FieldsOnly)));
        let Ok(Request::Stored(s)) = q(json!({"query":{"start_ms":0,"end_ms":0,"type":"stored"},
                                               "fetch":{"quantity":5,"backwards":true},
                                               "format":{"type":"texts","field_format":"pretty"}}))
        else {
            panic!("stored")
        };
        assert_eq!(
            (s.quantity, s.backwards, s.start_ms, s.end_ms),
            (5, true, 0, 0)
        );
        let Ok(Request::Current(c)) =
            q(json!({"query":{"type":"current","start_ms":10,"end_ms":20},
                                                "fetch":{"backwards":false}}))
        else {
            panic!("current")
        };
        assert_eq!(
            (c.quantity, c.backwards, c.start_ms, c.end_ms),
            (0, false, 10, 20)
        );
        assert_eq!(
            q(json!({"query":{"type":"history"}})).unwrap_err(),
            "Unknown log query type \"history\": expected 'stored' or 'current'"
        );
        assert_eq!(
            q(json!({"query":{}})).unwrap_err(),
            "Missing query.type: expected 'stored' or 'current'"
        );
        assert_eq!(q(json!({"fetch":{}})).unwrap_err(), INVALID);
        assert_eq!(
            q(json!({"query":{"type":"stored"},"fetch":{"quantity":"many"}})).unwrap_err(),
            "Invalid fetch.quantity: expected an integer, got \"many\""
        );
        let Ok(Request::Stored(s)) = q(json!({"query":{"type":"stored"},"fetch":{"quantity":-3}}))
        else {
            panic!("stored")
        };
        assert_eq!(s.quantity, 0);
    }

    #[test]
    fn descriptors_cover_every_requested_id() {
        let Format::Single(sub) = render::parse_format(Some(
            &json!({"type":"detailed","field_ids":[1, 134, 3000, 4242, 1]}),
        )) else {
            panic!("single")
        };
        let d = descriptors(&sub);
        let ids: Vec<u64> = d.iter().map(|d| d["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, [1, 134, 3000, 4242]);
        assert_eq!(
            d[0],
            json!({"id":1,"name":"Timestamp","pretty":"Creation Time",
                   "comment":"Time of creating the event record.","filterable":false,
                   "raw_type":"time_ms","visible":true})
        );
        assert_eq!(d[3]["name"], "Field4242");
        assert_eq!(d[3]["pretty"], "Field 4242");
    }

    #[test]
    fn history_is_seeded_and_catalogued() {
        let a = World::generate(9, 1);
        let b = World::generate(9, 1);
        let keys = |w: &World| -> Vec<String> { w.logs.records().map(|r| r.key.clone()).collect() };
        assert_eq!(keys(&a), keys(&b));
        assert_ne!(keys(&a), keys(&World::generate(10, 1)));
        assert!((300..=600).contains(&a.logs.records().count()));
        let mut last = i64::MIN;
        for r in a.logs.records() {
            assert!(r.time_ms >= last, "history not chronological");
            last = r.time_ms;
            assert_eq!(value(r, 1), Some(fmt_time(r.time_ms / 1000).as_str()));
            for (id, _) in &r.values {
                assert!(LOG_FIELDS.contains(id), "field {id} not in LOG_FIELDS");
                assert!(
                    smc_protocol::field_by_id(*id).is_some(),
                    "field {id} not in catalog"
                );
            }
            let facility = value(r, 22).unwrap();
            assert!(facility == "Inspection" || facility == "Packet Filtering");
        }
    }

    #[test]
    fn records_carry_zones_rule_tags_and_accounting() {
        let mut w = World::generate(9, 1);
        for _ in 0..1500 {
            w.step();
        }
        let (mut closed, mut nat, mut outbound_allow, mut inspection) = (0, 0, 0, 0);
        let mut zones = std::collections::BTreeSet::new();
        for r in w.logs.records() {
            let f = |id| value(r, id);
            for (addr, zone_id) in [(7, 46), (8, 47)] {
                let (a, z) = (f(addr).unwrap(), f(zone_id).unwrap());
                zones.insert(z.to_string());
                let third: u8 = a.split('.').nth(2).unwrap().parse().unwrap();
                let expect = match (a.starts_with("10."), third < 4) {
                    (true, true) => "DMZ",
                    (true, false) => "Internal",
                    (false, _) => "External",
                };
                assert_eq!(z, expect, "{a}");
            }
            let accounting = [f(104), f(105), f(106)];
            if f(22) == Some("Inspection") {
                inspection += 1;
                assert_eq!((f(20), f(21)), (None, None), "{:?}", r.values);
                assert_eq!(accounting, [None; 3]);
                continue;
            }
            // The rule tag is the rule the information message names.
            let tag = f(20).unwrap();
            assert!(
                f(19).unwrap().ends_with(&format!(" {tag}")),
                "{:?}",
                r.values
            );
            let rule: u32 = tag[1..tag.len() - 2].parse().unwrap();
            assert!((2..40).contains(&rule) && tag.ends_with(".1"), "{tag}");
            let out = f(46) != Some("External") && f(47) == Some("External");
            if out && f(14) == Some("Allow") {
                outbound_allow += 1;
            }
            if let Some(n) = f(21) {
                nat += 1;
                assert!(out && f(14) == Some("Allow"), "{:?}", r.values);
                let n: u32 = n[1..n.len() - 2].parse().unwrap();
                assert!((1..=12).contains(&n) && f(21).unwrap().ends_with(".0"));
            }
            if f(6) == Some("Connection closed") {
                closed += 1;
                let elapsed: u64 = f(104).unwrap().parse().unwrap();
                assert!(elapsed < 10_800, "{elapsed}");
                for b in [f(105), f(106)] {
                    let b: u64 = b.unwrap().parse().unwrap();
                    assert!((100..10_000_000_000).contains(&b), "{b}");
                }
            } else {
                assert_eq!(accounting, [None; 3], "{:?}", r.values);
            }
        }
        assert_eq!(
            zones.into_iter().collect::<Vec<_>>(),
            ["DMZ", "External", "Internal"]
        );
        assert!(inspection > 100 && closed > 200, "{inspection} {closed}");
        // About a third of the outbound Allow records.
        let share = f64::from(nat) / f64::from(outbound_allow);
        assert!((0.25..0.42).contains(&share), "{nat} of {outbound_allow}");
        // Byte counts spread over orders of magnitude.
        let bytes: Vec<u64> = w
            .logs
            .records()
            .filter_map(|r| value(r, 105))
            .map(|b| b.parse().unwrap())
            .collect();
        let (min, max) = (bytes.iter().min().unwrap(), bytes.iter().max().unwrap());
        assert!(*min < 1_000 && *max > 100_000_000, "{min}..{max}");
    }

    /// `digest_without_new_fields` on commit 1777051.
    const OLD_DIGEST: (usize, u64) = (732, 5_962_374_483_674_212_832);

    /// xxh3 of every stored record's key and values (without the fields
    /// added by issue 13) of seed 9 after 200 steps.
    fn digest_without_new_fields() -> (usize, u64) {
        let mut w = World::generate(9, 1);
        for _ in 0..200 {
            w.step();
        }
        let mut text = String::new();
        for r in w.logs.records() {
            let old: Vec<&(u32, String)> = r
                .values
                .iter()
                .filter(|(id, _)| ![20, 21, 46, 47, 104, 105, 106].contains(id))
                .collect();
            text.push_str(&format!("{} {old:?}\n", r.key));
        }
        (
            w.logs.records().count(),
            xxhash_rust::xxh3::xxh3_64(text.as_bytes()),
        )
    }

    #[test]
    fn new_fields_leave_the_others_as_they_were() {
        // The same figure as before zones, rule tags and accounting existed
        // (commit 1777051).
        assert_eq!(digest_without_new_fields(), OLD_DIGEST);
    }

    #[test]
    fn stored_selection_orders_bounds_and_starts() {
        let mut w = World::generate(4, 1);
        for _ in 0..50 {
            w.step();
        }
        let all: Vec<Arc<LogRecord>> = w.logs.records().cloned().collect();
        let base = LogQuery {
            start_ms: 0,
            end_ms: 0,
            quantity: 0,
            backwards: true,
            start_record: None,
            start_inclusive: true,
            filter: LogFilter::default(),
            raw_filter: None,
        };
        let keys =
            |v: &[Arc<LogRecord>]| -> Vec<String> { v.iter().map(|r| r.key.clone()).collect() };
        let newest = w
            .logs
            .select(&LogQuery {
                quantity: 7,
                ..base.clone()
            })
            .unwrap();
        let expect: Vec<Arc<LogRecord>> = all.iter().rev().take(7).cloned().collect();
        assert_eq!(keys(&newest), keys(&expect));
        let oldest = w
            .logs
            .select(&LogQuery {
                quantity: 3,
                backwards: false,
                ..base.clone()
            })
            .unwrap();
        assert_eq!(keys(&oldest), keys(&all[..3]));
        assert_eq!(w.logs.select(&base).unwrap().len(), all.len());

        let mid = all[all.len() / 2].time_ms;
        let bounded = w
            .logs
            .select(&LogQuery {
                start_ms: mid,
                end_ms: mid,
                backwards: false,
                ..base.clone()
            })
            .unwrap();
        let expect: Vec<Arc<LogRecord>> =
            all.iter().filter(|r| r.time_ms == mid).cloned().collect();
        assert!(!expect.is_empty());
        assert_eq!(keys(&bounded), keys(&expect));

        let from = w
            .logs
            .select(&LogQuery {
                start_record: Some(all[10].key.clone()),
                backwards: false,
                quantity: 2,
                ..base.clone()
            })
            .unwrap();
        assert_eq!(keys(&from), keys(&all[10..12]));
        let after = w
            .logs
            .select(&LogQuery {
                start_record: Some(all[10].key.clone()),
                start_inclusive: false,
                backwards: false,
                quantity: 2,
                ..base.clone()
            })
            .unwrap();
        assert_eq!(keys(&after), keys(&all[11..13]));
        assert_eq!(
            w.logs
                .select(&LogQuery {
                    start_record: Some("nope".into()),
                    ..base
                })
                .unwrap_err(),
            "Unknown start_record 'nope'"
        );
    }

    #[test]
    fn rendering_follows_field_format() {
        let values = vec![
            (1, "2024-01-01 00:00:00".to_string()),
            (9, "22".into()),
            (4242, "x".into()),
        ];
        let r = render_record(
            &values,
            &render::parse_format(Some(&json!({"field_format":"pretty"}))),
        );
        assert_eq!(
            r,
            json!({"Creation Time":"2024-01-01 00:00:00","Src Port":"22","Field4242":"x"})
        );
        let r = render_record(
            &values,
            &render::parse_format(Some(&json!({"field_format":"id","field_ids":[9]}))),
        );
        assert_eq!(r, json!({"9":"22"}));
        let r = render_record(
            &values,
            &render::parse_format(Some(
                &json!({"type":"combined","formats":{"a":{"field_format":"name","field_ids":[1]}}}),
            )),
        );
        assert_eq!(r, json!({"a":{"Timestamp":"2024-01-01 00:00:00"}}));
    }

    #[test]
    fn history_is_capped_and_live_subscribers_get_appends() {
        let mut w = World::generate(2, 1);
        let mut live = w.logs.subscribe();
        let w2 = &mut w;
        assert_eq!(w2.logs.append(3, &w2.g.engines, w2.g.clock), 3);
        let mut got = Vec::new();
        while let Ok(r) = live.rx.try_recv() {
            got.push(r.key.clone());
        }
        let stored: Vec<String> = w
            .logs
            .records()
            .rev()
            .take(3)
            .rev()
            .map(|r| r.key.clone())
            .collect();
        assert_eq!(got, stored);
        w.logs.unsubscribe(live.id);
        let w2 = &mut w;
        w2.logs.append(MAX_STORED, &w2.g.engines, w2.g.clock);
        assert_eq!(w.logs.records().count(), MAX_STORED);
        assert!(!live.overflow.is_cancelled());
    }
}
