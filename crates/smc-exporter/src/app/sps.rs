//! The SPS supervisor: one poller task per `[[sps]]`, beside the SMC
//! reconciler and without touching it. [`SpsSupervisor::apply`] is called
//! at start and by every reload: it keeps unchanged pollers, stops removed
//! ones, starts new ones and restarts changed ones, then hands the states
//! to the [`LiveStore`]. A changed table with the same name and url keeps
//! its counters (the ledger of its last cycle); a new url starts afresh
//! (another appliance's clock and sessions) unless a state file says
//! otherwise.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::SpsConfig;
use crate::sps::ledger::Ledger;
use crate::sps::poll::Poller;
use crate::state::LiveStore;
use crate::state::sps::SpsState;

/// How long a stopped poller may take to end before its successor starts.
const STOP_GRACE: Duration = Duration::from_secs(1);

struct Running {
    cfg: SpsConfig,
    state: Arc<SpsState>,
    stop: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

pub struct SpsSupervisor {
    live: Arc<LiveStore>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    running: Mutex<BTreeMap<String, Running>>,
}

impl std::fmt::Debug for SpsSupervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpsSupervisor").finish_non_exhaustive()
    }
}

impl SpsSupervisor {
    pub fn new(live: Arc<LiveStore>, tasks: TaskTracker, shutdown: CancellationToken) -> Self {
        SpsSupervisor {
            live,
            tasks,
            shutdown,
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// Run exactly the pollers of `cfgs`. `Err`: one line (a state file
    /// that cannot be read); then nothing was changed.
    pub async fn apply(&self, cfgs: &[SpsConfig]) -> Result<(), String> {
        let mut running = self.running.lock().await;
        // Read every new state file first: a bad one refuses the whole set.
        let mut restored: BTreeMap<String, Option<Ledger>> = BTreeMap::new();
        for c in cfgs {
            let unchanged = running.get(&c.name).is_some_and(|r| r.cfg.same_poller(c));
            if unchanged {
                continue;
            }
            let l = match &c.state_file {
                Some(p) => crate::sps::persist::load(p, &c.name)
                    .map_err(|e| format!("sps {:?}: {e}", c.name))?,
                None => None,
            };
            restored.insert(c.name.clone(), l);
        }
        let mut next = BTreeMap::new();
        for c in cfgs {
            let old = running.remove(&c.name);
            let r = match (old, restored.remove(&c.name)) {
                (Some(old), None) => old,
                (old, Some(file)) => self.restart(c, old, file).await?,
                (None, None) => return Err(format!("sps {:?}: internal error", c.name)),
            };
            next.insert(c.name.clone(), r);
        }
        for (_, r) in std::mem::take(&mut *running) {
            stop(r).await;
        }
        *running = next;
        let states = cfgs
            .iter()
            .filter_map(|c| running.get(&c.name).map(|r| r.state.clone()))
            .collect();
        self.live.set_sps(states);
        Ok(())
    }

    async fn restart(
        &self,
        cfg: &SpsConfig,
        old: Option<Running>,
        file: Option<Ledger>,
    ) -> Result<Running, String> {
        let (state, ledger) = match old {
            Some(old) if old.cfg.url == cfg.url => {
                let state = old.state.clone();
                stop(old).await;
                let carried = state.view().ledger.clone();
                (state, file.unwrap_or(carried))
            }
            old => {
                if let Some(old) = old {
                    stop(old).await;
                }
                (Arc::new(SpsState::new(&cfg.name)), file.unwrap_or_default())
            }
        };
        let poller = Poller::new(cfg.clone(), state.clone(), ledger)
            .map_err(|e| format!("sps {:?}: {e}", cfg.name))?;
        let stop = self.shutdown.child_token();
        let done = self.tasks.spawn(poller.run(stop.clone()));
        tracing::info!(sps = %cfg.name, url = %cfg.url, "SPS poller started");
        Ok(Running {
            cfg: cfg.clone(),
            state,
            stop,
            done,
        })
    }
}

async fn stop(r: Running) {
    r.stop.cancel();
    if tokio::time::timeout(STOP_GRACE, r.done).await.is_err() {
        tracing::warn!(sps = %r.cfg.name, "SPS poller did not stop in time");
    }
}
