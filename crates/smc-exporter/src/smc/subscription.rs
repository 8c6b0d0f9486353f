//! One subscription: a WebSocket to `/{ver}/monitoring/session/socket` for one
//! (target, definition), its fold table and its connection life.
//!
//! Snapshot and swap (the kube-rs `Init → InitApply → InitDone` pattern): after
//! every (re)connect the records are folded into a *staging* table while the
//! previous table keeps being served; when the snapshot is complete the staging
//! table replaces it in one step, so entries deleted during an outage vanish and
//! counts never dip.
//!
//! When is a snapshot complete? The SMC sends no explicit marker (the
//! `SessionEvent` code 4 "all sent" was never captured), so:
//! 1. SMC 7.x marks snapshot rows with `first_fetch: true`: the first message
//!    carrying `updated`/`deleted` entries or an `added` row without the flag
//!    is live, so the snapshot ended before it;
//! 2. snapshot batches hold at most 200 rows: a batch of fewer ends it;
//! 3. otherwise (a snapshot of an exact multiple of 200, or SMC 6.x silence),
//!    it ends after `snapshot_settle` without a message; if no `records`
//!    message came at all, after ten times that (an empty table), provided
//!    the server answered the query at all (`success` counts). A socket that
//!    never answers is given up after those ten `snapshot_settle`s
//!    ([`super::liveness`]): it is never up nor ready.
//!
//! Liveness (pings, pong deadline, silence limit, the answer deadline) is the
//! pure [`Liveness`] of [`super::liveness`]. The reconnect backoff restarts
//! after a connection stayed healthy (snapshot complete) for `healthy_reset`.
//! SMC-wide problems (login, refused upgrades of a fresh session, an
//! unreachable SMC) are the SMC's login gate's to schedule
//! ([`super::gate`]): the subscription waits for it instead of its backoff.
//!
//! Bad frames are counted in `smc_monitoring_message_errors_total{kind}` and
//! skipped: the subscription keeps its state (policy "skip", see
//! `docs/protocol-notes.md`). A frame above `max_frame_bytes` is refused by the
//! WebSocket layer from its header, before its payload is buffered, and the
//! connection is re-established (it cannot continue past an unread frame); a
//! text frame that is not UTF-8 ends the stream too (tungstenite fails it).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::config::SubscriptionConfig;
use crate::labels::GroupField;
use crate::smc::backoff::Backoff;
use crate::smc::events::{Level, SubEvent};
use crate::smc::gate::Ticket;
use crate::smc::incidents::Joined;
use crate::smc::liveness::{Due, Liveness, Timings};
use crate::smc::session::{Admission, Auth, Credentials, SmcSession, no_answer};
use crate::state::{MessageErrorKind, ReconnectReason, SubscriptionState};
use smc_fold::{FoldCounts, RecordFold, SeriesBudget, Table};
use smc_protocol::{
    Change, Definition, Records, ServerMessage, abort_frame, is_legacy_api, parse_api_version,
};

/// Snapshot batches hold at most this many rows (`smc-protocol.md` §3.2).
pub const SNAPSHOT_BATCH: usize = 200;
/// On shutdown, the abort and the close frame get this long together: a peer
/// that stopped reading must not hold up the logout.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// `failure` replies (unknown target, no permission) retry on a schedule this
/// many times slower than `backoff_initial`…
pub const FAILURE_INITIAL_FACTOR: u32 = 20;
/// …capped at this many times `backoff_max`.
pub const FAILURE_MAX_FACTOR: u32 = 5;
/// Subscriptions that waited on their SMC's gate resume within a jitter of
/// at most this (or `backoff_max`, if smaller) once it opens.
pub const RESUME_SPREAD: Duration = Duration::from_secs(2);

