//! smc-lab's integration tests: the `smc-lab` binary. One binary, one
//! module per topic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod fn_length;
