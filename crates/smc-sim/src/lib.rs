//! smc-sim: a simulated Forcepoint NGFW Security Management Center that
//! speaks the REST login, session-monitoring, log and notification WebSocket
//! protocols of `docs/smc-protocol.md` (§1.3–1.7, §2, §3, §5–§7), on one
//! port: plain HTTP, or https / wss with [`SimOptions::tls`] (a real SMC
//! serves TLS on 8082; [`tls_config`] builds it from PEM, optionally asking
//! clients for a certificate), advertising hrefs of its own scheme. Tests, benchmarks and `smc-lab` (the `simulate` and
//! `demo` commands) run it; the `smc-exporter` product never links it.
//!
//! It depends on `smc-protocol` (the wire vocabulary) and on its server
//! stack (tokio, hyper, tungstenite), never on the exporter or the fold: its
//! ground truth ([`TableTruth`]) is structured rows, and what an exporter
//! should make of them is the caller's to say ([`TruthText`]).
//!
//! The world (engines, clusters, admin domains, the eight session-monitoring
//! tables, the log history and the element registry) is a pure function of
//! the seed and the number of churn steps applied: no wall clock and no OS
//! randomness reach the data, so a test can compare what an exporter folded
//! with [`SimServer::truth_tables`]. Each churn step mutates one table entry, appends
//! one log record and, about one step in ten, creates, updates or deletes a
//! host or network element; about one step in 25 moves one node of an engine
//! to another status (Online, Offline, Standby in clusters, Unknown with
//! state TIMEOUT, No Policy Installed), from a stream of its own, so the
//! tables are the same with or without it ([`SimServer::engine_truth`]).
//!
//! # SMC endpoints
//!
//! | method + path | answer |
//! |---|---|
//! | `GET /api` | `{"version":[{"rel","href"}…]}`, no auth |
//! | `POST /{ver}/login` | `{"domain","authenticationkey"}` → 200 + `Set-Cookie: JSESSIONID` (token mode: `Authorization: <token>`, no cookie); 401 wrong key; 404 unknown `{ver}` |
//! | `GET /{ver}/api` | entry points (`current_user`, `logout`, `system`, `elements`, `engine_clusters`); 401 without a live session |
//! | `GET /{ver}/system/current_user` | 404 (accepted by the official client) |
//! | `GET /{ver}/system`, `GET /{ver}/system/smc_version` | links / `{"value":"7.1.2 [10455]"}` |
//! | `PUT /{ver}/logout` | 204, ends the session |
//! | `GET /{ver}/monitoring/session/socket` | WebSocket upgrade (cookie `JSESSIONID` of a live session, else 401; token mode: `Sec-WebSocket-Protocol` offering `access_token` and a live token, and `access_token` is echoed) |
//! | `GET /{ver}/monitoring/log/socket` | WebSocket upgrade, same auth: the log socket (`logs.rs`): field-metadata request (`query` without `type`, `detailed` format) → `success` + `fields` (a descriptor for every requested id) + `end`; `stored` → `success`, `status`, `records` lists ≤ 200 (`quantity`, `backwards`, `start_ms`/`end_ms`, `start_record`), `end`; `current` → appended records until abort; bad query → `{"failure"}`, socket stays open. Records (module doc of `logs.rs`): zones 46/47 from the addresses, rule tag 20 `@<rule>.1` on packet-filtering records (NAT rule tag 21 on about a third of the outbound `Allow` ones), accounting 104 elapsed s / 105 bytes sent / 106 bytes received on `Connection closed`; inspection records have no rule tag |
//! | `GET /{ver}/notification/socket` | WebSocket upgrade, same auth: `{"context":X}` → `{"success":"Subscribed","subscription_id":N,"context":X}`, then element events (`event` object; `events` list at API ≤ 6.5); `{"unsubscribe":N}` → `{"success":"Unsubscribed","subscription_id":N}` (`notify.rs`) |
//! | `GET /{ver}/elements/engine_clusters`, `GET /{ver}/elements?filter_context=engine_clusters[&filter=F]` | the live engines (`engines.rs`, protocol §9.1): `{"result":[{"name","href","type"}…]}` in world order; `filter`: names containing `F`, case-insensitive; without `filter_context`, `{"result":[]}` |
//! | `GET /{ver}/elements/<engine>/node[/<nodeid>[/status]]` | a live engine's nodes `{"result":[{"name","href","type"}…]}`, a node element `{"name","nodeid","engine_version","disabled","link":[self, status]}`, or the node's status `{"name","status","state","installed_policy"?,"version","dyn_up","platform","configuration_status"}` (§9.2–9.3; `installed_policy` absent when none); 404 when unknown |
//! | `GET /{ver}/elements/<type>/<id>` | a live element (engines, hosts, networks, routers): `{"name","comment","link":[{"rel":"self","href","type"}]}` plus `address` (host, router) or `ipv4_network` (network); an engine also has `nodes`: `[{"firewall_node": node}…]` and a `nodes` link; 404 when unknown or deleted |
//! | `DELETE /{ver}/elements/<kind>/<id>/block_list/<b64 id>` (`blacklist` below 7.0), `…/vpn_sa/<b64 spi>` | 204: the entry leaves its table (subscribers get the `deleted` delta); 404 when unknown or the other naming |
//!
//! Every JSON answer has `Content-Type: application/json` exactly (no charset:
//! the official Python client ignores bodies otherwise).
//!
//! **Token mode** ([`SimOptions::token_auth`], `simulate --auth token`): a
//! REST call is a session's if it carries `Authorization: <token>`, or else if
//! it comes over the keep-alive connection that logged in. The real SMC ties
//! such sessions to the TLS session, and the official client sends no token
//! on `GET /{ver}/api` and on logout.
//!
//! # Control endpoints (no auth; for tests, the demo and benchmarks)
//!
//! | method + path | effect |
//! |---|---|
//! | `GET /sim/world` | [`WorldInfo`] as JSON: API key, API versions, engines (live now), alert domains |
//! | `GET /sim/truth/engines` | `{"engines":[`[`EngineTruth`]`…]}`: every live engine (`name`, `type`, `element`) and each node's health (`name`, `nodeid`, `status`, `state`, `installed_policy` or null, `version`, `dyn_up`, `platform`, `configuration_status`) |
//! | `POST /sim/engines?action=add&name=N[&nodes=K]` | a new engine (`K` 1..=8 nodes, default 1: `single_fw`, else `fw_cluster`) in the first admin domain, with its tables, element (notification `create`) and online nodes → `{"added": engine}`; 400 bad or taken name |
//! | `POST /sim/engines?action=remove&name=N` | the engine leaves the listing; its element goes (notification `delete`, then 404), its tables go: its open session sockets see their queue close and end, a new query for it answers `{"failure":"Unknown target 'N' for D: no such engine"}` as for any unknown engine → `{"removed":N}`; 404 unknown; 400 for the last engine. Its old log records stay in the history; new ones come from the live engines |
//! | `POST /sim/nodes?engine=E&node=N&status=S[&state=T]` | set a node's status (`N`: node name or `nodeid`; `S` one of [`NODE_STATUSES`], `T` one of [`NODE_STATES`], default `TIMEOUT` for `Unknown`, else `READY`; `No Policy Installed` drops `installed_policy`) → the node's health; 404 unknown engine/node, 400 bad value |
//! | `GET /sim/truth?smc=NAME` | the expected state families in Prometheus text 0.0.4 (`smc` label defaults to `sim`), rendered by [`SimOptions::truth_text`]; 501 `{"details","status"}` without one |
//! | `POST /sim/churn?steps=N` | apply N mutations now → `{"applied":N}` |
//! | `POST /sim/churn?rate=R` | set the background churn rate (mutations per second, 0 = off) → `{"rate":R}` |
//! | `GET /sim/table?definition=D&target=T[&version=V]` | ground truth rows of one table as `id`-format records: `{"definition","target","version","rows":[…]}` (`version` defaults to the newest offered) |
//! | `POST /sim/fault/<kind>[?…]` | inject or arm a fault (table below) → JSON saying what was done; unknown kind → 404 `{"details","status","kinds":[…]}`; bad parameter → 400 |
//! | `GET /sim/faults` | armed faults and open session sockets: `{"seed","session_sockets":[{"definition","target"}…],"stalled_sockets":n,"drop_mid_snapshot":{"remaining","scope"}\|null,"stall_accept_ms","refuse_logins_ms","refuse_upgrades_ms","silent_sockets_ms","silent_sockets":n}` (readiness signals for tests; `silent_sockets`: silent session sockets open now) |
//! | `GET /sim/sessions` | [`SessionList`]: every session id (the `JSESSIONID` value, or the token in token mode) issued so far: `{"live":[…],"logged_out":[…],"expired":[…]}` (expired: forgotten by [`SimServer::expire_sessions`]) |
//! | `GET /sim/logs[?backwards=true\|false]` | the stored log records as `id`-format records, newest first unless `backwards=false`: `{"count","records":[…],"log_keys":[…],"live_fetches":n}` (`live_fetches`: open `current` queries, a readiness signal for tests) (at most 10 000 kept) |
//! | `POST /sim/logs?count=N` | append N log records now (N ≤ 10 000, default 1) → `{"appended":N}` |
//! | `GET /sim/logs/sent` | what every `current` log fetch wrote to its socket (`sent.rs`), oldest fetch first: `{"fetches":[{"fetch","live","sent","records":[…],"dropped","filter"}…],"dropped_fetches":n}`; `filter` the fetch's `query.filter` as sent (or null), `fetch` the id the client got in `success`, `records` the records that passed its filter as `id`-format records in sending order (whatever format the client asked for), `live` false once aborted or closed; an item is in as soon as its message is being written (a failed write takes it out), so a client that has read a message finds it here; the last 64 fetches (`dropped_fetches`: evicted, ended ones first), their newest 200 000 records and 400 000 in all (`dropped`: the older ones, from the oldest fetches first; `sent` = kept + `dropped`) ([`SimServer::sent_logs`]) |
//! | `GET /sim/notifications/sent` | the same per notification socket: `{"sockets":[{"socket","live","sent","events":[{"subscription_id","element_type","action","href"}…],"dropped"}…],"dropped_sockets":n}`, one event per (event, subscription) delivered, an API ≤ 6.5 `events` list counting each of its events; `socket` 1, 2, … in order of connection ([`SimServer::sent_notifications`]) |
//! | `GET /sim/replay` | replay mode only ([`SimOptions::replay`], `replay.rs`), else 404: `{"phase","subscribed","snapshot_sent","live_sent","snapshot","live","snapshot_frames","live_frames","live_added"}` (sockets that sent `success`, their snapshot, their live frames) |
//! | `POST /sim/replay?phase=N` | replay mode: open the gate to phase `N` (1: snapshots go out, 2: live frames too; 0 closes it and zeroes the counters) → the status above |
//! | `POST /sim/elements?type=T&action=A[&count=N][&version=V]` | `T` host, network or router; `A` create, update or delete (update/delete take the newest `N` of the type); events now → JSON list of the affected hrefs (API `V`, default the newest offered) |
//!
//! # Faults (`fault.rs`)
//!
//! `scope` is `?target=T&definition=D` (either, both or neither; `D` a wire
//! name such as `CONNECTIONS`, `BLACKLIST`, or a label such as `block_list`):
//! the session-monitoring sockets of that subscription. Faults on open
//! sockets reach session sockets only, and a socket takes them once it
//! streams live deltas (after its snapshot), before any delta still queued.
//! `n` is how many sockets took the fault. No fault changes the ground truth
//! except `restart` (a new world) and `burst` (ordinary churn steps).
//!
//! | kind and parameters | effect → answer |
//! |---|---|
//! | `drop[?scope]` | end open WebSockets abruptly (no close frame): all of them — session, log, notification — without a scope, else the session sockets in scope → `{"dropped":n}` |
//! | `drop_mid_snapshot?count=N[&scope]` | the next `N` (default 1, 0 disarms) session sockets in scope whose snapshot spans more than one 200-row batch end abruptly right after their first batch → `{"armed":N,"scope"}` |
//! | `restart[?seed=S]` | forget every REST session, replace the session tables with ones generated from seed `S` (default: current seed + 1; same engine and domain names, element paths, log history and element registry, API key; the clock never goes back), then drop every WebSocket → `{"seed":S,"sessions_expired":m,"dropped":n}` |
//! | `expire_sessions[?drop=true]` | forget every REST session: the next upgrade or REST call gets 401; open sockets stay unless `drop=true` → `{"sessions_expired":m,"dropped":n}` |
//! | `stall_accept?seconds=S[&drop=true]` | for `S` seconds new TCP connections are accepted but not read (then served normally; `S`=0 ends the stall); `drop=true` also drops every open WebSocket so clients must reconnect into the stall. Control requests on new connections stall too → `{"stall_accept_ms","dropped":n}` |
//! | `stall_socket?seconds=S[&then=resume\|drop][&scope]` | the session sockets in scope neither send nor read for `S` seconds (no deltas, no pong: tungstenite answers pings only while reading), then resume (queued deltas follow) or end abruptly; a queue overflow during the stall ends the socket; `seconds=0` ends every stall now → `{"sockets":n,"stall_ms","then","scope"}` / `{"released":k}` |
//! | `malformed[?scope]` | one text frame that is not JSON (`{"fetch":N,"records":{"added":[{`) → `{"sockets":n,"scope"}` |
//! | `binary[?scope]` | one binary frame (4 bytes) → `{"sockets":n,"scope"}` |
//! | `huge?bytes=B[&scope]` | one text frame of exactly `B` bytes (default 32 MiB, at most 256 MiB), a valid `{"fetch":N,"status":"xxx…"}` → `{"sockets":n,"scope","bytes":B}` |
//! | `unknown_kind[?scope]` | `{"fetch":N,"progress":{"done":50,"total":100}}` → `{"sockets":n,"scope"}` |
//! | `missing_fields?what=delta_key\|labels[&scope]` | `delta_key` (default): a `records` message whose one `added` entry has no `delta_key`; `labels`: an `updated` entry with only the `delta_key` of a row the client holds (sent once the socket's queue is drained, so the row is exactly known) → `{"sockets":n,"scope","what"}` |
//! | `refuse_logins?seconds=S[&status=503\|401]` | logins answer `status` (default 503) for `S` seconds (`S`=0 ends it) → `{"refuse_logins_ms","status"}` |
//! | `burst?steps=N` | apply `N` churn steps (default 100 000) under one lock: fast writer, so a subscriber whose queue (8192 deltas) overflows is closed abruptly → `{"applied":N,"overflowed":[{"definition","target"}…]}` |
//! | `refuse_upgrades?seconds=S[&status=403\|401]` | for `S` seconds every WebSocket upgrade (session, log, notification) of a live session is answered `status` (default 403); logins, logout and the REST API keep working, as for an API client without monitoring permission (`S`=0 ends it) → `{"refuse_upgrades_ms","status"}` |
//! | `silent_sockets?seconds=S` | for `S` seconds session-socket upgrades are accepted and then the socket never sends anything (no `success`, no records; it reads, so pings are answered) until the client closes it or it is dropped; sockets already silent stay so (`S`=0 ends the window) → `{"silent_sockets_ms"}` |
//! | `invalid_utf8[?scope]` | one text frame whose payload is not UTF-8 (raw frame bytes: `{"fetch":N,"status":"` 0xFF 0xFE `"}`) → `{"sockets":n,"scope"}` |
//!
//! # Filters
//!
//! A session or log query's `query.filter` (protocol §2.3) is applied by
//! `smc_protocol::filter`. Log queries return only matching records; on the session
//! socket the snapshot carries only the matching rows, and live deltas
//! keep the client's view equal to the filtered table (a row that starts
//! matching arrives as `added`, one that stops matching as `deleted`).
//!
//! | filter | effect |
//! |---|---|
//! | `in`, `and`, `or`, `not`, `defined` | as in §2.3; `in` may be reversed (value left, fields right) |
//! | `translated` | SMC expressions: `$F == v`, `$F != v`, `$F IN union(…)` / `range(…)`, `ipv4(…)`, `ipv4_net(…)`, numbers, `"strings"`, bare words, `AND`/`OR`/`NOT`, `( )` |
//! | values | `field` (id, name or label), `ip` (address/CIDR, also inside `a - b` values), `string`, `number`, `constant` (severity 602, action 14 → rendered text), `service` (`TCP/80`) |
//! | `expression`, `cs_like`, `ci_like`, `element` values, unknown types, malformed JSON | `{"failure":"Invalid filter: <why>"}`, then a normal close |
//!

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod engines;
mod fault;
mod logs;
mod notify;
mod render;
pub mod replay;
mod sent;
mod server;
mod socket;
mod truth;
mod world;
mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use engines::{EngineTruth, NODE_STATES, NODE_STATUSES, NodeHealth};
pub use fault::KINDS as FAULT_KINDS;
pub use sent::{SentEvent, SentFetch, SentNotifications};
pub use truth::{TableTruth, TruthRow, TruthText};
use world::World;

