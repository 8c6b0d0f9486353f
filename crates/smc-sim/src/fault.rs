//! Fault injection: `POST /sim/fault/<kind>` (the table of kinds is in the
//! module doc of `super`), and the state the hooks in `server.rs` (accept,
//! login) and `socket.rs` (session sockets) consult.
//!
//! Faults never change the ground truth, except `restart` (a new world) and
//! `burst` (churn steps, exactly as `POST /sim/churn` applies them).
//! Faults that act on open sockets reach only session-monitoring sockets,
//! optionally scoped by `target` and/or `definition`; a socket takes an
//! injected frame or stall once it is streaming live deltas (after its
//! snapshot), before any delta still queued for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Shared;
use smc_protocol::Definition;

/// Every fault kind, in the order of the doc table.
pub const KINDS: [&str; 16] = [
    "drop",
    "drop_mid_snapshot",
    "restart",
    "expire_sessions",
    "stall_accept",
    "stall_socket",
    "malformed",
    "binary",
    "huge",
    "unknown_kind",
    "missing_fields",
    "refuse_logins",
    "burst",
    "refuse_upgrades",
    "silent_sockets",
    "invalid_utf8",
];

/// Default size of the `huge` frame: above the exporter's default
/// `max_frame_bytes` (16 MiB).
pub(crate) const DEFAULT_HUGE: usize = 32 * 1024 * 1024;
/// Largest `huge` frame (it is built in memory).
const MAX_HUGE: usize = 256 * 1024 * 1024;
/// Longest stall or refusal window.
const MAX_SECONDS: f64 = 3600.0;
/// Default and largest `burst`.
const DEFAULT_BURST: u32 = 100_000;
const MAX_BURST: u32 = 1_000_000;
/// Injections queued per socket; more are not delivered (and not counted).
const INJECT_QUEUE: usize = 64;

/// A refused control request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FaultError {
    #[error("Unknown fault kind '{0}'")]
    UnknownKind(String),
    #[error("{0}")]
    BadParam(String),
}

/// Which session sockets a fault applies to: every one when both are unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    pub target: Option<String>,
    pub definition: Option<Definition>,
}

impl Scope {
    fn matches(&self, def: Definition, target: &str) -> bool {
        self.definition.is_none_or(|d| d == def)
            && self.target.as_deref().is_none_or(|t| t == target)
    }

    fn is_all(&self) -> bool {
        self.target.is_none() && self.definition.is_none()
    }

    fn to_json(&self) -> Value {
        json!({
            "target": self.target,
            "definition": self.definition.map(|d| d.wire_name(false)),
        })
    }
}

/// What a session socket is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inject {
    /// One text frame that is not JSON.
    Malformed,
    /// One binary frame.
    Binary,
    /// One text frame of exactly this many bytes (valid JSON, a `status`).
    Huge(usize),
    /// `{"fetch":N,"progress":…}`: valid JSON of an unknown kind.
    UnknownKind,
    /// One text frame whose payload is not UTF-8 (sent as raw frame bytes).
    InvalidUtf8,
    /// A `records` message whose one `added` entry has no `delta_key`.
    MissingKey,
    /// An `updated` entry carrying only the `delta_key` of a row the client
    /// holds (no label fields).
    MissingLabels,
    /// Send nothing and read nothing until `until` or a release (epoch
    /// change); then resume, or end the socket abruptly.
    Stall {
        until: Instant,
        epoch: u64,
        then_drop: bool,
    },
}

/// The frame text of a frame fault (`None` for the others).
pub(crate) fn frame_text(inject: &Inject, fetch: i64) -> Option<String> {
    match inject {
        Inject::Malformed => Some(format!("{{\"fetch\":{fetch},\"records\":{{\"added\":[{{")),
        Inject::UnknownKind => {
            Some(json!({"fetch": fetch, "progress": {"done": 50, "total": 100}}).to_string())
        }
        Inject::MissingKey => Some(
            json!({"fetch": fetch, "records": {"added": [{"1": "2024-01-01 00:00:00"}]}})
                .to_string(),
        ),
        Inject::Huge(bytes) => {
            let head = format!("{{\"fetch\":{fetch},\"status\":\"");
            let tail = "\"}";
            let pad = bytes.saturating_sub(head.len() + tail.len());
            let mut s = String::with_capacity(head.len() + pad + tail.len());
            s.push_str(&head);
            s.extend(std::iter::repeat_n('x', pad));
            s.push_str(tail);
            Some(s)
        }
        Inject::Binary | Inject::InvalidUtf8 | Inject::MissingLabels | Inject::Stall { .. } => None,
    }
}

