//! Hostile fake SMCs for the tests: a raw HTTP/1.1 server on 127.0.0.1:0
//! whose every answer is chosen by the test (redirects elsewhere, hrefs to
//! other listeners, endless bodies, WebSocket frames with forged text), and
//! which records what reached it. Every connection serves one request and
//! closes, so a count of connections is a count of requests.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `METHOD /path`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// What a streamed body did.
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Body bytes written before the fake stopped.
    pub sent: AtomicUsize,
    /// The client closed the connection before the whole body was sent.
    pub cut_short: AtomicBool,
    pub done: AtomicBool,
    pub notify: Notify,
}

impl StreamStats {
    /// Wait (bounded) until the stream ended, either way.
    pub async fn finished(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !self.done.load(Ordering::Acquire) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "the body stream did not end in {within:?}");
            let _ =
                tokio::time::timeout(left.min(Duration::from_millis(50)), self.notify.notified())
                    .await;
        }
    }
}

/// A WebSocket step after the upgrade.
#[derive(Debug, Clone)]
pub enum WsStep {
    /// Wait for the client's next text frame (the query).
    ReadText,
    /// Send a text frame.
    Text(String),
    /// Send a close frame with this code and reason.
    Close(u16, String),
}

/// The fake's answer to one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A whole response: status line tail (`"200 OK"`), extra header lines
    /// (each ending in `\r\n`), body.
    Full {
        status: String,
        headers: String,
        body: String,
    },
    /// `200 OK` with a body of `total` bytes (repeating `{"version":[`…),
    /// sent in `chunk`-byte pieces, chunked (no length) or with a
    /// `Content-Length`.
    Stream {
        total: usize,
        chunk: usize,
        chunked: bool,
        stats: Arc<StreamStats>,
    },
    /// Complete a WebSocket upgrade and play the steps.
    WebSocket(Vec<WsStep>),
}

impl Answer {
    pub fn json(status: &str, body: &str) -> Answer {
        Answer::Full {
            status: status.into(),
            headers: "Content-Type: application/json\r\n".into(),
            body: body.into(),
        }
    }

    pub fn with_headers(status: &str, headers: &str, body: &str) -> Answer {
        Answer::Full {
            status: status.into(),
            headers: headers.into(),
            body: body.into(),
        }
    }

    pub fn redirect(status: &str, location: &str) -> Answer {
        Answer::with_headers(status, &format!("Location: {location}\r\n"), "")
    }

    pub fn not_found() -> Answer {
        Answer::json("404 Not Found", "{}")
    }
}

type Handler = dyn Fn(&Request) -> Answer + Send + Sync;

/// A running fake. Stops when dropped (its task holds only a weak handle).
pub struct Fake {
    pub url: String,
    pub port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    /// Start a fake answering every request with `handler`.
    pub async fn start(handler: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (c, r) = (connections.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let (h, r) = (handler.clone(), r.clone());
                tokio::spawn(async move { serve(s, &*h, &r).await });
            }
        });
        Fake {
            url: format!("http://127.0.0.1:{port}"),
            port,
            connections,
            requests,
            task,
        }
    }

    /// A listener that must never be contacted: it answers 200 to
    /// everything, so a client that reaches it would look successful.
    pub async fn bystander() -> Fake {
        Fake::start(|_| {
            Answer::with_headers(
                "200 OK",
                "Set-Cookie: JSESSIONID=STOLEN; Path=/\r\nContent-Type: application/json\r\n",
                r#"{"version":[{"rel":"7.1"}],"entry_point":[]}"#,
            )
        })
        .await
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// `METHOD /path` of every request so far.
    pub fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Request::line).collect()
    }
}

/// The usual REST of an SMC speaking 7.1: versions, login with a cookie,
/// entry points naming `logout_href`, logout. `None` for other paths.
pub fn smc_rest(req: &Request, logout_href: &str) -> Option<Answer> {
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api") => Answer::json("200 OK", r#"{"version":[{"rel":"7.1"}]}"#),
        ("POST", "/7.1/login") => Answer::with_headers(
            "200 OK",
            "Set-Cookie: JSESSIONID=FAKE0123456789; Path=/\r\nContent-Type: application/json\r\n",
            "{}",
        ),
        ("GET", "/7.1/api") => Answer::json(
            "200 OK",
            &format!(r#"{{"entry_point":[{{"rel":"logout","href":"{logout_href}"}}]}}"#),
        ),
        ("PUT", "/7.1/logout") => Answer::with_headers("204 No Content", "", ""),
        _ => return None,
    })
}

async fn read_request(s: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() - head_end < len.min(1 << 20) {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&buf[head_end..]).to_string(),
    })
}

async fn serve(mut s: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>) {
    let Some(req) = read_request(&mut s).await else {
        return;
    };
    log.lock().unwrap().push(req.clone());
    match handler(&req) {
        Answer::Full {
            status,
            headers,
            body,
        } => {
            let resp = format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.shutdown().await;
        }
        Answer::Stream {
            total,
            chunk,
            chunked,
            stats,
        } => {
            stream_body(&mut s, total, chunk, chunked, &stats).await;
            stats.done.store(true, Ordering::Release);
            stats.notify.notify_waiters();
        }
        Answer::WebSocket(steps) => {
            let Some(key) = req.header("sec-websocket-key") else {
                return;
            };
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            );
            if s.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
            let mut ws = WebSocketStream::from_raw_socket(s, Role::Server, None).await;
            play(&mut ws, steps).await;
        }
    }
}

async fn stream_body(
    s: &mut TcpStream,
    total: usize,
    chunk: usize,
    chunked: bool,
    stats: &StreamStats,
) {
    let length = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {total}")
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        stats.cut_short.store(true, Ordering::Release);
        return;
    }
    // The start of a versions list, then JSON whitespace: valid as far as it
    // goes, never finished.
    let prefix = br#"{"version":[{"rel":"7.1"}"#;
    let mut piece = vec![b' '; chunk];
    let p = prefix.len().min(chunk);
    piece[..p].copy_from_slice(&prefix[..p]);
    let filler = vec![b' '; chunk];
    let mut sent = 0;
    while sent < total {
        let n = chunk.min(total - sent);
        let mut frame = Vec::with_capacity(n + 16);
        if chunked {
            frame.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        }
        frame.extend_from_slice(if sent == 0 { &piece[..n] } else { &filler[..n] });
        if chunked {
            frame.extend_from_slice(b"\r\n");
        }
        if s.write_all(&frame).await.is_err() {
            stats.cut_short.store(true, Ordering::Release);
            return;
        }
        sent += n;
        stats.sent.store(sent, Ordering::Release);
    }
    if chunked && s.write_all(b"0\r\n\r\n").await.is_err() {
        stats.cut_short.store(true, Ordering::Release);
    }
}

async fn play(ws: &mut WebSocketStream<TcpStream>, steps: Vec<WsStep>) {
    for step in steps {
        let ok = match step {
            WsStep::ReadText => loop {
                match ws.next().await {
                    Some(Ok(Message::Text(_))) => break true,
                    Some(Ok(_)) => continue,
                    _ => break false,
                }
            },
            WsStep::Text(t) => ws.send(Message::text(t)).await.is_ok(),
            WsStep::Close(code, reason) => ws
                .close(Some(CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                }))
                .await
                .is_ok(),
        };
        if !ok {
            return;
        }
    }
    // Drain until the client goes away (answers its pings and close).
    while let Some(Ok(_)) = ws.next().await {}
}