/// Highest background churn rate (mutations per second) honoured.
pub const MAX_CHURN_RATE: f64 = 100_000.0;

/// Options of a simulated SMC.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Seed of the world (engines' tables, timestamps, keys, fetch ids).
    pub seed: u64,
    /// Background mutations per second (0 = none).
    pub churn_per_second: f64,
    /// The API key accepted at login. `None`: derived from the seed.
    pub api_key: Option<String>,
    /// Size multiplier of every table (default 1).
    pub scale: u32,
    /// API versions offered by `GET /api`, e.g. `["6.10","7.0","7.1"]`.
    pub api_versions: Vec<String>,
    /// "Use SSL for session ID" mode: login answers with an `Authorization`
    /// header instead of a `JSESSIONID` cookie, and WebSockets authenticate
    /// with the `access_token` subprotocol.
    pub token_auth: bool,
    /// How `GET /sim/truth` renders the ground truth (see [`TruthText`]);
    /// `None`: it answers 501.
    pub truth_text: Option<TruthText>,
    /// Replay mode (`replay.rs`, the ingest benchmark's fake SMC): every
    /// session-socket query gets this pre-rendered stream instead of the
    /// world's tables; `GET` / `POST /sim/replay` drive its gate.
    pub replay: Option<Arc<replay::Replay>>,
    /// Serve https / wss with this configuration (see [`tls_config`]), and
    /// advertise `https://` hrefs; `None`: plain http.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Number of engines (at least 1; default 5: `Helsinki FW`, `plano-fw`,
    /// `ngf-1065`, `HQ Cluster`, `DC Cluster`, the same world as ever);
    /// more are generated after them: `fw-006`, `fw-007`, … (`fw-006` and
    /// every third after it a two-node cluster).
    pub engines: usize,
}

