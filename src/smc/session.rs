//! The session of one SMC: which credentials are current, when to log in
//! again, and the login backoff shared by its subscriptions. The REST calls
//! themselves are in [`super::rest`].
//!
//! One [`SmcSession`] per configured SMC is shared by all its subscriptions.
//! Credentials carry a generation number: when a subscription sees its
//! WebSocket upgrade refused with 401/403 it calls [`SmcSession::invalidate`]
//! with the generation it used, so N subscriptions failing together cause one
//! re-login, not N. A login attempt is also shared by the subscriptions that
//! were waiting for it: when it fails they all get its error instead of each
//! trying again (one attempt per SMC per burst, not one per subscription).
//!
//! The only REST calls after login are the entry points (part of login) and
//! logout, so the generation is invalidated only from WebSocket upgrades.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use arc_swap::ArcSwapOption;
use tokio::sync::Mutex;

use crate::config::{SmcConfig, SubscriptionConfig};
use crate::smc::backoff::Backoff;
use crate::smc::rest::SmcRest;
use crate::smc::tls;
use crate::state::SmcState;

pub use crate::smc::rest::{Auth, Credentials, SessionError};

/// The session of one SMC.
#[derive(Debug)]
pub struct SmcSession {
    rest: SmcRest,
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

impl SmcSession {
    pub fn new(
        cfg: &SmcConfig,
        state: Arc<SmcState>,
        settings: &SubscriptionConfig,
    ) -> Result<Self, SessionError> {
        let tls = Arc::new(tls::client_config(
            cfg.ca_file.as_deref(),
            cfg.insecure_skip_verify,
        )?);
        Ok(SmcSession {
            rest: SmcRest::new(cfg, settings, &tls)?,
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
        self.rest.base()
    }

    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// The WebSocket URL of a socket path (`/monitoring/session/socket`).
    pub fn ws_url(&self, api_version: &str, path: &str) -> String {
        let base = self.base();
        let rest = base
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
            .unwrap_or_else(|| base.to_owned());
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
        let result = self.rest.login(login.generation + 1).await;
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

    /// Log out, if logged in. Errors are logged, not returned: this runs on shutdown.
    pub async fn logout(&self) {
        let Some(c) = self.current.swap(None) else {
            return;
        };
        self.state.set_up(false);
        self.rest.logout(&self.state.name, &c).await;
    }
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
}
