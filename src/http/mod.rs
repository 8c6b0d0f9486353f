//! STUB: the HTTP server (replaced by the metrics/http work).
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::state::Store;

#[derive(Debug, thiserror::Error)]
#[error("http")]
pub struct HttpError;

pub async fn serve(_l: TcpListener, _s: Arc<Store>, t: CancellationToken) -> Result<(), HttpError> {
    t.cancelled().await;
    Ok(())
}
