//! Rendering of the [`Store`] as Prometheus exposition text.
//!
//! # Design: a small in-house encoder, with `prometheus-client` as its oracle
//!
//! `prometheus-client` 0.25 is the project's metrics crate, and it is used
//! where it is strongest: as the reference OpenMetrics encoder that our output
//! is checked against (`tests/exporter/metrics_oracle.rs` feeds the very same family
//! walk into `prometheus_client::encoding::text::encode` through a
//! `Collector` and requires a byte-identical result). It is not on the scrape
//! path, for four reasons:
//!
//! 1. **It cannot produce Prometheus text 0.0.4, nor negotiate** (anchors
//!    §4.5). We must serve both, chosen per request by `Accept`. With the crate
//!    on the OpenMetrics path, text 0.0.4 would need a second encoder (two
//!    implementations of every sample line that can drift apart) or a textual
//!    rewrite of its output (fragile).
//! 2. **Our state already lives in immutable snapshots** (`ArcSwap<Published>`
//!    and atomics in [`Store`]). Its `Family`/`Gauge` types would duplicate that
//!    state (~250 B per series, memory not returned on `remove`, anchors §5.4)
//!    and need delete bookkeeping; all we could use is `Collector` with
//!    `ConstGauge`/`ConstCounter`, i.e. only its line writer.
//! 3. **The two formats differ only in headers.** One walk ([`collect`]) feeds
//!    one sample writer ([`exposition::TextEncoder`]); the format only changes
//!    the `HELP`/`TYPE` name of counters (`smc_logins` vs `smc_logins_total`),
//!    adds `# UNIT` and `# EOF` for OpenMetrics, and HELP quote escaping. Sample
//!    lines are byte-identical between the formats *by construction*, which the
//!    tests also assert.
//! 4. It writes `HELP` text verbatim (no escaping); ours escapes per format.
//!
//! The encoder is about 200 lines including its unit tests. It escapes label
//! values (`\\`, `\"`, `\n`) exactly like the crate, with the same fast path
//! (a value without any of the three is copied whole; the scan is `memchr`'s),
//! and writes every sample with string pushes into one buffer, no per-sample
//! allocation. Prometheus protobuf is not offered; scrapers that ask only for
//! it get text 0.0.4, which every Prometheus accepts.
//!
//! # State families: rendered once per snapshot
//!
//! The state families hold nearly all series (thousands per subscription).
//! Their samples come from an immutable published snapshot, so their lines
//! are sorted and rendered once, by the first scrape that sees the snapshot,
//! and kept beside it ([`SeriesLines`], `SubscriptionState::series_lines`);
//! a scrape of an unchanged snapshot copies them in one `push_str`. The
//! oracle test renders through this path (and the sink's default replays the
//! same samples into prometheus-client), so the cached lines are checked
//! byte for byte like every other sample. The few health series are
//! written per scrape from their atomics. See docs/performance.md "Render".
//!
//! # Families
//!
//! See `docs/metrics.md`. The names are the product's public API.

mod collect;
pub mod engines;
pub mod exposition;
pub mod log_stream;
mod negotiate;
pub mod notify;
mod process;
mod series;

pub use collect::{BUILD, BuildInfo, collect};
pub use exposition::{FamilyDesc, MetricSink, MetricType, Value};
pub use negotiate::{gzip_acceptable, negotiate};
pub use process::ProcessStats;
pub use series::SeriesLines;

use crate::state::Store;

/// The exposition format of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// OpenMetrics 1.0.0 text (`application/openmetrics-text`).
    OpenMetrics,
    /// Prometheus text format 0.0.4 (`text/plain`).
    Text,
}

/// The `Content-Type` of a response in format `f`.
pub fn content_type(f: Format) -> &'static str {
    match f {
        Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        Format::Text => "text/plain; version=0.0.4; charset=utf-8",
    }
}

/// What to include in a render. [`render`] uses the default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderOptions {
    /// Where the `process_*` families come from.
    pub process: ProcessMetrics,
    /// The labels of `smc_exporter_build_info`.
    pub build: BuildInfo,
}

/// Source of the `process_*` families.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProcessMetrics {
    /// Leave them out (golden tests).
    Omit,
    /// Read `/proc/self` at render time (the default).
    Read,
    /// Render these values (tests).
    Fixed(ProcessStats),
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            process: ProcessMetrics::Read,
            build: BUILD,
        }
    }
}

/// Render the whole exposition for a scrape.
pub fn render(store: &Store, f: Format) -> String {
    render_with(store, f, &RenderOptions::default())
}

/// Render with explicit options (tests use this to leave out the
/// machine-dependent `process_*` families and pin the build labels).
pub fn render_with(store: &Store, f: Format, opts: &RenderOptions) -> String {
    let mut enc = exposition::TextEncoder::new(f);
    collect(store, opts, &mut enc);
    enc.finish()
}

/// [`render_with`] into a buffer of `capacity` bytes to start with (the HTTP
/// server passes a little more than the previous render's size).
pub fn render_sized(store: &Store, f: Format, opts: &RenderOptions, capacity: usize) -> String {
    let mut enc = exposition::TextEncoder::with_capacity(f, capacity);
    collect(store, opts, &mut enc);
    enc.finish()
}
