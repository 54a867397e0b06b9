//! tokio-tungstenite's split halves as `rpc_core` transport halves.

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use rpc_core::transport::{CloseReason, Receiver, Sender, TransportError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// The sending half of a WebSocket.
#[derive(Debug)]
pub struct WsSender<S>(SplitSink<WebSocketStream<S>, Message>);

/// The receiving half of a WebSocket.
#[derive(Debug)]
pub struct WsReceiver<S>(SplitStream<WebSocketStream<S>>);

/// Splits a WebSocket into transport halves.
pub fn split<S>(ws: WebSocketStream<S>) -> (WsSender<S>, WsReceiver<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (sink, stream) = ws.split();
    (WsSender(sink), WsReceiver(stream))
}

impl<S> Sender for WsSender<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn feed(&mut self, text: String) -> Result<(), TransportError> {
        self.0.feed(Message::text(text)).await.map_err(io_error)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        self.0.flush().await.map_err(io_error)
    }

    async fn close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        let frame = CloseFrame {
            code: reason.code.into(),
            reason: Utf8Bytes::from(reason.reason.into_owned()),
        };
        self.0.send(Message::Close(Some(frame))).await.map_err(io_error)?;
        self.0.close().await.map_err(io_error)
    }
}

impl<S> Receiver for WsReceiver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Text = Utf8Bytes;

    async fn receive(&mut self) -> Result<Utf8Bytes, TransportError> {
        // Cancel-safe: `next` takes nothing from the socket unless it returns.
        while let Some(msg) = self.0.next().await {
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

fn io_error(e: WsError) -> TransportError {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => TransportError::Closed(None),
        other => TransportError::Io(other.to_string()),
    }
}
