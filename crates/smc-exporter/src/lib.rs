//! smc-exporter: Forcepoint NGFW SMC session monitoring → Prometheus.
//!
//! Data path (one module per stage, see `docs/architecture.md`):
//! `config` → `smc` (session, protocol, subscription) → `fold` → `state` →
//! `metrics` (render) → `http`. The simulator (`sim`) lives in the same crate
//! so that `demo` can run both in one process.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod labels;
pub mod logging;
pub mod metrics;
pub mod signals;
pub mod smc;
pub mod state;
