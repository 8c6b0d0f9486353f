//! The REST client of one appliance: login (`GET /api/authentication`,
//! basic auth, the `session_id` cookie kept in memory and sent by hand: no
//! cookie jar), a re-login once on a 401 and one retry, a proactive
//! re-login after 15 minutes idle, per-request timeouts cut to the cycle's
//! deadline, bodies read up to a cap, and no redirects (credentials go only
//! to the configured origin). Every request is counted in the state
//! (`sps_api_requests_total`, `sps_api_errors_total`, `sps_logins_total`).
//! Neither the password nor the cookie is ever in an error or a log.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, DATE, RETRY_AFTER, SET_COOKIE};
use tokio::time::Instant;

use super::time::SpsTime;
use crate::config::{Secret, SpsConfig};
use crate::state::sps::{Endpoint, ErrorKind, SpsState};

/// The largest response body read (500 sessions with the fields asked
/// for are far below it).
pub const MAX_BODY_BYTES: usize = 8 << 20;
/// Log in again before a request when the last one is older than this
/// (the appliance's cookie lives 20 minutes of inactivity).
pub const IDLE_RELOGIN: Duration = Duration::from_secs(15 * 60);
/// Longest `session_id` value accepted.
const MAX_COOKIE_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("login to {url} failed: {why}")]
    Login { url: String, why: String },
    #[error("{endpoint}: HTTP 401 after a fresh login")]
    Unauthorized { endpoint: &'static str },
    #[error("{endpoint}: HTTP 403 (no rights for this endpoint group)")]
    Forbidden { endpoint: &'static str },
    #[error("{endpoint}: HTTP 404")]
    NotFound { endpoint: &'static str },
    #[error("{endpoint}: HTTP 429 (rate limited)")]
    RateLimited {
        endpoint: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("{endpoint}: HTTP {status}")]
    Server { endpoint: &'static str, status: u16 },
    #[error("{endpoint}: timed out")]
    Timeout { endpoint: &'static str },
    #[error("{endpoint}: cannot connect: {why}")]
    Connect { endpoint: &'static str, why: String },
    #[error("{endpoint}: unusable answer: {why}")]
    Decode { endpoint: &'static str, why: String },
}

impl ClientError {
    fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Login { .. } | ClientError::Unauthorized { .. } => ErrorKind::Auth,
            ClientError::Forbidden { .. } => ErrorKind::Forbidden,
            ClientError::NotFound { .. } => ErrorKind::NotFound,
            ClientError::RateLimited { .. } => ErrorKind::RateLimited,
            ClientError::Server { .. } => ErrorKind::Server,
            ClientError::Timeout { .. } => ErrorKind::Timeout,
            ClientError::Connect { .. } => ErrorKind::Connect,
            ClientError::Decode { .. } => ErrorKind::Decode,
        }
    }
}

/// A successful answer: its body and the appliance's clock (`Date`).
#[derive(Debug)]
pub struct Answer {
    pub body: Vec<u8>,
    pub date: Option<SpsTime>,
}

pub struct SpsClient {
    http: reqwest::Client,
    base: url::Url,
    username: String,
    password: Secret,
    login_method: String,
    request_timeout: Duration,
    cookie: Option<Secret>,
    last_request: Option<Instant>,
    state: Arc<SpsState>,
}

impl std::fmt::Debug for SpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpsClient")
            .field("base", &self.base.as_str())
            .field("logged_in", &self.cookie.is_some())
            .finish_non_exhaustive()
    }
}

/// Build the TLS config of one appliance.
pub fn tls(cfg: &SpsConfig) -> Result<rustls::ClientConfig, String> {
    crate::smc::tls::client_config(&crate::smc::tls::TlsOptions {
        ca_file: cfg.ca_file.as_deref(),
        insecure: cfg.insecure_skip_verify,
        client_identity: None,
        server_name: None,
    })
    .map_err(|e| crate::config::one_line(&e.to_string()))
}

impl SpsClient {
    pub fn new(cfg: &SpsConfig, state: Arc<SpsState>) -> Result<Self, String> {
        let tls = tls(cfg)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.request_timeout)
            .user_agent(concat!("smc-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::config::one_line(&e.to_string()))?;
        Ok(SpsClient {
            http,
            base: cfg.url.clone(),
            username: cfg.username.clone(),
            password: cfg.password.clone(),
            login_method: cfg.login_method.clone(),
            request_timeout: cfg.request_timeout,
            cookie: None,
            last_request: None,
            state,
        })
    }

    pub fn logged_in(&self) -> bool {
        self.cookie.is_some()
    }

    /// Forget the cookie (the next request logs in first).
    pub fn drop_session(&mut self) {
        self.cookie = None;
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> url::Url {
        let mut u = self.base.clone();
        u.set_path(path);
        if query.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().extend_pairs(query);
        }
        u
    }

    fn timeout(&self, deadline: Instant, endpoint: Endpoint) -> Result<Duration, ClientError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::Timeout {
                endpoint: endpoint.label(),
            });
        }
        Ok(left.min(self.request_timeout))
    }

    /// Log in; the answer's `Date` is the appliance's clock.
    pub async fn login(&mut self, deadline: Instant) -> Result<Option<SpsTime>, ClientError> {
        self.cookie = None;
        let ep = Endpoint::Authentication;
        let url = self.url(
            "/api/authentication",
            &[("login_method", &self.login_method)],
        );
        let req = self
            .http
            .get(url)
            .basic_auth(&self.username, Some(self.password.expose()))
            .timeout(self.timeout(deadline, ep)?);
        let result = self.send(ep, req).await;
        let out = match result {
            Ok(resp) => self.login_answer(resp),
            Err(e) => Err(e),
        };
        match &out {
            Ok(_) => self.state.login(true),
            Err(e) => {
                self.state.login(false);
                self.state.error(ep, e.kind());
            }
        }
        out
    }

    fn login_answer(&mut self, resp: reqwest::Response) -> Result<Option<SpsTime>, ClientError> {
        let why = |why: String| ClientError::Login {
            url: self.base.to_string(),
            why,
        };
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(status_error(Endpoint::Authentication, &resp));
        }
        if !status.is_success() {
            return Err(why(format!("HTTP status {}", status.as_u16())));
        }
        let cookie = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(session_id)
            .ok_or_else(|| why("no session_id cookie in the answer".into()))?;
        self.cookie = Some(Secret::new(cookie));
        self.last_request = Some(Instant::now());
        Ok(date_of(&resp))
    }

    /// `GET path?query` with the session cookie: logs in first if there is
    /// no session or it was idle too long; on a 401, logs in once and
    /// retries once.
    pub async fn get(
        &mut self,
        ep: Endpoint,
        path: &str,
        query: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<Answer, ClientError> {
        let idle = self
            .last_request
            .is_none_or(|t| t.elapsed() >= IDLE_RELOGIN);
        if self.cookie.is_none() || idle {
            self.login(deadline).await?;
        }
        let out = match self.get_once(ep, path, query, deadline).await {
            Err(ClientError::Unauthorized { .. }) => {
                self.login(deadline).await?;
                self.get_once(ep, path, query, deadline).await
            }
            other => other,
        };
        if let Err(e) = &out {
            self.state.error(ep, e.kind());
        }
        out
    }

    async fn get_once(
        &mut self,
        ep: Endpoint,
        path: &str,
        query: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<Answer, ClientError> {
        let cookie = match &self.cookie {
            Some(c) => format!("session_id={}", c.expose()),
            None => String::new(),
        };
        let req = self
            .http
            .get(self.url(path, query))
            .header(COOKIE, cookie)
            .timeout(self.timeout(deadline, ep)?);
        let resp = self.send(ep, req).await?;
        self.last_request = Some(Instant::now());
        if !resp.status().is_success() {
            return Err(status_error(ep, &resp));
        }
        let date = date_of(&resp);
        let body = read_capped(ep, resp).await?;
        Ok(Answer { body, date })
    }

    /// Send and count the request (its status, or "none").
    async fn send(
        &self,
        ep: Endpoint,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        match req.send().await {
            Ok(resp) => {
                self.state.request(ep, Some(resp.status().as_u16()));
                Ok(resp)
            }
            Err(e) => {
                self.state.request(ep, None);
                Err(transport_error(ep, &e))
            }
        }
    }
}

fn transport_error(ep: Endpoint, e: &reqwest::Error) -> ClientError {
    let endpoint = ep.label();
    if e.is_timeout() {
        return ClientError::Timeout { endpoint };
    }
    // The error chain names the host and the OS error, never a header.
    let mut why = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        why = format!("{why}: {s}");
        src = s.source();
    }
    ClientError::Connect {
        endpoint,
        why: crate::config::one_line(&why),
    }
}

