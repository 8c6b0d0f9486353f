//! The configuration as written: what figment deserializes before validation.
//!
//! Every key is optional here so that validation, not serde, decides what is
//! required and says so with a key path. Unknown keys are rejected
//! (`deny_unknown_fields`). These types deliberately do not derive `Debug`:
//! `api_key` is a plain string until it is wrapped in a `Secret`.

use std::collections::BTreeMap;
use std::fmt;

use figment::value::magic::RelativePathBuf;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:9791";
pub const DEFAULT_MAX_SERIES_PER_FAMILY: usize = 10_000;
pub const DEFAULT_CONNECT_TIMEOUT: &str = "10s";
pub const DEFAULT_BACKOFF_INITIAL: &str = "500ms";
pub const DEFAULT_BACKOFF_MAX: &str = "60s";
pub const DEFAULT_SNAPSHOT_SETTLE: &str = "3s";
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_PING_INTERVAL: &str = "30s";
pub const DEFAULT_PONG_TIMEOUT: &str = "10s";
/// Well above the ~2 minutes an SMC may stay silent on an unchanged table.
pub const DEFAULT_SILENCE_LIMIT: &str = "10m";
/// A non-zero `silence_limit` must exceed this: an SMC may send nothing for
/// about two minutes on an unchanged table (`docs/smc-protocol.md` §3.2,
/// §8 #22).
pub const MIN_SILENCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);
pub const DEFAULT_HEALTHY_RESET: &str = "60s";
/// Off: the last known state is served for as long as the process lives.
pub const DEFAULT_STATE_MAX_STALENESS: &str = "0s";
pub const DEFAULT_DOMAIN: &str = "Shared Domain";
/// How often the engines of an `[[smc]]` without `engines` are listed.
pub const DEFAULT_DISCOVERY_INTERVAL: &str = "5m";
/// `engines_match` / `engines_exclude` longer than this are refused.
pub const MAX_ENGINE_REGEX_LEN: usize = 1024;

/// The built-in defaults layer of the figment (top-level keys only; per-SMC
/// defaults are filled in by validation).
#[derive(Serialize)]
pub struct Defaults {
    listen_address: &'static str,
    max_series_per_family: usize,
    subscription: SubscriptionDefaults,
}

#[derive(Serialize)]
struct SubscriptionDefaults {
    connect_timeout: &'static str,
    backoff_initial: &'static str,
    backoff_max: &'static str,
    snapshot_settle: &'static str,
    max_frame_bytes: usize,
    ping_interval: &'static str,
    pong_timeout: &'static str,
    silence_limit: &'static str,
    healthy_reset: &'static str,
    state_max_staleness: &'static str,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            listen_address: DEFAULT_LISTEN_ADDRESS,
            max_series_per_family: DEFAULT_MAX_SERIES_PER_FAMILY,
            subscription: SubscriptionDefaults {
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                backoff_initial: DEFAULT_BACKOFF_INITIAL,
                backoff_max: DEFAULT_BACKOFF_MAX,
                snapshot_settle: DEFAULT_SNAPSHOT_SETTLE,
                max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
                ping_interval: DEFAULT_PING_INTERVAL,
                pong_timeout: DEFAULT_PONG_TIMEOUT,
                silence_limit: DEFAULT_SILENCE_LIMIT,
                healthy_reset: DEFAULT_HEALTHY_RESET,
                state_max_staleness: DEFAULT_STATE_MAX_STALENESS,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen_address: Option<String>,
    pub max_series_per_family: Option<usize>,
    #[serde(default)]
    pub subscription: RawSubscription,
    pub smc: Option<Vec<RawSmc>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSubscription {
    pub connect_timeout: Option<DurationText>,
    pub backoff_initial: Option<DurationText>,
    pub backoff_max: Option<DurationText>,
    pub snapshot_settle: Option<DurationText>,
    pub max_frame_bytes: Option<usize>,
    pub ping_interval: Option<DurationText>,
    pub pong_timeout: Option<DurationText>,
    pub silence_limit: Option<DurationText>,
    pub healthy_reset: Option<DurationText>,
    pub state_max_staleness: Option<DurationText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmc {
    pub name: Option<String>,
    pub url: Option<String>,
    pub api_version: Option<ApiVersionText>,
    pub domain: Option<String>,
    pub api_key_file: Option<RelativePathBuf>,
    pub api_key_env: Option<String>,
    pub api_key: Option<String>,
    pub ca_file: Option<RelativePathBuf>,
    pub insecure_skip_verify: Option<bool>,
    pub client_cert_file: Option<RelativePathBuf>,
    pub client_key_file: Option<RelativePathBuf>,
    pub server_name: Option<String>,
    pub engines: Option<Vec<String>>,
    pub engines_match: Option<String>,
    pub engines_exclude: Option<String>,
    pub discovery_interval: Option<DurationText>,
    pub definitions: Option<Vec<String>>,
    pub alert_domains: Option<Vec<String>>,
    pub group_by: Option<BTreeMap<String, Vec<String>>>,
    pub filters: Option<BTreeMap<String, serde_json::Value>>,
    pub notify: Option<Vec<String>>,
    pub log_stream: Option<Vec<super::log_stream::RawLogStream>>,
}

/// A string that must be a humantime duration; the type error says so.
pub struct DurationText(pub String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a duration string such as "500ms" or "1m""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string that must be `MAJOR.MINOR`; a TOML float (`7.1`) is a type error
/// with a hint, because `7.10` and `7.1` are different SMC API versions.
pub struct ApiVersionText(pub String);

impl<'de> Deserialize<'de> for ApiVersionText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ApiVersionText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a quoted "MAJOR.MINOR" string such as "7.1""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ApiVersionText, E> {
                Ok(ApiVersionText(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}
