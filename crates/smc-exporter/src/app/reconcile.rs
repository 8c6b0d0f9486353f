//! The reconciler: the one place that turns a change of [`Plan`] into
//! started, restarted and cancelled tasks, and a new [`Store`] swapped in
//! whole.
//!
//! - Unchanged keys keep their task, socket, table and counters.
//! - Removed keys are cancelled (abort, close) and leave the store at once,
//!   so the next scrape no longer shows them.
//! - Added keys start with a fresh state.
//! - A changed key (a new `group_by`, a new series limit) starts its
//!   successor beside it: a new state (sharing the key's counters) on a task
//!   of its own. The old state keeps being served until the successor's
//!   first snapshot completes; then the successor is swapped in and the old
//!   task cancelled (no dip).
//! - An SMC whose connection changed (url, key, TLS, domain, API version,
//!   `[subscription]` timing) gets a new session: its subscriptions with an
//!   unchanged plan are restarted on it with the same state once their old
//!   task has closed (their last snapshot stays served until the new one
//!   completes); the old session is logged out after all its tasks ended.
//!
//! - Every SMC also runs its engine poll (`smc::engine_poll`: the engine
//!   listing and node health, every `discovery_interval`) on its session;
//!   each listing goes to the reload task as a discovery, which re-plans the
//!   SMCs without `engines` (the others ignore it). The poll's state lives
//!   as long as the SMC is in the plan, across session changes.
//!
//! Applies are serialized by one lock; every store swap happens under it.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use smc_fold::SeriesBudget;
use smc_protocol::Definition;

use crate::app::plan::{Diff, Plan, SubKey, SubPlan};
use crate::app::reload::Discovery;
use crate::app::{AppError, CLOSE_GRACE};
use crate::config::LogStreamConfig;
use crate::labels::StateFamily;
use crate::smc::engine_poll;
use crate::smc::log_stream;
use crate::smc::notify;
use crate::smc::session::SmcSession;
use crate::smc::subscription::{self, SubscriptionSpec};
use crate::state::engines::EngineState;
use crate::state::log_stream::{LogBudgets, LogStreamState};
use crate::state::notify::NotifyState;
use crate::state::{LiveStore, RuntimeInfo, SmcState, Store, SubscriptionState};

/// One running subscription task.
#[derive(Debug)]
struct Task {
    state: Arc<SubscriptionState>,
    token: CancellationToken,
    handle: JoinHandle<()>,
}

/// A key's served task, and its successor while that one syncs.
#[derive(Debug)]
struct RunningSub {
    served: Task,
    pending: Option<Task>,
}

impl RunningSub {
    fn cancel(&self) {
        self.served.token.cancel();
        if let Some(p) = &self.pending {
            p.token.cancel();
        }
    }
}

/// One SMC's session and the tracker of the tasks that use it.
#[derive(Debug)]
struct RunningSmc {
    session: Arc<SmcSession>,
    /// Every subscription task on `session`, and its engine poll: its
    /// logout waits for them.
    users: TaskTracker,
    /// What the engine poll found (kept across session changes).
    engines: Arc<EngineState>,
    /// Stops the engine poll (and, its child, the notification socket).
    poll: CancellationToken,
    /// The notification socket, when the SMC has `notify`.
    notify: Option<RunningNotify>,
    /// One task per `[[smc.log_stream]]`, in config order.
    logs: Vec<RunningLog>,
}

/// One log stream's task.
#[derive(Debug)]
struct RunningLog {
    state: Arc<LogStreamState>,
    token: CancellationToken,
}

/// What a new session of an SMC takes over from the old one: the engine
/// poll's state and the counters of its notification socket and log
/// streams.
#[derive(Debug)]
struct Carried {
    engines: Arc<EngineState>,
    notify: Option<Arc<NotifyState>>,
    logs: Vec<Arc<LogStreamState>>,
}

impl Carried {
    fn fresh(name: &Arc<str>) -> Self {
        Carried {
            engines: Arc::new(EngineState::new(name.clone())),
            notify: None,
            logs: Vec::new(),
        }
    }
}

/// Where a log stream's task runs: its SMC's session and task tracker, the
/// parent of its token, the SMC's engine listing (node → engine) and the
/// log families' budgets.
struct LogHome<'a> {
    session: &'a Arc<SmcSession>,
    users: &'a TaskTracker,
    parent: &'a CancellationToken,
    engines: &'a Arc<EngineState>,
    budgets: &'a LogBudgets,
}

