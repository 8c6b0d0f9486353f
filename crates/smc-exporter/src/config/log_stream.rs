//! `[[smc.log_stream]]`: the live log streams of one SMC. Each is one log
//! socket asking for `current` records only (no history), with its own
//! `filter` (the syntax of `[smc.filters]`), its `group_by` (labels from
//! [`crate::labels::LOG_GROUPABLE`], default engine and action) and
//! `rule_hits` (count `smc_log_rule_hits_total`, off by default: a policy
//! can have thousands of rules). The `name` becomes the `stream` label, so
//! it is unique per SMC and plain.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::error::ConfigError;
use crate::labels::{LOG_DEFAULT_GROUP_BY, LOG_GROUPABLE, LogGroupField, log_group_field};

type Result<T> = std::result::Result<T, ConfigError>;

/// Most log streams per SMC (each is one socket).
pub const MAX_LOG_STREAMS: usize = 16;
/// Longest stream name.
const MAX_NAME_BYTES: usize = 64;

/// One `[[smc.log_stream]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogStream {
    pub name: Option<String>,
    pub filter: Option<Value>,
    pub group_by: Option<Vec<String>>,
    pub rule_hits: Option<bool>,
}

/// One validated log stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LogStreamConfig {
    /// `name`: the `stream` label.
    pub name: String,
    /// `filter`: the `query.filter` (JSON form); none = every record.
    pub filter: Option<Arc<Value>>,
    /// `group_by`: the labels of its record and byte counters, in order.
    pub group_by: Vec<LogGroupField>,
    /// `rule_hits`: also count records by engine and rule tag.
    pub rule_hits: bool,
}

/// `log_stream` of one `[[smc]]` (`key` is its path).
pub(crate) fn log_streams(
    key: &str,
    raw: Option<Vec<RawLogStream>>,
) -> Result<Vec<LogStreamConfig>> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_LOG_STREAMS {
        return Err(ConfigError::invalid(
            key,
            format!("{} log streams; at most {MAX_LOG_STREAMS}", raw.len()),
        ));
    }
    let mut out: Vec<LogStreamConfig> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let k = format!("{key}[{i}]");
        let s = log_stream(&k, r)?;
        if let Some(first) = out.iter().position(|o| o.name == s.name) {
            return Err(ConfigError::invalid(
                format!("{k}.name"),
                format!("duplicate log stream name {:?} (also at [{first}])", s.name),
            ));
        }
        out.push(s);
    }
    Ok(out)
}

fn log_stream(k: &str, r: RawLogStream) -> Result<LogStreamConfig> {
    let name = stream_name(&format!("{k}.name"), r.name)?;
    let filter = r
        .filter
        .map(|f| super::filters::query_filter(&format!("{k}.filter"), f))
        .transpose()?
        .map(Arc::new);
    let group_by = group_by(&format!("{k}.group_by"), r.group_by)?;
    Ok(LogStreamConfig {
        name,
        filter,
        group_by,
        rule_hits: r.rule_hits.unwrap_or(false),
    })
}

fn stream_name(k: &str, name: Option<String>) -> Result<String> {
    let Some(name) = name else {
        return Err(ConfigError::new(
            super::ErrorKind::Missing,
            k,
            "required key is missing",
        ));
    };
    let plain = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !plain {
        return Err(ConfigError::invalid(
            k,
            format!(
                "{name:?} is not a stream name: letters, digits, '_', '-' and '.', at most {MAX_NAME_BYTES} bytes"
            ),
        ));
    }
    Ok(name)
}

fn group_by(k: &str, raw: Option<Vec<String>>) -> Result<Vec<LogGroupField>> {
    let labels: Vec<String> = match raw {
        Some(l) => l,
        None => LOG_DEFAULT_GROUP_BY.iter().map(|s| s.to_string()).collect(),
    };
    let mut out: Vec<LogGroupField> = Vec::with_capacity(labels.len());
    for (j, label) in labels.iter().enumerate() {
        let lk = format!("{k}[{j}]");
        let Some(f) = log_group_field(label) else {
            let allowed: Vec<&str> = LOG_GROUPABLE.iter().map(|g| g.label).collect();
            return Err(ConfigError::invalid(
                lk,
                format!(
                    "unknown label {label:?} for a log stream; allowed: {}",
                    allowed.join(", ")
                ),
            ));
        };
        if out.iter().any(|g| g.label == f.label) {
            return Err(ConfigError::invalid(
                lk,
                format!("duplicate label {label:?}"),
            ));
        }
        out.push(f);
    }
    Ok(out)
}
