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
//!    message came at all, after ten times that (an empty table).
//!
//! Liveness (all from `[subscription]`): a WebSocket ping every
//! `ping_interval`; no frame at all within `pong_timeout` of a ping ends the
//! connection (`reason="idle"`); no data frame for `silence_limit` (pongs do
//! not count; off when `"0s"`) resubscribes (`reason="idle"`, logged at info:
//! it is routine on a quiet table). The reconnect backoff restarts after a
//! connection stayed healthy (snapshot complete) for `healthy_reset`.
//!
//! Bad frames are counted in `smc_monitoring_message_errors_total{kind}` and
//! skipped: the subscription keeps its state (policy "skip", see
//! `docs/protocol-notes.md`). A frame above `max_frame_bytes` is refused by the
//! WebSocket layer from its header, before its payload is buffered, and the
//! connection is re-established (it cannot continue past an unread frame).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::config::SubscriptionConfig;
use crate::fold::{Change, Delta, Outcome, SeriesBudget, Table};
use crate::model::{Definition, GroupField, is_legacy_api, parse_api_version};
use crate::smc::backoff::Backoff;
use crate::smc::protocol::{self, Records, ServerMessage};
use crate::smc::session::{Auth, SmcSession};
use crate::state::{ChangeKind, MessageErrorKind, ReconnectReason, SubscriptionState};

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

/// Everything one subscription task needs.
#[derive(Debug, Clone)]
pub struct SubscriptionSpec {
    pub state: Arc<SubscriptionState>,
    /// In the order of `state.group_labels`.
    pub group_fields: Vec<GroupField>,
    pub budget: Arc<SeriesBudget>,
}

/// The session-socket query for a definition and target, in `id` field format
/// with only the fields that become labels.
pub fn query_json(
    definition: Definition,
    target: &str,
    legacy: bool,
    fields: &[GroupField],
) -> String {
    let mut ids: Vec<u32> = fields.iter().map(|g| g.field).collect();
    if ids.is_empty() {
        // No `field_ids` would mean "every field"; ask for the timestamp only.
        ids.push(1);
    }
    serde_json::json!({
        "query": {"definition": definition.wire_name(legacy), "target": target},
        "fetch": {},
        "format": {
            "type": "texts",
            "field_format": "id",
            "resolving": {"senders": true},
            "field_ids": ids,
        },
    })
    .to_string()
}

/// How one connection ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    Reconnect {
        reason: ReconnectReason,
        detail: String,
        /// How long the connection had been healthy (its snapshot complete);
        /// `None` if it never was.
        healthy_for: Option<Duration>,
        /// A routine resubscribe (the silence limit), not a problem: logged
        /// at info and not remembered as the current problem.
        routine: bool,
    },
}

/// The problem last logged at warn level, so that a retry failing the same
/// way is not logged again; cleared when a connection becomes healthy.
type Problem = Option<(ReconnectReason, String)>;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What folding one `records` message did besides changing the table, for
/// the subscription's health counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldCounts {
    /// `deleted` records whose key the table did not hold (nothing changed).
    pub unknown_deletes: u64,
    /// Records without a `delta_key`: skipped.
    pub missing_keys: u64,
}

/// How a subscription turns decoded records into table deltas: which record
/// field (by id, as `field_format: "id"` names it) feeds each group label,
/// and its transform. Public so that the fuzz targets (`fuzz/`) drive the
/// exact fold path of a subscription.
#[derive(Debug, Clone)]
pub struct RecordFold {
    group_fields: Vec<GroupField>,
    /// `group_fields[i].field` as the record key string, computed once.
    keys: Vec<String>,
}

impl RecordFold {
    /// A fold whose table has one label per entry of `group_fields`, in order.
    pub fn new(group_fields: &[GroupField]) -> Self {
        RecordFold {
            group_fields: group_fields.to_vec(),
            keys: group_fields.iter().map(|g| g.field.to_string()).collect(),
        }
    }

