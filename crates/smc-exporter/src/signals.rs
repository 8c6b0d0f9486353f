//! The signals the processes act on: SIGTERM and SIGINT stop them (with a
//! logout); SIGHUP is logged and otherwise ignored until live reload lands
//! (its default action would kill the daemon with no logout).
//!
//! The handlers are registered by [`Signals::new`], before anything starts,
//! so a signal that arrives during startup is handled, not fatal.

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

/// What SIGHUP logs (at warn).
pub const HUP_MESSAGE: &str = "SIGHUP received: reloading the configuration is not supported yet; still running with the configuration loaded at start (restart to apply changes)";

/// The registered handlers. Create inside the Tokio runtime.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: Option<Signal>,
    #[cfg(unix)]
    int: Option<Signal>,
    #[cfg(unix)]
    hup: Option<Signal>,
}

impl Signals {
    /// Register the handlers now. A handler that cannot be registered is
    /// left out (the signal keeps its default action) and logged.
    pub fn new() -> Self {
        #[cfg(unix)]
        {
            let register = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot handle {name}");
                    None
                }
            };
            Signals {
                term: register(SignalKind::terminate(), "SIGTERM"),
                int: register(SignalKind::interrupt(), "SIGINT"),
                hup: register(SignalKind::hangup(), "SIGHUP"),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Resolves on SIGTERM or SIGINT (Ctrl-C elsewhere). Every SIGHUP
    /// meanwhile logs [`HUP_MESSAGE`].
    pub async fn stopped(&mut self) {
        #[cfg(unix)]
        loop {
            tokio::select! {
                _ = recv(&mut self.term) => return,
                _ = recv(&mut self.int) => return,
                _ = recv(&mut self.hup) => tracing::warn!("{HUP_MESSAGE}"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

impl Default for Signals {
    fn default() -> Self {
        Self::new()
    }
}

/// The next delivery of `s`; never, if it is not handled.
#[cfg(unix)]
async fn recv(s: &mut Option<Signal>) {
    if let Some(sig) = s {
        if sig.recv().await.is_some() {
            return;
        }
    }
    std::future::pending::<()>().await
}
