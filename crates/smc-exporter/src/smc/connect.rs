//! Opening one monitoring socket of an SMC: ask the SMC's login gate for
//! credentials (or a wait), build the upgrade request for a socket path
//! (`/monitoring/session/socket`, later `/monitoring/log/socket`,
//! `/notification/socket`), and upgrade over TCP / TLS, reporting the
//! outcome to the gate. What runs on the socket is [`super::driver`]'s.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::config::SubscriptionConfig;
use crate::smc::gate::Ticket;
use crate::smc::session::{Admission, Auth, Credentials, SmcSession, no_answer};
use crate::state::ReconnectReason;

/// An upgraded socket to an SMC.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Who decides when the next attempt is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The subscription's own backoff (the `failure` schedule for
    /// `reason="failure"`).
    Own,
    /// Its own backoff, and the ending is routine (the silence limit).
    Routine,
    /// The SMC's gate: the problem is SMC-wide and the session has already
    /// logged it.
    Gate,
}

/// Why a socket could not be opened.
#[derive(Debug)]
pub enum NotOpened {
    /// The SMC's gate is closed until `until` (or until it opens): no
    /// attempt was made.
    Wait {
        until: Instant,
        opened: tokio::sync::watch::Receiver<u64>,
    },
    /// The attempt failed.
    Failed {
        reason: ReconnectReason,
        detail: String,
        retry: Retry,
    },
}

/// An open socket and the API version it was opened with.
#[derive(Debug)]
pub struct Opened {
    pub ws: Socket,
    pub api_version: String,
}

fn failed<T>(
    reason: ReconnectReason,
    detail: impl Into<String>,
    retry: Retry,
) -> Result<T, NotOpened> {
    Err(NotOpened::Failed {
        reason,
        detail: detail.into(),
        retry,
    })
}

/// Log in if needed (through the SMC's gate) and upgrade to `path`.
/// Cancelled by dropping (nothing to clean up yet).
pub async fn open(
    session: &SmcSession,
    path: &str,
    ws_config: WebSocketConfig,
    settings: &SubscriptionConfig,
) -> Result<Opened, NotOpened> {
    let (creds, ticket) = admit(session).await?;
    let url = session.ws_url(&creds.api_version, path);
    let request = request(&url, &creds)?;
    let ws = upgrade(session, ticket, request, ws_config, settings).await?;
    Ok(Opened {
        ws,
        api_version: creds.api_version.clone(),
    })
}

/// Ask the SMC's gate: credentials, a wait, or (this caller's login failed)
/// an ending the gate schedules.
async fn admit(session: &SmcSession) -> Result<(Arc<Credentials>, Ticket), NotOpened> {
    use ReconnectReason::{ConnectError, LoginFailed};
    match session.admit().await {
        Ok(Admission::Connect { creds, ticket }) => Ok((creds, ticket)),
        Ok(Admission::Wait { until, opened, .. }) => Err(NotOpened::Wait { until, opened }),
        Err(e) if no_answer(&e) => failed(ConnectError, e.to_string(), Retry::Gate),
        Err(e) => failed(LoginFailed, e.to_string(), Retry::Gate),
    }
}

/// The upgrade request with the session's credentials, marked sensitive so
/// that `http`'s Debug prints "Sensitive" instead of them.
fn request(url: &str, creds: &Credentials) -> Result<Request, NotOpened> {
    let mut request = match url.into_client_request() {
        Ok(r) => r,
        Err(e) => return failed(ReconnectReason::ConnectError, e.to_string(), Retry::Own),
    };
    let header = match &creds.auth {
        Auth::Cookie(c) => HeaderValue::from_str(c.expose()).map(|v| ("cookie", v)),
        Auth::Token(t) => HeaderValue::from_str(&format!("access_token, {}", t.expose()))
            .map(|v| ("sec-websocket-protocol", v)),
    };
    match header {
        Ok((name, mut value)) => {
            value.set_sensitive(true);
            request.headers_mut().insert(name, value);
            Ok(request)
        }
        Err(_) => failed(
            ReconnectReason::LoginFailed,
            "session id is not a valid header value",
            Retry::Own,
        ),
    }
}

/// The WebSocket upgrade, its outcome reported to the session: accepted;
/// refused with 401/403 (the gate decides what next); no answer (the SMC is
/// unreachable: the gate decides); another answer (the caller backs off on
/// its own).
async fn upgrade(
    session: &SmcSession,
    ticket: Ticket,
    request: Request,
    ws_config: WebSocketConfig,
    settings: &SubscriptionConfig,
) -> Result<Socket, NotOpened> {
    use ReconnectReason::{ConnectError, Unauthorized};
    let connector = (request.uri().scheme_str() == Some("wss"))
        .then(|| Connector::Rustls(session.tls_config()));
    let connect =
        tokio_tungstenite::connect_async_tls_with_config(request, Some(ws_config), true, connector);
    match timeout(settings.connect_timeout, connect).await {
        Ok(Ok((ws, _resp))) => {
            session.connected(ticket);
            Ok(ws)
        }
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let detail = format!("upgrade refused: HTTP {status}");
            if status == 401 || status == 403 {
                session.refused(ticket, status);
                return failed(Unauthorized, detail, Retry::Gate);
            }
            session.answered(ticket);
            failed(ConnectError, detail, Retry::Own)
        }
        Ok(Err(e @ (tungstenite::Error::Io(_) | tungstenite::Error::Tls(_)))) => {
            session.unanswered(ticket, e.to_string());
            failed(ConnectError, e.to_string(), Retry::Gate)
        }
        Ok(Err(e)) => {
            session.answered(ticket);
            failed(ConnectError, e.to_string(), Retry::Own)
        }
        Err(_) => {
            session.unanswered(ticket, "connect timed out".into());
            failed(ConnectError, "connect timed out", Retry::Gate)
        }
    }
}
