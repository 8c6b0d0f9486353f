//! The simulator's HTTP side: SMC REST login and discovery, the WebSocket
//! upgrade of the session socket, and the `/sim/*` control endpoints.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::{Shared, socket};

type Resp = Response<Full<Bytes>>;

/// Largest request body read (login bodies are tiny).
const MAX_BODY: usize = 64 * 1024;

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let local = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // E.g. EMFILE: back off a little instead of spinning.
                tracing::warn!(error = %e, "simulator accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared2 = shared.clone();
        let local = local.unwrap_or(peer);
        shared.tasks.spawn(async move {
            let svc_shared = shared2.clone();
            let svc = service_fn(move |req| {
                let s = svc_shared.clone();
                async move { Ok::<_, Infallible>(handle(req, s, local).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).with_upgrades();
            tokio::select! {
                r = conn => if let Err(e) = r { tracing::debug!(%peer, error = %e, "simulator connection ended") },
                _ = shared2.shutdown.cancelled() => {}
            }
        });
    }
}

fn json_resp(status: StatusCode, v: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    // Exactly `application/json`: the official client ignores bodies with a charset.
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, details: &str) -> Resp {
    json_resp(
        status,
        &json!({ "details": details, "status": status.as_u16() }),
    )
}

fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// `JSESSIONID` from the request's Cookie header(s).
fn session_cookie(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';').find_map(|kv| {
                kv.trim()
                    .strip_prefix("JSESSIONID=")
                    .map(|s| s.trim_matches('"').to_string())
            })
        })
}

fn has_session(shared: &Shared, req: &Request<Incoming>) -> bool {
    session_cookie(req).is_some_and(|id| shared.sessions().contains_key(&id))
}

fn query_params(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// `http://host:port` as the client addressed us (for hrefs).
fn base_url(req: &Request<Incoming>, local: SocketAddr) -> String {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
        });
    match host {
        Some(h) => format!("http://{h}"),
        None => format!("http://{local}"),
    }
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>, local: SocketAddr) -> Resp {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    tracing::debug!(%method, %path, "simulator request");
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api"] if method == Method::GET => {
            let base = base_url(&req, local);
            let versions: Vec<Value> = shared
                .info
                .api_versions
                .iter()
                .map(|v| json!({"rel": v, "href": format!("{base}/{v}/api")}))
                .collect();
            json_resp(StatusCode::OK, &json!({ "version": versions }))
        }
        ["sim", rest @ ..] => control(req, &shared, rest).await,
        [ver, rest @ ..] if shared.info.api_versions.iter().any(|v| v == ver) => {
            let ver = ver.to_string();
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            smc(req, shared, &ver, &rest, local).await
        }
        _ => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

async fn smc(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    ver: &str,
    rest: &[String],
    local: SocketAddr,
) -> Resp {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let base = base_url(&req, local);
    let method = req.method().clone();
    match (method, rest.as_slice()) {
        (Method::POST, ["login"]) => login(req, &shared, ver).await,
        (Method::PUT, ["logout"]) => match session_cookie(&req) {
            Some(id) if shared.sessions().remove(&id).is_some() => empty(StatusCode::NO_CONTENT),
            _ => error(StatusCode::UNAUTHORIZED, "Not logged in"),
        },
        (Method::GET, ["monitoring", "session", "socket"]) => {
            if !has_session(&shared, &req) {
                return error(StatusCode::UNAUTHORIZED, "Not logged in");
            }
            upgrade(req, shared, ver, base)
        }
        (_, _) if !has_session(&shared, &req) => error(StatusCode::UNAUTHORIZED, "Not logged in"),
        (Method::GET, ["api"]) => {
            let e = |rel: &str, path: &str, method: &str| json!({"rel": rel, "href": format!("{base}/{ver}/{path}"), "method": method});
            json_resp(
                StatusCode::OK,
                &json!({ "entry_point": [
                    e("current_user", "system/current_user", "GET"),
                    e("logout", "logout", "PUT"),
                    e("system", "system", "GET"),
                    e("elements", "elements", "GET"),
                ]}),
            )
        }
        (Method::GET, ["system", "current_user"]) => {
            error(StatusCode::NOT_FOUND, "No current user for API clients")
        }
        (Method::GET, ["system"]) => json_resp(
            StatusCode::OK,
            &json!({"link": [
                {"rel": "self", "href": format!("{base}/{ver}/system"), "type": "system"},
                {"rel": "smc_version", "href": format!("{base}/{ver}/system/smc_version")},
            ]}),
        ),
        (Method::GET, ["system", "smc_version"]) => json_resp(
            StatusCode::OK,
            &json!({ "value": format!("{ver}.2 [10455]") }),
        ),
        (Method::GET, ["elements"]) => json_resp(StatusCode::OK, &json!({ "result": [] })),
        _ => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

async fn login(req: Request<Incoming>, shared: &Shared, ver: &str) -> Resp {
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "Unreadable login body"),
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Login body is not JSON");
    };
    let key = v.get("authenticationkey").and_then(Value::as_str);
    if key != Some(shared.info.api_key.as_str()) {
        tracing::info!(version = ver, "simulator login refused");
        return error(
            StatusCode::UNAUTHORIZED,
            "Login failed: invalid authentication key",
        );
    }
    let mut rng = rand::rng();
    let id: String = (0..32)
        .map(|_| char::from(b"0123456789ABCDEF"[rng.random_range(0..16)]))
        .collect();
    shared.sessions().insert(id.clone(), ver.to_string());
    let mut r = json_resp(StatusCode::OK, &json!({}));
    if let Ok(h) = HeaderValue::from_str(&format!("JSESSIONID={id}; Path=/; HttpOnly")) {
        r.headers_mut().insert(header::SET_COOKIE, h);
    }
    r
}

