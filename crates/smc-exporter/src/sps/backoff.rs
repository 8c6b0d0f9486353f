//! The poller's waits, pure (tested under paused time by the poller tests):
//! the login backoff that cannot lock an account, the 429 / 5xx backoff,
//! and the jittered schedule of cycles.

use std::time::Duration;

/// After a failed login: `initial`, doubling to `max`; a success resets it.
#[derive(Debug, Clone)]
pub struct LoginBackoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl LoginBackoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        LoginBackoff {
            initial,
            max,
            next: initial,
        }
    }
    /// A login failed: how long until the next attempt.
    pub fn failed(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
    pub fn succeeded(&mut self) {
        self.next = self.initial;
    }
}

/// After a 429 or a failed cycle: `Retry-After` if the appliance sent one
/// (capped at `max`), else doubling from `interval` to `max`.
#[derive(Debug, Clone)]
pub struct CycleBackoff {
    interval: Duration,
    max: Duration,
    failures: u32,
}

impl CycleBackoff {
    pub fn new(interval: Duration, max: Duration) -> Self {
        CycleBackoff {
            interval,
            max: max.max(interval),
            failures: 0,
        }
    }
    /// A cycle failed; the extra wait before the next one (on top of nothing:
    /// it replaces the normal interval when longer).
    pub fn failed(&mut self, retry_after: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if let Some(r) = retry_after {
            return r.clamp(self.interval.min(r), self.max);
        }
        let factor = 1u32 << self.failures.min(16).saturating_sub(1);
        (self.interval.saturating_mul(factor)).min(self.max)
    }
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// The wait before the next cycle: `interval` ±10 %, `unit` in [0, 1) from
/// the caller's random source.
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    };
    interval.mul_f64(0.9 + 0.2 * unit)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by SPS).
pub fn retry_after(v: Option<&str>) -> Option<Duration> {
    let secs: u64 = v?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(24 * 3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn login_backoff_1m_to_30m() {
        let mut b = LoginBackoff::new(MIN, 30 * MIN);
        let waits: Vec<u64> = (0..7).map(|_| b.failed().as_secs() / 60).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        b.succeeded();
        assert_eq!(b.failed(), MIN);
    }

    #[test]
    fn cycle_backoff_honours_retry_after() {
        let mut b = CycleBackoff::new(Duration::from_secs(10), 10 * MIN);
        assert_eq!(
            b.failed(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(b.failed(Some(Duration::from_secs(7200))), 10 * MIN);
        b.succeeded();
        let waits: Vec<u64> = (0..8).map(|_| b.failed(None).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 600, 600]);
    }

    #[test]
    fn jitter_within_ten_percent() {
        let i = Duration::from_secs(60);
        assert_eq!(jittered(i, 0.0), Duration::from_secs(54));
        assert_eq!(jittered(i, 0.5), Duration::from_secs(60));
        assert_eq!(jittered(i, 1.0), Duration::from_secs(66));
        assert_eq!(jittered(i, f64::NAN), Duration::from_secs(60));
        assert_eq!(retry_after(Some(" 5 ")), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(Some("soon")), None);
        assert_eq!(retry_after(None), None);
    }
}