/// A TLS configuration for [`SimOptions::tls`] from PEM text: the server
/// certificate chain and its private key, and, to ask every client for a
/// certificate signed by it, a client CA.
pub fn tls_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca_pem: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>, SimError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad =
        |what: &str, e: &dyn std::fmt::Display| SimError::InvalidOption(format!("{what}: {e}"));
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("TLS certificate", &e))?;
    if certs.is_empty() {
        return Err(SimError::InvalidOption(
            "TLS certificate: no PEM certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad("TLS key", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS", &e))?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots
                    .add(c.map_err(|e| bad("client CA", &e))?)
                    .map_err(|e| bad("client CA", &e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| bad("client CA", &e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| bad("TLS certificate and key", &e))?;
    Ok(Arc::new(config))
}

/// Most engines [`SimOptions::engines`] may ask for.
pub const MAX_ENGINES: usize = 10_000;

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 1,
            churn_per_second: 0.0,
            api_key: None,
            scale: 1,
            api_versions: vec!["6.10".into(), "7.0".into(), "7.1".into()],
            token_auth: false,
            truth_text: None,
            replay: None,
            engines: 5,
            tls: None,
        }
    }
}

/// What a client needs to know to talk to the simulator.
#[derive(serde::Serialize, Clone, Debug)]
pub struct WorldInfo {
    pub api_key: String,
    pub api_versions: Vec<String>,
    /// Engine and cluster names (targets of every definition but
    /// ACTIVE_ALERTS): the live ones, in world order (engines come and go
    /// through `POST /sim/engines`).
    pub engines: Vec<String>,
    /// Admin domain names (targets of ACTIVE_ALERTS).
    pub alert_domains: Vec<String>,
}

