//! `Accept` / `Accept-Encoding` parsing with q-weights (RFC 9110 §12.5).

use super::Format;

/// One element of a weighted list: the token (media range or coding, lower
/// case), its parameters other than `q`, and its weight.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Weighted<'a> {
    pub token: String,
    pub params: Vec<(String, &'a str)>,
    pub q: f32,
}

/// Parse a comma-separated weighted list. Elements with an invalid `q`
/// (not a number in 0..=1) or an empty token are skipped.
pub(crate) fn weighted_list(header: &str) -> impl Iterator<Item = Weighted<'_>> {
    header.split(',').filter_map(|element| {
        let mut parts = element.split(';');
        let token = parts.next()?.trim().to_ascii_lowercase();
        if token.is_empty() {
            return None;
        }
        let mut q = 1.0_f32;
        let mut params = Vec::new();
        for p in parts {
            if p.trim().is_empty() {
                continue;
            }
            let (k, v) = p.split_once('=')?;
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().trim_matches('"');
            if k == "q" {
                q = parse_q(v)?;
            } else {
                params.push((k, v));
            }
        }
        Some(Weighted { token, params, q })
    })
}

/// A qvalue: `0`, `1`, `0.xyz`, `1.000` (at most three decimals).
fn parse_q(v: &str) -> Option<f32> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if !matches!(int, "0" | "1") || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let q: f32 = v.parse().ok()?;
    (0.0..=1.0).contains(&q).then_some(q)
}

/// What a media range accepts.
fn accepts(w: &Weighted<'_>) -> (bool, bool) {
    let version = w
        .params
        .iter()
        .find(|(k, _)| k == "version")
        .map(|(_, v)| *v);
    match w.token.as_str() {
        // OpenMetrics: the versions we produce (1.0.0, 0.0.1 is compatible) or none.
        "application/openmetrics-text" => (
            matches!(version, None | Some("1.0.0") | Some("0.0.1")),
            false,
        ),
        // Text 0.0.4 is the fallback every Prometheus accepts; 1.0.0 is a
        // superset of it for our (legacy-valid) names.
        "text/plain" => (
            false,
            matches!(version, None | Some("0.0.4") | Some("1.0.0")),
        ),
        "application/*" => (true, false),
        "text/*" | "*/*" => (false, true),
        _ => (false, false),
    }
}

/// Choose the exposition format for an `Accept` header.
///
/// OpenMetrics when the client weights it at least as high as any range that
/// accepts text; otherwise (no header, garbage, wildcards only, OpenMetrics at
/// `q=0`) Prometheus text 0.0.4, the format every scraper understands.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    let (mut q_om, mut q_text) = (0.0_f32, 0.0_f32);
    for w in weighted_list(accept) {
        let (om, text) = accepts(&w);
        if om {
            q_om = q_om.max(w.q);
        }
        if text {
            q_text = q_text.max(w.q);
        }
    }
    if q_om > 0.0 && q_om >= q_text {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// Whether an `Accept-Encoding` header allows a gzip response.
pub fn gzip_acceptable(accept_encoding: Option<&str>) -> bool {
    let Some(h) = accept_encoding else {
        return false;
    };
    let (mut explicit, mut star) = (None::<f32>, None::<f32>);
    for w in weighted_list(h) {
        match w.token.as_str() {
            "gzip" | "x-gzip" => explicit = Some(explicit.unwrap_or(0.0).max(w.q)),
            "*" => star = Some(w.q),
            _ => {}
        }
    }
    explicit.or(star).is_some_and(|q| q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values() {
        assert_eq!(parse_q("0.5"), Some(0.5));
        assert_eq!(parse_q("1"), Some(1.0));
        assert_eq!(parse_q("1.000"), Some(1.0));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("abc"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("-0"), None);
    }

    #[test]
    fn gzip() {
        assert!(gzip_acceptable(Some("gzip")));
        assert!(gzip_acceptable(Some("deflate, gzip;q=0.5")));
        assert!(gzip_acceptable(Some("*")));
        assert!(!gzip_acceptable(Some("gzip;q=0")));
        assert!(!gzip_acceptable(Some("*, gzip;q=0")));
        assert!(!gzip_acceptable(Some("identity")));
        assert!(!gzip_acceptable(None));
    }
}
