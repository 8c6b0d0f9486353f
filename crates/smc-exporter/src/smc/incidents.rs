//! Aggregation of subscription interruptions per SMC (pure; `now` passed
//! in), so that one incident hitting many subscriptions at once (the SMC
//! restarting, a network cut: every socket ends) writes one warn line when
//! it begins and one info line when the last of them has resumed, not two
//! lines per subscription.
//!
//! The first interruption while no incident is open opens one (warn, naming
//! that subscription, its reason and detail); the next ones join it,
//! whatever their reason: at warn if their reason and detail are new to the
//! incident (up to [`MAX_DISTINCT`] of them, so an SMC-supplied close reason
//! is shown once, not once per subscription), else at debug; when every
//! subscription that joined has resumed, it closes (info: how many, by
//! reason, and how long). An incident older
//! than [`INCIDENT_MAX_AGE`] is closed by the next interruption, which opens
//! a new one, so a subscription that never recovers cannot keep later
//! problems at debug forever.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::state::ReconnectReason;

/// See the module documentation.
pub const INCIDENT_MAX_AGE: Duration = Duration::from_secs(600);
/// Distinct (reason, detail) pairs logged at warn per incident.
pub const MAX_DISTINCT: usize = 5;

/// How to log one interruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The first of its incident: warn.
    Opened,
    /// Part of an open incident, with a reason and detail new to it: warn.
    New,
    /// Part of an open incident, nothing new: debug.
    Joined,
}

/// An incident whose subscriptions have all resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// Subscriptions that were interrupted in it.
    pub subscriptions: usize,
    /// Interruptions by reason (non-zero only, in `ReconnectReason::ALL` order).
    pub reasons: Vec<(ReconnectReason, u64)>,
    /// From its first interruption to the last resume.
    pub lasted: Duration,
}

impl Closed {
    /// `read_error 36, closed 1`.
    pub fn reasons_text(&self) -> String {
        let parts: Vec<String> = self
            .reasons
            .iter()
            .map(|(r, n)| format!("{} {n}", r.label()))
            .collect();
        parts.join(", ")
    }
}

#[derive(Debug, Clone)]
struct Incident {
    since: Instant,
    waiting: BTreeSet<u64>,
    subscriptions: usize,
    counts: [u64; ReconnectReason::ALL.len()],
    /// The (reason, detail) pairs logged at warn.
    shown: Vec<(ReconnectReason, String)>,
}

/// The open incident of one SMC, if any.
#[derive(Debug, Default)]
pub struct Incidents {
    open: Option<Incident>,
}

fn index(r: ReconnectReason) -> usize {
    ReconnectReason::ALL
        .iter()
        .position(|x| *x == r)
        .unwrap_or_default()
}

impl Incidents {
    /// Subscription `sub` was interrupted with `reason` and `detail` at `now`.
    pub fn interrupted(
        &mut self,
        now: Instant,
        sub: u64,
        reason: ReconnectReason,
        detail: &str,
    ) -> Joined {
        let current = self
            .open
            .take()
            .filter(|i| now.saturating_duration_since(i.since) < INCIDENT_MAX_AGE);
        let opened = current.is_none();
        let mut i = current.unwrap_or_else(|| Incident {
            since: now,
            waiting: BTreeSet::new(),
            subscriptions: 0,
            counts: [0; ReconnectReason::ALL.len()],
            shown: vec![],
        });
        let new = i.shown.len() < MAX_DISTINCT
            && !i.shown.iter().any(|(r, d)| *r == reason && d == detail);
        if new {
            i.shown.push((reason, detail.to_owned()));
        }
        let joined = match (opened, new) {
            (true, _) => Joined::Opened,
            (false, true) => Joined::New,
            (false, false) => Joined::Joined,
        };
        if i.waiting.insert(sub) {
            i.subscriptions += 1;
        }
        i.counts[index(reason)] += 1;
        self.open = Some(i);
        joined
    }

    /// Subscription `sub` is healthy again at `now`: the incident this
    /// closes, if any.
    pub fn resumed(&mut self, now: Instant, sub: u64) -> Option<Closed> {
        let i = self.open.as_mut()?;
        if !i.waiting.remove(&sub) || !i.waiting.is_empty() {
            return None;
        }
        let i = self.open.take()?;
        Some(Closed {
            subscriptions: i.subscriptions,
            reasons: ReconnectReason::ALL
                .iter()
                .zip(i.counts)
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| (*r, n))
                .collect(),
            lasted: now.saturating_duration_since(i.since),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReconnectReason::{Closed as ClosedReason, ReadError};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn many_interruptions_make_one_incident() {
        let t0 = Instant::now();
        let mut inc = Incidents::default();
        let joins: Vec<Joined> = (0..37)
            .map(|s| inc.interrupted(t0 + MS * s, u64::from(s), ReadError, "reset"))
            .collect();
        assert_eq!(joins[0], Joined::Opened);
        assert!(joins[1..].iter().all(|j| *j == Joined::Joined));
        // Interrupted again before resuming, for another reason: still one
        // subscription, one incident, and a detail shown once.
        assert_eq!(
            inc.interrupted(t0, 3, ClosedReason, "going away"),
            Joined::New
        );
        assert_eq!(
            inc.interrupted(t0, 4, ClosedReason, "going away"),
            Joined::Joined
        );
        for s in 0..36 {
            assert_eq!(inc.resumed(t0 + 100 * MS, s), None);
        }
        let closed = inc.resumed(t0 + 2000 * MS, 36).unwrap();
        assert_eq!(
            closed,
            Closed {
                subscriptions: 37,
                reasons: vec![(ClosedReason, 2), (ReadError, 37)],
                lasted: 2000 * MS
            }
        );
        assert_eq!(closed.reasons_text(), "closed 2, read_error 37");
        assert_eq!(inc.resumed(t0, 36), None, "nothing open");
        assert_eq!(inc.interrupted(t0, 1, ReadError, "reset"), Joined::Opened);
        assert_eq!(inc.resumed(t0, 2), None, "not part of it");
    }

    #[test]
    fn distinct_details_are_shown_a_handful_of_times() {
        let t0 = Instant::now();
        let mut inc = Incidents::default();
        let joins: Vec<Joined> = (0..100u64)
            .map(|s| inc.interrupted(t0, s, ClosedReason, &format!("closed by server: {s}")))
            .collect();
        assert_eq!(joins[0], Joined::Opened);
        assert_eq!(joins[1..MAX_DISTINCT], [Joined::New; MAX_DISTINCT - 1]);
        assert!(joins[MAX_DISTINCT..].iter().all(|j| *j == Joined::Joined));
    }

    #[test]
    fn a_stuck_subscription_does_not_silence_later_problems_forever() {
        let t0 = Instant::now();
        let mut inc = Incidents::default();
        assert_eq!(inc.interrupted(t0, 1, ReadError, "x"), Joined::Opened);
        let later = t0 + INCIDENT_MAX_AGE - MS;
        assert_eq!(inc.interrupted(later, 2, ReadError, "x"), Joined::Joined);
        assert_eq!(
            inc.interrupted(t0 + INCIDENT_MAX_AGE, 3, ReadError, "x"),
            Joined::Opened
        );
        assert_eq!(inc.resumed(t0, 1), None, "the old one is gone");
        assert!(inc.resumed(t0 + INCIDENT_MAX_AGE, 3).is_some());
    }
}
