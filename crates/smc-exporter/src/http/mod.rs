//! The HTTP server: `/metrics`, `/-/healthy`, `/-/ready`, `POST /-/reload`
//! and a landing page, on hyper 1 (HTTP/1.1) with graceful shutdown.
//!
//! A request never waits on a socket task: handlers only read the store's
//! snapshots and atomics. Rendering and gzip run on render threads
//! (`flight.rs`) so a large exposition does not stall the runtime's worker
//! threads, and concurrent scrapes share one render instead of each making
//! its own copy. At most [`ServerOptions::max_requests`] rendering requests
//! (`/metrics` and the landing page) are in flight at once; more get 503.
//! Every response carries `X-Content-Type-Options: nosniff`.

mod body;
mod flight;
mod landing;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::RenderOptions;
use crate::state::LiveStore;

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for in-flight requests before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Default of [`ServerOptions::max_requests`] (as `--web.max-requests` of the
/// Prometheus exporter toolkit).
pub const DEFAULT_MAX_REQUESTS: usize = 40;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerOptions {
    /// Most rendering requests (`/metrics`, `/`) answered at once, counted
    /// from arrival until the last byte of the body is handed to the socket;
    /// beyond it the answer is 503 with `Retry-After: 1`. `/-/healthy` and
    /// `/-/ready` are not counted. 0 = no limit.
    pub max_requests: usize,
    /// What `/metrics` renders (tests leave out the `process_*` families).
    pub render: RenderOptions,
    /// `--web.enable-lifecycle`: answer `POST /-/reload` (else 403), as
    /// Prometheus does: whoever reaches the port must not be able to make
    /// the exporter re-read its files unless the operator said so.
    pub enable_lifecycle: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_requests: DEFAULT_MAX_REQUESTS,
            render: RenderOptions::default(),
            enable_lifecycle: false,
        }
    }
}

/// Why the server stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The listening socket is unusable (not a listening socket, closed).
    #[error("cannot accept connections on the listening socket")]
    Accept(#[source] std::io::Error),
}

/// [`serve_with`] the default options.
pub async fn serve(
    listener: TcpListener,
    store: Arc<LiveStore>,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    serve_with(listener, store, ServerOptions::default(), shutdown).await
}

/// Serve on a thread and runtime of its own, so that ingest — every
/// subscription folding at full speed on the main runtime's workers — can
/// never delay `/metrics`, `/-/healthy` or `/-/ready` (renders already run
/// on their own threads, [`flight`]). The listener moves to the new runtime;
/// the receiver completes when the server has stopped.
pub fn serve_on_own_thread(
    listener: TcpListener,
    store: Arc<LiveStore>,
    opts: ServerOptions,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
    let listener = listener.into_std()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Nothing on this runtime blocks; the pool stays tiny.
        .max_blocking_threads(2)
        .thread_name("smc-exporter-http")
        .build()?;
    let (done, stopped) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("smc-exporter-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = serve_with(l, store, opts, shutdown).await {
                            tracing::error!(error = %e, "HTTP server failed");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "HTTP server failed"),
                }
            });
            let _ = done.send(());
        })?;
    Ok(stopped)
}

/// One accepted connection, until it ends or `shutdown` (then gracefully:
/// the request in flight finishes, keep-alive stops).
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    routes: Arc<routes::Routes>,
    builder: http1::Builder,
    shutdown: CancellationToken,
) {
    let svc = service_fn(move |req| Arc::clone(&routes).handle(req));
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

/// Serve until `shutdown` is cancelled: then stop accepting, let in-flight
/// requests finish (up to 10 s), close idle keep-alive connections and return.
pub async fn serve_with(
    listener: TcpListener,
    store: Arc<LiveStore>,
    opts: ServerOptions,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    let routes = Arc::new(routes::Routes::new(store, &opts));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut connections = JoinSet::new();

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving /metrics");
    }
    let result = loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break Ok(()),
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    tracing::warn!(error = %e, "HTTP connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        Arc::clone(&routes),
                        builder.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                    break Err(HttpError::Accept(e));
                }
                Err(e) => {
                    // Transient (EMFILE, ECONNABORTED, ...): keep serving.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    };
    drop(listener);

    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            "HTTP requests still running after the drain timeout; closing them"
        );
        connections.shutdown().await;
    }
    result
}
