//! The SPS simulator's ground truth as the exporter should serve it: the
//! data families of the SPS contract (§D) in Prometheus text 0.0.4, for an
//! exporter whose `counting_since` is `since` and which has polled up to
//! now (§C): a session counts as started iff `start_time >= since`; only
//! those count as closed, in the histograms and in the alerts; the health
//! gauges are the current values. Written from the contract, not from the
//! exporter's code, so that it can be an oracle for it (only the label
//! escaping is shared).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use smc_exporter::metrics::exposition::escape_label_value;
use smc_sim::{SimServer, SpsSession, SpsTruth, SpsTruthText};

/// Upper bounds of `sps_session_duration_seconds` (seconds).
pub const DURATION_BUCKETS: [u32; 10] = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800];
/// Upper bounds of `sps_session_risk_score`.
pub const RISK_BUCKETS: [u32; 10] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

type Labels = Vec<(&'static str, String)>;

struct Out {
    text: String,
    sps: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, String)], value: impl std::fmt::Display) {
        let _ = write!(self.text, "{name}{{sps=\"");
        escape_label_value(&mut self.text, &self.sps);
        self.text.push('"');
        for (l, v) in labels {
            let _ = write!(self.text, ",{l}=\"");
            escape_label_value(&mut self.text, v);
            self.text.push('"');
        }
        let _ = writeln!(self.text, "}} {value}");
    }

    fn counter_family(&mut self, name: &str, help: &str, series: &BTreeMap<Labels, u64>) {
        self.family(name, "counter", help);
        for (labels, n) in series {
            self.sample(name, labels, n);
        }
    }
}

/// A histogram's observations per protocol.
type Observations = BTreeMap<String, Vec<f64>>;

/// The expected data families of `truth` for an exporter named `sps` whose
/// counting started at `since` (unix seconds).
pub fn render(truth: &SpsTruth, since: f64, sps: &str) -> String {
    let mut out = Out {
        text: String::new(),
        sps: sps.to_string(),
    };
    let counted: Vec<&SpsSession> = truth
        .sessions
        .iter()
        .filter(|s| s.start_us as f64 >= since * 1e6)
        .collect();
    out.family(
        "sps_info",
        "gauge",
        "Firmware of the SPS appliance (always 1).",
    );
    out.sample(
        "sps_info",
        &[("firmware_version", truth.firmware_version.clone())],
        1,
    );
    out.family(
        "sps_active_sessions",
        "gauge",
        "Active sessions by protocol (health_status sessions).",
    );
    for (protocol, n) in &truth.health.sessions {
        out.sample("sps_active_sessions", &[("protocol", protocol.clone())], n);
    }
    sessions(&mut out, &counted);
    alerts(&mut out, &counted);
    health(&mut out, truth);
    out.text
}

fn sessions(out: &mut Out, counted: &[&SpsSession]) {
    let mut started: BTreeMap<Labels, u64> = BTreeMap::new();
    let mut closed: BTreeMap<Labels, u64> = BTreeMap::new();
    let (mut durations, mut risks) = (Observations::new(), Observations::new());
    for s in counted {
        let policy = s.connection_policy.clone();
        *started
            .entry(vec![
                ("protocol", s.protocol.clone()),
                ("connection_policy", policy.clone()),
            ])
            .or_default() += 1;
        let Some(duration) = s.duration() else {
            continue;
        };
        let verdict = s.verdict.clone().unwrap_or_default();
        *closed
            .entry(vec![
                ("protocol", s.protocol.clone()),
                ("connection_policy", policy),
                ("verdict", verdict),
            ])
            .or_default() += 1;
        durations
            .entry(s.protocol.clone())
            .or_default()
            .push(duration);
        if let Some(score) = s.score {
            risks
                .entry(s.protocol.clone())
                .or_default()
                .push(f64::from(score));
        }
    }
    out.counter_family(
        "sps_sessions_started_total",
        "Sessions that started since counting began.",
        &started,
    );
    out.counter_family(
        "sps_sessions_closed_total",
        "Counted sessions that closed, by verdict.",
        &closed,
    );
    histogram(
        out,
        "sps_session_duration_seconds",
        "Duration of closed counted sessions.",
        &DURATION_BUCKETS,
        &durations,
    );
    histogram(
        out,
        "sps_session_risk_score",
        "analytics.score.aggregated of closed counted sessions.",
        &RISK_BUCKETS,
        &risks,
    );
}