fn status_error(ep: Endpoint, resp: &reqwest::Response) -> ClientError {
    let endpoint = ep.label();
    let status = resp.status();
    match status.as_u16() {
        401 => ClientError::Unauthorized { endpoint },
        403 => ClientError::Forbidden { endpoint },
        404 => ClientError::NotFound { endpoint },
        429 => ClientError::RateLimited {
            endpoint,
            retry_after: super::backoff::retry_after(
                resp.headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
            ),
        },
        s if status.is_server_error() => ClientError::Server {
            endpoint,
            status: s,
        },
        s if status.is_redirection() => ClientError::Decode {
            endpoint,
            why: format!("HTTP {s}, a redirect; redirects are not followed"),
        },
        s => ClientError::Decode {
            endpoint,
            why: format!("HTTP {s}"),
        },
    }
}

fn date_of(resp: &reqwest::Response) -> Option<SpsTime> {
    SpsTime::parse_http_date(resp.headers().get(DATE)?.to_str().ok()?)
}

/// The value of a `Set-Cookie: session_id=<v>; …` header, if sane.
pub fn session_id(header: &str) -> Option<String> {
    let first = header.split(';').next()?.trim();
    let v = first.strip_prefix("session_id=")?;
    let ok = !v.is_empty()
        && v.len() <= MAX_COOKIE_BYTES
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b',');
    ok.then(|| v.to_string())
}

async fn read_capped(ep: Endpoint, mut resp: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    let endpoint = ep.label();
    let too_large = || ClientError::Decode {
        endpoint,
        why: format!("body larger than {MAX_BODY_BYTES} bytes"),
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(body),
            Err(e) => return Err(transport_error(ep, &e)),
        };
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_parsing() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            session_id(&format!("session_id={hex}; Path=/; HttpOnly")).as_deref(),
            Some(hex)
        );
        assert_eq!(session_id("other=1; Path=/"), None);
        assert_eq!(session_id("session_id=; Path=/"), None);
        assert_eq!(session_id("session_id=a b"), None);
        assert_eq!(session_id(&format!("session_id={}", "a".repeat(600))), None);
    }
}
