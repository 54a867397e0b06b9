//! tokio-tungstenite's WebSocket stream as an `duplexrpc_core` transport.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::future::Future;
use std::task::{Context, Poll, ready};

use duplexrpc_core::transport::{CloseReason, SharedText, Transport, TransportError};
use futures::{Sink, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use crate::config::WsConfig;
use crate::status::{ConnectionStatus, Disconnect};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

mod watch;
pub(crate) use watch::Watched;
use watch::{FrameWatch, ReadRate};

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
    /// Set for the connections of [`crate::Server`] and [`crate::connect`],
    /// whose stream is [`Watched`].
    watch: Option<Watch<S>>,
    /// Messages (control frames included) tungstenite has delivered.
    delivered: u64,
    /// A message over [`SHRINK_ABOVE`] was sent since the buffers were rebuilt.
    sent_large: bool,
    /// The WebSocket reads [`LARGE_READ`] at a time: it was rebuilt after a
    /// large incoming message (see [`WsTransport::rebuild_if_idle`]).
    large_reads: bool,
    /// A keepalive ping went out while reading large: back to small reads
    /// at the next rest unless a large frame arrives first.
    large_reads_check: bool,
    /// A close was sent or received: tungstenite's state must stay.
    closing: bool,
}

/// After a frame (read) or a message (sent) larger than this, the
/// connection's buffers, which tungstenite keeps at their largest size, are
/// rebuilt at their initial size once the connection is idle.
pub(crate) const SHRINK_ABOVE: usize = 64 << 10;

/// The read size of a connection whose peer sends large messages: after
/// one (over [`SHRINK_ABOVE`]) has arrived, the WebSocket is rebuilt at
/// rest to read this much per read instead of `WsConfig::read_buffer_size`,
/// until a keepalive ping finds no large frame since the last one. A 1 MiB
/// message then takes 32 reads instead of 512 (`bench cost`, `echo1m`: 71
/// server syscalls per call instead of 551; `bench big`, 1 MiB echo: 0.69x
/// the hand-rolled loop's MiB/s instead of 0.57x). Taken from the
/// server-wide budget of large messages while it lasts.
const LARGE_READ: usize = 32 << 10;

/// What a transport over a [`Watched`] stream knows and does beyond the
/// plain one: the assembly deadline and shrinking buffers back.
#[derive(Debug)]
struct Watch<S> {
    frames: fn(&S) -> &FrameWatch,
    detach: fn(&mut S) -> S,
    role: Role,
    message_timeout: Option<Duration>,
    /// The deadline of the message being assembled (by its number).
    assembly: Option<(u64, Pin<Box<Sleep>>)>,
    /// This connection's share of the server-wide budget of large messages.
    large: LargeShare,
    /// `WsConfig::read_buffer_size`: the read size of a rebuilt WebSocket
    /// that is not reading large.
    small_read: usize,
}

/// A connection's share of [`WsConfig::max_large_message_bytes`]: the size
/// of the largest frame it has read since its buffers were rebuilt, taken
/// when its header arrives and given back when they are rebuilt or the
/// connection ends.
#[derive(Debug)]
struct LargeShare {
    taken: usize,
    limit: usize,
    in_use: Arc<AtomicUsize>,
}

impl LargeShare {
    /// Takes up to `largest` (a frame's size) if it is large; false if the
    /// budget has no room for it.
    fn take(&mut self, largest: u64) -> bool {
        let want = usize::try_from(largest).unwrap_or(usize::MAX);
        if want <= self.taken || want <= SHRINK_ABOVE {
            return true;
        }
        self.take_more(want)
    }

    /// Takes `bytes` after a [`LargeShare::give_back`] (the read buffer of
    /// a connection reading large); false if the budget has no room.
    fn reserve(&mut self, bytes: usize) -> bool {
        debug_assert_eq!(self.taken, 0);
        self.take_more(bytes)
    }

