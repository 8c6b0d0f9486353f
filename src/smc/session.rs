//! The REST side of one SMC: API-version discovery, login, logout.
//!
//! One [`SmcSession`] per configured SMC is shared by all its subscriptions.
//! Credentials carry a generation number: when a subscription sees its
//! WebSocket upgrade refused with 401/403 it calls [`SmcSession::invalidate`]
//! with the generation it used, so N subscriptions failing together cause one
//! re-login, not N. A login attempt is also shared by the subscriptions that
//! were waiting for it: when it fails they all get its error instead of each
//! trying again (one attempt per SMC per burst, not one per subscription).
//!
//! REST calls after login: `GET /{ver}/api` (entry points, part of login; a
//! 401/403 there fails the login) and `PUT logout` at shutdown (a 401/403
//! means the session had already ended). There are no others, so the
//! generation is invalidated only from WebSocket upgrades.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use arc_swap::ArcSwapOption;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use crate::config::{Secret, SmcConfig, SubscriptionConfig};
use crate::model::{api_version_supported, parse_api_version};
use crate::smc::backoff::Backoff;
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
    login_lock: Mutex<LoginState>,
    /// Login attempts finished so far (read without the lock).
    attempts: AtomicU64,
    pub state: Arc<SmcState>,
}

/// Guarded by `login_lock`.
#[derive(Debug)]
struct LoginState {
    /// Generation of the last successful login.
    generation: u64,
    /// The error of the last attempt, if it failed.
    last_error: Option<String>,
    /// After a failed login, no new attempt before this instant: every
    /// subscription of the SMC gets the last error instead. One schedule per
    /// SMC, so a wrong key or an SMC refusing logins costs one attempt per
    /// backoff step, not one per subscription (account lock-outs).
    retry_at: Option<Instant>,
    backoff: Backoff,
}

