//! One engine poll of one SMC over its session: the listing, then each
//! engine's nodes and each node's status ([`super::rest::engines`]), folded
//! into an [`EngineSnapshot`] that is published whole, and counted by
//! [`DiscoveryResult`].
//!
//! A 401/403 anywhere means the session ended: it is invalidated (and
//! logged out) through the session, which logs in again, and the poll is
//! retried once; a second refusal is the run's result. A failed listing
//! keeps the previous snapshot. An engine or node that could not be read
//! (other than a 404, which means it just went away) is published with its
//! health unknown and makes the run `partial`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::discovery::DiscoverySchedule;

use super::rest::engines::{EngineRestError, ListedEngine};
use super::session::{Credentials, SessionError, SmcSession};
use crate::state::engines::{
    DiscoveryResult, EngineInfo, EngineSnapshot, EngineState, NodeHealth, NodeInfo,
};

/// Engine elements fetched at once.
const CONCURRENCY: usize = 4;

/// Why a poll produced no listing.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("no session: {0}")]
    Login(#[from] SessionError),
    #[error(transparent)]
    Rest(#[from] EngineRestError),
}

impl PollError {
    /// The run's result label.
    pub fn result(&self) -> DiscoveryResult {
        match self {
            PollError::Login(_) => DiscoveryResult::LoginFailed,
            PollError::Rest(e) => match e {
                EngineRestError::Refused { .. } => DiscoveryResult::Unauthorized,
                EngineRestError::Rest(SessionError::Request { .. }) => DiscoveryResult::Unreachable,
                EngineRestError::Rest(SessionError::BodyTooLarge { .. })
                | EngineRestError::Body { .. }
                | EngineRestError::BadHref { .. }
                | EngineRestError::TooMany { .. } => DiscoveryResult::BadAnswer,
                _ => DiscoveryResult::HttpError,
            },
        }
    }
}

/// A listing read, and whether some engine or node could not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled {
    pub snapshot: EngineSnapshot,
    pub partial: bool,
}

/// Poll `session`'s engines until `cancel`: at once, then on a
/// [`DiscoverySchedule`] of `interval` (retries from `retry_initial`).
/// After each poll that listed engines, `on_listed` gets the published
/// snapshot (where a reconciler learns the engines).
pub async fn run(
    session: Arc<SmcSession>,
    state: Arc<EngineState>,
    interval: Duration,
    retry_initial: Duration,
    cancel: CancellationToken,
    mut on_listed: impl FnMut(&Arc<EngineSnapshot>) + Send,
) {
    let mut schedule = DiscoverySchedule::new(Instant::now(), interval, retry_initial);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(schedule.next()) => {}
        }
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = poll_once(&session, &state) => r,
        };
        let r: f64 = rand::random();
        if result.listed() {
            schedule.succeeded(Instant::now(), r);
            if let Some(s) = state.snapshot() {
                on_listed(&s);
            }
        } else {
            schedule.failed(Instant::now(), r);
        }
    }
}

/// Poll once, publish a listing into `state`, count the run; the result.
pub async fn poll_once(session: &SmcSession, state: &EngineState) -> DiscoveryResult {
    let result = match poll(session).await {
        Ok(p) => {
            let n = p.snapshot.engines.len();
            state.publish(p.snapshot);
            tracing::debug!(smc = %state.smc, engines = n, partial = p.partial, "engine poll done");
            if p.partial {
                DiscoveryResult::Partial
            } else {
                DiscoveryResult::Ok
            }
        }
        Err(e) => {
            tracing::warn!(smc = %state.smc, error = %e, "engine poll failed; the previous listing stays");
            e.result()
        }
    };
    state.count(result);
    result
}

/// Poll once: with the session's credentials, and once more with new ones
/// if the SMC refuses them.
pub async fn poll(session: &SmcSession) -> Result<Polled, PollError> {
    let creds = session.credentials().await?;
    match read(session, &creds).await {
        Err(EngineRestError::Refused { .. }) => {
            session.invalidate(creds.generation);
            let creds = session.credentials().await?;
            Ok(read(session, &creds).await?)
        }
        other => Ok(other?),
    }
}

/// The listing and every node's health, with `creds`.
async fn read(session: &SmcSession, creds: &Credentials) -> Result<Polled, EngineRestError> {
    let rest = session.rest();
    let listed = rest.list_engines(&creds.api_version, &creds.auth).await?;
    let engines: Vec<Result<(EngineInfo, bool), EngineRestError>> = stream::iter(listed)
        .map(|e| read_engine(session, creds, e))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut snapshot = EngineSnapshot::default();
    let mut partial = false;
    for e in engines {
        let (info, part) = e?;
        partial |= part;
        snapshot.engines.push(info);
    }
    Ok(Polled { snapshot, partial })
}

/// One engine's nodes and their health; `true` when something could not be
/// read. Only a refusal is an error.
async fn read_engine(
    session: &SmcSession,
    creds: &Credentials,
    e: ListedEngine,
) -> Result<(EngineInfo, bool), EngineRestError> {
    let rest = session.rest();
    let mut info = EngineInfo {
        name: e.name,
        etype: e.etype,
        nodes: Vec::new(),
    };
    let listed = match rest.engine_nodes(&e.href, &creds.auth).await {
        Ok(n) => n,
        Err(err @ EngineRestError::Refused { .. }) => return Err(err),
        // Removed since the listing: the next poll no longer lists it.
        Err(EngineRestError::NotFound { .. }) => return Ok((info, false)),
        Err(err) => {
            tracing::debug!(smc = %session.state.name, engine = %info.name, error = %err, "engine element unreadable");
            return Ok((info, true));
        }
    };
    let mut partial = false;
    for n in listed {
        let health = match &n.status_href {
            None => None,
            Some(href) => match node_health(session, creds, href).await? {
                Ok(h) => Some(h),
                Err(bad) => {
                    partial |= bad;
                    None
                }
            },
        };
        info.nodes.push(NodeInfo {
            name: n.name,
            health,
        });
    }
    Ok((info, partial))
}

/// A node's health; `Ok(Err(partial))` when it could not be read (a 404 is
/// not counted as partial), `Err` for a refusal.
async fn node_health(
    session: &SmcSession,
    creds: &Credentials,
    href: &str,
) -> Result<Result<NodeHealth, bool>, EngineRestError> {
    match session.rest().node_status(href, &creds.auth).await {
        Ok(h) => Ok(Ok(h)),
        Err(err @ EngineRestError::Refused { .. }) => Err(err),
        Err(EngineRestError::NotFound { .. }) => Ok(Err(false)),
        Err(err) => {
            tracing::debug!(smc = %session.state.name, error = %err, "node status unreadable");
            Ok(Err(true))
        }
    }
}
