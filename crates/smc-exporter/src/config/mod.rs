//! Configuration: built-in defaults < TOML file < `SMC_EXPORTER_…` environment.
//!
//! [`load`] reads a TOML file and the environment, validates everything and
//! returns a [`Config`] or one [`ConfigError`] whose `Display` is a single
//! line, `<key path>: <reason>` (e.g. `smc[0].url: scheme must be http or
//! https, not "ftp"`). API keys never appear in errors or `Debug` output.
//!
//! Environment: `SMC_EXPORTER_<KEY>` with `__` between nested keys, e.g.
//! `SMC_EXPORTER_LISTEN_ADDRESS`, `SMC_EXPORTER_SUBSCRIPTION__BACKOFF_MAX`.
//! Only the top-level keys and `[subscription]` are read from the environment;
//! `[[smc]]` tables live in the file (their API key can come from the
//! environment through `api_key_env`). Other `SMC_EXPORTER_*` variables (such
//! as the binary's own flags) are ignored here.
//!
//! Relative `api_key_file` and `ca_file` paths are resolved against the
//! directory of the config file, like exporter-toolkit's web config.

mod demo;
mod error;
mod filters;
mod log_stream;
mod notify;
mod raw;
mod validate;

pub use demo::{DEMO_NOTIFY, DEMO_SMC_NAME, demo, demo_with_streams};
pub(crate) use error::one_line;
pub use error::{ConfigError, ErrorKind};
pub use filters::MAX_FILTER_BYTES;
pub use log_stream::{LogStreamConfig, MAX_LOG_STREAMS};
pub use notify::MAX_NOTIFY_TYPES;
pub use raw::{
    DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DISCOVERY_INTERVAL, DEFAULT_DOMAIN, DEFAULT_HEALTHY_RESET, DEFAULT_LISTEN_ADDRESS,
    DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_SERIES_PER_FAMILY, DEFAULT_PING_INTERVAL,
    DEFAULT_PONG_TIMEOUT, DEFAULT_SILENCE_LIMIT, DEFAULT_SNAPSHOT_SETTLE,
    DEFAULT_STATE_MAX_STALENESS, MAX_ENGINE_REGEX_LEN, MIN_SILENCE_LIMIT,
};

use crate::labels::StateFamily;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use crate::labels::GroupField;
use smc_protocol::Definition;

/// Prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "SMC_EXPORTER_";

/// Top-level keys that may be set from the environment.
const ENV_KEYS: &[&str] = &["listen_address", "max_series_per_family", "subscription"];

/// The environment layer: `SMC_EXPORTER_A__B` → `a.b`, restricted to [`ENV_KEYS`].
pub fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX).split("__").filter(|k| {
        let k = k.as_str().to_ascii_lowercase();
        let top = k.split('.').next().unwrap_or_default();
        ENV_KEYS.contains(&top)
    })
}

/// The built-in defaults layer.
pub fn defaults() -> impl figment::Provider {
    Serialized::defaults(raw::Defaults::default())
}

/// defaults < TOML file at `path` < environment. Does not read anything yet.
pub fn figment_for(path: &Path) -> Figment {
    Figment::from(defaults())
        .merge(Toml::file_exact(path))
        .merge(env_provider())
}

/// Read and validate the config file at `path` plus the `SMC_EXPORTER_` environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    // figment treats a missing file as empty; an operator wants to hear about it.
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            ErrorKind::Io,
            path.display().to_string(),
            format!("cannot read config file: {e}"),
        )
    })?;
    if let Some(e) = error::toml_syntax_error_in(path, &text) {
        return Err(e);
    }
    from_figment(figment_for(path))
}

/// Extract and validate a `Config` from any figment (tests build their own).
pub fn from_figment(f: Figment) -> Result<Config, ConfigError> {
    let raw: raw::RawConfig = f
        .extract()
        .map_err(|e| annotate(&f, error::from_figment_error(e)))?;
    validate::validate(raw).map_err(|e| annotate(&f, e))
}

/// If the offending value came from the environment, say which variable set it:
/// the operator will not find it in the file.
fn annotate(f: &Figment, e: ConfigError) -> ConfigError {
    let key = e.key();
    if key.contains('[') || key.starts_with("smc") {
        return e;
    }
    let from_env = f
        .find_metadata(key)
        .is_some_and(|m| m.name.contains("environment"));
    if from_env {
        let var = format!(
            "{ENV_PREFIX}{}",
            key.replace('.', "__").to_ascii_uppercase()
        );
        e.with_note(&format!("set by environment variable {var}"))
    } else {
        e
    }
}

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
    /// The same forms as the flag: `:PORT` (every interface, IPv4 and
    /// IPv6), `HOST:PORT`, `IP:PORT`, `[IPv6]:PORT`.
    pub listen_address: crate::http::listen::ListenAddress,
    /// `max_series_per_family`: series cap per state family.
    pub max_series_per_family: usize,
    /// `[subscription]` timing shared by every subscription.
    pub subscription: SubscriptionConfig,
    /// `[[smc]]` tables, in file order.
    pub smc: Vec<SmcConfig>,
    /// Things that are allowed but unwise (inline API key, TLS verification
    /// off, plain http). The binary logs each at warn level. No secrets.
    pub warnings: Vec<String>,
}

