//! Request routing and the handlers.

use std::convert::Infallible;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue,
    RETRY_AFTER, VARY, X_CONTENT_TYPE_OPTIONS,
};
use http::{Method, Request, Response, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{self, Format, RenderOptions};
use crate::state::{LiveStore, Store};

use super::ServerOptions;
use super::body::Body;
use super::flight::{RenderFn, Rendered, SingleFlight, Variant};
use super::landing;

type Resp = Response<Body>;

/// `max_requests` rendering requests are in flight.
struct Busy;

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const ALLOWED: &str = "GET, HEAD";
/// Seconds a refused client is asked to wait (`Retry-After`).
const RETRY_AFTER_SECONDS: &str = "1";

/// What every request shares: the store, the renders in flight, the limit.
pub(super) struct Routes {
    store: Arc<LiveStore>,
    scrapes: Arc<SingleFlight>,
    /// `None`: no limit (`max_requests` 0).
    limit: Option<Arc<Semaphore>>,
    max_requests: usize,
    /// `POST /-/reload` is answered (`--web.enable-lifecycle`).
    lifecycle: bool,
    /// Where the metrics are served (`--web.telemetry-path`).
    telemetry: String,
}

impl Routes {
    pub(super) fn new(store: Arc<LiveStore>, opts: &ServerOptions) -> Routes {
        let render = renderer(Arc::clone(&store), opts.render);
        let mut r = Routes::with_render(store, opts.max_requests, render);
        r.lifecycle = opts.enable_lifecycle;
        r.telemetry.clone_from(&opts.telemetry_path);
        r
    }

    fn with_render(store: Arc<LiveStore>, max_requests: usize, render: RenderFn) -> Routes {
        Routes {
            store,
            scrapes: SingleFlight::new(render),
            limit: (max_requests > 0).then(|| Arc::new(Semaphore::new(max_requests))),
            max_requests,
            lifecycle: false,
            telemetry: "/metrics".into(),
        }
    }

    /// Route one request. Never fails: every outcome is an HTTP response.
    pub(super) async fn handle<B>(self: Arc<Self>, req: Request<B>) -> Result<Resp, Infallible> {
        let mut r = self.route(&req).await;
        // On every response, whatever its type: browsers must not sniff
        // (a label value could look like HTML).
        r.headers_mut()
            .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        Ok(r)
    }

    async fn route<B>(&self, req: &Request<B>) -> Resp {
        let path = req.uri().path();
        let is_metrics = path == self.telemetry;
        let known = is_metrics || matches!(path, "/-/healthy" | "/-/ready" | "/");
        if path == "/-/reload" {
            return self.reload(req.method()).await;
        }
        if !known {
            return plain(StatusCode::NOT_FOUND, "Not Found\n");
        }
        // HEAD is answered like GET; hyper sends the headers and drops the body.
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(ALLOWED));
            return r;
        }
        match path {
            // The probes are cheap and stay answerable when scrapes are refused.
            "/-/healthy" if !is_metrics => plain(StatusCode::OK, "OK"),
            "/-/ready" if !is_metrics => ready(&self.store.load()),
            _ => {
                // The pages that render the whole store count against the limit.
                let Ok(permit) = self.admit() else {
                    return self.busy();
                };
                let r = if is_metrics {
                    self.metrics(req).await
                } else {
                    html(landing::page(&self.store.load(), &self.telemetry))
                };
                r.map(|b| b.holding(permit))
            }
        }
    }

    /// A permit for one rendering request (`None`: no limit), or `Err` when
    /// `max_requests` are in flight.
    fn admit(&self) -> Result<Option<OwnedSemaphorePermit>, Busy> {
        match &self.limit {
            None => Ok(None),
            Some(limit) => Arc::clone(limit)
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| Busy),
        }
    }

    /// The answer beyond the limit.
    fn busy(&self) -> Resp {
        let mut r = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Too many concurrent requests (limit {}); try again later.\n",
                self.max_requests
            ),
        );
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        r
    }

    /// `POST /-/reload`: re-read the config and key files and apply them
    /// (Prometheus' endpoint, also behind `--web.enable-lifecycle`: 403
    /// without it). 200 when applied; 500 with the one-line
    /// `key.path: reason` when the new config is refused (the running one
    /// stays); 405 with `Allow: POST` for other methods.
    async fn reload(&self, method: &Method) -> Resp {
        if *method != Method::POST {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        if !self.lifecycle {
            return plain(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n");
        }
        let answer = match self.store.request_reload() {
            Ok(a) => a,
            Err(why) => return plain(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        };
        match answer.await {
            Ok(Ok(())) => plain(StatusCode::OK, "configuration reloaded\n"),
            Ok(Err(line)) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{line}\n")),
            Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
        }
    }

    async fn metrics<B>(&self, req: &Request<B>) -> Resp {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        let v = Variant {
            format: metrics::negotiate(header(ACCEPT)),
            gzip: metrics::gzip_acceptable(header(ACCEPT_ENCODING)),
        };
        let Rendered { body, gzipped } = match self.scrapes.get(v).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "rendering /metrics failed");
                return plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n");
            }
        };

        let mut r = Response::new(Body::new(body));
        let h = r.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(metrics::content_type(v.format)),
        );
        h.insert(VARY, HeaderValue::from_static("Accept-Encoding, Accept"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if gzipped {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    }
}

/// Render (and compress) the store: what the render threads run. Each
/// format's buffer starts at its previous size plus 1/16, so a render
/// allocates its body once, about the size it ends up.
fn renderer(store: Arc<LiveStore>, opts: RenderOptions) -> RenderFn {
    let last_len = [AtomicUsize::new(0), AtomicUsize::new(0)];
    Arc::new(move |v: Variant| {
        let last = &last_len[usize::from(v.format == Format::OpenMetrics)];
        let hint = last.load(Ordering::Relaxed);
        let body = metrics::render_sized(&store.load(), v.format, &opts, hint + hint / 16);
        last.store(body.len(), Ordering::Relaxed);
        if v.gzip {
            match gzip_bytes(body.as_bytes()) {
                Ok(z) => {
                    return Rendered {
                        body: Bytes::from(z),
                        gzipped: true,
                    };
                }
                Err(e) => tracing::warn!(error = %e, "gzip failed; sending uncompressed"),
            }
        }
        Rendered {
            body: Bytes::from(body),
            gzipped: false,
        }
    })
}

fn gzip_bytes(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::default(),
    );
    enc.write_all(data)?;
    enc.finish()
}

