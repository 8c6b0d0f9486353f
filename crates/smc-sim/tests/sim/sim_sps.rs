//! The SPS simulator over HTTP (contract §A, §E): login and cookies, the
//! session collection's paging, `q`, `fields` and sort, one session,
//! alerts, the faults, the flood past 10,000 matches, and the truth.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde_json::{Value, json};
use smc_sim::{SimOptions, SimServer, SpsTruth};

struct Sps {
    sim: SimServer,
    http: reqwest::Client,
    url: String,
    user: String,
    password: String,
}

impl Sps {
    async fn start() -> Sps {
        let sim = smc_lab::start_sim(SimOptions::default()).await;
        let w = sim.sps_world().unwrap();
        Sps {
            sim,
            http: reqwest::Client::new(),
            url: w.url,
            user: w.username,
            password: w.password,
        }
    }

    async fn login_as(&self, password: &str, query: &str) -> reqwest::Response {
        let url = format!("{}/api/authentication{query}", self.url);
        self.http
            .get(url)
            .basic_auth(&self.user, Some(password))
            .send()
            .await
            .unwrap()
    }

    /// Log in; the `session_id` cookie value.
    async fn login(&self) -> String {
        let r = self.login_as(&self.password, "?login_method=local").await;
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        let id = cookie
            .strip_prefix("session_id=")
            .unwrap()
            .strip_suffix("; Path=/; HttpOnly")
            .unwrap();
        assert_eq!(id.len(), 40);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"meta": {"href": "/api/authentication", "parent": "/api"}})
        );
        id.to_string()
    }

    async fn get(&self, cookie: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(c) = cookie {
            req = req.header("cookie", format!("session_id={c}"));
        }
        let r = req.send().await.unwrap();
        assert!(r.headers().contains_key("date"));
        (r.status(), r.json().await.unwrap())
    }

    async fn control(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/sim/sps/{path}", self.sim.url()))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    fn truth(&self) -> SpsTruth {
        self.sim.sps_truth().unwrap()
    }
}

