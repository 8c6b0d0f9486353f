//! Request routing and the handlers.

use std::convert::Infallible;
use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue,
    VARY,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;

use crate::metrics;
use crate::state::Store;

use super::landing;

type Resp = Response<Full<Bytes>>;

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const ALLOWED: &str = "GET, HEAD";

/// Route one request. Never fails: every outcome is an HTTP response.
pub(super) async fn handle<B>(req: Request<B>, store: Arc<Store>) -> Result<Resp, Infallible> {
    let path = req.uri().path();
    let known = matches!(path, "/metrics" | "/-/healthy" | "/-/ready" | "/");
    if !known {
        return Ok(plain(StatusCode::NOT_FOUND, "Not Found\n"));
    }
    // HEAD is answered like GET; hyper sends the headers and drops the body.
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(ALLOWED));
        return Ok(r);
    }
    Ok(match path {
        "/metrics" => metrics(&req, store).await,
        "/-/healthy" => plain(StatusCode::OK, "OK"),
        "/-/ready" => ready(&store),
        _ => html(landing::page(&store)),
    })
}

async fn metrics<B>(req: &Request<B>, store: Arc<Store>) -> Resp {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let format = metrics::negotiate(header(ACCEPT));
    let gzip = metrics::gzip_acceptable(header(ACCEPT_ENCODING));

    // Render (and compress) off the async workers: a large exposition takes
    // milliseconds of CPU.
    let job = tokio::task::spawn_blocking(move || {
        let body = metrics::render(&store, format);
        if gzip {
            match gzip_bytes(body.as_bytes()) {
                Ok(z) => return (Bytes::from(z), true),
                Err(e) => tracing::warn!(error = %e, "gzip failed; sending uncompressed"),
            }
        }
        (Bytes::from(body), false)
    });
    let (body, gzipped) = match job.await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "rendering /metrics failed");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n");
        }
    };

    let mut r = Response::new(Full::new(body));
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::content_type(format)),
    );
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding, Accept"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if gzipped {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
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
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    r
}

fn html(body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}
