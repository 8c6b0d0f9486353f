//! smc-protocol's integration tests: one binary, one module per topic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod differential;
mod reference;
mod seeds;
