//! The JSON bodies the poller reads (`docs/sps-api.md` §1.3, §4.5; the
//! contract §A). Only the fields used are modelled, every one optional
//! (schema drift across firmware): a missing field is `None`, never an error.

use serde::Deserialize;
use serde_json::Value;

use super::time::SpsTime;

/// `{"items": [...], "meta": {...}}`.
#[derive(Debug, Deserialize)]
pub struct Collection<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    #[serde(default)]
    pub meta: Meta,
}

/// `{"key", "body", "meta"}`: one session.
#[derive(Debug, Deserialize)]
pub struct Item<T> {
    pub key: String,
    pub body: Option<T>,
}

/// The fields of `meta` the poller uses.
#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    pub next: Option<String>,
    pub match_count: Option<u64>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// A session's body (the `fields=` subset the poller asks for).
#[derive(Debug, Default, Deserialize)]
pub struct SessionBody {
    #[serde(default)]
    pub active: Value,
    pub start_time: Option<String>,
    #[serde(default)]
    pub duration: Value,
    pub protocol: Option<String>,
    pub verdict: Option<String>,
    #[serde(default)]
    pub recording: Value,
    #[serde(default)]
    pub analytics: Value,
}

impl SessionBody {
    /// `active`: `true`/`false`, or the strings older firmware sends.
    pub fn active(&self) -> Option<bool> {
        match &self.active {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
    pub fn start(&self) -> Option<SpsTime> {
        SpsTime::parse_rfc3339(self.start_time.as_deref()?)
    }
    pub fn duration(&self) -> Option<f64> {
        number(&self.duration)
    }
    pub fn connection_policy(&self) -> Option<&str> {
        self.recording.get("connection_policy")?.as_str()
    }
    pub fn risk_score(&self) -> Option<f64> {
        number(self.analytics.get("score")?.get("aggregated")?)
    }
}

/// A number, or a string holding one (older firmware).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// One content-policy alert (`…/alerts` items). `matched_*` are never read.
#[derive(Debug, Default, Deserialize)]
pub struct Alert {
    pub alert_type: Option<String>,
    pub rule_name: Option<String>,
}

/// `/api/info`'s body.
#[derive(Debug, Default, Deserialize)]
pub struct Info {
    pub firmware_version: Option<String>,
}

/// `{"key", "body"}` of a single object (`/api/info`, `/api/health_status`,
/// `/api/audit/sessions/<key>`).
#[derive(Debug, Deserialize)]
pub struct Single<T> {
    pub body: Option<T>,
}

/// `/api/health_status`'s body: `{"health_status": {...}}`.
#[derive(Debug, Default, Deserialize)]
pub struct HealthBody {
    #[serde(default)]
    pub health_status: Value,
}

/// The appliance gauges, read out of `health_status`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Health {
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub swap: Option<f64>,
    pub disk: Option<f64>,
    pub load: [Option<f64>; 3],
    /// `sessions.<proto>` as sent (lower case), sorted by protocol.
    pub sessions: Vec<(String, f64)>,
    pub indexer_workers: Option<f64>,
    pub indexer_idle_workers: Option<f64>,
    /// index, screenshot, video sums.
    pub indexer_jobs: [Option<f64>; 3],
    pub raid_ok: Option<bool>,
}

/// At most this many `sessions.<proto>` keys are kept (bounded labels).
pub const MAX_PROTOCOLS: usize = 32;

impl HealthBody {
    pub fn health(&self, cut: impl Fn(&str) -> String) -> Health {
        let h = &self.health_status;
        let f = |k: &str| h.get(k).and_then(number);
        let mut sessions: Vec<(String, f64)> = h
            .get("sessions")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((cut(k), number(v)?)))
                    .take(MAX_PROTOCOLS)
                    .collect()
            })
            .unwrap_or_default();
        sessions.sort_by(|a, b| a.0.cmp(&b.0));
        sessions.dedup_by(|a, b| a.0 == b.0);
        let indexers = h
            .get("indexer")
            .and_then(|i| i.get("indexer_status"))
            .and_then(Value::as_array);
        let sum = |k: &str| {
            indexers.map(|v| {
                v.iter()
                    .filter_map(|i| i.get(k).and_then(number))
                    .sum::<f64>()
            })
        };
        Health {
            cpu: f("cpu"),
            memory: f("memory"),
            swap: f("swap"),
            disk: f("disk"),
            load: [f("load1"), f("load5"), f("load15")],
            sessions,
            indexer_workers: sum("workers_count"),
            indexer_idle_workers: sum("idle_workers_count"),
            indexer_jobs: [
                sum("indexer_jobs"),
                sum("screenshot_jobs"),
                sum("video_jobs"),
            ],
            raid_ok: h
                .get("raid")
                .and_then(|r| r.get("status"))
                .and_then(|s| s.get("status"))
                .and_then(Value::as_str)
                .map(|s| s == "OK"),
        }
    }
}

