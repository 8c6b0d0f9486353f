//! The SPS clock: the host clock plus a skew (fault `clock_skew`), in unix
//! microseconds, and the two ways the API spells time: RFC 3339 with
//! microseconds and `Z` (session and alert times) and RFC 7231 (`Date`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Host clock + skew.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    skew_us: AtomicI64,
}

impl Clock {
    /// Unix microseconds on the SPS clock now.
    pub(crate) fn now_us(&self) -> i64 {
        host_now_us().saturating_add(self.skew_us.load(Ordering::Relaxed))
    }

    pub(crate) fn set_skew_seconds(&self, seconds: f64) {
        self.skew_us
            .store((seconds * 1e6).round() as i64, Ordering::Relaxed);
    }

    pub(crate) fn skew_seconds(&self) -> f64 {
        self.skew_us.load(Ordering::Relaxed) as f64 / 1e6
    }
}

fn host_now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn system_time(us: i64) -> SystemTime {
    let us = u64::try_from(us).unwrap_or(0);
    UNIX_EPOCH + Duration::from_micros(us)
}

/// `2026-12-01T22:52:38.123456Z`.
pub(crate) fn rfc3339(us: i64) -> String {
    humantime::format_rfc3339_micros(system_time(us)).to_string()
}

/// `Tue, 01 Dec 2026 22:52:38 GMT`.
pub(crate) fn http_date(us: i64) -> String {
    httpdate::fmt_http_date(system_time(us))
}

/// An RFC 3339 time in UTC (`Z` or `+00:00`, any fraction) as unix
/// microseconds; `None` if it is not one.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(s).ok()?;
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(d.as_micros()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        let us = 1_796_165_558_123_456;
        assert_eq!(rfc3339(us), "2026-12-01T22:52:38.123456Z");
        assert_eq!(parse_rfc3339("2026-12-01T22:52:38.123456Z"), Some(us));
        assert_eq!(
            parse_rfc3339("2026-12-01T22:52:38+00:00"),
            Some(1_796_165_558_000_000)
        );
        assert_eq!(parse_rfc3339("2026-12-01"), None);
        assert_eq!(http_date(us), "Tue, 01 Dec 2026 22:52:38 GMT");
    }

    #[test]
    fn skew_moves_the_clock() {
        let c = Clock::default();
        c.set_skew_seconds(-3600.0);
        let d = host_now_us() - c.now_us();
        assert!((3_599_000_000..=3_600_000_000).contains(&d), "{d}");
        assert_eq!(c.skew_seconds(), -3600.0);
    }
}
