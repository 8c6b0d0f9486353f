//! smc-exporter's integration tests that need no simulator: config,
//! metrics rendering and its contract, the HTTP server, hostile REST fakes,
//! the deployment artefacts, the binary's `--config.check`. One binary, one
//! module per topic; `fixture` is the metric fixture several share.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod config_errors;
mod config_load;
mod deploy_artifacts;
mod fixture;
mod hostile_engines;
mod hostile_rest;
mod http_hygiene;
mod http_server;
mod label_values;
mod metrics_docs;
mod metrics_escaping;
mod metrics_golden;
mod metrics_negotiate;
mod metrics_oracle;
mod metrics_promtool;
mod sps_fake;
mod sps_poll;