/// Answer a WebSocket upgrade and hand the upgraded stream to the session
/// socket task. The socket is registered before the 101 goes out, so
/// `drop_connections` sees it as soon as the client does.
fn upgrade(req: Request<Incoming>, shared: Arc<Shared>, ver: &str, base: String) -> Resp {
    let h = req.headers();
    let is_upgrade = h
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let version_ok = h
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    let Some(key) = h
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|_| is_upgrade && version_ok)
    else {
        return error(StatusCode::BAD_REQUEST, "WebSocket upgrade required");
    };
    let accept = derive_accept_key(key.as_bytes());
    let guard = shared.register_socket();
    let version = ver.to_string();
    let shared2 = shared.clone();
    shared.tasks.spawn(async move {
        let token = guard.token.clone();
        let upgraded = tokio::select! {
            _ = token.cancelled() => return,
            u = hyper::upgrade::on(req) => u,
        };
        match upgraded {
            Ok(u) => socket::run(u, shared2, guard, version, base).await,
            Err(e) => tracing::debug!(error = %e, "session socket upgrade failed"),
        }
    });
    let mut r = empty(StatusCode::SWITCHING_PROTOCOLS);
    let hs = r.headers_mut();
    hs.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    hs.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        hs.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

async fn control(req: Request<Incoming>, shared: &Shared, rest: &[&str]) -> Resp {
    let params = query_params(&req);
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match (req.method().clone(), rest) {
        (Method::GET, ["world"]) => match serde_json::to_value(&shared.info) {
            Ok(v) => json_resp(StatusCode::OK, &v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (Method::GET, ["truth"]) => {
            let smc = param("smc").unwrap_or("sim");
            let mut r = Response::new(Full::new(Bytes::from(shared.truth(smc))));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        (Method::POST, ["churn"]) => {
            if let Some(rate) = param("rate") {
                return match rate.parse::<f64>() {
                    Ok(r) if r.is_finite() && r >= 0.0 => {
                        shared.set_churn_rate(r);
                        json_resp(StatusCode::OK, &json!({ "rate": r }))
                    }
                    _ => error(StatusCode::BAD_REQUEST, "rate must be a number ≥ 0"),
                };
            }
            match param("steps").unwrap_or("1").parse::<u32>() {
                Ok(n) if n <= 1_000_000 => {
                    let applied = shared.churn(n);
                    json_resp(StatusCode::OK, &json!({ "applied": applied }))
                }
                _ => error(
                    StatusCode::BAD_REQUEST,
                    "steps must be an integer in 0..=1000000",
                ),
            }
        }
        (Method::POST, ["fault", "drop"]) => json_resp(
            StatusCode::OK,
            &json!({ "dropped": shared.drop_connections() }),
        ),
        _ => error(StatusCode::NOT_FOUND, "Unknown simulator control endpoint"),
    }
}
