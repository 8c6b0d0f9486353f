//! Reloads: SIGHUP, `POST /-/reload` and the optional auto-reload all end
//! here, one at a time (one task reads the requests). A reload re-reads the
//! config file and the key files; a config that fails validation changes
//! nothing and is reported as its one-line `key.path: reason`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::xxh3_64;

use crate::app::plan::{Discovered, plan};
use crate::app::reconcile::Reconciler;
use crate::app::shard::Shard;
use crate::state::{ReloadRequest, RuntimeInfo};

/// Requests queued beyond the one running are refused as busy.
pub const QUEUE: usize = 8;

/// What a reload needs besides the reconciler.
#[derive(Debug)]
pub struct Reloader {
    pub path: PathBuf,
    pub shard: Shard,
    pub discovered: Discovered,
    pub runtime: Arc<RuntimeInfo>,
    pub reconciler: Arc<Reconciler>,
    /// xxh3 of the config file's content at the last successful load.
    last_hash: Option<u64>,
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
        path: PathBuf,
        shard: Shard,
        runtime: Arc<RuntimeInfo>,
        reconciler: Arc<Reconciler>,
    ) -> Self {
        let last_hash = file_hash(&path);
        Reloader {
            path,
            shard,
            discovered: Discovered::new(),
            runtime,
            reconciler,
            last_hash,
        }
    }

    /// Re-read and apply the config. `Err`: the one line saying why it was
    /// refused (logged, and `..._last_reload_successful` is 0).
    pub async fn reload(&mut self, why: &str) -> Result<(), String> {
        let hash = file_hash(&self.path);
        let result = match crate::config::load(&self.path) {
            Err(e) => Err(e.to_string()),
            Ok(cfg) => {
                for w in &cfg.warnings {
                    tracing::warn!("{w}");
                }
                let p = plan(&cfg, &self.discovered, self.shard);
                self.reconciler
                    .apply(p)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        };
        match &result {
            Ok(()) => {
                self.last_hash = hash;
                self.runtime.reload_succeeded(unix_ms());
                tracing::info!(trigger = why, "configuration reloaded");
            }
            Err(line) => {
                self.runtime.reload_failed();
                tracing::error!(
                    trigger = why,
                    "configuration reload failed; still running the previous configuration: {line}"
                );
            }
        }
        result
    }

    /// Whether the file's content differs from the last successful load.
    fn file_changed(&self) -> bool {
        file_hash(&self.path) != self.last_hash
    }

    /// Serve reload requests until `shutdown`; with `auto`, also reload
    /// when the file's content changed (checked every `auto`).
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<ReloadRequest>,
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
                req = requests.recv() => match req {
                    Some(answer) => {
                        let r = self.reload("request").await;
                        let _ = answer.send(r);
                    }
                    None => return,
                },
                _ = next_tick(&mut tick) => {
                    // A file that failed once is not retried until it changes again.
                    if self.file_changed() {
                        let _ = self.reload("auto-reload").await;
                        self.last_hash = file_hash(&self.path);
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
