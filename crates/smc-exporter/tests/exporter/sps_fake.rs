//! A small fake SPS appliance (hyper on 127.0.0.1:0) for the poller's
//! integration tests: login with basic auth and a session cookie, session
//! search with `start`, `q=start_time:[A TO B]`, ascending sort, limit /
//! offset paging capped at 10,000 and `meta.next`, single sessions, alerts
//! by offset, and faults (expired cookies, 403 per endpoint, queued 429 /
//! 500 answers). It counts requests by path class and status.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use smc_exporter::sps::time::SpsTime;

pub const USER: &str = "mon";
pub const PASSWORD: &str = "pw-s3cret";
/// The appliance's clock (its `Date` header), fixed: 2026-12-01T10:00:00Z.
pub const DATE: &str = "Tue, 01 Dec 2026 10:00:00 GMT";

#[derive(Debug, Clone)]
pub struct Session {
    pub key: String,
    pub start: SpsTime,
    pub active: bool,
    pub protocol: &'static str,
    pub policy: &'static str,
    pub verdict: &'static str,
    pub duration: f64,
    pub score: Option<u64>,
    pub alerts: Vec<(&'static str, &'static str)>,
}

#[derive(Debug, Default)]
pub struct World {
    pub sessions: Vec<Session>,
    pub cookies: BTreeSet<String>,
    pub next_cookie: u64,
    /// Queued answers for the next API requests: (status, Retry-After).
    pub faults: Vec<(u16, Option<u64>)>,
    /// Path classes answered 403.
    pub forbid: BTreeSet<&'static str>,
    /// (class, status) → count.
    pub requests: BTreeMap<(String, u16), u64>,
    /// Headers seen: user agents, and whether a request carried a cookie jar's extras.
    pub user_agents: BTreeSet<String>,
}

pub type Shared = Arc<Mutex<World>>;

pub fn count(w: &Shared, class: &str, status: u16) -> u64 {
    let w = w.lock().unwrap();
    w.requests
        .get(&(class.to_string(), status))
        .copied()
        .unwrap_or(0)
}

pub fn t(s: &str) -> SpsTime {
    SpsTime::parse_rfc3339(s).unwrap()
}

/// Serve `world` on 127.0.0.1:0; the task ends with the test's runtime.
pub async fn serve(world: Shared) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let world = world.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let world = world.clone();
                    async move { Ok::<_, Infallible>(answer(&world, &req)) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    addr
}

fn class(path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "authentication"] => "authentication",
        ["api", "info"] => "info",
        ["api", "health_status"] => "health_status",
        ["api", "audit", "sessions"] => "sessions",
        ["api", "audit", "sessions", _] => "session",
        ["api", "audit", "sessions", _, "alerts"] => "alerts",
        _ => "other",
    }
}

