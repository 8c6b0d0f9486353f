//! smc-lab: the lab bench of smc-exporter, never shipped with it.
//!
//! * the `smc-lab` binary: `simulate` (a simulated SMC) and `demo` (the
//!   simulator and the exporter in one process), in [`commands`];
//! * [`truth`]: the simulator's structured ground truth rendered as the
//!   state families the exporter should serve; [`engine_truth`]: its
//!   engines as the engine and node health samples; [`sps_truth`]: the SPS
//!   simulator's sessions and health as the SPS data families;
//! * the test kit of the workspace's integration tests and benchmarks: a
//!   simulator + exporter [`pair`], spawned [`process`]es, [`expo`]sition
//!   parsing, the HTTP [`http`] client, test certificates ([`pki`]), an SMC [`client`] for the simulator's
//!   protocols, and [`hostile`] fake SMCs.
//!
//! It depends on `smc-exporter`, `smc-sim` and `smc-protocol`; nothing but
//! tests, benchmarks and the `smc-lab` binary depends on it. The test kit
//! panics on any failure (it is made of assertions): it allows `unwrap`,
//! `expect` and `panic` module by module; `commands`, `secret_file`, `truth` and `sps_truth` are held to
//! the workspace's rules.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod commands;
pub mod engine_truth;
pub mod secret_file;
pub mod sps_truth;
pub mod truth;

#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod client;
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod expo;
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod hostile;
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod http;
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod log_truth;
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod pair;
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod pki;
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod process;

pub use expo::{SeriesKey, parse_samples, state_families, state_samples, sum_where};
pub use http::{http_get, wait_ready};
pub use pair::{Pair, fast, start_pair, start_pair_opts, start_pair_with, start_sim};
pub use process::{Proc, Signal};
pub use truth::truth_text;
