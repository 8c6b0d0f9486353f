//! What the web config asks of every request: basic authentication and the
//! configured headers; and of every TLS handshake, the current server
//! config. The file is re-read each time ([`LiveWebConfig::current`]); when
//! it is bad, requests get 500 and handshakes fail: never unauthenticated.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use http::{Request, Response, StatusCode};
use tokio::sync::Semaphore;

use super::body::Body;
use super::routes::Routes;
use crate::web::{LiveWebConfig, MAX_CONCURRENT_VERIFY};

type Resp = Response<Body>;

/// The routes behind the web config.
pub(super) struct Guard {
    web: Option<Arc<LiveWebConfig>>,
    routes: Arc<Routes>,
    /// bcrypt compares running at once.
    verify: Semaphore,
}

impl Guard {
    pub(super) fn new(web: Option<Arc<LiveWebConfig>>, routes: Arc<Routes>) -> Guard {
        Guard {
            web,
            routes,
            verify: Semaphore::new(MAX_CONCURRENT_VERIFY),
        }
    }

    /// The listener speaks TLS.
    pub(super) fn tls_mode(&self) -> bool {
        self.web.as_ref().is_some_and(|w| w.tls_mode())
    }

    /// The TLS config for a handshake now; `None`: the file is bad.
    pub(super) fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.web.as_ref()?.current().ok()?.tls.clone()
    }

    /// One request. Never fails: every outcome is an HTTP response.
    pub(super) async fn handle<B>(self: Arc<Self>, req: Request<B>) -> Result<Resp, Infallible> {
        let Some(web) = &self.web else {
            return Arc::clone(&self.routes).handle(req).await;
        };
        let Ok(active) = web.current() else {
            return Ok(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The web config file is invalid; see the exporter's log.\n",
            ));
        };
        let mut r = match &active.users {
            Some(users) => {
                let auth = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
                if users.check(auth, &self.verify).await {
                    Arc::clone(&self.routes).handle(req).await?
                } else {
                    unauthorized()
                }
            }
            None => Arc::clone(&self.routes).handle(req).await?,
        };
        for (k, v) in &active.headers {
            r.headers_mut().insert(k.clone(), v.clone());
        }
        Ok(r)
    }
}

fn unauthorized() -> Resp {
    let mut r = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    r
}

fn plain(status: StatusCode, body: &'static str) -> Resp {
    let mut r = Response::new(Body::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}