/// Start one log stream on `home`, counting into `state`.
fn start_log(plan: &Plan, home: &LogHome<'_>, state: Arc<LogStreamState>) -> RunningLog {
    let token = home.parent.child_token();
    home.users.spawn(log_stream::run(
        home.session.clone(),
        state.clone(),
        plan.subscription.clone(),
        token.clone(),
    ));
    RunningLog { state, token }
}

/// The log streams `wanted` on `home`: a state of `reuse` whose config is
/// the same keeps counting, the others start at zero.
fn start_logs(
    plan: &Plan,
    name: &Arc<str>,
    home: &LogHome<'_>,
    wanted: &[LogStreamConfig],
    mut reuse: Vec<Arc<LogStreamState>>,
) -> Vec<RunningLog> {
    wanted
        .iter()
        .map(|w| {
            let state = match reuse.iter().position(|s| s.config == *w) {
                Some(i) => reuse.swap_remove(i),
                None => Arc::new(LogStreamState::new(
                    name.clone(),
                    w.clone(),
                    Some(home.engines.clone()),
                    home.budgets.clone(),
                )),
            };
            start_log(plan, home, state)
        })
        .collect()
}

/// One SMC's notification socket task.
#[derive(Debug)]
struct RunningNotify {
    state: Arc<NotifyState>,
    token: CancellationToken,
}

/// Start `session`'s notification socket for the `notify` types of its
/// SMC in `plan`, if any, counting into `carried` when it counts the same
/// types (a new session keeps the counters).
fn start_notify(
    plan: &Plan,
    name: &Arc<str>,
    session: &Arc<SmcSession>,
    users: &TaskTracker,
    parent: &CancellationToken,
    carried: Option<Arc<NotifyState>>,
) -> Option<RunningNotify> {
    let types = &plan.smcs.get(name)?.notify;
    if types.is_empty() {
        return None;
    }
    let state = carried
        .filter(|s| s.configured() == types.as_slice())
        .unwrap_or_else(|| Arc::new(NotifyState::new(name.clone(), types)));
    let token = parent.child_token();
    users.spawn(notify::run(
        session.clone(),
        state.clone(),
        plan.subscription.clone(),
        token.clone(),
    ));
    Some(RunningNotify { state, token })
}

#[derive(Debug)]
struct Running {
    plan: Plan,
    smcs: BTreeMap<Arc<str>, RunningSmc>,
    subs: BTreeMap<SubKey, RunningSub>,
    /// One budget per state family, in `Definition::ALL` order.
    budgets: Vec<Arc<SeriesBudget>>,
    /// The budgets of the log families.
    log_budgets: LogBudgets,
}

/// Applies plans; see the module documentation.
#[derive(Debug)]
pub struct Reconciler {
    running: tokio::sync::Mutex<Running>,
    live: Arc<LiveStore>,
    runtime: Arc<RuntimeInfo>,
    shutdown: CancellationToken,
    /// Where the engine polls' listings go (the reload task).
    discovery: tokio::sync::mpsc::Sender<Discovery>,
    /// Every subscription task and successor watch.
    tasks: TaskTracker,
    /// Logouts of replaced or removed sessions.
    retired: TaskTracker,
}

fn budgets_for(max: usize) -> Vec<Arc<SeriesBudget>> {
    Definition::ALL
        .iter()
        .map(|_| Arc::new(SeriesBudget::new(max)))
        .collect()
}

fn log_budgets_for(max: usize) -> LogBudgets {
    LogBudgets {
        records: Arc::new(SeriesBudget::new(max)),
        rule_hits: Arc::new(SeriesBudget::new(max)),
    }
}

fn new_session(
    plan: &Plan,
    name: &Arc<str>,
    state: Arc<SmcState>,
) -> Result<Arc<SmcSession>, AppError> {
    let cfg = plan
        .smcs
        .get(name)
        .ok_or_else(|| AppError::Internal(format!("smc {name:?} is not in the plan")))?;
    SmcSession::new(cfg, state, &plan.subscription)
        .map(Arc::new)
        .map_err(|source| AppError::Session {
            smc: cfg.name.clone(),
            source,
        })
}

