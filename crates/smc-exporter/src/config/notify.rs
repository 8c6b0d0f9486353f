//! `notify` of one `[[smc]]`: the element types (entry-point rels such as
//! `host`, `network`, `single_fw`) whose changes the notification socket
//! reports and `smc_element_changes_total` counts. They become the
//! `element_type` label, so the list is bounded and each name is a plain
//! rel: lower-case letters, digits and `_`.

use super::error::ConfigError;

/// Most element types per SMC (each is at most 8 series).
pub const MAX_NOTIFY_TYPES: usize = 32;
/// Longest element type name.
const MAX_TYPE_BYTES: usize = 64;

pub(crate) fn notify_types(
    key: &str,
    raw: Option<Vec<String>>,
) -> Result<Vec<String>, ConfigError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_NOTIFY_TYPES {
        return Err(ConfigError::invalid(
            key,
            format!("{} element types; at most {MAX_NOTIFY_TYPES}", raw.len()),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        let k = format!("{key}[{i}]");
        let plain = t.len() <= MAX_TYPE_BYTES
            && t.starts_with(|c: char| c.is_ascii_lowercase())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(ConfigError::invalid(
                k,
                format!(
                    "{t:?} is not an element type: an entry-point name such as \"host\" or \"single_fw\" (a-z, 0-9, _; at most {MAX_TYPE_BYTES} bytes)"
                ),
            ));
        }
        if let Some(first) = out.iter().position(|x| *x == t) {
            return Err(ConfigError::invalid(
                k,
                format!("duplicate element type {t:?} (also at [{first}])"),
            ));
        }
        out.push(t);
    }
    Ok(out)
}
