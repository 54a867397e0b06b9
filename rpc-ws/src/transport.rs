//! tokio-tungstenite's WebSocket stream as an `duplexrpc_core` transport.

use std::pin::Pin;
use std::time::Duration;

use std::future::Future;
use std::task::{Context, Poll, ready};

use futures::{Sink, StreamExt};
use duplexrpc_core::transport::{CloseReason, Transport, TransportError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use crate::status::{ConnectionStatus, Disconnect};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// A WebSocket as an `duplexrpc_core` transport: both directions in one value,
/// driven by the peer's one connection task (no lock between the halves).
/// [`crate::connect`] and [`crate::Server`] build one; to run a peer over a
/// WebSocket you opened yourself:
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let (ws, _response) = tokio_tungstenite::connect_async("ws://127.0.0.1:9000/").await?;
/// let peer = duplexrpc_core::PeerBuilder::new().start_transport(duplexrpc_ws::WsTransport::new(ws));
/// # drop(peer);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct WsTransport<S> {
    ws: WebSocketStream<S>,
    ping_interval: Option<Duration>,
    keepalive: Option<Keepalive>,
    status: ConnectionStatus,
}

/// Dead-peer detection: the other end must send something (a pong to our
/// pings at least) within `dead_after` of the last frame.
#[derive(Debug)]
struct Keepalive {
    dead_after: Duration,
    /// When a frame last arrived (to within one burst of frames).
    last_seen: Instant,
    /// A frame arrived since `last_seen` was set.
    fresh: bool,
    /// Stays registered across polls; reset only when it fires.
    timer: Pin<Box<Sleep>>,
}

impl<S> WsTransport<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// A transport without keepalive.
    pub fn new(ws: WebSocketStream<S>) -> Self {
        Self::with_keepalive(ws, None, Duration::ZERO)
    }

    /// A transport that pings every `interval` and declares the other end
    /// dead once it has sent nothing (pongs included) for `interval +
    /// timeout`. `None` disables both.
    pub fn with_keepalive(ws: WebSocketStream<S>, interval: Option<Duration>, timeout: Duration) -> Self {
        let keepalive = interval.map(|interval| {
            let dead_after = interval + timeout;
            let last_seen = Instant::now();
            Keepalive {
                dead_after,
                last_seen,
                fresh: false,
                timer: Box::pin(tokio::time::sleep_until(last_seen + dead_after)),
            }
        });
        WsTransport {
            ws,
            ping_interval: interval,
            keepalive,
            status: ConnectionStatus::default(),
        }
    }

    fn sink(&mut self) -> Pin<&mut WebSocketStream<S>> {
        Pin::new(&mut self.ws)
    }
}

impl<S> Transport for WsTransport<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Text = Utf8Bytes;

    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<Utf8Bytes, TransportError>> {
        let result = ready!(self.poll_text(cx));
        if let Err(e) = &result {
            self.status.set(match e {
                TransportError::Closed(reason) => Disconnect::Closed(reason.clone()),
                TransportError::Protocol(reason) => Disconnect::Refused(reason.clone()),
                TransportError::Io(e) => Disconnect::Failed(e.clone()),
            });
        }
        Poll::Ready(result)
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.sink().poll_ready(cx).map_err(io_error)
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        self.sink().start_send(Message::text(text)).map_err(io_error)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.sink().poll_flush(cx).map_err(io_error)
    }

    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        let frame = CloseFrame {
            code: reason.code.into(),
            reason: Utf8Bytes::from(reason.reason.into_owned()),
        };
        self.sink().start_send(Message::Close(Some(frame))).map_err(io_error)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.sink().poll_close(cx).map_err(io_error)
    }

    fn ping_interval(&self) -> Option<Duration> {
        self.ping_interval
    }

    fn start_ping(&mut self) -> Result<(), TransportError> {
        self.sink()
            .start_send(Message::Ping(Default::default()))
            .map_err(io_error)
    }
}

impl<S> WsTransport<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// The handle that tells how this connection ended.
    pub fn status(&self) -> ConnectionStatus {
        self.status.clone()
    }
    fn poll_text(&mut self, cx: &mut Context<'_>) -> Poll<Result<Utf8Bytes, TransportError>> {
        loop {
            let msg = match ready!(self.poll_frame(cx))? {
                Some(msg) => msg,
                None => return Poll::Ready(Err(TransportError::Closed(None))),
            };
            let text = match msg {
                Ok(Message::Text(text)) => Ok(text),
                Ok(Message::Binary(_)) => Err(TransportError::Protocol(CloseReason::new(
                    1003,
                    "binary frames are not supported: send JSON-RPC as text frames",
                ))),
                Ok(Message::Close(frame)) => Err(TransportError::Closed(frame.map(|f| CloseReason {
                    code: f.code.into(),
                    reason: f.reason.as_str().to_owned().into(),
                }))),
                // Pings are answered by tungstenite itself; pongs need nothing.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Err(WsError::Capacity(e)) => Err(TransportError::Protocol(CloseReason {
                    code: 1009,
                    reason: format!("message too big: {e}").into(),
                })),
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Err(TransportError::Closed(None)),
                Err(e) => Err(TransportError::Io(e.to_string())),
            };
            return Poll::Ready(text);
        }
    }

    /// The next frame of any kind; fails if the keepalive deadline passes first.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Result<Message, WsError>>, TransportError>> {
        if let Poll::Ready(msg) = self.ws.poll_next_unpin(cx) {
            if let Some(keepalive) = &mut self.keepalive {
                keepalive.fresh = true;
            }
            return Poll::Ready(Ok(msg));
        }
        let Some(keepalive) = &mut self.keepalive else {
            return Poll::Pending;
        };
        // The clock is read once per burst of frames, not once per frame.
        if std::mem::take(&mut keepalive.fresh) {
            keepalive.last_seen = Instant::now();
        }
        while keepalive.timer.as_mut().poll(cx).is_ready() {
            let deadline = keepalive.last_seen + keepalive.dead_after;
            if deadline <= Instant::now() {
                self.status.set(Disconnect::KeepaliveTimeout);
                return Poll::Ready(Err(TransportError::Io(format!(
                    "keepalive timeout: nothing received for {:?}",
                    keepalive.dead_after
                ))));
            }
            keepalive.timer.as_mut().reset(deadline);
        }
        Poll::Pending
    }
}

fn io_error(e: WsError) -> TransportError {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => TransportError::Closed(None),
        other => TransportError::Io(other.to_string()),
    }
}
