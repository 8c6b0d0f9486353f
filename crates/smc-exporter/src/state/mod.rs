//! The state store: what socket tasks publish and what a scrape reads.
//!
//! A subscription task owns its fold table exclusively and, after each frame
//! that changed something, publishes an immutable [`Published`] snapshot of its
//! group counts through an [`ArcSwap`]. A scrape loads those pointers and never
//! waits on a socket task; the only shared writes are atomics (and the
//! scrapes' own cache of rendered lines, [`SubscriptionState::series_lines`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};

use smc_fold::{Published, SeriesBudget};
use smc_protocol::{Change, Definition};

use crate::metrics::SeriesLines;

pub mod engines;
pub mod log_stream;
pub mod notify;
pub mod sps;

/// Why a subscription reconnected. A bounded set: it is a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReconnectReason {
    /// TCP/TLS connect or WebSocket upgrade failed for a network reason.
    ConnectError,
    /// The upgrade was answered with 401/403 (session expired or no rights).
    Unauthorized,
    /// The server answered the query with `failure`.
    Failure,
    /// The server closed the socket.
    Closed,
    /// Reading from the socket failed.
    ReadError,
    /// No pong within `pong_timeout` of a ping, or no data within `silence_limit`.
    Idle,
    /// Login to the SMC failed, so the socket could not be opened.
    LoginFailed,
}

