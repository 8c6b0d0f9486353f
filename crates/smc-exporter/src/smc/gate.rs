//! The login gate of one SMC: a pure state machine (no I/O; `now` is passed
//! in) that every subscription of the SMC consults before connecting. It
//! decides whether the caller connects with the current session, logs in, or
//! waits — and until when — and it holds the SMC-wide problem that callers
//! share instead of each finding it again.
//!
//! One schedule per SMC: ceilings `backoff_initial` doubling up to
//! `backoff_max`, no jitter (the callers add their own spread when they
//! resume). It advances on:
//! - a failed login (answered with an error, or no answer at all);
//! - a fresh session (one that never had an upgrade accepted) whose upgrade
//!   is refused with 401/403: "logged in but upgrades refused", so a
//!   successful login is not a reason to log in again at once;
//! - an SMC that stopped answering while a session exists: the connection
//!   admitted once the step has passed is the step's one probe.
//!
//! It restarts only once a session is *proven* (an upgrade with it was
//! accepted). A proven session that is refused later has ended (expired,
//! SMC restarted): the gate lets the next caller log in at once.
//!
//! Reports carry the [`Ticket`] their attempt was admitted with, so a late
//! report about an older session or from before a recovery changes nothing.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Backoff;
use crate::state::ReconnectReason;

/// An SMC-wide problem: why the gate is closed or the SMC is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The login was answered with an error (wrong key, SMC refusing logins).
    LoginFailed(String),
    /// No answer: connection refused or reset, TLS failure, timeout (during
    /// login or a WebSocket upgrade).
    Unreachable(String),
    /// Logins succeed, but the upgrades of the fresh session were refused
    /// with this status.
    UpgradesRefused(u16),
}

impl Problem {
    /// The reconnect reason a subscription counts for it.
    pub fn reason(&self) -> ReconnectReason {
        match self {
            Problem::LoginFailed(_) => ReconnectReason::LoginFailed,
            Problem::Unreachable(_) => ReconnectReason::ConnectError,
            Problem::UpgradesRefused(_) => ReconnectReason::Unauthorized,
        }
    }

    /// Whether `other` is the same problem for logging purposes: the same
    /// kind, and for login failures and refusals the same detail.
    /// Unreachable is one problem whatever the socket error says.
    fn same(&self, other: &Problem) -> bool {
        match (self, other) {
            (Problem::Unreachable(_), Problem::Unreachable(_)) => true,
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::LoginFailed(detail) => f.write_str(detail),
            Problem::Unreachable(detail) => write!(f, "SMC unreachable: {detail}"),
            Problem::UpgradesRefused(status) => write!(
                f,
                "logged in but upgrades refused (HTTP {status}): check the API client's permissions"
            ),
        }
    }
}

/// The gate state an attempt was admitted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The session generation the attempt uses.
    pub generation: u64,
    epoch: u64,
}

/// What a caller may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Connect with the current session.
    Connect(Ticket),
    /// Log in (one caller at a time: the session serialises logins).
    Login,
    /// No attempt before `until`.
    Wait(Instant),
}

/// What a report changed, for the log (see [`super::events::SmcEvent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A problem began, or became another one.
    Began(Problem),
    /// The same problem again.
    Again(Problem),
    /// The problem is over; it had lasted this long.
    Recovered(Problem, Duration),
    /// A proven session was refused with this status: it has ended, and the
    /// next caller logs in again at once.
    SessionEnded(u16),
    /// Nothing (a stale report, or nothing new).
    Nothing,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct LoginGate {
    backoff: Backoff,
    /// No login or probe before this.
    retry_at: Option<Instant>,
    /// The current problem and since when.
    problem: Option<(Problem, Instant)>,
    /// Generation of the last successful login.
    generation: u64,
    /// A session of `generation` exists.
    logged_in: bool,
    /// An upgrade with the current session was accepted.
    proven: bool,
    /// Bumped at every recovery: failures of attempts admitted before it
    /// are stale.
    epoch: u64,
}

impl LoginGate {
    pub fn new(initial: Duration, max: Duration) -> Self {
        LoginGate {
            backoff: Backoff::new(initial, max),
            retry_at: None,
            problem: None,
            generation: 0,
            logged_in: false,
            proven: false,
            epoch: 0,
        }
    }

