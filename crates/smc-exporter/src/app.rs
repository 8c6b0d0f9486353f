//! Wiring: config → store → one session per SMC → one task per subscription →
//! HTTP. Used by the daemon, by `demo` and by the integration tests.

use crate::labels::StateFamily;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::smc::session::{SessionError, SmcSession};
use crate::smc::subscription::{self, SubscriptionSpec};
use crate::state::{SmcState, Store, SubscriptionState};
use smc_fold::SeriesBudget;
use smc_protocol::Definition;

/// How long shutdown waits for subscriptions to abort their fetches and
/// close their sockets (each one gives up after
/// [`subscription::CLOSE_TIMEOUT`]).
pub const CLOSE_GRACE: Duration = Duration::from_millis(1500);
/// How long shutdown then waits for the sessions to log out.
pub const LOGOUT_GRACE: Duration = Duration::from_secs(2);
/// How long shutdown then waits for the HTTP server to stop.
pub const HTTP_GRACE: Duration = Duration::from_millis(500);
/// The whole shutdown stays within this (the "exit within 5 s").
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);
const _: () = assert!(
    CLOSE_GRACE.as_millis() + LOGOUT_GRACE.as_millis() + HTTP_GRACE.as_millis()
        <= SHUTDOWN_GRACE.as_millis()
);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("smc {smc:?}: {source}")]
    Session { smc: String, source: SessionError },
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running exporter.
pub struct Exporter {
    pub store: Arc<Store>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// Completes when the HTTP server (on its own thread) has stopped.
    http: tokio::sync::oneshot::Receiver<()>,
    sessions: Vec<Arc<SmcSession>>,
    /// Dropped without [`Exporter::shutdown`], the exporter still stops:
    /// the HTTP server's thread must not outlive it.
    _stop_on_drop: tokio_util::sync::DropGuard,
}

/// Build the store and the subscription specs for a config.
pub fn plan(cfg: &Config) -> (Store, Vec<(usize, SubscriptionSpec)>) {
    // One budget per state family, in `Definition::ALL` order.
    let per_family: Vec<Arc<SeriesBudget>> = Definition::ALL
        .iter()
        .map(|_| Arc::new(SeriesBudget::new(cfg.max_series_per_family)))
        .collect();
    let budget_of = |d: Definition| per_family[d.index()].clone();
    let mut smcs = Vec::new();
    let mut specs = Vec::new();
    for (i, smc) in cfg.smc.iter().enumerate() {
        let name: Arc<str> = Arc::from(smc.name.as_str());
        smcs.push(Arc::new(SmcState::new(name.clone())));
        let targets = smc
            .engines
            .iter()
            .flat_map(|e| smc.definitions.iter().map(move |d| (e, *d)))
            .chain(
                smc.alert_domains
                    .iter()
                    .map(|dom| (dom, Definition::ActiveAlerts)),
            );
        for (target, d) in targets {
            let fields = smc.group_fields(d);
            let labels: Arc<[&'static str]> = fields.iter().map(|g| g.label).collect();
            let state = Arc::new(
                SubscriptionState::new(name.clone(), Arc::from(target.as_str()), d, labels)
                    .with_max_staleness(cfg.subscription.state_max_staleness),
            );
            specs.push((
                i,
                SubscriptionSpec {
                    state,
                    group_fields: fields,
                    budget: budget_of(d),
                },
            ));
        }
    }
    let store = Store {
        smcs,
        subscriptions: specs.iter().map(|(_, s)| s.state.clone()).collect(),
        budgets: Definition::ALL
            .iter()
            .map(|d| d.family())
            .zip(per_family.iter().cloned())
            .collect(),
        ..Store::default()
    };
    (store, specs)
}

impl Exporter {
    /// Start the subscriptions and serve HTTP on `listener`.
    pub async fn start(cfg: &Config, listener: TcpListener) -> Result<Exporter, AppError> {
        let addr = listener.local_addr().map_err(|source| AppError::Listen {
            addr: cfg.listen_address,
            source,
        })?;
        let (store, specs) = plan(cfg);
        let store = Arc::new(store);
        let mut sessions = Vec::new();
        for (smc, state) in cfg.smc.iter().zip(&store.smcs) {
            let s = SmcSession::new(smc, state.clone(), &cfg.subscription).map_err(|source| {
                AppError::Session {
                    smc: smc.name.clone(),
                    source,
                }
            })?;
            sessions.push(Arc::new(s));
        }
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        for (i, spec) in specs {
            if let Some(session) = sessions.get(i) {
                tasks.spawn(subscription::run(
                    session.clone(),
                    spec,
                    cfg.subscription.clone(),
                    shutdown.clone(),
                ));
            }
        }
        tasks.close();
        let http = crate::http::serve_on_own_thread(
            listener,
            store.clone(),
            crate::http::ServerOptions::default(),
            shutdown.clone(),
        )
        .map_err(|source| AppError::Listen {
            addr: cfg.listen_address,
            source,
        })?;
        tracing::info!(%addr, subscriptions = store.subscriptions.len(), "smc-exporter started");
        Ok(Exporter {
            store,
            addr,
            _stop_on_drop: shutdown.clone().drop_guard(),
            shutdown,
            tasks,
            http,
            sessions,
        })
    }

    /// The address /metrics is served on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A token that stops the exporter when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stop: abort fetches, close sockets, log out, stop HTTP. Each step is
    /// bounded on its own ([`CLOSE_GRACE`], [`LOGOUT_GRACE`], [`HTTP_GRACE`]),
    /// so a socket that hangs cannot keep the sessions from logging out.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        if tokio::time::timeout(CLOSE_GRACE, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some subscriptions did not close in time; logging out anyway");
        }
        let logouts = futures_util::future::join_all(self.sessions.iter().map(|s| s.logout()));
        if tokio::time::timeout(LOGOUT_GRACE, logouts).await.is_err() {
            tracing::warn!("logout did not finish in time; exiting anyway");
        }
        let _ = tokio::time::timeout(HTTP_GRACE, self.http).await;
        tracing::info!("smc-exporter stopped");
    }
}
