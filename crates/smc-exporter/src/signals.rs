//! The signals the processes act on: SIGTERM, SIGINT and SIGQUIT stop them
//! (with a logout); SIGUSR1, SIGUSR2 and SIGALRM are logged and ignored; SIGHUP reloads the daemon's configuration ([`Signals::next`]),
//! or is logged and ignored by a process without a config file
//! ([`Signals::stopped`]); its default action would kill the process with
//! no logout.
//!
//! The handlers are registered by [`Signals::new`], before anything starts,
//! so a signal that arrives during startup is handled, not fatal.

#[cfg(unix)]
use tokio::signal::unix::{Signal as UnixSignal, SignalKind, signal};

/// What SIGHUP logs (at warn) in a process without a config file to reload.
pub const HUP_MESSAGE: &str =
    "SIGHUP received: this process has no configuration file to reload; still running";

/// A signal the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop, with a logout.
    Stop,
    /// SIGHUP: reload the configuration.
    Reload,
}

/// The registered handlers. Create inside the Tokio runtime.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: Option<UnixSignal>,
    #[cfg(unix)]
    int: Option<UnixSignal>,
    #[cfg(unix)]
    hup: Option<UnixSignal>,
    #[cfg(unix)]
    quit: Option<UnixSignal>,
    /// Signals whose default action would end the process without a
    /// logout and that mean nothing to it: logged and ignored.
    #[cfg(unix)]
    ignored: [(&'static str, Option<UnixSignal>); 3],
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
                quit: register(SignalKind::quit(), "SIGQUIT"),
                ignored: [
                    ("SIGUSR1", register(SignalKind::user_defined1(), "SIGUSR1")),
                    ("SIGUSR2", register(SignalKind::user_defined2(), "SIGUSR2")),
                    ("SIGALRM", register(SignalKind::alarm(), "SIGALRM")),
                ],
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// The next signal: SIGTERM, SIGINT or SIGQUIT (Ctrl-C elsewhere), or
    /// SIGHUP. SIGUSR1, SIGUSR2 and SIGALRM meanwhile are logged and ignored.
    pub async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        loop {
            let [(n1, s1), (n2, s2), (n3, s3)] = &mut self.ignored;
            let ignored = tokio::select! {
                _ = recv(&mut self.term) => return Signal::Stop,
                _ = recv(&mut self.int) => return Signal::Stop,
                _ = recv(&mut self.quit) => return Signal::Stop,
                _ = recv(&mut self.hup) => return Signal::Reload,
                _ = recv(s1) => *n1,
                _ = recv(s2) => *n2,
                _ = recv(s3) => *n3,
            };
            tracing::warn!("{ignored} received: ignored (SIGTERM stops, SIGHUP reloads)");
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Stop
        }
    }

    /// Resolves on SIGTERM or SIGINT. Every SIGHUP meanwhile logs
    /// [`HUP_MESSAGE`] (for processes that cannot reload).
    pub async fn stopped(&mut self) {
        while self.next().await == Signal::Reload {
            tracing::warn!("{HUP_MESSAGE}");
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
async fn recv(s: &mut Option<UnixSignal>) {
    if let Some(sig) = s {
        if sig.recv().await.is_some() {
            return;
        }
    }
    std::future::pending::<()>().await
}
