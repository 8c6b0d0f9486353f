//! Liveness of one WebSocket connection: a pure state machine over the
//! frames received and the pings sent (`now` passed in), saying when the
//! next deadline is and what is due then. All `[subscription]` timings:
//!
//! - a ping every `ping_interval`;
//! - no frame at all within `pong_timeout` of a ping: the peer is dead;
//! - no answer at all to the query (not even `success`) within
//!   `answer_within` of connecting (ten `snapshot_settle`s): the socket is
//!   given up, it is not healthy just because it was accepted;
//! - no data frame for `silence_limit` (pongs do not count; off when
//!   `None`): a routine resubscribe.
//!
//! Every ending is `reason="idle"`.

use std::time::Duration;

use tokio::time::Instant;

/// Why a connection ended for lack of traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub detail: String,
    /// The silence limit on a quiet table: routine, logged at info.
    pub routine: bool,
}

/// The liveness timings, from `[subscription]`.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
    pub silence_limit: Option<Duration>,
    pub answer_within: Duration,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Liveness {
    t: Timings,
    started: Instant,
    next_ping: Instant,
    /// Set when a ping is out; any frame clears it.
    pong_due: Option<Instant>,
    /// The last data frame (text or binary), or the start.
    last_data: Instant,
    answered: bool,
}

fn human(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

impl Liveness {
    /// A connection opened (its query sent) at `now`.
    pub fn new(now: Instant, t: Timings) -> Self {
        Liveness {
            t,
            started: now,
            next_ping: now + t.ping_interval,
            pong_due: None,
            last_data: now,
            answered: false,
        }
    }

    /// A frame arrived: `is_data` for text and binary frames (not pings,
    /// pongs or close frames).
    pub fn on_frame(&mut self, now: Instant, is_data: bool) {
        self.pong_due = None;
        if is_data {
            self.last_data = now;
            self.answered = true;
        }
    }

    /// A ping was sent at `now`.
    pub fn ping_sent(&mut self, now: Instant) {
        self.next_ping = now + self.t.ping_interval;
        self.pong_due.get_or_insert(now + self.t.pong_timeout);
    }

    /// Whether the server has sent any data frame on this connection.
    pub fn answered(&self) -> bool {
        self.answered
    }

    fn answer_due(&self) -> Option<Instant> {
        (!self.answered).then(|| self.started + self.t.answer_within)
    }

    fn silence_due(&self) -> Option<Instant> {
        self.t.silence_limit.map(|l| self.last_data + l)
    }

    /// The earliest instant something may be due.
    pub fn next_deadline(&self) -> Instant {
        [self.pong_due, self.answer_due(), self.silence_due()]
            .into_iter()
            .flatten()
            .fold(self.next_ping, Instant::min)
    }

    /// Whether the connection must end at `now`, and why.
    pub fn expired(&self, now: Instant) -> Option<Expired> {
        let end = |detail: String, routine| Some(Expired { detail, routine });
        if self.pong_due.is_some_and(|t| t <= now) {
            return end(
                format!("no pong within {} of a ping", human(self.t.pong_timeout)),
                false,
            );
        }
        if self.answer_due().is_some_and(|t| t <= now) {
            return end(
                format!(
                    "no answer to the query within {}",
                    human(self.t.answer_within)
                ),
                false,
            );
        }
        if self.silence_due().is_some_and(|t| t <= now) {
            let limit = self.t.silence_limit.unwrap_or_default();
            return end(format!("no data for {}", human(limit)), true);
        }
        None
    }

    /// Whether a ping is due at `now` (ask [`Liveness::expired`] first: an
    /// ending comes before a ping).
    pub fn ping_due(&self, now: Instant) -> bool {
        self.next_ping <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn timings(silence: Option<Duration>) -> Timings {
        Timings {
            ping_interval: 30 * S,
            pong_timeout: 10 * S,
            silence_limit: silence,
            answer_within: 30 * S,
        }
    }

    /// Drive `l` from `from` to each deadline in turn until something ends
    /// it, answering pings after `pong_after` (never if `None`); the
    /// instants pings were sent and how it ended.
    fn run(l: &mut Liveness, pong_after: Option<Duration>) -> (Vec<u64>, Instant, Expired) {
        let t0 = l.started;
        let mut pings = vec![];
        let mut pong_at: Option<Instant> = None;
        for _ in 0..1000 {
            let d = l.next_deadline();
            let d = pong_at.map_or(d, |p| p.min(d));
            if pong_at.is_some_and(|p| p <= d) {
                l.on_frame(d, false);
                pong_at = None;
            }
            if let Some(e) = l.expired(d) {
                return (pings, d, e);
            }
            if l.ping_due(d) {
                pings.push((d - t0).as_secs());
                l.ping_sent(d);
                pong_at = pong_after.map(|a| d + a);
            }
        }
        panic!("never ended");
    }

    #[test]
    fn an_unanswered_ping_ends_the_connection_at_its_pong_deadline() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, timings(None));
        l.on_frame(t0, true);
        let (pings, at, e) = run(&mut l, None);
        assert_eq!(pings, [30]);
        assert_eq!(at - t0, 40 * S);
        assert_eq!(e.detail, "no pong within 10s of a ping");
        assert!(!e.routine);
    }

    #[test]
    fn answered_pings_keep_a_quiet_connection_until_the_silence_limit() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, timings(Some(600 * S)));
        l.on_frame(t0 + S, true);
        let (pings, at, e) = run(&mut l, Some(S));
        assert_eq!(pings, (1..=20).map(|i| i * 30).collect::<Vec<_>>());
        assert_eq!(at - t0, 601 * S, "silence counts from the last data frame");
        assert_eq!(e.detail, "no data for 10m");
        assert!(e.routine);
    }

    #[test]
    fn a_socket_that_never_answers_is_given_up() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, timings(Some(600 * S)));
        // Pongs come (the peer reads), data never.
        let (pings, at, e) = run(&mut l, Some(S));
        assert!(!l.answered());
        assert_eq!(pings, Vec::<u64>::new(), "given up before the first ping");
        assert_eq!(at - t0, 30 * S);
        assert_eq!(e.detail, "no answer to the query within 30s");
        // Any data frame is an answer (the `success` reply included).
        let mut l = Liveness::new(t0, timings(None));
        l.on_frame(t0 + 29 * S, true);
        assert!(l.answered());
        assert_eq!(l.expired(t0 + 30 * S), None);
        assert!(l.ping_due(t0 + 30 * S));
    }

    #[test]
    fn pongs_are_not_data() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, timings(Some(120 * S)));
        l.on_frame(t0, true);
        for i in 1..200 {
            l.on_frame(t0 + S * i, false);
        }
        assert!(l.expired(t0 + 120 * S).is_some_and(|e| e.routine));
    }
}
