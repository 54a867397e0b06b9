//! What the peer needs from a connection: send text, receive text, close.
//!
//! The peer never names a socket library; `duplexrpc-ws` adapts tokio-tungstenite to
//! these two traits, and [`memory::pair`] gives an in-process pair for tests.

use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::task::{Context, Poll};
use std::time::Duration;

/// Why a connection ended, as a WebSocket-style close code and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseReason {
    /// Close code (1000 = normal, 1001 = going away, 1003 = unsupported data,
    /// 1008 = policy violation, 1009 = too big, 1011 = internal error).
    pub code: u16,
    /// Human-readable reason (at most 123 bytes on a WebSocket).
    pub reason: Cow<'static, str>,
}

impl CloseReason {
    /// A normal close (1000).
    pub const NORMAL: CloseReason = CloseReason::new(1000, "closed");
    /// The endpoint is going away, e.g. server shutdown (1001).
    pub const GOING_AWAY: CloseReason = CloseReason::new(1001, "going away");

    /// A close reason from a code and a static text.
    pub const fn new(code: u16, reason: &'static str) -> Self {
        CloseReason {
            code,
            reason: Cow::Borrowed(reason),
        }
    }
}

/// Why a transport stopped delivering messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The remote end closed the connection, with its close reason if it gave one.
    #[error("connection closed by the remote peer{}", .0.as_ref().map(|r| format!(" ({} {})", r.code, r.reason)).unwrap_or_default())]
    Closed(Option<CloseReason>),
    /// The remote end broke the protocol; the connection is closed with this reason.
    #[error("protocol violation: {} ({})", .0.reason, .0.code)]
    Protocol(CloseReason),
    /// An I/O or framing error.
    #[error("transport error: {0}")]
    Io(String),
    /// A resumable session ended for good (see [`crate::session`]):
    /// everything pending fails with [`crate::RpcError::SessionLost`].
    #[error("session lost: {0}")]
    SessionLost(Cow<'static, str>),
}

/// The sending half of a connection, in the shape of a `futures` `Sink`: the
/// peer's connection task owns it and drives it by polling, alongside the
/// receiving half, so one task reads, answers and writes.
///
/// `start_send` may buffer; the task calls `poll_flush` once nothing more is
/// ready to go, so that a burst of replies leaves in one write. The provided
/// async methods (`feed`, `flush`, `close`) are conveniences on top.
pub trait Sender: Send + Unpin + 'static {
    /// Ready when [`Sender::start_send`] may be called.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>>;
    /// Queues one text message (after `poll_ready` returned `Ready(Ok)`).
    fn start_send(&mut self, text: String) -> Result<(), TransportError>;
    /// Writes out everything queued.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>>;
    /// Queues a close message with `reason` (after `poll_ready`).
    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError>;
    /// Flushes and closes the sending direction.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>>;
    /// How often the connection task calls [`Sender::start_ping`] (keepalive);
    /// `None` (the default) never.
    fn ping_interval(&self) -> Option<Duration> {
        None
    }
    /// Queues a keepalive probe the other end answers (a WebSocket ping),
    /// after `poll_ready`. The default sends nothing.
    fn start_ping(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    /// Waits until ready, then queues one text message.
    fn feed(&mut self, text: String) -> impl Future<Output = Result<(), TransportError>> + Send
    where
        Self: Sized,
    {
        async move {
            poll_fn(|cx| self.poll_ready(cx)).await?;
            self.start_send(text)
        }
    }

    /// Writes out everything queued.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send
    where
        Self: Sized,
    {
        poll_fn(|cx| self.poll_flush(cx))
    }

    /// Sends a close message with `reason`, flushes and closes.
    fn close(&mut self, reason: CloseReason) -> impl Future<Output = Result<(), TransportError>> + Send
    where
        Self: Sized,
    {
        async move {
            poll_fn(|cx| self.poll_ready(cx)).await?;
            self.start_close(reason)?;
            poll_fn(|cx| self.poll_close(cx)).await
        }
    }
}

/// The receiving half of a connection, polled by the peer's connection task.
pub trait Receiver: Send + Unpin + 'static {
    /// A received text message.
    type Text: AsRef<str> + Send + 'static;
    /// The next text message; an `Err` ends the connection.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::Text, TransportError>>;

    /// The next text message.
    fn receive(&mut self) -> impl Future<Output = Result<Self::Text, TransportError>> + Send
    where
        Self: Sized,
    {
        poll_fn(|cx| self.poll_receive(cx))
    }
}