/// Every session the simulator issued, by state (ids sorted within each list).
#[derive(serde::Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionList {
    pub live: Vec<String>,
    pub logged_out: Vec<String>,
    pub expired: Vec<String>,
}

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator option: {0}")]
    InvalidOption(String),
    #[error("simulator socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// A running simulated SMC.
pub struct SimServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: JoinHandle<()>,
    churner: JoinHandle<()>,
}

/// State shared by the HTTP server, the socket tasks and the handle.
pub(crate) struct Shared {
    pub(crate) info: WorldInfo,
    /// See [`SimOptions::token_auth`].
    pub(crate) token_auth: bool,
    /// See [`SimOptions::truth_text`].
    pub(crate) truth_text: Option<TruthText>,
    /// See [`SimOptions::replay`].
    pub(crate) replay: Option<Arc<replay::Replay>>,
    /// See [`SimOptions::tls`].
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// Size multiplier of the tables (kept by `restart`).
    scale: u32,
    /// Seed of the current world (`restart` changes it).
    seed: AtomicU64,
    /// Armed faults and the session-socket registry (`fault.rs`).
    pub(crate) faults: fault::Faults,
    world: Mutex<World>,
    /// Live REST sessions: JSESSIONID → API version it logged in with.
    sessions: Mutex<HashMap<String, String>>,
    /// Sessions no longer live: ended by logout / forgotten by expiry.
    ended: Mutex<(Vec<String>, Vec<String>)>,
    /// Open WebSockets (session, log, notification): connection id → token that ends it abruptly.
    sockets: Mutex<HashMap<u64, CancellationToken>>,
    next_socket: AtomicU64,
    next_fetch: AtomicI64,
    /// What each `current` log fetch wrote (`sent.rs`), by fetch id.
    log_sent: Mutex<sent::Ledger<i64, Arc<logs::LogRecord>>>,
    /// What each notification socket wrote (`sent.rs`), by registration id.
    notify_sent: Mutex<sent::Ledger<u64, SentEvent>>,
    rate: watch::Sender<f64>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Shared {
    /// Lock the world. A poisoned lock only means a panic elsewhere; the
    /// world itself is always left consistent between statements.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn sessions(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ended(&self) -> MutexGuard<'_, (Vec<String>, Vec<String>)> {
        self.ended.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Log out session `id`; false if it was not live.
    pub(crate) fn logout(&self, id: &str) -> bool {
        let live = self.sessions().remove(id).is_some();
        if live {
            self.ended().0.push(id.to_string());
        }
        live
    }

    /// Forget every live session (the SMC purged them); returns how many.
    pub(crate) fn expire_sessions(&self) -> usize {
        let ids: Vec<String> = self.sessions().drain().map(|(id, _)| id).collect();
        let n = ids.len();
        self.ended().1.extend(ids);
        n
    }

    pub(crate) fn session_list(&self) -> SessionList {
        let mut live: Vec<String> = self.sessions().keys().cloned().collect();
        live.sort();
        let (mut logged_out, mut expired) = self.ended().clone();
        logged_out.sort();
        expired.sort();
        SessionList {
            live,
            logged_out,
            expired,
        }
    }

    pub(crate) fn sockets(&self) -> MutexGuard<'_, HashMap<u64, CancellationToken>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn log_sent(&self) -> MutexGuard<'_, sent::Ledger<i64, Arc<logs::LogRecord>>> {
        self.log_sent.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn notify_sent(&self) -> MutexGuard<'_, sent::Ledger<u64, SentEvent>> {
        self.notify_sent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The log ledger, oldest fetch first.
    pub(crate) fn sent_logs(&self) -> Vec<SentFetch> {
        self.log_sent()
            .entries()
            .map(|e| SentFetch {
                fetch: e.id,
                live: e.live,
                sent: e.sent(),
                records: e.items.iter().map(|r| r.values.clone()).collect(),
                dropped: e.dropped,
                filter: e.filter.clone(),
            })
            .collect()
    }

    /// The notification ledger, oldest socket first.
    pub(crate) fn sent_notifications(&self) -> Vec<SentNotifications> {
        self.notify_sent()
            .entries()
            .map(|e| SentNotifications {
                socket: e.id,
                live: e.live,
                sent: e.sent(),
                events: e.items.iter().cloned().collect(),
                dropped: e.dropped,
            })
            .collect()
    }

    pub(crate) fn next_fetch_id(&self) -> i64 {
        self.next_fetch.fetch_add(1, Ordering::Relaxed)
    }

    /// Register an open WebSocket; the guard unregisters it on drop.
    pub(crate) fn register_socket(self: &Arc<Self>) -> SocketGuard {
        let id = self.next_socket.fetch_add(1, Ordering::Relaxed);
        let token = self.shutdown.child_token();
        self.sockets().insert(id, token.clone());
        SocketGuard {
            shared: self.clone(),
            id,
            token,
        }
    }

    pub(crate) fn drop_connections(&self) -> usize {
        let drained: Vec<CancellationToken> = self.sockets().drain().map(|(_, t)| t).collect();
        for t in &drained {
            t.cancel();
        }
        drained.len()
    }

    pub(crate) fn seed(&self) -> u64 {
        self.seed.load(Ordering::Relaxed)
    }

    /// `POST /sim/fault/restart`: forget every REST session, end every open
    /// WebSocket abruptly, then replace the world with one from `seed` (see
    /// [`World::restart`]; a session socket opened in between sees its
    /// queue close and ends too). Returns (sessions forgotten, sockets
    /// dropped).
    pub(crate) fn restart(&self, seed: u64) -> (usize, usize) {
        let expired = self.expire_sessions();
        let dropped = self.drop_connections();
        self.world().restart(seed, self.scale);
        self.seed.store(seed, Ordering::Relaxed);
        (expired, dropped)
    }

    /// `POST /sim/fault/burst`: `steps` churn steps under one lock, so no
    /// subscriber drains its queue in between. Returns the (definition,
    /// target) tables whose subscribers overflowed and were closed.
    pub(crate) fn burst(&self, steps: u32) -> Vec<(smc_protocol::Definition, String)> {
        let mut w = self.world();
        let before: Vec<u64> = w.tables.iter().map(|t| t.overflows).collect();
        for _ in 0..steps {
            w.step();
        }
        w.tables
            .iter()
            .zip(before)
            .filter(|(t, b)| t.overflows > *b)
            .map(|(t, _)| (t.def, t.target.clone()))
            .collect()
    }

    pub(crate) fn churn(&self, steps: u32) -> u32 {
        let mut w = self.world();
        for _ in 0..steps {
            w.step();
        }
        steps
    }

    /// Set the background churn rate, clamped to [0, [`MAX_CHURN_RATE`]].
    pub(crate) fn set_churn_rate(&self, per_second: f64) {
        let r = if per_second.is_finite() && per_second > 0.0 {
            per_second.min(MAX_CHURN_RATE)
        } else {
            0.0
        };
        self.rate.send_replace(r);
    }

    pub(crate) fn truth_tables(&self) -> Vec<TableTruth> {
        self.world().truth_tables()
    }

    /// The tables with only the rows a session query with filter `f` sends
    /// in its snapshot (rendered for the newest API version offered, as a
    /// new row). Rows whose match depends on their SessionEvent (302) may
    /// differ after updates; the filters of the tests do not read it.
    pub(crate) fn truth_tables_filtered(&self, f: &smc_protocol::Filter) -> Vec<TableTruth> {
        let version = self
            .info
            .api_versions
            .iter()
            .max_by_key(|v| smc_protocol::parse_api_version(v))
            .cloned()
            .unwrap_or_default();
        let legacy =
            smc_protocol::parse_api_version(&version).is_some_and(smc_protocol::is_legacy_api);
        self.world().truth_tables_where(|def, e| {
            let ctx = render::Ctx {
                base: String::new(),
                version: version.clone(),
                legacy,
                def,
            };
            socket::matches(f, e, &ctx, render::EVENT_NEW)
        })
    }

    /// [`WorldInfo`] with the engines live now (engines come and go through
    /// `POST /sim/engines`).
    pub(crate) fn world_info(&self) -> WorldInfo {
        WorldInfo {
            engines: self.world().engine_names(),
            ..self.info.clone()
        }
    }

    /// The `GET /sim/truth` text, if a renderer was given.
    pub(crate) fn truth_text(&self, smc: &str) -> Option<String> {
        let r = self.truth_text.as_ref()?;
        Some(r.render(&self.truth_tables(), smc))
    }

    /// Every row of one table, rendered as an `id`-format record would be
    /// for a client of API `version` (without `first_fetch`). `None`: no
    /// such table.
    pub(crate) fn table_rows(
        &self,
        def: smc_protocol::Definition,
        target: &str,
        base: &str,
        version: &str,
    ) -> Option<Vec<serde_json::Value>> {
        let ctx = render::Ctx {
            base: base.to_string(),
            version: version.to_string(),
            legacy: smc_protocol::parse_api_version(version)
                .is_some_and(smc_protocol::is_legacy_api),
            def,
        };
        let fmt = render::Format::Single(render::SubFormat {
            field_format: render::FieldFormat::Id,
            select: None,
            detailed: false,
        });
        let w = self.world();
        let t = w.find_table(def, target)?;
        Some(
            w.tables[t]
                .entries
                .iter()
                .map(|e| render::render(e, &ctx, &fmt, render::EVENT_NEW, false))
                .collect(),
        )
    }
}

/// An open session socket in the registry; unregisters itself when dropped.
pub(crate) struct SocketGuard {
    shared: Arc<Shared>,
    id: u64,
    pub(crate) token: CancellationToken,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.shared.sockets().remove(&self.id);
    }
}

/// Start a simulated SMC on `listener`.
pub async fn start(
    listener: tokio::net::TcpListener,
    opts: SimOptions,
) -> Result<SimServer, SimError> {
    if opts.api_versions.is_empty() {
        return Err(SimError::InvalidOption("api_versions is empty".into()));
    }
    if let Some(bad) = opts
        .api_versions
        .iter()
        .find(|v| smc_protocol::parse_api_version(v).is_none())
    {
        return Err(SimError::InvalidOption(format!(
            "api version {bad:?} is not MAJOR.MINOR"
        )));
    }
    if opts.scale == 0 {
        return Err(SimError::InvalidOption("scale must be at least 1".into()));
    }
    if !opts.churn_per_second.is_finite() || opts.churn_per_second < 0.0 {
        return Err(SimError::InvalidOption(
            "churn_per_second must be a finite number ≥ 0".into(),
        ));
    }
    let addr = listener.local_addr()?;
    if !(1..=MAX_ENGINES).contains(&opts.engines) {
        return Err(SimError::InvalidOption(format!(
            "engines must be in 1..={MAX_ENGINES}"
        )));
    }
    let world = World::generate_n(opts.seed, opts.scale, opts.engines);
    let info = WorldInfo {
        api_key: opts
            .api_key
            .clone()
            .unwrap_or_else(|| world::derive_api_key(opts.seed)),
        api_versions: opts.api_versions.clone(),
        engines: world.engine_names(),
        alert_domains: world.domain_names(),
    };
    let (rate, rate_rx) = watch::channel(0.0);
    let shared = Arc::new(Shared {
        info,
        token_auth: opts.token_auth,
        truth_text: opts.truth_text.clone(),
        replay: opts.replay.clone(),
        tls: opts.tls.clone(),
        scale: opts.scale,
        seed: AtomicU64::new(opts.seed),
        faults: fault::Faults::new(),
        next_fetch: AtomicI64::new(world::first_fetch_id(opts.seed)),
        log_sent: Mutex::new(sent::Ledger::default()),
        notify_sent: Mutex::new(sent::Ledger::default()),
        world: Mutex::new(world),
        sessions: Mutex::new(HashMap::new()),
        ended: Mutex::new((Vec::new(), Vec::new())),
        sockets: Mutex::new(HashMap::new()),
        next_socket: AtomicU64::new(1),
        rate,
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    });
    shared.set_churn_rate(opts.churn_per_second);
    let accept = tokio::spawn(server::accept_loop(listener, shared.clone()));
    let churner = tokio::spawn(background_churn(shared.clone(), rate_rx));
    tracing::info!(%addr, seed = opts.seed, scale = opts.scale, "SMC simulator listening");
    Ok(SimServer {
        shared,
        addr,
        accept,
        churner,
    })
}

/// Apply `rate` mutations per second until shutdown, in 50 ms ticks.
async fn background_churn(shared: Arc<Shared>, mut rate: watch::Receiver<f64>) {
    const TICK: std::time::Duration = std::time::Duration::from_millis(50);
    let mut owed = 0.0_f64;
    loop {
        let r = *rate.borrow_and_update();
        if r <= 0.0 {
            owed = 0.0;
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                changed = rate.changed() => if changed.is_err() { return },
            }
            continue;
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = rate.changed() => continue,
            _ = tokio::time::sleep(TICK) => {}
        }
        owed += r * TICK.as_secs_f64();
        // Cap a backlog (e.g. after a stall) at one second's worth.
        owed = owed.min(r.max(1.0));
        let n = owed.floor();
        if n >= 1.0 {
            owed -= n;
            shared.churn(n as u32);
        }
    }
}

