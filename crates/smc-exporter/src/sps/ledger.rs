//! The counting state of one appliance (the contract §C): the counting
//! start S, the watermark, the keys seen in the overlap window, the tracked
//! sessions and the counters. Pure: the poller feeds it what the API said;
//! it decides what counts. Serializable (the state file).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::body::{Alert, SessionBody};
use super::time::SpsTime;

/// Label values are cut to this many bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// At most this many series per counter or histogram family; beyond, new
/// label sets are dropped (and counted in `dropped`).
pub const MAX_SERIES: usize = 10_000;

pub const DURATION_BUCKETS: [f64; 10] = [
    10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
];
pub const RISK_BUCKETS: [f64; 10] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];

/// `s` cut to [`MAX_LABEL_BYTES`] at a character boundary.
pub fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_LABEL_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A counter family: label values (in the family's label order) → count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(Vec<String>, u64)>", into = "Vec<(Vec<String>, u64)>")]
pub struct CounterFamily(pub BTreeMap<Vec<String>, u64>);

impl From<Vec<(Vec<String>, u64)>> for CounterFamily {
    fn from(v: Vec<(Vec<String>, u64)>) -> Self {
        CounterFamily(v.into_iter().collect())
    }
}
impl From<CounterFamily> for Vec<(Vec<String>, u64)> {
    fn from(f: CounterFamily) -> Self {
        f.0.into_iter().collect()
    }
}

impl CounterFamily {
    /// +1 on `labels`; `false` if the family is full and this is a new series.
    fn inc(&mut self, labels: Vec<String>) -> bool {
        if let Some(v) = self.0.get_mut(&labels) {
            *v += 1;
            return true;
        }
        if self.0.len() >= MAX_SERIES {
            return false;
        }
        self.0.insert(labels, 1);
        true
    }
}

/// One histogram series: per-bucket (not cumulative) counts, +Inf last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        Histogram {
            buckets: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }
    pub fn observe(&mut self, bounds: &[f64], v: f64) {
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        if let Some(b) = self.buckets.get_mut(i) {
            *b += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

/// A histogram family keyed by protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(String, Histogram)>", into = "Vec<(String, Histogram)>")]
pub struct HistogramFamily(pub BTreeMap<String, Histogram>);

impl From<Vec<(String, Histogram)>> for HistogramFamily {
    fn from(v: Vec<(String, Histogram)>) -> Self {
        HistogramFamily(v.into_iter().collect())
    }
}
impl From<HistogramFamily> for Vec<(String, Histogram)> {
    fn from(f: HistogramFamily) -> Self {
        f.0.into_iter().collect()
    }
}

impl HistogramFamily {
    fn observe(&mut self, bounds: &[f64], protocol: &str, v: f64) -> bool {
        if !self.0.contains_key(protocol) && self.0.len() >= MAX_SERIES {
            return false;
        }
        self.0
            .entry(protocol.to_string())
            .or_insert_with(|| Histogram::new(bounds))
            .observe(bounds, v);
        true
    }
}

/// The data counters (`sps_sessions_*`, `sps_session_*`, `sps_alerts_total`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// protocol, connection_policy
    pub started: CounterFamily,
    /// protocol, connection_policy, verdict
    pub closed: CounterFamily,
    /// alert_type, rule_name, protocol, connection_policy
    pub alerts: CounterFamily,
    pub duration: HistogramFamily,
    pub risk: HistogramFamily,
    /// Increments dropped because their family was full.
    pub dropped: u64,
    /// Windows split because they matched more than 10,000 sessions.
    pub window_splits: u64,
}

/// A session followed until it closes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    pub protocol: String,
    pub connection_policy: String,
    pub alerts_seen: u64,
    /// Seen with `active=false` (counted closed); untracked after its last alerts fetch.
    pub closed: bool,
}

