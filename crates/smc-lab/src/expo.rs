//! Expositions as data: parse Prometheus text or OpenMetrics samples into
//! a map, and pick out the state families.

use std::collections::BTreeMap;

use smc_exporter::labels::StateFamily;
use smc_protocol::Definition;

/// A series: metric name and sorted labels.
pub type SeriesKey = (String, BTreeMap<String, String>);

/// Parse Prometheus text or OpenMetrics samples (comments skipped).
pub fn parse_samples(text: &str) -> BTreeMap<SeriesKey, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line has a value");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (
                n.to_string(),
                parse_labels(rest.strip_suffix('}').expect("closing brace")),
            ),
            None => (series.to_string(), BTreeMap::new()),
        };
        let v: f64 = value.parse().expect("numeric value");
        assert!(
            out.insert((name, labels), v).is_none(),
            "duplicate series in: {line}"
        );
    }
    out
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('='));
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => panic!("dangling escape"),
                },
                '"' => break,
                o => value.push(o),
            }
        }
        out.insert(name.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// The state families (one per definition).
pub fn state_families() -> Vec<&'static str> {
    Definition::ALL.iter().map(|d| d.family()).collect()
}

/// Only the state-family samples of an exposition.
pub fn state_samples(text: &str) -> BTreeMap<SeriesKey, f64> {
    let fams = state_families();
    parse_samples(text)
        .into_iter()
        .filter(|((n, _), _)| fams.contains(&n.as_str()))
        .collect()
}

/// Sum of a counter family's samples matching a label.
pub fn sum_where(samples: &BTreeMap<SeriesKey, f64>, name: &str, label: (&str, &str)) -> f64 {
    samples
        .iter()
        .filter(|((n, l), _)| n == name && l.get(label.0).map(String::as_str) == Some(label.1))
        .map(|(_, v)| v)
        .sum()
}
