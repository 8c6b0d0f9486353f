//! One appliance's poller: a cycle every `poll_interval` (±10 %), within a
//! deadline of 80 % of it. A cycle logs in if needed (the first login's
//! `Date` fixes S), reads the health gauges and the firmware version,
//! searches new sessions window by window, refreshes the tracked sessions,
//! fetches their new alerts, then moves the watermark and writes the state
//! file. Any failure but a 403 ends the cycle: counts made so far stay (the
//! ledger dedupes them next time), the watermark and the gauges stay.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::{CycleBackoff, LoginBackoff, jittered};
use super::body::{Alert, Collection, HealthBody, Info, Item, SessionBody, Single};
use super::client::{ClientError, SpsClient};
use super::ledger::{Ledger, cut};
use super::time::SpsTime;
use super::window::{Plan, Window};
use crate::config::SpsConfig;
use crate::state::sps::{Endpoint, SpsState};

/// The session fields asked for (`fields=`).
pub const FIELDS: &str = "active,start_time,end_time,duration,protocol,verdict,recording.connection_policy,analytics.score.aggregated";
/// Page size of every collection request (the API's maximum).
pub const PAGE: u64 = 500;
/// A window is paged at most this many times (10,000 reachable / 500, plus slack).
const MAX_PAGES: usize = 25;
/// Longest wait after failed cycles (without a longer Retry-After).
const MAX_CYCLE_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// Endpoint groups a 403 skips (each logged once until it changes).
#[derive(Debug, Default)]
struct Forbidden {
    health: bool,
    sessions: bool,
    alerts: bool,
}

/// How a cycle ended.
#[derive(Debug)]
pub enum Outcome {
    Done,
    LoginFailed(ClientError),
    Failed(ClientError),
}

pub struct Poller {
    cfg: SpsConfig,
    client: SpsClient,
    state: Arc<SpsState>,
    ledger: Ledger,
    forbidden: Forbidden,
    sps_now: Option<SpsTime>,
}

/// A step of a cycle that may be skipped by a 403.
type Step = Result<(), ClientError>;