fn ready(store: &Store) -> Resp {
    if store.ready() {
        return plain(StatusCode::OK, "OK");
    }
    let mut body = String::from("Not ready. Waiting for the first snapshot of:\n");
    for s in store.subscriptions.iter().filter(|s| !s.health.ready()) {
        body.push_str(&format!(
            "{}/{}/{}\n",
            s.smc,
            s.definition.label(),
            s.target
        ));
    }
    plain(StatusCode::SERVICE_UNAVAILABLE, body)
}

fn plain(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Body::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    r
}

fn html(body: String) -> Resp {
    let mut r = Response::new(Body::new(Bytes::from(body)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc;
    use std::time::Duration;

    use http_body_util::BodyExt;

    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    /// Routes whose renders wait for the test: each announces itself on the
    /// returned receiver, then waits for a message on the returned sender.
    fn gated(
        max_requests: usize,
    ) -> (
        Arc<Routes>,
        tokio::sync::mpsc::UnboundedReceiver<()>,
        mpsc::Sender<()>,
    ) {
        let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let render: RenderFn = Arc::new(move |_| {
            let _ = started_tx.send(());
            release_rx.lock().unwrap().recv_timeout(WAIT).unwrap();
            Rendered {
                body: Bytes::from_static(b"m 1\n"),
                gzipped: false,
            }
        });
        let routes = Routes::with_render(Arc::new(LiveStore::default()), max_requests, render);
        (Arc::new(routes), started, release)
    }

    fn get(path: &str) -> Request<()> {
        Request::get(path).body(()).unwrap()
    }

    async fn text(r: Resp) -> String {
        let b = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn beyond_the_limit_scrapes_get_503_and_probes_still_answer() {
        let (routes, mut started, release) = gated(2);
        let a = tokio::spawn(Arc::clone(&routes).handle(get("/metrics")));
        tokio::time::timeout(WAIT, started.recv()).await.unwrap();
        let b = tokio::spawn(Arc::clone(&routes).handle(get("/metrics")));
        // b holds the second permit once it queues for the next render.
        let deadline = tokio::time::Instant::now() + WAIT;
        while routes.limit.as_ref().unwrap().available_permits() > 0 {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::task::yield_now().await;
        }

        for path in ["/metrics", "/"] {
            let r = Arc::clone(&routes).handle(get(path)).await.unwrap();
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert_eq!(r.headers()[RETRY_AFTER], "1");
            assert_eq!(r.headers()[CONTENT_TYPE], TEXT_PLAIN);
            assert_eq!(r.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(
                text(r).await,
                "Too many concurrent requests (limit 2); try again later.\n"
            );
        }
        let r = Arc::clone(&routes).handle(get("/-/healthy")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = Arc::clone(&routes).handle(get("/-/ready")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        // a's render ends, b's render (the next one) starts and ends.
        release.send(()).unwrap();
        tokio::time::timeout(WAIT, started.recv()).await.unwrap();
        release.send(()).unwrap();
        let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
        assert_eq!(text(a).await, "m 1\n");
        // The permits go back when the bodies have been taken.
        assert_eq!(routes.limit.as_ref().unwrap().available_permits(), 1);
        assert_eq!(text(b).await, "m 1\n");
        assert_eq!(routes.limit.as_ref().unwrap().available_permits(), 2);

        let c = tokio::spawn(Arc::clone(&routes).handle(get("/metrics")));
        tokio::time::timeout(WAIT, started.recv()).await.unwrap();
        release.send(()).unwrap();
        let c = c.await.unwrap().unwrap();
        assert_eq!(c.status(), StatusCode::OK);
        assert_eq!(routes.scrapes.renders(), 3);
    }

    #[tokio::test]
    async fn a_refused_request_does_not_hold_a_permit() {
        let (routes, mut started, release) = gated(1);
        let a = tokio::spawn(Arc::clone(&routes).handle(get("/metrics")));
        tokio::time::timeout(WAIT, started.recv()).await.unwrap();
        for _ in 0..10 {
            let r = Arc::clone(&routes).handle(get("/metrics")).await.unwrap();
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        release.send(()).unwrap();
        assert_eq!(text(a.await.unwrap().unwrap()).await, "m 1\n");
        assert_eq!(routes.limit.as_ref().unwrap().available_permits(), 1);
    }

    #[tokio::test]
    async fn no_limit_when_max_requests_is_zero() {
        let (routes, mut started, release) = gated(0);
        assert!(routes.limit.is_none());
        let mut set = tokio::task::JoinSet::new();
        set.spawn(Arc::clone(&routes).handle(get("/metrics")));
        tokio::time::timeout(WAIT, started.recv()).await.unwrap();
        for _ in 0..100 {
            set.spawn(Arc::clone(&routes).handle(get("/metrics")));
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while routes.scrapes.queued(Variant {
            format: Format::Text,
            gzip: false,
        }) < 100
        {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        tokio::time::timeout(WAIT, started.recv()).await.unwrap();
        release.send(()).unwrap();
        for r in set.join_all().await {
            assert_eq!(r.unwrap().status(), StatusCode::OK);
        }
        assert_eq!(routes.scrapes.renders(), 2, "101 scrapes, 2 renders");
    }
}