/// The payload of the `invalid_utf8` frame: `{"fetch":N,"status":"…"}` with
/// two bytes that are not UTF-8 (0xFF 0xFE) inside the string.
pub(crate) fn invalid_utf8_payload(fetch: i64) -> Vec<u8> {
    let mut p = format!("{{\"fetch\":{fetch},\"status\":\"").into_bytes();
    p.extend_from_slice(&[0xff, 0xfe]);
    p.extend_from_slice(b"\"}");
    p
}

/// An open session socket, as the fault registry sees it.
struct SessionSocket {
    definition: Definition,
    target: String,
    /// Ends the socket abruptly (the connection's registry token).
    token: CancellationToken,
    tx: mpsc::Sender<Inject>,
}

/// A session socket's registration; removes it when dropped.
pub(crate) struct Registration {
    shared: Arc<Shared>,
    id: u64,
    pub(crate) rx: mpsc::Receiver<Inject>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.faults.sockets().remove(&self.id);
    }
}

/// Marks a socket as stalled while alive (for `GET /sim/faults`).
pub(crate) struct Stalled<'a>(&'a Faults);

impl Drop for Stalled<'_> {
    fn drop(&mut self) {
        self.0.stalled.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Marks a socket as silent while alive (for `GET /sim/faults`).
pub(crate) struct SilentGuard<'a>(&'a Faults);

