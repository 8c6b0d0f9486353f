//! SPS faults (`POST /sim/sps/fault/<kind>`, contract §E): what each kind
//! arms, and the per-request checks `api.rs` makes. No fault changes the
//! ground truth except `flood` (new closed sessions) and `clock_skew` (the
//! times of what happens next).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Endpoint, Sps};

/// Every SPS fault kind.
pub const SPS_FAULT_KINDS: [&str; 7] = [
    "expire_cookies",
    "forbid",
    "throttle",
    "error",
    "slow",
    "flood",
    "clock_skew",
];

const MAX_COUNT: u64 = 1_000_000;
const MAX_SECONDS: f64 = 86_400.0;
const MAX_SLOW_MS: u64 = 60_000;
const MAX_FLOOD: usize = 20_000;

/// A refused fault request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpsFaultError {
    #[error("unknown SPS fault kind {0:?}")]
    UnknownKind(String),
    #[error("{0}")]
    BadParameter(String),
}

/// What a request meets before it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Serve,
    Throttled(Option<u64>),
    Error,
}

#[derive(Debug, Default)]
struct State {
    forbid: HashMap<Endpoint, Instant>,
    throttle: u64,
    retry_after: Option<u64>,
    error: u64,
    slow_ms: u64,
    slow: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Faults(Mutex<State>);

impl Faults {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The delay an armed `slow` gives this request (one of its count).
    pub(crate) fn delay(&self) -> Option<Duration> {
        let mut s = self.state();
        (s.slow > 0).then(|| {
            s.slow -= 1;
            Duration::from_millis(s.slow_ms)
        })
    }

    /// `throttle` first, then `error`, each taking one of its count.
    pub(crate) fn verdict(&self) -> Verdict {
        let mut s = self.state();
        if s.throttle > 0 {
            s.throttle -= 1;
            return Verdict::Throttled(s.retry_after);
        }
        if s.error > 0 {
            s.error -= 1;
            return Verdict::Error;
        }
        Verdict::Serve
    }

    pub(crate) fn forbidden(&self, e: Endpoint) -> bool {
        self.state()
            .forbid
            .get(&e)
            .is_some_and(|until| Instant::now() < *until)
    }
}

fn number<T: std::str::FromStr + PartialOrd>(
    param: Option<&str>,
    name: &str,
    default: Option<T>,
    lo: T,
    hi: T,
    range: &str,
) -> Result<T, SpsFaultError> {
    let bad = || SpsFaultError::BadParameter(format!("{name} must be {range}"));
    let v = match (param, default) {
        (Some(p), _) => p.parse::<T>().map_err(|_| bad())?,
        (None, Some(d)) => d,
        (None, None) => return Err(bad()),
    };
    if v < lo || v > hi {
        return Err(bad());
    }
    Ok(v)
}

/// Apply fault `kind` with the request's parameters.
pub(crate) fn control<'a>(
    sps: &Sps,
    kind: &str,
    param: impl Fn(&str) -> Option<&'a str>,
) -> Result<Value, SpsFaultError> {
    match kind {
        "expire_cookies" => Ok(json!({ "expired": sps.cookies.expire_all() })),
        "forbid" => forbid(sps, param("endpoint"), param("seconds")),
        "throttle" | "error" | "slow" => counted(sps, kind, param),
        "flood" => {
            let n = number(
                param("sessions"),
                "sessions",
                None,
                1,
                MAX_FLOOD,
                "an integer in 1..=20000",
            )?;
            let now = sps.clock.now_us();
            sps.world().flood(n, now);
            Ok(json!({ "flooded": n }))
        }
        "clock_skew" => {
            let s = number(
                param("seconds"),
                "seconds",
                None,
                -1e9,
                1e9,
                "a number of seconds in -1e9..=1e9",
            )?;
            sps.clock.set_skew_seconds(s);
            Ok(json!({ "skew_seconds": sps.clock.skew_seconds() }))
        }
        other => Err(SpsFaultError::UnknownKind(other.to_string())),
    }
}

/// `throttle`, `error` and `slow`: arm the next `count` requests.
fn counted<'a>(
    sps: &Sps,
    kind: &str,
    param: impl Fn(&str) -> Option<&'a str>,
) -> Result<Value, SpsFaultError> {
    let n = number(
        param("count"),
        "count",
        Some(1),
        0,
        MAX_COUNT,
        "an integer in 0..=1000000",
    )?;
    match kind {
        "throttle" => {
            let retry = param("retry_after")
                .map(|r| {
                    number(
                        Some(r),
                        "retry_after",
                        None,
                        0,
                        86_400,
                        "an integer in 0..=86400",
                    )
                })
                .transpose()?;
            let mut s = sps.faults.state();
            (s.throttle, s.retry_after) = (n, retry);
            Ok(json!({ "throttle": n, "retry_after": retry }))
        }
        "error" => {
            sps.faults.state().error = n;
            Ok(json!({ "error": n }))
        }
        _ => {
            let ms = number(
                param("ms"),
                "ms",
                None,
                0,
                MAX_SLOW_MS,
                "an integer in 0..=60000",
            )?;
            let mut s = sps.faults.state();
            (s.slow_ms, s.slow) = (ms, n);
            Ok(json!({ "slow_ms": ms, "count": n }))
        }
    }
}