fn histogram(out: &mut Out, name: &str, help: &str, buckets: &[u32], obs: &Observations) {
    out.family(name, "histogram", help);
    for (protocol, values) in obs {
        for le in buckets {
            let n = values.iter().filter(|v| **v <= f64::from(*le)).count();
            let labels = [("protocol", protocol.clone()), ("le", le.to_string())];
            out.sample(&format!("{name}_bucket"), &labels, n);
        }
        let labels = [("protocol", protocol.clone()), ("le", "+Inf".to_string())];
        out.sample(&format!("{name}_bucket"), &labels, values.len());
        let sum: f64 = values.iter().sum();
        out.sample(
            &format!("{name}_sum"),
            &[("protocol", protocol.clone())],
            sum,
        );
        out.sample(
            &format!("{name}_count"),
            &[("protocol", protocol.clone())],
            values.len(),
        );
    }
}

fn alerts(out: &mut Out, counted: &[&SpsSession]) {
    let mut series: BTreeMap<Labels, u64> = BTreeMap::new();
    for s in counted {
        for a in &s.alerts {
            let labels = vec![
                ("alert_type", a.alert_type.clone()),
                ("rule_name", a.rule_name.clone()),
                ("protocol", s.protocol.clone()),
                ("connection_policy", s.connection_policy.clone()),
            ];
            *series.entry(labels).or_default() += 1;
        }
    }
    out.counter_family("sps_alerts_total", "Alerts of counted sessions.", &series);
}

fn health(out: &mut Out, truth: &SpsTruth) {
    let h = &truth.health;
    for (name, what, v) in [
        ("sps_cpu_usage_percent", "CPU", h.cpu),
        ("sps_memory_usage_percent", "Memory", h.memory),
        ("sps_swap_usage_percent", "Swap", h.swap),
        ("sps_disk_usage_percent", "Disk", h.disk),
    ] {
        out.family(
            name,
            "gauge",
            &format!("{what} usage of the appliance, percent."),
        );
        out.sample(name, &[], v);
    }
    out.family(
        "sps_load_average",
        "gauge",
        "Load average of the appliance.",
    );
    for (period, centi) in [
        ("1m", h.load1_centi),
        ("5m", h.load5_centi),
        ("15m", h.load15_centi),
    ] {
        out.sample(
            "sps_load_average",
            &[("period", period.to_string())],
            f64::from(centi) / 100.0,
        );
    }
    indexer(out, h);
    out.family(
        "sps_raid_ok",
        "gauge",
        "1 if the RAID status is OK, else 0.",
    );
    out.sample("sps_raid_ok", &[], u8::from(h.raid_status == "OK"));
}

fn indexer(out: &mut Out, h: &smc_sim::SpsHealth) {
    let sum = |f: fn(&smc_sim::SpsIndexer) -> u32| -> u32 { h.indexers.iter().map(f).sum() };
    out.family(
        "sps_indexer_workers",
        "gauge",
        "Indexer workers (sum over indexers).",
    );
    out.sample("sps_indexer_workers", &[], sum(|i| i.workers_count));
    out.family(
        "sps_indexer_idle_workers",
        "gauge",
        "Idle indexer workers (sum over indexers).",
    );
    out.sample(
        "sps_indexer_idle_workers",
        &[],
        sum(|i| i.idle_workers_count),
    );
    out.family(
        "sps_indexer_jobs",
        "gauge",
        "Indexer jobs by kind (sum over indexers).",
    );
    for (kind, n) in [
        ("index", sum(|i| i.indexer_jobs)),
        ("screenshot", sum(|i| i.screenshot_jobs)),
        ("video", sum(|i| i.video_jobs)),
    ] {
        out.sample("sps_indexer_jobs", &[("kind", kind.to_string())], n);
    }
}

