//! Wiring: config → plan (keyed, [`plan`]) → the reconciler (one session
//! per SMC, one task per subscription, the store) → HTTP; reloads re-plan
//! and the reconciler applies the difference. Used by the daemon, by `demo`
//! and by the integration tests.

pub mod plan;
pub mod reconcile;
pub mod reload;
pub mod shard;
pub mod sps;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::smc::session::SessionError;
use crate::state::{LiveStore, RuntimeInfo, Store};

pub use plan::{Discovered, Plan, SubKey, plan};
pub use reconcile::Reconciler;
pub use shard::Shard;

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
        addr: crate::http::listen::ListenAddress,
        source: std::io::Error,
    },
    /// An `[[sps]]` poller could not start (its state file, its TLS setup).
    #[error("{0}")]
    Sps(String),
    /// A bug: the reconciler's maps disagree with its plan.
    #[error("internal error: {0}")]
    Internal(String),
}

/// How an exporter is started beyond its config.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The file the config came from: reloads (SIGHUP, `POST /-/reload`)
    /// re-read it. `None`: the exporter cannot reload.
    pub config_path: Option<PathBuf>,
    /// Which engines this replica serves.
    pub shard: Shard,
    /// `--config.auto-reload-interval`: reload when the file's content
    /// changed, checked this often. `None`: off.
    pub auto_reload: Option<Duration>,
    /// `--web.enable-lifecycle`: answer `POST /-/reload`.
    pub enable_lifecycle: bool,
    /// The HTTP server's options (web config, telemetry path, limits);
    /// `enable_lifecycle` above is or-ed into them.
    pub http: crate::http::ServerOptions,
}

/// A running exporter.
pub struct Exporter {
    live: Arc<LiveStore>,
    reconciler: Arc<Reconciler>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    /// Completes when the HTTP server (on its own thread) has stopped.
    http: tokio::sync::oneshot::Receiver<()>,
    /// Where discovery's findings go (the reload task re-plans with them).
    discovery: tokio::sync::mpsc::Sender<reload::Discovery>,
    /// Dropped without [`Exporter::shutdown`], the exporter still stops:
    /// the HTTP server's thread must not outlive it.
    _stop_on_drop: tokio_util::sync::DropGuard,
}

/// The reload task: SIGHUP / `POST /-/reload` requests (with a config
/// file), the auto-reload ticks and the engine polls' discoveries.
fn start_reloader(
    cfg: &Config,
    opts: &StartOptions,
    live: &Arc<LiveStore>,
    runtime: Arc<RuntimeInfo>,
    (reconciler, sps): (&Arc<Reconciler>, Arc<sps::SpsSupervisor>),
    discoveries: tokio::sync::mpsc::Receiver<reload::Discovery>,
    shutdown: &CancellationToken,
) {
    let (tx, rx) = reload::channel();
    if opts.config_path.is_some() {
        live.set_reloader(tx);
    }
    let r = reload::Reloader::new(
        opts.config_path.clone(),
        cfg.clone(),
        opts.shard,
        runtime,
        reconciler.clone(),
    )
    .with_sps(sps);
    reconciler
        .tasks()
        .spawn(r.run(rx, discoveries, opts.auto_reload, shutdown.clone()));
}

/// The `[[sps]]` pollers, beside the reconciler's tasks (so shutdown waits
/// for them within the same grace).
async fn start_sps(
    cfg: &Config,
    live: &Arc<LiveStore>,
    reconciler: &Arc<Reconciler>,
    shutdown: &CancellationToken,
) -> Result<Arc<sps::SpsSupervisor>, AppError> {
    let sps = Arc::new(sps::SpsSupervisor::new(
        live.clone(),
        reconciler.tasks().clone(),
        shutdown.clone(),
    ));
    sps.apply(&cfg.sps).await.map_err(AppError::Sps)?;
    Ok(sps)
}

impl Exporter {
    /// Start the subscriptions and serve HTTP on `listener` (no reloads, not sharded).
    pub async fn start(cfg: &Config, listener: TcpListener) -> Result<Exporter, AppError> {
        Exporter::start_with(cfg, listener, StartOptions::default()).await
    }