/// Everything that decides what counts. The state file holds exactly this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// S: sessions that started before it are never counted.
    pub counting_since: Option<SpsTime>,
    /// The greatest `start_time` of the sessions of fully processed windows.
    pub watermark: Option<SpsTime>,
    /// Keys of the overlap window, with their start times.
    pub seen: BTreeMap<String, SpsTime>,
    pub tracked: BTreeMap<String, Tracked>,
    pub counters: Counters,
}

/// What [`Ledger::see`] made of a session of a search window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Started before S, no start time, or already seen: nothing counted.
    Ignored,
    /// Counted as started (and tracked if there was room).
    Started,
}

impl Ledger {
    /// At the first cycle: S = the appliance's clock − `lookback`, and the
    /// watermark starts there. Restored ledgers keep theirs.
    pub fn begin(&mut self, sps_now: SpsTime, lookback: Duration) {
        if self.counting_since.is_none() {
            let s = sps_now.minus(lookback);
            self.counting_since = Some(s);
            self.watermark = Some(s);
        }
    }

    /// Where the next search starts: watermark − overlap.
    pub fn window_start(&self, overlap: Duration) -> Option<SpsTime> {
        self.watermark.map(|w| w.minus(overlap))
    }

    /// A session from a search window. Counts it as started if it is new
    /// and started at or after S; a session seen closed is counted closed too.
    pub fn see(&mut self, key: &str, body: &SessionBody, max_tracked: usize) -> Seen {
        let (Some(s), Some(start)) = (self.counting_since, body.start()) else {
            return Seen::Ignored;
        };
        if start < s || self.seen.contains_key(key) || self.tracked.contains_key(key) {
            if self.tracked.contains_key(key) {
                self.refresh(key, body);
            }
            return Seen::Ignored;
        }
        self.seen.insert(key.to_string(), start);
        let protocol = cut(body.protocol.as_deref().unwrap_or(""));
        let connection_policy = cut(body.connection_policy().unwrap_or(""));
        let ok = self
            .counters
            .started
            .inc(vec![protocol.clone(), connection_policy.clone()]);
        self.dropped_unless(ok);
        let t = Tracked {
            protocol,
            connection_policy,
            alerts_seen: 0,
            closed: false,
        };
        self.tracked.insert(key.to_string(), t);
        self.refresh(key, body);
        // No room to follow it: its close is counted only if seen already.
        if self.tracked.len() > max_tracked {
            self.tracked.remove(key);
        }
        Seen::Started
    }

    /// A tracked session's current body: counts its close once.
    pub fn refresh(&mut self, key: &str, body: &SessionBody) {
        let Some(t) = self.tracked.get_mut(key) else {
            return;
        };
        if t.closed || body.active() != Some(false) {
            return;
        }
        t.closed = true;
        let (protocol, policy) = (t.protocol.clone(), t.connection_policy.clone());
        let verdict = cut(body.verdict.as_deref().unwrap_or(""));
        let c = &mut self.counters;
        let mut ok = c.closed.inc(vec![protocol.clone(), policy, verdict]);
        if let Some(d) = body.duration() {
            ok &= c.duration.observe(&DURATION_BUCKETS, &protocol, d);
        }
        if let Some(r) = body.risk_score() {
            ok &= c.risk.observe(&RISK_BUCKETS, &protocol, r);
        }
        self.dropped_unless(ok);
    }

    /// A tracked session vanished (404): forget it, nothing counted.
    pub fn forget(&mut self, key: &str) {
        self.tracked.remove(key);
    }

    /// New alerts of a tracked session (the page at offset `alerts_seen`).
    pub fn alerts(&mut self, key: &str, items: &[Alert]) {
        let Some(t) = self.tracked.get_mut(key) else {
            return;
        };
        t.alerts_seen += items.len() as u64;
        let (protocol, policy) = (t.protocol.clone(), t.connection_policy.clone());
        let mut ok = true;
        for a in items {
            ok &= self.counters.alerts.inc(vec![
                cut(a.alert_type.as_deref().unwrap_or("")),
                cut(a.rule_name.as_deref().unwrap_or("")),
                protocol.clone(),
                policy.clone(),
            ]);
        }
        self.dropped_unless(ok);
    }

