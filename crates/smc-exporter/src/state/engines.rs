//! What the engine poll of one SMC found (the `engine_clusters` listing and
//! every node's status, `docs/smc-protocol.md` §9), published like a
//! subscription's snapshot: one immutable [`EngineSnapshot`] swapped in
//! whole ([`ArcSwap`]), so a scrape sees the previous poll or the new one,
//! never a half-written view; the run counters are atomics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;

/// How one poll ended. A bounded set: it is the `result` label of
/// `smc_discovery_runs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryResult {
    /// The listing and every node's status were read.
    Ok,
    /// The listing was read, but some engine element or node status could
    /// not be (that health is unknown until the next poll).
    Partial,
    /// No session: the login failed or the SMC's login gate is closed.
    LoginFailed,
    /// 401/403 again after the session was renewed once.
    Unauthorized,
    /// The SMC did not answer (connect, TLS, timeout, reset).
    Unreachable,
    /// The listing was answered with another HTTP status or a redirect.
    HttpError,
    /// The listing's answer was unusable: not JSON, the wrong shape, too
    /// large, too many engines, an href that cannot be used.
    BadAnswer,
}

impl DiscoveryResult {
    pub const ALL: [DiscoveryResult; 7] = [
        DiscoveryResult::Ok,
        DiscoveryResult::Partial,
        DiscoveryResult::LoginFailed,
        DiscoveryResult::Unauthorized,
        DiscoveryResult::Unreachable,
        DiscoveryResult::HttpError,
        DiscoveryResult::BadAnswer,
    ];

    pub fn label(self) -> &'static str {
        match self {
            DiscoveryResult::Ok => "ok",
            DiscoveryResult::Partial => "partial",
            DiscoveryResult::LoginFailed => "login_failed",
            DiscoveryResult::Unauthorized => "unauthorized",
            DiscoveryResult::Unreachable => "unreachable",
            DiscoveryResult::HttpError => "http_error",
            DiscoveryResult::BadAnswer => "bad_answer",
        }
    }

    /// Whether the run produced a listing (a snapshot to publish).
    pub fn listed(self) -> bool {
        matches!(self, DiscoveryResult::Ok | DiscoveryResult::Partial)
    }
}

/// One node's health as `GET …/status` answered it; every field optional
/// (the SMC may leave any out). Values are capped at
/// [`smc_fold::MAX_LABEL_VALUE_BYTES`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeHealth {
    pub status: Option<String>,
    pub state: Option<String>,
    pub installed_policy: Option<String>,
    pub version: Option<String>,
    pub dyn_up: Option<String>,
    pub platform: Option<String>,
    pub configuration_status: Option<String>,
}

/// One node of an engine. `health`: `None` when its status could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub health: Option<NodeHealth>,
}

/// One listed engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    pub name: String,
    /// Element type (`single_fw`, `fw_cluster`, …); empty when not given.
    pub etype: String,
    pub nodes: Vec<NodeInfo>,
}

/// What one poll found: the engines in listing order (names unique).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineSnapshot {
    pub engines: Vec<EngineInfo>,
}

impl EngineSnapshot {
    /// The engine names, in listing order (what a plan's `discovered`
    /// map wants per SMC).
    pub fn names(&self) -> Vec<String> {
        self.engines.iter().map(|e| e.name.clone()).collect()
    }
}

/// The engine poll's state of one SMC.
#[derive(Debug)]
pub struct EngineState {
    pub smc: Arc<str>,
    /// The last poll that listed engines; `None` before the first.
    snapshot: ArcSwapOption<EngineSnapshot>,
    runs: [AtomicU64; DiscoveryResult::ALL.len()],
    /// The engines whose node health this replica serves: those of its
    /// plan (configured, or discovered and kept by the filters and the
    /// shard), so a removed or excluded engine leaves the health families
    /// too and shards do not serve one engine twice. `None`: every listed
    /// engine.
    served: ArcSwapOption<std::collections::BTreeSet<String>>,
}

impl EngineState {
    pub fn new(smc: Arc<str>) -> Self {
        EngineState {
            smc,
            snapshot: ArcSwapOption::empty(),
            runs: Default::default(),
            served: ArcSwapOption::empty(),
        }
    }

    /// Serve the node health of these engines only.
    pub fn set_served(&self, engines: std::collections::BTreeSet<String>) {
        self.served.store(Some(Arc::new(engines)));
    }

    /// Whether the node health of `engine` is served.
    pub fn serves(&self, engine: &str) -> bool {
        self.served
            .load()
            .as_ref()
            .is_none_or(|s| s.contains(engine))
    }

    /// The last published snapshot (one atomic load).
    pub fn snapshot(&self) -> Option<Arc<EngineSnapshot>> {
        self.snapshot.load_full()
    }

    /// Replace the served snapshot in one step.
    pub fn publish(&self, s: EngineSnapshot) {
        self.snapshot.store(Some(Arc::new(s)));
    }

    /// Count one poll.
    pub fn count(&self, r: DiscoveryResult) {
        self.runs[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn runs(&self, r: DiscoveryResult) -> u64 {
        self.runs[r as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_swaps_whole_snapshots_and_runs_count_by_result() {
        let s = EngineState::new("smc".into());
        assert_eq!(s.snapshot(), None);
        let one = EngineSnapshot {
            engines: vec![EngineInfo {
                name: "fw".into(),
                etype: "single_fw".into(),
                nodes: vec![],
            }],
        };
        s.publish(one.clone());
        let held = s.snapshot().unwrap();
        assert_eq!(held.names(), ["fw"]);
        s.publish(EngineSnapshot::default());
        // A reader holding the old snapshot still sees it whole.
        assert_eq!(*held, one);
        assert_eq!(s.snapshot().unwrap().engines.len(), 0);
        s.count(DiscoveryResult::Ok);
        s.count(DiscoveryResult::Ok);
        s.count(DiscoveryResult::BadAnswer);
        let counts: Vec<u64> = DiscoveryResult::ALL.iter().map(|r| s.runs(*r)).collect();
        assert_eq!(counts, [2, 0, 0, 0, 0, 0, 1]);
    }
}
