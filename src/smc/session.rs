//! The REST side of one SMC: API-version discovery, login, logout.
//!
//! One [`SmcSession`] per configured SMC is shared by all its subscriptions.
//! Credentials carry a generation number: when a subscription sees its
//! WebSocket upgrade refused with 401/403 it calls [`SmcSession::invalidate`]
//! with the generation it used, so N subscriptions failing together cause one
//! re-login, not N.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use crate::config::{Secret, SmcConfig};
use crate::model::{api_version_supported, parse_api_version};
use crate::smc::tls::{self, TlsError};
use crate::state::SmcState;

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
    #[error("{url}: no supported API version among {offered:?}")]
    NoSupportedVersion { url: String, offered: Vec<String> },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The REST session of one SMC.
#[derive(Debug)]
pub struct SmcSession {
    base: String,
    configured_version: Option<String>,
    domain: String,
    api_key: Secret,
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
    current: ArcSwapOption<Credentials>,
    login_lock: Mutex<u64>,
    pub state: Arc<SmcState>,
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

impl SmcSession {
    pub fn new(
        cfg: &SmcConfig,
        state: Arc<SmcState>,
        timeout: Duration,
    ) -> Result<Self, SessionError> {
        let tls = Arc::new(tls::client_config(
            cfg.ca_file.as_deref(),
            cfg.insecure_skip_verify,
        )?);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("smc-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| req_err(cfg.url.as_str(), &e))?;
        Ok(SmcSession {
            base: base_of(&cfg.url),
            configured_version: cfg.api_version.clone(),
            domain: cfg.domain.clone(),
            api_key: cfg.api_key.clone(),
            http,
            tls,
            current: ArcSwapOption::empty(),
            login_lock: Mutex::new(0),
            state,
        })
    }

    /// `http(s)://host:port` without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// The WebSocket URL of a socket path (`/monitoring/session/socket`).
    pub fn ws_url(&self, api_version: &str, path: &str) -> String {
        let rest = self
            .base
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| {
                self.base
                    .strip_prefix("http://")
                    .map(|r| format!("ws://{r}"))
            })
            .unwrap_or_else(|| self.base.clone());
        format!("{rest}/{api_version}{path}")
    }

    /// The current credentials, logging in first if there are none.
    pub async fn credentials(&self) -> Result<Arc<Credentials>, SessionError> {
        if let Some(c) = self.current.load_full() {
            return Ok(c);
        }
        let mut generation = self.login_lock.lock().await;
        if let Some(c) = self.current.load_full() {
            return Ok(c);
        }
        match self.login(*generation + 1).await {
            Ok(c) => {
                *generation += 1;
                let c = Arc::new(c);
                self.current.store(Some(c.clone()));
                self.state.inc_logins();
                self.state.set_up(true);
                tracing::info!(smc = %self.state.name, api_version = %c.api_version, "logged in");
                Ok(c)
            }
            Err(e) => {
                self.state.inc_login_failures();
                self.state.set_up(false);
                Err(e)
            }
        }
    }

    /// Forget the session of `generation` (it was refused); the next
    /// [`credentials`](Self::credentials) call logs in again. Stale calls for
    /// an older generation are ignored.
    pub fn invalidate(&self, generation: u64) {
        let cur = self.current.load();
        if cur.as_ref().is_some_and(|c| c.generation == generation) {
            self.current.store(None);
            self.state.set_up(false);
            tracing::info!(smc = %self.state.name, "session refused by the SMC; will log in again");
        }
    }

    async fn discover_version(&self) -> Result<String, SessionError> {
        let url = format!("{}/api", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| req_err(&url, &e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(SessionError::Status { url, status });
        }
        let body = resp.bytes().await.map_err(|e| req_err(&url, &e))?;
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

    async fn login(&self, generation: u64) -> Result<Credentials, SessionError> {
        let api_version = match &self.configured_version {
            Some(v) => v.clone(),
            None => self.discover_version().await?,
        };
        let url = format!("{}/{}/login", self.base, api_version);
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
        let logout_href = self.logout_href(&api_version, &auth).await;
        Ok(Credentials {
            api_version,
            auth,
            generation,
            logout_href,
        })
    }

    /// The `logout` entry point, if `GET /{ver}/api` lists it.
    async fn logout_href(&self, api_version: &str, auth: &Auth) -> Option<String> {
        let url = format!("{}/{}/api", self.base, api_version);
        let resp = self.authed(self.http.get(&url), auth).send().await.ok()?;
        if resp.status().as_u16() != 200 {
            return None;
        }
        let eps: EntryPoints = serde_json::from_slice(&resp.bytes().await.ok()?).ok()?;
        eps.entry_point
            .into_iter()
            .find(|e| e.rel == "logout")
            .and_then(|e| e.href)
    }

    fn authed(&self, rb: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
        match auth {
            Auth::Cookie(c) => rb.header(COOKIE, c.expose()),
            Auth::Token(t) => rb.header(AUTHORIZATION, t.expose()),
        }
    }

    /// Log out, if logged in. Errors are logged, not returned: this runs on shutdown.
    pub async fn logout(&self) {
        let Some(c) = self.current.swap(None) else {
            return;
        };
        self.state.set_up(false);
        let url = c
            .logout_href
            .clone()
            .unwrap_or_else(|| format!("{}/{}/logout", self.base, c.api_version));
        match self.authed(self.http.put(&url), &c.auth).send().await {
            Ok(r) if r.status().is_success() => {
                tracing::info!(smc = %self.state.name, "logged out")
            }
            Ok(r) => {
                tracing::warn!(smc = %self.state.name, status = r.status().as_u16(), "logout refused")
            }
            Err(e) => {
                tracing::warn!(smc = %self.state.name, error = %req_err(&url, &e), "logout failed")
            }
        }
    }
}

fn base_of(url: &Url) -> String {
    // `Host`'s Display brackets IPv6 addresses.
    let host = url.host().map(|h| h.to_string()).unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}", url.scheme())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_keeps_scheme_host_port() {
        assert_eq!(
            base_of(&Url::parse("https://smc.example:8082/").unwrap()),
            "https://smc.example:8082"
        );
        assert_eq!(
            base_of(&Url::parse("http://127.0.0.1:8082").unwrap()),
            "http://127.0.0.1:8082"
        );
        assert_eq!(
            base_of(&Url::parse("http://[::1]:8082").unwrap()),
            "http://[::1]:8082"
        );
    }
}
