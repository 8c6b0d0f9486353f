//! The SMC simulator: a fake Forcepoint NGFW Security Management Center that
//! speaks the REST login, session-monitoring, log and notification WebSocket
//! protocols of `docs/smc-protocol.md` (§1.3–1.7, §2, §3, §5–§7), over plain
//! HTTP on one port.
//!
//! The world (engines, clusters, admin domains, the eight session-monitoring
//! tables, the log history and the element registry) is a pure function of
//! the seed and the number of churn steps applied: no wall clock and no OS
//! randomness reach the data, so a test can compare what an exporter folded
//! with [`SimServer::truth`]. Each churn step mutates one table entry, appends
//! one log record and, about one step in ten, creates, updates or deletes a
//! host or network element.
//!
//! # SMC endpoints
//!
//! | method + path | answer |
//! |---|---|
//! | `GET /api` | `{"version":[{"rel","href"}…]}`, no auth |
//! | `POST /{ver}/login` | `{"domain","authenticationkey"}` → 200 + `Set-Cookie: JSESSIONID`; 401 wrong key; 404 unknown `{ver}` |
//! | `GET /{ver}/api` | entry points (`current_user`, `logout`, `system`, `elements`); 401 without a live session |
//! | `GET /{ver}/system/current_user` | 404 (accepted by the official client) |
//! | `GET /{ver}/system`, `GET /{ver}/system/smc_version` | links / `{"value":"7.1.2 [10455]"}` |
//! | `PUT /{ver}/logout` | 204, ends the session |
//! | `GET /{ver}/monitoring/session/socket` | WebSocket upgrade (cookie `JSESSIONID` of a live session, else 401) |
//! | `GET /{ver}/monitoring/log/socket` | WebSocket upgrade, same auth: the log socket (`logs.rs`): field-metadata request (`query` without `type`, `detailed` format) → `success` + `fields` (a descriptor for every requested id) + `end`; `stored` → `success`, `status`, `records` lists ≤ 200 (`quantity`, `backwards`, `start_ms`/`end_ms`, `start_record`), `end`; `current` → appended records until abort; bad query → `{"failure"}`, socket stays open |
//! | `GET /{ver}/notification/socket` | WebSocket upgrade, same auth: `{"context":X}` → `{"success":"Subscribed","subscription_id":N,"context":X}`, then element events (`event` object; `events` list at API ≤ 6.5); `{"unsubscribe":N}` → `{"success":"Unsubscribed","subscription_id":N}` (`notify.rs`) |
//! | `GET /{ver}/elements/<type>/<id>` | a live element (engines, hosts, networks, routers): `{"name","comment","link":[{"rel":"self","href","type"}]}` plus `address` (host, router) or `ipv4_network` (network); 404 when unknown or deleted |
//! | `DELETE /{ver}/elements/<kind>/<id>/block_list/<b64 id>` (`blacklist` below 7.0), `…/vpn_sa/<b64 spi>` | 204: the entry leaves its table (subscribers get the `deleted` delta); 404 when unknown or the other naming |
//!
//! Every JSON answer has `Content-Type: application/json` exactly (no charset:
//! the official Python client ignores bodies otherwise).
//!
//! # Control endpoints (no auth; for tests, the demo and benchmarks)
//!
//! | method + path | effect |
//! |---|---|
//! | `GET /sim/world` | [`WorldInfo`] as JSON: API key, API versions, engines, alert domains |
//! | `GET /sim/truth?smc=NAME` | the expected state families in Prometheus text 0.0.4 (`smc` label defaults to `sim`) |
//! | `POST /sim/churn?steps=N` | apply N mutations now → `{"applied":N}` |
//! | `POST /sim/churn?rate=R` | set the background churn rate (mutations per second, 0 = off) → `{"rate":R}` |
//! | `GET /sim/table?definition=D&target=T[&version=V]` | ground truth rows of one table as `id`-format records: `{"definition","target","version","rows":[…]}` (`version` defaults to the newest offered) |
//! | `POST /sim/fault/drop` | abruptly end every open WebSocket — session, log and notification (no close frame) → `{"dropped":n}` |
//! | `GET /sim/sessions` | [`SessionList`]: every session id (the `JSESSIONID` value, or the token in token mode) issued so far: `{"live":[…],"logged_out":[…],"expired":[…]}` (expired: forgotten by [`SimServer::expire_sessions`]) |
//! | `GET /sim/logs[?backwards=true\|false]` | the stored log records as `id`-format records, newest first unless `backwards=false`: `{"count","records":[…],"log_keys":[…],"live_fetches":n}` (`live_fetches`: open `current` queries, a readiness signal for tests) (at most 10 000 kept) |
//! | `POST /sim/logs?count=N` | append N log records now (N ≤ 10 000, default 1) → `{"appended":N}` |
//! | `POST /sim/elements?type=T&action=A[&count=N][&version=V]` | `T` host, network or router; `A` create, update or delete (update/delete take the newest `N` of the type); events now → JSON list of the affected hrefs (API `V`, default the newest offered) |
//!
//! # Filters
//!
//! A session or log query's `query.filter` (protocol §2.3) is applied by
//! `filter.rs`. Log queries return only matching records; on the session
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

mod filter;
mod logs;
mod notify;
mod render;
mod server;
mod socket;
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
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 1,
            churn_per_second: 0.0,
            api_key: None,
            scale: 1,
            api_versions: vec!["6.10".into(), "7.0".into(), "7.1".into()],
            token_auth: false,
        }
    }
}

/// What a client needs to know to talk to the simulator.
#[derive(serde::Serialize, Clone, Debug)]
pub struct WorldInfo {
    pub api_key: String,
    pub api_versions: Vec<String>,
    /// Engine and cluster names (targets of every definition but ACTIVE_ALERTS).
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
    world: Mutex<World>,
    /// Live REST sessions: JSESSIONID → API version it logged in with.
    sessions: Mutex<HashMap<String, String>>,
    /// Sessions no longer live: ended by logout / forgotten by expiry.
    ended: Mutex<(Vec<String>, Vec<String>)>,
    /// Open WebSockets (session, log, notification): connection id → token that ends it abruptly.
    sockets: Mutex<HashMap<u64, CancellationToken>>,
    next_socket: AtomicU64,
    next_fetch: AtomicI64,
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

    pub(crate) fn truth(&self, smc: &str) -> String {
        self.world().truth(smc)
    }

    /// Every row of one table, rendered as an `id`-format record would be
    /// for a client of API `version` (without `first_fetch`). `None`: no
    /// such table.
    pub(crate) fn table_rows(
        &self,
        def: crate::model::Definition,
        target: &str,
        base: &str,
        version: &str,
    ) -> Option<Vec<serde_json::Value>> {
        let ctx = render::Ctx {
            base: base.to_string(),
            version: version.to_string(),
            legacy: crate::model::parse_api_version(version)
                .is_some_and(crate::model::is_legacy_api),
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
        .find(|v| crate::model::parse_api_version(v).is_none())
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
    let world = World::generate(opts.seed, opts.scale);
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
        next_fetch: AtomicI64::new(world::first_fetch_id(opts.seed)),
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

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn world_info(&self) -> WorldInfo {
        self.shared.info.clone()
    }

    /// The expected state families (same text as `GET /sim/truth?smc=`).
    pub fn truth(&self, smc: &str) -> String {
        self.shared.truth(smc)
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
        let total = |s: &SimServer| -> u64 {
            s.truth("x")
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.rsplit_once(' ').and_then(|(_, n)| n.parse::<u64>().ok()))
                .sum()
        };
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
