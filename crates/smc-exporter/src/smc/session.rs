//! The session of one SMC: which credentials are current, the SMC's login
//! gate, and the logout of every session it opened. The REST calls
//! themselves are in [`super::rest`]; the decisions (log in, connect, wait,
//! until when, what the SMC-wide problem is) are the pure [`LoginGate`].
//!
//! One [`SmcSession`] per configured SMC is shared by all its subscriptions.
//! Before connecting, a subscription asks [`SmcSession::admit`]: it gets the
//! current credentials with a [`Ticket`], or is told to wait until the
//! gate's next step (and woken early when the gate opens), or makes the one
//! login attempt itself (logins are serialised; callers queued behind an
//! attempt see its result instead of trying again). It then reports how its
//! upgrade went ([`connected`](SmcSession::connected),
//! [`refused`](SmcSession::refused), [`answered`](SmcSession::answered),
//! [`unanswered`](SmcSession::unanswered)) with that ticket, so N
//! subscriptions failing together change the gate once.
//!
//! Every session that is replaced (refused, invalidated) is logged out in
//! the background; [`SmcSession::logout`] at shutdown logs out the current
//! one and waits for those.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, timeout};
use tokio_util::task::TaskTracker;

use crate::config::{SmcConfig, SubscriptionConfig};
use crate::smc::events::{self, SmcEvent};
use crate::smc::gate::{Change, Decision, LoginGate, Problem, Ticket};
use crate::smc::incidents::{Incidents, Joined};
use crate::smc::rest::SmcRest;
use crate::smc::tls;
use crate::state::{ReconnectReason, SmcState};

pub use crate::smc::rest::{Auth, Credentials, SessionError};

/// What [`SmcSession::admit`] allows.
#[derive(Debug)]
pub enum Admission {
    /// Connect with these credentials; report the outcome with `ticket`.
    Connect {
        creds: Arc<Credentials>,
        ticket: Ticket,
    },
    /// No attempt before `until`; `opened` changes when the gate opens
    /// earlier (a login succeeded, the SMC answers again). `problem`: why.
    Wait {
        until: Instant,
        opened: watch::Receiver<u64>,
        problem: Option<String>,
    },
}

/// Whether a login error means the SMC did not answer at all (connection
/// refused or reset, TLS failure, timeout): a connect error, not a login
/// failure.
pub fn no_answer(e: &SessionError) -> bool {
    matches!(e, SessionError::Request { .. })
}

/// The session of one SMC.
#[derive(Debug)]
pub struct SmcSession {
    rest: Arc<SmcRest>,
    tls: Arc<rustls::ClientConfig>,
    inner: Mutex<Inner>,
    /// Held while logging in.
    login_lock: tokio::sync::Mutex<()>,
    /// Bumped whenever the gate opens.
    opened: watch::Sender<u64>,
    /// Logins in flight and logouts of replaced sessions.
    retired: TaskTracker,
    incidents: Mutex<Incidents>,
    login_timeout: Duration,
    pub state: Arc<SmcState>,
}

/// The gate and the credentials, changed together.
#[derive(Debug)]
struct Inner {
    gate: LoginGate,
    /// `Some` exactly while the gate is logged in.
    current: Option<Arc<Credentials>>,
}

impl SmcSession {
    pub fn new(
        cfg: &SmcConfig,
        state: Arc<SmcState>,
        settings: &SubscriptionConfig,
    ) -> Result<Self, SessionError> {
        let tls = Arc::new(tls::client_config(&cfg.tls_options())?);
        Ok(SmcSession {
            rest: Arc::new(SmcRest::new(cfg, settings, &tls)?),
            tls,
            inner: Mutex::new(Inner {
                gate: LoginGate::new(settings.backoff_initial, settings.backoff_max),
                current: None,
            }),
            login_lock: tokio::sync::Mutex::new(()),
            opened: watch::Sender::new(0),
            retired: TaskTracker::new(),
            incidents: Mutex::new(Incidents::default()),
            login_timeout: settings.connect_timeout,
            state,
        })
    }

    /// `http(s)://host:port` without a trailing slash.
    pub fn base(&self) -> &str {
        self.rest.base()
    }