/// One SMC's session with its engine poll started: the poll lists the
/// SMC's engines and node health every `discovery_interval` and hands each
/// listing to the reload task (`discovery`), tracked with the session's
/// users so its logout waits for it.
fn running_smc(
    plan: &Plan,
    name: &Arc<str>,
    session: Arc<SmcSession>,
    carried: Carried,
    (shutdown, discovery, log_budgets): (
        &CancellationToken,
        &tokio::sync::mpsc::Sender<Discovery>,
        &LogBudgets,
    ),
) -> RunningSmc {
    let engines = carried.engines;
    let users = TaskTracker::new();
    let poll = shutdown.child_token();
    let interval = plan
        .smcs
        .get(name)
        .map_or(std::time::Duration::from_secs(300), |c| {
            c.discovery_interval
        });
    let (tx, smc) = (discovery.clone(), name.to_string());
    let on_listed = move |snapshot: &Arc<crate::state::engines::EngineSnapshot>| {
        let (done, _) = tokio::sync::oneshot::channel();
        let d = Discovery {
            smc: smc.clone(),
            engines: snapshot.names(),
            done,
        };
        // Full: reloads are queued; the next listing says the same.
        let _ = tx.try_send(d);
    };
    let fut = engine_poll::run(
        session.clone(),
        engines.clone(),
        interval,
        plan.subscription.backoff_initial,
        poll.clone(),
        on_listed,
    );
    users.spawn(fut);
    let notify = start_notify(plan, name, &session, &users, &poll, carried.notify);
    let home = LogHome {
        session: &session,
        users: &users,
        parent: &poll,
        engines: &engines,
        budgets: log_budgets,
    };
    let wanted = plan.smcs.get(name).map_or(&[][..], |c| &c.log_streams[..]);
    let logs = start_logs(plan, name, &home, wanted, carried.logs);
    RunningSmc {
        session,
        users,
        engines,
        poll,
        notify,
        logs,
    }
}

/// The engines `plan` subscribes on SMC `smc` (their node health is served).
fn planned_engines(plan: &Plan, smc: &str) -> std::collections::BTreeSet<String> {
    plan.subs
        .keys()
        .filter(|k| &*k.smc == smc && k.definition != Definition::ActiveAlerts)
        .map(|k| k.target.to_string())
        .collect()
}

fn sub_state(key: &SubKey, sp: &SubPlan) -> Arc<SubscriptionState> {
    Arc::new(SubscriptionState::new(
        key.smc.clone(),
        key.target.clone(),
        key.definition,
        labels_of(sp),
    ))
}

fn labels_of(sp: &SubPlan) -> Arc<[&'static str]> {
    sp.group_fields.iter().map(|g| g.label).collect()
}

impl Reconciler {
    /// Start `plan`: its sessions and subscriptions, and the store.
    pub fn start(
        plan: Plan,
        live: Arc<LiveStore>,
        runtime: Arc<RuntimeInfo>,
        shutdown: CancellationToken,
        discovery: tokio::sync::mpsc::Sender<Discovery>,
    ) -> Result<Arc<Reconciler>, AppError> {
        let mut sessions = Vec::new();
        for name in &plan.smc_order {
            let state = Arc::new(SmcState::new(name.clone()));
            sessions.push((name.clone(), new_session(&plan, name, state)?));
        }
        let mut smcs = BTreeMap::new();
        let log_budgets = log_budgets_for(plan.max_series_per_family);
        for (name, session) in sessions {
            let carried = Carried::fresh(&name);
            let homes = (&shutdown, &discovery, &log_budgets);
            let smc = running_smc(&plan, &name, session, carried, homes);
            smcs.insert(name, smc);
        }
        let budgets = budgets_for(plan.max_series_per_family);
        let r = Arc::new(Reconciler {
            running: tokio::sync::Mutex::new(Running {
                plan: plan.clone(),
                smcs,
                subs: BTreeMap::new(),
                budgets,
                log_budgets,
            }),
            live,
            runtime,
            shutdown,
            discovery,
            tasks: TaskTracker::new(),
            retired: TaskTracker::new(),
        });
        // Nothing else holds the lock yet.
        let mut running = r
            .running
            .try_lock()
            .map_err(|_| AppError::Internal("reconciler busy at start".into()))?;
        for key in &plan.order {
            if let Some(sp) = plan.subs.get(key) {
                let task = r.spawn(&running, key, sub_state(key, sp), sp)?;
                running.subs.insert(
                    key.clone(),
                    RunningSub {
                        served: task,
                        pending: None,
                    },
                );
            }
        }
        r.publish(&running);
        drop(running);
        Ok(r)
    }

