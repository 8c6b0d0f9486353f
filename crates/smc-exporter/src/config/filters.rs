//! `[smc.filters]`: a session-query filter per definition, in the SMC's
//! own `translated` syntax (a string) or the JSON form of `query.filter`
//! (a table). Both are parsed with the protocol crate's filter parser, the
//! one the simulator applies, so `--config.check` refuses a bad filter with
//! its key path and, for an expression, the offset of the error. What is
//! sent to the SMC is the filter as written: a string travels as
//! `{"type":"translated","value":…}`.
//!
//! The parser knows the fields of the protocol notes' catalog; an
//! expression naming a field outside it is refused here even where an SMC
//! would accept it (docs/configuration.md says so).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::error::ConfigError;
use smc_protocol::{Definition, Filter};

type Result<T> = std::result::Result<T, ConfigError>;

/// Longest `translated` expression accepted, in bytes (Forcepoint's own
/// example, a 203-address IN filter, is about 6 KiB).
pub const MAX_FILTER_BYTES: usize = 64 * 1024;

/// The filters of one SMC, by definition, in the JSON form of
/// `query.filter`.
pub type Filters = BTreeMap<Definition, Arc<Value>>;

/// `filters` of one `[[smc]]` (`key` is its path): a warning for each
/// entry of a definition the SMC does not subscribe.
pub(crate) fn smc_filters(
    key: &str,
    raw: BTreeMap<String, Value>,
    subscribed: impl Fn(Definition) -> bool,
    warnings: &mut Vec<String>,
) -> Result<Filters> {
    let mut out = Filters::new();
    let mut written: BTreeMap<Definition, String> = BTreeMap::new();
    for (def_name, v) in raw {
        let k = format!("{key}.{def_name}");
        let d = Definition::parse(&def_name)
            .ok_or_else(|| ConfigError::invalid(&k, unknown_definition()))?;
        if let Some(first) = written.insert(d, def_name.clone()) {
            return Err(ConfigError::invalid(
                &k,
                format!("{d} is already configured as {key}.{first}"),
            ));
        }
        let filter = query_filter(&k, v)?;
        if !subscribed(d) {
            warnings.push(format!(
                "{k}: {d} is not subscribed for this SMC; the entry has no effect"
            ));
        }
        out.insert(d, Arc::new(filter));
    }
    Ok(out)
}

fn unknown_definition() -> String {
    let all: Vec<&str> = Definition::ALL.iter().map(|d| d.wire_name(false)).collect();
    format!("unknown definition; known: {}", all.join(", "))
}

/// One entry: a string is a `translated` expression, a table the JSON form.
pub(crate) fn query_filter(k: &str, v: Value) -> Result<Value> {
    let json = match v {
        Value::String(s) => {
            if s.len() > MAX_FILTER_BYTES {
                return Err(ConfigError::invalid(
                    k,
                    format!("longer than {MAX_FILTER_BYTES} bytes"),
                ));
            }
            if s.trim().is_empty() {
                return Err(ConfigError::invalid(
                    k,
                    "empty filter (leave the key out to subscribe to every row)",
                ));
            }
            serde_json::json!({"type": "translated", "value": s})
        }
        v @ Value::Object(_) => v,
        other => {
            return Err(ConfigError::invalid(
                k,
                format!(
                    "expected a filter expression (string) or a filter table, got {}",
                    kind(&other)
                ),
            ));
        }
    };
    Filter::parse(&json).map_err(|e| ConfigError::invalid(k, e))?;
    Ok(json)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}
