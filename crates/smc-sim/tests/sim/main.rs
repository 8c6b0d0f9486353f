//! smc-sim's integration tests: the simulator's protocols over real
//! loopback sockets, driven by smc-lab's SMC test client. One binary, one
//! module per topic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sim_engines;
mod sim_filters;
mod sim_logs_notify;
mod sim_protocol;
mod sim_sent;
mod sim_token_table;
