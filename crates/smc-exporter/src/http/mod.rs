//! The HTTP server: `/metrics`, `/-/healthy`, `/-/ready`, `POST /-/reload`
//! and a landing page, on hyper 1 (HTTP/1.1) with graceful shutdown, over
//! plain TCP or TLS (`--web.config.file`, [`crate::web`]).
//!
//! A request never waits on a socket task: handlers only read the store's
//! snapshots and atomics. Rendering and gzip run on render threads
//! (`flight.rs`) so a large exposition does not stall the runtime's worker
//! threads, and concurrent scrapes share one render instead of each making
//! its own copy. At most [`ServerOptions::max_requests`] rendering requests
//! (`/metrics` and the landing page) are in flight at once; more get 503.
//! Every response carries `X-Content-Type-Options: nosniff`.
//!
//! Connection hygiene (`accept.rs`): at most
//! [`ServerOptions::max_connections`] connections are open at once (one
//! beyond is closed as soon as it is accepted); a TLS handshake must finish
//! within [`ServerOptions::tls_handshake_timeout`]; request headers must
//! arrive within [`ServerOptions::header_read_timeout`], which in hyper 1 also
//! bounds how long a keep-alive connection may sit idle before its next
//! request; request headers larger than [`ServerOptions::max_header_bytes`]
//! are refused (431) and the connection closed.

mod accept;
mod body;
mod flight;
mod guard;
mod landing;
pub mod listen;
mod routes;
pub mod systemd;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::RenderOptions;
use crate::state::LiveStore;
use crate::web::LiveWebConfig;

/// Default of [`ServerOptions::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ServerOptions::tls_handshake_timeout`].
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ServerOptions::max_connections`]: far above what a few
/// Prometheus servers and probes open, far below the unit's file limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default of [`ServerOptions::max_header_bytes`] (hyper's floor is 8 KiB).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;

/// Default of [`ServerOptions::max_requests`] (as `--web.max-requests` of the
/// Prometheus exporter toolkit).
pub const DEFAULT_MAX_REQUESTS: usize = 40;

/// How the server answers.
#[derive(Debug, Clone)]
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
    /// `--web.config.file`: TLS, basic auth, headers. `None`: plain HTTP.
    pub web: Option<Arc<LiveWebConfig>>,
    /// `--web.telemetry-path`: where the metrics are served.
    pub telemetry_path: String,
    /// How long a client may take to send its request headers, and how long
    /// a keep-alive connection may wait for its next request.
    pub header_read_timeout: Duration,
    /// How long a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
    /// Most connections open at once; one beyond is closed when accepted.
    /// 0 = no limit.
    pub max_connections: usize,
    /// Largest request head (request line and headers) read.
    pub max_header_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_requests: DEFAULT_MAX_REQUESTS,
            render: RenderOptions::default(),
            enable_lifecycle: false,
            web: None,
            telemetry_path: "/metrics".into(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
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
    listeners: Vec<TcpListener>,
    store: Arc<LiveStore>,
    opts: ServerOptions,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
    let listeners = listeners
        .into_iter()
        .map(TcpListener::into_std)
        .collect::<std::io::Result<Vec<_>>>()?;
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
                let listeners = listeners
                    .into_iter()
                    .map(TcpListener::from_std)
                    .collect::<std::io::Result<Vec<_>>>();
                match listeners {
                    Ok(l) => {
                        if let Err(e) = serve_many(l, store, opts, shutdown).await {
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

/// Serve until `shutdown` is cancelled: then stop accepting, let in-flight
/// requests finish (up to 10 s), close idle keep-alive connections and return.
pub async fn serve_with(
    listener: TcpListener,
    store: Arc<LiveStore>,
    opts: ServerOptions,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    serve_many(vec![listener], store, opts, shutdown).await
}

/// [`serve_with`] on several listeners (`--web.listen-address` repeated,
/// systemd's sockets).
pub async fn serve_many(
    listeners: Vec<TcpListener>,
    store: Arc<LiveStore>,
    opts: ServerOptions,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    let routes = Arc::new(routes::Routes::new(store, &opts));
    let guard = Arc::new(guard::Guard::new(opts.web.clone(), routes));
    accept::run(listeners, guard, &opts, shutdown).await
}
