//! Logging: the tracing subscriber of the binary, and the escaping that keeps
//! text from outside (SMC `failure`/`end` texts, close reasons, URLs, config
//! values) from forging log lines.
//!
//! * Text logs: every field value and the message go through [`escape`],
//!   which writes C0 controls, DEL, C1 controls, the Unicode bidi controls
//!   and the line/paragraph separators as visible escapes (`\n`, `\x1b`,
//!   `\u{202e}`), so one event is one line whatever a field holds. Backslashes
//!   are not doubled: an escape in the output may also be literal text, but
//!   it cannot start a line or reorder one.
//! * logfmt logs ([`logfmt`]): quoted where needed, with the same
//!   characters escaped inside the quotes.
//! * JSON logs ([`json`]): flat objects with logfmt's keys; serde escapes C0 controls; DEL, C1 and the bidi controls are
//!   valid raw in JSON strings, so the writer replaces them with their
//!   `\uXXXX` escapes ([`JsonSafe`]). A JSON parser reads the same strings.
//!
//! Debug and trace output of targets that print request headers (session
//! cookie or token) is cut whatever the level asks for.

pub mod json;
pub mod logfmt;

use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal};

use clap::ValueEnum;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, filter};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// tracing's human-readable lines.
    Text,
    /// `key=value` pairs, quoted where needed (Prometheus's format).
    Logfmt,
    /// One flat JSON object per line, with logfmt's keys.
    Json,
}

/// Log targets whose debug and trace output carries request headers
/// verbatim, session cookie or token included (tungstenite traces the whole
/// client handshake request). They are cut below info whatever `--log.level`
/// asks for; `tests/e2e/secrets.rs` checks the logs at trace level.
const SECRET_BEARING_TARGETS: &[&str] = &["tungstenite::handshake::client"];

fn may_carry_secrets(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() > tracing::Level::INFO
        && SECRET_BEARING_TARGETS
            .iter()
            .any(|t| meta.target().starts_with(t))
}

/// Install the process-wide subscriber: `level` is a tracing filter
/// directive (an invalid one means `info`), lines go to stderr.
pub fn init(level: &str, format: LogFormat) {
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        .and(filter::filter_fn(|meta| !may_carry_secrets(meta)));
    let ansi = io::stderr().is_terminal();
    let layer = fmt_layer(format, io::stderr, ansi).with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// The formatting layer, writing to `writer`.
pub fn fmt_layer<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_ansi(ansi);
    match format {
        LogFormat::Text => layer.fmt_fields(EscapedFields).with_writer(writer).boxed(),
        LogFormat::Logfmt => layer
            .event_format(logfmt::Logfmt)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => layer
            .event_format(json::FlatJson)
            .with_writer(JsonSafe(writer))
            .boxed(),
    }
}

/// Characters that must not reach a log raw: C0 controls, DEL and C1
/// controls (`char::is_control`), the bidi embedding, override and isolate
/// controls and marks, and the Unicode line and paragraph separators.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Write `s` to `out` with every [`needs_escape`] character as a visible
/// escape: `\n`, `\r`, `\t`, `\xNN` for the other ASCII controls, `\u{N}`
/// for the rest.
pub fn escape(s: &str, out: &mut impl fmt::Write) -> fmt::Result {
    let mut clean = 0;
    for (i, c) in s.char_indices() {
        if !needs_escape(c) {
            continue;
        }
        out.write_str(&s[clean..i])?;
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c.is_ascii() => write!(out, "\\x{:02x}", c as u32)?,
            c => write!(out, "\\u{{{:x}}}", c as u32)?,
        }
        clean = i + c.len_utf8();
    }
    out.write_str(&s[clean..])
}

/// A `fmt::Write` that escapes everything written through it.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape(s, self.0)
    }
}

/// The text format's field formatter: `name=value` pairs (the message bare),
/// like tracing-subscriber's default, with every value escaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = EscapingVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

struct EscapingVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_ok() {
            self.result = self.write_field(field.name(), value);
        }
    }

    fn write_field(&mut self, name: &str, value: fmt::Arguments<'_>) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            write!(self.writer, "{name}=")?;
        }
        Escaping(&mut self.writer).write_fmt(value)
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // As the default formatter: the message bare, other strings quoted.
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, format_args!("{}", ErrorChain(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

/// An error and its sources, `: `-separated.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut src = self.0.source();
        while let Some(s) = src {
            write!(f, ": {s}")?;
            src = s.source();
        }
        Ok(())
    }
}

/// A writer maker for JSON lines: the characters [`needs_escape`] names that
/// serde leaves raw in strings (DEL, C1, bidi controls, separators) become
/// `\uXXXX` escapes. Outside strings a JSON line is ASCII, and the line's
/// own final `\n` is kept.
#[derive(Debug, Clone, Copy)]
pub struct JsonSafe<M>(pub M);

impl<'w, M: MakeWriter<'w>> MakeWriter<'w> for JsonSafe<M> {
    type Writer = JsonSafeWriter<M::Writer>;

    fn make_writer(&'w self) -> Self::Writer {
        JsonSafeWriter(self.0.make_writer())
    }
}