    /// After a closed session's last alerts fetch: untrack it.
    pub fn alerts_done(&mut self, key: &str) {
        if self.tracked.get(key).is_some_and(|t| t.closed) {
            self.tracked.remove(key);
        }
    }

    /// Every window of the cycle succeeded: move the watermark to the
    /// latest start seen and forget keys that left the overlap window.
    pub fn commit(&mut self, max_start: Option<SpsTime>, overlap: Duration) {
        let w = match (self.watermark, max_start) {
            (Some(w), Some(m)) => Some(w.max(m)),
            (w, m) => w.or(m),
        };
        self.watermark = w;
        if let Some(floor) = w.map(|w| w.minus(overlap)) {
            self.seen.retain(|_, start| *start >= floor);
        }
    }

    fn dropped_unless(&mut self, ok: bool) {
        if !ok {
            self.counters.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn t(s: &str) -> SpsTime {
        SpsTime::parse_rfc3339(s).unwrap()
    }

    fn body(json: serde_json::Value) -> SessionBody {
        serde_json::from_value(json).unwrap()
    }

    fn active(start: &str) -> SessionBody {
        body(
            serde_json::json!({"active": true, "start_time": start, "protocol": "SSH",
            "recording": {"connection_policy": "prod"}}),
        )
    }

    fn closed(start: &str, verdict: &str, duration: f64, score: Option<u64>) -> SessionBody {
        let mut v = serde_json::json!({"active": false, "start_time": start, "protocol": "SSH",
            "verdict": verdict, "duration": duration, "recording": {"connection_policy": "prod"}});
        if let Some(s) = score {
            v["analytics"] = serde_json::json!({"score": {"aggregated": s}});
        }
        body(v)
    }

    fn started(l: &Ledger) -> Vec<(Vec<String>, u64)> {
        l.counters.started.clone().into()
    }

    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        l.begin(t("2026-12-01T10:05:00Z"), 5 * MIN);
        l
    }

    #[test]
    fn first_start_and_window() {
        let mut l = ledger();
        assert_eq!(l.counting_since, Some(t("2026-12-01T10:00:00Z")));
        assert_eq!(l.window_start(2 * MIN), Some(t("2026-12-01T09:58:00Z")));
        // A restored ledger keeps its S.
        l.begin(t("2026-12-02T00:00:00Z"), MIN);
        assert_eq!(l.counting_since, Some(t("2026-12-01T10:00:00Z")));
    }

    #[test]
    fn before_s_never_counts_and_overlap_dedupes() {
        let mut l = ledger();
        let old = active("2026-12-01T09:59:59.999999Z");
        assert_eq!(l.see("old", &old, 10), Seen::Ignored);
        let s = active("2026-12-01T10:00:00Z");
        assert_eq!(l.see("a", &s, 10), Seen::Started);
        // The next cycle's overlap returns it again: not counted twice.
        assert_eq!(l.see("a", &s, 10), Seen::Ignored);
        l.commit(s.start(), 2 * MIN);
        assert_eq!(l.see("a", &s, 10), Seen::Ignored);
        assert_eq!(started(&l), [(vec!["SSH".into(), "prod".into()], 1)]);
        assert_eq!(l.tracked.len(), 1);
    }

    #[test]
    fn close_counts_once_with_histograms() {
        let mut l = ledger();
        l.see("a", &active("2026-12-01T10:01:00Z"), 10);
        let c = closed("2026-12-01T10:01:00Z", "ACCEPT", 45.5, Some(73));
        l.refresh("a", &c);
        l.refresh("a", &c);
        l.see("a", &c, 10);
        let closed: Vec<(Vec<String>, u64)> = l.counters.closed.clone().into();
        assert_eq!(
            closed,
            [(vec!["SSH".into(), "prod".into(), "ACCEPT".into()], 1)]
        );
        let d = &l.counters.duration.0["SSH"];
        assert_eq!((d.count, d.sum), (1, 45.5));
        assert_eq!(d.buckets, [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let r = &l.counters.risk.0["SSH"];
        assert_eq!(r.buckets, [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        // Still tracked until its last alerts fetch.
        assert!(l.tracked["a"].closed);
        l.alerts_done("a");
        assert!(l.tracked.is_empty());
    }

    #[test]
    fn first_seen_closed_counts_started_and_closed_and_no_score_no_observation() {
        let mut l = ledger();
        let c = closed("2026-12-01T10:01:00Z", "AUTH_FAIL", 1.0, None);
        assert_eq!(l.see("b", &c, 10), Seen::Started);
        assert_eq!(l.counters.closed.0.values().sum::<u64>(), 1);
        assert!(l.counters.risk.0.is_empty());
        assert_eq!(l.counters.duration.0["SSH"].buckets[0], 1);
    }

    #[test]
    fn alerts_by_offset_and_labels() {
        let mut l = ledger();
        l.see("a", &active("2026-12-01T10:01:00Z"), 10);
        let a = |ty: &str| Alert {
            alert_type: Some(ty.into()),
            rule_name: Some("r".into()),
        };
        l.alerts("a", &[a("adp.event.command"), a("adp.event.command")]);
        l.alerts("a", &[a("adp.event.screen.content")]);
        assert_eq!(l.tracked["a"].alerts_seen, 3);
        let got: Vec<(Vec<String>, u64)> = l.counters.alerts.clone().into();
        assert_eq!(
            got,
            [
                (
                    vec![
                        "adp.event.command".into(),
                        "r".into(),
                        "SSH".into(),
                        "prod".into()
                    ],
                    2
                ),
                (
                    vec![
                        "adp.event.screen.content".into(),
                        "r".into(),
                        "SSH".into(),
                        "prod".into()
                    ],
                    1
                )
            ]
        );
        // An untracked session's alerts do not count.
        l.alerts("nope", &[a("x")]);
        assert_eq!(l.counters.alerts.0.len(), 2);
    }

    #[test]
    fn watermark_moves_only_forward_and_prunes_seen() {
        let mut l = ledger();
        l.see("a", &active("2026-12-01T10:01:00Z"), 10);
        l.see("b", &active("2026-12-01T10:10:00Z"), 10);
        l.commit(Some(t("2026-12-01T10:10:00Z")), 2 * MIN);
        assert_eq!(l.watermark, Some(t("2026-12-01T10:10:00Z")));
        assert_eq!(l.seen.keys().collect::<Vec<_>>(), ["b"]);
        // Still tracked although out of the window: its close still counts.
        assert!(l.tracked.contains_key("a"));
        l.commit(Some(t("2026-12-01T10:02:00Z")), 2 * MIN);
        assert_eq!(l.watermark, Some(t("2026-12-01T10:10:00Z")));
        l.commit(None, 2 * MIN);
        assert_eq!(l.watermark, Some(t("2026-12-01T10:10:00Z")));
    }

    #[test]
    fn limits() {
        let mut l = ledger();
        l.see("a", &active("2026-12-01T10:01:00Z"), 1);
        l.see("b", &active("2026-12-01T10:01:00Z"), 1);
        assert_eq!(l.tracked.len(), 1);
        assert_eq!(l.counters.started.0.values().sum::<u64>(), 2);
        // Untracked for lack of room, but seen closed: its close counts.
        l.see("c", &closed("2026-12-01T10:01:00Z", "ACCEPT", 5.0, None), 1);
        assert_eq!(l.tracked.len(), 1);
        assert_eq!(l.counters.closed.0.values().sum::<u64>(), 1);
        assert_eq!(cut(&"é".repeat(100)).len(), 128);
        let mut f = CounterFamily::default();
        for i in 0..MAX_SERIES {
            assert!(f.inc(vec![i.to_string()]));
        }
        assert!(!f.inc(vec!["new".into()]));
        assert!(f.inc(vec!["0".into()]));
    }
}