fn answer<B>(world: &Shared, req: &Request<B>) -> Response<Full<Bytes>> {
    let mut w = world.lock().unwrap();
    if let Some(ua) = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
    {
        w.user_agents.insert(ua.to_string());
    }
    let path = req.uri().path().to_string();
    let class = class(&path);
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let (status, body, extra) = route(&mut w, class, &path, &query, req);
    *w.requests.entry((class.to_string(), status)).or_insert(0) += 1;
    let mut r = Response::builder()
        .status(status)
        .header("date", DATE)
        .header("content-type", "application/json");
    for (k, v) in extra {
        r = r.header(k, v);
    }
    r.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

type Routed = (u16, serde_json::Value, Vec<(&'static str, String)>);

fn error(status: u16, kind: &str) -> Routed {
    (
        status,
        serde_json::json!({"error": {"type": kind, "message": "m", "details": {}}, "meta": {}}),
        vec![],
    )
}

fn route<B>(
    w: &mut World,
    class: &'static str,
    path: &str,
    query: &BTreeMap<String, String>,
    req: &Request<B>,
) -> Routed {
    if !w.faults.is_empty() {
        let (status, retry) = w.faults.remove(0);
        let mut r = error(status, "Fault");
        if let Some(s) = retry {
            r.2.push(("retry-after", s.to_string()));
        }
        return r;
    }
    if class == "authentication" {
        return login(w, query, req);
    }
    let cookie = req
        .headers()
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.strip_prefix("session_id="))
        .unwrap_or("");
    if !w.cookies.contains(cookie) {
        return error(401, "Unauthenticated");
    }
    if w.forbid.contains(class) {
        return error(403, "Forbidden");
    }
    match class {
        "info" => (
            200,
            serde_json::json!({"key": "info", "body": {"firmware_version": "7.5.1"}, "meta": {}}),
            vec![],
        ),
        "health_status" => (200, health(w), vec![]),
        "sessions" => (200, search(w, query), vec![]),
        "session" => single(w, path),
        "alerts" => alerts(w, path, query),
        _ => error(404, "NotFound"),
    }
}

fn login<B>(w: &mut World, query: &BTreeMap<String, String>, req: &Request<B>) -> Routed {
    use base64::Engine as _;
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(want.as_str()) || query.get("login_method").map(String::as_str) != Some("local")
    {
        return error(401, "AuthenticationFailure");
    }
    w.next_cookie += 1;
    let cookie = format!("{:040x}", w.next_cookie);
    w.cookies.insert(cookie.clone());
    (
        200,
        serde_json::json!({"meta": {"href": "/api/authentication", "parent": "/api"}}),
        vec![(
            "set-cookie",
            format!("session_id={cookie}; Path=/; HttpOnly"),
        )],
    )
}

fn health(w: &World) -> serde_json::Value {
    let active_ssh = w
        .sessions
        .iter()
        .filter(|s| s.active && s.protocol == "SSH")
        .count();
    serde_json::json!({"key": "health_status", "body": {"health_status": {
        "cpu": 12, "memory": 40, "swap": 1, "disk": 70, "load1": 0.5, "load5": 0.25, "load15": 0.125,
        "sessions": {"ssh": active_ssh, "rdp": 0}, "sessions_total": active_ssh,
        "indexer": {"indexer_status": [{"capabilities": [], "idle_workers_count": 1, "indexer_jobs": 2,
            "screenshot_jobs": 3, "video_jobs": 4, "workers_count": 5, "ip": "127.0.0.1"}],
            "processing_tasks": 0, "remaining_tasks": 0},
        "raid": {"status": {"status": "OK"}}}}, "meta": {}})
}

fn body(s: &Session) -> serde_json::Value {
    let mut b = serde_json::json!({
        "active": s.active, "start_time": s.start.to_rfc3339(), "protocol": s.protocol,
        "recording": {"connection_policy": s.policy}, "node_id": "n1",
        "end_time": null, "duration": null, "verdict": null,
    });
    if !s.active {
        b["end_time"] = serde_json::json!(s.start.to_rfc3339());
        b["duration"] = serde_json::json!(s.duration);
        b["verdict"] = serde_json::json!(s.verdict);
        if let Some(score) = s.score {
            b["analytics"] = serde_json::json!({"score": {"aggregated": score}});
        }
    }
    b
}

fn range(q: &str) -> Option<(SpsTime, SpsTime)> {
    let inner = q.strip_prefix("start_time:[")?.strip_suffix(']')?;
    let (a, b) = inner.split_once(" TO ")?;
    Some((SpsTime::parse_rfc3339(a)?, SpsTime::parse_rfc3339(b)?))
}

fn search(w: &World, query: &BTreeMap<String, String>) -> serde_json::Value {
    let start = query
        .get("start")
        .and_then(|s| SpsTime::parse_rfc3339(s))
        .unwrap_or(SpsTime(i64::MIN));
    let bounds = query.get("q").and_then(|q| range(q));
    let mut matches: Vec<&Session> = w
        .sessions
        .iter()
        .filter(|s| s.start >= start)
        .filter(|s| bounds.is_none_or(|(a, b)| s.start >= a && s.start <= b))
        .collect();
    matches.sort_by_key(|s| (s.start, s.key.clone()));
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(500)
        .min(500);
    let offset: usize = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0)
        .min(10_000);
    let reachable = matches.len().min(10_000);
    let end = (offset + limit).min(reachable);
    let items: Vec<serde_json::Value> = matches
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|s| serde_json::json!({"key": s.key, "body": body(s), "meta": {"href": format!("/api/audit/sessions/{}", s.key)}}))
        .collect();
    let next = (end < reachable).then(|| format!("/api/audit/sessions?offset={end}"));
    serde_json::json!({"items": items, "meta": {"href": "/api/audit/sessions", "parent": "/api/audit",
        "next": next, "previous": null, "limit": limit, "offset": offset, "match_count": matches.len()}})
}

fn key_of(path: &str) -> &str {
    path.split('/').nth(4).unwrap_or("")
}

fn single(w: &World, path: &str) -> Routed {
    match w.sessions.iter().find(|s| s.key == key_of(path)) {
        Some(s) => (
            200,
            serde_json::json!({"key": s.key, "body": body(s), "meta": {}}),
            vec![],
        ),
        None => error(404, "NotFound"),
    }
}

fn alerts(w: &World, path: &str, query: &BTreeMap<String, String>) -> Routed {
    let Some(s) = w.sessions.iter().find(|s| s.key == key_of(path)) else {
        return error(404, "NotFound");
    };
    let offset: usize = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(500)
        .min(500);
    let end = (offset + limit).min(s.alerts.len());
    let items: Vec<serde_json::Value> = s
        .alerts
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, (ty, rule))| {
            serde_json::json!({"alert_type": ty, "rule_name": rule,
            "channel_id": "0", "matched_action": "ls", "matched_content": "SECRET-KEYSTROKES",
            "matched_regexp": "ls", "record_id": offset + i, "time": "2026-12-01T09:59:00.000000"})
        })
        .collect();
    let next = (end < s.alerts.len()).then(|| "more".to_string());
    (
        200,
        serde_json::json!({"items": items, "meta": {"next": next, "match_count": s.alerts.len()}}),
        vec![],
    )
}
