//! The SPS REST API on its own listener (contract §A): login, info,
//! health_status, the session collection, one session, its alerts. Every
//! answer is JSON with a `Date` header from the SPS clock. A request meets,
//! in order: `slow`, `throttle` (429), `error` (500), the cookie check
//! (401), `forbid` (403), then the route.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::clock::{http_date, parse_rfc3339, rfc3339};
use super::faults::Verdict;
use super::paging::{Fields, Page};
use super::query::Query;
use super::truth::{SpsAlert, SpsSession};
use super::world::FIRMWARE;
use super::{Endpoint, Sps, auth};

type Resp = Response<Full<Bytes>>;
type Params = Vec<(String, String)>;

pub(crate) async fn accept_loop(
    listener: TcpListener,
    sps: Arc<Sps>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let sps = sps.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let svc = service_fn(move |req| {
                let sps = sps.clone();
                async move { Ok::<_, Infallible>(handle(req, &sps).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                r = conn => if let Err(e) = r { tracing::debug!(%peer, error = %e, "SPS connection ended") },
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

fn json_resp(sps: &Sps, status: StatusCode, v: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(d) = HeaderValue::from_str(&http_date(sps.clock.now_us())) {
        h.insert(header::DATE, d);
    }
    r
}

/// `{"error":{"type","message","details"},"meta":{"href","parent"}}`.
fn error(sps: &Sps, status: StatusCode, kind: &str, message: &str, path: &str) -> Resp {
    let details = if kind == "Unauthenticated" || kind == "Forbidden" || kind == "NotFound" {
        json!({ "path": path })
    } else {
        json!({})
    };
    json_resp(
        sps,
        status,
        &json!({"error": {"type": kind, "message": message, "details": details}, "meta": {"href": path, "parent": parent(path)}}),
    )
}

fn parent(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((p, _)) => p.to_string(),
    }
}

fn classify(segs: &[&str]) -> Endpoint {
    match segs {
        ["api", "authentication"] => Endpoint::Authentication,
        ["api", "info"] => Endpoint::Info,
        ["api", "health_status"] => Endpoint::HealthStatus,
        ["api", "audit", "sessions"] => Endpoint::Sessions,
        ["api", "audit", "sessions", _] => Endpoint::Session,
        ["api", "audit", "sessions", _, "alerts"] => Endpoint::Alerts,
        _ => Endpoint::Other,
    }
}

async fn handle(req: Request<Incoming>, sps: &Sps) -> Resp {
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let endpoint = classify(&segs);
    let r = answer(&req, sps, &path, &segs, endpoint).await;
    sps.count(endpoint, r.status().as_u16());
    r
}

async fn answer(
    req: &Request<Incoming>,
    sps: &Sps,
    path: &str,
    segs: &[&str],
    endpoint: Endpoint,
) -> Resp {
    if let Some(r) = fault_answer(sps, path).await {
        return r;
    }
    let params: Params = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    if *req.method() != Method::GET {
        return error(
            sps,
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Only GET is supported",
            path,
        );
    }
    if endpoint == Endpoint::Authentication {
        return login(req, sps, &params);
    }
    if !auth::cookie_of(req.headers()).is_some_and(|c| sps.cookies.touch(&c)) {
        return error(
            sps,
            StatusCode::UNAUTHORIZED,
            "Unauthenticated",
            "Authentication is required",
            path,
        );
    }
    if sps.faults.forbidden(endpoint) {
        return error(
            sps,
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Access denied",
            path,
        );
    }
    route(sps, path, segs, &params)
}

/// Faults `slow`, `throttle` and `error`: the answer they give, if any.
async fn fault_answer(sps: &Sps, path: &str) -> Option<Resp> {
    if let Some(d) = sps.faults.delay() {
        tokio::time::sleep(d).await;
    }
    match sps.faults.verdict() {
        Verdict::Throttled(retry) => {
            let mut r = error(
                sps,
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests",
                path,
            );
            if let Some(s) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                r.headers_mut().insert(header::RETRY_AFTER, s);
            }
            return Some(r);
        }
        Verdict::Error => {
            return Some(error(
                sps,
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "Search database unavailable",
                path,
            ));
        }
        Verdict::Serve => {}
    }
    None
}

fn param<'a>(params: &'a Params, k: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn login(req: &Request<Incoming>, sps: &Sps, params: &Params) -> Resp {
    let path = "/api/authentication";
    let method_ok = param(params, "login_method").is_none_or(|m| m == "local");
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !method_ok || !auth::basic_ok(auth, &sps.username, &sps.password) {
        return error(
            sps,
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailure",
            "Authentication failed",
            path,
        );
    }
    let id = sps.cookies.issue();
    let mut r = json_resp(
        sps,
        StatusCode::OK,
        &json!({"meta": {"href": path, "parent": "/api"}}),
    );
    if let Ok(h) = HeaderValue::from_str(&format!("session_id={id}; Path=/; HttpOnly")) {
        r.headers_mut().insert(header::SET_COOKIE, h);
    }
    r
}

fn route(sps: &Sps, path: &str, segs: &[&str], params: &Params) -> Resp {
    let object = |key: &str, body: Value| {
        json_resp(
            sps,
            StatusCode::OK,
            &json!({"key": key, "body": body, "meta": {"href": path, "parent": parent(path)}}),
        )
    };
    match segs {
        ["api", "info"] => object(
            "info",
            json!({"firmware_version": FIRMWARE, "product": "One Identity Safeguard for Privileged Sessions (simulated)"}),
        ),
        ["api", "health_status"] => {
            object("health_status", json!({"health_status": health_body(sps)}))
        }
        ["api", "audit", "sessions"] => sessions(sps, path, params),
        ["api", "audit", "sessions", key] => match sps.world().find(key) {
            Some(s) => {
                let fields = match param(params, "fields") {
                    None => Fields::All,
                    f => Fields::parse(f),
                };
                object(
                    key,
                    fields.select(&session_body(s)).unwrap_or_else(|| json!({})),
                )
            }
            None => error(
                sps,
                StatusCode::NOT_FOUND,
                "NotFound",
                "No such session",
                path,
            ),
        },
        ["api", "audit", "sessions", key, "alerts"] => alerts(sps, path, key, params),
        _ => error(
            sps,
            StatusCode::NOT_FOUND,
            "NotFound",
            "No such resource",
            path,
        ),
    }
}

fn bad_request(sps: &Sps, path: &str, message: &str) -> Resp {
    error(sps, StatusCode::BAD_REQUEST, "InvalidQuery", message, path)
}

/// `GET /api/audit/sessions`.
fn sessions(sps: &Sps, path: &str, params: &Params) -> Resp {
    let start = match param(params, "start") {
        None => None,
        Some(s) => match parse_rfc3339(s) {
            Some(us) => Some(us),
            None => return bad_request(sps, path, &format!("bad start: {s:?}")),
        },
    };
    let q = match Query::parse(param(params, "q").unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return bad_request(sps, path, &e.to_string()),
    };
    let desc = match param(params, "sort").unwrap_or("start_time") {
        "start_time" => false,
        "-start_time" => true,
        s => return bad_request(sps, path, &format!("unsupported sort: {s:?}")),
    };
    let fields = Fields::parse(param(params, "fields"));
    let w = sps.world();
    let mut matches: Vec<&SpsSession> = w
        .sessions
        .iter()
        .filter(|s| start.is_none_or(|st| s.start_us >= st) && q.matches(s))
        .collect();
    if desc {
        matches.reverse();
    }
    let page = match Page::new(
        param(params, "limit"),
        param(params, "offset"),
        matches.len(),
    ) {
        Ok(p) => p,
        Err(e) => return bad_request(sps, path, &e.to_string()),
    };
    let items: Vec<Value> = matches[page.range()]
        .iter()
        .map(|s| {
            let mut item = json!({"key": s.key, "meta": {"href": format!("{path}/{}", s.key)}});
            if let (Some(body), Value::Object(m)) = (fields.select(&session_body(s)), &mut item) {
                m.insert("body".into(), body);
            }
            item
        })
        .collect();
    drop(w);
    let mut meta = page.meta(path, "/api/audit", params);
    meta.insert("fields".into(), fields.listed());
    json_resp(sps, StatusCode::OK, &json!({"items": items, "meta": meta}))
}

/// `GET /api/audit/sessions/<key>/alerts`.
fn alerts(sps: &Sps, path: &str, key: &str, params: &Params) -> Resp {
    let w = sps.world();
    let Some(s) = w.find(key) else {
        drop(w);
        return error(
            sps,
            StatusCode::NOT_FOUND,
            "NotFound",
            "No such session",
            path,
        );
    };
    let page = match Page::new(
        param(params, "limit"),
        param(params, "offset"),
        s.alerts.len(),
    ) {
        Ok(p) => p,
        Err(e) => {
            drop(w);
            return bad_request(sps, path, &e.to_string());
        }
    };
    let items: Vec<Value> = s.alerts[page.range()].iter().map(alert_body).collect();
    drop(w);
    let meta = page.meta(path, &parent(path), params);
    json_resp(sps, StatusCode::OK, &json!({"items": items, "meta": meta}))
}

pub(crate) fn alert_body(a: &SpsAlert) -> Value {
    json!({
        "alert_type": a.alert_type, "channel_id": a.channel_id, "matched_action": a.matched_action,
        "matched_content": a.matched_content, "matched_regexp": a.matched_regexp,
        "record_id": a.record_id, "rule_name": a.rule_name, "time": rfc3339(a.time_us),
    })
}

/// A session's full `body` (the subset of docs §1.4 the simulator keeps).
pub(crate) fn session_body(s: &SpsSession) -> Value {
    let mut analytics = Map::new();
    if let Some(score) = s.score {
        analytics.insert("score".into(), json!({ "aggregated": score }));
    }
    json!({
        "active": s.active(),
        "start_time": rfc3339(s.start_us),
        "end_time": s.end_us.map(rfc3339),
        "duration": s.duration(),
        "protocol": s.protocol,
        "verdict": s.verdict,
        "node_id": s.node_id,
        "origin": "RECORDING",
        "user": {"name": s.user},
        "server": {"address": s.server},
        "recording": {"connection_policy": s.connection_policy, "verdict": s.verdict},
        "analytics": analytics,
    })
}

fn health_body(sps: &Sps) -> Value {
    let w = sps.world();
    let h = w.health();
    let total: u64 = h.sessions.values().sum();
    let indexers: Vec<Value> = h
        .indexers
        .iter()
        .map(|i| json!({"capabilities": ["indexing", "screenshot", "video"], "idle_workers_count": i.idle_workers_count,
            "indexer_jobs": i.indexer_jobs, "screenshot_jobs": i.screenshot_jobs, "video_jobs": i.video_jobs,
            "workers_count": i.workers_count, "ip": i.ip}))
        .collect();
    json!({
        "cpu": h.cpu, "memory": h.memory, "swap": h.swap, "disk": h.disk,
        "load1": f64::from(h.load1_centi) / 100.0, "load5": f64::from(h.load5_centi) / 100.0,
        "load15": f64::from(h.load15_centi) / 100.0,
        "sessions": h.sessions, "sessions_total": total,
        "indexer": {"indexer_status": indexers, "processing_tasks": h.processing_tasks, "remaining_tasks": h.remaining_tasks},
        "raid": {"status": {"status": h.raid_status}},
    })
}
