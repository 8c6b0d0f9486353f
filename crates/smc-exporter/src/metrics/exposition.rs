//! The exposition writer: one sample writer, two header styles.
//!
//! [`collect`](super::collect) walks the store and calls a [`MetricSink`]
//! once per family and once per sample. [`TextEncoder`] is the sink that
//! writes either OpenMetrics 1.0.0 or Prometheus text 0.0.4. The two formats
//! share every sample line byte for byte; they differ only in
//!
//! * the name on `# HELP` / `# TYPE` of a counter: OpenMetrics names the
//!   family without `_total` (`# TYPE smc_logins counter`), text 0.0.4 uses
//!   the sample name (`# TYPE smc_logins_total counter`);
//! * `# UNIT` lines, which only OpenMetrics has;
//! * HELP escaping (OpenMetrics also escapes `"`);
//! * the closing `# EOF`, which only OpenMetrics has.

use std::fmt::Write as _;

use super::Format;
use super::series::SeriesLines;

/// The metric types this exporter emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    /// Samples `_sum`, `_count` and cumulative `_bucket{le}` (in the order
    /// prometheus-client writes them); see [`MetricSink::histogram`].
    Histogram,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// The description of one metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyDesc {
    /// The sample name; counters end in `_total`.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
    /// Base unit (`seconds`, `bytes`); the family name (without `_total`) ends in it.
    pub unit: Option<&'static str>,
}

impl FamilyDesc {
    pub const fn gauge(name: &'static str, help: &'static str) -> Self {
        FamilyDesc {
            name,
            help,
            kind: MetricType::Gauge,
            unit: None,
        }
    }
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        FamilyDesc {
            name,
            help,
            kind: MetricType::Counter,
            unit: None,
        }
    }
    pub const fn histogram(name: &'static str, help: &'static str) -> Self {
        FamilyDesc {
            name,
            help,
            kind: MetricType::Histogram,
            unit: None,
        }
    }
    pub const fn with_unit(mut self, unit: &'static str) -> Self {
        self.unit = Some(unit);
        self
    }

    /// The OpenMetrics family name: the sample name without a counter's `_total`.
    pub fn family_name(&self) -> &'static str {
        match self.kind {
            MetricType::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            MetricType::Gauge | MetricType::Histogram => self.name,
        }
    }
}

/// A sample value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

/// One histogram series: `buckets[i]` observations fell in
/// `(bounds[i-1], bounds[i]]` (not cumulative), the last one above every
/// bound (`+Inf`); `buckets.len() == bounds.len() + 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramValue<'a> {
    pub bounds: &'a [f64],
    pub buckets: &'a [u64],
    pub sum: f64,
    pub count: u64,
}

/// Receives the exposition in order: a family, then its samples.
pub trait MetricSink {
    /// A histogram series of the (histogram) family last announced.
    fn histogram(&mut self, labels: &[(&str, &str)], h: &HistogramValue<'_>);
    fn family(&mut self, desc: &FamilyDesc);
    /// A sample of the family last announced; label pairs in output order.
    fn sample(&mut self, labels: &[(&str, &str)], value: Value);
    /// Samples of the family last announced whose lines were rendered when
    /// their snapshot was first scraped. The default replays them through
    /// [`sample`](Self::sample); [`TextEncoder`] copies the lines.
    fn series_lines(&mut self, lines: &SeriesLines) {
        lines.for_each_sample(|labels, value| self.sample(labels, value));
    }
}

/// Writes the exposition text in one of the two formats.
#[derive(Debug)]
pub struct TextEncoder {
    format: Format,
    out: String,
    /// Sample name of the current family.
    name: &'static str,
}

impl TextEncoder {
    pub fn new(format: Format) -> Self {
        Self::with_capacity(format, 16 * 1024)
    }

    /// An encoder whose buffer starts with `capacity` bytes: with the size of
    /// the previous exposition, the buffer is allocated once instead of
    /// doubling (and copying) its way up.
    pub fn with_capacity(format: Format, capacity: usize) -> Self {
        TextEncoder {
            format,
            out: String::with_capacity(capacity),
            name: "",
        }
    }