/// Timing of subscriptions (`[subscription]`).
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `ping_interval`: a WebSocket ping is sent this often.
    pub ping_interval: Duration,
    /// `pong_timeout`: no frame at all (a pong or anything else) within this
    /// after a ping: the connection is dead (`reason="idle"`). Less than
    /// `ping_interval`.
    pub pong_timeout: Duration,
    /// `silence_limit`: no data frame (text or binary; pongs do not count)
    /// for this long: resubscribe (`reason="idle"`). `None` = off (`"0s"`).
    pub silence_limit: Option<Duration>,
    /// `healthy_reset`: a connection that stayed up this long after its
    /// snapshot resets the reconnect backoff.
    pub healthy_reset: Duration,
    /// `state_max_staleness`: a subscription that has had no healthy
    /// connection for this long no longer serves its state series (its
    /// health series stay). `None` (`"0s"`, the default) = the last known
    /// state is served until the next snapshot replaces it.
    pub state_max_staleness: Option<Duration>,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            snapshot_settle: Duration::from_secs(3),
            max_frame_bytes: 16 * 1024 * 1024,
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            silence_limit: Some(Duration::from_secs(600)),
            healthy_reset: Duration::from_secs(60),
            state_max_staleness: None,
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
    /// `api_version`: e.g. "7.1" (normalised `MAJOR.MINOR`, within
    /// `SUPPORTED_API_VERSIONS`); `None` = discover with `GET /api`.
    pub api_version: Option<String>,
    /// `domain`: login domain (default "Shared Domain").
    pub domain: String,
    /// From `api_key_file`, `api_key_env` or (discouraged) inline `api_key`.
    pub api_key: Secret,
    /// `ca_file`: extra PEM CA bundle for TLS (exists and was readable at load;
    /// relative paths already resolved against the config file's directory).
    pub ca_file: Option<PathBuf>,
    /// `insecure_skip_verify`: do not verify the server certificate.
    pub insecure_skip_verify: bool,
    /// `client_cert_file` + `client_key_file`: a client certificate (PEM
    /// chain) and its key, for an SMC that asks for one (both or neither;
    /// read and parsed at load).
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// `server_name`: verify the SMC's certificate for this name instead of
    /// the url's host (a DNS name or an IP address).
    pub server_name: Option<String>,
    /// `engines`: engine or cluster names to monitor. Empty: the key was
    /// omitted, and the engines are those discovery lists on the SMC
    /// (filtered by `engines_match` / `engines_exclude`).
    pub engines: Vec<String>,
    /// `engines_match`: a discovered engine is kept only if its whole name
    /// matches (anchored). Only used with discovery.
    pub engines_match: Option<regex::Regex>,
    /// `engines_exclude`: a discovered engine whose whole name matches is
    /// left out. Only used with discovery.
    pub engines_exclude: Option<regex::Regex>,
    /// `discovery_interval`: how often discovery lists the SMC's engines.
    pub discovery_interval: Duration,
    /// `definitions`: engine-scoped definitions to subscribe per engine
    /// (never ACTIVE_ALERTS; that one is per entry of `alert_domains`).
    pub definitions: Vec<Definition>,
    /// `alert_domains`: admin domains to subscribe ACTIVE_ALERTS for.
    pub alert_domains: Vec<String>,
    /// `group_by`: per-definition label fields; every definition has an entry
    /// (configured, or the default from `Definition::default_group_by`).
    pub group_by: BTreeMap<Definition, Vec<GroupField>>,
    /// `filters`: the `query.filter` (JSON form) of a definition's
    /// subscriptions; none = every row.
    pub filters: filters::Filters,
    /// `notify`: element types whose changes are counted (the notification
    /// socket); empty = no notification socket.
    pub notify: Vec<String>,
    /// `log_stream`: the live log streams (one log socket each).
    pub log_streams: Vec<LogStreamConfig>,
}

impl SmcConfig {
    /// The TLS client options of this SMC.
    pub fn tls_options(&self) -> crate::smc::tls::TlsOptions<'_> {
        crate::smc::tls::TlsOptions {
            ca_file: self.ca_file.as_deref(),
            insecure: self.insecure_skip_verify,
            client_identity: self
                .client_identity
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path())),
            server_name: self.server_name.as_deref(),
        }
    }

    /// True when the engines come from discovery (no `engines` key).
    pub fn discovers_engines(&self) -> bool {
        self.engines.is_empty()
    }

    /// Whether a discovered engine name passes `engines_match` and
    /// `engines_exclude` (both match the whole name).
    pub fn engine_selected(&self, name: &str) -> bool {
        self.engines_match.as_ref().is_none_or(|r| r.is_match(name))
            && !self
                .engines_exclude
                .as_ref()
                .is_some_and(|r| r.is_match(name))
    }

    /// What a session is made of: a change of any of these needs a new
    /// session (the old one logged out). The API key is compared, never shown.
    pub fn same_connection(&self, other: &SmcConfig) -> bool {
        self.url == other.url
            && self.api_version == other.api_version
            && self.domain == other.domain
            && self.api_key == other.api_key
            && self.ca_file == other.ca_file
            && self.insecure_skip_verify == other.insecure_skip_verify
            && self.client_identity == other.client_identity
            && self.server_name == other.server_name
    }

    /// The configured `query.filter` of a definition's subscriptions.
    pub fn filter(&self, d: Definition) -> Option<std::sync::Arc<serde_json::Value>> {
        self.filters.get(&d).cloned()
    }

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
