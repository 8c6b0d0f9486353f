//! The SPS world: audited sessions (a closed history over the last hours,
//! some active at start), their alerts, and the appliance's health, from a
//! seeded RNG; times are real (the SPS clock), multiples of 1/64 s apart
//! so that durations and their sums are exact in binary floating point.
//!
//! A churn step starts a session, closes an active one, or appends an
//! alert to an active one, and nudges the health values; `sessions` of the
//! health always equals the active sessions by protocol.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::truth::{SpsAlert, SpsHealth, SpsIndexer, SpsSession, SpsTruth};

pub(crate) const FIRMWARE: &str = "7.5.1";
/// Durations are whole multiples of this (1/64 s).
const TICK_US: i64 = 15_625;
/// (protocol, weight, connection policies).
const PROTOCOLS: [(&str, u32, &[&str]); 7] = [
    ("SSH", 50, &["ssh-admins", "ssh-vendors"]),
    ("RDP", 25, &["rdp-jump", "rdp-servers"]),
    ("HTTP", 8, &["web-portal"]),
    ("ICA", 5, &["citrix-farm"]),
    ("TELNET", 4, &["legacy-telnet"]),
    ("VNC", 4, &["vnc-lab"]),
    ("MSSQL", 4, &["db-admins"]),
];
/// (alert_type, rule_name, matched action, content template).
const ALERTS: [(&str, &str, &str); 5] = [
    ("adp.event.command", "PatternMatcherRule", "sudo su -"),
    ("adp.event.command", "DangerousCommands", "rm -rf /var/log"),
    ("adp.event.screen.content", "ScreenContentRule", "password"),
    ("adp.event.screen.windowtitle", "WindowTitleRule", "regedit"),
    (
        "adp.event.screen.creditcard",
        "CreditCardRule",
        "4111 1111 1111 1111",
    ),
];
const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "svc-backup"];
const SERVERS: [&str; 5] = [
    "10.30.255.70",
    "10.30.1.12",
    "10.40.2.7",
    "db01.corp.example",
    "web02.corp.example",
];
/// Closed sessions of the initial history, and how far back it reaches.
const HISTORY: usize = 240;
const HISTORY_US: i64 = 6 * 3600 * 1_000_000;
const ACTIVE_AT_START: usize = 12;
/// Above this many active sessions, a step never starts one.
const MAX_ACTIVE: usize = 60;

pub(crate) struct World {
    rng: ChaCha8Rng,
    pub(crate) sessions: Vec<SpsSession>,
    health: SpsHealth,
    /// Latest start handed out (starts are unique and increasing).
    last_start_us: i64,
}