/// Everything one subscription task needs.
#[derive(Debug, Clone)]
pub struct SubscriptionSpec {
    pub state: Arc<SubscriptionState>,
    /// In the order of `state.group_labels`.
    pub group_fields: Vec<GroupField>,
    pub budget: Arc<SeriesBudget>,
}

/// The session-socket query of a subscription: its definition and target,
/// asking for the fields that become its labels.
fn query(definition: Definition, target: &str, legacy: bool, fields: &[GroupField]) -> String {
    let ids: Vec<u32> = fields.iter().map(|g| g.field).collect();
    smc_protocol::query_json(definition, target, legacy, &ids)
}

/// How one connection ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    /// The SMC's gate is closed: no attempt was made (not a reconnect).
    Wait {
        until: Instant,
        opened: watch::Receiver<u64>,
    },
    Reconnect(Interruption),
}

/// Who decides when the next attempt is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// The subscription's own backoff (the `failure` schedule for
    /// `reason="failure"`).
    Own,
    /// Its own backoff, and the ending is routine (the silence limit).
    Routine,
    /// The SMC's gate: the problem is SMC-wide and the session has already
    /// logged it.
    Gate,
}

#[derive(Debug)]
struct Interruption {
    reason: ReconnectReason,
    detail: String,
    /// How long the connection had been healthy (its snapshot complete);
    /// `None` if it never was.
    healthy_for: Option<Duration>,
    retry: Retry,
}

/// This subscription's own problem last logged at warn level (`failure`
/// replies), so that a retry failing the same way is not logged again;
/// cleared when a connection becomes healthy.
type Problem = Option<(ReconnectReason, String)>;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The folding side of a subscription: the served table and, during a
/// (re)sync, the staging table.
struct Folder {
    spec: SubscriptionSpec,
    fold: RecordFold,
    live: Option<Table>,
    staging: Option<Table>,
    saw_first_fetch: bool,
    got_records: bool,
}

impl Folder {
    fn new(spec: SubscriptionSpec) -> Self {
        let picks: Vec<_> = spec.group_fields.iter().map(|g| g.pick()).collect();
        let fold = RecordFold::new(&picks);
        Folder {
            spec,
            fold,
            live: None,
            staging: None,
            saw_first_fetch: false,
            got_records: false,
        }
    }

    fn begin_snapshot(&mut self) {
        // The served table stays published but stops counting against the
        // family cap, so the snapshot can rebuild the same series.
        if let Some(live) = self.live.as_mut() {
            live.detach_budget();
        }
        let arity = self.spec.group_fields.len();
        self.staging = Some(Table::new(arity, self.spec.budget.clone()));
        self.saw_first_fetch = false;
        self.got_records = false;
    }

    fn in_snapshot(&self) -> bool {
        self.staging.is_some()
    }

    /// Fold one `records` message. Returns true if the snapshot completed.
    fn on_records(&mut self, records: &Records) -> bool {
        let h = &self.spec.state.health;
        h.add_records(Change::Added, records.added.len() as u64);
        h.add_records(Change::Updated, records.updated.len() as u64);
        h.add_records(Change::Deleted, records.deleted.len() as u64);
        self.got_records = true;
        let mut completes = false;
        if self.in_snapshot() {
            if records.added.iter().any(|r| r.first_fetch == Some(true)) {
                self.saw_first_fetch = true;
            }
            let live_marker = !records.updated.is_empty()
                || !records.deleted.is_empty()
                || (self.saw_first_fetch
                    && records.added.iter().any(|r| r.first_fetch != Some(true)));
            completes = live_marker || records.added.len() < SNAPSHOT_BATCH;
        }
        let table = match (self.staging.as_mut(), self.live.as_mut()) {
            (Some(t), _) => t,
            (None, Some(t)) => t,
            (None, None) => {
                let arity = self.spec.group_fields.len();
                self.live
                    .insert(Table::new(arity, self.spec.budget.clone()))
            }
        };
        let FoldCounts {
            unknown_deletes: unknown,
            missing_keys: missing,
        } = self.fold.apply(table, records);
        if unknown > 0 {
            h.add_unknown_deletes(unknown);
        }
        if missing > 0 {
            h.add_message_errors(MessageErrorKind::MissingKey, missing);
        }
        if completes {
            self.complete_snapshot();
        } else if !self.in_snapshot() {
            self.publish();
        }
        completes
    }

