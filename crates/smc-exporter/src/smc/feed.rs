//! A counting socket of one SMC that is not a session table: the
//! notification socket ([`super::notify`]) and each log stream
//! ([`super::log_stream`]). One socket on the SMC's session, one subscribe
//! frame, every message handed to the [`Feed`]; on any ending it reconnects
//! on its own backoff (the `failure` schedule after a refusal) and
//! subscribes again. What the SMC sends while it is down is not counted:
//! neither socket has a replay (a log stream asks for `current` records
//! only, so a reconnect cannot count a record twice).
//!
//! Logging is here, once per streak: the first interruption after a
//! healthy connection at warn, the following ones at debug, the recovery
//! at info.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::connect::{self, NotOpened, Retry};
use super::driver::{Driver, Ending, Next};
use super::liveness::Timings;
use super::session::SmcSession;
use super::subscription::{FAILURE_INITIAL_FACTOR, FAILURE_MAX_FACTOR};
use crate::config::SubscriptionConfig;
use crate::state::ReconnectReason;

/// The subscription must be acknowledged within this many
/// `snapshot_settle`s of the subscribe frame; after it, silence is normal
/// (pings keep the connection checked).
const ACK_SETTLE_FACTOR: u32 = 5;

/// What one message said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The subscription was acknowledged (with the fetch id, if any, that
    /// a close aborts).
    Subscribed { fetch: Option<i64> },
    /// Anything else (counted, or nothing to count).
    Other,
}

/// One kind of counting socket.
pub trait Feed: Send + Sync + 'static {
    /// The `smc` label of its SMC.
    fn smc(&self) -> &str;
    /// What log lines call it, e.g. `notification socket`.
    fn what(&self) -> &str;
    /// The socket's path after `/{api version}`.
    fn path(&self) -> &'static str;
    /// The one frame that subscribes.
    fn subscribe_frame(&self) -> String;
    /// Count one text message; `Err` ends the connection (a refusal).
    fn on_message(&self, text: &str) -> Result<Heard, Ending>;
    /// The socket is subscribed (true) or not (false).
    fn set_up(&self, up: bool);
    fn count_reconnect(&self, reason: ReconnectReason);
}

/// How one connection ended, and whether it had been subscribed.
struct Ended {
    reason: ReconnectReason,
    detail: String,
    subscribed: bool,
    /// A closed gate: wait for it, no reconnect counted.
    wait: Option<Instant>,
    /// The session logged it (SMC-wide): no line of ours.
    gate: bool,
}

impl Ended {
    fn from_ending(e: Ending, subscribed: bool) -> Self {
        Ended {
            reason: e.reason,
            detail: e.detail,
            subscribed,
            wait: None,
            gate: false,
        }
    }
}

impl From<NotOpened> for Ended {
    fn from(n: NotOpened) -> Self {
        match n {
            NotOpened::Wait { until, .. } => Ended {
                reason: ReconnectReason::LoginFailed,
                detail: String::new(),
                subscribed: false,
                wait: Some(until),
                gate: true,
            },
            NotOpened::Failed {
                reason,
                detail,
                retry,
            } => Ended {
                reason,
                detail,
                subscribed: false,
                wait: None,
                gate: retry == Retry::Gate,
            },
        }
    }
}

/// Run `feed` on `session` until `cancel`.
pub async fn run<F: Feed>(
    session: Arc<SmcSession>,
    feed: Arc<F>,
    settings: SubscriptionConfig,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    let mut failures = Backoff::new(
        settings
            .backoff_initial
            .saturating_mul(FAILURE_INITIAL_FACTOR),
        settings.backoff_max.saturating_mul(FAILURE_MAX_FACTOR),
    );
    let mut interrupted = false;
    loop {
        let ended = tokio::select! {
            _ = cancel.cancelled() => break,
            e = connection(&session, &*feed, &settings, &mut interrupted) => e,
        };
        feed.set_up(false);
        if ended.subscribed {
            backoff.reset();
            failures.reset();
        }
        let delay = match ended.wait {
            Some(until) => until.saturating_duration_since(Instant::now()),
            None => {
                feed.count_reconnect(ended.reason);
                log_interruption(&*feed, &ended, &mut interrupted);
                if ended.reason == ReconnectReason::Failure {
                    failures.next_delay()
                } else {
                    backoff.next_delay()
                }
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(delay.max(Duration::from_millis(10))) => {}
        }
    }
    feed.set_up(false);
}

fn log_interruption(feed: &impl Feed, e: &Ended, interrupted: &mut bool) {
    let (smc, what, reason, detail) = (feed.smc(), feed.what(), e.reason.label(), &e.detail);
    if e.gate || *interrupted {
        tracing::debug!(smc = %smc, reason, detail = %detail, "{what} interrupted; reconnecting");
    } else {
        tracing::warn!(smc = %smc, reason, detail = %detail, "{what} interrupted; reconnecting");
    }
    *interrupted = true;
}

/// One connection: open, subscribe, count until it ends.
async fn connection(
    session: &SmcSession,
    feed: &impl Feed,
    settings: &SubscriptionConfig,
    interrupted: &mut bool,
) -> Ended {
    let ws_config = crate::smc::ws_config::subscription_socket(settings.max_frame_bytes);
    let opened = match connect::open(session, feed.path(), ws_config, settings).await {
        Ok(o) => o,
        Err(n) => return n.into(),
    };
    let timings = Timings {
        ping_interval: settings.ping_interval,
        pong_timeout: settings.pong_timeout,
        silence_limit: None,
        answer_within: settings.snapshot_settle.saturating_mul(ACK_SETTLE_FACTOR),
    };
    let frame = feed.subscribe_frame();
    let mut driver = match Driver::start(opened.ws, frame, timings, settings.connect_timeout).await
    {
        Ok(d) => d,
        Err(e) => return Ended::from_ending(e, false),
    };
    let mut subscribed = false;
    let ending = loop {
        match driver.next(None).await {
            Next::Text(text) => match feed.on_message(&text) {
                Ok(Heard::Subscribed { fetch }) => {
                    driver.note_fetch(fetch);
                    if !subscribed {
                        subscribed = true;
                        feed.set_up(true);
                        log_subscribed(feed, interrupted);
                    }
                }
                Ok(Heard::Other) => {}
                Err(e) => break e,
            },
            Next::Binary | Next::Timer => {}
            Next::Ended(e) => break e,
        }
    };
    driver.close().await;
    Ended::from_ending(ending, subscribed)
}

fn log_subscribed(feed: &impl Feed, interrupted: &mut bool) {
    let (smc, what) = (feed.smc(), feed.what());
    if std::mem::take(interrupted) {
        tracing::info!(smc = %smc, "{what} resumed");
    } else {
        tracing::debug!(smc = %smc, "{what} subscribed");
    }
}