    /// The sessions now in use (for the logout at shutdown).
    pub async fn sessions(&self) -> Vec<Arc<SmcSession>> {
        let running = self.running.lock().await;
        running.smcs.values().map(|s| s.session.clone()).collect()
    }

    /// Every task this reconciler started (subscriptions, successor watches).
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Logouts of sessions replaced or removed by a reload.
    pub fn retired(&self) -> &TaskTracker {
        &self.retired
    }

    /// Turn the running plan into `new`. On `Err` (a new session could not
    /// be built, e.g. an unreadable CA file) nothing changed.
    pub async fn apply(self: &Arc<Self>, new: Plan) -> Result<Diff, AppError> {
        let mut running = self.running.lock().await;
        let diff = Plan::diff(&running.plan, &new);
        if diff.is_empty() {
            running.plan = new;
            // `notify` and the log streams are not part of the diff: their
            // sockets are the SMC's.
            Self::sync_notify(&mut running);
            Self::sync_logs(&mut running);
            self.publish(&running);
            return Ok(diff);
        }
        // Everything that can fail, before anything changes.
        let mut sessions = BTreeMap::new();
        for name in diff.sessions.to_add.iter().chain(&diff.sessions.to_change) {
            let state = running
                .smcs
                .get(name)
                .map(|s| s.session.state.clone())
                .unwrap_or_else(|| Arc::new(SmcState::new(name.clone())));
            sessions.insert(name.clone(), new_session(&new, name, state)?);
        }
        let old_plan = std::mem::replace(&mut running.plan, new);
        if old_plan.max_series_per_family != running.plan.max_series_per_family {
            Self::renew_budgets(&mut running);
        }
        for key in &diff.subscriptions.to_remove {
            if let Some(sub) = running.subs.remove(key) {
                sub.cancel();
            }
        }
        let mut stopped = self.replace_sessions(&mut running, &diff, sessions).await;
        Self::sync_notify(&mut running);
        Self::sync_logs(&mut running);
        for key in &diff.subscriptions.to_change {
            self.change(&mut running, key, &old_plan, &mut stopped)?;
        }
        for key in &diff.subscriptions.to_add {
            if let Some(sp) = running.plan.subs.get(key).cloned() {
                let task = self.spawn(&running, key, sub_state(key, &sp), &sp)?;
                running.subs.insert(
                    key.clone(),
                    RunningSub {
                        served: task,
                        pending: None,
                    },
                );
            }
        }
        self.publish(&running);
        tracing::info!(
            added = diff.subscriptions.to_add.len(),
            changed = diff.subscriptions.to_change.len(),
            removed = diff.subscriptions.to_remove.len(),
            new_sessions = diff.sessions.to_add.len() + diff.sessions.to_change.len(),
            closed_sessions = diff.sessions.to_remove.len(),
            "plan applied"
        );
        Ok(diff)
    }

    /// Swap in the new sessions; retire the old and removed ones (logged
    /// out once their tasks ended). Every subscription of a changed session
    /// is stopped here (and waited for, bounded): the returned states are
    /// to be restarted on the new session.
    async fn replace_sessions(
        &self,
        running: &mut Running,
        diff: &Diff,
        mut sessions: BTreeMap<Arc<str>, Arc<SmcSession>>,
    ) -> BTreeMap<SubKey, Arc<SubscriptionState>> {
        for name in &diff.sessions.to_remove {
            if let Some(old) = running.smcs.remove(name) {
                self.retire(old);
            }
        }
        let mut stopped = BTreeMap::new();
        let mut closing = Vec::new();
        for name in &diff.sessions.to_change {
            let keys: Vec<SubKey> = running
                .subs
                .keys()
                .filter(|k| k.smc == *name)
                .cloned()
                .collect();
            for key in keys {
                if let Some(sub) = running.subs.remove(&key) {
                    sub.cancel();
                    closing.push(sub.served.handle);
                    closing.extend(sub.pending.map(|p| p.handle));
                    stopped.insert(key, sub.served.state);
                }
            }
            if let (Some(session), Some(old)) = (sessions.remove(name), running.smcs.remove(name)) {
                let carried = Carried {
                    engines: old.engines.clone(),
                    notify: old.notify.as_ref().map(|n| n.state.clone()),
                    logs: old.logs.iter().map(|l| l.state.clone()).collect(),
                };
                let smc = self.running_smc(running, name, session, carried);
                running.smcs.insert(name.clone(), smc);
                self.retire(old);
            }
        }
        for name in &diff.sessions.to_add {
            if let Some(session) = sessions.remove(name) {
                let smc = self.running_smc(running, name, session, Carried::fresh(name));
                running.smcs.insert(name.clone(), smc);
            }
        }
        // A restarted task shares its state with the old one: wait for that
        // one to close first (bounded like shutdown).
        let closed = futures_util::future::join_all(closing);
        if tokio::time::timeout(CLOSE_GRACE, closed).await.is_err() {
            tracing::warn!("some subscriptions did not close in time; restarting them anyway");
        }
        stopped
    }

