//! One subscription: a WebSocket to `/{ver}/monitoring/session/socket` for one
//! (target, definition), its fold table and its connection life.
//!
//! The composition of pure, separately tested parts (docs/architecture.md,
//! "Connection life"):
//! - [`super::connect`] opens the socket through the SMC's login gate;
//! - [`super::driver`] runs it: the query, pings and deadlines
//!   ([`super::liveness`]), decoded frames, abort and close on shutdown;
//! - [`super::resync`] decides when a (re)sync's snapshot is complete, and
//!   [`super::folder`] folds into the staging or served table and swaps;
//! - [`Backoff`] schedules this subscription's own retries; SMC-wide
//!   problems (login, refused upgrades of a fresh session, an unreachable
//!   SMC) are the gate's to schedule ([`super::gate`]): the subscription
//!   waits for it instead of its backoff. The backoff restarts after a
//!   connection stayed healthy (snapshot complete) for `healthy_reset`.
//!
//! Every connection-life event is logged and counted by
//! [`super::events`]. Bad frames are counted in
//! `smc_monitoring_message_errors_total{kind}` and skipped: the
//! subscription keeps its state (policy "skip", `docs/smc-protocol.md`
//! §8). A frame above `max_frame_bytes` is refused by the WebSocket layer
//! from its header, before its payload is buffered, and the connection is
//! re-established (it cannot continue past an unread frame); a text frame
//! that is not UTF-8 ends the stream too (tungstenite fails it).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::MaybeTlsStream;
use tokio_util::sync::CancellationToken;

use crate::config::SubscriptionConfig;
use crate::labels::GroupField;
use crate::smc::backoff::Backoff;
use crate::smc::connect::{self, NotOpened, Retry};
use crate::smc::driver::{Driver, Ending, Next};
use crate::smc::events::{Level, SubEvent, now_ms};
use crate::smc::folder::Folder;
use crate::smc::incidents::Joined;
use crate::smc::liveness::Timings;
use crate::smc::resync::{Batch, EMPTY_SETTLE_FACTOR, Resync};
use crate::smc::session::SmcSession;
use crate::state::{MessageErrorKind, ReconnectReason, SubscriptionState};
use smc_protocol::{Definition, ServerMessage, is_legacy_api, parse_api_version};

pub use crate::smc::driver::CLOSE_TIMEOUT;
pub use crate::smc::folder::SubscriptionSpec;
pub use crate::smc::resync::SNAPSHOT_BATCH;

/// The session-monitoring socket's path (after `/{api version}`).
pub const SESSION_SOCKET: &str = "/monitoring/session/socket";
/// `failure` replies (unknown target, no permission) retry on a schedule this
/// many times slower than `backoff_initial`…
pub const FAILURE_INITIAL_FACTOR: u32 = 20;
/// …capped at this many times `backoff_max`.
pub const FAILURE_MAX_FACTOR: u32 = 5;
/// Subscriptions that waited on their SMC's gate resume within a jitter of
/// at most this (or `backoff_max`, if smaller) once it opens.
pub const RESUME_SPREAD: Duration = Duration::from_secs(2);

/// The session-socket query of a subscription: its definition and target,
/// asking for the fields that become its labels, with its filter.
fn query(
    definition: Definition,
    target: &str,
    legacy: bool,
    fields: &[GroupField],
    filter: Option<&serde_json::Value>,
) -> String {
    let ids: Vec<u32> = fields.iter().map(|g| g.field).collect();
    smc_protocol::query_json(definition, target, legacy, &ids, filter)
}

