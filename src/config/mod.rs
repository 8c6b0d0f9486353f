//! Configuration: built-in defaults < TOML file < `SMC_EXPORTER_…` environment.
//!
//! STUB types; loading and validation are filled in by the config module work.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::{Definition, GroupField};

/// A secret string (API key). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret value. Call only where it is sent to the SMC.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `listen_address`: where /metrics is served (flag `--web.listen-address` overrides).
    pub listen_address: SocketAddr,
    /// `max_series_per_family`: series cap per state family.
    pub max_series_per_family: usize,
    /// `[subscription]` timing shared by every subscription.
    pub subscription: SubscriptionConfig,
    /// `[[smc]]` tables, in file order.
    pub smc: Vec<SmcConfig>,
}

/// Timing of subscriptions (`[subscription]`).
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    /// `connect_timeout`: TCP + TLS + upgrade + login deadline.
    pub connect_timeout: Duration,
    /// `backoff_initial`: first reconnect delay.
    pub backoff_initial: Duration,
    /// `backoff_max`: cap of the reconnect delay.
    pub backoff_max: Duration,
    /// `snapshot_settle`: a snapshot is complete when no snapshot batch
    /// arrived for this long (used when the SMC gives no other signal).
    pub snapshot_settle: Duration,
    /// `max_frame_bytes`: larger frames are rejected.
    pub max_frame_bytes: usize,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            snapshot_settle: Duration::from_secs(3),
            max_frame_bytes: 16 * 1024 * 1024,
        }
    }
}

/// One `[[smc]]` table.
#[derive(Debug, Clone)]
pub struct SmcConfig {
    /// `name`: the `smc` label value. Unique.
    pub name: String,
    /// `url`: `http(s)://host:port`, no path.
    pub url: url::Url,
    /// `api_version`: e.g. "7.1"; `None` = discover with `GET /api`.
    pub api_version: Option<String>,
    /// `domain`: login domain (default "Shared Domain").
    pub domain: String,
    /// From `api_key_file`, `api_key_env` or (discouraged) inline `api_key`.
    pub api_key: Secret,
    /// `ca_file`: extra PEM CA bundle for TLS.
    pub ca_file: Option<PathBuf>,
    /// `insecure_skip_verify`: do not verify the server certificate.
    pub insecure_skip_verify: bool,
    /// `engines`: engine or cluster names to monitor.
    pub engines: Vec<String>,
    /// `definitions`: engine-scoped definitions to subscribe per engine.
    pub definitions: Vec<Definition>,
    /// `alert_domains`: admin domains to subscribe ACTIVE_ALERTS for.
    pub alert_domains: Vec<String>,
    /// `group_by`: per-definition label fields (defaults filled in).
    pub group_by: BTreeMap<Definition, Vec<GroupField>>,
}

impl SmcConfig {
    /// The group fields for a definition (configured or default).
    pub fn group_fields(&self, d: Definition) -> Vec<GroupField> {
        match self.group_by.get(&d) {
            Some(v) => v.clone(),
            None => d
                .default_group_by()
                .iter()
                .filter_map(|l| d.group_field(l))
                .collect(),
        }
    }
}