    /// Finish the exposition (`# EOF` for OpenMetrics) and return it.
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

impl MetricSink for TextEncoder {
    fn family(&mut self, desc: &FamilyDesc) {
        self.name = desc.name;
        let header_name = match self.format {
            Format::OpenMetrics => desc.family_name(),
            Format::Text => desc.name,
        };
        let out = &mut self.out;
        out.push_str("# HELP ");
        out.push_str(header_name);
        out.push(' ');
        escape_help(out, desc.help, self.format);
        out.push_str("\n# TYPE ");
        out.push_str(header_name);
        out.push(' ');
        out.push_str(desc.kind.as_str());
        out.push('\n');
        if let (Format::OpenMetrics, Some(unit)) = (self.format, desc.unit) {
            out.push_str("# UNIT ");
            out.push_str(header_name);
            out.push(' ');
            out.push_str(unit);
            out.push('\n');
        }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: Value) {
        write_sample(&mut self.out, self.name, labels, value);
    }

    fn histogram(&mut self, labels: &[(&str, &str)], h: &HistogramValue<'_>) {
        let name = self.name;
        let mut suffixed = |suffix: &str, labels: &[(&str, &str)], v: Value| {
            let mut n = String::with_capacity(name.len() + suffix.len());
            n.push_str(name);
            n.push_str(suffix);
            write_sample(&mut self.out, &n, labels, v);
        };
        suffixed("_sum", labels, Value::Float(h.sum));
        suffixed("_count", labels, Value::Int(h.count));
        let mut cumulative = 0u64;
        for (i, n) in h.buckets.iter().enumerate() {
            cumulative += n;
            let mut le = String::new();
            match h.bounds.get(i) {
                Some(b) => write_value(&mut le, Value::Float(*b)),
                None => le.push_str("+Inf"),
            }
            // `le` first, as prometheus-client (the oracle) writes it.
            let mut with_le: Vec<(&str, &str)> = vec![("le", &le)];
            with_le.extend_from_slice(labels);
            suffixed("_bucket", &with_le, Value::Int(cumulative));
        }
    }

    fn series_lines(&mut self, lines: &SeriesLines) {
        self.out.push_str(lines.text());
    }
}

/// One sample line, identical in both formats: `name{k="v",...} value\n`.
pub(crate) fn write_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: Value) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(out, value);
    out.push('\n');
}

/// Label value escaping, identical in both formats: `\` → `\\`, `"` → `\"`,
/// newline → `\n`. A value without any of the three (nearly all) is one copy.
pub fn escape_label_value(out: &mut String, v: &str) {
    escape(
        out,
        v,
        memchr::memchr3_iter(b'\\', b'"', b'\n', v.as_bytes()),
    );
}

/// HELP escaping: `\` and newline in both formats; OpenMetrics also escapes `"`.
fn escape_help(out: &mut String, help: &str, format: Format) {
    let bytes = help.as_bytes();
    match format {
        Format::OpenMetrics => escape(out, help, memchr::memchr3_iter(b'\\', b'"', b'\n', bytes)),
        Format::Text => escape(out, help, memchr::memchr2_iter(b'\\', b'\n', bytes)),
    }
}

/// Copy `v` into `out`, with the ASCII byte at each of `specials` (in
/// increasing order, each one of `\`, `"`, newline) escaped.
fn escape(out: &mut String, v: &str, specials: impl Iterator<Item = usize>) {
    let mut start = 0;
    for i in specials {
        // `i` is an ASCII byte, so both slices end on character boundaries.
        out.push_str(v.get(start..i).unwrap_or_default());
        out.push_str(match v.as_bytes().get(i) {
            Some(b'\\') => "\\\\",
            Some(b'"') => "\\\"",
            _ => "\\n",
        });
        start = i + 1;
    }
    out.push_str(v.get(start..).unwrap_or_default());
}