impl Drop for SilentGuard<'_> {
    fn drop(&mut self) {
        self.0.silent_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Armed faults and the session-socket registry.
pub(crate) struct Faults {
    sockets: Mutex<HashMap<u64, SessionSocket>>,
    next: AtomicU64,
    /// `drop_mid_snapshot`: scope and how many sockets remain to cut.
    mid_snapshot: Mutex<Option<(Scope, u32)>>,
    /// `stall_accept`: new connections are held until then.
    accept_stall: watch::Sender<Option<Instant>>,
    /// `stall_socket`: bumped by a release (`seconds=0`).
    socket_epoch: watch::Sender<u64>,
    stalled: AtomicUsize,
    /// `refuse_logins`: until when, and the status answered.
    refuse_logins: Mutex<Option<(Instant, u16)>>,
    /// `refuse_upgrades`: until when, and the status answered.
    refuse_upgrades: Mutex<Option<(Instant, u16)>>,
    /// `silent_sockets`: session sockets upgraded before then stay silent.
    silent_until: Mutex<Option<Instant>>,
    /// Silent session sockets open now.
    silent_open: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Faults {
    pub(crate) fn new() -> Self {
        Faults {
            sockets: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            mid_snapshot: Mutex::new(None),
            accept_stall: watch::Sender::new(None),
            socket_epoch: watch::Sender::new(0),
            stalled: AtomicUsize::new(0),
            refuse_logins: Mutex::new(None),
            refuse_upgrades: Mutex::new(None),
            silent_until: Mutex::new(None),
            silent_open: AtomicUsize::new(0),
        }
    }

    fn sockets(&self) -> MutexGuard<'_, HashMap<u64, SessionSocket>> {
        lock(&self.sockets)
    }

    /// Register a session socket for (definition, target); `token` ends it.
    pub(crate) fn register(
        shared: &Arc<Shared>,
        definition: Definition,
        target: &str,
        token: CancellationToken,
    ) -> Registration {
        let id = shared.faults.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(INJECT_QUEUE);
        shared.faults.sockets().insert(
            id,
            SessionSocket {
                definition,
                target: target.to_string(),
                token,
                tx,
            },
        );
        Registration {
            shared: shared.clone(),
            id,
            rx,
        }
    }

    /// Whether a session socket of (definition, target) whose snapshot
    /// spans more than one batch must end after its first batch (consumes
    /// one armed `drop_mid_snapshot`).
    pub(crate) fn take_mid_snapshot(&self, definition: Definition, target: &str) -> bool {
        let mut armed = lock(&self.mid_snapshot);
        let Some((scope, left)) = armed.as_mut() else {
            return false;
        };
        if !scope.matches(definition, target) {
            return false;
        }
        *left -= 1;
        if *left == 0 {
            *armed = None;
        }
        true
    }

    /// Hold a freshly accepted connection while `stall_accept` is on (until
    /// its end, a release, or `shutdown`).
    pub(crate) async fn accept_gate(&self, shutdown: &CancellationToken) {
        let mut rx = self.accept_stall.subscribe();
        loop {
            let until = *rx.borrow_and_update();
            let Some(until) = until.filter(|u| *u > Instant::now()) else {
                return;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                changed = rx.changed() => if changed.is_err() { return },
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// The status a login must be refused with now, if any.
    pub(crate) fn login_refusal(&self) -> Option<u16> {
        lock(&self.refuse_logins)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, status)| status)
    }

    /// The status a WebSocket upgrade must be refused with now, if any.
    pub(crate) fn upgrade_refusal(&self) -> Option<u16> {
        lock(&self.refuse_upgrades)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, status)| status)
    }

    /// Whether a session socket upgraded now must stay silent; if so, the
    /// guard counts it as open (for `GET /sim/faults`) while alive.
    pub(crate) fn silent(&self) -> Option<SilentGuard<'_>> {
        let on = lock(&self.silent_until).is_some_and(|until| until > Instant::now());
        on.then(|| {
            self.silent_open.fetch_add(1, Ordering::Relaxed);
            SilentGuard(self)
        })
    }

    /// Wait out a stall armed at `epoch`: until `until`, a release, or the
    /// subscriber's `overflow` (then false: the socket must end).
    pub(crate) async fn stall(
        &self,
        until: Instant,
        epoch: u64,
        overflow: &CancellationToken,
    ) -> bool {
        self.stalled.fetch_add(1, Ordering::Relaxed);
        let _mark = Stalled(self);
        let mut rx = self.socket_epoch.subscribe();
        loop {
            if *rx.borrow_and_update() != epoch || Instant::now() >= until {
                return true;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                changed = rx.changed() => if changed.is_err() { return true },
                _ = overflow.cancelled() => return false,
            }
        }
    }

    /// Queue `inject` on every session socket in `scope`; how many took it.
    fn inject(&self, scope: &Scope, inject: &Inject) -> usize {
        self.sockets()
            .values()
            .filter(|s| scope.matches(s.definition, &s.target))
            .filter(|s| s.tx.try_send(inject.clone()).is_ok())
            .count()
    }

    /// End every session socket in `scope` abruptly; how many.
    fn drop_scoped(&self, scope: &Scope) -> usize {
        let tokens: Vec<CancellationToken> = self
            .sockets()
            .values()
            .filter(|s| scope.matches(s.definition, &s.target))
            .map(|s| s.token.clone())
            .collect();
        for t in &tokens {
            t.cancel();
        }
        tokens.len()
    }

    fn ms_left(until: Option<Instant>) -> u128 {
        until
            .map(|u| u.saturating_duration_since(Instant::now()).as_millis())
            .unwrap_or(0)
    }

    /// `GET /sim/faults`.
    pub(crate) fn status(&self, seed: u64) -> Value {
        let mut sockets: Vec<(String, String)> = self
            .sockets()
            .values()
            .map(|s| (s.definition.wire_name(false).to_string(), s.target.clone()))
            .collect();
        sockets.sort();
        let sockets: Vec<Value> = sockets
            .into_iter()
            .map(|(d, t)| json!({"definition": d, "target": t}))
            .collect();
        let mid = lock(&self.mid_snapshot)
            .as_ref()
            .map(|(scope, left)| json!({"remaining": left, "scope": scope.to_json()}));
        let refuse = *lock(&self.refuse_logins);
        let refuse_upgrades = *lock(&self.refuse_upgrades);
        json!({
            "seed": seed,
            "session_sockets": sockets,
            "stalled_sockets": self.stalled.load(Ordering::Relaxed),
            "drop_mid_snapshot": mid,
            "stall_accept_ms": Self::ms_left(*self.accept_stall.borrow()),
            "refuse_logins_ms": Self::ms_left(refuse.map(|(u, _)| u)),
            "refuse_upgrades_ms": Self::ms_left(refuse_upgrades.map(|(u, _)| u)),
            "silent_sockets_ms": Self::ms_left(*lock(&self.silent_until)),
            "silent_sockets": self.silent_open.load(Ordering::Relaxed),
        })
    }
}

/// Query parameters of one control request.
struct Params<'a, F: Fn(&str) -> Option<&'a str>>(F);