#[tokio::test]
async fn login_cookie_info_health() {
    let s = Sps::start().await;
    let (status, v) = s.get(None, "/api/info").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["type"], "Unauthenticated");
    assert_eq!(v["error"]["details"], json!({"path": "/api/info"}));
    for (pw, q) in [("wrong", ""), (s.password.as_str(), "?login_method=ldap")] {
        let r = s.login_as(pw, q).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["type"],
            "AuthenticationFailure"
        );
    }
    let c = s.login().await;
    let (status, v) = s.get(Some(&c), "/api/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (v["key"].as_str(), v["body"]["firmware_version"].as_str()),
        (Some("info"), Some("7.5.1"))
    );
    let (_, v) = s.get(Some(&c), "/api/health_status").await;
    let h = &v["body"]["health_status"];
    let truth = s.truth();
    let active = truth.sessions.iter().filter(|x| x.active()).count() as u64;
    assert_eq!(h["sessions"], json!(truth.health.sessions));
    assert_eq!(h["sessions_total"], json!(active));
    assert_eq!(h["raid"]["status"]["status"], "OK");
    assert_eq!(h["indexer"]["indexer_status"][0]["workers_count"], 4);
    let (status, v) = s
        .get(
            Some("0123456789012345678901234567890123456789"),
            "/api/info",
        )
        .await;
    assert_eq!(
        (status, v["error"]["type"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Unauthenticated"))
    );
    s.sim.shutdown().await;
}

#[tokio::test]
async fn sessions_paging_query_fields_and_alerts() {
    let s = Sps::start().await;
    let c = s.login().await;
    let truth = s.truth();
    let keys: Vec<&str> = truth.sessions.iter().map(|x| x.key.as_str()).collect();
    // Follow `next` from the first page to the end: every session, in order.
    let (mut path, mut got) = (
        Some("/api/audit/sessions?fields=*&limit=100".to_string()),
        Vec::new(),
    );
    while let Some(p) = path {
        let (status, v) = s.get(Some(&c), &p).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["meta"]["match_count"], keys.len());
        assert_eq!(v["meta"]["fields"], json!(["*"]));
        got.extend(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["key"].as_str().unwrap().to_string()),
        );
        path = v["meta"]["next"].as_str().map(str::to_string);
    }
    assert_eq!(got, keys);
    // `start` (inclusive), `q`, sort, fields.
    let tenth = &truth.sessions[10];
    let start = humantime::format_rfc3339_micros(
        SystemTime::UNIX_EPOCH + Duration::from_micros(tenth.start_us as u64),
    );
    let (_, v) = s.get(Some(&c), &format!("/api/audit/sessions?start={start}&sort=-start_time&fields=start_time,recording.connection_policy&limit=1")).await;
    assert_eq!(v["meta"]["match_count"], keys.len() - 10);
    let last = truth.sessions.last().unwrap();
    assert_eq!(v["items"][0]["key"], last.key.as_str());
    assert_eq!(
        v["items"][0]["body"],
        json!({"start_time": humantime::format_rfc3339_micros(SystemTime::UNIX_EPOCH + Duration::from_micros(last.start_us as u64)).to_string(),
            "recording": {"connection_policy": last.connection_policy}})
    );
    let active: Vec<_> = truth.sessions.iter().filter(|x| x.active()).collect();
    let (_, v) = s.get(Some(&c), "/api/audit/sessions?q=active%3Atrue%20AND%20start_time%3A%5B*%20TO%20*%5D&fields=end_time,duration,verdict").await;
    assert_eq!(v["meta"]["match_count"], active.len());
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["body"] == json!({"end_time": null, "duration": null, "verdict": null}))
    );
    let (_, v) = s.get(Some(&c), "/api/audit/sessions?limit=2").await;
    assert_eq!(
        v["items"][0],
        json!({"key": keys[0], "meta": {"href": format!("/api/audit/sessions/{}", keys[0])}})
    );
    let (status, v) = s
        .get(Some(&c), "/api/audit/sessions?q=user.name%3Abob")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["type"], "InvalidQuery");
    assert_eq!(
        v["error"]["message"],
        "unsupported field in q: \"user.name\""
    );
    // One session, unknown session, alerts.
    let with_alerts = truth.sessions.iter().find(|x| x.alerts.len() >= 2).unwrap();
    let (_, v) = s
        .get(
            Some(&c),
            &format!("/api/audit/sessions/{}?fields=protocol", with_alerts.key),
        )
        .await;
    assert_eq!(
        (&v["key"], &v["body"]),
        (
            &json!(with_alerts.key),
            &json!({"protocol": with_alerts.protocol})
        )
    );
    let (status, v) = s.get(Some(&c), "/api/audit/sessions/nope").await;
    assert_eq!(
        (status, v["error"]["type"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );
    let (_, v) = s
        .get(
            Some(&c),
            &format!(
                "/api/audit/sessions/{}/alerts?offset=1&limit=1",
                with_alerts.key
            ),
        )
        .await;
    assert_eq!(v["meta"]["match_count"], with_alerts.alerts.len());
    assert_eq!(v["items"][0]["record_id"], with_alerts.alerts[1].record_id);
    assert_eq!(
        v["items"][0]["alert_type"],
        with_alerts.alerts[1].alert_type.as_str()
    );
    s.sim.shutdown().await;
}

#[tokio::test]
async fn faults_flood_and_requests() {
    let s = Sps::start().await;
    let c = s.login().await;
    assert_eq!(
        s.control("fault/expire_cookies").await,
        (StatusCode::OK, json!({"expired": 1}))
    );
    assert_eq!(
        s.get(Some(&c), "/api/info").await.0,
        StatusCode::UNAUTHORIZED
    );
    let c = s.login().await;
    s.control("fault/forbid?endpoint=sessions&seconds=600")
        .await;
    let (status, v) = s.get(Some(&c), "/api/audit/sessions").await;
    assert_eq!(
        (status, v["error"]["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("Forbidden"))
    );
    assert_eq!(
        s.get(Some(&c), "/api/health_status").await.0,
        StatusCode::OK
    );
    s.control("fault/forbid?endpoint=sessions&seconds=0").await;
    s.control("fault/throttle?count=2&retry_after=3").await;
    for _ in 0..2 {
        let r = s
            .http
            .get(format!("{}/api/info", s.url))
            .header("cookie", format!("session_id={c}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "3");
    }
    s.control("fault/error?count=1").await;
    let (status, v) = s.get(Some(&c), "/api/info").await;
    assert_eq!(
        (status, v["error"]["type"].as_str()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("InternalServerError")
        )
    );
    assert_eq!(s.get(Some(&c), "/api/info").await.0, StatusCode::OK);
    let (status, v) = s.control("fault/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["kinds"], json!(smc_sim::SPS_FAULT_KINDS));
    assert_eq!(
        s.control("fault/flood?sessions=x").await.0,
        StatusCode::BAD_REQUEST
    );
    // A flood: more than 10,000 matches, of which 10,000 are reachable.
    let before = s.truth().sessions.len();
    assert_eq!(
        s.control("fault/flood?sessions=20000").await,
        (StatusCode::OK, json!({"flooded": 20000}))
    );
    let (_, v) = s
        .get(Some(&c), "/api/audit/sessions?offset=9999&limit=500")
        .await;
    assert_eq!(v["meta"]["match_count"], before + 20_000);
    assert_eq!(
        (v["items"].as_array().unwrap().len(), &v["meta"]["next"]),
        (1, &Value::Null)
    );
    let (_, v) = s.get(Some(&c), "/api/audit/sessions?offset=20000").await;
    assert_eq!(
        (
            v["meta"]["offset"].as_u64(),
            v["items"].as_array().unwrap().len()
        ),
        (Some(10_000), 0)
    );
    let requests = s.sim.sps_requests();
    assert_eq!(requests["info"]["429"], 2);
    assert_eq!(requests["info"]["500"], 1);
    assert_eq!(requests["sessions"]["403"], 1);
    assert_eq!(requests["authentication"]["200"], 2);
    let http: Value = s
        .http
        .get(format!("{}/sim/sps/requests", s.sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(http["info"]["429"], 2);
    s.sim.shutdown().await;
}

#[tokio::test]
async fn clock_skew_moves_the_date_header() {
    let s = Sps::start().await;
    s.control("fault/clock_skew?seconds=-3600").await;
    let r = s
        .http
        .get(format!("{}/api/info", s.url))
        .send()
        .await
        .unwrap();
    let date = httpdate::parse_http_date(r.headers()["date"].to_str().unwrap()).unwrap();
    let behind = SystemTime::now().duration_since(date).unwrap().as_secs();
    assert!((3595..=3601).contains(&behind), "{behind}");
    s.sim.shutdown().await;
}

#[tokio::test]
async fn truth_after_churn() {
    let s = Sps::start().await;
    let since = s.truth().now;
    assert_eq!(
        s.control("churn?steps=300").await,
        (StatusCode::OK, json!({"applied": 300}))
    );
    let truth = s.truth();
    let started: Vec<_> = truth
        .sessions
        .iter()
        .filter(|x| x.start_seconds() >= since)
        .collect();
    assert!(!started.is_empty());
    let text: String = s
        .http
        .get(format!(
            "{}/sim/sps/truth?since={since}&sps=pam",
            s.sim.url()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, s.sim.sps_truth_text(since, "pam").unwrap());
    let samples = smc_lab::parse_samples(&text);
    let total = |name: &str| -> f64 {
        samples
            .iter()
            .filter(|(k, _)| k.0 == name)
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(total("sps_sessions_started_total"), started.len() as f64);
    let closed = started.iter().filter(|x| !x.active()).count() as f64;
    assert_eq!(total("sps_sessions_closed_total"), closed);
    assert_eq!(total("sps_session_duration_seconds_count"), closed);
    let alerts: usize = started.iter().map(|x| x.alerts.len()).sum();
    assert_eq!(total("sps_alerts_total"), alerts as f64);
    let active = truth.sessions.iter().filter(|x| x.active()).count() as f64;
    assert_eq!(total("sps_active_sessions"), active);
    let (status, _) = s.control("churn?rate=-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = s
        .http
        .get(format!("{}/sim/sps/truth", s.sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    s.sim.shutdown().await;
}

#[tokio::test]
async fn control_without_sps_or_unknown_path_is_404() {
    let off = smc_lab::start_sim(SimOptions {
        sps: None,
        ..SimOptions::default()
    })
    .await;
    assert!(off.sps_world().is_none());
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/sim/sps/world", off.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"details": "the SPS simulator is off", "status": 404})
    );
    off.shutdown().await;
    let s = Sps::start().await;
    let (status, v) = s.control("nothing").await;
    assert_eq!(
        (status, v["details"].as_str()),
        (
            StatusCode::NOT_FOUND,
            Some("Unknown SPS simulator control endpoint")
        )
    );
    let c = s.login().await;
    let (status, v) = s.get(Some(&c), "/api/configuration").await;
    assert_eq!(
        (status, v["error"]["type"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );
    s.sim.shutdown().await;
}
