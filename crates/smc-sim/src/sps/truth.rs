//! The SPS simulator's structured ground truth ([`SpsTruth`]): every
//! session with all its fields and alerts, and the health values now.
//! What an exporter should serve for it is the caller's to say: the
//! [`SpsTruthText`] renderer (smc-lab has one) answers `GET /sim/sps/truth`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One alert of a session (`GET /api/audit/sessions/<key>/alerts` item).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpsAlert {
    pub alert_type: String,
    pub channel_id: String,
    pub matched_action: String,
    pub matched_content: String,
    pub matched_regexp: String,
    /// Increasing within the session.
    pub record_id: u64,
    pub rule_name: String,
    /// Unix microseconds (SPS clock).
    pub time_us: i64,
}

/// One audited session.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpsSession {
    pub key: String,
    /// As SPS sends it: `SSH`, `RDP`, `ICA`, `HTTP`, `TELNET`, `VNC`, `MSSQL`.
    pub protocol: String,
    pub connection_policy: String,
    /// Unix microseconds (SPS clock), unique across sessions.
    pub start_us: i64,
    /// `None` while active.
    pub end_us: Option<i64>,
    /// `None` while active.
    pub verdict: Option<String>,
    /// `analytics.score.aggregated`: set at close, except for `AUTH_FAIL`.
    pub score: Option<u8>,
    pub user: String,
    pub server: String,
    pub node_id: String,
    /// In `record_id` order, appended only while active.
    pub alerts: Vec<SpsAlert>,
}

impl SpsSession {
    pub fn active(&self) -> bool {
        self.end_us.is_none()
    }

    /// `duration` in seconds (a multiple of 1/64 s, so sums are exact).
    pub fn duration(&self) -> Option<f64> {
        self.end_us.map(|e| (e - self.start_us) as f64 / 1e6)
    }

    /// `start_time` as unix seconds.
    pub fn start_seconds(&self) -> f64 {
        self.start_us as f64 / 1e6
    }
}

/// One `indexer_status` entry of `/api/health_status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpsIndexer {
    pub ip: String,
    pub workers_count: u32,
    pub idle_workers_count: u32,
    pub indexer_jobs: u32,
    pub screenshot_jobs: u32,
    pub video_jobs: u32,
}

/// The `/api/health_status` values now.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpsHealth {
    pub cpu: u32,
    pub memory: u32,
    pub swap: u32,
    pub disk: u32,
    /// Hundredths (`load1` = `load1_centi / 100`).
    pub load1_centi: u32,
    pub load5_centi: u32,
    pub load15_centi: u32,
    /// Active sessions by lower-case protocol (all seven keys, always).
    pub sessions: BTreeMap<String, u64>,
    pub indexers: Vec<SpsIndexer>,
    pub processing_tasks: u32,
    pub remaining_tasks: u32,
    /// `raid.status.status`: `OK` or `DEGRADED`.
    pub raid_status: String,
}

/// Everything the SPS simulator knows, now.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpsTruth {
    pub firmware_version: String,
    /// The SPS clock when the truth was taken (unix seconds).
    pub now: f64,
    /// Sorted by `start_us`.
    pub sessions: Vec<SpsSession>,
    pub health: SpsHealth,
}

type Render = dyn Fn(&SpsTruth, f64, &str) -> String + Send + Sync;

/// Renders [`SpsTruth`] as `GET /sim/sps/truth?since=S&sps=NAME` answers:
/// called with the truth, `since` (unix seconds) and the `sps` name.
#[derive(Clone)]
pub struct SpsTruthText(Arc<Render>);

impl SpsTruthText {
    pub fn new(render: impl Fn(&SpsTruth, f64, &str) -> String + Send + Sync + 'static) -> Self {
        SpsTruthText(Arc::new(render))
    }

    pub fn render(&self, truth: &SpsTruth, since: f64, sps: &str) -> String {
        (self.0)(truth, since, sps)
    }
}

impl fmt::Debug for SpsTruthText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpsTruthText(..)")
    }
}