impl World {
    /// The world of `seed`, its history ending at `now_us`.
    pub(crate) fn generate(seed: u64, now_us: i64) -> World {
        let mut w = World {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5b5_0000_0000_0014),
            sessions: Vec::new(),
            health: initial_health(),
            last_start_us: 0,
        };
        let mut starts: Vec<(i64, bool)> = Vec::with_capacity(HISTORY + ACTIVE_AT_START);
        for _ in 0..HISTORY {
            starts.push((now_us - w.rng.random_range(60_000_000..HISTORY_US), false));
        }
        for _ in 0..ACTIVE_AT_START {
            starts.push((now_us - w.rng.random_range(60_000_000..7_200_000_000), true));
        }
        starts.sort_unstable();
        for (start, active) in starts {
            let start = start.max(w.last_start_us + 1);
            w.last_start_us = start;
            let mut s = w.new_session(start);
            if !active {
                let end = (start + w.duration_us(s.protocol.as_str())).min(now_us);
                w.history_alerts(&mut s, end);
                w.close(&mut s, end);
            } else if w.rng.random_ratio(1, 2) {
                w.history_alerts(&mut s, now_us);
            }
            w.sessions.push(s);
        }
        w.sync_sessions();
        w
    }

    fn new_session(&mut self, start_us: i64) -> SpsSession {
        let total: u32 = PROTOCOLS.iter().map(|p| p.1).sum();
        let mut pick = self.rng.random_range(0..total);
        let (protocol, _, policies) = PROTOCOLS
            .iter()
            .find(|p| {
                let hit = pick < p.1;
                pick = pick.saturating_sub(p.1);
                hit
            })
            .copied()
            .unwrap_or(PROTOCOLS[0]);
        let key: String = (0..32)
            .map(|_| char::from(b"0123456789abcdef"[self.rng.random_range(0..16)]))
            .collect();
        SpsSession {
            key,
            protocol: protocol.to_string(),
            connection_policy: policies[self.rng.random_range(0..policies.len())].to_string(),
            start_us,
            end_us: None,
            verdict: None,
            score: None,
            user: USERS[self.rng.random_range(0..USERS.len())].to_string(),
            server: SERVERS[self.rng.random_range(0..SERVERS.len())].to_string(),
            node_id: "sps-node-1".to_string(),
            alerts: Vec::new(),
        }
    }

    /// A duration: AUTH_FAIL-ish short ones to hours, in 1/64 s.
    fn duration_us(&mut self, _protocol: &str) -> i64 {
        let secs = match self.rng.random_range(0..100) {
            0..20 => self.rng.random_range(1..60),
            20..60 => self.rng.random_range(60..900),
            60..85 => self.rng.random_range(900..3600),
            _ => self.rng.random_range(3600..14_400),
        };
        secs * 1_000_000 + self.rng.random_range(0..64) * TICK_US
    }

    /// Close `s` at (at most) `end_us`: whole ticks after its start.
    fn close(&mut self, s: &mut SpsSession, end_us: i64) {
        let ticks = ((end_us - s.start_us) / TICK_US).max(0);
        s.end_us = Some(s.start_us + ticks * TICK_US);
        let verdict = match self.rng.random_range(0..100) {
            0..85 => "ACCEPT",
            85..93 => "AUTH_FAIL",
            _ => "TERMINATED",
        };
        s.verdict = Some(verdict.to_string());
        s.score = (verdict != "AUTH_FAIL").then(|| self.rng.random_range(0..=100));
    }

    /// A few alerts between the start of `s` and `until_us`.
    fn history_alerts(&mut self, s: &mut SpsSession, until_us: i64) {
        let n = match self.rng.random_range(0..10) {
            0..6 => 0,
            6..9 => self.rng.random_range(1..4),
            _ => self.rng.random_range(4..12),
        };
        let span = (until_us - s.start_us).max(1);
        let mut times: Vec<i64> = (0..n)
            .map(|_| s.start_us + self.rng.random_range(0..span))
            .collect();
        times.sort_unstable();
        for t in times {
            self.push_alert(s, t);
        }
    }

    fn push_alert(&mut self, s: &mut SpsSession, time_us: i64) {
        let (alert_type, rule_name, action) = ALERTS[self.rng.random_range(0..ALERTS.len())];
        let last = s.alerts.last().map_or(0, |a| a.record_id);
        let user = s.user.clone();
        s.alerts.push(SpsAlert {
            alert_type: alert_type.to_string(),
            channel_id: self.rng.random_range(0..3_u32).to_string(),
            matched_action: action.to_string(),
            matched_content: format!("[{user}@{} ~]$ {action}", s.server),
            matched_regexp: action.split(' ').next().unwrap_or(action).to_string(),
            record_id: last + self.rng.random_range(1..50),
            rule_name: rule_name.to_string(),
            time_us,
        });
    }

    /// One churn step at `now_us`.
    pub(crate) fn step(&mut self, now_us: i64) {
        let active: Vec<usize> = self.active_indices();
        let roll = self.rng.random_range(0..100);
        if active.is_empty() || (roll < 40 && active.len() < MAX_ACTIVE) {
            self.start_session(now_us);
        } else if roll < 75 || active.len() >= MAX_ACTIVE {
            let i = active[self.rng.random_range(0..active.len())];
            let mut s = std::mem::replace(&mut self.sessions[i], placeholder());
            self.close(&mut s, now_us);
            self.sessions[i] = s;
        } else {
            let i = active[self.rng.random_range(0..active.len())];
            let mut s = std::mem::replace(&mut self.sessions[i], placeholder());
            let t = now_us.max(s.alerts.last().map_or(0, |a| a.time_us));
            self.push_alert(&mut s, t);
            self.sessions[i] = s;
        }
        self.nudge_health();
        self.sync_sessions();
    }

    fn start_session(&mut self, now_us: i64) {
        let start = now_us.max(self.last_start_us + 1);
        self.last_start_us = start;
        let s = self.new_session(start);
        self.sessions.push(s);
    }

    /// Fault `flood`: `n` closed sessions that started in the last `n` µs
    /// (duration 0, so they end by now).
    pub(crate) fn flood(&mut self, n: usize, now_us: i64) {
        let first = (now_us - n as i64).max(self.last_start_us + 1);
        for i in 0..n as i64 {
            let start = first + i;
            self.last_start_us = start;
            let mut s = self.new_session(start);
            self.close(&mut s, start);
            self.sessions.push(s);
        }
    }

    fn active_indices(&self) -> Vec<usize> {
        (0..self.sessions.len())
            .filter(|&i| self.sessions[i].active())
            .collect()
    }

    /// Health `sessions` = the active sessions by protocol, now.
    fn sync_sessions(&mut self) {
        let mut by: BTreeMap<String, u64> = PROTOCOLS
            .iter()
            .map(|p| (p.0.to_ascii_lowercase(), 0))
            .collect();
        for s in self.sessions.iter().filter(|s| s.active()) {
            *by.entry(s.protocol.to_ascii_lowercase()).or_default() += 1;
        }
        self.health.sessions = by;
    }

    /// Move the health values a little (bounded).
    fn nudge_health(&mut self) {
        let r = &mut self.rng;
        let h = &mut self.health;
        let nudge = |v: u32, lo: u32, hi: u32, r: &mut ChaCha8Rng| {
            (v as i64 + r.random_range(-1..=1)).clamp(lo as i64, hi as i64) as u32
        };
        h.cpu = nudge(h.cpu, 2, 95, r);
        h.memory = nudge(h.memory, 20, 90, r);
        h.disk = nudge(h.disk, 30, 80, r);
        h.load1_centi = nudge(h.load1_centi, 5, 400, r);
        for ix in &mut h.indexers {
            let busy = nudge(
                ix.workers_count - ix.idle_workers_count,
                0,
                ix.workers_count,
                r,
            );
            ix.idle_workers_count = ix.workers_count - busy;
            ix.indexer_jobs = nudge(ix.indexer_jobs, 0, 20, r);
        }
        h.remaining_tasks = nudge(h.remaining_tasks, 0, 50, r);
        if r.random_ratio(1, 400) {
            h.raid_status = if h.raid_status == "OK" {
                "DEGRADED"
            } else {
                "OK"
            }
            .to_string();
        }
    }

    pub(crate) fn truth(&self, now_us: i64) -> SpsTruth {
        SpsTruth {
            firmware_version: FIRMWARE.to_string(),
            now: now_us as f64 / 1e6,
            sessions: self.sessions.clone(),
            health: self.health.clone(),
        }
    }

    pub(crate) fn health(&self) -> &SpsHealth {
        &self.health
    }

    pub(crate) fn find(&self, key: &str) -> Option<&SpsSession> {
        self.sessions.iter().find(|s| s.key == key)
    }
}