    /// The SMC's REST client (for REST reads such as the engine poll; use
    /// it with [`credentials`](Self::credentials), and
    /// [`invalidate`](Self::invalidate) a session it refuses).
    pub fn rest(&self) -> &SmcRest {
        &self.rest
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

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere; `Inner` is changed
        // in whole steps.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mirror the gate into the state (`smc_up`, the last error).
    fn publish(&self, g: &Inner) {
        self.state.set_up(g.gate.up());
        self.state
            .set_last_error(g.gate.problem().map(|p| Arc::from(p.to_string())));
    }

    /// Connect, wait, or log in (this caller making the one attempt):
    /// see the module documentation. `Err`: this caller's login attempt
    /// failed (see [`no_answer`] for which kind).
    pub async fn admit(&self) -> Result<Admission, SessionError> {
        if let Some(a) = self.admit_now() {
            return Ok(a);
        }
        let _login = self.login_lock.lock().await;
        // Another caller may have logged in (or failed) meanwhile.
        if let Some(a) = self.admit_now() {
            return Ok(a);
        }
        self.login().await
    }

    /// The gate's admission now; `None`: log in.
    fn admit_now(&self) -> Option<Admission> {
        let mut g = self.inner();
        match g.gate.admit(Instant::now()) {
            Decision::Login => None,
            Decision::Connect(ticket) => g
                .current
                .clone()
                .map(|creds| Admission::Connect { creds, ticket }),
            Decision::Wait(until) => Some(Admission::Wait {
                until,
                opened: self.opened.subscribe(),
                problem: g.gate.problem().map(ToString::to_string),
            }),
        }
    }

    /// One login attempt (the caller holds the login lock).
    async fn login(&self) -> Result<Admission, SessionError> {
        let generation = self.inner().gate.next_generation();
        let no_answer = || SessionError::Request {
            url: format!("{}/login", self.base()),
            reason: format!(
                "no answer within {}",
                humantime::format_duration(self.login_timeout)
            ),
        };
        // The REST calls run in a task of their own: a caller dropped
        // mid-login (shutdown) must not leave a session behind. If nobody
        // takes the credentials, the task logs them out itself.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (rest, smc, limit) = (
            self.rest.clone(),
            self.state.name.clone(),
            self.login_timeout,
        );
        self.retired.spawn(async move {
            let Ok(result) = timeout(limit, rest.login(generation)).await else {
                return;
            };
            if let Err(Ok(c)) = tx.send(result) {
                rest.logout(&smc, &c).await;
            }
        });
        match rx.await.unwrap_or_else(|_| Err(no_answer())) {
            Ok(c) => Ok(self.logged_in(Arc::new(c))),
            Err(e) => {
                self.login_failed(&e);
                Err(e)
            }
        }
    }

    fn logged_in(&self, c: Arc<Credentials>) -> Admission {
        let (change, ticket, old) = {
            let mut g = self.inner();
            let change = g.gate.logged_in(Instant::now());
            let old = g.current.replace(c.clone());
            let ticket = g.gate.ticket();
            self.publish(&g);
            self.opened.send_modify(|n| *n += 1);
            (change, ticket, old)
        };
        SmcEvent::LoggedIn {
            api_version: &c.api_version,
        }
        .emit(&self.state);
        SmcEvent::Gate(&change).emit(&self.state);
        if let Some(old) = old {
            self.retire(old);
        }
        Admission::Connect { creds: c, ticket }
    }

    fn login_failed(&self, e: &SessionError) {
        let counted = !no_answer(e);
        let problem = if counted {
            Problem::LoginFailed(e.to_string())
        } else {
            Problem::Unreachable(e.to_string())
        };
        let change = {
            let mut g = self.inner();
            let change = g.gate.login_failed(Instant::now(), problem);
            self.publish(&g);
            change
        };
        SmcEvent::LoginFailed {
            change: &change,
            counted,
        }
        .emit(&self.state);
    }

    /// The current credentials, logging in first if there are none. A
    /// caller that comes while the gate is closed, or queued behind an
    /// attempt that failed, gets the SMC's problem as the error.
    pub async fn credentials(&self) -> Result<Arc<Credentials>, SessionError> {
        match self.admit().await? {
            Admission::Connect { creds, .. } => Ok(creds),
            Admission::Wait { problem, .. } => {
                Err(SessionError::Shared(problem.unwrap_or_else(|| {
                    "the SMC's login schedule is closed".into()
                })))
            }
        }
    }

    /// Apply a report to the gate, then log it.
    fn report(&self, f: impl FnOnce(&mut LoginGate, Instant) -> Change) {
        let change = {
            let mut g = self.inner();
            let change = f(&mut g.gate, Instant::now());
            if matches!(change, Change::Recovered(..)) {
                self.opened.send_modify(|n| *n += 1);
            }
            self.publish(&g);
            change
        };
        SmcEvent::Gate(&change).emit(&self.state);
    }

    /// The upgrade admitted with `t` was accepted.
    pub fn connected(&self, t: Ticket) {
        self.report(|g, now| g.upgrade_accepted(now, t));
    }

