//! tokio-tungstenite's split halves as `rpc_core` transport halves.

use std::pin::Pin;
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use rpc_core::transport::{CloseReason, Receiver, Sender, TransportError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use crate::status::{ConnectionStatus, Disconnect};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// The sending half of a WebSocket.
#[derive(Debug)]
pub struct WsSender<S> {
    sink: SplitSink<WebSocketStream<S>, Message>,
    ping_interval: Option<Duration>,
}

/// The receiving half of a WebSocket.
#[derive(Debug)]
pub struct WsReceiver<S> {
    stream: SplitStream<WebSocketStream<S>>,
    keepalive: Option<Keepalive>,
    status: ConnectionStatus,
}

/// Dead-peer detection: the other end must send something (a pong to our
/// pings at least) within `dead_after` of the last frame.
#[derive(Debug)]
struct Keepalive {
    dead_after: Duration,
    last_seen: Instant,
    /// Stays registered across `receive` calls; reset only when it fires.
    timer: Pin<Box<Sleep>>,
}

/// Splits a WebSocket into transport halves, without keepalive.
pub fn split<S>(ws: WebSocketStream<S>) -> (WsSender<S>, WsReceiver<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    split_with_keepalive(ws, None, Duration::ZERO)
}

/// Splits a WebSocket into transport halves that ping every `interval` and
/// declare the other end dead once it has sent nothing (pongs included) for
/// `interval + timeout`. `None` disables both.
pub fn split_with_keepalive<S>(
    ws: WebSocketStream<S>,
    interval: Option<Duration>,
    timeout: Duration,
) -> (WsSender<S>, WsReceiver<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (sink, stream) = ws.split();
    let keepalive = interval.map(|interval| {
        let dead_after = interval + timeout;
        let last_seen = Instant::now();
        Keepalive {
            dead_after,
            last_seen,
            timer: Box::pin(tokio::time::sleep_until(last_seen + dead_after)),
        }
    });
    (
        WsSender {
            sink,
            ping_interval: interval,
        },
        WsReceiver {
            stream,
            keepalive,
            status: ConnectionStatus::default(),
        },
    )
}

impl<S> Sender for WsSender<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn feed(&mut self, text: String) -> Result<(), TransportError> {
        self.sink.feed(Message::text(text)).await.map_err(io_error)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        self.sink.flush().await.map_err(io_error)
    }

    fn ping_interval(&self) -> Option<Duration> {
        self.ping_interval
    }

    async fn ping(&mut self) -> Result<(), TransportError> {
        self.sink
            .send(Message::Ping(Default::default()))
            .await
            .map_err(io_error)
    }

    async fn close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        let frame = CloseFrame {
            code: reason.code.into(),
            reason: Utf8Bytes::from(reason.reason.into_owned()),
        };
        self.sink.send(Message::Close(Some(frame))).await.map_err(io_error)?;
        self.sink.close().await.map_err(io_error)
    }
}

impl<S> Receiver for WsReceiver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Text = Utf8Bytes;

    async fn receive(&mut self) -> Result<Utf8Bytes, TransportError> {
        let result = self.receive_text().await;
        if let Err(e) = &result {
            self.status.set(match e {
                TransportError::Closed(reason) => Disconnect::Closed(reason.clone()),
                TransportError::Protocol(reason) => Disconnect::Refused(reason.clone()),
                TransportError::Io(e) => Disconnect::Failed(e.clone()),
            });
        }
        result
    }
}

impl<S> WsReceiver<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// The handle that tells how this connection ended.
    pub fn status(&self) -> ConnectionStatus {
        self.status.clone()
    }

    async fn receive_text(&mut self) -> Result<Utf8Bytes, TransportError> {
        // Cancel-safe: `next` takes nothing from the socket unless it returns,
        // and the keepalive timer lives in `self`.
        while let Some(msg) = self.next_frame().await? {
            match msg {
                Ok(Message::Text(text)) => return Ok(text),
                Ok(Message::Binary(_)) => {
                    return Err(TransportError::Protocol(CloseReason::new(
                        1003,
                        "binary frames are not supported: send JSON-RPC as text frames",
                    )));
                }
                Ok(Message::Close(frame)) => {
                    return Err(TransportError::Closed(frame.map(|f| CloseReason {
                        code: f.code.into(),
                        reason: f.reason.as_str().to_owned().into(),
                    })));
                }
                // Pings are answered by tungstenite itself; pongs need nothing.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Err(WsError::Capacity(e)) => {
                    return Err(TransportError::Protocol(CloseReason {
                        code: 1009,
                        reason: format!("message too big: {e}").into(),
                    }));
                }
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => break,
                Err(e) => return Err(TransportError::Io(e.to_string())),
            }
        }
        Err(TransportError::Closed(None))
    }
}

impl<S> WsReceiver<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// The next frame of any kind; fails if the keepalive deadline passes first.
    async fn next_frame(&mut self) -> Result<Option<Result<Message, WsError>>, TransportError> {
        let Some(keepalive) = &mut self.keepalive else {
            return Ok(self.stream.next().await);
        };
        loop {
            tokio::select! {
                biased;
                msg = self.stream.next() => {
                    keepalive.last_seen = Instant::now();
                    return Ok(msg);
                }
                _ = keepalive.timer.as_mut() => {
                    let deadline = keepalive.last_seen + keepalive.dead_after;
                    if deadline <= Instant::now() {
                        self.status.set(Disconnect::KeepaliveTimeout);
                        return Err(TransportError::Io(format!(
                            "keepalive timeout: nothing received for {:?}",
                            keepalive.dead_after
                        )));
                    }
                    keepalive.timer.as_mut().reset(deadline);
                }
            }
        }
    }
}

fn io_error(e: WsError) -> TransportError {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => TransportError::Closed(None),
        other => TransportError::Io(other.to_string()),
    }
}