fn refused(status: u16) -> bool {
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

impl SmcSession {
    pub fn new(
        cfg: &SmcConfig,
        state: Arc<SmcState>,
        settings: &SubscriptionConfig,
    ) -> Result<Self, SessionError> {
        let timeout = settings.connect_timeout;
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
            login_lock: Mutex::new(LoginState {
                generation: 0,
                last_error: None,
                retry_at: None,
                backoff: Backoff::new(settings.backoff_initial, settings.backoff_max),
            }),
            attempts: AtomicU64::new(0),
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

    /// The current credentials, logging in first if there are none. Callers
    /// that queue behind a failing attempt, or come before the SMC's login
    /// backoff has passed, get the last error rather than trying again
    /// themselves.
    pub async fn credentials(&self) -> Result<Arc<Credentials>, SessionError> {
        if let Some(c) = self.current.load_full() {
            return Ok(c);
        }
        let seen = self.attempts.load(Ordering::Acquire);
        let mut login = self.login_lock.lock().await;
        if let Some(c) = self.current.load_full() {
            return Ok(c);
        }
        let backing_off = login.retry_at.is_some_and(|t| Instant::now() < t);
        if self.attempts.load(Ordering::Acquire) != seen || backing_off {
            if let Some(e) = &login.last_error {
                return Err(SessionError::Shared(e.clone()));
            }
        }
        let result = self.login(login.generation + 1).await;
        self.attempts.fetch_add(1, Ordering::Release);
        match result {
            Ok(c) => {
                login.generation += 1;
                login.last_error = None;
                login.retry_at = None;
                login.backoff.reset();
                let c = Arc::new(c);
                self.current.store(Some(c.clone()));
                self.state.inc_logins();
                self.state.set_up(true);
                tracing::info!(smc = %self.state.name, api_version = %c.api_version, "logged in");
                Ok(c)
            }
            Err(e) => {
                login.last_error = Some(e.to_string());
                login.retry_at = Some(Instant::now() + login.backoff.next_ceiling());
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
        let logout_href = self.logout_href(&api_version, &auth).await?;
        Ok(Credentials {
            api_version,
            auth,
            generation,
            logout_href,
        })
    }

    /// The `logout` entry point, if `GET /{ver}/api` lists it. A 401/403
    /// means the session just issued is refused: the login failed. Any other
    /// problem only loses the entry point (logout then uses `/{ver}/logout`).
    async fn logout_href(
        &self,
        api_version: &str,
        auth: &Auth,
    ) -> Result<Option<String>, SessionError> {
        let url = format!("{}/{}/api", self.base, api_version);
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
        let Ok(body) = resp.bytes().await else {
            return Ok(None);
        };
        let Ok(eps) = serde_json::from_slice::<EntryPoints>(&body) else {
            return Ok(None);
        };
        Ok(eps
            .entry_point
            .into_iter()
            .find(|e| e.rel == "logout")
            .and_then(|e| e.href))
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
            Ok(r) if refused(r.status().as_u16()) => {
                tracing::info!(smc = %self.state.name, status = r.status().as_u16(),
                    "logout: the session had already ended")
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
    use crate::sim::{self, SimOptions, SimServer};
    use std::time::Duration;

    async fn session_for(key: Option<&str>) -> (SimServer, SmcSession) {
        session_with(key, |_| {}).await
    }

    async fn session_with(
        key: Option<&str>,
        tweak: impl FnOnce(&mut crate::config::Config),
    ) -> (SimServer, SmcSession) {
        crate::smc::tls::install_default_provider();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = sim::start(l, SimOptions::default()).await.unwrap();
        let w = sim.world_info();
        let key = key.unwrap_or(&w.api_key);
        let cfg = crate::config::demo(
            &sim.url(),
            key,
            &w.engines,
            &[],
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let mut cfg = cfg;
        tweak(&mut cfg);
        let state = Arc::new(SmcState::new(Arc::from("sim")));
        let s = SmcSession::new(&cfg.smc[0], state, &cfg.subscription).unwrap();
        (sim, s)
    }

    #[tokio::test]
    async fn only_the_current_generation_is_invalidated() {
        let (sim, s) = session_for(None).await;
        let first = s.credentials().await.unwrap();
        assert_eq!(first.generation, 1);
        s.invalidate(first.generation);
        let second = s.credentials().await.unwrap();
        assert_eq!(second.generation, 2);
        // A subscription that still used generation 1 is refused late: the
        // new session stays.
        s.invalidate(first.generation);
        let again = s.credentials().await.unwrap();
        assert_eq!(again.generation, 2);
        assert_eq!(s.state.logins(), 2);
        assert_eq!(sim.sessions().live.len(), 2, "nothing was logged out");
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn callers_waiting_on_a_failed_login_share_its_error() {
        let (sim, s) = session_with(Some("wrong-key"), |cfg| {
            cfg.subscription.backoff_initial = Duration::from_millis(400);
            cfg.subscription.backoff_max = Duration::from_secs(60);
        })
        .await;
        let results = futures_util::future::join_all((0..10).map(|_| s.credentials())).await;
        let errors: Vec<String> = results
            .into_iter()
            .map(|r| r.map(|_| ()).unwrap_err().to_string())
            .collect();
        let want = format!("login to {}/7.1/login failed: HTTP status 401", sim.url());
        assert_eq!(errors, vec![want.clone(); 10]);
        assert_eq!(s.state.login_failures(), 1, "one attempt for ten callers");
        // Before the SMC's login backoff (400 ms after the first failure)
        // has passed, a caller gets the last error without an attempt.
        let started = Instant::now();
        assert_eq!(s.credentials().await.unwrap_err().to_string(), want);
        assert_eq!(s.state.login_failures(), 1, "no attempt inside the backoff");
        // After it, one new attempt; the next gate is twice as long.
        tokio::time::sleep_until(started + Duration::from_millis(500)).await;
        assert_eq!(s.credentials().await.unwrap_err().to_string(), want);
        assert_eq!(s.state.login_failures(), 2);
        tokio::time::sleep_until(started + Duration::from_millis(1000)).await;
        assert_eq!(s.credentials().await.unwrap_err().to_string(), want);
        assert_eq!(s.state.login_failures(), 2, "the second gate is 800 ms");
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn entry_points_refused_with_401_fail_the_login() {
        let (sim, s) = session_for(None).await;
        let c = s.credentials().await.unwrap();
        assert_eq!(
            c.logout_href.as_deref(),
            Some(format!("{}/7.1/logout", sim.url()).as_str())
        );
        // What `login` does right after `POST /login`, with a session the
        // SMC does not know.
        let stale = Auth::Cookie(Secret::new("JSESSIONID=0123456789ABCDEF"));
        let e = s.logout_href("7.1", &stale).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}/7.1/api: the new session was refused: HTTP status 401",
                sim.url()
            )
        );
        sim.shutdown().await;
    }

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