    fn complete_snapshot(&mut self) {
        if let Some(t) = self.staging.take() {
            // Replacing drops the previous table, which returns its series budget.
            self.live = Some(t);
            self.publish();
            let h = &self.spec.state.health;
            h.inc_snapshots();
            h.set_up(true);
            h.set_ready();
        }
    }

    fn publish(&self) {
        if let Some(t) = &self.live {
            self.spec.state.publish(t.publish());
        }
    }
}

/// One subscription's supervisor state across connections.
struct Sub {
    folder: Folder,
    backoff: Backoff,
    failure_backoff: Backoff,
    last_problem: Problem,
    /// Identifies the subscription in its SMC's incidents.
    id: u64,
}

impl Sub {
    fn new(spec: SubscriptionSpec, settings: &SubscriptionConfig) -> Self {
        let id = Arc::as_ptr(&spec.state) as usize as u64;
        Sub {
            folder: Folder::new(spec),
            backoff: Backoff::new(settings.backoff_initial, settings.backoff_max),
            failure_backoff: Backoff::new(
                settings
                    .backoff_initial
                    .saturating_mul(FAILURE_INITIAL_FACTOR),
                settings.backoff_max.saturating_mul(FAILURE_MAX_FACTOR),
            ),
            last_problem: None,
            id,
        }
    }

    fn st(&self) -> &SubscriptionState {
        &self.folder.spec.state
    }

    /// Count and log an interruption; the delay before the next attempt.
    fn interrupted(
        &mut self,
        session: &SmcSession,
        i: Interruption,
        settings: &SubscriptionConfig,
    ) -> Duration {
        let level = match i.retry {
            Retry::Gate => Level::Debug,
            Retry::Routine => Level::Info,
            Retry::Own if i.reason == ReconnectReason::Failure => {
                let problem = (i.reason, i.detail.clone());
                let new = self.last_problem.as_ref() != Some(&problem);
                self.last_problem = Some(problem);
                if new { Level::Warn } else { Level::Debug }
            }
            Retry::Own => match session.interrupted(self.id, i.reason, &i.detail) {
                Joined::Opened | Joined::New => Level::Warn,
                Joined::Joined => Level::Debug,
            },
        };
        SubEvent::Interrupted {
            reason: i.reason,
            detail: &i.detail,
            level,
        }
        .emit(self.st());
        if i.healthy_for.is_some_and(|h| h >= settings.healthy_reset) {
            self.backoff.reset();
            self.failure_backoff.reset();
        }
        match (i.retry, i.reason) {
            (Retry::Gate, _) => Duration::ZERO,
            (_, ReconnectReason::Failure) => self.failure_backoff.next_delay(),
            _ => self.backoff.next_delay(),
        }
    }

    /// The connection's snapshot is complete: it is healthy from now on.
    fn became_healthy(&mut self, session: &SmcSession) -> Instant {
        if let Some((after, _)) = self.last_problem.take() {
            SubEvent::Resumed { after }.emit(self.st());
        }
        session.resumed(self.id);
        Instant::now()
    }
}