/// The liveness timings of `[subscription]`.
fn timings(settings: &SubscriptionConfig) -> Timings {
    Timings {
        ping_interval: settings.ping_interval,
        pong_timeout: settings.pong_timeout,
        silence_limit: settings.silence_limit,
        answer_within: settings.snapshot_settle.saturating_mul(EMPTY_SETTLE_FACTOR),
    }
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

#[derive(Debug)]
struct Interruption {
    reason: ReconnectReason,
    detail: String,
    /// How long the connection had been healthy (its snapshot complete);
    /// `None` if it never was.
    healthy_for: Option<Duration>,
    retry: Retry,
}

impl From<NotOpened> for Ended {
    fn from(n: NotOpened) -> Self {
        match n {
            NotOpened::Wait { until, opened } => Ended::Wait { until, opened },
            NotOpened::Failed {
                reason,
                detail,
                retry,
            } => Ended::Reconnect(Interruption {
                reason,
                detail,
                healthy_for: None,
                retry,
            }),
        }
    }
}

impl Ended {
    /// An open connection's ending.
    fn from_ending(e: Ending, healthy_since: Option<Instant>) -> Self {
        Ended::Reconnect(Interruption {
            reason: e.reason,
            detail: e.detail,
            healthy_for: healthy_since.map(|t| t.elapsed()),
            retry: if e.routine {
                Retry::Routine
            } else {
                Retry::Own
            },
        })
    }
}

/// This subscription's own problem last logged at warn level (`failure`
/// replies), so that a retry failing the same way is not logged again;
/// cleared when a connection becomes healthy.
type Problem = Option<(ReconnectReason, String)>;

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
        self.folder.st()
    }

    /// How an interruption is logged: once per problem of its own, once
    /// per SMC-wide incident.
    fn level(&mut self, session: &SmcSession, i: &Interruption) -> Level {
        match i.retry {
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
        }
    }

    /// Count and log an interruption; the delay before the next attempt.
    fn interrupted(
        &mut self,
        session: &SmcSession,
        i: Interruption,
        settings: &SubscriptionConfig,
    ) -> Duration {
        let level = self.level(session, &i);
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

/// One connection: open it, then fold its stream until it ends or
/// `shutdown` (which aborts the fetch and closes the socket).
async fn connect_and_stream(
    session: &SmcSession,
    sub: &mut Sub,
    settings: &SubscriptionConfig,
    shutdown: &CancellationToken,
) -> Ended {
    let opened = tokio::select! {
        biased;
        _ = shutdown.cancelled() => return Ended::Shutdown,
        r = open(session, sub, settings) => r,
    };
    match opened {
        Ok(driver) => stream(driver, sub, session, settings, shutdown).await,
        Err(ended) => ended,
    }
}

type TcpDriver = Driver<MaybeTlsStream<TcpStream>>;

/// Log in if needed, open the session socket and send the query.
async fn open(
    session: &SmcSession,
    sub: &Sub,
    settings: &SubscriptionConfig,
) -> Result<TcpDriver, Ended> {
    let ws_config = crate::smc::ws_config::subscription_socket(settings.max_frame_bytes);
    let opened = connect::open(session, SESSION_SOCKET, ws_config, settings).await?;
    let legacy = parse_api_version(&opened.api_version).is_some_and(is_legacy_api);
    let st = sub.st();
    let spec = &sub.folder.spec;
    let query = query(
        st.definition,
        &st.target,
        legacy,
        &spec.group_fields,
        spec.filter.as_deref(),
    );
    Driver::start(
        opened.ws,
        query,
        timings(settings),
        settings.connect_timeout,
    )
    .await
    .map_err(|e| Ended::from_ending(e, None))
}

/// The state of one open connection.
struct Conn {
    resync: Resync,
    healthy_since: Option<Instant>,
}

/// Fold one open connection's stream until it ends or `shutdown`.
async fn stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut driver: Driver<S>,
    sub: &mut Sub,
    session: &SmcSession,
    settings: &SubscriptionConfig,
    shutdown: &CancellationToken,
) -> Ended {
    SubEvent::Subscribed.emit(sub.st());
    sub.folder.begin_snapshot();
    let mut conn = Conn {
        resync: Resync::begin(Instant::now(), settings.snapshot_settle),
        healthy_since: None,
    };
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                sub.folder.flush(Instant::now());
                driver.close().await;
                return Ended::Shutdown;
            }
            next = driver.next(earliest(conn.resync.next_deadline(), sub.folder.next_deadline())) => next,
        };
        if let Some(ended) = conn.on_next(next, &mut driver, sub, session) {
            sub.folder.flush(Instant::now());
            return ended;
        }
        // One unit of tokio's cooperative budget per frame: a subscription
        // draining a buffered burst yields to the other tasks of its worker
        // every 128 frames instead of only when its socket runs dry.
        tokio::task::consume_budget().await;
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn reject(st: &SubscriptionState, kind: MessageErrorKind, detail: &str) {
    SubEvent::FrameRejected { kind, detail }.emit(st);
}

