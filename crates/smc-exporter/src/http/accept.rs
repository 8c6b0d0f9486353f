//! The accept loop: every listener, the connection cap, the TLS handshake
//! (with its timeout) and hyper's HTTP/1.1 connection, until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::guard::Guard;
use super::{HttpError, ServerOptions};

/// How long shutdown waits for in-flight requests before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What every connection task needs.
#[derive(Clone)]
struct Conn {
    guard: Arc<Guard>,
    builder: http1::Builder,
    handshake_timeout: Duration,
    shutdown: CancellationToken,
}

/// The next connection on any of `listeners`.
async fn accept_any(listeners: &[TcpListener]) -> std::io::Result<(TcpStream, SocketAddr)> {
    std::future::poll_fn(|cx| {
        for l in listeners {
            if let Poll::Ready(r) = l.poll_accept(cx) {
                return Poll::Ready(r);
            }
        }
        Poll::Pending
    })
    .await
}

fn builder(opts: &ServerOptions) -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .max_buf_size(opts.max_header_bytes.max(8192));
    b
}

/// Serve until `shutdown`, then drain (bounded).
pub(super) async fn run(
    listeners: Vec<TcpListener>,
    guard: Arc<Guard>,
    opts: &ServerOptions,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    let conn = Conn {
        guard,
        builder: builder(opts),
        handshake_timeout: opts.tls_handshake_timeout,
        shutdown: shutdown.clone(),
    };
    let cap = (opts.max_connections > 0).then(|| Arc::new(Semaphore::new(opts.max_connections)));
    for l in &listeners {
        if let Ok(addr) = l.local_addr() {
            tracing::info!(%addr, tls = conn.guard.tls_mode(), "serving /metrics");
        }
    }
    let mut connections = JoinSet::new();
    let result = loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break Ok(()),
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    tracing::warn!(error = %e, "HTTP connection task failed");
                }
            }
            accepted = accept_any(&listeners) => match accepted {
                Ok((stream, peer)) => {
                    let Some(permit) = admit(cap.as_ref(), peer) else { continue };
                    connections.spawn(conn.clone().serve(stream, peer, permit));
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
    drop(listeners);
    drain(connections).await;
    result
}

/// A slot under the connection cap (`Some(None)`: no cap), or `None`: the
/// connection is dropped (closed) at once. Accepting and closing, rather
/// than leaving it in the kernel's queue, tells the client at once and keeps
/// the queue moving for when a slot frees.
fn admit(cap: Option<&Arc<Semaphore>>, peer: SocketAddr) -> Option<Option<OwnedSemaphorePermit>> {
    let Some(cap) = cap else { return Some(None) };
    match Arc::clone(cap).try_acquire_owned() {
        Ok(p) => Some(Some(p)),
        Err(_) => {
            tracing::debug!(%peer, "too many open HTTP connections; closing a new one");
            None
        }
    }
}

async fn drain(mut connections: JoinSet<()>) {
    let all = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, all).await.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            "HTTP requests still running after the drain timeout; closing them"
        );
        connections.shutdown().await;
    }
}

impl Conn {
    /// One accepted connection: TLS first if the listener speaks it.
    async fn serve(
        self,
        stream: TcpStream,
        peer: SocketAddr,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let _permit = permit;
        if !self.guard.tls_mode() {
            return self.http(stream, peer).await;
        }
        let Some(cfg) = self.guard.tls_config() else {
            return; // the web config is bad now: logged once by the guard
        };
        let handshake = tokio_rustls::TlsAcceptor::from(cfg).accept(stream);
        let tls = tokio::select! {
            r = tokio::time::timeout(self.handshake_timeout, handshake) => r,
            _ = self.shutdown.cancelled() => return,
        };
        match tls {
            Ok(Ok(tls)) => self.http(tls, peer).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    /// HTTP/1.1 until the connection ends or `shutdown` (then gracefully:
    /// the request in flight finishes, keep-alive stops).
    async fn http<I>(self, io: I, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let guard = self.guard;
        let svc = service_fn(move |req| Arc::clone(&guard).handle(req));
        let conn = self.builder.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            _ = self.shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
        }
    }
}