    fn take_more(&mut self, want: usize) -> bool {
        let more = want - self.taken;
        let limit = self.limit;
        let taken = self
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                n.checked_add(more).filter(|&total| total <= limit)
            })
            .is_ok();
        if taken {
            self.taken = want;
        }
        taken
    }

    fn give_back(&mut self) {
        self.in_use.fetch_sub(std::mem::take(&mut self.taken), Ordering::AcqRel);
    }
}

impl Drop for LargeShare {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// The close of a connection whose large message does not fit the
/// server-wide budget (1013: try again later).
const LARGE_BUDGET: CloseReason = CloseReason::new(1013, "server busy: too many large messages in flight");

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
    /// A transport without keepalive. A transport built from your own
    /// stream has no message deadline ([`crate::WsConfig::message_timeout`])
    /// and keeps tungstenite's buffers at their largest size; the
    /// connections of [`crate::Server`] and [`crate::connect`] have both.
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
            watch: None,
            delivered: 0,
            sent_large: false,
            large_reads: false,
            large_reads_check: false,
            closing: false,
        }
    }

    fn sink(&mut self) -> Pin<&mut WebSocketStream<S>> {
        Pin::new(&mut self.ws)
    }
}

impl<T> WsTransport<Watched<T>>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    /// A transport with `config`'s keepalive and message deadline, over a
    /// stream watched since before the handshake.
    /// A server's connection reads at most [`WsConfig::max_read_rate`].
    pub(crate) fn watched(mut ws: WebSocketStream<Watched<T>>, role: Role, config: &WsConfig) -> Self {
        if let (Role::Server, Some(rate)) = (role, config.max_read_rate) {
            ws.get_mut()
                .limit_read_rate(ReadRate::new(rate, config.max_message_size, config.read_lanes.clone()));
        }
        let mut transport = Self::with_keepalive(ws, config.keepalive_interval, config.keepalive_timeout);
        transport.watch = Some(Watch {
            frames: Watched::frames,
            detach: Watched::detach,
            role,
            message_timeout: config.message_timeout,
            assembly: None,
            large: LargeShare {
                taken: 0,
                limit: config.max_large_message_bytes,
                in_use: config.large_message_bytes.clone(),
            },
            small_read: config.read_buffer_size,
        });
        transport
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
                TransportError::SessionLost(e) => Disconnect::Failed(e.to_string()),
            });
        }
        Poll::Ready(result)
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        let ready = self.sink().poll_ready(cx).map_err(io_error);
        if ready.is_pending() {
            // The connection may have stopped reading until this write goes
            // (back-pressure): the keepalive deadline must run meanwhile.
            self.poll_keepalive(cx)?;
        }
        ready
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        self.sent_large |= text.len() > SHRINK_ABOVE;
        self.sink().start_send(Message::text(text)).map_err(io_error)
    }

    fn start_send_kept(&mut self, text: String) -> (SharedText, Result<(), TransportError>) {
        self.sent_large |= text.len() > SHRINK_ABOVE;
        // The frame's text and the kept copy are the same bytes (a String
        // needs no UTF-8 check).
        let text = Utf8Bytes::from(text);
        let kept = SharedText::from_utf8_bytes(text.clone().into());
        (kept, self.sink().start_send(Message::Text(text)).map_err(io_error))
    }

    fn start_send_shared(&mut self, text: SharedText) -> Result<(), TransportError> {
        self.sent_large |= text.len() > SHRINK_ABOVE;
        // Shares the bytes (a broadcast's, or those a session keeps for
        // replay). A text made of a `String` is written as the frame a
        // `Message::Text` would make, without checking its UTF-8 again for
        // every connection; the others are checked.
        let message = if text.is_surely_utf8() {
            Message::Frame(Frame::message(text.into_bytes(), OpCode::Data(Data::Text), true))
        } else {
            let text = Utf8Bytes::try_from(text.into_bytes()).map_err(|e| TransportError::Io(e.to_string()))?;
            Message::Text(text)
        };
        self.sink().start_send(message).map_err(io_error)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        ready!(self.sink().poll_flush(cx)).map_err(io_error)?;
        if self.large_seen() {
            self.rebuild_if_idle(cx);
        }
        Poll::Ready(Ok(()))
    }

    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        self.closing = true;
        let frame = CloseFrame {
            code: reason.code.into(),
            reason: Utf8Bytes::from(reason.reason.into_owned()),
        };
        match self.sink().start_send(Message::Close(Some(frame))) {
            // The other end closed first: tungstenite has queued the echo of
            // its Close frame (RFC 6455 §5.5.1), which `poll_close` sends.
            Err(WsError::Protocol(ProtocolError::SendAfterClosing)) => Ok(()),
            result => result.map_err(io_error),
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.sink().poll_close(cx).map_err(io_error)
    }

    fn ping_interval(&self) -> Option<Duration> {
        self.ping_interval
    }

    fn start_ping(&mut self) -> Result<(), TransportError> {
        self.large_reads_check = self.large_reads;
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
                Err(e) => Err(match protocol_violation(&e) {
                    Some(reason) => TransportError::Protocol(reason),
                    None => TransportError::Io(e.to_string()),
                }),
            };
            return Poll::Ready(text);
        }
    }

    /// The next frame of any kind; fails if the keepalive deadline or the
    /// message assembly deadline passes first.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Result<Message, WsError>>, TransportError>> {
        // The large-message bookkeeping is one comparison per poll until a
        // large frame or message shows up.
        if self.large_seen() {
            self.rebuild_if_idle(cx);
        }
        let msg = self.ws.poll_next_unpin(cx);
        if self.large_seen() {
            self.take_large_share()?;
        }
        if let Poll::Ready(msg) = msg {
            match &msg {
                Some(Ok(Message::Close(_))) => self.closing = true,
                Some(Ok(_)) => {}
                _ => return Poll::Ready(Ok(msg)),
            }
            self.delivered += 1;
            if let Some(keepalive) = &mut self.keepalive {
                keepalive.fresh = true;
            }
            return Poll::Ready(Ok(msg));
        }
        self.poll_assembly_deadline(cx)?;
        self.poll_keepalive(cx)?;
        Poll::Pending
    }

    /// Fails once nothing has arrived for the keepalive deadline. Polled
    /// when no frame is ready, and while a write waits (the connection may
    /// not be reading then).
    fn poll_keepalive(&mut self, cx: &mut Context<'_>) -> Result<(), TransportError> {
        let Some(keepalive) = &mut self.keepalive else {
            return Ok(());
        };
        // The clock is read once per burst of frames, not once per frame.
        if std::mem::take(&mut keepalive.fresh) {
            keepalive.last_seen = Instant::now();
        }
        while keepalive.timer.as_mut().poll(cx).is_ready() {
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
        Ok(())
    }
}

