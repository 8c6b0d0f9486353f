//! A minimal SMC client for the simulator tests: REST login, WebSocket
//! connect, JSON frames and the control endpoints.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use smc_sim::SimServer;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Guard against a hang; never a pacing device.
pub const WAIT: Duration = Duration::from_secs(20);

/// WebSocket paths after `/{ver}/`.
pub const SESSION: &str = "monitoring/session/socket";
pub const LOG: &str = "monitoring/log/socket";
pub const NOTIFY: &str = "notification/socket";

/// The tests' HTTP client ([`crate::http::client`]).
pub fn http() -> reqwest::Client {
    crate::http::client()
}

/// Log in (cookie mode) and return the `JSESSIONID=…` cookie pair.
pub async fn login(s: &SimServer, ver: &str) -> String {
    let r = http()
        .post(format!("{}/{ver}/login", s.url()))
        .json(&json!({"domain": "Shared Domain", "authenticationkey": s.world_info().api_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("Path=/"), "{set}");
    set.split(';').next().unwrap().to_string()
}

/// Open `ws://…/{ver}/{path}` with the cookie, if any.
pub async fn connect(
    s: &SimServer,
    ver: &str,
    path: &str,
    cookie: Option<&str>,
) -> Result<Ws, WsError> {
    let url = format!("ws://{}/{ver}/{path}", s.addr());
    let mut req = url.into_client_request().unwrap();
    if let Some(c) = cookie {
        req.headers_mut().insert("Cookie", c.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

/// The next frame, within [`WAIT`].
pub async fn recv(ws: &mut Ws) -> Option<Result<Message, WsError>> {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("no message within the guard time")
}

/// The next text frame as JSON (panics on anything else).
pub async fn recv_json(ws: &mut Ws) -> Value {
    loop {
        match recv(ws).await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

pub async fn send_json(ws: &mut Ws, v: &Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// `GET path` on the simulator, which must answer 200 with JSON.
pub async fn get_json(c: &reqwest::Client, s: &SimServer, path: &str) -> Value {
    let r = c.get(format!("{}{path}", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// `POST path` on the simulator, which must answer 200 with JSON.
pub async fn post_json(c: &reqwest::Client, s: &SimServer, path: &str) -> Value {
    let r = c.post(format!("{}{path}", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 200, "POST {path}");
    r.json().await.unwrap()
}

/// `GET /sim/table` of (definition, target) for API `version` (default: the
/// newest offered), which must answer 200: `{"definition","target","version","rows"}`.
pub async fn sim_table(
    c: &reqwest::Client,
    s: &SimServer,
    definition: &str,
    target: &str,
    version: Option<&str>,
) -> Value {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("definition", definition)
        .append_pair("target", target);
    if let Some(v) = version {
        q.append_pair("version", v);
    }
    get_json(c, s, &format!("/sim/table?{}", q.finish())).await
}

/// The ground-truth rows of [`sim_table`], as `id`-format records.
pub async fn table_rows(
    c: &reqwest::Client,
    s: &SimServer,
    definition: &str,
    target: &str,
    version: Option<&str>,
) -> Vec<Value> {
    match sim_table(c, s, definition, target, version).await {
        Value::Object(mut m) => match m.remove("rows") {
            Some(Value::Array(rows)) => rows,
            other => panic!("/sim/table rows: {other:?}"),
        },
        other => panic!("/sim/table: {other}"),
    }
}
