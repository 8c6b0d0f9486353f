//! Alert severities: the SMC's four levels, their numeric codes, and the
//! [`Transform`] that turns a rendered or numeric severity into one name.

/// Normalisation applied to a field value before it becomes a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// The SMC's own rendering, unchanged.
    AsIs,
    /// Alert severity: the rendered text (`Critical`) or the numeric code
    /// (`10`) becomes one of `info`, `low`, `high`, `critical`.
    Severity,
}

impl Transform {
    /// Apply the transform. Returns the label value.
    pub fn apply(self, raw: &str) -> &str {
        match self {
            Transform::AsIs => raw,
            Transform::Severity => severity_label(raw).unwrap_or(raw),
        }
    }
}

/// Alert severities in SMC order, with their numeric codes (`Alerts` constants).
pub const SEVERITIES: [(&str, u32); 4] = [("info", 1), ("low", 3), ("high", 5), ("critical", 10)];

/// Map a rendered or numeric severity to its label value.
pub fn severity_label(raw: &str) -> Option<&'static str> {
    let t = raw.trim();
    for (name, code) in SEVERITIES {
        if t.eq_ignore_ascii_case(name) || t.parse::<u32>().ok() == Some(code) {
            return Some(name);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_maps_text_and_codes() {
        assert_eq!(severity_label("Critical"), Some("critical"));
        assert_eq!(severity_label("10"), Some("critical"));
        assert_eq!(severity_label("3"), Some("low"));
        assert_eq!(severity_label("bogus"), None);
    }
}
