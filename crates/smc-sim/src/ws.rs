//! WebSocket plumbing shared by the session, log and notification sockets:
//! frame classification, Tomcat's 8192-byte text limit (close 1009), and a
//! close that waits (bounded) for the client's reply.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

pub(crate) type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// Tomcat's default text buffer: larger client text frames are refused.
pub(crate) const MAX_CLIENT_TEXT: usize = 8192;
/// The close reason the SMC (Tomcat) sends with 1009.
pub(crate) const TOO_BIG_REASON: &str = "The decoded text message was too big for the output buffer and the endpoint does not support partial messages";
/// How long to wait for the client's close reply after our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

pub(crate) enum Incoming {
    Text(String),
    /// A text frame over 8192 bytes: close with 1009.
    TooBig(usize),
    /// Closed or errored.
    End,
    /// Ping, pong, binary, or the client's close (tungstenite queues the
    /// reply, flushed by the next read).
    Other,
}

pub(crate) fn classify(m: Option<Result<Message, WsError>>) -> Incoming {
    match m {
        None | Some(Err(_)) => Incoming::End,
        Some(Ok(Message::Text(t))) if t.len() > MAX_CLIENT_TEXT => Incoming::TooBig(t.len()),
        Some(Ok(Message::Text(t))) => Incoming::Text(t.as_str().to_owned()),
        Some(Ok(_)) => Incoming::Other,
    }
}

/// The next client frame; a too-big one closes the socket (1009) and ends it.
pub(crate) async fn next_frame(ws: &mut Ws) -> Incoming {
    match classify(ws.next().await) {
        Incoming::TooBig(len) => {
            too_big(ws, len).await;
            Incoming::End
        }
        other => other,
    }
}

pub(crate) async fn too_big(ws: &mut Ws, len: usize) {
    tracing::info!(len, "client text frame too big; closing with 1009");
    close(ws, CloseCode::Size, TOO_BIG_REASON).await;
}

/// Send a close frame and wait (bounded) for the client's reply.
pub(crate) async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

pub(crate) async fn send(ws: &mut Ws, v: &Value) -> bool {
    ws.send(Message::text(v.to_string())).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_big_reason_fits_a_close_frame() {
        assert!(TOO_BIG_REASON.len() <= 123);
    }
}