impl<'a, F: Fn(&str) -> Option<&'a str>> Params<'a, F> {
    fn scope(&self) -> Result<Scope, FaultError> {
        let definition = match (self.0)("definition") {
            None => None,
            Some(name) => Some(
                Definition::ALL
                    .into_iter()
                    .find(|d| {
                        d.wire_name(false) == name || d.wire_name(true) == name || d.label() == name
                    })
                    .ok_or_else(|| FaultError::BadParam(format!("unknown definition '{name}'")))?,
            ),
        };
        Ok(Scope {
            target: (self.0)("target").map(str::to_string),
            definition,
        })
    }

    fn seconds(&self) -> Result<Duration, FaultError> {
        let raw = (self.0)("seconds")
            .ok_or_else(|| FaultError::BadParam("seconds is required (0 ends the fault)".into()))?;
        match raw.parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..=MAX_SECONDS).contains(&s) => {
                Ok(Duration::from_secs_f64(s))
            }
            _ => Err(FaultError::BadParam(
                "seconds must be a number in 0..=3600".into(),
            )),
        }
    }

    fn int<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
        &self,
        name: &str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, FaultError> {
        let bad = || FaultError::BadParam(format!("{name} must be an integer in {min}..={max}"));
        let v = match (self.0)(name) {
            None => default,
            Some(s) => s.parse::<T>().map_err(|_| bad())?,
        };
        if v < min || v > max {
            return Err(bad());
        }
        Ok(v)
    }

    fn choice(&self, name: &str, options: &[&'static str]) -> Result<&'static str, FaultError> {
        match (self.0)(name) {
            None => Ok(options[0]),
            Some(v) => options.iter().copied().find(|o| *o == v).ok_or_else(|| {
                FaultError::BadParam(format!("{name} must be one of {}", options.join(", ")))
            }),
        }
    }

    fn flag(&self, name: &str) -> Result<bool, FaultError> {
        Ok(self.choice(name, &["false", "true"])? == "true")
    }
}

/// `POST /sim/fault/<kind>`: apply or arm a fault; the JSON answer says what
/// was done.
pub(crate) fn control<'a>(
    shared: &Shared,
    kind: &str,
    param: impl Fn(&str) -> Option<&'a str>,
) -> Result<Value, FaultError> {
    let p = Params(param);
    let f = &shared.faults;
    let frame = |inject: Inject| -> Result<Value, FaultError> {
        let scope = p.scope()?;
        let n = f.inject(&scope, &inject);
        Ok(json!({"sockets": n, "scope": scope.to_json()}))
    };
    match kind {
        "drop" => {
            let scope = p.scope()?;
            let dropped = if scope.is_all() {
                shared.drop_connections()
            } else {
                f.drop_scoped(&scope)
            };
            Ok(json!({ "dropped": dropped }))
        }
        "drop_mid_snapshot" => {
            let scope = p.scope()?;
            let count = p.int("count", 1u32, 0, 1000)?;
            let mut armed = lock(&f.mid_snapshot);
            *armed = (count > 0).then(|| (scope.clone(), count));
            Ok(json!({"armed": count, "scope": scope.to_json()}))
        }
        "restart" => {
            let seed = match (p.0)("seed") {
                None => shared.seed().wrapping_add(1),
                Some(s) => s.parse::<u64>().map_err(|_| {
                    FaultError::BadParam("seed must be an unsigned 64-bit integer".into())
                })?,
            };
            let (expired, dropped) = shared.restart(seed);
            Ok(json!({"seed": seed, "sessions_expired": expired, "dropped": dropped}))
        }
        "expire_sessions" => {
            let and_drop = p.flag("drop")?;
            let expired = shared.expire_sessions();
            let dropped = if and_drop {
                shared.drop_connections()
            } else {
                0
            };
            Ok(json!({"sessions_expired": expired, "dropped": dropped}))
        }
        "stall_accept" => {
            let d = p.seconds()?;
            let and_drop = p.flag("drop")?;
            let until = (!d.is_zero()).then(|| Instant::now() + d);
            f.accept_stall.send_replace(until);
            let dropped = if and_drop {
                shared.drop_connections()
            } else {
                0
            };
            Ok(json!({"stall_accept_ms": d.as_millis(), "dropped": dropped}))
        }
        "stall_socket" => {
            let d = p.seconds()?;
            if d.is_zero() {
                let released = f.stalled.load(Ordering::Relaxed);
                f.socket_epoch.send_modify(|e| *e += 1);
                return Ok(json!({ "released": released }));
            }
            let then_drop = p.choice("then", &["resume", "drop"])? == "drop";
            let scope = p.scope()?;
            let inject = Inject::Stall {
                until: Instant::now() + d,
                epoch: *f.socket_epoch.borrow(),
                then_drop,
            };
            let n = f.inject(&scope, &inject);
            Ok(json!({
                "sockets": n,
                "stall_ms": d.as_millis(),
                "then": if then_drop { "drop" } else { "resume" },
                "scope": scope.to_json(),
            }))
        }
        "malformed" => frame(Inject::Malformed),
        "binary" => frame(Inject::Binary),
        "unknown_kind" => frame(Inject::UnknownKind),
        "huge" => {
            let bytes = p.int("bytes", DEFAULT_HUGE, 64, MAX_HUGE)?;
            let mut v = frame(Inject::Huge(bytes))?;
            v["bytes"] = json!(bytes);
            Ok(v)
        }
        "missing_fields" => {
            let what = p.choice("what", &["delta_key", "labels"])?;
            let mut v = frame(if what == "labels" {
                Inject::MissingLabels
            } else {
                Inject::MissingKey
            })?;
            v["what"] = json!(what);
            Ok(v)
        }
        "refuse_logins" => {
            let d = p.seconds()?;
            let status = match (p.0)("status").unwrap_or("503") {
                "503" => 503u16,
                "401" => 401,
                _ => return Err(FaultError::BadParam("status must be 401 or 503".into())),
            };
            *lock(&f.refuse_logins) = (!d.is_zero()).then(|| (Instant::now() + d, status));
            Ok(json!({"refuse_logins_ms": d.as_millis(), "status": status}))
        }
        "refuse_upgrades" => {
            let d = p.seconds()?;
            let status = match (p.0)("status").unwrap_or("403") {
                "403" => 403u16,
                "401" => 401,
                _ => return Err(FaultError::BadParam("status must be 401 or 403".into())),
            };
            *lock(&f.refuse_upgrades) = (!d.is_zero()).then(|| (Instant::now() + d, status));
            Ok(json!({"refuse_upgrades_ms": d.as_millis(), "status": status}))
        }
        "silent_sockets" => {
            let d = p.seconds()?;
            *lock(&f.silent_until) = (!d.is_zero()).then(|| Instant::now() + d);
            Ok(json!({ "silent_sockets_ms": d.as_millis() }))
        }
        "invalid_utf8" => frame(Inject::InvalidUtf8),
        "burst" => {
            let steps = p.int("steps", DEFAULT_BURST, 1, MAX_BURST)?;
            let overflowed = shared.burst(steps);
            let list: Vec<Value> = overflowed
                .into_iter()
                .map(|(d, t)| json!({"definition": d.wire_name(false), "target": t}))
                .collect();
            Ok(json!({"applied": steps, "overflowed": list}))
        }
        other => Err(FaultError::UnknownKind(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_frames_have_the_exact_size_and_are_json() {
        for bytes in [64, 1000, 1 << 20] {
            let t = frame_text(&Inject::Huge(bytes), -1_616_514_795).unwrap();
            assert_eq!(t.len(), bytes);
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["fetch"], json!(-1_616_514_795));
        }
    }

    #[test]
    fn frame_faults_decode_as_the_exporter_should_classify_them() {
        use smc_protocol::{ServerMessage, decode};
        let f = 7;
        assert!(decode(&frame_text(&Inject::Malformed, f).unwrap()).is_err());
        assert_eq!(
            decode(&frame_text(&Inject::UnknownKind, f).unwrap()),
            Ok(ServerMessage::Unknown)
        );
        match decode(&frame_text(&Inject::MissingKey, f).unwrap()) {
            Ok(ServerMessage::Records { fetch, records }) => {
                assert_eq!(fetch, Some(7));
                assert_eq!(records.added.len(), 1);
                assert_eq!(records.added[0].delta_key, None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(frame_text(&Inject::Binary, f), None);
        assert_eq!(frame_text(&Inject::InvalidUtf8, f), None);
        let raw = invalid_utf8_payload(f);
        assert!(std::str::from_utf8(&raw).is_err());
        assert_eq!(
            String::from_utf8_lossy(&raw),
            "{\"fetch\":7,\"status\":\"\u{fffd}\u{fffd}\"}"
        );
    }

    #[test]
    fn scopes_match_by_target_and_definition() {
        let all = Scope::default();
        assert!(all.is_all() && all.matches(Definition::Users, "x"));
        let t = Scope {
            target: Some("HQ Cluster".into()),
            definition: None,
        };
        assert!(t.matches(Definition::Users, "HQ Cluster"));
        assert!(!t.matches(Definition::Users, "DC Cluster"));
        let both = Scope {
            target: Some("HQ Cluster".into()),
            definition: Some(Definition::Connections),
        };
        assert!(both.matches(Definition::Connections, "HQ Cluster"));
        assert!(!both.matches(Definition::Users, "HQ Cluster"));
        assert_eq!(
            both.to_json(),
            json!({"target": "HQ Cluster", "definition": "CONNECTIONS"})
        );
    }
}