    /// Start the subscriptions of this replica's shard and serve HTTP on
    /// `listener`; with a config path, serve reloads.
    pub async fn start_with(
        cfg: &Config,
        listener: TcpListener,
        opts: StartOptions,
    ) -> Result<Exporter, AppError> {
        Exporter::start_on(cfg, vec![listener], opts).await
    }

    /// [`Exporter::start_with`] on several listeners (the first one's
    /// address is [`Exporter::addr`]).
    pub async fn start_on(
        cfg: &Config,
        listeners: Vec<TcpListener>,
        opts: StartOptions,
    ) -> Result<Exporter, AppError> {
        let listen_err = |source| AppError::Listen {
            addr: cfg.listen_address.clone(),
            source,
        };
        let addr = match listeners.first() {
            Some(l) => l.local_addr().map_err(listen_err)?,
            None => return Err(listen_err(std::io::Error::other("no listening socket"))),
        };
        let runtime = Arc::new(RuntimeInfo::new(
            opts.shard.ordinal(),
            opts.shard.total(),
            reload::unix_ms(),
        ));
        let live = Arc::new(LiveStore::default());
        let shutdown = CancellationToken::new();
        let first = plan(cfg, &Discovered::new(), opts.shard);
        let (discovery, discoveries) = tokio::sync::mpsc::channel(reload::QUEUE);
        let reconciler = Reconciler::start(
            first,
            live.clone(),
            runtime.clone(),
            shutdown.clone(),
            discovery.clone(),
        )?;
        let sps = start_sps(cfg, &live, &reconciler, &shutdown).await?;
        start_reloader(
            cfg,
            &opts,
            &live,
            runtime,
            (&reconciler, sps),
            discoveries,
            &shutdown,
        );
        let mut server = opts.http.clone();
        server.enable_lifecycle |= opts.enable_lifecycle;
        let http =
            crate::http::serve_on_own_thread(listeners, live.clone(), server, shutdown.clone())
                .map_err(listen_err)?;
        tracing::info!(
            %addr,
            subscriptions = live.load().subscriptions.len(),
            shard = opts.shard.ordinal(),
            total_shards = opts.shard.total(),
            "smc-exporter started"
        );
        Ok(Exporter {
            live,
            reconciler,
            discovery,
            addr,
            _stop_on_drop: shutdown.clone().drop_guard(),
            shutdown,
            http,
        })
    }

    /// What a scrape renders now.
    pub fn store(&self) -> Arc<Store> {
        self.live.load()
    }

    /// The reconciler (e.g. for discovery to apply a new plan).
    pub fn reconciler(&self) -> &Arc<Reconciler> {
        &self.reconciler
    }

    /// Reload the config file now, as SIGHUP does. `Err`: the one-line
    /// reason it was refused (the running config stays), or why no reload
    /// could be made.
    pub async fn reload(&self) -> Result<(), String> {
        let answer = self.live.request_reload().map_err(str::to_string)?;
        answer
            .await
            .map_err(|_| "the exporter stopped before reloading".to_string())?
    }

    /// Discovery found `engines` on the `[[smc]]` named `smc`: subscribe
    /// them (those that pass `engines_match` / `engines_exclude` and this
    /// replica's shard) and drop the engines no longer found, through the
    /// reconciler, in turn with reloads. Used only for an `[[smc]]` without
    /// `engines`. Resolves once applied.
    pub async fn discovered(&self, smc: &str, engines: Vec<String>) -> Result<(), String> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let d = reload::Discovery {
            smc: smc.to_string(),
            engines,
            done,
        };
        let stopped = || "the exporter stopped".to_string();
        self.discovery.send(d).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
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
        let tasks = self.reconciler.tasks();
        tasks.close();
        if tokio::time::timeout(CLOSE_GRACE, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some subscriptions did not close in time; logging out anyway");
        }
        let sessions = self.reconciler.sessions().await;
        let retired = self.reconciler.retired();
        retired.close();
        let logouts = async {
            futures_util::future::join_all(sessions.iter().map(|s| s.logout())).await;
            retired.wait().await;
        };
        if tokio::time::timeout(LOGOUT_GRACE, logouts).await.is_err() {
            tracing::warn!("logout did not finish in time; exiting anyway");
        }
        let _ = tokio::time::timeout(HTTP_GRACE, self.http).await;
        tracing::info!("smc-exporter stopped");
    }
}