impl Conn {
    /// What the driver reported: an ending, or what to fold.
    fn on_next<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        next: Next,
        driver: &mut Driver<S>,
        sub: &mut Sub,
        session: &SmcSession,
    ) -> Option<Ended> {
        match next {
            Next::Ended(e) => {
                if let Some(kind) = e.rejected {
                    reject(sub.st(), kind, &e.detail);
                }
                return Some(Ended::from_ending(e, self.healthy_since));
            }
            Next::Timer => {
                let now = Instant::now();
                if let Some(why) = self.resync.on_deadline(now) {
                    sub.folder.complete(now, why);
                    self.healthy_since = Some(sub.became_healthy(session));
                }
                sub.folder.on_deadline(now);
            }
            Next::Binary => {
                self.resync.on_answer();
                reject(sub.st(), MessageErrorKind::Binary, "binary frame");
            }
            Next::Text(text) => {
                self.resync.on_answer();
                sub.st().health.touch(now_ms());
                let decoded = driver.decode(text.as_str(), sub.folder.wanted());
                return self.on_message(decoded, sub, session);
            }
        }
        None
    }

    /// One decoded text frame.
    fn on_message(
        &mut self,
        decoded: Result<ServerMessage<'_>, smc_protocol::DecodeError>,
        sub: &mut Sub,
        session: &SmcSession,
    ) -> Option<Ended> {
        use ReconnectReason::{Closed, Failure};
        let end = |reason, detail| {
            Some(Ended::from_ending(
                Ending::new(reason, detail),
                self.healthy_since,
            ))
        };
        match decoded {
            Err(e) => reject(sub.st(), MessageErrorKind::Malformed, &e.to_string()),
            Ok(ServerMessage::Records { records, .. }) => {
                let now = Instant::now();
                let done = self.resync.on_records(now, Batch::of(&records));
                sub.folder.fold(now, &records);
                if let Some(why) = done {
                    sub.folder.complete(now, why);
                    self.healthy_since = Some(sub.became_healthy(session));
                }
            }
            Ok(ServerMessage::Failure { reason }) => return end(Failure, reason),
            Ok(ServerMessage::End { reason, .. }) => {
                return end(Closed, format!("server ended the fetch: {reason}"));
            }
            Ok(ServerMessage::Started { .. } | ServerMessage::Status { .. }) => {}
            Ok(ServerMessage::Unknown) => {
                reject(sub.st(), MessageErrorKind::Unknown, "no known key")
            }
        }
        None
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
            serde_json::from_str(&query(d, "HQ FW", false, &fields, None)).unwrap();
        assert_eq!(
            q,
            serde_json::json!({
                "query": {"definition": "CONNECTIONS", "target": "HQ FW"},
                "fetch": {},
                "format": {"type": "texts", "field_format": "id", "resolving": {"senders": true}, "field_ids": [4, 11, 116]},
            })
        );
        let q = query(Definition::BlockList, "x", true, &[], None);
        assert!(
            q.contains("\"BLACKLIST\"") && q.contains("\"field_ids\":[1]"),
            "{q}"
        );
    }

    /// The stream phase over an in-memory socket, under paused time.
    mod stream {
        use super::*;
        use futures_util::{SinkExt, StreamExt};
        use tokio::io::DuplexStream;
        use tokio_tungstenite::tungstenite::Message;

        const S: Duration = Duration::from_secs(1);
        const SETTLE: Duration = Duration::from_secs(2);

        use crate::smc::driver::tests::Peer;

        struct World {
            session: SmcSession,
            sub: Sub,
            settings: SubscriptionConfig,
            state: Arc<SubscriptionState>,
        }

        fn world() -> World {
            let cfg = crate::config::demo(
                "http://127.0.0.1:9",
                "not-a-real-key",
                &["fw".to_string()],
                &[],
                "127.0.0.1:0".parse().unwrap(),
            )
            .unwrap();
            let d = Definition::Connections;
            let fields = cfg.smc[0].group_fields(d);
            let spec = SubscriptionSpec {
                state: Arc::new(SubscriptionState::new(
                    "demo".into(),
                    "fw".into(),
                    d,
                    fields.iter().map(|g| g.label).collect(),
                )),
                group_fields: fields,
                filter: None,
                budget: Arc::new(smc_fold::SeriesBudget::new(cfg.max_series_per_family)),
            };
            let mut settings = cfg.subscription.clone();
            settings.snapshot_settle = SETTLE;
            let smc = Arc::new(crate::state::SmcState::new("demo".into()));
            let session = SmcSession::new(&cfg.smc[0], smc, &settings).unwrap();
            World {
                session,
                state: spec.state.clone(),
                sub: Sub::new(spec, &settings),
                settings,
            }
        }

        /// A started driver and the server end (which has read the query).
        async fn connected(w: &World) -> (Driver<DuplexStream>, Peer) {
            let (client, mut server) = crate::smc::driver::tests::pair(1 << 20, 1 << 20).await;
            let start = Driver::start(client, "{}".into(), timings(&w.settings), 5 * S);
            let (driver, _query) = tokio::join!(start, server.next());
            (driver.unwrap(), server)
        }

        fn rows(from: usize, n: usize, first_fetch: bool) -> String {
            let rows: Vec<String> = (from..from + n)
                .map(|i| {
                    format!(
                        r#"{{"delta_key":"k{i}","first_fetch":{first_fetch},"4":"fw node 1","11":"6","116":"s{}"}}"#,
                        i % 3
                    )
                })
                .collect();
            format!(
                r#"{{"fetch":5,"records":{{"added":[{}]}}}}"#,
                rows.join(",")
            )
        }

        async fn send(server: &mut Peer, text: &str) {
            server.send(Message::text(text)).await.unwrap();
        }

        fn entries(st: &SubscriptionState) -> u64 {
            st.published().entries
        }

        /// Run the stream phase alongside `script`, which ends by
        /// cancelling `shutdown` (or by the server ending the stream).
        async fn run_with(
            w: &mut World,
            driver: Driver<DuplexStream>,
            shutdown: &CancellationToken,
            script: impl std::future::Future<Output = ()>,
        ) -> Ended {
            let phase = stream(driver, &mut w.sub, &w.session, &w.settings, shutdown);
            tokio::join!(phase, script).0
        }

        #[tokio::test(start_paused = true)]
        async fn full_unflagged_batches_complete_after_snapshot_settle() {
            let mut w = world();
            let (driver, mut server) = connected(&w).await;
            let (st, shutdown) = (w.state.clone(), CancellationToken::new());
            let script = async {
                send(&mut server, r#"{"success":"ok","fetch":5}"#).await;
                send(&mut server, &rows(0, 200, false)).await;
                tokio::time::sleep(SETTLE - Duration::from_millis(1)).await;
                assert!(!st.health.up() && st.health.snapshots() == 0);
                assert_eq!(
                    entries(&st),
                    0,
                    "the snapshot is not served before it is complete"
                );
                // Just past the deadline (at it, the order of the two
                // timers is the runtime's).
                tokio::time::sleep(Duration::from_millis(2)).await;
                assert!(st.health.up() && st.health.ready());
                assert_eq!((st.health.snapshots(), entries(&st)), (1, 200));
                shutdown.cancel();
                // Abort, then close, on shutdown.
                assert_eq!(
                    server.next().await.unwrap().unwrap(),
                    Message::text(r#"{"abort":5}"#)
                );
                assert!(matches!(server.next().await, Some(Ok(Message::Close(_)))));
            };
            let ended = run_with(&mut w, driver, &shutdown, script).await;
            assert!(matches!(ended, Ended::Shutdown), "{ended:?}");
        }

        #[tokio::test(start_paused = true)]
        async fn a_short_batch_completes_at_once_then_live_records_are_paced() {
            let mut w = world();
            let (driver, mut server) = connected(&w).await;
            let (st, shutdown) = (w.state.clone(), CancellationToken::new());
            let script = async {
                send(&mut server, &rows(0, 200, true)).await;
                send(&mut server, &rows(200, 37, true)).await;
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(1)).await;
                assert_eq!((st.health.snapshots(), entries(&st)), (1, 237));
                send(
                    &mut server,
                    r#"{"fetch":5,"records":{"deleted":["k0","k1","gone"]}}"#,
                )
                .await;
                tokio::time::sleep(Duration::from_millis(1)).await;
                assert_eq!(
                    entries(&st),
                    237,
                    "live changes wait for the publish interval"
                );
                tokio::time::sleep(crate::smc::folder::PUBLISH_INTERVAL).await;
                assert_eq!(entries(&st), 235, "then they are published");
                assert_eq!(st.health.unknown_deletes(), 1);
                assert_eq!(st.health.records(smc_protocol::Change::Deleted), 3);
                assert_eq!(st.health.records(smc_protocol::Change::Added), 237);
                shutdown.cancel();
            };
            run_with(&mut w, driver, &shutdown, script).await;
            assert_eq!(w.state.health.snapshots(), 1);
        }

        #[tokio::test(start_paused = true)]
        async fn an_answered_query_without_records_is_an_empty_table_after_ten_settles() {
            let mut w = world();
            let (driver, mut server) = connected(&w).await;
            let (st, shutdown) = (w.state.clone(), CancellationToken::new());
            let script = async {
                send(&mut server, r#"{"success":"ok","fetch":5}"#).await;
                let reader = async { while let Some(Ok(_)) = server.next().await {} };
                let check = async {
                    tokio::time::sleep(SETTLE * 10 - Duration::from_millis(1)).await;
                    assert!(!st.health.ready());
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    assert!(st.health.ready() && st.health.up());
                    assert_eq!(entries(&st), 0);
                    shutdown.cancel();
                };
                tokio::join!(reader, check);
            };
            run_with(&mut w, driver, &shutdown, script).await;
        }

        #[tokio::test(start_paused = true)]
        async fn a_socket_that_never_answers_is_given_up_and_never_up() {
            let mut w = world();
            let (driver, mut server) = connected(&w).await;
            let (st, shutdown) = (w.state.clone(), CancellationToken::new());
            let t0 = Instant::now();
            let reader = async { while let Some(Ok(_)) = server.next().await {} };
            let ended = run_with(&mut w, driver, &shutdown, reader).await;
            assert_eq!(Instant::now() - t0, SETTLE * 10);
            let Ended::Reconnect(i) = ended else {
                panic!("{ended:?}")
            };
            assert_eq!(i.reason, ReconnectReason::Idle);
            assert_eq!(i.detail, "no answer to the query within 20s");
            assert_eq!(i.healthy_for, None);
            assert!(!st.health.ready() && st.health.snapshots() == 0);
        }

        #[tokio::test(start_paused = true)]
        async fn bad_frames_are_counted_and_skipped_and_failure_ends_the_stream() {
            let mut w = world();
            let (driver, mut server) = connected(&w).await;
            let shutdown = CancellationToken::new();
            let script = async {
                server.send(Message::binary(vec![0u8; 3])).await.unwrap();
                send(&mut server, "{not json").await;
                send(&mut server, r#"{"hello":1}"#).await;
                send(
                    &mut server,
                    r#"{"fetch":5,"records":{"added":[{"4":"no key"}]}}"#,
                )
                .await;
                send(&mut server, r#"{"failure":"Target not found: fw"}"#).await;
            };
            let ended = run_with(&mut w, driver, &shutdown, script).await;
            let Ended::Reconnect(i) = ended else {
                panic!("{ended:?}")
            };
            assert_eq!(
                (i.reason, i.detail.as_str()),
                (ReconnectReason::Failure, "Target not found: fw")
            );
            let h = &w.state.health;
            for kind in [
                MessageErrorKind::Binary,
                MessageErrorKind::Malformed,
                MessageErrorKind::Unknown,
                MessageErrorKind::MissingKey,
            ] {
                assert_eq!(h.message_errors(kind), 1, "{kind:?}");
            }
            assert_eq!(
                h.snapshots(),
                1,
                "the keyless short batch completed the snapshot"
            );
        }
    }
}