/// Integers as integers; floats in the shortest round-trip form, always with a
/// decimal point (`1.0`), and `NaN` / `+Inf` / `-Inf` as both formats spell them.
fn write_value(out: &mut String, value: Value) {
    match value {
        // Writing to a String cannot fail.
        Value::Int(v) => out.push_str(itoa::Buffer::new().format(v)),
        Value::Float(v) if v.is_nan() => out.push_str("NaN"),
        Value::Float(v) if v == f64::INFINITY => out.push_str("+Inf"),
        Value::Float(v) if v == f64::NEG_INFINITY => out.push_str("-Inf"),
        Value::Float(v) => {
            let start = out.len();
            let _ = write!(out, "{v}");
            if !out[start..].contains(['.', 'e']) {
                out.push_str(".0");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\\b\"c\nd λ");
        assert_eq!(s, "a\\\\b\\\"c\\nd λ");
        let esc = |v: &str| {
            let mut s = String::from(">");
            escape_label_value(&mut s, v);
            s
        };
        // The fast path (nothing to escape) and the edges of the slow one.
        assert_eq!(esc(""), ">");
        assert_eq!(esc("fw-1 node 2 λ€🦀"), ">fw-1 node 2 λ€🦀");
        assert_eq!(esc("\""), ">\\\"");
        assert_eq!(esc("\n\n"), ">\\n\\n");
        assert_eq!(esc("λ\\"), ">λ\\\\");
        assert_eq!(esc("\\€x"), ">\\\\€x");
        // Carriage returns and tabs are not escaped (as in prometheus-client).
        assert_eq!(esc("a\r\tb"), ">a\r\tb");
        let long = format!("{}\"{}", "x".repeat(100), "y".repeat(100));
        assert_eq!(
            esc(&long),
            format!(">{}\\\"{}", "x".repeat(100), "y".repeat(100))
        );
    }

    #[test]
    fn help_escaping_differs_only_in_quotes() {
        let mut om = String::new();
        let mut text = String::new();
        escape_help(&mut om, "a\\b\n\"q\"", Format::OpenMetrics);
        escape_help(&mut text, "a\\b\n\"q\"", Format::Text);
        assert_eq!(om, "a\\\\b\\n\\\"q\\\"");
        assert_eq!(text, "a\\\\b\\n\"q\"");
        let mut plain = String::new();
        escape_help(&mut plain, "Plain help.", Format::OpenMetrics);
        assert_eq!(plain, "Plain help.");
    }

    #[test]
    fn values() {
        let f = |v| {
            let mut s = String::new();
            write_value(&mut s, v);
            s
        };
        assert_eq!(f(Value::Int(42)), "42");
        assert_eq!(f(Value::Int(0)), "0");
        assert_eq!(f(Value::Int(u64::MAX)), "18446744073709551615");
        assert_eq!(f(Value::Float(1.0)), "1.0");
        assert_eq!(f(Value::Float(1_700_000_000.123)), "1700000000.123");
        assert_eq!(f(Value::Float(0.25)), "0.25");
        assert_eq!(f(Value::Float(f64::NAN)), "NaN");
        assert_eq!(f(Value::Float(f64::INFINITY)), "+Inf");
        assert_eq!(f(Value::Float(f64::NEG_INFINITY)), "-Inf");
    }

    #[test]
    fn histogram_lines() {
        let d = FamilyDesc::histogram("x_seconds", "Help.").with_unit("seconds");
        let h = HistogramValue {
            bounds: &[0.5, 10.0],
            buckets: &[1, 0, 2],
            sum: 31.25,
            count: 3,
        };
        let mut om = TextEncoder::new(Format::OpenMetrics);
        om.family(&d);
        om.histogram(&[("sps", "pam")], &h);
        assert_eq!(
            om.finish(),
            "# HELP x_seconds Help.\n# TYPE x_seconds histogram\n# UNIT x_seconds seconds\n\
             x_seconds_sum{sps=\"pam\"} 31.25\nx_seconds_count{sps=\"pam\"} 3\n\
             x_seconds_bucket{le=\"0.5\",sps=\"pam\"} 1\nx_seconds_bucket{le=\"10.0\",sps=\"pam\"} 1\n\
             x_seconds_bucket{le=\"+Inf\",sps=\"pam\"} 3\n# EOF\n"
        );
    }

    #[test]
    fn counter_headers_per_format() {
        let d = FamilyDesc::counter("x_seconds_total", "Help.").with_unit("seconds");
        let mut om = TextEncoder::new(Format::OpenMetrics);
        om.family(&d);
        om.sample(&[("a", "1")], Value::Int(3));
        assert_eq!(
            om.finish(),
            "# HELP x_seconds Help.\n# TYPE x_seconds counter\n# UNIT x_seconds seconds\n\
             x_seconds_total{a=\"1\"} 3\n# EOF\n"
        );
        let mut text = TextEncoder::new(Format::Text);
        text.family(&d);
        text.sample(&[], Value::Int(3));
        assert_eq!(
            text.finish(),
            "# HELP x_seconds_total Help.\n# TYPE x_seconds_total counter\nx_seconds_total 3\n"
        );
    }
}