    /// Apply one decoded `records` message to `table`: every `added`, then
    /// every `updated`, then every `deleted` record, in wire order. A record
    /// without `delta_key` is skipped and counted in
    /// [`FoldCounts::missing_keys`]; a label field it lacks is `None` in the
    /// [`Delta`]. `table` should have this fold's arity.
    pub fn apply(&self, table: &mut Table, records: &Records) -> FoldCounts {
        let mut counts = FoldCounts::default();
        let lists = [
            (Change::Added, &records.added),
            (Change::Updated, &records.updated),
            (Change::Deleted, &records.deleted),
        ];
        let mut values: Vec<Option<&str>> = Vec::with_capacity(self.keys.len());
        for (change, list) in lists {
            for rec in list.iter() {
                let Some(key) = rec.delta_key.as_deref() else {
                    counts.missing_keys += 1;
                    continue;
                };
                values.clear();
                for (k, g) in self.keys.iter().zip(&self.group_fields) {
                    values.push(rec.get(k).map(|v| g.transform.apply(v)));
                }
                if table.apply(Delta {
                    change,
                    key,
                    values: &values,
                }) == Outcome::UnknownDelete
                {
                    counts.unknown_deletes += 1;
                }
            }
        }
        counts
    }
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
        let fold = RecordFold::new(&spec.group_fields);
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
        h.add_records(ChangeKind::Added, records.added.len() as u64);
        h.add_records(ChangeKind::Updated, records.updated.len() as u64);
        h.add_records(ChangeKind::Deleted, records.deleted.len() as u64);
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

/// Run one subscription until `shutdown`.
///
/// Nothing here is shared with other subscriptions except the SMC's session
/// (whose lock is held only while logging in): each subscription has its own
/// backoff, timers and socket.
pub async fn run(
    session: Arc<SmcSession>,
    spec: SubscriptionSpec,
    settings: SubscriptionConfig,
    shutdown: CancellationToken,
) {
    let st = spec.state.clone();
    let mut folder = Folder::new(spec);
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    let mut failure_backoff = Backoff::new(
        settings
            .backoff_initial
            .saturating_mul(FAILURE_INITIAL_FACTOR),
        settings.backoff_max.saturating_mul(FAILURE_MAX_FACTOR),
    );
    let mut last_problem: Problem = None;
    loop {
        // Not raced against `shutdown` here: the stream phase must get to
        // send its abort and close frame; it watches `shutdown` itself.
        let ended = connect_and_stream(
            &session,
            &mut folder,
            &settings,
            &shutdown,
            &mut last_problem,
        )
        .await;
        st.health.set_up(false);
        let Ended::Reconnect {
            reason,
            detail,
            healthy_for,
            routine,
        } = ended
        else {
            return;
        };
        st.health.inc_reconnect(reason);
        if routine {
            tracing::info!(smc = %st.smc, target = %st.target, definition = st.definition.label(),
                reason = reason.label(), detail = %detail, "resubscribing");
        } else {
            let problem = (reason, detail);
            if last_problem.as_ref() != Some(&problem) {
                tracing::warn!(smc = %st.smc, target = %st.target, definition = st.definition.label(),
                    reason = reason.label(), detail = %problem.1, "subscription interrupted; reconnecting");
            } else {
                tracing::debug!(smc = %st.smc, target = %st.target, definition = st.definition.label(),
                    reason = reason.label(), "subscription interrupted again");
            }
            last_problem = Some(problem);
        }
        if healthy_for.is_some_and(|h| h >= settings.healthy_reset) {
            backoff.reset();
            failure_backoff.reset();
        }
        let delay = if reason == ReconnectReason::Failure {
            failure_backoff.next_delay()
        } else {
            backoff.next_delay()
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

fn reconnect(
    reason: ReconnectReason,
    detail: impl Into<String>,
    healthy_since: Option<Instant>,
) -> Ended {
    Ended::Reconnect {
        reason,
        detail: detail.into(),
        healthy_for: healthy_since.map(|t| t.elapsed()),
        routine: false,
    }
}

/// The connection's snapshot is complete: it is healthy from now on.
fn became_healthy(st: &SubscriptionState, last_problem: &mut Problem) -> Instant {
    if let Some((reason, _)) = last_problem.take() {
        tracing::info!(smc = %st.smc, target = %st.target, definition = st.definition.label(),
            after = reason.label(), "subscription resumed");
    }
    Instant::now()
}

fn human(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The socket could not be opened (never healthy).
fn not_opened<T>(reason: ReconnectReason, detail: impl Into<String>) -> Result<T, Ended> {
    Err(reconnect(reason, detail, None))
}

/// Log in if needed, open the socket and send the query. Cancelled by
/// dropping (nothing to clean up yet).
async fn open(
    session: &SmcSession,
    st: &SubscriptionState,
    group_fields: &[GroupField],
    settings: &SubscriptionConfig,
) -> Result<Socket, Ended> {
    use ReconnectReason::{ConnectError, LoginFailed, Unauthorized};
    let creds = match timeout(settings.connect_timeout, session.credentials()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return not_opened(LoginFailed, e.to_string()),
        Err(_) => return not_opened(LoginFailed, "login timed out"),
    };
    let legacy = parse_api_version(&creds.api_version).is_some_and(is_legacy_api);
    let url = session.ws_url(&creds.api_version, "/monitoring/session/socket");
    let mut request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return not_opened(ConnectError, e.to_string()),
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
        }
        Err(_) => return not_opened(LoginFailed, "session id is not a valid header value"),
    }
    let ws_config = crate::smc::ws_config::subscription_socket(settings.max_frame_bytes);
    let connector = url
        .starts_with("wss://")
        .then(|| Connector::Rustls(session.tls_config()));
    let connect =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(ws_config), true, connector);
    let mut ws = match timeout(settings.connect_timeout, connect).await {
        Ok(Ok((ws, _resp))) => ws,
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let detail = format!("upgrade refused: HTTP {status}");
            if status == 401 || status == 403 {
                session.invalidate(creds.generation);
                return not_opened(Unauthorized, detail);
            }
            return not_opened(ConnectError, detail);
        }
        Ok(Err(e)) => return not_opened(ConnectError, e.to_string()),
        Err(_) => return not_opened(ConnectError, "connect timed out"),
    };
    let query = query_json(st.definition, &st.target, legacy, group_fields);
    match timeout(settings.connect_timeout, ws.send(Message::text(query))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return not_opened(ConnectError, e.to_string()),
        Err(_) => return not_opened(ConnectError, "query not sent within connect_timeout"),
    }
    tracing::debug!(smc = %st.smc, target = %st.target, definition = st.definition.label(), "subscribed");
    Ok(ws)
}

/// One connection: open it, then fold its stream until it ends or
/// `shutdown` (which aborts the fetch and closes the socket).
async fn connect_and_stream(
    session: &SmcSession,
    folder: &mut Folder,
    settings: &SubscriptionConfig,
    shutdown: &CancellationToken,
    last_problem: &mut Problem,
) -> Ended {
    let st = folder.spec.state.clone();
    let opened = tokio::select! {
        biased;
        _ = shutdown.cancelled() => return Ended::Shutdown,
        r = open(session, &st, &folder.spec.group_fields, settings) => r,
    };
    let mut ws = match opened {
        Ok(ws) => ws,
        Err(ended) => return ended,
    };

    folder.begin_snapshot();
    let mut fetch_id: Option<i64> = None;
    let mut healthy_since: Option<Instant> = None;
    let start = Instant::now();
    // Data frames (text or binary) seen; pongs and pings do not count.
    let mut last_data = start;
    let mut next_ping = start + settings.ping_interval;
    // Set when a ping is out; any frame clears it.
    let mut pong_due: Option<Instant> = None;
    let mut settle_at = start + settings.snapshot_settle.saturating_mul(10);

    loop {
        let settle = folder.in_snapshot().then_some(settle_at);
        let silence_at = settings.silence_limit.map(|l| last_data + l);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                let _ = timeout(CLOSE_TIMEOUT, async {
                    if let Some(id) = fetch_id {
                        let _ = ws.send(Message::text(format!("{{\"abort\":{id}}}"))).await;
                    }
                    let _ = ws.close(None).await;
                })
                .await;
                return Ended::Shutdown;
            }
            frame = ws.next() => {
                pong_due = None;
                let msg = match frame {
                    None => return reconnect(ReconnectReason::Closed, "connection closed", healthy_since),
                    Some(Err(tungstenite::Error::Capacity(e))) => {
                        st.health.inc_message_error(MessageErrorKind::TooLarge);
                        return reconnect(ReconnectReason::ReadError, e.to_string(), healthy_since);
                    }
                    Some(Err(e)) => return reconnect(ReconnectReason::ReadError, e.to_string(), healthy_since),
                    Some(Ok(m)) => m,
                };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Binary(_) => {
                        last_data = Instant::now();
                        st.health.inc_message_error(MessageErrorKind::Binary);
                        continue;
                    }
                    Message::Close(frame) => {
                        let detail = frame.map(|f| format!("closed by server: {} {}", u16::from(f.code), f.reason))
                            .unwrap_or_else(|| "closed by server".into());
                        return reconnect(ReconnectReason::Closed, detail, healthy_since);
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                };
                last_data = Instant::now();
                st.health.touch(now_ms());
                match protocol::decode(text.as_str()) {
                    Err(e) => {
                        st.health.inc_message_error(MessageErrorKind::Malformed);
                        tracing::debug!(smc = %st.smc, target = %st.target, error = %e, "skipped a malformed frame");
                    }
                    Ok(ServerMessage::Started { fetch, .. }) => fetch_id = fetch.or(fetch_id),
                    Ok(ServerMessage::Records { fetch, records }) => {
                        fetch_id = fetch.or(fetch_id);
                        let was_snapshot = folder.in_snapshot();
                        if folder.on_records(&records) && was_snapshot {
                            healthy_since = Some(became_healthy(&st, last_problem));
                            tracing::debug!(smc = %st.smc, target = %st.target,
                                definition = st.definition.label(), entries = st.published().entries, "snapshot complete");
                        }
                        settle_at = Instant::now() + settings.snapshot_settle;
                    }
                    Ok(ServerMessage::Failure { reason }) => {
                        return reconnect(ReconnectReason::Failure, reason, healthy_since);
                    }
                    Ok(ServerMessage::End { reason, .. }) => {
                        return reconnect(ReconnectReason::Closed, format!("server ended the fetch: {reason}"), healthy_since);
                    }
                    Ok(ServerMessage::Status { .. }) => {}
                    Ok(ServerMessage::Unknown) => st.health.inc_message_error(MessageErrorKind::Unknown),
                }
            }
            _ = sleep_until(settle.unwrap_or(start)), if settle.is_some() => {
                folder.complete_snapshot();
                healthy_since = Some(became_healthy(&st, last_problem));
            }
            _ = sleep_until(next_ping) => {
                next_ping = Instant::now() + settings.ping_interval;
                // A peer that stopped reading can block the send: bound it
                // by the same deadline as the pong.
                match timeout(settings.pong_timeout, ws.send(Message::Ping(Vec::new().into()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return reconnect(ReconnectReason::ReadError, e.to_string(), healthy_since),
                    Err(_) => return reconnect(ReconnectReason::Idle,
                        format!("ping not sent within {}", human(settings.pong_timeout)), healthy_since),
                }
                pong_due.get_or_insert(Instant::now() + settings.pong_timeout);
            }
            _ = sleep_until(pong_due.unwrap_or(start)), if pong_due.is_some() => {
                return reconnect(ReconnectReason::Idle,
                    format!("no pong within {} of a ping", human(settings.pong_timeout)), healthy_since);
            }
            _ = sleep_until(silence_at.unwrap_or(start)), if silence_at.is_some() => {
                let mut ended = reconnect(ReconnectReason::Idle,
                    format!("no data for {}", human(settings.silence_limit.unwrap_or_default())), healthy_since);
                if let Ended::Reconnect { routine, .. } = &mut ended {
                    *routine = true;
                }
                return ended;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_uses_id_format_and_group_fields() {
        let d = Definition::Connections;
        let fields: Vec<_> = d
            .default_group_by()
            .iter()
            .filter_map(|l| d.group_field(l))
            .collect();
        let q: serde_json::Value =
            serde_json::from_str(&query_json(d, "HQ FW", false, &fields)).unwrap();
        assert_eq!(
            q,
            serde_json::json!({
                "query": {"definition": "CONNECTIONS", "target": "HQ FW"},
                "fetch": {},
                "format": {"type": "texts", "field_format": "id", "resolving": {"senders": true}, "field_ids": [4, 11, 116]},
            })
        );
        let q = query_json(Definition::BlockList, "x", true, &[]);
        assert!(
            q.contains("\"BLACKLIST\"") && q.contains("\"field_ids\":[1]"),
            "{q}"
        );
    }

    #[test]
    fn record_fold_applies_lists_in_order_and_counts_skips() {
        let d = Definition::ActiveAlerts;
        let fields = [
            d.group_field("severity").unwrap(),
            d.group_field("node").unwrap(),
        ];
        let fold = RecordFold::new(&fields);
        let budget = Arc::new(SeriesBudget::new(10));
        let mut table = Table::new(2, budget.clone());
        let text = r#"{"fetch":-3,"records":{"added":[{"delta_key":"a","602":"10","4":"n1"},{"4":"no key"},{"delta_key":"b","602":"Low"}],"updated":[{"delta_key":"a","4":"n2"}],"deleted":["b","zz",{"delta_key":"a"},"a"]}}"#;
        let Ok(ServerMessage::Records { records, .. }) = protocol::decode(text) else {
            panic!("not records")
        };
        let counts = fold.apply(&mut table, &records);
        // "zz" and the second "a" are unknown when their delete comes.
        assert_eq!(
            counts,
            FoldCounts {
                unknown_deletes: 2,
                missing_keys: 1
            }
        );
        assert!(table.is_empty());
        assert_eq!(table.series(), 0);
        assert_eq!(budget.used(), 0);

        let text = r#"{"fetch":-3,"records":{"added":[{"delta_key":"a","602":"10","4":"n1"}],"updated":[{"delta_key":"a","4":"n2"},{"delta_key":"c","602":"3"}]}}"#;
        let Ok(ServerMessage::Records { records, .. }) = protocol::decode(text) else {
            panic!("not records")
        };
        assert_eq!(fold.apply(&mut table, &records), FoldCounts::default());
        let mut groups: Vec<(Vec<String>, u64)> = table
            .groups()
            .map(|(l, c)| (l.iter().map(|s| s.to_string()).collect(), c))
            .collect();
        groups.sort();
        assert_eq!(
            groups,
            [
                (vec!["critical".to_owned(), "n2".to_owned()], 1),
                (vec!["low".to_owned(), String::new()], 1),
            ]
        );
    }
}