    /// Log out a session once every task that used it has ended.
    fn running_smc(
        &self,
        running: &Running,
        name: &Arc<str>,
        session: Arc<SmcSession>,
        carried: Carried,
    ) -> RunningSmc {
        let homes = (&self.shutdown, &self.discovery, &running.log_budgets);
        running_smc(&running.plan, name, session, carried, homes)
    }

    /// An SMC whose session stays but whose `notify` types changed gets a
    /// new notification socket (its counters start again: other types are
    /// other series).
    fn sync_notify(running: &mut Running) {
        let plan = &running.plan;
        for (name, smc) in running.smcs.iter_mut() {
            let wanted: &[String] = plan.smcs.get(name).map_or(&[], |c| c.notify.as_slice());
            let current: &[String] = smc.notify.as_ref().map_or(&[], |n| n.state.configured());
            if wanted == current {
                continue;
            }
            if let Some(old) = smc.notify.take() {
                old.token.cancel();
            }
            smc.notify = start_notify(plan, name, &smc.session, &smc.users, &smc.poll, None);
        }
    }

    /// New series budgets for a new `max_series_per_family`: the state
    /// families' (each subscription takes its own when it restarts) and the
    /// log families' (the log streams stop here; `sync_logs` starts them
    /// again on the new budgets).
    fn renew_budgets(running: &mut Running) {
        running.budgets = budgets_for(running.plan.max_series_per_family);
        running.log_budgets = log_budgets_for(running.plan.max_series_per_family);
        for smc in running.smcs.values_mut() {
            for l in smc.logs.drain(..) {
                l.token.cancel();
            }
        }
    }

    /// An SMC whose session stays gets the log streams its config now
    /// names: an unchanged stream keeps its task and counters, a new or
    /// changed one starts at zero, a removed one stops.
    fn sync_logs(running: &mut Running) {
        let plan = &running.plan;
        for (name, smc) in running.smcs.iter_mut() {
            let wanted = plan.smcs.get(name).map_or(&[][..], |c| &c.log_streams[..]);
            let mut old = std::mem::take(&mut smc.logs);
            let home = LogHome {
                session: &smc.session,
                users: &smc.users,
                parent: &smc.poll,
                engines: &smc.engines,
                budgets: &running.log_budgets,
            };
            let mut next = Vec::with_capacity(wanted.len());
            for w in wanted {
                match old.iter().position(|r| r.state.config == *w) {
                    Some(i) => next.push(old.swap_remove(i)),
                    None => {
                        let state = Arc::new(LogStreamState::new(
                            name.clone(),
                            w.clone(),
                            Some(smc.engines.clone()),
                            running.log_budgets.clone(),
                        ));
                        next.push(start_log(plan, &home, state));
                    }
                }
            }
            for o in old {
                o.token.cancel();
            }
            smc.logs = next;
        }
    }

    fn retire(&self, old: RunningSmc) {
        old.poll.cancel();
        old.users.close();
        self.retired.spawn(async move {
            if tokio::time::timeout(CLOSE_GRACE, old.users.wait()).await.is_err() {
                tracing::warn!(smc = %old.session.state.name, "some subscriptions did not close in time; logging out anyway");
            }
            old.session.logout().await;
        });
    }