    /// The ticket of a connection admitted now.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            generation: self.generation,
            epoch: self.epoch,
        }
    }

    /// What a caller may do at `now` (no state change: see [`admit`](Self::admit)).
    pub fn decide(&self, now: Instant) -> Decision {
        if let Some(t) = self.retry_at.filter(|t| *t > now) {
            return Decision::Wait(t);
        }
        if self.logged_in {
            Decision::Connect(self.ticket())
        } else {
            Decision::Login
        }
    }

    /// [`decide`](Self::decide), recording what it grants: a connection to
    /// an unreachable SMC is this step's probe, so the next one is not
    /// before the next step.
    pub fn admit(&mut self, now: Instant) -> Decision {
        let d = self.decide(now);
        if matches!(d, Decision::Connect(_)) && self.unreachable() {
            self.retry_at = Some(now + self.backoff.next_ceiling());
        }
        d
    }

    fn unreachable(&self) -> bool {
        matches!(self.problem, Some((Problem::Unreachable(_), _)))
    }

    /// The generation the next login gets.
    pub fn next_generation(&self) -> u64 {
        self.generation + 1
    }

    /// Record `problem` at `now`; the schedule advances unless a step is
    /// already pending.
    fn fail(&mut self, now: Instant, problem: Problem) -> Change {
        if self.retry_at.is_none_or(|t| t <= now) {
            self.retry_at = Some(now + self.backoff.next_ceiling());
        }
        match &mut self.problem {
            Some((p, _)) if p.same(&problem) => {
                *p = problem.clone();
                Change::Again(problem)
            }
            _ => {
                self.problem = Some((problem.clone(), now));
                Change::Began(problem)
            }
        }
    }

    /// Clear the problem (the SMC answered as it should); a new epoch.
    fn recover(&mut self, now: Instant) -> Change {
        match self.problem.take() {
            Some((p, since)) => {
                self.epoch += 1;
                Change::Recovered(p, now.saturating_duration_since(since))
            }
            None => Change::Nothing,
        }
    }

    /// A login failed: answered with an error (`LoginFailed`) or not at all
    /// (`Unreachable`).
    pub fn login_failed(&mut self, now: Instant, problem: Problem) -> Change {
        self.fail(now, problem)
    }

    /// A login succeeded: a fresh session of [`next_generation`](Self::next_generation).
    /// The schedule does not restart (the session is not proven yet), but a
    /// login problem is over, and nothing holds the next login back until
    /// the fresh session is refused.
    pub fn logged_in(&mut self, now: Instant) -> Change {
        self.generation += 1;
        self.logged_in = true;
        self.proven = false;
        self.retry_at = None;
        match &self.problem {
            Some((Problem::UpgradesRefused(_), _)) => Change::Nothing,
            _ => self.recover(now),
        }
    }

    /// An upgrade admitted with `t` was accepted: the SMC answers and, if
    /// `t` is the current session, the session is proven (the schedule
    /// restarts).
    pub fn upgrade_accepted(&mut self, now: Instant, t: Ticket) -> Change {
        let current = t.generation == self.generation && self.logged_in;
        if !current && !self.unreachable() {
            return Change::Nothing;
        }
        self.proven |= current;
        self.backoff.reset();
        self.retry_at = None;
        self.recover(now)
    }

    /// An upgrade admitted with `t` was answered, though not with a socket
    /// (an HTTP status other than 401/403): the SMC is reachable.
    pub fn answered(&mut self, now: Instant, _t: Ticket) -> Change {
        if self.unreachable() {
            self.retry_at = None;
            return self.recover(now);
        }
        Change::Nothing
    }

    /// An upgrade admitted with `t` got no answer (`detail` says why).
    pub fn unanswered(&mut self, now: Instant, t: Ticket, detail: String) -> Change {
        if t.epoch != self.epoch {
            return Change::Nothing;
        }
        self.fail(now, Problem::Unreachable(detail))
    }

    /// An upgrade admitted with `t` was refused with `status` (401/403).
    /// Returns whether the session of `t` is to be dropped (and logged out),
    /// and the change.
    pub fn upgrade_refused(&mut self, now: Instant, t: Ticket, status: u16) -> (bool, Change) {
        if t.generation != self.generation || !self.logged_in {
            return (false, Change::Nothing);
        }
        self.logged_in = false;
        if self.proven {
            self.proven = false;
            return (true, Change::SessionEnded(status));
        }
        (true, self.fail(now, Problem::UpgradesRefused(status)))
    }

    /// The session of `generation` ended by other means: drop it, and let
    /// the next caller log in at once. False for an older generation.
    pub fn invalidate(&mut self, generation: u64) -> bool {
        if generation != self.generation || !self.logged_in {
            return false;
        }
        self.logged_in = false;
        self.proven = false;
        true
    }

    /// The session is over (shutdown).
    pub fn logged_out(&mut self) {
        self.logged_in = false;
        self.proven = false;
    }

    /// `smc_up`: a session exists, an upgrade with it was accepted, and
    /// the SMC has answered since.
    pub fn up(&self) -> bool {
        self.logged_in && self.proven && self.problem.is_none()
    }

    pub fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref().map(|(p, _)| p)
    }

    /// When the next login or probe may happen, if the gate is closed.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn gate() -> (LoginGate, Instant) {
        (LoginGate::new(100 * MS, 1000 * MS), Instant::now())
    }

    fn wait(g: &LoginGate, now: Instant) -> Duration {
        match g.decide(now) {
            Decision::Wait(t) => t - now,
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    fn connect(g: &mut LoginGate, now: Instant) -> Ticket {
        match g.admit(now) {
            Decision::Connect(t) => t,
            other => panic!("expected to connect, got {other:?}"),
        }
    }

    /// Logged in and an upgrade accepted at `t0`.
    fn proven() -> (LoginGate, Instant, Ticket) {
        let (mut g, t0) = gate();
        assert_eq!(g.admit(t0), Decision::Login);
        assert_eq!(g.logged_in(t0), Change::Nothing);
        let t = connect(&mut g, t0);
        assert_eq!(g.upgrade_accepted(t0, t), Change::Nothing);
        assert!(g.up());
        (g, t0, t)
    }

    #[test]
    fn failed_logins_are_retried_once_per_step() {
        let (mut g, t0) = gate();
        let e = Problem::LoginFailed("login to x failed: HTTP status 503".into());
        let mut at = t0;
        let mut attempts = vec![];
        // Every 10 ms, for 2 s, a caller asks.
        for i in 0..200 {
            let now = t0 + 10 * MS * i;
            if g.admit(now) == Decision::Login {
                attempts.push((now - t0).as_millis());
                let change = g.login_failed(now, e.clone());
                let first = attempts.len() == 1;
                assert_eq!(
                    change,
                    if first {
                        Change::Began(e.clone())
                    } else {
                        Change::Again(e.clone())
                    }
                );
                at = now;
            }
        }
        assert_eq!(attempts, [0, 100, 300, 700, 1500]);
        assert_eq!(wait(&g, at), 1000 * MS, "capped at backoff_max");
        assert!(!g.up());
        assert_eq!(g.problem(), Some(&e));
        // Login works again: the problem is over, but the schedule restarts
        // only once an upgrade is accepted.
        let now = at + 1000 * MS;
        assert_eq!(g.admit(now), Decision::Login);
        assert_eq!(
            g.logged_in(now),
            Change::Recovered(e, 1500 * MS + 1000 * MS)
        );
        assert!(!g.up(), "not before an upgrade is accepted");
        let t = connect(&mut g, now);
        assert_eq!(g.upgrade_accepted(now, t), Change::Nothing);
        assert!(g.up());
        assert_eq!(g.backoff.ceiling(), 100 * MS);
    }

    #[test]
    fn refused_upgrades_of_fresh_sessions_back_off() {
        let (mut g, t0, first) = proven();
        // The proven session is refused: it ended; log in again at once.
        assert_eq!(
            g.upgrade_refused(t0, first, 403),
            (true, Change::SessionEnded(403))
        );
        assert!(!g.up());
        assert_eq!(
            g.upgrade_refused(t0, first, 403),
            (false, Change::Nothing),
            "reported once"
        );
        let mut logins = vec![];
        for i in 0..300 {
            let now = t0 + 10 * MS * i;
            match g.admit(now) {
                Decision::Login => {
                    logins.push((now - t0).as_millis());
                    g.logged_in(now);
                    // Seventy subscriptions try the fresh session: one
                    // refusal counts, the others are stale.
                    let t = connect(&mut g, now);
                    let (dropped, change) = g.upgrade_refused(now, t, 403);
                    assert!(dropped);
                    let hint = Problem::UpgradesRefused(403);
                    if logins.len() == 1 {
                        assert_eq!(change, Change::Began(hint));
                    } else {
                        assert_eq!(change, Change::Again(hint));
                    }
                    for _ in 1..70 {
                        assert_eq!(g.upgrade_refused(now, t, 403), (false, Change::Nothing));
                    }
                }
                Decision::Wait(_) => {}
                Decision::Connect(_) => panic!("no session while refused"),
            }
            assert!(!g.up(), "smc_up stays 0 while upgrades are refused");
        }
        // One login per step: 0, 0.1, 0.3, 0.7, 1.5, then every second.
        assert_eq!(logins, [0, 100, 300, 700, 1500, 2500]);
        assert_eq!(
            g.problem().map(ToString::to_string).as_deref(),
            Some("logged in but upgrades refused (HTTP 403): check the API client's permissions")
        );
        // The refusal ends: the next login's upgrade is accepted.
        let now = t0 + 3500 * MS;
        assert_eq!(g.admit(now), Decision::Login);
        assert_eq!(
            g.logged_in(now),
            Change::Nothing,
            "the refusal is not over yet"
        );
        let t = connect(&mut g, now);
        assert_eq!(
            g.upgrade_accepted(now, t),
            Change::Recovered(Problem::UpgradesRefused(403), 3500 * MS)
        );
        assert!(g.up());
        assert_eq!(g.problem(), None);
        assert_eq!(g.backoff.ceiling(), 100 * MS, "the schedule restarted");
    }

    #[test]
    fn an_unreachable_smc_is_probed_once_per_step() {
        let (mut g, t0, t) = proven();
        let now = t0 + 10 * MS;
        // Every subscription's connect fails; the first report counts.
        let gone = Problem::Unreachable("IO error: Connection refused (os error 111)".into());
        assert_eq!(
            g.unanswered(now, t, "IO error: Connection refused (os error 111)".into()),
            Change::Began(gone.clone())
        );
        assert!(!g.up(), "down at the first failed connection");
        assert_eq!(
            g.unanswered(now, t, "connect timed out".into()),
            Change::Again(Problem::Unreachable("connect timed out".into()))
        );
        assert_eq!(
            g.problem().map(ToString::to_string).as_deref(),
            Some("SMC unreachable: connect timed out")
        );
        let mut probes = vec![];
        for i in 1..200 {
            let at = now + 10 * MS * i;
            if let Decision::Connect(p) = g.admit(at) {
                probes.push((at - now).as_millis());
                assert_eq!(
                    g.unanswered(at, p, "refused".into()),
                    Change::Again(Problem::Unreachable("refused".into()))
                );
            }
        }
        // The probe of each step; the failure of a probe does not advance
        // the schedule again.
        assert_eq!(probes, [100, 300, 700, 1500]);
        // The next probe gets through: everyone may connect again.
        let at = now + 2500 * MS;
        let p = connect(&mut g, at);
        assert_eq!(p, t, "same session, same epoch");
        assert_eq!(
            g.upgrade_accepted(at, p),
            Change::Recovered(Problem::Unreachable("refused".into()), 2500 * MS)
        );
        assert!(g.up());
        assert_eq!(g.decide(at), Decision::Connect(g.ticket()));
        // A connection admitted before the recovery fails late: stale.
        assert_eq!(g.unanswered(at, t, "late".into()), Change::Nothing);
        assert!(g.up());
    }

    #[test]
    fn an_answer_that_is_not_a_socket_still_means_reachable() {
        let (mut g, t0, t) = proven();
        g.unanswered(t0, t, "reset".into());
        let p = connect(&mut g, t0 + 100 * MS);
        assert_eq!(
            g.answered(t0 + 150 * MS, p),
            Change::Recovered(Problem::Unreachable("reset".into()), 150 * MS)
        );
        assert!(g.up());
    }

    #[test]
    fn a_refusal_from_an_smc_that_was_unreachable_is_an_answer() {
        // The SMC restarted: unreachable for a while, then the probe with
        // the old session is refused. It answers again, and the session has
        // ended: the next caller logs in at once, not a step later.
        let (mut g, t0, t) = proven();
        g.unanswered(t0, t, "refused".into());
        let at = t0 + 100 * MS;
        let p = connect(&mut g, at);
        assert_eq!(
            g.answered(at, p),
            Change::Recovered(Problem::Unreachable("refused".into()), 100 * MS)
        );
        assert_eq!(
            g.upgrade_refused(at, p, 401),
            (true, Change::SessionEnded(401))
        );
        assert_eq!(g.decide(at), Decision::Login);
    }

    #[test]
    fn login_without_an_answer_is_unreachable_not_a_login_failure() {
        let (mut g, t0) = gate();
        assert_eq!(g.admit(t0), Decision::Login);
        let p = Problem::Unreachable("tcp connect error".into());
        assert_eq!(p.reason(), ReconnectReason::ConnectError);
        assert_eq!(g.login_failed(t0, p.clone()), Change::Began(p));
        assert_eq!(wait(&g, t0), 100 * MS);
    }

    #[test]
    fn invalidate_drops_only_the_current_generation() {
        let (mut g, t0, t) = proven();
        assert!(g.invalidate(t.generation));
        assert!(!g.invalidate(t.generation));
        assert_eq!(g.decide(t0), Decision::Login, "at once");
        g.logged_in(t0);
        assert_eq!(g.next_generation(), 3);
        assert!(!g.invalidate(t.generation), "an older generation");
        assert_eq!(g.upgrade_refused(t0, t, 401), (false, Change::Nothing));
    }
}