impl Shared {
    /// The scheme of the hrefs this simulator hands out.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

impl Drop for SimServer {
    /// A server dropped without [`SimServer::shutdown`] (e.g. a failing test)
    /// still stops its tasks.
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

impl SimServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https://` with [`SimOptions::tls`]).
    pub fn url(&self) -> String {
        format!("{}://{}", self.shared.scheme(), self.addr)
    }

    pub fn world_info(&self) -> WorldInfo {
        self.shared.world_info()
    }

    /// Every live engine and its nodes' health (same as `GET /sim/truth/engines`).
    pub fn engine_truth(&self) -> Vec<EngineTruth> {
        self.shared.world().engine_truth()
    }

    /// The ground truth: every table's rows, now.
    pub fn truth_tables(&self) -> Vec<TableTruth> {
        self.shared.truth_tables()
    }

    /// The ground truth of a subscriber whose queries all carry filter `f`
    /// (the JSON form of `query.filter`): every table with only the rows
    /// it matches. Err: the simulator refuses the filter, with the message
    /// its socket would send after `Invalid filter: `.
    pub fn truth_tables_filtered(&self, f: &serde_json::Value) -> Result<Vec<TableTruth>, String> {
        let f = smc_protocol::Filter::parse(f).map_err(|e| e.to_string())?;
        Ok(self.shared.truth_tables_filtered(&f))
    }

