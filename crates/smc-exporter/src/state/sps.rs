//! What an SPS poller publishes and a scrape reads (`metrics::sps`): one
//! [`SpsState`] per `[[sps]]`, shared by its poller and the store. The
//! ledger is written back once per cycle, so a scrape sees whole cycles;
//! the request / error / login counters move live. Nothing here is shared
//! with the SMC states.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sps::body::Health;
use crate::sps::ledger::{Histogram, Ledger};

/// `sps_poll_duration_seconds` buckets.
pub const POLL_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Endpoint groups, the `endpoint` label of the request / error families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Authentication,
    Info,
    HealthStatus,
    Sessions,
    Session,
    Alerts,
}

impl Endpoint {
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Authentication => "authentication",
            Endpoint::Info => "info",
            Endpoint::HealthStatus => "health_status",
            Endpoint::Sessions => "sessions",
            Endpoint::Session => "session",
            Endpoint::Alerts => "alerts",
        }
    }
}

/// The `kind` label of `sps_api_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    Auth,
    Forbidden,
    NotFound,
    RateLimited,
    Server,
    Timeout,
    Connect,
    Decode,
}

impl ErrorKind {
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Server => "server",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Decode => "decode",
        }
    }
}

/// Everything rendered for one appliance.
#[derive(Debug, Clone)]
pub struct SpsView {
    /// The last cycle completed.
    pub up: bool,
    /// A cycle was attempted (readiness of an SPS-only exporter).
    pub attempted: bool,
    pub firmware_version: Option<String>,
    /// The last health_status read (kept when a cycle fails).
    pub health: Option<Health>,
    /// The ledger as of the end of the last cycle.
    pub ledger: Ledger,
    /// (endpoint, code) → requests; code is the status or "none".
    pub requests: BTreeMap<(Endpoint, String), u64>,
    pub errors: BTreeMap<(Endpoint, ErrorKind), u64>,
    /// [success, failure]
    pub logins: [u64; 2],
    pub poll_duration: Histogram,
    /// Unix seconds of the end of the last complete cycle.
    pub last_success: Option<f64>,
    /// SPS clock at the last cycle − watermark, seconds.
    pub watermark_lag: Option<f64>,
}

impl Default for SpsView {
    fn default() -> Self {
        SpsView {
            up: false,
            attempted: false,
            firmware_version: None,
            health: None,
            ledger: Ledger::default(),
            requests: BTreeMap::new(),
            errors: BTreeMap::new(),
            logins: [0, 0],
            poll_duration: Histogram {
                buckets: vec![0; POLL_BUCKETS.len() + 1],
                sum: 0.0,
                count: 0,
            },
            last_success: None,
            watermark_lag: None,
        }
    }
}

/// One `[[sps]]`'s published state.
#[derive(Debug)]
pub struct SpsState {
    pub name: Arc<str>,
    view: Mutex<SpsView>,
    attempted: tokio::sync::watch::Sender<bool>,
}

impl SpsState {
    pub fn new(name: &str) -> Self {
        SpsState {
            name: Arc::from(name),
            view: Mutex::new(SpsView::default()),
            attempted: tokio::sync::watch::Sender::new(false),
        }
    }

    /// The view, locked (briefly: scrapes and the poller take turns).
    pub fn view(&self) -> MutexGuard<'_, SpsView> {
        self.view.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn request(&self, e: Endpoint, code: Option<u16>) {
        let code = code.map_or_else(|| "none".to_string(), |c| c.to_string());
        *self.view().requests.entry((e, code)).or_insert(0) += 1;
    }

    pub fn error(&self, e: Endpoint, kind: ErrorKind) {
        *self.view().errors.entry((e, kind)).or_insert(0) += 1;
    }

    pub fn login(&self, ok: bool) {
        self.view().logins[usize::from(!ok)] += 1;
    }

    /// The end of a cycle (`ok`: it completed), what it took, and the ledger.
    pub fn cycle_done(&self, ok: bool, seconds: f64, ledger: &Ledger, sps_now: Option<f64>) {
        {
            let mut v = self.view();
            v.up = ok;
            v.attempted = true;
            v.poll_duration.observe(&POLL_BUCKETS, seconds);
            v.ledger = ledger.clone();
            if ok {
                v.last_success = Some(crate::app::reload::unix_ms() as f64 / 1000.0);
            }
            if let (Some(now), Some(w)) = (sps_now, ledger.watermark) {
                v.watermark_lag = Some((now - w.as_secs_f64()).max(0.0));
            }
        }
        self.attempted.send_replace(true);
    }

    /// Whether a first cycle was attempted.
    pub fn attempted(&self) -> bool {
        *self.attempted.borrow()
    }

    /// Resolves once a first cycle was attempted.
    pub async fn wait_attempted(&self) {
        let mut rx = self.attempted.subscribe();
        let _ = rx.wait_for(|a| *a).await;
    }
}