impl Poller {
    /// A poller starting from `ledger` (restored, carried over, or fresh).
    pub fn new(cfg: SpsConfig, state: Arc<SpsState>, ledger: Ledger) -> Result<Self, String> {
        let client = SpsClient::new(&cfg, state.clone())?;
        Ok(Poller {
            cfg,
            client,
            state,
            ledger,
            forbidden: Forbidden::default(),
            sps_now: None,
        })
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Poll until `stop` is cancelled.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut login = LoginBackoff::new(self.cfg.login_backoff.0, self.cfg.login_backoff.1);
        let mut failures = CycleBackoff::new(self.cfg.poll_interval, MAX_CYCLE_BACKOFF);
        loop {
            let started = Instant::now();
            let outcome = tokio::select! {
                () = stop.cancelled() => return,
                o = self.cycle() => o,
            };
            let wait = self.wait_after(&outcome, &mut login, &mut failures);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(started + wait) => {}
            }
        }
    }

    fn wait_after(
        &self,
        outcome: &Outcome,
        login: &mut LoginBackoff,
        failures: &mut CycleBackoff,
    ) -> Duration {
        let normal = jittered(self.cfg.poll_interval, rand::random::<f64>());
        match outcome {
            Outcome::Done => {
                login.succeeded();
                failures.succeeded();
                normal
            }
            Outcome::LoginFailed(e) => {
                let w = login.failed();
                tracing::warn!(sps = %self.cfg.name, error = %e, retry_in = %humantime::format_duration(w), "SPS login failed; not retrying sooner (account lockout)");
                w
            }
            Outcome::Failed(e) => {
                let ra = match e {
                    ClientError::RateLimited { retry_after, .. } => *retry_after,
                    _ => None,
                };
                let w = failures.failed(ra);
                tracing::warn!(sps = %self.cfg.name, error = %e, retry_in = %humantime::format_duration(w), "SPS poll cycle failed");
                if ra.is_some() { w } else { w.max(normal) }
            }
        }
    }

    /// One cycle, published into the state whatever its end.
    pub async fn cycle(&mut self) -> Outcome {
        let t0 = Instant::now();
        let deadline = t0 + self.cfg.cycle_deadline();
        let outcome = self.cycle_steps(deadline).await;
        let done = matches!(outcome, Outcome::Done);
        if done && let Some(path) = &self.cfg.state_file {
            if let Err(e) = super::persist::save(path, &self.cfg.name, &self.ledger) {
                tracing::warn!(sps = %self.cfg.name, error = %e, "cannot write the SPS state file");
            }
        }
        let now = self.sps_now.map(SpsTime::as_secs_f64);
        let secs = t0.elapsed().as_secs_f64();
        self.state.cycle_done(done, secs, &self.ledger, now);
        outcome
    }

    async fn cycle_steps(&mut self, deadline: Instant) -> Outcome {
        if !self.client.logged_in() {
            match self.client.login(deadline).await {
                Ok(date) => self.logged_in(date),
                Err(e) => return Outcome::LoginFailed(e),
            }
        }
        let steps = async {
            self.health(deadline).await?;
            // The watermark moves once every window was searched, before the
            // (possibly long) refresh and alerts steps.
            if let Some(m) = self.sessions(deadline).await? {
                self.ledger.commit(m, self.cfg.overlap);
            }
            self.refresh_tracked(deadline).await?;
            self.alerts(deadline).await?;
            Ok::<(), ClientError>(())
        };
        match steps.await {
            Ok(()) => Outcome::Done,
            Err(e @ ClientError::Login { .. }) => {
                self.client.drop_session();
                Outcome::LoginFailed(e)
            }
            Err(e) => Outcome::Failed(e),
        }
    }

    fn logged_in(&mut self, date: Option<SpsTime>) {
        if let Some(d) = date {
            self.sps_now = Some(d);
            self.ledger.begin(d, self.cfg.lookback);
        } else if self.ledger.counting_since.is_none() {
            tracing::warn!(sps = %self.cfg.name, "the SPS login answer has no Date header; counting waits for one");
        }
    }

    fn note(&mut self, date: Option<SpsTime>) {
        if let Some(d) = date {
            self.sps_now = Some(self.sps_now.map_or(d, |n| n.max(d)));
        }
    }

    /// A 403 of a group: log it when it starts, skip the group this cycle.
    fn skip_forbidden(&mut self, group: &str, r: Step) -> Step {
        let flag = match group {
            "health_status" => &mut self.forbidden.health,
            "sessions" => &mut self.forbidden.sessions,
            _ => &mut self.forbidden.alerts,
        };
        match r {
            Err(ClientError::Forbidden { .. }) => {
                if !*flag {
                    tracing::error!(sps = %self.cfg.name, endpoint = group, "SPS answered 403: the account lacks the rights for this endpoint group; it is skipped until that changes");
                }
                *flag = true;
                Ok(())
            }
            Ok(()) => {
                if *flag {
                    tracing::info!(sps = %self.cfg.name, endpoint = group, "SPS endpoint group allowed again");
                }
                *flag = false;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn health(&mut self, deadline: Instant) -> Step {
        let r = self.health_inner(deadline).await;
        self.skip_forbidden("health_status", r)
    }

    async fn health_inner(&mut self, deadline: Instant) -> Step {
        let a = self
            .client
            .get(Endpoint::HealthStatus, "/api/health_status", &[], deadline)
            .await?;
        self.note(a.date);
        let h: Single<HealthBody> = decode(&self.state, Endpoint::HealthStatus, &a.body)?;
        let health = h.body.unwrap_or_default().health(cut);
        self.state.view().health = Some(health);
        let a = self
            .client
            .get(Endpoint::Info, "/api/info", &[], deadline)
            .await?;
        let info: Single<Info> = decode(&self.state, Endpoint::Info, &a.body)?;
        let fw = info.body.and_then(|b| b.firmware_version).map(|v| cut(&v));
        self.state.view().firmware_version = fw;
        Ok(())
    }

    /// Search every window; `Some(max start)` when all were searched
    /// (`Some(None)`: nothing new), `None` when the group is forbidden.
    async fn sessions(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<Option<SpsTime>>, ClientError> {
        let Some(from) = self.ledger.window_start(self.cfg.overlap) else {
            return Ok(None);
        };
        let mut plan = Plan::new(from);
        let mut max_start = None;
        let r = async {
            while let Some(w) = plan.pop() {
                self.window(w, &mut plan, &mut max_start, deadline).await?;
            }
            Ok(())
        }
        .await;
        self.ledger.counters.window_splits += plan.splits;
        let forbidden = matches!(r, Err(ClientError::Forbidden { .. }));
        self.skip_forbidden("sessions", r)?;
        Ok((!forbidden).then_some(max_start))
    }

    async fn window(
        &mut self,
        w: Window,
        plan: &mut Plan,
        max_start: &mut Option<SpsTime>,
        deadline: Instant,
    ) -> Step {
        let start = w.from.to_rfc3339();
        let q = w.query();
        let mut offset = 0u64;
        for page in 0..MAX_PAGES {
            let (off, limit) = (offset.to_string(), PAGE.to_string());
            let mut query = vec![
                ("start", start.as_str()),
                ("fields", FIELDS),
                ("sort", "start_time"),
                ("limit", limit.as_str()),
                ("offset", off.as_str()),
            ];
            if let Some(q) = &q {
                query.push(("q", q.as_str()));
            }
            let a = self
                .client
                .get(Endpoint::Sessions, "/api/audit/sessions", &query, deadline)
                .await?;
            self.note(a.date);
            let c: Collection<Item<SessionBody>> =
                decode(&self.state, Endpoint::Sessions, &a.body)?;
            let now = self.sps_now.unwrap_or(w.from);
            if page == 0 && plan.over_cap(w, c.meta.match_count.unwrap_or(0), now) {
                return Ok(());
            }
            for item in &c.items {
                let Some(body) = &item.body else { continue };
                if let Some(s) = body.start() {
                    *max_start = Some(max_start.map_or(s, |m: SpsTime| m.max(s)));
                }
                self.ledger
                    .see(&cut(&item.key), body, self.cfg.max_tracked_sessions);
            }
            if c.meta.next.is_none() || c.items.is_empty() {
                return Ok(());
            }
            offset += c.items.len() as u64;
        }
        Ok(())
    }

    /// Refresh the tracked sessions that are still active (one at a time).
    async fn refresh_tracked(&mut self, deadline: Instant) -> Step {
        if self.forbidden.sessions {
            return Ok(());
        }
        let keys: Vec<String> = self
            .ledger
            .tracked
            .iter()
            .filter(|(_, t)| !t.closed)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let path = format!("/api/audit/sessions/{}", encode_segment(&key));
            let r = self
                .client
                .get(Endpoint::Session, &path, &[("fields", FIELDS)], deadline)
                .await;
            match r {
                Ok(a) => {
                    let s: Single<SessionBody> = decode(&self.state, Endpoint::Session, &a.body)?;
                    if let Some(b) = s.body {
                        self.ledger.refresh(&key, &b);
                    }
                }
                Err(ClientError::NotFound { .. }) => self.ledger.forget(&key),
                Err(e) => return self.skip_forbidden("sessions", Err(e)),
            }
        }
        Ok(())
    }

    /// New alerts of every tracked session; closed ones are untracked after.
    async fn alerts(&mut self, deadline: Instant) -> Step {
        let keys: Vec<String> = self.ledger.tracked.keys().cloned().collect();
        for key in keys {
            let r = self.alerts_of(&key, deadline).await;
            match r {
                Ok(()) => self.ledger.alerts_done(&key),
                Err(ClientError::NotFound { .. }) => self.ledger.forget(&key),
                Err(e) => return self.skip_forbidden("alerts", Err(e)),
            }
        }
        self.skip_forbidden("alerts", Ok(()))
    }

    async fn alerts_of(&mut self, key: &str, deadline: Instant) -> Step {
        let path = format!("/api/audit/sessions/{}/alerts", encode_segment(key));
        for _ in 0..MAX_PAGES {
            let Some(seen) = self.ledger.tracked.get(key).map(|t| t.alerts_seen) else {
                return Ok(());
            };
            let (off, limit) = (seen.to_string(), PAGE.to_string());
            let query = [("offset", off.as_str()), ("limit", limit.as_str())];
            let a = self
                .client
                .get(Endpoint::Alerts, &path, &query, deadline)
                .await?;
            let c: Collection<Alert> = decode(&self.state, Endpoint::Alerts, &a.body)?;
            self.ledger.alerts(key, &c.items);
            if c.meta.next.is_none() || c.items.is_empty() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// A session key as one path segment (percent-encoded).
fn encode_segment(key: &str) -> String {
    url::form_urlencoded::byte_serialize(key.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Parse an answer; a body that is not what the contract says counts as a
/// `decode` error of its endpoint.
fn decode<T: serde::de::DeserializeOwned>(
    state: &SpsState,
    ep: Endpoint,
    body: &[u8],
) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| {
        state.error(ep, crate::state::sps::ErrorKind::Decode);
        ClientError::Decode {
            endpoint: ep.label(),
            why: crate::config::one_line(&e.to_string()),
        }
    })
}
