//! Connection-life events, each one typed value whose `emit` writes its log
//! line and bumps its counter (the shape of Vector's `internal_events`), so
//! that what is logged and what is counted cannot drift apart.
//!
//! SMC-wide events ([`SmcEvent`]) are written once per SMC by its session;
//! subscription events ([`SubEvent`]) once per subscription, except that
//! interruptions that many subscriptions share are aggregated per SMC (see
//! [`super::incidents`]: one warn per distinct reason and detail) and those
//! the SMC's gate already reported are logged at debug.

use std::time::Duration;

use std::time::{SystemTime, UNIX_EPOCH};

use smc_fold::FoldCounts;

use super::gate::{Change, Problem};
use super::incidents::Closed;
use super::resync::Completion;
use crate::state::{MessageErrorKind, ReconnectReason, SmcState, SubscriptionState};

/// Wall-clock milliseconds, for `smc_subscription_last_message_timestamp`.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn human(d: Duration) -> humantime::FormattedDuration {
    // Whole milliseconds: "1s 503ms", not nanoseconds.
    humantime::format_duration(Duration::from_millis(
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
    ))
}

/// An event of one SMC's session.
#[derive(Debug)]
pub enum SmcEvent<'a> {
    /// A login succeeded (`smc_logins_total`).
    LoggedIn { api_version: &'a str },
    /// A login attempt failed; `counted`: it was answered with an error
    /// (`smc_login_failures_total`), not left without an answer.
    LoginFailed { change: &'a Change, counted: bool },
    /// The gate changed (a report about an upgrade).
    Gate(&'a Change),
    /// A session was dropped without an upgrade refusal (see
    /// [`super::session::SmcSession::invalidate`]).
    Invalidated,
}

impl SmcEvent<'_> {
    pub fn emit(&self, smc: &SmcState) {
        match self {
            SmcEvent::LoggedIn { api_version } => {
                smc.inc_logins();
                smc.set_api_version(api_version);
                tracing::info!(smc = %smc.name, api_version = %api_version, "logged in");
            }
            SmcEvent::LoginFailed { change, counted } => {
                if *counted {
                    smc.inc_login_failures();
                }
                log_change(smc, change);
            }
            SmcEvent::Gate(change) => log_change(smc, change),
            SmcEvent::Invalidated => {
                tracing::info!(smc = %smc.name, "session refused by the SMC; will log in again")
            }
        }
    }
}

fn log_change(smc: &SmcState, change: &Change) {
    let name = &smc.name;
    match change {
        Change::Began(p) => began(smc, p),
        Change::Again(p) => {
            tracing::debug!(smc = %name, reason = p.reason().label(), detail = %p, "SMC problem persists")
        }
        Change::Recovered(p, lasted) => {
            let what = match p {
                Problem::LoginFailed(_) => "login succeeded again",
                Problem::Unreachable(_) => "SMC reachable again",
                Problem::UpgradesRefused(_) => "upgrades accepted again",
            };
            tracing::info!(smc = %name, after = p.reason().label(), lasted = %human(*lasted), "{what}")
        }
        Change::SessionEnded(status) => {
            tracing::info!(smc = %name, status, "session refused by the SMC; logging in again")
        }
        Change::Nothing => {}
    }
}

fn began(smc: &SmcState, p: &Problem) {
    let (name, reason) = (&smc.name, p.reason().label());
    match p {
        Problem::LoginFailed(detail) => tracing::warn!(smc = %name, reason, detail = %detail,
            "login failed; retrying on the SMC's login schedule"),
        Problem::Unreachable(detail) => tracing::warn!(smc = %name, reason, detail = %detail,
            "SMC unreachable; retrying on the SMC's schedule"),
        Problem::UpgradesRefused(status) => tracing::warn!(smc = %name, reason, status,
            "logged in but upgrades refused (HTTP {status}): check the API client's permissions"),
    }
}

/// How an interruption is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A new problem of this subscription, or the first of an incident.
    Warn,
    /// Routine (the silence limit).
    Info,
    /// The same problem again, part of an open incident, or already
    /// reported by the SMC's session.
    Debug,
}

