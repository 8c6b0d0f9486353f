//! The SPS source: One Identity Safeguard for Privileged Sessions polled
//! over REST (issue 14; `docs/sps-api.md` §4, the contract in the issue).
//!
//! One poller task per `[[sps]]` ([`poll`]); each cycle reads
//! `/api/health_status` (and `/api/info`), searches the sessions that
//! started since the watermark minus the overlap ([`window`]), refreshes the
//! tracked active sessions and fetches their new alerts, and feeds
//! everything to the pure [`ledger`], which decides what counts. The
//! [`client`] logs in, re-logs in once on a 401, and classifies failures.
//! Nothing here touches the SMC source: its only meeting points are the
//! store (`state::sps`) and the exposition (`metrics::sps`).

pub mod backoff;
pub mod body;
pub mod client;
pub mod ledger;
pub mod persist;
pub mod poll;
pub mod time;
pub mod window;