    /// What every `current` log fetch wrote to its socket, oldest fetch
    /// first: the records that passed its filter, counted once their message
    /// is being written (same as `GET /sim/logs/sent`). Ended fetches stay
    /// listed (`live` false); the last 64 fetches are kept, each with its
    /// newest 200 000 records, 400 000 in all (`dropped` counts the older
    /// ones, taken from the oldest fetches first).
    pub fn sent_logs(&self) -> Vec<SentFetch> {
        self.shared.sent_logs()
    }

    /// What every notification socket wrote, oldest socket first: one
    /// [`SentEvent`] per (event, subscription) delivered (same as
    /// `GET /sim/notifications/sent`; bounded like [`SimServer::sent_logs`]).
    pub fn sent_notifications(&self) -> Vec<SentNotifications> {
        self.shared.sent_notifications()
    }

    /// What `GET /sim/truth?smc=` answers: the tables rendered with
    /// [`SimOptions::truth_text`]; `None` without one.
    pub fn truth_text(&self, smc: &str) -> Option<String> {
        self.shared.truth_text(smc)
    }

    /// Apply `steps` mutations now. When this returns, their deltas are
    /// already in every subscriber's queue.
    pub fn churn(&self, steps: u32) -> u32 {
        self.shared.churn(steps)
    }

