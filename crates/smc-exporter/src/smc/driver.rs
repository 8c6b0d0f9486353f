//! The socket driver: one open SMC monitoring socket (session, log or
//! notification — it knows no tables), over any byte stream. It sends the
//! query, keeps the connection alive (pings, the pong deadline, the silence
//! limit and the answer deadline of [`Liveness`]), yields each frame
//! decoded, remembers the fetch id, and on cancel aborts the fetch and
//! closes within [`CLOSE_TIMEOUT`].
//!
//! Opening the socket (login, upgrade over TCP / TLS) is
//! [`super::connect`]'s; what the messages mean is the caller's. Generic
//! over the stream, so its tests run over an in-memory duplex under paused
//! time.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message};

use super::liveness::{Expired, Liveness, Timings};
use crate::state::{MessageErrorKind, ReconnectReason};
use smc_protocol::{DecodeError, FieldSet, ServerMessage, abort_frame};

/// On shutdown, the abort and the close frame get this long together: a peer
/// that stopped reading must not hold up the logout.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the driver has to report.
#[derive(Debug)]
pub enum Next {
    /// A text frame, to decode with [`Driver::decode`].
    Text(tungstenite::Utf8Bytes),
    /// A binary frame (the SMC sends none): nothing to decode.
    Binary,
    /// The caller's `until` passed.
    Timer,
    /// The connection is over.
    Ended(Ending),
}

/// How and why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub reason: ReconnectReason,
    pub detail: String,
    /// Routine (the silence limit on a quiet table): logged at info.
    pub routine: bool,
    /// A frame the WebSocket layer refused before it could be read (too
    /// large, not UTF-8): a message error as well as the ending.
    pub rejected: Option<MessageErrorKind>,
}

impl Ending {
    pub fn new(reason: ReconnectReason, detail: impl Into<String>) -> Self {
        Ending {
            reason,
            detail: detail.into(),
            routine: false,
            rejected: None,
        }
    }

    fn idle(e: Expired) -> Self {
        Ending {
            routine: e.routine,
            ..Ending::new(ReconnectReason::Idle, e.detail)
        }
    }

    fn read_error(e: tungstenite::Error) -> Self {
        let rejected = match &e {
            tungstenite::Error::Capacity(_) => Some(MessageErrorKind::TooLarge),
            tungstenite::Error::Utf8(_) => Some(MessageErrorKind::InvalidUtf8),
            _ => None,
        };
        Ending {
            rejected,
            ..Ending::new(ReconnectReason::ReadError, e.to_string())
        }
    }

