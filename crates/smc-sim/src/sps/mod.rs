//! The SPS simulator: One Identity Safeguard for Privileged Sessions' REST
//! API as `/work/notes/sps-contract.md` §A fixes it (`docs/sps-simulator.md`),
//! on a loopback listener of its own (its `/api/...` paths clash with the
//! SMC's), started by [`crate::start`] when [`crate::SimOptions::sps`] is set.
//!
//! * `world.rs`: sessions, alerts, health and churn, from the seed;
//! * `api.rs`: the HTTP routes; `auth.rs`: Basic login and cookies;
//! * `paging.rs`: offsets, limits, `meta` and `fields`; `query.rs`: `q`;
//! * `faults.rs`: the faults of `POST /sim/sps/fault/<kind>`;
//! * `control.rs`: the `/sim/sps/*` control endpoints;
//! * `truth.rs`: the structured ground truth and its text renderer hook.

mod api;
mod auth;
mod clock;
pub(crate) mod control;
mod faults;
mod paging;
mod query;
mod truth;
mod world;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use faults::{SPS_FAULT_KINDS, SpsFaultError};
pub use truth::{SpsAlert, SpsHealth, SpsIndexer, SpsSession, SpsTruth, SpsTruthText};

/// Options of the SPS simulator.
#[derive(Debug, Clone)]
pub struct SpsOptions {
    /// A cookie dies after this long without a request (default 20 min).
    pub cookie_lifetime: Duration,
    /// Background churn steps per second (0 = none, the default).
    pub churn_per_second: f64,
    /// How `GET /sim/sps/truth` renders [`SpsTruth`]; `None`: 501.
    pub truth_text: Option<SpsTruthText>,
}

impl Default for SpsOptions {
    fn default() -> Self {
        SpsOptions {
            cookie_lifetime: Duration::from_secs(20 * 60),
            churn_per_second: 0.0,
            truth_text: None,
        }
    }
}

/// What a client needs to talk to the SPS simulator (`GET /sim/sps/world`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpsWorldInfo {
    pub url: String,
    pub username: String,
    pub password: String,
}

/// The class of an API path, for faults and request counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    Authentication,
    Info,
    HealthStatus,
    Sessions,
    Session,
    Alerts,
    Other,
}

impl Endpoint {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::Authentication => "authentication",
            Endpoint::Info => "info",
            Endpoint::HealthStatus => "health_status",
            Endpoint::Sessions => "sessions",
            Endpoint::Session => "session",
            Endpoint::Alerts => "alerts",
            Endpoint::Other => "other",
        }
    }
}

/// The running SPS simulator's state.
pub(crate) struct Sps {
    pub(crate) addr: SocketAddr,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) clock: clock::Clock,
    pub(crate) cookies: auth::Cookies,
    pub(crate) faults: faults::Faults,
    world: Mutex<world::World>,
    truth_text: Option<SpsTruthText>,
    /// Answered API requests: (path class, status) → count.
    requests: Mutex<BTreeMap<(Endpoint, u16), u64>>,
    rate: watch::Sender<f64>,
}

impl Sps {
    pub(crate) fn world(&self) -> MutexGuard<'_, world::World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn count(&self, e: Endpoint, status: u16) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((e, status))
            .or_default() += 1;
    }

    /// `{"<class>": {"<status>": n}}`.
    pub(crate) fn requests(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((e, s), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.entry(e.name().to_string())
                .or_default()
                .insert(s.to_string(), *n);
        }
        out
    }

    pub(crate) fn info(&self) -> SpsWorldInfo {
        SpsWorldInfo {
            url: format!("http://{}", self.addr),
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }

    pub(crate) fn churn(&self, steps: u32) -> u32 {
        let mut w = self.world();
        for _ in 0..steps {
            w.step(self.clock.now_us());
        }
        steps
    }

    pub(crate) fn set_churn_rate(&self, per_second: f64) {
        let r = if per_second.is_finite() && per_second > 0.0 {
            per_second.min(crate::MAX_CHURN_RATE)
        } else {
            0.0
        };
        self.rate.send_replace(r);
    }

    pub(crate) fn truth(&self) -> SpsTruth {
        self.world().truth(self.clock.now_us())
    }

    pub(crate) fn truth_text(&self, since: f64, sps: &str) -> Option<String> {
        let r = self.truth_text.as_ref()?;
        Some(r.render(&self.truth(), since, sps))
    }
}

impl Sps {
    /// The state of a simulator of `seed` listening on `addr`, and the
    /// receiver of its churn rate.
    fn new(seed: u64, opts: &SpsOptions, addr: SocketAddr) -> (Sps, watch::Receiver<f64>) {
        let (username, password) = auth::credentials(seed);
        let clock = clock::Clock::default();
        let world = world::World::generate(seed, clock.now_us());
        let (rate, rate_rx) = watch::channel(0.0);
        let sps = Sps {
            addr,
            username,
            password,
            clock,
            cookies: auth::Cookies::new(opts.cookie_lifetime),
            faults: faults::Faults::default(),
            world: Mutex::new(world),
            truth_text: opts.truth_text.clone(),
            requests: Mutex::new(BTreeMap::new()),
            rate,
        };
        (sps, rate_rx)
    }

    #[cfg(test)]
    pub(crate) fn for_test(seed: u64) -> Sps {
        Sps::new(
            seed,
            &SpsOptions::default(),
            SocketAddr::from(([127, 0, 0, 1], 9)),
        )
        .0
    }
}

/// Bind 127.0.0.1:0 and serve the SPS API until `shutdown`.
pub(crate) async fn start(
    seed: u64,
    opts: &SpsOptions,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> std::io::Result<Arc<Sps>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let (sps, rate_rx) = Sps::new(seed, opts, listener.local_addr()?);
    let sps = Arc::new(sps);
    let addr = sps.addr;
    sps.set_churn_rate(opts.churn_per_second);
    tasks.spawn(api::accept_loop(
        listener,
        sps.clone(),
        shutdown.clone(),
        tasks.clone(),
    ));
    tasks.spawn(background_churn(sps.clone(), rate_rx, shutdown));
    tracing::info!(%addr, seed, "SPS simulator listening");
    Ok(sps)
}

/// Apply `rate` churn steps per second until shutdown, in 50 ms ticks.
async fn background_churn(
    sps: Arc<Sps>,
    mut rate: watch::Receiver<f64>,
    shutdown: CancellationToken,
) {
    const TICK: Duration = Duration::from_millis(50);
    let mut owed = 0.0_f64;
    loop {
        let r = *rate.borrow_and_update();
        if r <= 0.0 {
            owed = 0.0;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = rate.changed() => if changed.is_err() { return },
            }
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = rate.changed() => continue,
            _ = tokio::time::sleep(TICK) => {}
        }
        owed = (owed + r * TICK.as_secs_f64()).min(r.max(1.0));
        let n = owed.floor();
        if n >= 1.0 {
            owed -= n;
            sps.churn(n as u32);
        }
    }
}
