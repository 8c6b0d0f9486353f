//! `--log.format logfmt`: one `key=value` line per event, the format
//! Prometheus and its exporters log in (go-kit / slog's logfmt):
//!
//! ```text
//! ts=2026-12-01T16:20:00.123456Z level=warn module=smc_exporter::smc::events msg="subscription interrupted" smc=hq detail="end: Unknown target 'fw-x'"
//! ```
//!
//! `module` is the Rust module that logged (tracing's target; `target` is
//! a subscription's target, as in the metrics); a field named like one of
//! the fixed keys (`ts`, `level`, `module`, `msg`) is written as
//! `field_<name>`, so an event cannot hide or forge them.
//!
//! A value is written bare when it is non-empty and holds no space, `=`,
//! `"`, `\` or character that [`needs_escape`]; otherwise it is quoted,
//! with `"` and `\` backslash-escaped, `\n` `\r` `\t` as such and every
//! other such character as `\uXXXX` (all of them are in the BMP). So
//! whatever an SMC sends, a field cannot end the line, start a key or
//! reorder the text, and a logfmt parser reads the same string back.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::{ErrorChain, needs_escape};

/// The event formatter of `--log.format logfmt`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut ts = String::new();
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        let meta = event.metadata();
        w.write_str("ts=")?;
        value(&mut w, &ts)?;
        write!(
            w,
            " level={} module=",
            meta.level().as_str().to_ascii_lowercase()
        )?;
        value(&mut w, meta.target())?;
        let mut v = Pairs {
            w: &mut w,
            result: Ok(()),
        };
        event.record(&mut v);
        v.result?;
        w.write_char('\n')
    }
}

/// Writes each field of an event as ` key=value`.
struct Pairs<'a, 'w> {
    w: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Pairs<'_, '_> {
    fn pair(&mut self, field: &Field, text: &str) {
        if self.result.is_err() {
            return;
        }
        let name = super::json::key_name(field);
        self.result = write!(self.w, " {name}=").and_then(|()| value(self.w, text));
    }
}

impl Visit for Pairs<'_, '_> {
    fn record_str(&mut self, field: &Field, v: &str) {
        self.pair(field, v);
    }

    fn record_error(&mut self, field: &Field, v: &(dyn std::error::Error + 'static)) {
        self.pair(field, &ErrorChain(v).to_string());
    }

    fn record_debug(&mut self, field: &Field, v: &dyn fmt::Debug) {
        // The message arrives as `format_args!`, whose Debug is its Display.
        self.pair(field, &format!("{v:?}"));
    }
}

/// True when `s` must be quoted to be one logfmt value.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.chars()
            .any(|c| matches!(c, ' ' | '=' | '"' | '\\') || needs_escape(c))
}

/// Write `s` as one logfmt value.
pub fn value(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    if !needs_quotes(s) {
        return out.write_str(s);
    }
    out.write_char('"')?;
    let mut clean = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if needs_escape(c) => None,
            _ => continue,
        };
        out.write_str(&s[clean..i])?;
        match esc {
            Some(e) => out.write_str(e)?,
            None => write!(out, "\\u{:04x}", c as u32)?,
        }
        clean = i + c.len_utf8();
    }
    out.write_str(&s[clean..])?;
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> String {
        let mut out = String::new();
        value(&mut out, s).unwrap();
        out
    }

    #[test]
    fn values_are_bare_only_when_nothing_could_be_misread() {
        assert_eq!(v("hq-fw"), "hq-fw");
        assert_eq!(v("127.0.0.1:9791"), "127.0.0.1:9791");
        assert_eq!(v(""), r#""""#);
        assert_eq!(
            v("login to http://smc:8082/6.10/login"),
            r#""login to http://smc:8082/6.10/login""#
        );
        assert_eq!(v("a=b"), r#""a=b""#);
        assert_eq!(v(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(v(r"C:\x"), r#""C:\\x""#);
    }

    #[test]
    fn controls_bidi_and_separators_are_escaped_inside_quotes() {
        assert_eq!(
            v("end\n2026 level=error msg=forged"),
            r#""end\n2026 level=error msg=forged""#
        );
        assert_eq!(v("a\rb\tc"), r#""a\rb\tc""#);
        assert_eq!(v("\u{1b}[31mred"), r#""\u001b[31mred""#);
        assert_eq!(v("x\u{202e}y"), r#""x\u202ey""#);
        assert_eq!(v("x\u{85}y\u{2028}z"), r#""x\u0085y\u2028z""#);
        assert_eq!(v("\u{7f}"), r#""\u007f""#);
    }
}