fn placeholder() -> SpsSession {
    SpsSession {
        key: String::new(),
        protocol: String::new(),
        connection_policy: String::new(),
        start_us: 0,
        end_us: None,
        verdict: None,
        score: None,
        user: String::new(),
        server: String::new(),
        node_id: String::new(),
        alerts: Vec::new(),
    }
}

fn initial_health() -> SpsHealth {
    SpsHealth {
        cpu: 17,
        memory: 46,
        swap: 3,
        disk: 52,
        load1_centi: 64,
        load5_centi: 58,
        load15_centi: 51,
        sessions: BTreeMap::new(),
        indexers: vec![SpsIndexer {
            ip: "127.0.0.1".into(),
            workers_count: 4,
            idle_workers_count: 3,
            indexer_jobs: 2,
            screenshot_jobs: 0,
            video_jobs: 1,
        }],
        processing_tasks: 1,
        remaining_tasks: 5,
        raid_status: "OK".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_165_558_000_000;

    fn counts(w: &World) -> BTreeMap<String, u64> {
        let mut m: BTreeMap<String, u64> =
            w.health.sessions.keys().map(|k| (k.clone(), 0)).collect();
        for s in w.sessions.iter().filter(|s| s.active()) {
            *m.entry(s.protocol.to_ascii_lowercase()).or_default() += 1;
        }
        m
    }

    #[test]
    fn seeded_history_is_deterministic_and_sane() {
        let a = World::generate(7, NOW);
        let b = World::generate(7, NOW);
        assert_eq!(a.sessions, b.sessions);
        assert_eq!(a.sessions.len(), HISTORY + ACTIVE_AT_START);
        assert_eq!(a.active_indices().len(), ACTIVE_AT_START);
        assert!(a.sessions.windows(2).all(|p| p[0].start_us < p[1].start_us));
        assert!(
            a.sessions
                .iter()
                .all(|s| s.start_us < NOW && s.end_us.is_none_or(|e| e <= NOW))
        );
        for s in a.sessions.iter().filter(|s| !s.active()) {
            assert_eq!((s.end_us.unwrap() - s.start_us) % TICK_US, 0);
            assert_eq!(s.score.is_none(), s.verdict.as_deref() == Some("AUTH_FAIL"));
        }
        assert!(a.sessions.iter().any(|s| !s.alerts.is_empty()));
        assert_eq!(counts(&a), a.health.sessions);
        assert_eq!(a.health.sessions.len(), 7);
    }

    #[test]
    fn churn_keeps_sessions_counts_and_alerts_append_only() {
        let mut w = World::generate(3, NOW);
        for i in 0..2000 {
            let before: Vec<SpsSession> = w.sessions.clone();
            w.step(NOW + i * 1_000_000);
            assert_eq!(counts(&w), w.health.sessions);
            for (old, new) in before.iter().zip(&w.sessions) {
                assert_eq!(old.key, new.key);
                assert!(new.alerts.starts_with(&old.alerts));
                if !old.active() {
                    assert_eq!(old, new, "a closed session never changes");
                }
            }
            for s in &w.sessions {
                assert!(s.alerts.windows(2).all(|p| p[0].record_id < p[1].record_id));
            }
        }
        assert!(w.active_indices().len() <= MAX_ACTIVE);
    }

    #[test]
    fn flood_adds_closed_sessions_ending_by_now() {
        let mut w = World::generate(1, NOW);
        let n = w.sessions.len();
        w.flood(20_000, NOW);
        assert_eq!(w.sessions.len(), n + 20_000);
        assert!(
            w.sessions[n..]
                .iter()
                .all(|s| !s.active() && s.start_us <= NOW && s.duration() == Some(0.0))
        );
        assert!(w.sessions.windows(2).all(|p| p[0].start_us < p[1].start_us));
    }
}