/// Run one subscription until `shutdown`.
///
/// Each subscription has its own backoff, timers and socket; what it shares
/// with the other subscriptions of its SMC is the session: the login gate
/// (it waits on the gate's schedule instead of its own backoff when the
/// problem is SMC-wide) and the incident log.
pub async fn run(
    session: Arc<SmcSession>,
    spec: SubscriptionSpec,
    settings: SubscriptionConfig,
    shutdown: CancellationToken,
) {
    let mut sub = Sub::new(spec, &settings);
    let spread = settings.backoff_max.min(RESUME_SPREAD);
    loop {
        // Not raced against `shutdown` here: the stream phase must get to
        // send its abort and close frame; it watches `shutdown` itself.
        let ended = connect_and_stream(&session, &mut sub, &settings, &shutdown).await;
        sub.st().health.set_up(false);
        let delay = match ended {
            Ended::Shutdown => return,
            Ended::Wait { until, opened } => {
                if !wait_for_gate(until, opened, spread, &shutdown).await {
                    return;
                }
                continue;
            }
            Ended::Reconnect(i) => sub.interrupted(&session, i, &settings),
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Wait until `until` or the gate opening, then a jitter in `[0, spread]`
/// (so the subscriptions of an SMC do not resume in lockstep). False on
/// shutdown.
async fn wait_for_gate(
    until: Instant,
    mut opened: watch::Receiver<u64>,
    spread: Duration,
    shutdown: &CancellationToken,
) -> bool {
    tokio::select! {
        _ = sleep_until(until) => {}
        changed = opened.changed() => if changed.is_err() { sleep_until(until).await },
        _ = shutdown.cancelled() => return false,
    }
    let nanos = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
    let jitter = Duration::from_nanos(rand::rng().random_range(0..=nanos));
    tokio::select! {
        _ = tokio::time::sleep(jitter) => true,
        _ = shutdown.cancelled() => false,
    }
}

fn ended(
    reason: ReconnectReason,
    detail: impl Into<String>,
    healthy_since: Option<Instant>,
    retry: Retry,
) -> Ended {
    Ended::Reconnect(Interruption {
        reason,
        detail: detail.into(),
        healthy_for: healthy_since.map(|t| t.elapsed()),
        retry,
    })
}

fn reconnect(
    reason: ReconnectReason,
    detail: impl Into<String>,
    healthy_since: Option<Instant>,
) -> Ended {
    ended(reason, detail, healthy_since, Retry::Own)
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The socket could not be opened (never healthy); own backoff.
fn not_opened<T>(reason: ReconnectReason, detail: impl Into<String>) -> Result<T, Ended> {
    Err(ended(reason, detail, None, Retry::Own))
}

/// The socket could not be opened for an SMC-wide reason; the gate decides.
fn gated<T>(reason: ReconnectReason, detail: impl Into<String>) -> Result<T, Ended> {
    Err(ended(reason, detail, None, Retry::Gate))
}

/// Ask the SMC's gate: credentials, a wait, or (this caller's login failed)
/// an ending.
async fn admit(session: &SmcSession) -> Result<(Arc<Credentials>, Ticket), Ended> {
    match session.admit().await {
        Ok(Admission::Connect { creds, ticket }) => Ok((creds, ticket)),
        Ok(Admission::Wait { until, opened, .. }) => Err(Ended::Wait { until, opened }),
        Err(e) if no_answer(&e) => gated(ReconnectReason::ConnectError, e.to_string()),
        Err(e) => gated(ReconnectReason::LoginFailed, e.to_string()),
    }
}

/// The upgrade request with the session's credentials.
fn request(
    url: &str,
    creds: &Credentials,
) -> Result<tungstenite::handshake::client::Request, Ended> {
    let mut request = match url.into_client_request() {
        Ok(r) => r,
        Err(e) => return not_opened(ReconnectReason::ConnectError, e.to_string()),
    };
    let header = match &creds.auth {
        Auth::Cookie(c) => HeaderValue::from_str(c.expose()).map(|v| ("cookie", v)),
        Auth::Token(t) => HeaderValue::from_str(&format!("access_token, {}", t.expose()))
            .map(|v| ("sec-websocket-protocol", v)),
    };
    match header {
        Ok((name, mut value)) => {
            // `http`'s Debug then prints "Sensitive" instead of the value.
            value.set_sensitive(true);
            request.headers_mut().insert(name, value);
            Ok(request)
        }
        Err(_) => not_opened(
            ReconnectReason::LoginFailed,
            "session id is not a valid header value",
        ),
    }
}

/// Log in if needed, open the socket and send the query. Cancelled by
/// dropping (nothing to clean up yet).
async fn open(
    session: &SmcSession,
    st: &SubscriptionState,
    group_fields: &[GroupField],
    settings: &SubscriptionConfig,
) -> Result<Socket, Ended> {
    let (creds, ticket) = admit(session).await?;
    let legacy = parse_api_version(&creds.api_version).is_some_and(is_legacy_api);
    let url = session.ws_url(&creds.api_version, "/monitoring/session/socket");
    let request = request(&url, &creds)?;
    let ws_config = crate::smc::ws_config::subscription_socket(settings.max_frame_bytes);
    let mut ws = upgrade(session, ticket, request, ws_config, settings).await?;
    let query = query(st.definition, &st.target, legacy, group_fields);
    match timeout(settings.connect_timeout, ws.send(Message::text(query))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return not_opened(ReconnectReason::ConnectError, e.to_string()),
        Err(_) => {
            return not_opened(
                ReconnectReason::ConnectError,
                "query not sent within connect_timeout",
            );
        }
    }
    tracing::debug!(smc = %st.smc, target = %st.target, definition = st.definition.label(), "subscribed");
    Ok(ws)
}

/// The WebSocket upgrade, its outcome reported to the session: accepted;
/// refused with 401/403 (the gate decides what next); no answer (the SMC is
/// unreachable: the gate decides); another answer (this subscription backs
/// off on its own).
async fn upgrade(
    session: &SmcSession,
    ticket: Ticket,
    request: tungstenite::handshake::client::Request,
    ws_config: WebSocketConfig,
    settings: &SubscriptionConfig,
) -> Result<Socket, Ended> {
    use ReconnectReason::{ConnectError, Unauthorized};
    let connector = (request.uri().scheme_str() == Some("wss"))
        .then(|| Connector::Rustls(session.tls_config()));
    let connect =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(ws_config), true, connector);
    match timeout(settings.connect_timeout, connect).await {
        Ok(Ok((ws, _resp))) => {
            session.connected(ticket);
            Ok(ws)
        }
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let detail = format!("upgrade refused: HTTP {status}");
            if status == 401 || status == 403 {
                session.refused(ticket, status);
                return gated(Unauthorized, detail);
            }
            session.answered(ticket);
            not_opened(ConnectError, detail)
        }
        Ok(Err(e @ (tungstenite::Error::Io(_) | tungstenite::Error::Tls(_)))) => {
            session.unanswered(ticket, e.to_string());
            gated(ConnectError, e.to_string())
        }
        Ok(Err(e)) => {
            session.answered(ticket);
            not_opened(ConnectError, e.to_string())
        }
        Err(_) => {
            session.unanswered(ticket, "connect timed out".into());
            gated(ConnectError, "connect timed out")
        }
    }
}

/// One connection: open it, then fold its stream until it ends or
/// `shutdown` (which aborts the fetch and closes the socket).
async fn connect_and_stream(
    session: &SmcSession,
    sub: &mut Sub,
    settings: &SubscriptionConfig,
    shutdown: &CancellationToken,
) -> Ended {
    let st = sub.folder.spec.state.clone();
    let opened = tokio::select! {
        biased;
        _ = shutdown.cancelled() => return Ended::Shutdown,
        r = open(session, &st, &sub.folder.spec.group_fields, settings) => r,
    };
    let mut ws = match opened {
        Ok(ws) => ws,
        Err(ended) => return ended,
    };
    // The last-message clock starts at the first connection: a socket that
    // never sends anything shows as stale.
    st.health.touch_first(now_ms());
    sub.folder.begin_snapshot();
    let mut conn = Conn::new(Instant::now(), settings);
    loop {
        let mut deadline = conn.live.next_deadline();
        // The settle timer runs only once the server answered the query.
        if sub.folder.in_snapshot() && conn.live.answered() {
            deadline = deadline.min(conn.settle_at);
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                close(&mut ws, conn.fetch_id).await;
                return Ended::Shutdown;
            }
            frame = ws.next() => {
                if let Some(end) = conn.on_frame(frame, sub, session, settings) {
                    return end;
                }
            }
            _ = sleep_until(deadline) => {
                if let Some(end) = conn.on_deadline(&mut ws, sub, session, settings).await {
                    return end;
                }
            }
        }
    }
}

/// On shutdown: abort the fetch and close, within [`CLOSE_TIMEOUT`].
async fn close(ws: &mut Socket, fetch_id: Option<i64>) {
    let _ = timeout(CLOSE_TIMEOUT, async {
        if let Some(id) = fetch_id {
            let _ = ws.send(Message::text(abort_frame(id))).await;
        }
        let _ = ws.close(None).await;
    })
    .await;
}

/// The state of one open connection.
struct Conn {
    fetch_id: Option<i64>,
    healthy_since: Option<Instant>,
    /// When the snapshot is complete without another message (rule 3).
    settle_at: Instant,
    live: Liveness,
}

impl Conn {
    fn new(now: Instant, settings: &SubscriptionConfig) -> Self {
        let answer_within = settings.snapshot_settle.saturating_mul(10);
        Conn {
            fetch_id: None,
            healthy_since: None,
            settle_at: now + answer_within,
            live: Liveness::new(
                now,
                Timings {
                    ping_interval: settings.ping_interval,
                    pong_timeout: settings.pong_timeout,
                    silence_limit: settings.silence_limit,
                    answer_within,
                },
            ),
        }
    }

    fn end(&self, reason: ReconnectReason, detail: impl Into<String>) -> Option<Ended> {
        Some(reconnect(reason, detail, self.healthy_since))
    }

    /// One received frame (or the end of the stream).
    fn on_frame(
        &mut self,
        frame: Option<Result<Message, tungstenite::Error>>,
        sub: &mut Sub,
        session: &SmcSession,
        settings: &SubscriptionConfig,
    ) -> Option<Ended> {
        use ReconnectReason::{Closed, ReadError};
        let now = Instant::now();
        let msg = match frame {
            None => return self.end(Closed, "connection closed"),
            Some(Err(e)) => {
                let kind = match &e {
                    tungstenite::Error::Capacity(_) => Some(MessageErrorKind::TooLarge),
                    tungstenite::Error::Utf8(_) => Some(MessageErrorKind::InvalidUtf8),
                    _ => None,
                };
                let detail = e.to_string();
                if let Some(kind) = kind {
                    let st = sub.st();
                    SubEvent::FrameRejected {
                        kind,
                        detail: &detail,
                    }
                    .emit(st);
                }
                return self.end(ReadError, detail);
            }
            Some(Ok(m)) => m,
        };
        let is_data = matches!(msg, Message::Text(_) | Message::Binary(_));
        self.live.on_frame(now, is_data);
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                let kind = MessageErrorKind::Binary;
                SubEvent::FrameRejected {
                    kind,
                    detail: "binary frame",
                }
                .emit(sub.st());
                return None;
            }
            Message::Close(frame) => {
                let detail = frame
                    .map(|f| format!("closed by server: {} {}", u16::from(f.code), f.reason))
                    .unwrap_or_else(|| "closed by server".into());
                return self.end(Closed, detail);
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
        };
        sub.st().health.touch(now_ms());
        self.on_text(text.as_str(), sub, session, settings)
    }

    /// One text frame, decoded and folded.
    fn on_text(
        &mut self,
        text: &str,
        sub: &mut Sub,
        session: &SmcSession,
        settings: &SubscriptionConfig,
    ) -> Option<Ended> {
        use ReconnectReason::{Closed, Failure};
        match smc_protocol::decode_fields(text, sub.folder.fold.wanted()) {
            Err(e) => {
                let kind = MessageErrorKind::Malformed;
                SubEvent::FrameRejected {
                    kind,
                    detail: &e.to_string(),
                }
                .emit(sub.st());
            }
            Ok(ServerMessage::Started { fetch, .. }) => self.fetch_id = fetch.or(self.fetch_id),
            Ok(ServerMessage::Records { fetch, records }) => {
                self.fetch_id = fetch.or(self.fetch_id);
                let was_snapshot = sub.folder.in_snapshot();
                if sub.folder.on_records(&records) && was_snapshot {
                    self.healthy_since = Some(sub.became_healthy(session));
                    let st = sub.st();
                    tracing::debug!(smc = %st.smc, target = %st.target,
                        definition = st.definition.label(), entries = st.published().entries, "snapshot complete");
                }
                self.settle_at = Instant::now() + settings.snapshot_settle;
            }
            Ok(ServerMessage::Failure { reason }) => return self.end(Failure, reason),
            Ok(ServerMessage::End { reason, .. }) => {
                return self.end(Closed, format!("server ended the fetch: {reason}"));
            }
            Ok(ServerMessage::Status { .. }) => {}
            Ok(ServerMessage::Unknown) => {
                let kind = MessageErrorKind::Unknown;
                SubEvent::FrameRejected {
                    kind,
                    detail: "no known key",
                }
                .emit(sub.st());
            }
        }
        None
    }

    /// A deadline passed: the settle timer, a ping, or an ending.
    async fn on_deadline(
        &mut self,
        ws: &mut Socket,
        sub: &mut Sub,
        session: &SmcSession,
        settings: &SubscriptionConfig,
    ) -> Option<Ended> {
        let now = Instant::now();
        if sub.folder.in_snapshot() && self.live.answered() && self.settle_at <= now {
            sub.folder.complete_snapshot();
            self.healthy_since = Some(sub.became_healthy(session));
        }
        match self.live.due(now)? {
            Due::End(e) => {
                let retry = if e.routine {
                    Retry::Routine
                } else {
                    Retry::Own
                };
                Some(ended(
                    ReconnectReason::Idle,
                    e.detail,
                    self.healthy_since,
                    retry,
                ))
            }
            Due::Ping => {
                // A peer that stopped reading can block the send: bound it
                // by the same deadline as the pong.
                let pong = settings.pong_timeout;
                match timeout(pong, ws.send(Message::Ping(Vec::new().into()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return self.end(ReconnectReason::ReadError, e.to_string()),
                    Err(_) => {
                        let detail =
                            format!("ping not sent within {}", humantime::format_duration(pong));
                        return self.end(ReconnectReason::Idle, detail);
                    }
                }
                self.live.ping_sent(Instant::now());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::StateFamily;

    #[test]
    fn query_uses_id_format_and_group_fields() {
        let d = Definition::Connections;
        let fields: Vec<_> = d
            .default_group_by()
            .iter()
            .filter_map(|l| d.group_field(l))
            .collect();
        let q: serde_json::Value =
            serde_json::from_str(&query(d, "HQ FW", false, &fields)).unwrap();
        assert_eq!(
            q,
            serde_json::json!({
                "query": {"definition": "CONNECTIONS", "target": "HQ FW"},
                "fetch": {},
                "format": {"type": "texts", "field_format": "id", "resolving": {"senders": true}, "field_ids": [4, 11, 116]},
            })
        );
        let q = query(Definition::BlockList, "x", true, &[]);
        assert!(
            q.contains("\"BLACKLIST\"") && q.contains("\"field_ids\":[1]"),
            "{q}"
        );
    }
}
