//! The simulated world: engines, admin domains and one table per
//! (definition, target), generated from the seed and mutated by churn steps.
//!
//! Everything here is a function of the seed and the number of steps: the
//! clock is a simulated one that advances with each step.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use smc_protocol::{Change, Definition};

use crate::engines::{
    EngineError, EngineTruth, HealthRng, NODE_STATES, NODE_STATUSES, NodeHealth, check_name,
    find_node, set_status, truth,
};
use crate::truth::{TableTruth, TruthRow};

/// 2024-01-01 00:00:00 UTC.
const EPOCH_2024: i64 = 1_704_067_200;

/// Derive the API key accepted at login from the seed (24 alphanumerics,
/// like an SMC API client's authentication key).
pub(crate) fn derive_api_key(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_a91c_e7ed_0001);
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The first fetch id: a seeded negative number near the doc example
/// `-1616514795`, so that negative ids (and the crossing of zero is far) occur.
pub(crate) fn first_fetch_id(seed: u64) -> i64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xfe7c_0000_0000_0002);
    -1_616_514_795 - rng.random_range(0..1_000_000_i64)
}

/// `YYYY-MM-DD HH:MM:SS` of a UTC unix time.
pub(crate) fn fmt_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A firewall engine (single or cluster).
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    pub name: String,
    pub nodes: Vec<String>,
    /// Element path below `/elements/`, e.g. `single_fw/1649`.
    pub element: String,
    /// Admin domain the engine belongs to (`SenderDomain`).
    pub domain: String,
    /// Second octet of the engine's internal 10.x.0.0/16.
    pub site: u8,
    /// Public address of the engine's VPN endpoint.
    pub public_ip: Ipv4Addr,
    /// VPN peer gateways of this engine.
    pub peers: Vec<&'static str>,
    /// False once removed (`POST /sim/engines?action=remove`): its tables
    /// and element are gone; the entry stays so table scopes keep their
    /// indices.
    pub live: bool,
    /// Each node's health (`engines.rs`), in `nodes` order.
    pub health: Vec<crate::engines::NodeHealth>,
}

/// One row of a session-monitoring table.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The binary natural key; its base64 is the `delta_key`.
    pub key: Vec<u8>,
    /// `NodeId` (and `CompId`): the node that reports the entry.
    pub node: Arc<str>,
    /// `SenderDomain`.
    pub domain: Arc<str>,
    /// Element path of the reporting engine (for hrefs).
    pub element: Arc<str>,
    /// `Timestamp`: creation time.
    pub created: i64,
    /// `ReceptionTime`: last change.
    pub received: i64,
    pub data: Data,
}