/// [`render`] as the simulator's `GET /sim/sps/truth` renderer.
pub fn renderer() -> SpsTruthText {
    SpsTruthText::new(render)
}

/// The expected SPS data families of `sim` now; `None` without its SPS.
pub fn sps_truth_text(sim: &SimServer, since: f64, sps: &str) -> Option<String> {
    Some(render(&sim.sps_truth()?, since, sps))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use smc_sim::{SpsAlert, SpsHealth, SpsIndexer};

    use super::*;

    const T: i64 = 1_796_165_558_000_000;

    fn session(
        key: &str,
        protocol: &str,
        start_us: i64,
        close: Option<(f64, &str, Option<u8>)>,
    ) -> SpsSession {
        SpsSession {
            key: key.into(),
            protocol: protocol.into(),
            connection_policy: "ssh-\"admins\"".into(),
            start_us,
            end_us: close.map(|(d, _, _)| start_us + (d * 1e6) as i64),
            verdict: close.map(|(_, v, _)| v.to_string()),
            score: close.and_then(|(_, _, s)| s),
            user: "bob".into(),
            server: "10.0.0.1".into(),
            node_id: "n".into(),
            alerts: vec![],
        }
    }

    fn alert(record_id: u64, alert_type: &str) -> SpsAlert {
        SpsAlert {
            alert_type: alert_type.into(),
            channel_id: "0".into(),
            matched_action: "ls".into(),
            matched_content: "$ ls".into(),
            matched_regexp: "ls".into(),
            record_id,
            rule_name: "R".into(),
            time_us: T,
        }
    }

    fn truth() -> SpsTruth {
        let mut before = session("a", "SSH", T - 1, Some((5.0, "ACCEPT", Some(99))));
        before.alerts.push(alert(1, "adp.event.command"));
        let mut active = session("b", "SSH", T, None);
        active.alerts.push(alert(3, "adp.event.command"));
        let mut closed = session("c", "SSH", T + 1, Some((45.5, "ACCEPT", Some(73))));
        closed.alerts.extend([
            alert(1, "adp.event.command"),
            alert(2, "adp.event.screen.content"),
        ]);
        let failed = session("d", "RDP", T + 2, Some((2.0, "AUTH_FAIL", None)));
        let sessions = [("http", 0), ("ssh", 1)].map(|(p, n)| (p.to_string(), n));
        SpsTruth {
            firmware_version: "7.5.1".into(),
            now: 0.0,
            sessions: vec![before, active, closed, failed],
            health: SpsHealth {
                cpu: 17,
                memory: 46,
                swap: 3,
                disk: 52,
                load1_centi: 64,
                load5_centi: 100,
                load15_centi: 5,
                sessions: BTreeMap::from(sessions),
                indexers: vec![
                    SpsIndexer {
                        ip: "a".into(),
                        workers_count: 4,
                        idle_workers_count: 3,
                        indexer_jobs: 2,
                        screenshot_jobs: 0,
                        video_jobs: 1,
                    },
                    SpsIndexer {
                        ip: "b".into(),
                        workers_count: 2,
                        idle_workers_count: 2,
                        indexer_jobs: 1,
                        screenshot_jobs: 5,
                        video_jobs: 0,
                    },
                ],
                processing_tasks: 1,
                remaining_tasks: 5,
                raid_status: "DEGRADED".into(),
            },
        }
    }

    #[test]
    fn hand_computed_case() {
        let text = render(&truth(), T as f64 / 1e6, "p");
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let p = r#"connection_policy="ssh-\"admins\"""#;
        let mut want = vec![
            r#"sps_info{sps="p",firmware_version="7.5.1"} 1"#.to_string(),
            r#"sps_active_sessions{sps="p",protocol="http"} 0"#.into(),
            r#"sps_active_sessions{sps="p",protocol="ssh"} 1"#.into(),
            format!(r#"sps_sessions_started_total{{sps="p",protocol="RDP",{p}}} 1"#),
            format!(r#"sps_sessions_started_total{{sps="p",protocol="SSH",{p}}} 2"#),
            format!(
                r#"sps_sessions_closed_total{{sps="p",protocol="RDP",{p},verdict="AUTH_FAIL"}} 1"#
            ),
            format!(
                r#"sps_sessions_closed_total{{sps="p",protocol="SSH",{p},verdict="ACCEPT"}} 1"#
            ),
        ];
        for (proto, v) in [("RDP", 2.0), ("SSH", 45.5)] {
            for le in DURATION_BUCKETS {
                let n = u8::from(v <= f64::from(le));
                want.push(format!(r#"sps_session_duration_seconds_bucket{{sps="p",protocol="{proto}",le="{le}"}} {n}"#));
            }
            want.push(format!(
                r#"sps_session_duration_seconds_bucket{{sps="p",protocol="{proto}",le="+Inf"}} 1"#
            ));
            want.push(format!(
                r#"sps_session_duration_seconds_sum{{sps="p",protocol="{proto}"}} {v}"#
            ));
            want.push(format!(
                r#"sps_session_duration_seconds_count{{sps="p",protocol="{proto}"}} 1"#
            ));
        }
        for le in RISK_BUCKETS {
            let n = u8::from(le >= 80);
            want.push(format!(
                r#"sps_session_risk_score_bucket{{sps="p",protocol="SSH",le="{le}"}} {n}"#
            ));
        }
        want.extend([
            r#"sps_session_risk_score_bucket{sps="p",protocol="SSH",le="+Inf"} 1"#.to_string(),
            r#"sps_session_risk_score_sum{sps="p",protocol="SSH"} 73"#.into(),
            r#"sps_session_risk_score_count{sps="p",protocol="SSH"} 1"#.into(),
            format!(r#"sps_alerts_total{{sps="p",alert_type="adp.event.command",rule_name="R",protocol="SSH",{p}}} 2"#),
            format!(r#"sps_alerts_total{{sps="p",alert_type="adp.event.screen.content",rule_name="R",protocol="SSH",{p}}} 1"#),
            r#"sps_cpu_usage_percent{sps="p"} 17"#.into(),
            r#"sps_memory_usage_percent{sps="p"} 46"#.into(),
            r#"sps_swap_usage_percent{sps="p"} 3"#.into(),
            r#"sps_disk_usage_percent{sps="p"} 52"#.into(),
            r#"sps_load_average{sps="p",period="1m"} 0.64"#.into(),
            r#"sps_load_average{sps="p",period="5m"} 1"#.into(),
            r#"sps_load_average{sps="p",period="15m"} 0.05"#.into(),
            r#"sps_indexer_workers{sps="p"} 6"#.into(),
            r#"sps_indexer_idle_workers{sps="p"} 5"#.into(),
            r#"sps_indexer_jobs{sps="p",kind="index"} 3"#.into(),
            r#"sps_indexer_jobs{sps="p",kind="screenshot"} 5"#.into(),
            r#"sps_indexer_jobs{sps="p",kind="video"} 1"#.into(),
            r#"sps_raid_ok{sps="p"} 0"#.into(),
        ]);
        assert_eq!(samples, want);
        assert_eq!(text.matches("# TYPE ").count(), 16);
        assert!(text.contains("# TYPE sps_session_duration_seconds histogram\n"));
        assert!(text.contains("# TYPE sps_alerts_total counter\n"));
    }

    #[test]
    fn since_after_everything_counts_nothing() {
        let text = render(&truth(), (T + 3) as f64 / 1e6, "p");
        assert!(!text.contains("sps_sessions_started_total{"));
        assert!(!text.contains("sps_alerts_total{"));
        assert!(!text.contains("_bucket{"));
        assert!(text.contains("sps_active_sessions{sps=\"p\",protocol=\"ssh\"} 1\n"));
    }
}
