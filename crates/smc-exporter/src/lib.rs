//! smc-exporter: Forcepoint NGFW SMC session monitoring → Prometheus. The
//! daemon: a library (what `smc-lab demo` and the tests drive) and the
//! `smc-exporter` binary.
//!
//! Data path (one module per stage, see `docs/architecture.md`):
//! `config` → `smc` (session, login gate, subscription) → the fold
//! (`smc-fold`) → `state` → `metrics` (render) → `http`; the wire format is
//! `smc-protocol`'s, and the metric contract of the state families is
//! [`labels`].
//!
//! It must not depend on the simulator (`smc-sim`) or the lab (`smc-lab`)
//! outside its tests: the shipped binary carries no simulator (CI checks
//! `cargo tree -e normal` and the release binary's symbols).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod labels;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod priority;
pub mod signals;
pub mod smc;
pub mod sps;
pub mod state;
pub mod web;