impl Entry {
    pub fn delta_key(&self) -> String {
        B64.encode(&self.key)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Data {
    Connection(Connection),
    BlockList(BlockEntry),
    VpnSa(VpnSa),
    User(User),
    Route(Route),
    SslVpn(SslVpnSession),
    Alert(Alert),
    Neighbor(Neighbor),
}

#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub protocol: &'static str,
    pub state: &'static str,
    pub service: &'static str,
    pub src_if: &'static str,
    pub dst_if: &'static str,
    pub src_zone: &'static str,
    pub dst_zone: &'static str,
    pub timeout: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct BlockEntry {
    pub id: u64,
    pub src: Ipv4Addr,
    pub src_prefix: u8,
    pub dst: Ipv4Addr,
    pub dst_prefix: u8,
    pub protocol: &'static str,
    pub sport: u16,
    pub dport: u16,
    pub duration: u32,
    pub blacklister: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct VpnSa {
    pub spi: u32,
    pub vpn: &'static str,
    pub gateway: Arc<str>,
    pub endpoint: String,
    pub peer_gateway: &'static str,
    pub peer_endpoint: String,
    pub sa_class: &'static str,
    pub cipher: &'static str,
    pub role: &'static str,
    pub local_nets: String,
    pub peer_nets: String,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub expires: i64,
}

impl VpnSa {
    /// IKE SAs run over UDP (500/4500); IPsec SAs carry ESP.
    pub fn protocol(&self) -> &'static str {
        if self.sa_class == "IKE" { "UDP" } else { "ESP" }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub name: String,
    pub ip: Ipv4Addr,
    pub id_service: &'static str,
    pub expires: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub network: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub route_type: &'static str,
    pub dst_if: &'static str,
    pub vlan: u16,
    pub zone: &'static str,
    pub metric: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct SslVpnSession {
    pub id: String,
    pub src: Ipv4Addr,
    pub user: String,
    pub session_type: &'static str,
    pub started: i64,
    pub timeout: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Alert {
    /// Rendered severity: `Info`, `Low`, `High` or `Critical`.
    pub severity: &'static str,
    pub action: &'static str,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub protocol: &'static str,
    pub service: &'static str,
    pub situation: &'static str,
    pub vuln_refs: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Neighbor {
    pub interface: &'static str,
    /// `IPv4` or `IPv6`.
    pub protocol: &'static str,
    pub l3: String,
    pub l2: String,
    pub state: &'static str,
}

// ---------------------------------------------------------------------------
// Value pools (weights where realism matters).

const CONN_PROTOCOLS: &[(&str, u32)] = &[("TCP", 60), ("UDP", 28), ("ICMP", 8), ("ESP", 4)];
const TCP_STATES: &[(&str, u32)] = &[
    ("TCP established", 60),
    ("TCP syn seen", 8),
    ("TCP syn ack seen", 4),
    ("TCP time wait", 12),
    ("TCP fin wait 1", 5),
    ("TCP fin wait 2", 4),
    ("TCP close wait", 4),
    ("TCP last ack", 3),
];
const UDP_STATES: &[(&str, u32)] = &[("UDP established", 80), ("UDP unidirectional", 20)];
const ICMP_STATES: &[(&str, u32)] = &[("ICMP echo", 80), ("ICMP echo reply", 20)];
const ESP_STATES: &[(&str, u32)] = &[("ESP established", 100)];
const TCP_SERVICES: &[(u16, &str, u32)] = &[
    (443, "HTTPS", 50),
    (80, "HTTP", 15),
    (22, "SSH", 6),
    (25, "SMTP", 4),
    (3389, "RDP", 4),
    (445, "Microsoft-DS", 5),
    (8080, "HTTP proxy", 6),
    (993, "IMAPS", 3),
    (1433, "MSSQL", 3),
];
const UDP_SERVICES: &[(u16, &str, u32)] = &[
    (53, "DNS (UDP)", 60),
    (123, "NTP (UDP)", 15),
    (514, "Syslog (UDP)", 10),
    (443, "QUIC (UDP)", 15),
];
const INTERFACES: &[&str] = &[
    "Interface #0",
    "Interface #1",
    "Interface #2",
    "Interface #3",
    "Interface #4",
];
const INTERNAL_ZONES: &[&str] = &["Internal", "DMZ", "Guest", "Servers"];
const PUBLIC_PREFIXES: &[[u8; 2]] = &[
    [52, 206],
    [13, 107],
    [142, 250],
    [151, 101],
    [104, 16],
    [185, 199],
    [20, 190],
    [31, 13],
    [93, 184],
];
const BLACKLISTERS: &[(&str, u32)] = &[
    ("Management Server", 30),
    ("Inspection", 45),
    ("Anti-Malware", 15),
    ("Sandbox", 10),
];
const BLOCK_PROTOCOLS: &[(&str, u32)] = &[("TCP", 55), ("UDP", 20), ("ANY", 25)];
const PEERS: &[&str] = &[
    "ciscoasa-5505",
    "Stockholm Branch",
    "Oslo DC",
    "AWS Transit GW",
    "Azure VNG",
    "Partner Paris",
    "Tallinn Office",
    "plano-fw-peer",
];
const VPNS: &[&str] = &["Corporate VPN", "Partner VPN", "Cloud VPN"];
const CIPHERS: &[(&str, u32)] = &[
    ("AES-GCM-256", 50),
    ("AES-256", 25),
    ("AES-128", 15),
    ("AES-GCM-128", 10),
];
const FIRST_NAMES: &[&str] = &[
    "anna", "mikko", "john", "maria", "li", "pekka", "sara", "ahmed", "olga", "jose", "emma",
    "noah", "aino", "lars", "chen", "fatima", "tom", "julia", "ravi", "kaisa",
];
const USER_DOMAINS: &[&str] = &[
    "corp.example.com",
    "lepages.local domain",
    "branch.example.net",
];
const ID_SERVICES: &[(&str, u32)] = &[
    ("Forcepoint User ID Service", 50),
    ("Integrated User ID Service", 25),
    ("Browser-Based Authentication", 15),
    ("RADIUS", 10),
];
const ROUTE_TYPES: &[(&str, u32)] = &[
    ("Connected", 20),
    ("Static", 35),
    ("Dynamic", 40),
    ("Policy", 5),
];
const NEIGHBOR_STATES: &[(&str, u32)] = &[
    ("Reachable", 45),
    ("Stale", 25),
    ("Delay", 8),
    ("Probe", 7),
    ("Permanent", 10),
    ("Incomplete", 5),
];
const SEVERITIES: &[(&str, u32)] = &[("Info", 40), ("Low", 30), ("High", 20), ("Critical", 10)];
const ALERT_ACTIONS: &[&str] = &["Allow", "Discard", "Refuse", "Terminate", "Permit"];
const SITUATIONS: &[(&str, &str)] = &[
    ("HTTP_CS-Suspicious-Header", ""),
    ("SSH_Brute-Force-Login", ""),
    ("Anti-Malware_Malware-Detected", ""),
    ("TCP_SYN-Flood", ""),
    ("DNS_Tunneling-Detected", ""),
    ("HTTP_Log4j-JNDI-Lookup", "CVE-2021-44228"),
    ("SMB_EternalBlue-Exploit", "CVE-2017-0144, MS17-010"),
    ("System_Engine-Node-Offline", ""),
    ("Certificate_Expiring", ""),
    ("Policy_Installation-Failed", ""),
];

fn pick_w<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| *w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (v, w) in items {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Pick a weighted value different from `current` when the pool allows it.
fn pick_other(rng: &mut ChaCha8Rng, items: &[(&'static str, u32)], current: &str) -> &'static str {
    let others: Vec<(&'static str, u32)> = items
        .iter()
        .copied()
        .filter(|(v, _)| *v != current)
        .collect();
    if others.is_empty() {
        pick_w(rng, items)
    } else {
        pick_w(rng, &others)
    }
}

fn states_for(protocol: &str) -> &'static [(&'static str, u32)] {
    match protocol {
        "TCP" => TCP_STATES,
        "UDP" => UDP_STATES,
        "ICMP" => ICMP_STATES,
        _ => ESP_STATES,
    }
}

fn public_ip(rng: &mut ChaCha8Rng) -> Ipv4Addr {
    let p = pick(rng, PUBLIC_PREFIXES);
    Ipv4Addr::new(
        p[0],
        p[1],
        rng.random_range(0..=255),
        rng.random_range(1..=254),
    )
}

fn internal_ip(rng: &mut ChaCha8Rng, site: u8) -> Ipv4Addr {
    Ipv4Addr::new(
        10,
        site,
        rng.random_range(0..=31),
        rng.random_range(1..=254),
    )
}

fn mac(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 6] = rng.random();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0] & 0xfe,
        b[1],
        b[2],
        b[3],
        b[4],
        b[5]
    )
}

fn user_name(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}.{}{}@{}",
        pick(rng, FIRST_NAMES),
        pick(rng, FIRST_NAMES),
        rng.random_range(1..100),
        pick(rng, USER_DOMAINS)
    )
}

// ---------------------------------------------------------------------------
// Tables and subscribers.

/// A change pushed to the subscribers of one table.
#[derive(Debug, Clone)]
pub(crate) struct Delta {
    pub kind: Change,
    pub entry: Arc<Entry>,
}

/// A live-delta subscriber (one session socket's fetch).
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub id: u64,
    pub tx: mpsc::Sender<Delta>,
    /// Cancelled when the subscriber's queue overflowed: its socket must close.
    pub overflow: CancellationToken,
}

/// A fetch's snapshot and its registration for live deltas.
#[derive(Debug)]
pub(crate) struct Subscribed {
    pub snapshot: Vec<Arc<Entry>>,
    pub rx: mpsc::Receiver<Delta>,
    /// Subscriber id, for [`World::unsubscribe`].
    pub id: u64,
    /// Cancelled when the queue overflowed.
    pub overflow: CancellationToken,
}

/// Who a table belongs to.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    Engine(usize),
    Domain(usize),
}

#[derive(Debug)]
pub(crate) struct Table {
    pub def: Definition,
    pub target: String,
    pub scope: Scope,
    /// Size at generation; churn keeps the table within about [0.5×, 1.5×].
    pub initial: usize,
    pub entries: Vec<Arc<Entry>>,
    pub subscribers: Vec<Subscriber>,
    /// Subscribers closed because their queue overflowed (fault `burst`).
    pub overflows: u64,
}

impl Table {
    fn notify(&mut self, kind: Change, entry: &Arc<Entry>) {
        self.subscribers.retain(|s| {
            match s.tx.try_send(Delta {
                kind,
                entry: entry.clone(),
            }) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        subscriber = s.id,
                        "session socket queue overflow; closing it"
                    );
                    s.overflow.cancel();
                    self.overflows += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

/// Generator state: everything but the tables, so entries can be generated
/// while a table is borrowed.
#[derive(Debug)]
pub(crate) struct Gen {
    rng: ChaCha8Rng,
    /// Simulated unix time.
    pub clock: i64,
    serial: u32,
    next_block_id: u64,
    pub engines: Vec<Engine>,
    pub domains: Vec<String>,
}

/// The five named engines of every world: name, nodes, element type, domain.
const ENGINE_SPECS: [(&str, u32, &str, &str); 5] = [
    ("Helsinki FW", 1, "single_fw", "Shared Domain"),
    ("plano-fw", 1, "single_fw", "Branch Offices"),
    ("ngf-1065", 1, "single_fw", "Branch Offices"),
    ("HQ Cluster", 2, "fw_cluster", "Shared Domain"),
    ("DC Cluster", 2, "fw_cluster", "Shared Domain"),
];

/// A new engine (health filled in by the world).
fn new_engine(
    rng: &mut ChaCha8Rng,
    i: usize,
    (name, nodes, _kind, domain): (&str, u32, &str, &str),
) -> Engine {
    let mut peers: Vec<&'static str> = PEERS.to_vec();
    // A deterministic shuffle, then keep 2..=5 peers.
    for j in (1..peers.len()).rev() {
        peers.swap(j, rng.random_range(0..=j));
    }
    peers.truncate(rng.random_range(2..=5));
    Engine {
        name: name.to_string(),
        nodes: (1..=nodes).map(|n| format!("{name} node {n}")).collect(),
        element: String::new(),
        domain: domain.to_string(),
        site: (10 + i * 10 % 240) as u8,
        public_ip: Ipv4Addr::new(198, 51, 100 + (i / 35) as u8 % 100, 10 + (i % 35) as u8 * 7),
        peers,
        live: true,
        health: Vec::new(),
    }
}

/// The shape of the engine past the five named ones with index `i`:
/// `fw-006`, `fw-007`, … (`fw-006` and every third after it a two-node cluster), domains alternating.
fn extra_spec(i: usize) -> (String, u32, &'static str, &'static str) {
    let cluster = i % 3 == 2;
    (
        format!("fw-{:03}", i + 1),
        if cluster { 2 } else { 1 },
        if cluster { "fw_cluster" } else { "single_fw" },
        if i % 2 == 0 {
            "Shared Domain"
        } else {
            "Branch Offices"
        },
    )
}

/// The engines of a world of `count` engines: the first five named ones
/// (drawn from the table stream `rng`, as they always were), then
/// generated ones from their own stream, so a world of five is the same
/// world it always was.
fn generate_engines(rng: &mut ChaCha8Rng, seed: u64, count: usize) -> Vec<Engine> {
    let mut engines = Vec::new();
    for (i, spec) in ENGINE_SPECS.into_iter().enumerate().take(count) {
        let mut e = new_engine(rng, i, spec);
        e.site = 10 + i as u8 * 10;
        e.public_ip = Ipv4Addr::new(198, 51, 100, 10 + i as u8 * 7);
        e.element = format!("{}/{}", spec.2, rng.random_range(100..2000) * 10 + i as u32);
        engines.push(e);
    }
    let mut extra = ChaCha8Rng::seed_from_u64(seed ^ 0xe4_91e5_0000_0006);
    for i in ENGINE_SPECS.len()..count {
        let (name, nodes, kind, domain) = extra_spec(i);
        let mut e = new_engine(&mut extra, i, (&name, nodes, kind, domain));
        e.element = format!("{kind}/{}", 50_000 + i);
        engines.push(e);
    }
    engines
}

/// The generator state and the session tables of a world from `seed` with
/// `count` engines. `keep_engines`: use these engines instead of the
/// generated ones (the generator stream is the same either way).
fn generate_tables(
    seed: u64,
    scale: u32,
    count: usize,
    keep_engines: Option<Vec<Engine>>,
) -> (Gen, Vec<Table>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let clock = EPOCH_2024 + rng.random_range(0..365 * 86_400);
    let domains = vec!["Shared Domain".to_string(), "Branch Offices".to_string()];
    let mut engines = generate_engines(&mut rng, seed, count);
    if let Some(kept) = keep_engines {
        engines = kept;
    }
    let mut g = Gen {
        rng,
        clock,
        serial: 0,
        next_block_id: 1,
        engines,
        domains,
    };
    let mut tables = Vec::new();
    for e in 0..g.engines.len() {
        if g.engines[e].live {
            tables.extend(engine_tables(&mut g, e, scale));
        }
    }
    let scale = scale.max(1) as usize;
    for d in 0..g.domains.len() {
        let n = g.rng.random_range(20..=120) * scale;
        let scope = Scope::Domain(d);
        let entries = (0..n)
            .map(|_| Arc::new(g.entry(Definition::ActiveAlerts, &scope, true)))
            .collect();
        tables.push(Table {
            def: Definition::ActiveAlerts,
            target: g.domains[d].clone(),
            scope,
            initial: n,
            entries,
            subscribers: Vec::new(),
            overflows: 0,
        });
    }
    (g, tables)
}

/// The engine-scoped tables of engine `e`, drawn from the table stream.
fn engine_tables(g: &mut Gen, e: usize, scale: u32) -> Vec<Table> {
    let scale = scale.max(1) as usize;
    let mut tables = Vec::new();
    for def in Definition::engine_scoped() {
        let base = match def {
            Definition::Connections => {
                let mut n = g.rng.random_range(300..=900);
                if n % 200 == 0 {
                    n += 13;
                }
                n
            }
            Definition::BlockList => g.rng.random_range(8..=60),
            Definition::VpnSa => g.rng.random_range(10..=40),
            Definition::Users => g.rng.random_range(20..=150),
            Definition::Routing => g.rng.random_range(12..=60),
            // plano-fw and the generated engines (fw-006 …) have no SSL
            // VPN portal: empty tables (the memory benchmark subscribes
            // hundreds of them).
            Definition::SslVpn if g.engines[e].name == "plano-fw" || e >= ENGINE_SPECS.len() => 0,
            Definition::SslVpn => g.rng.random_range(5..=40),
            Definition::Neighbors => g.rng.random_range(10..=80),
            Definition::ActiveAlerts => 0,
        };
        let n = base * scale;
        let scope = Scope::Engine(e);
        let entries = (0..n)
            .map(|_| Arc::new(g.entry(def, &scope, true)))
            .collect();
        tables.push(Table {
            def,
            target: g.engines[e].name.clone(),
            scope,
            initial: n,
            entries,
            subscribers: Vec::new(),
            overflows: 0,
        });
    }
    tables
}

#[derive(Debug)]
pub(crate) struct World {
    pub g: Gen,
    pub tables: Vec<Table>,
    next_subscriber: u64,
    pub steps: u64,
    /// The log history served by the log socket (`super::logs`).
    pub logs: super::logs::LogHistory,
    /// The element registry behind the notification socket and element REST
    /// (`super::notify`).
    pub elements: super::notify::Elements,
    /// The node-health stream (`super::engines`).
    health: HealthRng,
    /// Size multiplier of the tables (for engines added live).
    scale: u32,
    /// The engines new log records come from once one was removed (the
    /// live ones); `None` while none was: then all of them, as always.
    log_engines: Option<Vec<Engine>>,
}

impl World {
    /// A world of the five named engines.
    #[cfg(test)]
    pub fn generate(seed: u64, scale: u32) -> World {
        World::generate_n(seed, scale, ENGINE_SPECS.len())
    }

    /// A world of `engines` engines (at least 1): the five named ones
    /// first, then `fw-006`, `fw-007`, … ([`extra_spec`]).
    pub fn generate_n(seed: u64, scale: u32, engines: usize) -> World {
        let (mut g, tables) = generate_tables(seed, scale, engines.max(1), None);
        // Own seeded streams: the tables' sequence does not depend on them.
        let logs = super::logs::LogHistory::generate(seed, &g.engines, g.clock);
        let elements = super::notify::Elements::generate(seed, &g.engines);
        let mut health = HealthRng::new(seed);
        for e in &mut g.engines {
            e.health = health.generate(&e.nodes);
        }
        World {
            g,
            tables,
            next_subscriber: 1,
            steps: 0,
            logs,
            elements,
            health,
            scale,
            log_engines: None,
        }
    }

    /// `POST /sim/engines?action=add`: a new live engine of `nodes` nodes
    /// (`single_fw` for one, else `fw_cluster`) in the first admin domain,
    /// with its tables, its element (a `create` event) and online nodes.
    pub fn add_engine(&mut self, name: &str, nodes: u32) -> Result<EngineTruth, EngineError> {
        check_name(name)?;
        if !(1..=8).contains(&nodes) {
            return Err(EngineError::Nodes);
        }
        if self.g.engines.iter().any(|e| e.live && e.name == name) {
            return Err(EngineError::Exists(name.to_string()));
        }
        let i = self.g.engines.len();
        let kind = if nodes == 1 {
            "single_fw"
        } else {
            "fw_cluster"
        };
        let domain = self.g.domains[0].clone();
        let mut e = new_engine(&mut self.g.rng, i, (name, nodes, kind, &domain));
        e.element = format!("{kind}/{}", 50_000 + i);
        e.health = self.health.generate(&e.nodes);
        self.elements.add_engine(kind, 50_000 + i as u64, name);
        if let Some(l) = &mut self.log_engines {
            l.push(e.clone());
        }
        self.g.engines.push(e);
        let tables = engine_tables(&mut self.g, i, self.scale);
        self.tables.extend(tables);
        Ok(truth(&self.g.engines[i]))
    }

    /// `POST /sim/engines?action=remove`: the engine's listing entry,
    /// element (a `delete` event) and tables go; its session sockets see
    /// their queues close and end; a new query for it fails as for an
    /// unknown engine.
    pub fn remove_engine(&mut self, name: &str) -> Result<(), EngineError> {
        let live = self.g.engines.iter().filter(|e| e.live).count();
        let Some(i) = self.g.engines.iter().position(|e| e.live && e.name == name) else {
            return Err(EngineError::NoEngine(name.to_string()));
        };
        if live == 1 {
            return Err(EngineError::Last);
        }
        self.g.engines[i].live = false;
        self.log_engines = Some(self.live_engines().cloned().collect());
        self.tables
            .retain(|t| !matches!(t.scope, Scope::Engine(e) if e == i));
        if let Some((kind, id)) = self.g.engines[i].element.split_once('/') {
            if let Ok(id) = id.parse::<u64>() {
                self.elements.remove_engine(kind, id);
            }
        }
        Ok(())
    }

    /// `POST /sim/nodes`: set one node's status (and state).
    pub fn set_node_status(
        &mut self,
        engine: &str,
        node: &str,
        status: &str,
        state: Option<&str>,
    ) -> Result<NodeHealth, EngineError> {
        if !NODE_STATUSES.contains(&status) {
            return Err(EngineError::Status);
        }
        if state.is_some_and(|s| !NODE_STATES.contains(&s)) {
            return Err(EngineError::State);
        }
        let e = self
            .g
            .engines
            .iter_mut()
            .find(|e| e.live && e.name == engine)
            .ok_or_else(|| EngineError::NoEngine(engine.to_string()))?;
        let n = find_node(e, node).ok_or_else(|| EngineError::NoNode(node.to_string()))?;
        set_status(n, status, state);
        Ok(n.clone())
    }

    /// Every live engine and its nodes' health, in world order.
    pub fn engine_truth(&self) -> Vec<EngineTruth> {
        self.g
            .engines
            .iter()
            .filter(|e| e.live)
            .map(truth)
            .collect()
    }

    /// The live engine whose element path is `element` (`single_fw/1649`).
    pub fn live_engine(&self, element: &str) -> Option<&Engine> {
        self.g
            .engines
            .iter()
            .find(|e| e.live && e.element == element)
    }

    /// The engines new log records name (see `log_engines`).
    pub fn log_engines(&self) -> &[Engine] {
        self.log_engines.as_deref().unwrap_or(&self.g.engines)
    }

    /// Every live engine, in world order.
    pub fn live_engines(&self) -> impl Iterator<Item = &Engine> {
        self.g.engines.iter().filter(|e| e.live)
    }

    /// A restarted SMC (`POST /sim/fault/restart`): new session tables and
    /// generator stream drawn from `seed`, over the same engines (names,
    /// nodes, element paths, VPN peers) and admin domains, with the same
    /// log history and element registry, which a real SMC keeps across a
    /// restart. The clock never goes back. Subscribers of the old tables see
    /// their queues close; subscriber ids keep counting, so an old socket
    /// unregistering late cannot remove a new one.
    pub fn restart(&mut self, seed: u64, scale: u32) {
        let n = self.g.engines.len();
        let (mut g, tables) = generate_tables(seed, scale, n, Some(self.g.engines.clone()));
        g.clock = g.clock.max(self.g.clock);
        self.g = g;
        self.tables = tables;
    }

    /// Names of the live engines, in world order.
    pub fn engine_names(&self) -> Vec<String> {
        self.live_engines().map(|e| e.name.clone()).collect()
    }

    pub fn domain_names(&self) -> Vec<String> {
        self.g.domains.clone()
    }

    /// The table of (definition, target), if the target exists for it.
    pub fn find_table(&self, def: Definition, target: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| t.def == def && t.target == target)
    }

    /// Take the table's snapshot and register for its live deltas, atomically
    /// (the caller holds the world lock, so no mutation can slip between).
    pub fn subscribe(&mut self, table: usize, capacity: usize) -> Option<Subscribed> {
        let id = self.next_subscriber;
        self.next_subscriber += 1;
        let t = self.tables.get_mut(table)?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let overflow = CancellationToken::new();
        t.subscribers.push(Subscriber {
            id,
            tx,
            overflow: overflow.clone(),
        });
        Some(Subscribed {
            snapshot: t.entries.clone(),
            rx,
            id,
            overflow,
        })
    }

    pub fn unsubscribe(&mut self, table: usize, id: u64) {
        if let Some(t) = self.tables.get_mut(table) {
            t.subscribers.retain(|s| s.id != id);
        }
    }

    /// One churn step: a table mutation, one new log record and, now and
    /// then, an element event.
    pub fn step(&mut self) {
        self.step_table();
        let engines = self.log_engines.as_deref().unwrap_or(&self.g.engines);
        self.logs.step(engines, self.g.clock);
        self.elements.step();
        self.health.step(&mut self.g.engines);
    }

    /// Remove the first entry of a `def` table reported by engine element
    /// `element` (e.g. `single_fw/1649`) that `pick` selects, telling the
    /// table's subscribers. Whether one was removed.
    pub fn remove_entry(
        &mut self,
        def: Definition,
        element: &str,
        pick: impl Fn(&Entry) -> bool,
    ) -> bool {
        for t in self.tables.iter_mut().filter(|t| t.def == def) {
            if let Some(i) = t
                .entries
                .iter()
                .position(|e| &*e.element == element && pick(e))
            {
                let e = t.entries.swap_remove(i);
                t.notify(Change::Deleted, &e);
                return true;
            }
        }
        false
    }

    /// One mutation: pick a table (weighted by size) and add, update or
    /// delete one entry, then push the delta to the table's subscribers.
    fn step_table(&mut self) {
        self.steps += 1;
        let g = &mut self.g;
        g.clock += g.rng.random_range(1..=3);
        // Tables without a feature (initial size 0) stay empty.
        let total: usize = self
            .tables
            .iter()
            .filter(|t| t.initial > 0)
            .map(|t| t.initial + 10)
            .sum();
        if total == 0 {
            return;
        }
        let mut x = g.rng.random_range(0..total);
        let mut idx = 0;
        for (i, t) in self.tables.iter().enumerate() {
            if t.initial == 0 {
                continue;
            }
            let w = t.initial + 10;
            if x < w {
                idx = i;
                break;
            }
            x -= w;
        }
        let table = &mut self.tables[idx];
        let len = table.entries.len();
        let r: f64 = g.rng.random();
        #[derive(PartialEq)]
        enum Op {
            Add,
            Update,
            Delete,
        }
        let op = if len == 0 || len * 2 < table.initial {
            Op::Add
        } else if len * 2 > table.initial * 3 {
            Op::Delete
        } else if r < 0.35 {
            Op::Add
        } else if r < 0.75 {
            Op::Update
        } else {
            Op::Delete
        };
        match op {
            Op::Add => {
                let e = Arc::new(g.entry(table.def, &table.scope, false));
                table.entries.push(e.clone());
                table.notify(Change::Added, &e);
            }
            Op::Update => {
                let i = g.rng.random_range(0..len);
                let mut e = (*table.entries[i]).clone();
                let label_change = g.rng.random_bool(0.5);
                g.mutate(&mut e, label_change);
                let e = Arc::new(e);
                table.entries[i] = e.clone();
                table.notify(Change::Updated, &e);
            }
            Op::Delete => {
                let i = g.rng.random_range(0..len);
                let e = table.entries.swap_remove(i);
                table.notify(Change::Deleted, &e);
            }
        }
    }

    /// The ground truth of every table, read from the world's structs (not
    /// from rendered records).
    pub fn truth_tables(&self) -> Vec<TableTruth> {
        self.truth_tables_where(|_, _| true)
    }

    /// [`World::truth_tables`] with only the entries `keep` (given the
    /// table's definition) accepts.
    pub(crate) fn truth_tables_where(
        &self,
        keep: impl Fn(Definition, &Entry) -> bool,
    ) -> Vec<TableTruth> {
        self.tables
            .iter()
            .map(|t| TableTruth {
                definition: t.def,
                target: t.target.clone(),
                rows: t
                    .entries
                    .iter()
                    .filter(|e| keep(t.def, e))
                    .map(|e| truth_row(e))
                    .collect(),
            })
            .collect()
    }
}

/// The ground-truth values of one entry, by log-field id, read from the
/// typed entry: `NodeId` (4) of every row, and per definition the fields
/// that change between rows of one node (protocol, state, SA type, peer
/// gateway, route type, severity).
fn truth_row(e: &Entry) -> TruthRow {
    let mut values: Vec<(u32, String)> = vec![(4, e.node.to_string())];
    match &e.data {
        Data::Connection(c) => {
            values.push((11, c.protocol.into()));
            values.push((116, c.state.into()));
        }
        Data::BlockList(b) => values.push((122, b.protocol.into())),
        Data::VpnSa(v) => {
            values.push((535, v.sa_class.into()));
            values.push((505, v.peer_gateway.into()));
        }
        Data::Route(r) => values.push((165, r.route_type.into())),
        Data::Alert(a) => values.push((602, a.severity.into())),
        Data::Neighbor(n) => {
            values.push((734, n.protocol.into()));
            values.push((737, n.state.into()));
        }
        Data::User(_) | Data::SslVpn(_) => {}
    }
    TruthRow { values }
}

impl Gen {
    fn next_serial(&mut self) -> [u8; 4] {
        self.serial = self.serial.wrapping_add(1);
        self.serial.to_be_bytes()
    }

    /// A new entry of `def` in `scope`. `initial` entries get creation times
    /// spread over the past two hours; later ones are created "now".
    fn entry(&mut self, def: Definition, scope: &Scope, initial: bool) -> Entry {
        let created = if initial {
            self.clock - self.rng.random_range(0..7200)
        } else {
            self.clock
        };
        let received = if initial {
            created + self.rng.random_range(0..60).min(self.clock - created)
        } else {
            created
        };
        let serial = self.next_serial();
        let (eng_idx, domain_name) = match scope {
            Scope::Engine(i) => (*i, self.engines[*i].domain.clone()),
            Scope::Domain(d) => {
                // Alerts come from the domain's engines, or any engine if none.
                let dn = self.domains[*d].clone();
                let own: Vec<usize> = (0..self.engines.len())
                    .filter(|&i| self.engines[i].domain == dn && self.engines[i].live)
                    .collect();
                let i = if own.is_empty() {
                    let live: Vec<usize> = (0..self.engines.len())
                        .filter(|&i| self.engines[i].live)
                        .collect();
                    pick(&mut self.rng, &live)
                } else {
                    pick(&mut self.rng, &own)
                };
                (i, dn)
            }
        };
        let rng = &mut self.rng;
        let eng = &self.engines[eng_idx];
        let node: Arc<str> = Arc::from(eng.nodes[rng.random_range(0..eng.nodes.len())].as_str());
        let mut key = Vec::with_capacity(24);
        let data = match def {
            Definition::Connections => {
                let protocol = pick_w(rng, CONN_PROTOCOLS);
                let (dport, service, sport): (u16, &str, u16) = match protocol {
                    "TCP" => {
                        let (p, s) = {
                            let t = pick_w3(rng, TCP_SERVICES);
                            (t.0, t.1)
                        };
                        (p, s, rng.random_range(1024..=65535))
                    }
                    "UDP" => {
                        let (p, s) = {
                            let t = pick_w3(rng, UDP_SERVICES);
                            (t.0, t.1)
                        };
                        (p, s, rng.random_range(1024..=65535))
                    }
                    "ICMP" => (0, "Ping", 8),
                    _ => (0, "ESP", 0),
                };
                let inbound = rng.random_bool(0.2);
                let (src, dst, src_zone, dst_zone, src_if, dst_if) = if inbound {
                    (
                        public_ip(rng),
                        internal_ip(rng, eng.site),
                        "External",
                        pick(rng, INTERNAL_ZONES),
                        "Interface #0",
                        pick(rng, &INTERFACES[1..]),
                    )
                } else {
                    (
                        internal_ip(rng, eng.site),
                        public_ip(rng),
                        pick(rng, INTERNAL_ZONES),
                        "External",
                        pick(rng, &INTERFACES[1..]),
                        "Interface #0",
                    )
                };
                let proto_num = match protocol {
                    "TCP" => 6,
                    "UDP" => 17,
                    "ICMP" => 1,
                    _ => 50,
                };
                key.push(0x01);
                key.extend_from_slice(&src.octets());
                key.push(0x01);
                key.extend_from_slice(&dst.octets());
                key.extend_from_slice(&[0x02, proto_num, 0x03]);
                key.extend_from_slice(&sport.to_be_bytes());
                key.push(0x03);
                key.extend_from_slice(&dport.to_be_bytes());
                Data::Connection(Connection {
                    src,
                    dst,
                    sport,
                    dport,
                    protocol,
                    state: pick_w(rng, states_for(protocol)),
                    service,
                    src_if,
                    dst_if,
                    src_zone,
                    dst_zone,
                    timeout: match protocol {
                        "TCP" => 1800,
                        "UDP" => 180,
                        "ICMP" => 30,
                        _ => 3600,
                    },
                })
            }
            Definition::BlockList => {
                let id = self.next_block_id;
                self.next_block_id += 1;
                let protocol = pick_w(rng, BLOCK_PROTOCOLS);
                let any = protocol == "ANY";
                key.extend_from_slice(&[0x06, 0x02]);
                key.extend_from_slice(&(id as u32).to_be_bytes());
                Data::BlockList(BlockEntry {
                    id,
                    src: public_ip(rng),
                    src_prefix: if rng.random_bool(0.8) { 32 } else { 24 },
                    dst: if rng.random_bool(0.6) {
                        Ipv4Addr::UNSPECIFIED
                    } else {
                        internal_ip(rng, eng.site)
                    },
                    dst_prefix: 32,
                    protocol,
                    sport: 0,
                    dport: if any {
                        0
                    } else {
                        pick(rng, &[22u16, 80, 443, 3389, 53, 445])
                    },
                    duration: pick(rng, &[300u32, 600, 3600, 86_400, 604_800]),
                    blacklister: pick_w(rng, BLACKLISTERS),
                })
            }
            Definition::VpnSa => {
                let peer = pick(rng, &eng.peers);
                let spi: u32 = rng.random();
                let sa_class = if rng.random_bool(0.3) { "IKE" } else { "IPsec" };
                let peer_ip = public_ip(rng);
                key.extend_from_slice(&[0x00, 0x05]);
                key.extend_from_slice(&spi.to_be_bytes());
                let third = rng.random_range(0..=31u8);
                Data::VpnSa(VpnSa {
                    spi,
                    vpn: pick(rng, VPNS),
                    gateway: Arc::from(eng.name.as_str()),
                    endpoint: format!("{} ({})", eng.name, eng.public_ip),
                    peer_gateway: peer,
                    peer_endpoint: format!("{peer} ({peer_ip})"),
                    sa_class,
                    cipher: pick_w(rng, CIPHERS),
                    role: if rng.random_bool(0.5) {
                        "Initiator"
                    } else {
                        "Responder"
                    },
                    local_nets: format!("10.{}.0.0 - 10.{}.255.255", eng.site, eng.site),
                    peer_nets: format!("172.18.{third}.0 - 172.18.{third}.255"),
                    bytes_sent: rng.random_range(0..50_000_000),
                    bytes_received: rng.random_range(0..50_000_000),
                    expires: created + if sa_class == "IKE" { 86_400 } else { 28_800 },
                })
            }
            Definition::Users => {
                let name = user_name(rng);
                let ip = internal_ip(rng, eng.site);
                key.push(0x01);
                key.extend_from_slice(name.as_bytes());
                key.push(0x01);
                key.extend_from_slice(&ip.octets());
                Data::User(User {
                    name,
                    ip,
                    id_service: pick_w(rng, ID_SERVICES),
                    expires: created + 8 * 3600,
                })
            }
            Definition::Routing => {
                let route_type = pick_w(rng, ROUTE_TYPES);
                let prefix = match route_type {
                    "Connected" => 24,
                    "Static" => pick(rng, &[0u8, 16, 24]),
                    _ => pick(rng, &[16u8, 20, 24, 28]),
                };
                let network = if prefix == 0 {
                    Ipv4Addr::UNSPECIFIED
                } else {
                    let raw = u32::from(Ipv4Addr::new(
                        pick(rng, &[10u8, 172, 192]),
                        rng.random(),
                        rng.random(),
                        0,
                    ));
                    Ipv4Addr::from(raw & (u32::MAX << (32 - u32::from(prefix))))
                };
                key.extend_from_slice(&[0x00, 0x01]);
                key.extend_from_slice(&network.octets());
                key.push(prefix);
                Data::Route(Route {
                    network,
                    prefix,
                    gateway: if route_type == "Connected" {
                        Ipv4Addr::UNSPECIFIED
                    } else {
                        internal_ip(rng, eng.site)
                    },
                    route_type,
                    dst_if: pick(rng, INTERFACES),
                    vlan: if rng.random_bool(0.3) {
                        rng.random_range(2..4000)
                    } else {
                        0
                    },
                    zone: pick(rng, &["External", "Internal", "DMZ"]),
                    metric: match route_type {
                        "Connected" => 0,
                        "Static" => 1,
                        _ => rng.random_range(2..200),
                    },
                })
            }
            Definition::SslVpn => {
                let mut id = String::from("{SHA256}");
                for _ in 0..32 {
                    let _ = write!(id, "{:02x}", rng.random::<u8>());
                }
                key.push(0x07);
                key.extend_from_slice(&id.as_bytes()[8..24]);
                Data::SslVpn(SslVpnSession {
                    id,
                    src: public_ip(rng),
                    user: user_name(rng),
                    session_type: if rng.random_bool(0.8) {
                        "Tunnel"
                    } else {
                        "Portal"
                    },
                    started: created,
                    timeout: created + 12 * 3600,
                })
            }
            Definition::ActiveAlerts => {
                let (situation, vuln_refs) = pick(rng, SITUATIONS);
                let protocol = if rng.random_bool(0.8) { "TCP" } else { "UDP" };
                let (dport, service) = if protocol == "TCP" {
                    let t = pick_w3(rng, TCP_SERVICES);
                    (t.0, t.1)
                } else {
                    let t = pick_w3(rng, UDP_SERVICES);
                    (t.0, t.1)
                };
                let alert_id: u64 = rng.random();
                key.push(0x0a);
                key.extend_from_slice(&alert_id.to_be_bytes());
                Data::Alert(Alert {
                    severity: pick_w(rng, SEVERITIES),
                    action: pick(rng, ALERT_ACTIONS),
                    src: public_ip(rng),
                    dst: internal_ip(rng, eng.site),
                    sport: rng.random_range(1024..=65535),
                    dport,
                    protocol,
                    service,
                    situation,
                    vuln_refs,
                })
            }
            Definition::Neighbors => {
                let v6 = rng.random_bool(0.3);
                let l3 = if v6 {
                    Ipv6Addr::new(
                        0xfe80,
                        0,
                        0,
                        0,
                        rng.random(),
                        rng.random(),
                        rng.random(),
                        rng.random(),
                    )
                    .to_string()
                } else {
                    internal_ip(rng, eng.site).to_string()
                };
                key.push(if v6 { 0x06 } else { 0x04 });
                key.extend_from_slice(l3.as_bytes());
                Data::Neighbor(Neighbor {
                    interface: pick(rng, INTERFACES),
                    protocol: if v6 { "IPv6" } else { "IPv4" },
                    l3,
                    l2: mac(rng),
                    state: pick_w(rng, NEIGHBOR_STATES),
                })
            }
        };
        key.extend_from_slice(&serial);
        Entry {
            key,
            node,
            domain: Arc::from(domain_name.as_str()),
            element: Arc::from(eng.element.as_str()),
            created,
            received,
            data,
        }
    }

    /// Update an entry in place. With `label_change`, a label-bearing field
    /// changes (state, SA type, route type, protocol, severity) where the
    /// definition has one.
    fn mutate(&mut self, e: &mut Entry, label_change: bool) {
        let rng = &mut self.rng;
        e.received = self.clock;
        match &mut e.data {
            Data::Connection(c) => {
                if label_change && states_for(c.protocol).len() > 1 {
                    c.state = pick_other(rng, states_for(c.protocol), c.state);
                } else {
                    c.timeout = rng.random_range(10..=3600);
                }
            }
            Data::BlockList(b) => {
                if label_change {
                    b.protocol = pick_other(rng, BLOCK_PROTOCOLS, b.protocol);
                } else {
                    b.duration += 300;
                }
            }
            Data::VpnSa(v) => {
                if label_change {
                    v.sa_class = if v.sa_class == "IKE" { "IPsec" } else { "IKE" };
                } else {
                    v.bytes_sent += rng.random_range(1_000..1_000_000);
                    v.bytes_received += rng.random_range(1_000..1_000_000);
                }
            }
            Data::User(u) => u.expires = self.clock + 8 * 3600,
            Data::Route(r) => {
                if label_change {
                    r.route_type = pick_other(rng, ROUTE_TYPES, r.route_type);
                } else {
                    r.metric = rng.random_range(2..200);
                }
            }
            Data::SslVpn(s) => s.timeout = self.clock + 12 * 3600,
            Data::Alert(a) => {
                if label_change {
                    a.severity = pick_other(rng, SEVERITIES, a.severity);
                } else {
                    a.action = pick(rng, ALERT_ACTIONS);
                }
            }
            Data::Neighbor(n) => {
                if label_change {
                    n.state = pick_other(rng, NEIGHBOR_STATES, n.state);
                } else {
                    n.l2 = mac(rng);
                }
            }
        }
    }
}

fn pick_w3(rng: &mut ChaCha8Rng, items: &[(u16, &'static str, u32)]) -> (u16, &'static str) {
    let flat: Vec<((u16, &'static str), u32)> =
        items.iter().map(|(p, s, w)| ((*p, *s), *w)).collect();
    pick_w(rng, &flat)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The fields of the exporter's default `group_by` per definition (its
    /// `labels` module, which the simulator cannot depend on): the series
    /// `GET /sim/truth` counts rows in.
    fn default_fields(d: Definition) -> &'static [u32] {
        match d {
            Definition::Connections => &[4, 11, 116],
            Definition::BlockList => &[4, 122],
            Definition::VpnSa => &[4, 535, 505],
            Definition::Users | Definition::SslVpn => &[4],
            Definition::Routing => &[165],
            Definition::ActiveAlerts => &[602],
            Definition::Neighbors => &[4, 734, 737],
        }
    }

    /// What the text of `GET /sim/truth` says, without its formatting:
    /// rows per (definition, target, default label values).
    fn series(w: &World) -> BTreeMap<(Definition, String, Vec<String>), u64> {
        let mut out = BTreeMap::new();
        for t in w.truth_tables() {
            for row in &t.rows {
                let values = default_fields(t.definition)
                    .iter()
                    .map(|f| row.get(*f).unwrap_or_default().to_owned())
                    .collect();
                *out.entry((t.definition, t.target.clone(), values))
                    .or_default() += 1;
            }
        }
        out
    }

    #[test]
    fn time_formatting() {
        assert_eq!(fmt_time(EPOCH_2024), "2024-01-01 00:00:00");
        assert_eq!(fmt_time(951_782_400 + 3661), "2000-02-29 01:01:01");
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00");
    }

    #[test]
    fn world_is_deterministic() {
        let mut a = World::generate(7, 1);
        let mut b = World::generate(7, 1);
        for _ in 0..500 {
            a.step();
            b.step();
        }
        assert_eq!(a.truth_tables(), b.truth_tables());
        assert_ne!(
            series(&World::generate(8, 1)),
            series(&World::generate(7, 1))
        );
    }

    #[test]
    fn delta_keys_unique_per_table() {
        let mut w = World::generate(3, 1);
        for _ in 0..2000 {
            w.step();
        }
        for t in &w.tables {
            let mut keys: Vec<&[u8]> = t.entries.iter().map(|e| e.key.as_slice()).collect();
            keys.sort();
            let n = keys.len();
            keys.dedup();
            assert_eq!(n, keys.len(), "{} {}", t.def, t.target);
        }
    }

    #[test]
    fn connection_tables_span_batches() {
        let w = World::generate(1, 1);
        for t in w.tables.iter().filter(|t| t.def == Definition::Connections) {
            assert!(
                (300..=913).contains(&t.entries.len()),
                "{}",
                t.entries.len()
            );
            assert_ne!(t.entries.len() % 200, 0);
        }
    }

    #[test]
    fn churn_stays_bounded_and_changes_labels() {
        let mut w = World::generate(11, 1);
        let before = series(&w);
        for _ in 0..20_000 {
            w.step();
        }
        for t in &w.tables {
            assert!(
                t.entries.len() * 2 <= t.initial * 3 + 2,
                "{} {} grew to {}",
                t.def,
                t.target,
                t.entries.len()
            );
        }
        assert_ne!(before, series(&w));
    }

    #[test]
    fn slow_subscriber_is_cut_off_not_buffered() {
        let mut w = World::generate(2, 1);
        let t = w
            .find_table(Definition::Connections, "Helsinki FW")
            .unwrap();
        let sub = w.subscribe(t, 2).unwrap();
        assert_eq!(sub.snapshot.len(), w.tables[t].entries.len());
        let mut steps = 0;
        while !sub.overflow.is_cancelled() {
            w.step();
            steps += 1;
            assert!(steps < 100_000, "never overflowed");
        }
        assert!(w.tables[t].subscribers.is_empty());
        assert_eq!(sub.rx.len(), 2);
        assert_eq!(w.tables[t].overflows, 1);
    }

    #[test]
    fn restart_changes_tables_but_keeps_engines_logs_and_elements() {
        let mut w = World::generate(4, 1);
        for _ in 0..50 {
            w.step();
        }
        let t = w.find_table(Definition::Users, "HQ Cluster").unwrap();
        let mut old = w.subscribe(t, 8).unwrap();
        let truth = series(&w);
        let engines = format!("{:?}", w.g.engines);
        let logs = w.logs.records().count();
        let clock = w.g.clock;
        w.restart(5, 1);
        assert_ne!(series(&w), truth);
        assert_eq!(format!("{:?}", w.g.engines), engines);
        assert_eq!(w.logs.records().count(), logs);
        assert!(w.g.clock >= clock);
        // The old table's subscriber sees its queue close.
        assert!(old.rx.try_recv().is_err() && old.rx.is_closed());
        // Ids keep counting: a late unsubscribe of the old id removes nothing.
        let new = w.subscribe(t, 8).unwrap();
        assert_ne!(new.id, old.id);
        w.unsubscribe(t, old.id);
        assert_eq!(w.tables[t].subscribers.len(), 1);
        // Same restart seed, same tables: a restart is deterministic.
        let mut again = World::generate(4, 1);
        for _ in 0..50 {
            again.step();
        }
        again.restart(5, 1);
        assert_eq!(again.truth_tables(), w.truth_tables());
    }
}