/// Both directions of a connection in one value: what the peer's connection
/// task drives. Any `(Sender, Receiver)` pair is one; a transport whose two
/// directions share state (a WebSocket stream) implements it directly and
/// saves the lock that splitting it into halves would take on every message.
///
/// ```
/// use duplexrpc_core::PeerBuilder;
/// use duplexrpc_core::transport::{memory, Transport};
///
/// fn assert_transport<T: Transport>(t: T) -> T {
///     t
/// }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
/// // A (sender, receiver) pair is a transport.
/// let a = PeerBuilder::new().start_transport(assert_transport((a_tx, a_rx)));
/// let b = PeerBuilder::new().start(b_tx, b_rx);
/// b.notify("hello", ()).await.unwrap();
/// # drop(a);
/// # });
/// ```
pub trait Transport: Send + Unpin + 'static {
    /// A received text message.
    type Text: AsRef<str> + Send + 'static;
    /// See [`Receiver::poll_receive`].
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<Self::Text, TransportError>>;
    /// See [`Sender::poll_ready`].
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>>;
    /// See [`Sender::start_send`].
    fn start_send(&mut self, text: String) -> Result<(), TransportError>;
    /// See [`Sender::poll_flush`].
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>>;
    /// See [`Sender::start_close`].
    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError>;
    /// See [`Sender::poll_close`].
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>>;
    /// See [`Sender::ping_interval`].
    fn ping_interval(&self) -> Option<Duration> {
        None
    }
    /// See [`Sender::start_ping`].
    fn start_ping(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    /// Like [`Transport::start_send`], for a text that may also be kept
    /// elsewhere (a session keeps it for replay). The default copies it; a
    /// transport whose frames can share bytes overrides it.
    fn start_send_shared(&mut self, text: SharedText) -> Result<(), TransportError> {
        self.start_send(text.as_str().to_owned())
    }

    /// Like [`Transport::start_send`], and gives back the same text as a
    /// [`SharedText`] to keep (a session keeps what it sends for replay).
    /// The default makes the shared text first; a transport whose frames
    /// are made of the `String` itself overrides it (no UTF-8 check then:
    /// the text is a `String`).
    /// The text comes back even when the send fails (to be sent again).
    fn start_send_kept(&mut self, text: String) -> (SharedText, Result<(), TransportError>) {
        let text = SharedText::from(text);
        let sent = self.start_send_shared(text.clone());
        (text, sent)
    }

    /// A write has stayed pending for the write timeout. Returns true if
    /// the transport got over it on its own (a session transport drops the
    /// stalled connection and waits for a new one), so the connection goes
    /// on; false (the default) ends the connection.
    fn write_timed_out(&mut self) -> bool {
        false
    }
}

impl<S: Sender, R: Receiver> Transport for (S, R) {
    type Text = R::Text;

    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<R::Text, TransportError>> {
        self.1.poll_receive(cx)
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.0.poll_ready(cx)
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        self.0.start_send(text)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.0.poll_flush(cx)
    }

    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        self.0.start_close(reason)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.0.poll_close(cx)
    }

    fn ping_interval(&self) -> Option<Duration> {
        self.0.ping_interval()
    }

    fn start_ping(&mut self) -> Result<(), TransportError> {
        self.0.start_ping()
    }
}

/// A message's text in shared bytes: cloning it copies nothing.
///
/// ```
/// use duplexrpc_core::transport::SharedText;
/// let text = SharedText::from(String::from("{}"));
/// assert_eq!(text.clone().as_str(), "{}");
/// assert_eq!(text.len(), 2);
/// assert!(text.is_surely_utf8());
/// ```
#[derive(Clone, Debug)]
pub struct SharedText {
    bytes: bytes::Bytes,
    /// Made of a `String`: UTF-8 for sure, so a transport need not check it
    /// again for each connection a broadcast goes to.
    from_string: bool,
}

impl PartialEq for SharedText {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for SharedText {}

impl SharedText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // UTF-8 unless made by `from_utf8_bytes` of bytes that are not.
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True if it is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// True if it was made of a `String`, so UTF-8 for sure; false if made
    /// by [`SharedText::from_utf8_bytes`] (a transport checks it then).
    pub fn is_surely_utf8(&self) -> bool {
        self.from_string
    }

    /// The bytes (UTF-8: see [`SharedText::is_surely_utf8`]).
    pub fn into_bytes(self) -> bytes::Bytes {
        self.bytes
    }
}

impl SharedText {
    /// Shared text from bytes that hold UTF-8 (what a transport's frame
    /// made of a `String` gives back). Not checked here: text that is not
    /// UTF-8 reads as empty ([`SharedText::as_str`]) and is refused by a
    /// transport that checks (the WebSocket one).
    pub fn from_utf8_bytes(bytes: bytes::Bytes) -> Self {
        SharedText {
            bytes,
            from_string: false,
        }
    }
}

impl From<String> for SharedText {
    fn from(text: String) -> Self {
        SharedText {
            bytes: bytes::Bytes::from(text),
            from_string: true,
        }
    }
}

pub mod memory;