/// An event of one subscription.
#[derive(Debug)]
pub enum SubEvent<'a> {
    /// The socket is open and the query sent; the last-message clock starts
    /// at the first one (a socket that never sends anything shows as stale).
    Subscribed,
    /// One `records` message folded
    /// (`smc_monitoring_records_total{change}`, unknown deletes, and
    /// records without a key as `message_errors_total{kind="missing_key"}`).
    Folded {
        added: usize,
        updated: usize,
        deleted: usize,
        counts: FoldCounts,
    },
    /// The (re)sync's snapshot is complete: the subscription is up and
    /// ready (`smc_subscription_snapshots_total`).
    SnapshotComplete { why: Completion, entries: u64 },
    /// The connection ended or could not be opened
    /// (`smc_subscription_reconnects_total{reason}`).
    Interrupted {
        reason: ReconnectReason,
        detail: &'a str,
        level: Level,
    },
    /// Healthy again after a problem logged for this subscription alone.
    Resumed { after: ReconnectReason },
    /// A received frame could not be used
    /// (`smc_monitoring_message_errors_total{kind}`).
    FrameRejected {
        kind: MessageErrorKind,
        detail: &'a str,
    },
}

impl SubEvent<'_> {
    pub fn emit(&self, st: &SubscriptionState) {
        let (smc, target, definition) = (&st.smc, &st.target, st.definition.label());
        match self {
            SubEvent::Subscribed => {
                st.health.touch_first(now_ms());
                tracing::debug!(smc = %smc, target = %target, definition, "subscribed");
            }
            SubEvent::Folded {
                added,
                updated,
                deleted,
                counts,
            } => folded(st, [*added, *updated, *deleted], *counts),
            SubEvent::SnapshotComplete { why, entries } => {
                st.health.inc_snapshots();
                st.health.set_up(true);
                st.health.set_ready();
                tracing::debug!(smc = %smc, target = %target, definition, entries,
                    rule = why.label(), "snapshot complete");
            }
            SubEvent::Interrupted {
                reason,
                detail,
                level,
            } => {
                st.health.inc_reconnect(*reason);
                st.health
                    .set_last_problem(crate::state::Problem::new(*reason, detail, now_ms()));
                let reason = reason.label();
                match level {
                    Level::Warn => tracing::warn!(smc = %smc, target = %target, definition, reason,
                        detail = %detail, "subscription interrupted; reconnecting"),
                    Level::Info => tracing::info!(smc = %smc, target = %target, definition, reason,
                        detail = %detail, "resubscribing"),
                    Level::Debug => {
                        tracing::debug!(smc = %smc, target = %target, definition, reason,
                        detail = %detail, "subscription interrupted again")
                    }
                }
            }
            SubEvent::Resumed { after } => tracing::info!(smc = %smc, target = %target, definition,
                after = after.label(), "subscription resumed"),
            SubEvent::FrameRejected { kind, detail } => {
                st.health.inc_message_error(*kind);
                tracing::debug!(smc = %smc, target = %target, definition, kind = kind.label(),
                    detail = %detail, "frame rejected");
            }
        }
    }
}

fn folded(st: &SubscriptionState, lists: [usize; 3], c: FoldCounts) {
    use smc_protocol::Change;
    let h = &st.health;
    for (change, n) in [Change::Added, Change::Updated, Change::Deleted]
        .into_iter()
        .zip(lists)
    {
        h.add_records(change, n as u64);
    }
    if c.unknown_deletes > 0 {
        h.add_unknown_deletes(c.unknown_deletes);
    }
    if c.missing_keys > 0 {
        h.add_message_errors(MessageErrorKind::MissingKey, c.missing_keys);
    }
}

/// Every subscription of an incident has resumed: one line for them all.
pub fn incident_closed(smc: &str, c: &Closed) {
    tracing::info!(smc = %smc, subscriptions = c.subscriptions, reasons = %c.reasons_text(),
        lasted = %human(c.lasted), "subscriptions resumed");
}