    fn closed(frame: Option<tungstenite::protocol::CloseFrame>) -> Self {
        let detail = frame
            .map(|f| format!("closed by server: {} {}", u16::from(f.code), f.reason))
            .unwrap_or_else(|| "closed by server".into());
        Ending::new(ReconnectReason::Closed, detail)
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Driver<S> {
    ws: WebSocketStream<S>,
    live: Liveness,
    fetch: Option<i64>,
    pong_timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    /// Send `query` on a freshly upgraded socket (within `send_within`);
    /// liveness starts now.
    pub async fn start(
        mut ws: WebSocketStream<S>,
        query: String,
        timings: Timings,
        send_within: Duration,
    ) -> Result<Self, Ending> {
        use ReconnectReason::ConnectError;
        match timeout(send_within, ws.send(Message::text(query))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Ending::new(ConnectError, e.to_string())),
            Err(_) => {
                return Err(Ending::new(
                    ConnectError,
                    "query not sent within connect_timeout",
                ));
            }
        }
        Ok(Driver {
            ws,
            live: Liveness::new(Instant::now(), timings),
            fetch: None,
            pong_timeout: timings.pong_timeout,
        })
    }

    /// Decode a [`Next::Text`] frame, keeping the record fields in
    /// `wanted`; the message borrows from `text`. Notes the fetch id.
    pub fn decode<'t>(
        &mut self,
        text: &'t str,
        wanted: &FieldSet,
    ) -> Result<ServerMessage<'t>, DecodeError> {
        let decoded = smc_protocol::decode_fields(text, wanted);
        if let Ok(ServerMessage::Started { fetch, .. } | ServerMessage::Records { fetch, .. }) =
            &decoded
        {
            self.fetch = fetch.or(self.fetch);
        }
        decoded
    }

    /// Note the fetch id a caller decoded itself (so `close` aborts it).
    pub fn note_fetch(&mut self, fetch: Option<i64>) {
        self.fetch = fetch.or(self.fetch);
    }

    /// The fetch id the server gave the query, once it did.
    pub fn fetch_id(&self) -> Option<i64> {
        self.fetch
    }

    /// Wait for the next frame worth reporting, the end of the connection,
    /// or `until`. Pings go out meanwhile. When `until` and a liveness
    /// ending fall due together, [`Next::Timer`] comes first (the ending on
    /// the next call). Cancel-safe between frames: dropping it loses no
    /// received frame.
    pub async fn next(&mut self, until: Option<Instant>) -> Next {
        loop {
            let due = self.live.next_deadline();
            let deadline = until.map_or(due, |u| u.min(due));
            tokio::select! {
                biased;
                frame = self.ws.next() => {
                    if let Some(next) = self.on_frame(frame) {
                        return next;
                    }
                }
                _ = sleep_until(deadline) => {
                    let now = Instant::now();
                    if until.is_some_and(|u| u <= now) {
                        return Next::Timer;
                    }
                    if let Some(e) = self.live.expired(now) {
                        return Next::Ended(Ending::idle(e));
                    }
                    if self.live.ping_due(now)
                        && let Err(end) = self.ping().await
                    {
                        return Next::Ended(end);
                    }
                }
            }
        }
    }

    fn on_frame(&mut self, frame: Option<Result<Message, tungstenite::Error>>) -> Option<Next> {
        let msg = match frame {
            None => {
                return Some(Next::Ended(Ending::new(
                    ReconnectReason::Closed,
                    "connection closed",
                )));
            }
            Some(Err(e)) => return Some(Next::Ended(Ending::read_error(e))),
            Some(Ok(m)) => m,
        };
        let is_data = matches!(msg, Message::Text(_) | Message::Binary(_));
        self.live.on_frame(Instant::now(), is_data);
        match msg {
            Message::Text(text) => Some(Next::Text(text)),
            Message::Binary(_) => Some(Next::Binary),
            Message::Close(frame) => Some(Next::Ended(Ending::closed(frame))),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
        }
    }

    /// Send a ping. A peer that stopped reading can block the send: it is
    /// bounded by the pong deadline.
    async fn ping(&mut self) -> Result<(), Ending> {
        let pong = self.pong_timeout;
        match timeout(pong, self.ws.send(Message::Ping(Vec::new().into()))).await {
            Ok(Ok(())) => {
                self.live.ping_sent(Instant::now());
                Ok(())
            }
            Ok(Err(e)) => Err(Ending::new(ReconnectReason::ReadError, e.to_string())),
            Err(_) => Err(Ending::new(
                ReconnectReason::Idle,
                format!("ping not sent within {}", humantime::format_duration(pong)),
            )),
        }
    }

    /// Abort the fetch (if the server gave it an id) and close, within
    /// [`CLOSE_TIMEOUT`].
    pub async fn close(mut self) {
        let _ = timeout(CLOSE_TIMEOUT, async {
            if let Some(id) = self.fetch {
                let _ = self.ws.send(Message::text(abort_frame(id))).await;
            }
            let _ = self.ws.close(None).await;
        })
        .await;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::DuplexStream;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    const S: Duration = Duration::from_secs(1);
    const QUERY: &str = r#"{"query":{"definition":"CONNECTIONS","target":"fw"}}"#;

    fn timings(silence: Option<Duration>) -> Timings {
        Timings {
            ping_interval: 30 * S,
            pong_timeout: 10 * S,
            silence_limit: silence,
            answer_within: 100 * S,
        }
    }

    pub(crate) type Peer = WebSocketStream<DuplexStream>;

    /// A client socket and the server end, over an in-memory duplex of
    /// `capacity` bytes; the client refuses frames above `max_frame`.
    pub(crate) async fn pair(
        capacity: usize,
        max_frame: usize,
    ) -> (WebSocketStream<DuplexStream>, Peer) {
        let (a, b) = tokio::io::duplex(capacity);
        let config = WebSocketConfig::default()
            .max_frame_size(Some(max_frame))
            .max_message_size(Some(max_frame));
        let client =
            tokio_tungstenite::client_async_with_config("ws://smc/socket", a, Some(config));
        let server = tokio_tungstenite::accept_async(b);
        let (client, server) = tokio::join!(client, server);
        (client.unwrap().0, server.unwrap())
    }

    /// A started driver and the server end, the query already read.
    async fn started(silence: Option<Duration>) -> (Driver<DuplexStream>, Peer) {
        let (client, mut server) = pair(1 << 16, 1 << 16).await;
        let driver = Driver::start(client, QUERY.into(), timings(silence), 5 * S);
        let (driver, query) = tokio::join!(driver, server.next());
        assert_eq!(query.unwrap().unwrap(), Message::text(QUERY));
        (driver.unwrap(), server)
    }

    /// The server end reads (and so answers pings) until the client goes.
    fn reading(mut server: Peer) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { while let Some(Ok(_)) = server.next().await {} })
    }

    async fn send(server: &mut Peer, text: &str) {
        server.send(Message::text(text)).await.unwrap();
    }

    fn ended(next: Next) -> Ending {
        match next {
            Next::Ended(e) => e,
            other => panic!("not an ending: {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn frames_are_decoded_and_the_fetch_id_kept() {
        let (mut d, mut server) = started(None).await;
        send(&mut server, r#"{"success":"ok","fetch":-7}"#).await;
        send(
            &mut server,
            r#"{"fetch":-7,"records":{"added":[{"delta_key":"a"}]}}"#,
        )
        .await;
        send(&mut server, "not json").await;
        server.send(Message::binary(vec![1, 2])).await.unwrap();
        let all = FieldSet::All;
        let Next::Text(started) = d.next(None).await else {
            panic!("not text")
        };
        let started = d.decode(started.as_str(), &all);
        assert!(
            matches!(
                started,
                Ok(ServerMessage::Started {
                    fetch: Some(-7),
                    ..
                })
            ),
            "{started:?}"
        );
        assert_eq!(d.fetch_id(), Some(-7));
        let Next::Text(text) = d.next(None).await else {
            panic!("not text")
        };
        let Ok(ServerMessage::Records { records, .. }) = d.decode(text.as_str(), &all) else {
            panic!("not records")
        };
        assert_eq!(records.added[0].delta_key.as_deref(), Some("a"));
        let Next::Text(text) = d.next(None).await else {
            panic!("not text")
        };
        assert!(d.decode(text.as_str(), &all).is_err());
        assert!(matches!(d.next(None).await, Next::Binary));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_ping_ends_the_connection_at_the_pong_deadline() {
        let (mut d, mut server) = started(None).await;
        send(&mut server, r#"{"success":"ok","fetch":1}"#).await;
        let t0 = Instant::now();
        assert!(matches!(d.next(None).await, Next::Text(_)));
        // The server no longer reads: the ping is never answered.
        let e = ended(d.next(None).await);
        assert_eq!(
            Instant::now() - t0,
            40 * S,
            "ping at 30 s, pong due 10 s later"
        );
        assert_eq!(
            e,
            Ending::new(ReconnectReason::Idle, "no pong within 10s of a ping")
        );
        drop(server);
    }

    #[tokio::test(start_paused = true)]
    async fn answered_pings_keep_a_quiet_connection_until_the_silence_limit() {
        let (mut d, mut server) = started(Some(600 * S)).await;
        send(&mut server, r#"{"success":"ok","fetch":1}"#).await;
        let t0 = Instant::now();
        // The server reads (tungstenite answers each ping with a pong).
        let reader = tokio::spawn(async move {
            let mut pings = 0;
            while let Some(Ok(m)) = server.next().await {
                pings += u32::from(m.is_ping());
            }
            pings
        });
        assert!(matches!(d.next(None).await, Next::Text(_)));
        let e = ended(d.next(None).await);
        assert_eq!(Instant::now() - t0, 600 * S);
        assert_eq!(
            e,
            Ending {
                routine: true,
                ..Ending::new(ReconnectReason::Idle, "no data for 10m")
            }
        );
        drop(d);
        assert_eq!(
            reader.await.unwrap(),
            19,
            "a ping every 30 s until 570 s, each answered"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_never_answers_is_given_up() {
        let (mut d, server) = started(None).await;
        let _reader = reading(server);
        let t0 = Instant::now();
        let e = ended(d.next(None).await);
        assert_eq!(Instant::now() - t0, 100 * S);
        assert_eq!(e.detail, "no answer to the query within 1m 40s");
    }

    #[tokio::test(start_paused = true)]
    async fn until_comes_first_as_a_timer() {
        let (mut d, server) = started(None).await;
        let _reader = reading(server);
        let t0 = Instant::now();
        assert!(matches!(d.next(Some(t0 + 5 * S)).await, Next::Timer));
        assert_eq!(Instant::now() - t0, 5 * S);
        // A timer at the liveness deadline: the timer first, the ending next.
        assert!(matches!(d.next(Some(t0 + 100 * S)).await, Next::Timer));
        assert_eq!(ended(d.next(None).await).reason, ReconnectReason::Idle);
        assert_eq!(Instant::now() - t0, 100 * S);
    }

    #[tokio::test(start_paused = true)]
    async fn close_aborts_the_fetch_then_closes() {
        let (mut d, mut server) = started(None).await;
        send(&mut server, r#"{"success":"ok","fetch":42}"#).await;
        let Next::Text(text) = d.next(None).await else {
            panic!("not text")
        };
        assert!(d.decode(text.as_str(), &FieldSet::All).is_ok());
        d.close().await;
        assert_eq!(
            server.next().await.unwrap().unwrap(),
            Message::text(r#"{"abort":42}"#)
        );
        assert!(matches!(
            server.next().await,
            Some(Ok(Message::Close(None)))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn close_before_any_fetch_id_only_closes() {
        let (d, mut server) = started(None).await;
        d.close().await;
        assert!(matches!(
            server.next().await,
            Some(Ok(Message::Close(None)))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_query_the_peer_does_not_read_fails_within_the_send_deadline() {
        let (client, _server) = pair(256, 1 << 16).await;
        let t0 = Instant::now();
        let big = format!("{{\"query\":\"{}\"}}", "x".repeat(4096));
        let e = Driver::start(client, big, timings(None), 5 * S)
            .await
            .unwrap_err();
        assert_eq!(Instant::now() - t0, 5 * S);
        assert_eq!(
            e,
            Ending::new(
                ReconnectReason::ConnectError,
                "query not sent within connect_timeout"
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn endings_say_what_ended_the_connection() {
        let (mut d, mut server) = started(None).await;
        let close = tungstenite::protocol::CloseFrame {
            code: CloseCode::Away,
            reason: "maintenance".into(),
        };
        server.send(Message::Close(Some(close))).await.unwrap();
        assert_eq!(
            ended(d.next(None).await),
            Ending::new(
                ReconnectReason::Closed,
                "closed by server: 1001 maintenance"
            )
        );

        let (client, mut server) = pair(1 << 16, 1024).await;
        let start = Driver::start(client, QUERY.into(), timings(None), 5 * S);
        let (d, _) = tokio::join!(start, server.next());
        let mut d = d.unwrap();
        send(&mut server, &"x".repeat(2048)).await;
        let e = ended(d.next(None).await);
        assert_eq!(e.reason, ReconnectReason::ReadError);
        assert_eq!(e.rejected, Some(MessageErrorKind::TooLarge));

        let (mut d, server) = started(None).await;
        drop(server);
        let e = ended(d.next(None).await);
        assert!(
            e.reason == ReconnectReason::Closed || e.reason == ReconnectReason::ReadError,
            "{e:?}"
        );
    }
}
