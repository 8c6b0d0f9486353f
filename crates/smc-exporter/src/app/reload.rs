//! Reloads: SIGHUP, `POST /-/reload` and the optional auto-reload all end
//! here, one at a time (one task reads the requests), and so do the engine
//! lists discovery finds ([`Discovery`]): each re-plans from the last good
//! config and what was discovered, and the reconciler applies the
//! difference. A reload re-reads the config file and the key files; a
//! config that fails validation changes nothing and is reported as its
//! one-line `key.path: reason`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::xxh3_64;

use crate::app::plan::{Discovered, plan};
use crate::app::reconcile::Reconciler;
use crate::app::shard::Shard;
use crate::config::Config;
use crate::state::{ReloadRequest, RuntimeInfo};

/// What discovery found on one SMC: its engine names, and who waits for
/// the plan to be applied.
#[derive(Debug)]
pub struct Discovery {
    pub smc: String,
    pub engines: Vec<String>,
    pub done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// Requests queued beyond the one running are refused as busy.
pub const QUEUE: usize = 8;

/// What a reload needs besides the reconciler.
#[derive(Debug)]
pub struct Reloader {
    /// `None`: started without a file (only discovery re-plans).
    pub path: Option<PathBuf>,
    pub shard: Shard,
    pub discovered: Discovered,
    /// The last configuration that loaded.
    pub cfg: Config,
    pub runtime: Arc<RuntimeInfo>,
    pub reconciler: Arc<Reconciler>,
    /// xxh3 of the config file's content at the last load attempt.
    last_hash: Option<u64>,
    /// The `[[sps]]` pollers, if this exporter runs them.
    sps: Option<Arc<super::sps::SpsSupervisor>>,
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn file_hash(path: &std::path::Path) -> Option<u64> {
    std::fs::read(path).ok().map(|b| xxh3_64(&b))
}

impl Reloader {
    pub fn new(
        path: Option<PathBuf>,
        cfg: Config,
        shard: Shard,
        runtime: Arc<RuntimeInfo>,
        reconciler: Arc<Reconciler>,
    ) -> Self {
        let last_hash = path.as_deref().and_then(file_hash);
        Reloader {
            path,
            shard,
            discovered: Discovered::new(),
            cfg,
            runtime,
            reconciler,
            last_hash,
            sps: None,
        }
    }

    /// Reloads also apply the `[[sps]]` tables through `sps`.
    pub fn with_sps(mut self, sps: Arc<super::sps::SpsSupervisor>) -> Self {
        self.sps = Some(sps);
        self
    }

    /// Discovery found `engines` on `smc`: re-plan with them.
    pub async fn discovered(&mut self, smc: String, engines: Vec<String>) -> Result<(), String> {
        self.discovered.insert(smc, engines);
        let p = plan(&self.cfg, &self.discovered, self.shard);
        self.reconciler
            .apply(p)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Re-read and apply the config. `Err`: the one line saying why it was
    /// refused (logged, and `..._last_reload_successful` is 0).
    pub async fn reload(&mut self, why: &str) -> Result<(), String> {
        let Some(path) = self.path.clone() else {
            return Err("this exporter was not started from a configuration file".into());
        };
        crate::notify::reloading();
        let hash = file_hash(&path);
        let result = match crate::config::load(&path) {
            Err(e) => Err(e.to_string()),
            Ok(cfg) => {
                for w in &cfg.warnings {
                    tracing::warn!("{w}");
                }
                if cfg.listen_address != self.cfg.listen_address {
                    tracing::warn!(
                        "listen_address changed to {}: it takes effect at the next start",
                        cfg.listen_address
                    );
                }
                // A bad SPS state file refuses the reload before the SMC side changes.
                let sps = match &self.sps {
                    Some(sps) => sps.apply(&cfg.sps).await,
                    None => Ok(()),
                };
                match sps {
                    Err(line) => Err(line),
                    Ok(()) => {
                        let p = plan(&cfg, &self.discovered, self.shard);
                        let applied = self.reconciler.apply(p).await;
                        applied.map(|_| self.cfg = cfg).map_err(|e| e.to_string())
                    }
                }
            }
        };
        match &result {
            Ok(()) => {
                self.last_hash = hash;
                self.runtime.reload_succeeded(unix_ms());
                tracing::info!(trigger = why, "configuration reloaded");
                crate::notify::ready("configuration reloaded");
            }
            Err(line) => {
                self.runtime.reload_failed();
                crate::notify::ready(&format!(
                    "reload refused, running the previous configuration: {line}"
                ));
                tracing::error!(
                    trigger = why,
                    "configuration reload failed; still running the previous configuration: {line}"
                );
            }
        }
        result
    }

    /// Whether the file's content differs from the last load attempt.
    fn file_changed(&self) -> bool {
        self.path.as_deref().and_then(file_hash) != self.last_hash
    }

    /// Serve reload requests until `shutdown`; with `auto`, also reload
    /// when the file's content changed (checked every `auto`).
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<ReloadRequest>,
        mut discoveries: mpsc::Receiver<Discovery>,
        auto: Option<Duration>,
        shutdown: CancellationToken,
    ) {
        let mut tick = auto.map(|d| {
            let mut i = tokio::time::interval(d);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                // Without a config file nothing sends requests (the sender
                // is dropped at start); discoveries are served all the same.
                Some(answer) = requests.recv() => {
                    let r = self.reload("request").await;
                    let _ = answer.send(r);
                },
                Some(d) = discoveries.recv() => {
                    let r = self.discovered(d.smc, d.engines).await;
                    let _ = d.done.send(r);
                }
                _ = next_tick(&mut tick) => {
                    // A file that failed once is not retried until it changes again.
                    if self.file_changed() {
                        let _ = self.reload("auto-reload").await;
                        self.last_hash = self.path.as_deref().and_then(file_hash);
                    }
                }
            }
        }
    }
}

async fn next_tick(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// A reload channel: the sender for the store, the receiver for [`Reloader::run`].
pub fn channel() -> (mpsc::Sender<ReloadRequest>, mpsc::Receiver<ReloadRequest>) {
    mpsc::channel(QUEUE)
}