/// See [`JsonSafe`].
#[derive(Debug)]
pub struct JsonSafeWriter<W>(W);

fn json_needs_escape(c: char) -> bool {
    c != '\n' && needs_escape(c)
}

impl<W: io::Write> io::Write for JsonSafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The fmt layer writes each event whole, so a character is never
        // split across calls; bytes that are not UTF-8 pass unchanged.
        match std::str::from_utf8(buf) {
            Ok(s) if s.chars().any(json_needs_escape) => {
                let mut out = String::with_capacity(s.len() + 32);
                for c in s.chars() {
                    if json_needs_escape(c) {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    } else {
                        out.push(c);
                    }
                }
                self.0.write_all(out.as_bytes())?;
            }
            _ => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// What the fake SMC of issue 8 sent: a forged line, an ANSI colour and
    /// a right-to-left override.
    const FORGED: &str = "no such engine\n2026-12-01T00:00:00Z ERROR forged: \x1b[31mkey rotated\x1b[0m \u{202e}txt.exe\r\u{2028}\u{85}\x7f";

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buf {
        type Writer = Buf;
        fn make_writer(&'w self) -> Buf {
            self.clone()
        }
    }

    fn log_with(format: LogFormat, emit: impl FnOnce()) -> String {
        let buf = Buf::default();
        let sub = tracing_subscriber::registry().with(fmt_layer(format, buf.clone(), false));
        tracing::subscriber::with_default(sub, emit);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn escape_writes_controls_and_bidi_visibly() {
        let mut out = String::new();
        escape(FORGED, &mut out).unwrap();
        assert_eq!(
            out,
            r"no such engine\n2026-12-01T00:00:00Z ERROR forged: \x1b[31mkey rotated\x1b[0m \u{202e}txt.exe\r\u{2028}\u{85}\x7f"
        );
        let mut out = String::new();
        escape("fw-1 node 2 (é, 東京) \\ \"q\"", &mut out).unwrap();
        assert_eq!(out, "fw-1 node 2 (é, 東京) \\ \"q\"");
    }

    #[test]
    fn text_logs_keep_one_event_per_line() {
        let out = log_with(LogFormat::Text, || {
            tracing::warn!(smc = "sim", detail = %FORGED, reason = "failure",
                "subscription interrupted; reconnecting");
            tracing::info!("message from outside: {FORGED}");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(!out.contains(['\x1b', '\u{202e}', '\r', '\u{2028}', '\u{85}', '\x7f']));
        let escaped = r"no such engine\n2026-12-01T00:00:00Z ERROR forged: \x1b[31mkey rotated\x1b[0m \u{202e}txt.exe\r\u{2028}\u{85}\x7f";
        assert!(
            lines[0].ends_with(&format!(
                " WARN smc_exporter::logging::tests: subscription interrupted; reconnecting smc=\"sim\" detail={escaped} reason=\"failure\""
            )),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with(&format!(
                " INFO smc_exporter::logging::tests: message from outside: {escaped}"
            )),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn json_logs_escape_bidi_and_keep_the_text() {
        let out = log_with(LogFormat::Json, || {
            tracing::warn!(detail = %FORGED, "subscription interrupted; reconnecting");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.chars().any(json_needs_escape), "{out}");
        assert!(out.contains(r"\u202e") && out.contains(r"\u2028") && out.contains(r"\u0085"));
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["detail"], FORGED);
    }

    #[test]
    fn json_lines_are_flat_with_logfmt_keys_and_typed_values() {
        let out = log_with(LogFormat::Json, || {
            tracing::warn!(
                smc = "hq",
                attempt = 3u64,
                delta = -2i64,
                up = false,
                ratio = 0.5,
                level = "forged",
                msg = "forged",
                target = "fw-1",
                module = "x",
                "subscription interrupted"
            );
        });
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        // serde_json's map sorts its keys; the line itself keeps the order.
        assert_eq!(
            keys,
            [
                "attempt",
                "delta",
                "field_level",
                "field_module",
                "field_msg",
                "level",
                "module",
                "msg",
                "ratio",
                "smc",
                "target",
                "ts",
                "up"
            ]
        );
        assert_eq!(v["level"], "warn");
        assert_eq!(v["module"], "smc_exporter::logging::tests");
        assert_eq!(v["target"], "fw-1");
        assert_eq!(v["field_module"], "x");
        assert_eq!(v["msg"], "subscription interrupted");
        assert_eq!(v["smc"], "hq");
        assert_eq!(v["attempt"], 3);
        assert_eq!(v["delta"], -2);
        assert_eq!(v["up"], false);
        assert_eq!(v["ratio"], 0.5);
        assert_eq!(v["field_level"], "forged");
        assert_eq!(v["field_msg"], "forged");
        let line = out.trim_end();
        assert!(line.starts_with(r#"{"ts":""#), "{line}");
        assert!(
            line.ends_with(r#","level":"warn","module":"smc_exporter::logging::tests","msg":"subscription interrupted","smc":"hq","attempt":3,"delta":-2,"up":false,"ratio":0.5,"field_level":"forged","field_msg":"forged","target":"fw-1","field_module":"x"}"#),
            "{line}"
        );
    }
}
