//! `--log.format json`: one flat JSON object per event, with the same keys
//! as [`super::logfmt`], so a log shipper maps both formats the same way:
//!
//! ```text
//! {"ts":"2026-12-01T16:20:00.123456Z","level":"warn","module":"smc_exporter::smc::events","msg":"subscription interrupted","smc":"hq","attempt":3}
//! ```
//!
//! `module` is the Rust module that logged (tracing's target: the key
//! `target` is the subscription's target, as in the metrics' labels).
//! Every field of the event is a top-level key (no `fields` object, no span
//! list: the exporter logs no span fields). Integers, floats and booleans
//! stay JSON numbers and booleans; everything else is a string. A field
//! named like one of the four fixed keys is written as `field_<name>`, so
//! an event can never hide or forge them. Strings are escaped by
//! serde_json; the characters it leaves raw (DEL, C1, bidi controls,
//! separators) are escaped by [`super::JsonSafe`], which wraps the writer.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::ErrorChain;

/// The keys every line starts with, in this order.
pub(super) const FIXED: [&str; 4] = ["ts", "level", "module", "msg"];

/// The event formatter of `--log.format json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
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
        w.write_str("{\"ts\":")?;
        string(&mut w, &ts)?;
        w.write_str(",\"level\":")?;
        string(&mut w, &meta.level().as_str().to_ascii_lowercase())?;
        w.write_str(",\"module\":")?;
        string(&mut w, meta.target())?;
        let mut v = Members {
            w: &mut w,
            result: Ok(()),
        };
        event.record(&mut v);
        v.result?;
        w.write_str("}\n")
    }
}

/// Write `s` as a JSON string.
fn string(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
    w.write_str(&quoted)
}

/// The key of an event's field in both formats: the message is `msg`; a
/// field named like one of the [`FIXED`] keys is `field_<name>`.
pub(super) fn key_name(field: &Field) -> std::borrow::Cow<'static, str> {
    match field.name() {
        "message" => "msg".into(),
        n => {
            let n = n.strip_prefix("r#").unwrap_or(n);
            if FIXED.contains(&n) {
                format!("field_{n}").into()
            } else {
                n.into()
            }
        }
    }
}

/// Writes each field of an event as `,"key":value`.
struct Members<'a, 'w> {
    w: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Members<'_, '_> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        self.w.write_char(',')?;
        string(self.w, &key_name(field))?;
        self.w.write_char(':')
    }

    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.w));
        }
    }

    fn text(&mut self, field: &Field, s: &str) {
        self.member(field, |w| string(w, s));
    }
}

impl Visit for Members<'_, '_> {
    fn record_str(&mut self, field: &Field, v: &str) {
        self.text(field, v);
    }

    fn record_i64(&mut self, field: &Field, v: i64) {
        self.member(field, |w| write!(w, "{v}"));
    }

    fn record_u64(&mut self, field: &Field, v: u64) {
        self.member(field, |w| write!(w, "{v}"));
    }

    fn record_bool(&mut self, field: &Field, v: bool) {
        self.member(field, |w| write!(w, "{v}"));
    }

    fn record_f64(&mut self, field: &Field, v: f64) {
        // JSON has no NaN or infinities: those become strings.
        if v.is_finite() {
            self.member(field, |w| write!(w, "{v}"));
        } else {
            self.text(field, &v.to_string());
        }
    }

    fn record_error(&mut self, field: &Field, v: &(dyn std::error::Error + 'static)) {
        self.text(field, &ErrorChain(v).to_string());
    }

    fn record_debug(&mut self, field: &Field, v: &dyn fmt::Debug) {
        // The message arrives as `format_args!`, whose Debug is its Display.
        self.text(field, &format!("{v:?}"));
    }
}
