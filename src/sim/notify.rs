//! Placeholder: filled in by the notify socket work (issue 3).

use std::sync::Arc;

use hyper::upgrade::Upgraded;

use super::{Shared, SocketGuard};

pub(crate) async fn run(
    _upgraded: Upgraded,
    _shared: Arc<Shared>,
    guard: SocketGuard,
    _version: String,
    _base: String,
) {
    drop(guard);
}
