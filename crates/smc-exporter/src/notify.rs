//! systemd's notify protocol (`Type=notify`): `READY=1` once every
//! subscription has its first snapshot (or after [`READY_TIMEOUT`], with a
//! `STATUS=` naming what is missing), `WATCHDOG=1` from the daemon's own
//! loop when systemd asks for it (`WatchdogSec=`), `RELOADING=1` around
//! each reload and `STOPPING=1` at shutdown, with `STATUS=` lines systemd
//! shows in `systemctl status`. Every call is a no-op without
//! `NOTIFY_SOCKET` (not started by systemd), and a failed send is logged at
//! debug and otherwise ignored: the exporter works the same without it.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::state::Store;

/// The longest the exporter waits for every first snapshot before it tells
/// systemd it is ready anyway (a target the SMC refuses must not keep the
/// unit "activating" until systemd's start timeout kills it).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest `STATUS=` text (systemd shows one line).
const MAX_STATUS: usize = 400;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!(error = %e, "systemd notify failed");
    }
}

/// `STATUS=` text, one bounded line.
fn status_line(s: &str) -> String {
    let line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match line.char_indices().nth(MAX_STATUS) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

/// What the ready notification says about `store`.
pub fn ready_status(store: &Store) -> String {
    let total = store.subscriptions.len();
    let waiting: Vec<String> = store
        .subscriptions
        .iter()
        .filter(|s| !s.health.ready())
        .map(|s| format!("{}/{}/{}", s.smc, s.target, s.definition.label()))
        .collect();
    if waiting.is_empty() {
        format!("serving {total} subscriptions, every first snapshot in")
    } else {
        format!(
            "serving; {} of {total} subscriptions still without a first snapshot: {}",
            waiting.len(),
            waiting.join(", ")
        )
    }
}

/// `READY=1` with a status line.
pub fn ready(status: &str) {
    let status = status_line(status);
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// A `STATUS=` line alone.
pub fn status(status: &str) {
    let status = status_line(status);
    send(&[NotifyState::Status(&status)]);
}

/// `RELOADING=1` (with the monotonic time systemd 253+ wants beside it).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[
            NotifyState::Reloading,
            now,
            NotifyState::Status("reloading the configuration"),
        ]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// `STOPPING=1`.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: closing sockets, logging out"),
    ]);
}

/// Half the watchdog period systemd set (`WATCHDOG_USEC`, for this process
/// per `WATCHDOG_PID`), if it set one.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
}

/// `WATCHDOG=1`.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_status_names_what_is_still_missing() {
        use std::sync::Arc;
        let sub = |target: &str| {
            Arc::new(crate::state::SubscriptionState::new(
                Arc::from("hq"),
                Arc::from(target),
                smc_protocol::Definition::Connections,
                Arc::from(Vec::new()),
            ))
        };
        let (a, b) = (sub("fw-a"), sub("fw-b"));
        a.health.set_ready();
        let store = Store {
            subscriptions: vec![a, b.clone()],
            ..Store::default()
        };
        assert_eq!(
            ready_status(&store),
            "serving; 1 of 2 subscriptions still without a first snapshot: hq/fw-b/connections"
        );
        b.health.set_ready();
        assert_eq!(
            ready_status(&store),
            "serving 2 subscriptions, every first snapshot in"
        );
    }

    #[test]
    fn status_lines_are_one_bounded_line() {
        assert_eq!(status_line("a\nb\u{1b}c"), "a b c");
        let long = "x".repeat(MAX_STATUS + 10);
        assert_eq!(status_line(&long).chars().count(), MAX_STATUS + 1);
        assert!(status_line(&long).ends_with('…'));
    }
}
