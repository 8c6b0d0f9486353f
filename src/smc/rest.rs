//! The SMC's REST API as the exporter uses it: API-version discovery, login
//! (with the entry points it lists), logout. Stateless: [`SmcRest::login`]
//! returns [`Credentials`] and [`SmcRest::logout`] ends them; which session
//! is current, and when to log in again, is [`super::session`]'s job.
//!
//! REST calls after login: `GET /{ver}/api` (entry points, part of login; a
//! 401/403 there fails the login) and `PUT logout` (a 401/403 means the
//! session had already ended). There are no others.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE};
use serde::Deserialize;
use url::Url;

use crate::config::{Secret, SmcConfig, SubscriptionConfig};
use crate::model::{api_version_supported, parse_api_version};
use crate::smc::tls::TlsError;

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

/// The REST client of one SMC.
#[derive(Debug)]
pub struct SmcRest {
    base: String,
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
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("smc-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| req_err(cfg.url.as_str(), &e))?;
        Ok(SmcRest {
            base: base_of(&cfg.url),
            configured_version: cfg.api_version.clone(),
            domain: cfg.domain.clone(),
            api_key: cfg.api_key.clone(),
            http,
        })
    }

    /// `http(s)://host:port` without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
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

    /// Log in; the credentials carry `generation`.
    pub async fn login(&self, generation: u64) -> Result<Credentials, SessionError> {
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

    /// End the session of `c`. Errors are logged, not returned: this runs
    /// when a session is replaced and on shutdown.
    pub async fn logout(&self, smc: &str, c: &Credentials) {
        let url = c
            .logout_href
            .clone()
            .unwrap_or_else(|| format!("{}/{}/logout", self.base, c.api_version));
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
        let tls = crate::smc::tls::client_config(None, false).unwrap();
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
