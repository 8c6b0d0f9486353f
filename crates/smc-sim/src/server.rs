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
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::{Shared, engines, fault, logs, notify, socket};

type Resp = Response<Full<Bytes>>;

/// The session a keep-alive connection logged in with (token mode only).
type ConnSession = Arc<std::sync::Mutex<Option<String>>>;

/// Which WebSocket endpoint an upgrade is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketKind {
    /// `/{ver}/monitoring/session/socket`
    Session,
    /// `/{ver}/monitoring/log/socket`
    Log,
    /// `/{ver}/notification/socket`
    Notification,
}

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
            // Fault `stall_accept`: accepted, then not read until it ends.
            shared2.faults.accept_gate(&shared2.shutdown).await;
            match shared2.tls.clone() {
                None => serve(stream, peer, local, shared2).await,
                Some(tls) => {
                    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
                    let stream = tokio::select! {
                        r = handshake => r,
                        _ = shared2.shutdown.cancelled() => return,
                    };
                    match stream {
                        Ok(s) => serve(s, peer, local, shared2).await,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "simulator TLS handshake failed")
                        }
                    }
                }
            }
        });
    }
}

/// Serve HTTP/1.1 (with upgrades) on one accepted connection, plain or TLS.
async fn serve<S>(stream: S, peer: SocketAddr, local: SocketAddr, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc_shared = shared.clone();
    // "SSL session ID" mode: the connection that logged in carries the session.
    let conn_session: ConnSession = Arc::new(std::sync::Mutex::new(None));
    let svc = service_fn(move |req| {
        let s = svc_shared.clone();
        let c = conn_session.clone();
        async move { Ok::<_, Infallible>(handle(req, s, local, c).await) }
    });
    let conn = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::select! {
        r = conn => if let Err(e) = r { tracing::debug!(%peer, error = %e, "simulator connection ended") },
        _ = shared.shutdown.cancelled() => {}
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

/// The values of `Sec-WebSocket-Protocol` (comma-separated, any order).
fn offered_subprotocols(req: &Request<Incoming>) -> Vec<String> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The live session a request belongs to.
///
/// Cookie mode: `Cookie: JSESSIONID=…`. Token mode: the raw
/// `Authorization` header, a token offered next to `access_token` in
/// `Sec-WebSocket-Protocol`, or else the session this keep-alive connection
/// logged in with (the SMC ties "SSL session ID" sessions to the TLS
/// session, and the official client sends no token on `GET /{ver}/api` and
/// on logout).
fn session_of(shared: &Shared, req: &Request<Incoming>, conn: &ConnSession) -> Option<String> {
    let live = |id: &str| shared.sessions().contains_key(id);
    if !shared.token_auth {
        return session_cookie(req).filter(|id| live(id));
    }
    if let Some(t) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        return Some(t.to_string()).filter(|t| live(t));
    }
    let offered = offered_subprotocols(req);
    if offered
        .iter()
        .any(|p| p.eq_ignore_ascii_case("access_token"))
    {
        return offered.into_iter().find(|p| live(p));
    }
    let from_conn = conn.lock().unwrap_or_else(|e| e.into_inner()).clone();
    from_conn.filter(|id| live(id))
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

/// `http[s]://host:port` as the client addressed us (for hrefs).
fn base_url(req: &Request<Incoming>, local: SocketAddr, scheme: &str) -> String {
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
        Some(h) => format!("{scheme}://{h}"),
        None => format!("{scheme}://{local}"),
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    local: SocketAddr,
    conn: ConnSession,
) -> Resp {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    tracing::debug!(%method, %path, "simulator request");
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api"] if method == Method::GET => {
            let base = base_url(&req, local, shared.scheme());
            let versions: Vec<Value> = shared
                .info
                .api_versions
                .iter()
                .map(|v| json!({"rel": v, "href": format!("{base}/{v}/api")}))
                .collect();
            json_resp(StatusCode::OK, &json!({ "version": versions }))
        }
        ["sim", rest @ ..] => control(req, &shared, rest, local).await,
        [ver, rest @ ..] if shared.info.api_versions.iter().any(|v| v == ver) => {
            let ver = ver.to_string();
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            smc(req, shared, &ver, &rest, local, &conn).await
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
    conn: &ConnSession,
) -> Resp {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let base = base_url(&req, local, shared.scheme());
    let method = req.method().clone();
    let session = session_of(&shared, &req, conn);
    let socket = match rest.as_slice() {
        ["monitoring", "session", "socket"] => Some(SocketKind::Session),
        ["monitoring", "log", "socket"] => Some(SocketKind::Log),
        ["notification", "socket"] => Some(SocketKind::Notification),
        _ => None,
    };
    if let (true, Some(kind)) = (method == Method::GET, socket) {
        if session.is_none() {
            return error(StatusCode::UNAUTHORIZED, "Not logged in");
        }
        // Fault `refuse_upgrades`: logged in, but no socket for this client.
        if let Some(status) = shared.faults.upgrade_refusal() {
            tracing::info!(
                status,
                ?kind,
                "simulator upgrade refused (fault refuse_upgrades)"
            );
            return match status {
                401 => error(StatusCode::UNAUTHORIZED, "Not logged in"),
                _ => error(
                    StatusCode::FORBIDDEN,
                    "Forbidden: the API client may not use this socket",
                ),
            };
        }
        return upgrade(req, shared, ver, base, kind);
    }
    match (method, rest.as_slice()) {
        (Method::POST, ["login"]) => login(req, &shared, ver, conn).await,
        (Method::PUT, ["logout"]) => match session {
            Some(id) if shared.logout(&id) => {
                conn.lock().unwrap_or_else(|e| e.into_inner()).take();
                empty(StatusCode::NO_CONTENT)
            }
            _ => error(StatusCode::UNAUTHORIZED, "Not logged in"),
        },
        (_, _) if session.is_none() => error(StatusCode::UNAUTHORIZED, "Not logged in"),
        (Method::GET, ["api"]) => {
            let e = |rel: &str, path: &str, method: &str| json!({"rel": rel, "href": format!("{base}/{ver}/{path}"), "method": method});
            json_resp(
                StatusCode::OK,
                &json!({ "entry_point": [
                    e("current_user", "system/current_user", "GET"),
                    e("logout", "logout", "PUT"),
                    e("system", "system", "GET"),
                    e("elements", "elements", "GET"),
                    e("engine_clusters", "elements/engine_clusters", "GET"),
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
        (Method::GET, ["elements"]) => {
            let params = query_params(&req);
            let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            if param("filter_context") == Some("engine_clusters") {
                let v = engines::listing(&shared.world(), &base, ver, param("filter"));
                return json_resp(StatusCode::OK, &v);
            }
            json_resp(StatusCode::OK, &json!({ "result": [] }))
        }
        (Method::GET, ["elements", "engine_clusters"]) => {
            let params = query_params(&req);
            let filter = params
                .iter()
                .find(|(n, _)| n == "filter")
                .map(|(_, v)| v.as_str());
            json_resp(
                StatusCode::OK,
                &engines::listing(&shared.world(), &base, ver, filter),
            )
        }
        (Method::GET, ["elements", etype, id, "node", node @ ..]) => {
            let element = format!("{etype}/{id}");
            match engines::node_get(&shared.world(), &element, node, &base, ver) {
                Some(v) => json_resp(StatusCode::OK, &v),
                None => error(StatusCode::NOT_FOUND, "No such element"),
            }
        }
        (Method::GET, ["elements", etype, id]) => {
            match notify::get_element(&shared, etype, id, &base, ver) {
                Some(v) => json_resp(StatusCode::OK, &v),
                None => error(StatusCode::NOT_FOUND, "No such element"),
            }
        }
        // block_list_href / blacklist_href / vpn_sa_href (protocol §6).
        (Method::DELETE, ["elements", kind, id, link, entry]) => {
            let element = format!("{kind}/{id}");
            if notify::delete_session_entry(&shared, ver, &element, link, entry) {
                empty(StatusCode::NO_CONTENT)
            } else {
                error(StatusCode::NOT_FOUND, "No such entry")
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

async fn login(req: Request<Incoming>, shared: &Shared, ver: &str, conn: &ConnSession) -> Resp {
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "Unreadable login body"),
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Login body is not JSON");
    };
    if let Some(status) = shared.faults.login_refusal() {
        tracing::info!(
            version = ver,
            status,
            "simulator login refused (fault refuse_logins)"
        );
        return match status {
            401 => error(
                StatusCode::UNAUTHORIZED,
                "Login failed: invalid authentication key",
            ),
            _ => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable",
            ),
        };
    }
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
    if shared.token_auth {
        // "Use SSL for session ID": the session travels as a raw header, no cookie.
        if let Ok(h) = HeaderValue::from_str(&id) {
            r.headers_mut().insert(header::AUTHORIZATION, h);
        }
        *conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
    } else if let Ok(h) = HeaderValue::from_str(&format!("JSESSIONID={id}; Path=/; HttpOnly")) {
        r.headers_mut().insert(header::SET_COOKIE, h);
    }
    r
}

/// Answer a WebSocket upgrade and hand the upgraded stream to the task of
/// its endpoint. The socket is registered before the 101 goes out, so
/// `drop_connections` sees it as soon as the client does. A client offering
/// the `access_token` subprotocol (token mode) gets it echoed, as
/// websocket-client requires one offered value back.
fn upgrade(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    ver: &str,
    base: String,
    kind: SocketKind,
) -> Resp {
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
    let echo_token = offered_subprotocols(&req)
        .iter()
        .any(|p| p.eq_ignore_ascii_case("access_token"));
    let guard = shared.register_socket();
    let version = ver.to_string();
    let shared2 = shared.clone();
    shared.tasks.spawn(async move {
        let token = guard.token.clone();
        let upgraded = tokio::select! {
            _ = token.cancelled() => return,
            u = hyper::upgrade::on(req) => u,
        };
        let upgraded = match upgraded {
            Ok(u) => u,
            Err(e) => return tracing::debug!(error = %e, ?kind, "socket upgrade failed"),
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let serve = async {
            match kind {
                SocketKind::Session => socket::session(ws, &shared2, &version, &base, &token).await,
                SocketKind::Log => logs::serve(ws, &shared2).await,
                SocketKind::Notification => notify::serve(ws, &shared2, &version, &base).await,
            }
        };
        tokio::select! {
            // drop_connections / shutdown: drop the stream, no close frame.
            _ = token.cancelled() => tracing::debug!(?kind, "socket dropped"),
            _ = serve => {}
        }
        drop(guard);
    });
    let mut r = empty(StatusCode::SWITCHING_PROTOCOLS);
    let hs = r.headers_mut();
    hs.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    hs.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        hs.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if echo_token {
        hs.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("access_token"),
        );
    }
    r
}

/// The `version` a control request names, if offered; none named: the
/// newest offered.
fn requested_version(shared: &Shared, asked: Option<&str>) -> Option<String> {
    let offered = &shared.info.api_versions;
    match asked {
        Some(v) => offered.iter().find(|o| *o == v).cloned(),
        None => offered
            .iter()
            .max_by_key(|v| smc_protocol::parse_api_version(v))
            .cloned(),
    }
}

/// `GET /sim/table`: the ground-truth rows of one (definition, target).
fn table<'a>(shared: &Shared, base: &str, param: impl Fn(&str) -> Option<&'a str>) -> Resp {
    let Some(version) = requested_version(shared, param("version")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "version is not an offered API version",
        );
    };
    let legacy = smc_protocol::parse_api_version(&version).is_some_and(smc_protocol::is_legacy_api);
    let def_name = param("definition").unwrap_or("");
    let Some(def) = smc_protocol::Definition::ALL
        .into_iter()
        .find(|d| d.wire_name(legacy) == def_name || d.wire_name(false) == def_name)
    else {
        return error(StatusCode::BAD_REQUEST, "unknown definition");
    };
    let target = param("target").unwrap_or("");
    match shared.table_rows(def, target, base, &version) {
        Some(rows) => json_resp(
            StatusCode::OK,
            &json!({"definition": def.wire_name(legacy), "target": target, "version": version, "rows": rows}),
        ),
        None => error(StatusCode::NOT_FOUND, "no such table"),
    }
}

/// Most log records or element changes one control call makes.
const MAX_APPEND: usize = 10_000;

/// `POST /sim/elements?type=T&action=A[&count=N][&version=V]`: element
/// events now; the affected hrefs (for API `V`, default the newest offered).
fn elements<'a>(shared: &Shared, base: &str, param: impl Fn(&str) -> Option<&'a str>) -> Resp {
    let Some(version) = requested_version(shared, param("version")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "version is not an offered API version",
        );
    };
    let count = match param("count").unwrap_or("1").parse::<usize>() {
        Ok(n) if n <= MAX_APPEND => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "count must be an integer in 0..=10000",
            );
        }
    };
    let etype = param("type").unwrap_or("");
    let action = param("action").unwrap_or("");
    match notify::apply_now(shared, etype, action, count, base, &version) {
        Ok(hrefs) => json_resp(StatusCode::OK, &json!(hrefs)),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// `POST /sim/engines?action=add&name=N[&nodes=K]` → `{"added": engine}`;
/// `action=remove&name=N` → `{"removed": N}`.
fn engine_control<'a>(shared: &Shared, param: impl Fn(&str) -> Option<&'a str>) -> Resp {
    let name = param("name").unwrap_or("");
    let r = match param("action").unwrap_or("") {
        "add" => match param("nodes").unwrap_or("1").parse::<u32>() {
            Ok(n) => shared
                .world()
                .add_engine(name, n)
                .map(|e| json!({ "added": e })),
            Err(_) => Err(engines::EngineError::Nodes),
        },
        "remove" => shared
            .world()
            .remove_engine(name)
            .map(|()| json!({ "removed": name })),
        _ => Err(engines::EngineError::Action),
    };
    match r {
        Ok(v) => json_resp(StatusCode::OK, &v),
        Err(e) => engine_error(&e),
    }
}

/// 404 for an unknown engine or node, else 400.
fn engine_error(e: &engines::EngineError) -> Resp {
    match e {
        engines::EngineError::NoEngine(_) | engines::EngineError::NoNode(_) => {
            error(StatusCode::NOT_FOUND, &e.to_string())
        }
        _ => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// `GET /sim/replay`, `POST /sim/replay?phase=N` (replay mode only).
fn replay_control(shared: &Shared, method: &Method, phase: Option<&str>) -> Resp {
    let Some(replay) = &shared.replay else {
        return error(StatusCode::NOT_FOUND, "not in replay mode");
    };
    if *method == Method::POST {
        match phase.map(str::parse::<u8>) {
            Some(Ok(p @ 0..=2)) => replay.set_phase(p),
            _ => return error(StatusCode::BAD_REQUEST, "phase must be 0, 1 or 2"),
        }
    } else if *method != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "GET or POST");
    }
    json_resp(StatusCode::OK, &replay.status())
}

async fn control(
    req: Request<Incoming>,
    shared: &Shared,
    rest: &[&str],
    local: SocketAddr,
) -> Resp {
    let params = query_params(&req);
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match (req.method().clone(), rest) {
        (Method::GET, ["world"]) => match serde_json::to_value(shared.world_info()) {
            Ok(v) => json_resp(StatusCode::OK, &v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (Method::GET, ["truth"]) => {
            let smc = param("smc").unwrap_or("sim");
            let Some(text) = shared.truth_text(smc) else {
                return error(
                    StatusCode::NOT_IMPLEMENTED,
                    "no ground-truth renderer: this simulator was started without SimOptions::truth_text (smc-lab simulate has one)",
                );
            };
            let mut r = Response::new(Full::new(Bytes::from(text)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        (Method::GET, ["truth", "engines"]) => json_resp(
            StatusCode::OK,
            &json!({ "engines": shared.world().engine_truth() }),
        ),
        (Method::POST, ["engines"]) => engine_control(shared, param),
        (Method::POST, ["nodes"]) => {
            let (engine, node) = (param("engine").unwrap_or(""), param("node").unwrap_or(""));
            let status = param("status").unwrap_or("");
            match shared
                .world()
                .set_node_status(engine, node, status, param("state"))
            {
                Ok(n) => json_resp(StatusCode::OK, &json!(n)),
                Err(e) => engine_error(&e),
            }
        }
        (Method::GET, ["table"]) => table(shared, &base_url(&req, local, shared.scheme()), param),
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
        (Method::POST, ["fault", kind]) => match fault::control(shared, kind, param) {
            Ok(v) => json_resp(StatusCode::OK, &v),
            Err(e @ fault::FaultError::UnknownKind(_)) => json_resp(
                StatusCode::NOT_FOUND,
                &json!({"details": e.to_string(), "status": 404, "kinds": fault::KINDS}),
            ),
            Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
        },
        (Method::GET, ["faults"]) => {
            json_resp(StatusCode::OK, &shared.faults.status(shared.seed()))
        }
        (Method::GET, ["sessions"]) => match serde_json::to_value(shared.session_list()) {
            Ok(v) => json_resp(StatusCode::OK, &v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (Method::GET, ["logs"]) => match param("backwards").unwrap_or("true") {
            b @ ("true" | "false") => json_resp(StatusCode::OK, &logs::truth(shared, b == "true")),
            _ => error(StatusCode::BAD_REQUEST, "backwards must be true or false"),
        },
        (Method::GET, ["logs", "sent"]) => json_resp(StatusCode::OK, &logs::sent_truth(shared)),
        (Method::GET, ["notifications", "sent"]) => {
            json_resp(StatusCode::OK, &notify::sent_truth(shared))
        }
        (Method::POST, ["logs"]) => match param("count").unwrap_or("1").parse::<usize>() {
            Ok(n) if n <= MAX_APPEND => json_resp(
                StatusCode::OK,
                &json!({ "appended": logs::append_now(shared, n) }),
            ),
            _ => error(
                StatusCode::BAD_REQUEST,
                "count must be an integer in 0..=10000",
            ),
        },
        (Method::POST, ["elements"]) => {
            elements(shared, &base_url(&req, local, shared.scheme()), param)
        }
        (method, ["replay"]) => replay_control(shared, &method, param("phase")),
        _ => error(StatusCode::NOT_FOUND, "Unknown simulator control endpoint"),
    }
}