impl ReconnectReason {
    pub const ALL: [ReconnectReason; 7] = [
        ReconnectReason::ConnectError,
        ReconnectReason::Unauthorized,
        ReconnectReason::Failure,
        ReconnectReason::Closed,
        ReconnectReason::ReadError,
        ReconnectReason::Idle,
        ReconnectReason::LoginFailed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ReconnectReason::ConnectError => "connect_error",
            ReconnectReason::Unauthorized => "unauthorized",
            ReconnectReason::Failure => "failure",
            ReconnectReason::Closed => "closed",
            ReconnectReason::ReadError => "read_error",
            ReconnectReason::Idle => "idle",
            ReconnectReason::LoginFailed => "login_failed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Reconnects of one socket by reason (the notification socket, a log
/// stream).
#[derive(Debug, Default)]
pub struct ReconnectCounts([AtomicU64; ReconnectReason::ALL.len()]);

impl ReconnectCounts {
    pub fn count(&self, reason: ReconnectReason) {
        self.0[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Every reason with its count, in [`ReconnectReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (ReconnectReason, u64)> + '_ {
        ReconnectReason::ALL
            .iter()
            .map(|r| (*r, self.0[r.index()].load(Ordering::Relaxed)))
    }
}

/// Kind of a received message that could not be used. A bounded label set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageErrorKind {
    /// Not valid JSON, or JSON of the wrong shape.
    Malformed,
    /// A binary frame (the SMC sends only text).
    Binary,
    /// A frame above the configured maximum size.
    TooLarge,
    /// A record without `delta_key`.
    MissingKey,
    /// A message with none of the known keys.
    Unknown,
    /// A text frame that is not valid UTF-8 (the WebSocket stream ends).
    InvalidUtf8,
}

impl MessageErrorKind {
    pub const ALL: [MessageErrorKind; 6] = [
        MessageErrorKind::Malformed,
        MessageErrorKind::Binary,
        MessageErrorKind::TooLarge,
        MessageErrorKind::MissingKey,
        MessageErrorKind::Unknown,
        MessageErrorKind::InvalidUtf8,
    ];

    pub fn label(self) -> &'static str {
        match self {
            MessageErrorKind::Malformed => "malformed",
            MessageErrorKind::Binary => "binary",
            MessageErrorKind::TooLarge => "too_large",
            MessageErrorKind::MissingKey => "missing_key",
            MessageErrorKind::Unknown => "unknown",
            MessageErrorKind::InvalidUtf8 => "invalid_utf8",
        }
    }
}

/// Longest problem detail kept for the landing page (bytes; longer texts
/// are cut at a character boundary and end with `…`).
pub const MAX_PROBLEM_DETAIL: usize = 512;

/// The last interruption of a subscription, in words (the landing page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: ReconnectReason,
    /// What the SMC or the connection said, cut to [`MAX_PROBLEM_DETAIL`].
    pub detail: Arc<str>,
    /// Unix time in milliseconds.
    pub at_ms: u64,
}

impl Problem {
    pub fn new(reason: ReconnectReason, detail: &str, at_ms: u64) -> Problem {
        let detail: Arc<str> = if detail.len() <= MAX_PROBLEM_DETAIL {
            Arc::from(detail)
        } else {
            let mut end = MAX_PROBLEM_DETAIL;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            Arc::from(format!("{}…", &detail[..end]))
        };
        Problem {
            reason,
            detail,
            at_ms,
        }
    }
}

/// Counters and gauges of one subscription's connection life. All atomics,
/// but the last problem.
///
/// The counters live behind an `Arc` of their own: when a reload changes a
/// subscription (a new `group_by`), its successor state shares them, so a
/// counter of the key only goes up for the life of the process.
#[derive(Debug, Default)]
pub struct SubscriptionHealth {
    up: AtomicBool,
    ready: AtomicBool,
    /// The first snapshot completed: `ready` as a signal to wait on.
    ready_signal: tokio::sync::watch::Sender<bool>,
    last_message_ms: AtomicU64,
    /// Unix ms when `up` last went from 1 to 0; 0 while up or never up.
    down_since_ms: AtomicU64,
    counters: Arc<HealthCounters>,
}

/// The counters of a subscription key (shared by its successive states).
#[derive(Debug, Default)]
struct HealthCounters {
    reconnects: [AtomicU64; ReconnectReason::ALL.len()],
    records: [AtomicU64; Change::ALL.len()],
    message_errors: [AtomicU64; MessageErrorKind::ALL.len()],
    snapshots: AtomicU64,
    unknown_deletes: AtomicU64,
    last_problem: std::sync::Mutex<Option<Problem>>,
}

impl SubscriptionHealth {
    /// The last interruption, if there was one in this process's life.
    pub fn last_problem(&self) -> Option<Problem> {
        self.counters
            .last_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn set_last_problem(&self, p: Problem) {
        *self
            .counters
            .last_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(p);
    }
    /// Reconnects of every reason.
    pub fn reconnects_total(&self) -> u64 {
        ReconnectReason::ALL
            .iter()
            .map(|r| self.reconnects(*r))
            .sum()
    }
    /// 1 once connected and the current connection's snapshot is complete.
    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
    pub fn set_up(&self, v: bool) {
        let was = self.up.swap(v, Ordering::Relaxed);
        if v {
            self.down_since_ms.store(0, Ordering::Relaxed);
        } else if was {
            self.down_since_ms
                .store(crate::smc::events::now_ms().max(1), Ordering::Relaxed);
        }
    }
    /// Unix ms since when the subscription has had no healthy connection,
    /// after having had one; `None` while up or before it was ever up.
    pub fn down_since_ms(&self) -> Option<u64> {
        match self.down_since_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }
    /// True once any snapshot has completed in this process's life.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
        self.ready_signal.send_replace(true);
    }
    /// Resolves once [`ready`](Self::ready) is true.
    pub async fn wait_ready(&self) {
        let mut rx = self.ready_signal.subscribe();
        // Err: the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|r| *r).await;
    }
    /// A fresh health (not up, not ready) counting into `self`'s counters.
    fn successor(&self) -> SubscriptionHealth {
        SubscriptionHealth {
            counters: Arc::clone(&self.counters),
            ..SubscriptionHealth::default()
        }
    }
    /// Unix time in milliseconds of the last message received, or of the
    /// first connection if no message arrived since; 0 before that.
    pub fn last_message_ms(&self) -> u64 {
        self.last_message_ms.load(Ordering::Relaxed)
    }
    pub fn touch(&self, unix_ms: u64) {
        self.last_message_ms.store(unix_ms, Ordering::Relaxed);
    }
    /// A connection opened: start the clock if nothing was ever received,
    /// so that a socket that never sends anything shows as stale. Later
    /// connections do not move it (only messages do).
    pub fn touch_first(&self, unix_ms: u64) {
        let _ =
            self.last_message_ms
                .compare_exchange(0, unix_ms, Ordering::Relaxed, Ordering::Relaxed);
    }
    pub fn reconnects(&self, r: ReconnectReason) -> u64 {
        self.counters.reconnects[r.index()].load(Ordering::Relaxed)
    }
    pub fn inc_reconnect(&self, r: ReconnectReason) {
        self.counters.reconnects[r.index()].fetch_add(1, Ordering::Relaxed);
    }
    pub fn records(&self, c: Change) -> u64 {
        self.counters.records[c.index()].load(Ordering::Relaxed)
    }
    pub fn add_records(&self, c: Change, n: u64) {
        self.counters.records[c.index()].fetch_add(n, Ordering::Relaxed);
    }
    pub fn message_errors(&self, k: MessageErrorKind) -> u64 {
        self.counters.message_errors[k as usize].load(Ordering::Relaxed)
    }
    pub fn inc_message_error(&self, k: MessageErrorKind) {
        self.add_message_errors(k, 1);
    }
    pub fn add_message_errors(&self, k: MessageErrorKind, n: u64) {
        self.counters.message_errors[k as usize].fetch_add(n, Ordering::Relaxed);
    }
    /// Completed snapshots (initial sync and every resync).
    pub fn snapshots(&self) -> u64 {
        self.counters.snapshots.load(Ordering::Relaxed)
    }
    pub fn inc_snapshots(&self) {
        self.counters.snapshots.fetch_add(1, Ordering::Relaxed);
    }
    /// Deletes of keys the table did not hold.
    pub fn unknown_deletes(&self) -> u64 {
        self.counters.unknown_deletes.load(Ordering::Relaxed)
    }
    pub fn add_unknown_deletes(&self, n: u64) {
        self.counters
            .unknown_deletes
            .fetch_add(n, Ordering::Relaxed);
    }
}

/// One subscription: (SMC, target, definition).
#[derive(Debug)]
pub struct SubscriptionState {
    pub smc: Arc<str>,
    pub target: Arc<str>,
    pub definition: Definition,
    /// Label names of the group values, in order (after `smc` and the target label).
    pub group_labels: Arc<[&'static str]>,
    published: ArcSwap<Published>,
    /// The state-family lines of a recent snapshot, rendered by a scrape.
    lines: ArcSwapOption<SeriesLines>,
    pub health: SubscriptionHealth,
    /// `subscription.state_max_staleness` in ms, 0 = off: see
    /// [`Self::state_withdrawn`].
    max_staleness_ms: AtomicU64,
}

impl SubscriptionState {
    pub fn new(
        smc: Arc<str>,
        target: Arc<str>,
        definition: Definition,
        group_labels: Arc<[&'static str]>,
    ) -> Self {
        SubscriptionState {
            smc,
            target,
            definition,
            group_labels,
            published: ArcSwap::from_pointee(Published::default()),
            lines: ArcSwapOption::empty(),
            health: SubscriptionHealth::default(),
            max_staleness_ms: AtomicU64::new(0),
        }
    }

    /// Withdraw the state series after `limit` without a healthy
    /// connection (`None`: never).
    pub fn with_max_staleness(self, limit: Option<std::time::Duration>) -> Self {
        self.set_max_staleness(limit);
        self
    }
    pub fn set_max_staleness(&self, limit: Option<std::time::Duration>) {
        let ms = limit.map_or(0, |l| {
            u64::try_from(l.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        self.max_staleness_ms.store(ms, Ordering::Relaxed);
    }

    /// True when the state series are not served at `now_ms`: a staleness
    /// limit is set and the subscription has been down for longer (its
    /// health series are served all the same, so alerts see it).
    pub fn state_withdrawn(&self, now_ms: u64) -> bool {
        match (
            self.max_staleness_ms.load(Ordering::Relaxed),
            self.health.down_since_ms(),
        ) {
            (0, _) | (_, None) => false,
            (limit, Some(since)) => now_ms.saturating_sub(since) > limit,
        }
    }

    /// The state of the same key after a reload changed its labels: nothing
    /// published yet, not ready, but the counters are `self`'s (shared).
    pub fn successor(&self, group_labels: Arc<[&'static str]>) -> Self {
        SubscriptionState {
            smc: self.smc.clone(),
            target: self.target.clone(),
            definition: self.definition,
            group_labels,
            published: ArcSwap::from_pointee(Published::default()),
            lines: ArcSwapOption::empty(),
            health: self.health.successor(),
            max_staleness_ms: AtomicU64::new(self.max_staleness_ms.load(Ordering::Relaxed)),
        }
    }

    /// The current snapshot (cheap: one atomic load and a refcount).
    pub fn published(&self) -> Arc<Published> {
        self.published.load_full()
    }

    /// Replace the served snapshot in one step.
    pub fn publish(&self, p: Published) {
        self.published.store(Arc::new(p));
    }

    /// The state-family sample lines of the current snapshot: rendered by
    /// the first scrape that sees the snapshot, shared by the scrapes after
    /// it until the next publish. Never waits: concurrent scrapes of a new
    /// snapshot may each render it, and the last one's copy is kept.
    pub fn series_lines(&self) -> Arc<SeriesLines> {
        let current = self.published();
        if let Some(lines) = self.lines.load_full() {
            // The cache holds its snapshot, so the pointer cannot be reused.
            if Arc::ptr_eq(lines.source(), &current) {
                return lines;
            }
        }
        let lines = Arc::new(SeriesLines::build(self, current));
        self.lines.store(Some(Arc::clone(&lines)));
        lines
    }
}

/// Per-SMC session counters.
#[derive(Debug)]
pub struct SmcState {
    pub name: Arc<str>,
    logins: AtomicU64,
    login_failures: AtomicU64,
    up: AtomicBool,
    last_error: std::sync::Mutex<Option<Arc<str>>>,
    api_version: std::sync::Mutex<Option<Arc<str>>>,
}

impl SmcState {
    pub fn new(name: Arc<str>) -> Self {
        SmcState {
            name,
            logins: AtomicU64::new(0),
            login_failures: AtomicU64::new(0),
            up: AtomicBool::new(false),
            last_error: std::sync::Mutex::new(None),
            api_version: std::sync::Mutex::new(None),
        }
    }
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }
    pub fn inc_logins(&self) {
        self.logins.fetch_add(1, Ordering::Relaxed);
    }
    pub fn login_failures(&self) -> u64 {
        self.login_failures.load(Ordering::Relaxed)
    }
    pub fn inc_login_failures(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }
    /// 1 while a session exists, an upgrade with it was accepted, and the
    /// SMC has answered every connection since (see `LoginGate::up`).
    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
    pub fn set_up(&self, v: bool) {
        self.up.store(v, Ordering::Relaxed);
    }
    /// The SMC-wide problem that keeps `up` at 0 (the last login error,
    /// "SMC unreachable: …", or refused upgrades), if any: for the landing
    /// page. Built from SMC answers and error texts, never from secrets.
    pub fn last_error(&self) -> Option<Arc<str>> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn set_last_error(&self, e: Option<Arc<str>>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = e;
    }
    /// The API version of the last login.
    pub fn api_version(&self) -> Option<Arc<str>> {
        self.api_version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn set_api_version(&self, v: &str) {
        *self.api_version.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::from(v));
    }
}

/// Everything a scrape renders: one immutable set of states, built at
/// start-up and again by every change of the plan (a reload, discovery);
/// its members are shared with the tasks that update them. A running
/// exporter serves it through a [`LiveStore`].
#[derive(Debug, Default, Clone)]
pub struct Store {
    pub smcs: Vec<Arc<SmcState>>,
    pub subscriptions: Vec<Arc<SubscriptionState>>,
    /// Series budget per state family name (`smc_connections`, ...).
    pub budgets: Vec<(&'static str, Arc<SeriesBudget>)>,
    /// Per SMC whose engines are polled over REST: what the poll found
    /// (`smc_engine_node_*`, `smc_discovered_engines`, `smc_discovery_runs_total`).
    pub engines: Vec<Arc<engines::EngineState>>,
    /// Per SMC with `notify`: its notification socket's counters
    /// (`smc_element_changes_total`, `smc_notification_*`).
    pub notifications: Vec<Arc<notify::NotifyState>>,
    /// Per log stream of every SMC: its counters (`smc_log_*`).
    pub log_streams: Vec<Arc<log_stream::LogStreamState>>,
    /// The series budgets of the log families (shared by every stream).
    pub log_budgets: Option<log_stream::LogBudgets>,
    /// The running daemon's own status (reloads, shard); `None` in a store
    /// built by hand (tests, benches), whose exposition then has none of
    /// those families.
    pub runtime: Option<Arc<RuntimeInfo>>,
    /// Per `[[sps]]`: its poller's state (`sps_*` families). Kept by the
    /// [`LiveStore`] across the SMC reconciler's swaps.
    pub sps: Vec<Arc<sps::SpsState>>,
}

/// The store a running exporter serves: swapped in one step when the plan
/// changes, so a scrape sees the old set or the new one, never a mix. It
/// also carries the way to ask the exporter for a reload (`POST /-/reload`).
#[derive(Debug, Default)]
pub struct LiveStore {
    current: ArcSwap<Store>,
    reload: std::sync::OnceLock<tokio::sync::mpsc::Sender<ReloadRequest>>,
    /// The SPS pollers' states, put into every store swapped in.
    sps: std::sync::Mutex<Vec<Arc<sps::SpsState>>>,
}

/// A reload request: answered with `Ok` once applied, or with the one-line
/// reason the new configuration was refused.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

impl LiveStore {
    pub fn new(store: Store) -> Self {
        LiveStore {
            sps: std::sync::Mutex::new(store.sps.clone()),
            current: ArcSwap::from_pointee(store),
            reload: std::sync::OnceLock::new(),
        }
    }
    /// Serve a store that is shared already (tests, benches).
    pub fn from_arc(store: Arc<Store>) -> Self {
        LiveStore {
            sps: std::sync::Mutex::new(store.sps.clone()),
            current: ArcSwap::new(store),
            reload: std::sync::OnceLock::new(),
        }
    }
    /// The current set (one atomic load and a refcount).
    pub fn load(&self) -> Arc<Store> {
        self.current.load_full()
    }
    /// Serve `store` from now on.
    pub fn swap(&self, mut store: Store) {
        let sps = self.sps.lock().unwrap_or_else(|e| e.into_inner());
        store.sps = sps.clone();
        self.current.store(Arc::new(store));
    }
    /// Serve these SPS states from now on (the rest of the store unchanged).
    pub fn set_sps(&self, states: Vec<Arc<sps::SpsState>>) {
        let mut sps = self.sps.lock().unwrap_or_else(|e| e.into_inner());
        let mut store = (*self.current.load_full()).clone();
        store.sps = states.clone();
        *sps = states;
        self.current.store(Arc::new(store));
    }
    /// Where reload requests go (set once, by the exporter that can reload).
    pub fn set_reloader(&self, tx: tokio::sync::mpsc::Sender<ReloadRequest>) {
        let _ = self.reload.set(tx);
    }
    /// Ask for a reload. The receiver fails if the exporter stopped before
    /// answering. Reloads run one at a time; a few wait in line, more are
    /// refused as busy.
    pub fn request_reload(
        &self,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, &'static str> {
        let tx = self
            .reload
            .get()
            .ok_or("this exporter was not started from a configuration file; nothing to reload")?;
        let (answer, rx) = tokio::sync::oneshot::channel();
        tx.try_send(answer)
            .map_err(|_| "reloads are already queued; try again later")?;
        Ok(rx)
    }
}

impl From<Store> for LiveStore {
    fn from(s: Store) -> Self {
        LiveStore::new(s)
    }
}

/// The daemon's status that is not a subscription's: the last reload and
/// the shard it serves.
#[derive(Debug)]
pub struct RuntimeInfo {
    reload_ok: AtomicBool,
    reload_success_ms: AtomicU64,
    /// `--shard` (0 when not sharded).
    pub shard_ordinal: u32,
    /// `--total-shards` (1 when not sharded).
    pub total_shards: u32,
}

impl RuntimeInfo {
    /// The configuration loaded at start (at `unix_ms`) counts as a
    /// successful load, as in Prometheus.
    pub fn new(shard_ordinal: u32, total_shards: u32, unix_ms: u64) -> Self {
        RuntimeInfo {
            reload_ok: AtomicBool::new(true),
            reload_success_ms: AtomicU64::new(unix_ms),
            shard_ordinal,
            total_shards,
        }
    }
    /// Whether the last reload attempt succeeded.
    pub fn reload_ok(&self) -> bool {
        self.reload_ok.load(Ordering::Relaxed)
    }
    /// Unix time in milliseconds of the last successful (re)load.
    pub fn reload_success_ms(&self) -> u64 {
        self.reload_success_ms.load(Ordering::Relaxed)
    }
    pub fn reload_succeeded(&self, unix_ms: u64) {
        self.reload_success_ms.store(unix_ms, Ordering::Relaxed);
        self.reload_ok.store(true, Ordering::Relaxed);
    }
    pub fn reload_failed(&self) {
        self.reload_ok.store(false, Ordering::Relaxed);
    }
}

impl Store {
    /// Ready once every subscription has completed its first snapshot.
    /// Every subscription has its first snapshot. SPS pollers never hold
    /// readiness back, but in an exporter with no subscriptions at all (only
    /// `[[sps]]`) it waits until each poller attempted its first cycle.
    pub fn ready(&self) -> bool {
        if self.subscriptions.is_empty() && self.smcs.is_empty() {
            return self.sps.iter().all(|s| s.attempted());
        }
        self.subscriptions.iter().all(|s| s.health.ready())
    }

    /// The budget of a state family, if it has one.
    pub fn budget(&self, family: &str) -> Option<&Arc<SeriesBudget>> {
        self.budgets
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, b)| b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_state_is_withdrawn_only_after_the_limit_without_a_healthy_connection() {
        let st = SubscriptionState::new(
            Arc::from("hq"),
            Arc::from("fw"),
            Definition::Connections,
            Arc::from(Vec::new()),
        )
        .with_max_staleness(Some(Duration::from_secs(1)));
        let now = crate::smc::events::now_ms();
        // Never up: nothing to withdraw (there is no state yet either).
        st.health.set_up(false);
        assert!(!st.state_withdrawn(now + 10_000));
        st.health.set_up(true);
        assert!(!st.state_withdrawn(now + 10_000));
        st.health.set_up(false);
        let since = st.health.down_since_ms().unwrap();
        assert!(!st.state_withdrawn(since + 1_000));
        assert!(st.state_withdrawn(since + 1_001));
        // Down again while down: the clock does not restart.
        st.health.set_up(false);
        assert_eq!(st.health.down_since_ms(), Some(since));
        st.health.set_up(true);
        assert!(!st.state_withdrawn(since + 10_000));
        // No limit: never withdrawn.
        let unlimited = SubscriptionState::new(
            Arc::from("hq"),
            Arc::from("fw"),
            Definition::Connections,
            Arc::from(Vec::new()),
        );
        unlimited.health.set_up(true);
        unlimited.health.set_up(false);
        assert!(!unlimited.state_withdrawn(u64::MAX));
    }
}
