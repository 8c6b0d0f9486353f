//! The notification socket of one SMC (`/{ver}/notification/socket`,
//! protocol §5): subscribed to the configured element types in one frame,
//! every element event counted into a [`NotifyState`]. The socket's life
//! (reconnects, backoff, logging) is [`super::feed`]'s. Events sent while it
//! is down are not counted: the SMC has no replay for them.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::driver::Ending;
use super::feed::{self, Feed, Heard};
use super::session::SmcSession;
use crate::config::SubscriptionConfig;
use crate::state::ReconnectReason;
use crate::state::notify::NotifyState;
use smc_protocol::{Notification, decode_notification, subscribe_frame};

/// The notification socket's path (after `/{api version}`).
pub const NOTIFICATION_SOCKET: &str = "/notification/socket";

/// Count `session`'s element changes of the types of `state` until
/// `cancel`.
pub async fn run(
    session: Arc<SmcSession>,
    state: Arc<NotifyState>,
    settings: SubscriptionConfig,
    cancel: CancellationToken,
) {
    feed::run(session, state, settings, cancel).await;
}

impl Feed for NotifyState {
    fn smc(&self) -> &str {
        &self.smc
    }
    fn what(&self) -> &str {
        "notification socket"
    }
    fn path(&self) -> &'static str {
        NOTIFICATION_SOCKET
    }
    fn subscribe_frame(&self) -> String {
        subscribe_frame(self.configured())
    }
    fn on_message(&self, text: &str) -> Result<Heard, Ending> {
        on_message(self, text).map(|ack| {
            if ack {
                Heard::Subscribed { fetch: None }
            } else {
                Heard::Other
            }
        })
    }
    fn set_up(&self, up: bool) {
        NotifyState::set_up(self, up);
    }
    fn count_reconnect(&self, reason: ReconnectReason) {
        NotifyState::count_reconnect(self, reason);
    }
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