    /// Change the background churn rate (mutations per second, 0 = off).
    pub fn set_churn_rate(&self, per_second: f64) {
        self.shared.set_churn_rate(per_second);
    }

    /// Abruptly end every open WebSocket (no close frame). Returns how many.
    pub fn drop_connections(&self) -> usize {
        self.shared.drop_connections()
    }

    /// Forget every live session, as an SMC purging idle sessions does: the
    /// next request or WebSocket upgrade with one gets 401. Open sockets stay
    /// open. Returns how many sessions were forgotten.
    pub fn expire_sessions(&self) -> usize {
        self.shared.expire_sessions()
    }

    /// Every session issued so far (same as `GET /sim/sessions`).
    pub fn sessions(&self) -> SessionList {
        self.shared.session_list()
    }

    /// Stop accepting, end every connection and wait for the tasks.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        let _ = (&mut self.accept).await;
        let _ = (&mut self.churner).await;
        self.shared.tasks.wait().await;
        tracing::info!(addr = %self.addr, "SMC simulator stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn try_start(opts: SimOptions) -> Result<SimServer, SimError> {
        start(tokio::net::TcpListener::bind("127.0.0.1:0").await?, opts).await
    }

    #[tokio::test]
    async fn bad_options_are_refused() {
        for opts in [
            SimOptions {
                api_versions: vec![],
                ..SimOptions::default()
            },
            SimOptions {
                api_versions: vec!["seven".into()],
                ..SimOptions::default()
            },
            SimOptions {
                scale: 0,
                ..SimOptions::default()
            },
            SimOptions {
                churn_per_second: f64::NAN,
                ..SimOptions::default()
            },
        ] {
            assert!(matches!(
                try_start(opts).await,
                Err(SimError::InvalidOption(_))
            ));
        }
    }

    #[tokio::test]
    async fn scale_grows_tables_and_key_override_is_used() {
        let total =
            |s: &SimServer| -> u64 { s.truth_tables().iter().map(|t| t.rows.len() as u64).sum() };
        let one = try_start(SimOptions::default()).await.unwrap();
        let three = try_start(SimOptions {
            scale: 3,
            api_key: Some("K".into()),
            ..SimOptions::default()
        })
        .await
        .unwrap();
        assert!(total(&three) > 2 * total(&one));
        assert_eq!(three.world_info().api_key, "K");
        assert_eq!(one.world_info().api_key.len(), 24);
        one.shutdown().await;
        three.shutdown().await;
    }
}