/// The close a read error calls for (RFC 6455 §7.4.1): 1007 for a text
/// message (or close reason) that is not UTF-8, 1002 for a framing error;
/// `None` for errors of the connection itself (I/O, a reset), which leave
/// nothing to send a close on.
fn protocol_violation(e: &WsError) -> Option<CloseReason> {
    use ProtocolError as P;
    match e {
        WsError::Utf8(_) => Some(CloseReason::new(1007, "invalid UTF-8 in a text message")),
        WsError::Protocol(
            p @ (P::NonZeroReservedBits
            | P::UnmaskedFrameFromClient
            | P::MaskedFrameFromServer
            | P::FragmentedControlFrame
            | P::ControlFrameTooBig
            | P::UnknownControlFrameType(_)
            | P::UnknownDataFrameType(_)
            | P::UnexpectedContinueFrame
            | P::ExpectedFragment(_)
            | P::InvalidOpcode(_)
            | P::InvalidCloseSequence),
        ) => Some(CloseReason {
            code: 1002,
            reason: format!("protocol error: {p}").into(),
        }),
        _ => None,
    }
}

impl<S> WsTransport<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// The frames read so far, if the stream is watched.
    #[inline]
    fn frames(&self) -> Option<&FrameWatch> {
        let watch = self.watch.as_ref()?;
        Some((watch.frames)(self.ws.get_ref()))
    }

    /// Whether a large frame was read or a large message sent since the
    /// buffers were rebuilt, or a keepalive ping asked a connection reading
    /// large whether it still should (a watched stream only): then the
    /// WebSocket is to be rebuilt once idle, and a frame's share of the
    /// budget taken.
    #[inline]
    fn large_seen(&self) -> bool {
        self.frames()
            .is_some_and(|frames| self.sent_large || self.large_reads_check || frames.largest > SHRINK_ABOVE as u64)
    }

    /// Takes the share of the server-wide budget that the largest frame so
    /// far needs (nothing for small frames: one comparison); fails with 1013
    /// if there is no room.
    fn take_large_share(&mut self) -> Result<(), TransportError> {
        let Some(watch) = &mut self.watch else { return Ok(()) };
        let largest = (watch.frames)(self.ws.get_ref()).largest;
        if watch.large.take(largest) {
            return Ok(());
        }
        tracing::debug!(largest, "large message over the server-wide budget");
        Err(TransportError::Protocol(LARGE_BUDGET))
    }

    /// Fails once a data message has been incomplete for longer than
    /// [`WsConfig::message_timeout`].
    fn poll_assembly_deadline(&mut self, cx: &mut Context<'_>) -> Result<(), TransportError> {
        let Some(watch) = &mut self.watch else { return Ok(()) };
        let frames = (watch.frames)(self.ws.get_ref());
        let Some(limit) = watch.message_timeout.filter(|_| frames.in_message()) else {
            return Ok(());
        };
        let message = frames.messages_started;
        // The clock is read once per message, when its deadline is set.
        let timer = match &mut watch.assembly {
            Some((current, timer)) => {
                if *current != message {
                    *current = message;
                    timer.as_mut().reset(Instant::now() + limit);
                }
                timer
            }
            none => &mut none.insert((message, Box::pin(tokio::time::sleep(limit)))).1,
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Err(TransportError::Protocol(CloseReason {
                code: 1008,
                reason: format!("message not completed within {limit:?}").into(),
            })),
            Poll::Pending => Ok(()),
        }
    }

    /// Once the connection is idle after a large frame or message (nothing
    /// half read, everything read delivered, everything queued written),
    /// replaces tungstenite's WebSocket, whose buffers stay at their largest
    /// size for as long as it lives, with a fresh one over the same socket:
    /// reading [`LARGE_READ`] at a time if a large frame arrived (the peer
    /// sends large messages), or the configured read size otherwise (after a
    /// large message was sent, or when a keepalive ping found no large frame
    /// since the last one).
    fn rebuild_if_idle(&mut self, cx: &mut Context<'_>) {
        let Some(watch) = &self.watch else { return };
        let frames = (watch.frames)(self.ws.get_ref());
        let read_large = frames.largest > SHRINK_ABOVE as u64;
        if self.closing || !frames.at_rest() || frames.completed != self.delivered {
            return;
        }
        if !matches!(Pin::new(&mut self.ws).poll_flush(cx), Poll::Ready(Ok(()))) {
            return;
        }
        let Some(watch) = &mut self.watch else { return };
        let stream = (watch.detach)(self.ws.get_mut());
        watch.large.give_back();
        let large_reads = read_large && watch.large.reserve(LARGE_READ);
        let mut config = *self.ws.get_config();
        config.read_buffer_size = if large_reads { LARGE_READ } else { watch.small_read };
        // Completes at its first poll: there is no handshake to make.
        let fresh = WebSocketStream::from_raw_socket(stream, watch.role, Some(config));
        self.ws = futures::executor::block_on(fresh);
        self.sent_large = false;
        self.large_reads = large_reads;
        self.large_reads_check = false;
    }
}

fn io_error(e: WsError) -> TransportError {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => TransportError::Closed(None),
        other => TransportError::Io(other.to_string()),
    }
}
