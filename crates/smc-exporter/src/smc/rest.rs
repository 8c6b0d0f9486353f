//! The SMC's REST API as the exporter uses it: API-version discovery, login
//! (with the entry points it lists), logout. Stateless: [`SmcRest::login`]
//! returns [`Credentials`] and [`SmcRest::logout`] ends them; which session
//! is current, and when to log in again, is [`super::session`]'s job.
//!
//! REST calls after login: `GET /{ver}/api` (entry points, part of login; a
//! 401/403 there fails the login), `PUT logout` (a 401/403 means the
//! session had already ended), and the engine listing, engine elements and
//! node status of the engine poll ([`engines`]).
//!
//! What the SMC answers is not trusted to move credentials: redirects are
//! never followed (a 3xx is an error naming it), and every href it hands
//! back is used only as a path on the configured origin
//! ([`origin::Origin::rebase`]). Response bodies are read up to
//! [`MAX_BODY_BYTES`]. See `docs/hardening.md`.

mod body;
pub mod engines;
mod origin;

use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE};
use serde::Deserialize;

pub use body::MAX_BODY_BYTES;
use origin::{Origin, Rebased};

use crate::config::{Secret, SmcConfig, SubscriptionConfig};
use crate::smc::tls::TlsError;
use smc_protocol::{api_version_supported, parse_api_version};

/// How a session is proven on later requests.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Cookie: JSESSIONID=…` (the default SMC mode). Holds the full `name=value`.
    Cookie(Secret),
    /// "Use SSL for session ID" mode: the raw `Authorization` value from login.
    Token(Secret),
}

/// A logged-in session.
#[derive(Debug)]
pub struct Credentials {
    pub api_version: String,
    pub auth: Auth,
    pub generation: u64,
    logout_href: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{url}: {reason}")]
    Request { url: String, reason: String },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("login to {url} failed: HTTP status {status}")]
    LoginRejected { url: String, status: u16 },
    #[error("login to {url} returned neither a JSESSIONID cookie nor an Authorization header")]
    NoSession { url: String },
    #[error("{url}: unexpected response body: {reason}")]
    Body { url: String, reason: String },
    #[error("{url}: response body larger than {limit} bytes; not read further")]
    BodyTooLarge { url: String, limit: usize },
    /// `to` is "to <url>" or "without a Location header".
    #[error(
        "login to {url} failed: HTTP status {status}, a redirect {to}; redirects are not followed (credentials go only to the configured url)"
    )]
    LoginRedirected {
        url: String,
        status: u16,
        to: String,
    },
    #[error(
        "{url}: HTTP status {status}, a redirect {to}; redirects are not followed (credentials go only to the configured url)"
    )]
    Redirected {
        url: String,
        status: u16,
        to: String,
    },
    #[error("{url}: the new session was refused: HTTP status {status}")]
    SessionRefused { url: String, status: u16 },
    /// Another subscription's login attempt, which this one waited for, failed.
    #[error("{0}")]
    Shared(String),
    #[error("{url}: no supported API version among {offered:?}")]
    NoSupportedVersion { url: String, offered: Vec<String> },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The REST client of one SMC.
#[derive(Debug)]
pub struct SmcRest {
    name: String,
    origin: Origin,
    /// Set once an href naming another origin was logged.
    warned_origin: AtomicBool,
    configured_version: Option<String>,
    domain: String,
    api_key: Secret,
    http: reqwest::Client,
}

pub(crate) fn refused(status: u16) -> bool {
    status == 401 || status == 403
}

#[derive(Deserialize)]
struct VersionList {
    #[serde(default)]
    version: Vec<VersionEntry>,
}

#[derive(Deserialize)]
struct VersionEntry {
    rel: String,
}

#[derive(Deserialize)]
struct EntryPoints {
    #[serde(default)]
    entry_point: Vec<EntryPoint>,
}

#[derive(Deserialize)]
struct EntryPoint {
    rel: String,
    #[serde(default)]
    href: Option<String>,
}

fn req_err(url: &str, e: &reqwest::Error) -> SessionError {
    // reqwest's Display names the URL and the cause; neither carries a secret
    // (the key travels in the body, the cookie in a header).
    let mut reason = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        src = s.source();
    }
    SessionError::Request {
        url: url.to_owned(),
        reason,
    }
}

