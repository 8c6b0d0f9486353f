//! The notification socket of one SMC (`/{ver}/notification/socket`,
//! protocol §5): one socket on the SMC's session, subscribed to the
//! configured element types in one frame, every element event counted into
//! a [`NotifyState`]; on any ending it reconnects on its own backoff (the
//! `failure` schedule after a refusal) and subscribes again. Events sent
//! while it is down are not counted: the SMC has no replay for them.
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
use crate::state::notify::NotifyState;
use smc_protocol::{Notification, decode_notification, subscribe_frame};

/// The notification socket's path (after `/{api version}`).
pub const NOTIFICATION_SOCKET: &str = "/notification/socket";

/// Element events arrive rarely: the acknowledgement must come within
/// this many `snapshot_settle`s of the subscribe frame; after it, silence
/// is normal (pings keep the connection checked).
const ACK_SETTLE_FACTOR: u32 = 5;

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

/// Count `session`'s element changes of the types of `state` until
/// `cancel`.
pub async fn run(
    session: Arc<SmcSession>,
    state: Arc<NotifyState>,
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
            e = connection(&session, &state, &settings, &mut interrupted) => e,
        };
        state.set_up(false);
        if ended.subscribed {
            backoff.reset();
            failures.reset();
        }
        let delay = match ended.wait {
            Some(until) => until.saturating_duration_since(Instant::now()),
            None => {
                state.count_reconnect(ended.reason);
                log_interruption(&state, &ended, &mut interrupted);
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
    state.set_up(false);
}

fn log_interruption(state: &NotifyState, e: &Ended, interrupted: &mut bool) {
    let (smc, reason, detail) = (&state.smc, e.reason.label(), &e.detail);
    if e.gate || *interrupted {
        tracing::debug!(smc = %smc, reason, detail = %detail, "notification socket interrupted; reconnecting");
    } else {
        tracing::warn!(smc = %smc, reason, detail = %detail, "notification socket interrupted; reconnecting");
    }
    *interrupted = true;
}

/// One connection: open, subscribe, count until it ends.
async fn connection(
    session: &SmcSession,
    state: &NotifyState,
    settings: &SubscriptionConfig,
    interrupted: &mut bool,
) -> Ended {
    let ws_config = crate::smc::ws_config::subscription_socket(settings.max_frame_bytes);
    let opened = match connect::open(session, NOTIFICATION_SOCKET, ws_config, settings).await {
        Ok(o) => o,
        Err(n) => return n.into(),
    };
    let timings = Timings {
        ping_interval: settings.ping_interval,
        pong_timeout: settings.pong_timeout,
        silence_limit: None,
        answer_within: settings.snapshot_settle.saturating_mul(ACK_SETTLE_FACTOR),
    };
    let frame = subscribe_frame(state.configured());
    let mut driver = match Driver::start(opened.ws, frame, timings, settings.connect_timeout).await
    {
        Ok(d) => d,
        Err(e) => return Ended::from_ending(e, false),
    };
    let mut subscribed = false;
    let ending = loop {
        match driver.next(None).await {
            Next::Text(text) => match on_message(state, &text) {
                Ok(true) if !subscribed => {
                    subscribed = true;
                    state.set_up(true);
                    if std::mem::take(interrupted) {
                        tracing::info!(smc = %state.smc, "notification socket resumed");
                    } else {
                        tracing::debug!(smc = %state.smc, types = ?state.configured(), "notification socket subscribed");
                    }
                }
                Ok(_) => {}
                Err(e) => break e,
            },
            Next::Binary | Next::Timer => {}
            Next::Ended(e) => break e,
        }
    };
    driver.close().await;
    Ended::from_ending(ending, subscribed)
}

/// Count one message; `Ok(true)` for the acknowledgement, `Err` for a
/// refusal (the socket is then closed and opened again later).
fn on_message(state: &NotifyState, text: &str) -> Result<bool, Ending> {
    match decode_notification(text) {
        Ok(Notification::Subscribed { .. }) => Ok(true),
        Ok(Notification::Events { events, malformed }) => {
            for e in &events {
                state.count(e.element_type(), &e.action);
            }
            if malformed > 0 {
                state.count_malformed(malformed);
            }
            Ok(false)
        }
        Ok(Notification::Failure(f)) => {
            let detail: String = f.chars().take(smc_fold::MAX_LABEL_VALUE_BYTES).collect();
            Err(Ending::new(ReconnectReason::Failure, detail))
        }
        Ok(Notification::Other) => Ok(false),
        Err(e) => {
            tracing::debug!(smc = %state.smc, error = %e, "notification message not understood");
            state.count_malformed(1);
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_counted_and_a_refusal_ends_the_connection() {
        let st = NotifyState::new("hq".into(), &["host".into()]);
        let ack = r#"{"success":"Subscribed","subscription_id":1,"context":"host"}"#;
        assert!(on_message(&st, ack).unwrap());
        let ev = r#"{"event":{"type":"create","element":"http://h/7.1/elements/host/1"},"subscription_id":1}"#;
        assert!(!on_message(&st, ev).unwrap());
        assert!(!on_message(&st, "not json").unwrap());
        assert_eq!(st.changes()[0], ("host", "create", 1));
        assert_eq!(st.malformed(), 1);
        let e = on_message(&st, r#"{"failure":"Unknown context \"hots\""}"#).unwrap_err();
        assert_eq!(e.reason, ReconnectReason::Failure);
        assert_eq!(e.detail, "Unknown context \"hots\"");
    }
}