fn forbid(
    sps: &Sps,
    endpoint: Option<&str>,
    seconds: Option<&str>,
) -> Result<Value, SpsFaultError> {
    let e = match endpoint {
        Some("health_status") => Endpoint::HealthStatus,
        Some("sessions") => Endpoint::Sessions,
        Some("alerts") => Endpoint::Alerts,
        _ => {
            return Err(SpsFaultError::BadParameter(
                "endpoint must be health_status, sessions or alerts".into(),
            ));
        }
    };
    let secs = number(
        seconds,
        "seconds",
        None,
        0.0,
        MAX_SECONDS,
        "a number of seconds in 0..=86400",
    )?;
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut s = sps.faults.state();
    s.forbid.insert(e, until);
    if e == Endpoint::Sessions {
        s.forbid.insert(Endpoint::Session, until);
    }
    Ok(json!({ "forbid": endpoint, "seconds": secs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sps: &Sps, kind: &str, params: &[(&str, &str)]) -> Result<Value, SpsFaultError> {
        control(sps, kind, |k| {
            params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        })
    }

    #[test]
    fn throttle_then_error_take_one_request_each() {
        let sps = Sps::for_test(1);
        assert_eq!(
            run(&sps, "throttle", &[("count", "2"), ("retry_after", "7")]).unwrap(),
            json!({"throttle": 2, "retry_after": 7})
        );
        assert_eq!(
            run(&sps, "error", &[("count", "1")]).unwrap(),
            json!({"error": 1})
        );
        let got: Vec<Verdict> = (0..4).map(|_| sps.faults.verdict()).collect();
        assert_eq!(
            got,
            [
                Verdict::Throttled(Some(7)),
                Verdict::Throttled(Some(7)),
                Verdict::Error,
                Verdict::Serve
            ]
        );
        run(&sps, "throttle", &[]).unwrap();
        assert_eq!(sps.faults.verdict(), Verdict::Throttled(None));
    }

    #[test]
    fn slow_delays_count_requests() {
        let sps = Sps::for_test(1);
        run(&sps, "slow", &[("ms", "250"), ("count", "2")]).unwrap();
        let got: Vec<Option<Duration>> = (0..3).map(|_| sps.faults.delay()).collect();
        assert_eq!(
            got,
            [
                Some(Duration::from_millis(250)),
                Some(Duration::from_millis(250)),
                None
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn forbid_lasts_its_seconds() {
        let sps = Sps::for_test(1);
        run(
            &sps,
            "forbid",
            &[("endpoint", "sessions"), ("seconds", "10")],
        )
        .unwrap();
        assert!(sps.faults.forbidden(Endpoint::Sessions));
        assert!(sps.faults.forbidden(Endpoint::Session));
        assert!(!sps.faults.forbidden(Endpoint::Alerts));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!sps.faults.forbidden(Endpoint::Sessions));
    }

    #[test]
    fn flood_skew_and_cookies() {
        let sps = Sps::for_test(1);
        let before = sps.truth().sessions.len();
        assert_eq!(
            run(&sps, "flood", &[("sessions", "20000")]).unwrap(),
            json!({"flooded": 20000})
        );
        assert_eq!(sps.truth().sessions.len(), before + 20_000);
        assert_eq!(
            run(&sps, "clock_skew", &[("seconds", "-90.5")]).unwrap(),
            json!({"skew_seconds": -90.5})
        );
        sps.cookies.issue();
        assert_eq!(
            run(&sps, "expire_cookies", &[]).unwrap(),
            json!({"expired": 1})
        );
    }

    #[test]
    fn bad_parameters_and_kinds() {
        let sps = Sps::for_test(1);
        let err = |k: &str, p: &[(&str, &str)]| run(&sps, k, p).unwrap_err().to_string();
        assert_eq!(err("nope", &[]), "unknown SPS fault kind \"nope\"");
        assert_eq!(
            err("flood", &[("sessions", "20001")]),
            "sessions must be an integer in 1..=20000"
        );
        assert_eq!(
            err("flood", &[]),
            "sessions must be an integer in 1..=20000"
        );
        assert_eq!(
            err("forbid", &[("endpoint", "info"), ("seconds", "1")]),
            "endpoint must be health_status, sessions or alerts"
        );
        assert_eq!(
            err("forbid", &[("endpoint", "alerts")]),
            "seconds must be a number of seconds in 0..=86400"
        );
        assert_eq!(
            err("slow", &[("count", "1")]),
            "ms must be an integer in 0..=60000"
        );
        assert_eq!(
            err("error", &[("count", "x")]),
            "count must be an integer in 0..=1000000"
        );
        assert_eq!(
            err("throttle", &[("retry_after", "-1")]),
            "retry_after must be an integer in 0..=86400"
        );
        assert_eq!(
            err("clock_skew", &[("seconds", "soon")]),
            "seconds must be a number of seconds in -1e9..=1e9"
        );
    }
}