impl SmcRest {
    pub fn new(
        cfg: &SmcConfig,
        settings: &SubscriptionConfig,
        tls: &rustls::ClientConfig,
    ) -> Result<Self, SessionError> {
        let timeout = settings.connect_timeout;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            // Never follow: a redirect would re-send the API key or the
            // session to wherever the answer points (reqwest follows ten by
            // default, keeping the body of a 307/308 POST).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("smc-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| req_err(cfg.url.as_str(), &e))?;
        Ok(SmcRest {
            name: cfg.name.clone(),
            origin: Origin::new(&cfg.url),
            warned_origin: AtomicBool::new(false),
            configured_version: cfg.api_version.clone(),
            domain: cfg.domain.clone(),
            api_key: cfg.api_key.clone(),
            http,
        })
    }

    /// `http(s)://host:port` without a trailing slash.
    pub fn base(&self) -> &str {
        self.origin.base()
    }

    async fn discover_version(&self) -> Result<String, SessionError> {
        let url = format!("{}/api", self.base());
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| req_err(&url, &e))?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            let to = body::redirect_target(&resp);
            return Err(SessionError::Redirected { url, status, to });
        }
        if status != 200 {
            return Err(SessionError::Status { url, status });
        }
        let body = body::read_capped(&url, resp, MAX_BODY_BYTES).await?;
        let list: VersionList = serde_json::from_slice(&body).map_err(|e| SessionError::Body {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let offered: Vec<String> = list.version.into_iter().map(|v| v.rel).collect();
        offered
            .iter()
            .filter_map(|v| {
                parse_api_version(v)
                    .filter(|p| api_version_supported(*p))
                    .map(|p| (p, v))
            })
            .max_by_key(|(p, _)| *p)
            .map(|(_, v)| v.clone())
            .ok_or(SessionError::NoSupportedVersion { url, offered })
    }

    /// Log in; the credentials carry `generation`.
    pub async fn login(&self, generation: u64) -> Result<Credentials, SessionError> {
        let api_version = match &self.configured_version {
            Some(v) => v.clone(),
            None => self.discover_version().await?,
        };
        let url = format!("{}/{}/login", self.base(), api_version);
        let body = serde_json::json!({
            "authenticationkey": self.api_key.expose(),
            "domain": self.domain,
        });
        let resp = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| req_err(&url, &e))?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            let to = body::redirect_target(&resp);
            return Err(SessionError::LoginRedirected { url, status, to });
        }
        if !(200..300).contains(&status) {
            return Err(SessionError::LoginRejected { url, status });
        }
        let cookie = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::trim)
            .find(|c| c.starts_with("JSESSIONID="))
            .map(str::to_owned);
        let token = resp
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let auth = match (cookie, token) {
            (Some(c), _) => Auth::Cookie(Secret::new(c)),
            (None, Some(t)) => Auth::Token(Secret::new(t)),
            (None, None) => return Err(SessionError::NoSession { url }),
        };
        let logout_href = self.logout_href(&api_version, &auth).await?;
        Ok(Credentials {
            api_version,
            auth,
            generation,
            logout_href,
        })
    }

    /// The `logout` entry point, if `GET /{ver}/api` lists it, placed on
    /// the configured origin. A 401/403 means the session just issued is
    /// refused: the login failed. Any other problem (another status, a
    /// redirect, a body over [`MAX_BODY_BYTES`] or not JSON) only loses the
    /// entry point: logout then uses `/{ver}/logout`.
    async fn logout_href(
        &self,
        api_version: &str,
        auth: &Auth,
    ) -> Result<Option<String>, SessionError> {
        let url = format!("{}/{}/api", self.base(), api_version);
        let Ok(resp) = self.authed(self.http.get(&url), auth).send().await else {
            return Ok(None);
        };
        let status = resp.status().as_u16();
        if refused(status) {
            return Err(SessionError::SessionRefused { url, status });
        }
        if status != 200 {
            return Ok(None);
        }
        let body = match body::read_capped(&url, resp, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(smc = %self.name, error = %e, "entry points unreadable; logout will use the default path");
                return Ok(None);
            }
        };
        let Ok(eps) = serde_json::from_slice::<EntryPoints>(&body) else {
            return Ok(None);
        };
        Ok(eps
            .entry_point
            .into_iter()
            .find(|e| e.rel == "logout")
            .and_then(|e| e.href)
            .and_then(|h| self.on_configured_origin(&h)))
    }

    /// Every href the SMC hands back goes through here before credentials
    /// are sent to it: see [`Origin::rebase`]. The first href naming another
    /// origin is logged at warn (once per SMC: a re-login sees it again).
    fn on_configured_origin(&self, href: &str) -> Option<String> {
        let rebased = self.origin.rebase(href)?;
        if let Rebased::Moved { advertised, .. } = &rebased {
            if !self.warned_origin.swap(true, Ordering::Relaxed) {
                tracing::warn!(smc = %self.name, advertised = %advertised, using = %self.base(),
                    "the SMC's entry points name another origin; only their paths are used, on the configured url");
            }
        }
        Some(rebased.url().to_owned())
    }

    fn authed(&self, rb: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
        let (name, secret) = match auth {
            Auth::Cookie(c) => (COOKIE, c),
            Auth::Token(t) => (AUTHORIZATION, t),
        };
        match HeaderValue::from_str(secret.expose()) {
            Ok(mut v) => {
                // Debug output of the request then shows "Sensitive".
                v.set_sensitive(true);
                rb.header(name, v)
            }
            // Login only keeps values that were valid header values.
            Err(_) => rb,
        }
    }

    /// End the session of `c`. Errors are logged, not returned: this runs
    /// when a session is replaced and on shutdown.
    pub async fn logout(&self, smc: &str, c: &Credentials) {
        let url = c
            .logout_href
            .clone()
            .unwrap_or_else(|| format!("{}/{}/logout", self.base(), c.api_version));
        match self.authed(self.http.put(&url), &c.auth).send().await {
            Ok(r) if r.status().is_success() => {
                tracing::info!(smc = %smc, "logged out")
            }
            Ok(r) if refused(r.status().as_u16()) => {
                tracing::info!(smc = %smc, status = r.status().as_u16(),
                    "logout: the session had already ended")
            }
            Ok(r) => {
                tracing::warn!(smc = %smc, status = r.status().as_u16(), "logout refused")
            }
            Err(e) => {
                tracing::warn!(smc = %smc, error = %req_err(&url, &e), "logout failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smc_sim::{self as sim, SimOptions, SimServer};

    async fn rest_for_sim() -> (SimServer, SmcRest) {
        crate::smc::tls::install_default_provider();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = sim::start(l, SimOptions::default()).await.unwrap();
        let w = sim.world_info();
        let cfg = crate::config::demo(
            &sim.url(),
            &w.api_key,
            &w.engines,
            &[],
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let tls = crate::smc::tls::client_config(&Default::default()).unwrap();
        let rest = SmcRest::new(&cfg.smc[0], &cfg.subscription, &tls).unwrap();
        (sim, rest)
    }

    #[tokio::test]
    async fn entry_points_refused_with_401_fail_the_login() {
        let (sim, rest) = rest_for_sim().await;
        let c = rest.login(1).await.unwrap();
        assert_eq!(
            c.logout_href.as_deref(),
            Some(format!("{}/7.1/logout", sim.url()).as_str())
        );
        // What `login` does right after `POST /login`, with a session the
        // SMC does not know.
        let stale = Auth::Cookie(Secret::new("JSESSIONID=0123456789ABCDEF"));
        let e = rest.logout_href("7.1", &stale).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}/7.1/api: the new session was refused: HTTP status 401",
                sim.url()
            )
        );
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn hrefs_are_placed_on_the_configured_origin_and_warned_once() {
        let (sim, rest) = rest_for_sim().await;
        let moved = format!("{}/7.1/logout", sim.url());
        for _ in 0..2 {
            assert_eq!(
                rest.on_configured_origin("http://smc-internal.example:8082/7.1/logout")
                    .as_deref(),
                Some(moved.as_str())
            );
        }
        assert!(rest.warned_origin.load(Ordering::Relaxed));
        assert_eq!(rest.on_configured_origin("ftp://x/7.1/logout"), None);
        sim.shutdown().await;
    }
}