/// The `error.type` of an error body, if it has one.
pub fn error_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct E {
        error: Option<Inner>,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let e: E = serde_json::from_slice(body).ok()?;
    e.error?.kind
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/sps/");
        std::fs::read(format!("{p}{name}")).unwrap()
    }

    #[test]
    fn alerts_fixture() {
        let c: Collection<Alert> = serde_json::from_slice(&fixture("alerts.json")).unwrap();
        assert_eq!(c.items.len(), 2);
        assert_eq!(c.items[0].alert_type.as_deref(), Some("adp.event.command"));
        assert_eq!(c.items[1].rule_name.as_deref(), Some("PatternMatcherRule"));
        assert_eq!(c.meta.next, None);
        assert_eq!(c.meta.match_count, Some(3));
        assert_eq!(c.meta.limit, Some(500));
    }

    #[test]
    fn other_fixtures_parse_as_collections() {
        for f in ["events.json", "indexing.json", "trail-downloads.json"] {
            let c: Collection<Value> = serde_json::from_slice(&fixture(f)).unwrap();
            assert!(!c.items.is_empty(), "{f}");
        }
    }

    #[test]
    fn contract_session_page() {
        let text = r#"{"items":[{"key":"k1","body":{"active":false,"start_time":"2026-12-01T10:00:00.000001Z","end_time":"2026-12-01T10:05:00.000001Z","duration":300.5,"protocol":"SSH","verdict":"ACCEPT","recording":{"connection_policy":"ssh-prod"},"analytics":{"score":{"aggregated":73}},"node_id":"n1"},"meta":{"href":"/api/audit/sessions/k1"}},
            {"key":"k2","body":{"active":"true","start_time":"2026-12-01T10:01:00Z","end_time":null,"duration":null,"protocol":"RDP","verdict":null}}],
            "meta":{"href":"/api/audit/sessions","parent":"/api/audit","first":"x","last":"y","next":"/api/audit/sessions?offset=2","previous":null,"limit":2,"offset":0,"match_count":12001,"fields":["active"]}}"#;
        let c: Collection<Item<SessionBody>> = serde_json::from_str(text).unwrap();
        assert_eq!(c.meta.match_count, Some(12_001));
        assert_eq!(c.meta.next.as_deref(), Some("/api/audit/sessions?offset=2"));
        let a = c.items[0].body.as_ref().unwrap();
        assert_eq!(a.active(), Some(false));
        assert_eq!(a.duration(), Some(300.5));
        assert_eq!(a.connection_policy(), Some("ssh-prod"));
        assert_eq!(a.risk_score(), Some(73.0));
        assert_eq!(
            a.start().unwrap().to_rfc3339(),
            "2026-12-01T10:00:00.000001Z"
        );
        let b = c.items[1].body.as_ref().unwrap();
        assert_eq!(b.active(), Some(true));
        assert_eq!(
            (b.duration(), b.connection_policy(), b.risk_score()),
            (None, None, None)
        );
        assert_eq!(b.verdict, None);
    }

    #[test]
    fn contract_health() {
        let text = r#"{"key":"health_status","body":{"health_status":{"cpu":12,"memory":40.5,"swap":0,"disk":71,
            "load1":0.5,"load5":0.25,"load15":0.125,"sessions":{"ssh":3,"rdp":1,"http":0},"sessions_total":4,
            "indexer":{"indexer_status":[{"capabilities":[],"idle_workers_count":1,"indexer_jobs":2,"screenshot_jobs":3,"video_jobs":4,"workers_count":5,"ip":"1"},
            {"idle_workers_count":2,"indexer_jobs":1,"screenshot_jobs":1,"video_jobs":1,"workers_count":3}],"processing_tasks":0,"remaining_tasks":0},
            "raid":{"status":{"status":"DEGRADED"}}}},"meta":{}}"#;
        let s: Single<HealthBody> = serde_json::from_str(text).unwrap();
        let h = s.body.unwrap().health(str::to_string);
        assert_eq!(h.cpu, Some(12.0));
        assert_eq!(h.memory, Some(40.5));
        assert_eq!(h.load, [Some(0.5), Some(0.25), Some(0.125)]);
        assert_eq!(
            h.sessions,
            [
                ("http".to_string(), 0.0),
                ("rdp".into(), 1.0),
                ("ssh".into(), 3.0)
            ]
        );
        assert_eq!(h.indexer_workers, Some(8.0));
        assert_eq!(h.indexer_idle_workers, Some(3.0));
        assert_eq!(h.indexer_jobs, [Some(3.0), Some(4.0), Some(5.0)]);
        assert_eq!(h.raid_ok, Some(false));
    }

    #[test]
    fn error_bodies() {
        let b = br#"{"error":{"type":"Unauthenticated","message":"m","details":{"path":"/api/x"}},"meta":{}}"#;
        assert_eq!(error_type(b).as_deref(), Some("Unauthenticated"));
        assert_eq!(error_type(b"not json"), None);
    }
}