    /// The upgrade admitted with `t` was answered, but not with a socket
    /// nor with 401/403.
    pub fn answered(&self, t: Ticket) {
        self.report(|g, now| g.answered(now, t));
    }

    /// The upgrade admitted with `t` got no answer.
    pub fn unanswered(&self, t: Ticket, detail: String) {
        self.report(|g, now| g.unanswered(now, t, detail));
    }

    /// The upgrade admitted with `t` was refused with `status` (401/403):
    /// its session is dropped (and logged out) unless that happened already.
    pub fn refused(&self, t: Ticket, status: u16) {
        let (change, old) = {
            let mut g = self.inner();
            let now = Instant::now();
            // A refusal is an answer: an unreachable SMC is back.
            let answered = g.gate.answered(now, t);
            if matches!(answered, Change::Recovered(..)) {
                self.opened.send_modify(|n| *n += 1);
            }
            let (dropped, change) = g.gate.upgrade_refused(now, t, status);
            let old = if dropped { g.current.take() } else { None };
            self.publish(&g);
            ([answered, change], old)
        };
        for c in &change {
            SmcEvent::Gate(c).emit(&self.state);
        }
        if let Some(old) = old {
            self.retire(old);
        }
    }

    /// Forget the session of `generation` (it ended: the SMC refused it);
    /// the next [`admit`](Self::admit) logs in again at once. Stale calls
    /// for an older generation are ignored. The session is logged out.
    pub fn invalidate(&self, generation: u64) {
        let old = {
            let mut g = self.inner();
            let old = if g.gate.invalidate(generation) {
                g.current.take()
            } else {
                None
            };
            self.publish(&g);
            old
        };
        if let Some(old) = old {
            SmcEvent::Invalidated.emit(&self.state);
            self.retire(old);
        }
    }

    /// Log out a replaced session, in the background.
    fn retire(&self, c: Arc<Credentials>) {
        let (rest, smc) = (self.rest.clone(), self.state.name.clone());
        self.retired
            .spawn(async move { rest.logout(&smc, &c).await });
    }

    /// Subscription `sub` was interrupted with `reason` and `detail`: how
    /// to log it in the SMC's incident (see [`Incidents`]).
    pub fn interrupted(&self, sub: u64, reason: ReconnectReason, detail: &str) -> Joined {
        let mut inc = self.incidents.lock().unwrap_or_else(|e| e.into_inner());
        inc.interrupted(Instant::now(), sub, reason, detail)
    }

    /// Subscription `sub` is healthy again; logs the incident this ends.
    pub fn resumed(&self, sub: u64) {
        let closed = {
            let mut inc = self.incidents.lock().unwrap_or_else(|e| e.into_inner());
            inc.resumed(Instant::now(), sub)
        };
        if let Some(c) = closed {
            events::incident_closed(&self.state.name, &c);
        }
    }

    /// Log out the current session and wait for the logouts of replaced
    /// ones. Errors are logged, not returned: this runs on shutdown.
    pub async fn logout(&self) {
        let current = {
            let mut g = self.inner();
            g.gate.logged_out();
            self.publish(&g);
            g.current.take()
        };
        if let Some(c) = current {
            self.rest.logout(&self.state.name, &c).await;
        }
        self.retired.close();
        self.retired.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smc_sim::{self as sim, SimOptions, SimServer};
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
        // The replaced session is logged out (issue 8 item 1: before, it
        // stayed live: "nothing was logged out"), the current one at the end.
        s.logout().await;
        let sessions = sim.sessions();
        assert_eq!(sessions.live, Vec::<String>::new(), "{sessions:?}");
        assert_eq!(sessions.logged_out.len(), 2, "{sessions:?}");
        sim.shutdown().await;
    }

    /// A caller dropped mid-login (shutdown) leaves no session behind: the
    /// login finishes in its own task and, nobody taking the credentials,
    /// logs them out.
    #[tokio::test]
    async fn a_login_abandoned_by_its_caller_is_logged_out() {
        let (sim, s) = session_for(None).await;
        let r = reqwest::Client::new()
            .post(format!("{}/sim/fault/stall_accept?seconds=1", sim.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // The login's connections are held by the stall: give up on it.
        let gave_up = tokio::time::timeout(Duration::from_millis(200), s.credentials()).await;
        assert!(gave_up.is_err(), "the login finished inside the stall");
        s.logout().await;
        let sessions = sim.sessions();
        assert_eq!(sessions.live, Vec::<String>::new(), "{sessions:?}");
        assert_eq!(sessions.logged_out.len(), 1, "{sessions:?}");
        assert_eq!(s.state.logins(), 0, "nobody took the session");
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