    /// A key in `to_change`. Stopped with its session (in `stopped`): it
    /// restarts on the new session with its state if its plan is the same,
    /// else with its successor's, served at once. Otherwise its successor
    /// starts beside it and is swapped in when its snapshot completes.
    fn change(
        self: &Arc<Self>,
        running: &mut Running,
        key: &SubKey,
        old_plan: &Plan,
        stopped: &mut BTreeMap<SubKey, Arc<SubscriptionState>>,
    ) -> Result<(), AppError> {
        let Some(sp) = running.plan.subs.get(key).cloned() else {
            return Ok(());
        };
        let same_plan = old_plan.subs.get(key) == Some(&sp);
        if let Some(state) = stopped.remove(key) {
            let state = if same_plan {
                state
            } else {
                Arc::new(state.successor(labels_of(&sp)))
            };
            let task = self.spawn(running, key, state, &sp)?;
            running.subs.insert(
                key.clone(),
                RunningSub {
                    served: task,
                    pending: None,
                },
            );
            return Ok(());
        }
        let Some(served) = running.subs.get(key).map(|s| s.served.state.clone()) else {
            let task = self.spawn(running, key, sub_state(key, &sp), &sp)?;
            running.subs.insert(
                key.clone(),
                RunningSub {
                    served: task,
                    pending: None,
                },
            );
            return Ok(());
        };
        let successor = Arc::new(served.successor(labels_of(&sp)));
        let task = self.spawn(running, key, successor.clone(), &sp)?;
        let watch = task.token.clone();
        if let Some(sub) = running.subs.get_mut(key) {
            if let Some(p) = sub.pending.replace(task) {
                p.token.cancel();
            }
        }
        let me = Arc::clone(self);
        let key = key.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = successor.health.wait_ready() => me.promote(&key, &successor).await,
                _ = watch.cancelled() => {}
            }
        });
        Ok(())
    }

    /// The successor `state` of `key` completed its snapshot: serve it and
    /// cancel the task it replaces (unless a later apply replaced it).
    async fn promote(&self, key: &SubKey, state: &Arc<SubscriptionState>) {
        let mut running = self.running.lock().await;
        let Some(sub) = running.subs.get_mut(key) else {
            return;
        };
        if !sub
            .pending
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(&p.state, state))
        {
            return;
        }
        if let Some(p) = sub.pending.take() {
            let old = std::mem::replace(&mut sub.served, p);
            old.token.cancel();
        }
        self.publish(&running);
    }

    /// Start the task of `key` on its SMC's current session.
    fn spawn(
        &self,
        running: &Running,
        key: &SubKey,
        state: Arc<SubscriptionState>,
        sp: &SubPlan,
    ) -> Result<Task, AppError> {
        let smc = running
            .smcs
            .get(&key.smc)
            .ok_or_else(|| AppError::Internal(format!("no session for smc {:?}", key.smc)))?;
        let budget = running
            .budgets
            .get(key.definition.index())
            .cloned()
            .ok_or_else(|| AppError::Internal("no series budget".into()))?;
        // Every (re)start applies the plan's staleness limit (a reload may
        // change it for states that carry on).
        state.set_max_staleness(running.plan.subscription.state_max_staleness);
        let token = self.shutdown.child_token();
        let spec = SubscriptionSpec {
            state: state.clone(),
            group_fields: sp.group_fields.clone(),
            filter: sp.filter.clone(),
            budget,
        };
        let fut = subscription::run(
            smc.session.clone(),
            spec,
            running.plan.subscription.clone(),
            token.clone(),
        );
        let handle = self.tasks.spawn(smc.users.track_future(fut));
        Ok(Task {
            state,
            token,
            handle,
        })
    }

    /// Build the store of what is served now and swap it in.
    fn publish(&self, running: &Running) {
        let smcs = running
            .plan
            .smc_order
            .iter()
            .filter_map(|n| running.smcs.get(n))
            .map(|s| s.session.state.clone())
            .collect();
        let subscriptions = running
            .plan
            .order
            .iter()
            .filter_map(|k| running.subs.get(k))
            .map(|s| s.served.state.clone())
            .collect();
        let budgets = Definition::ALL
            .iter()
            .map(|d| d.family())
            .zip(running.budgets.iter().cloned())
            .collect();
        self.live.swap(Store {
            smcs,
            subscriptions,
            budgets,
            runtime: Some(self.runtime.clone()),
            engines: running
                .plan
                .smc_order
                .iter()
                .filter_map(|n| running.smcs.get(n))
                .map(|s| {
                    s.engines
                        .set_served(planned_engines(&running.plan, &s.engines.smc));
                    s.engines.clone()
                })
                .collect(),
            notifications: running
                .plan
                .smc_order
                .iter()
                .filter_map(|n| running.smcs.get(n)?.notify.as_ref())
                .map(|n| n.state.clone())
                .collect(),
            log_streams: running
                .plan
                .smc_order
                .iter()
                .filter_map(|n| running.smcs.get(n))
                .flat_map(|s| s.logs.iter().map(|l| l.state.clone()))
                .collect(),
            log_budgets: Some(running.log_budgets.clone()),
        });
    }
}
