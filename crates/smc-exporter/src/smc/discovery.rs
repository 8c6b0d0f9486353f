//! When to poll an SMC's engines next: a pure schedule, in the shape of
//! [`super::backoff`] and [`super::gate`] (`now` passed in, randomness
//! passed in as a number in `[0, 1)`), tested with plain `Instant`s.
//!
//! The first poll is due at once. After a poll that listed engines, the
//! next is one `interval` later, jittered by ±10 % so that replicas and
//! SMCs started together spread out. After a failed poll the delay backs
//! off exponentially from `retry_initial`, doubling per consecutive
//! failure, capped at the interval (a failing SMC is never polled less
//! often than a healthy one), also jittered ±10 %.

use std::time::Duration;

use tokio::time::Instant;

/// The default `discovery_interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// The jitter, as a fraction of the delay (±).
pub const JITTER: f64 = 0.1;

#[derive(Debug, Clone)]
pub struct DiscoverySchedule {
    interval: Duration,
    retry_initial: Duration,
    failures: u32,
    next: Instant,
}

impl DiscoverySchedule {
    /// A schedule whose first poll is due at `now`. `retry_initial` is
    /// clamped to `interval`.
    pub fn new(now: Instant, interval: Duration, retry_initial: Duration) -> Self {
        DiscoverySchedule {
            interval,
            retry_initial: retry_initial.min(interval),
            failures: 0,
            next: now,
        }
    }

    /// When the next poll is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Consecutive failed polls.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A poll listed engines at `now`; `r` in `[0, 1)` picks the jitter.
    /// Returns when the next is due.
    pub fn succeeded(&mut self, now: Instant, r: f64) -> Instant {
        self.failures = 0;
        self.next = now + jittered(self.interval, r);
        self.next
    }

    /// A poll failed at `now`; `r` in `[0, 1)` picks the jitter. Returns
    /// when the next is due.
    pub fn failed(&mut self, now: Instant, r: f64) -> Instant {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        let delay = self.retry_initial.saturating_mul(factor).min(self.interval);
        self.failures = self.failures.saturating_add(1);
        self.next = now + jittered(delay, r);
        self.next
    }
}

/// `d` scaled by `1 + JITTER · (2r − 1)`: within ±10 %; `r` outside
/// `[0, 1)` (or NaN) is clamped.
fn jittered(d: Duration, r: f64) -> Duration {
    let r = if r.is_nan() { 0.5 } else { r.clamp(0.0, 1.0) };
    d.mul_f64(1.0 + JITTER * (2.0 * r - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn first_poll_is_due_at_once_then_every_interval_jittered() {
        let t0 = Instant::now();
        let mut s = DiscoverySchedule::new(t0, 5 * MIN, Duration::from_secs(10));
        assert!(s.due(t0));
        assert_eq!(s.succeeded(t0, 0.5), t0 + 5 * MIN);
        assert!(!s.due(t0 + 5 * MIN - Duration::from_millis(1)));
        assert!(s.due(t0 + 5 * MIN));
        // The extremes of the jitter: −10 % and (almost) +10 %.
        assert_eq!(s.succeeded(t0, 0.0), t0 + Duration::from_secs(270));
        let top = s.succeeded(t0, 0.999_999);
        assert!(top > t0 + Duration::from_secs(329) && top < t0 + Duration::from_secs(330));
        // Out-of-range randomness is clamped, never beyond ±10 %.
        assert_eq!(s.succeeded(t0, 7.0), t0 + Duration::from_secs(330));
        assert_eq!(s.succeeded(t0, f64::NAN), t0 + 5 * MIN);
    }

    #[test]
    fn failures_back_off_up_to_the_interval_and_a_success_resets() {
        let t0 = Instant::now();
        let mut s = DiscoverySchedule::new(t0, 5 * MIN, Duration::from_secs(10));
        let delays: Vec<u64> = (0..7).map(|_| (s.failed(t0, 0.5) - t0).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(s.failures(), 7);
        assert_eq!(s.succeeded(t0, 0.5), t0 + 5 * MIN);
        assert_eq!(s.failures(), 0);
        assert_eq!(s.failed(t0, 0.5), t0 + Duration::from_secs(10));
        // Many failures never overflow.
        for _ in 0..100 {
            s.failed(t0, 0.5);
        }
        assert_eq!(s.failed(t0, 0.5), t0 + 5 * MIN);
    }

    #[test]
    fn a_retry_longer_than_the_interval_is_clamped() {
        let t0 = Instant::now();
        let mut s = DiscoverySchedule::new(t0, Duration::from_secs(2), Duration::from_secs(10));
        assert_eq!(s.failed(t0, 0.5), t0 + Duration::from_secs(2));
    }
}
