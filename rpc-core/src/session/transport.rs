//! [`SessionTransport`]: a [`Transport`] that outlives its connections.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::SessionConfig;
use super::frame::Frame;
use super::link::{Attach, Link, Requests, SessionHandle, SessionStatus};
use super::replay::{COPY_UP_TO, Replay};
use crate::transport::{CloseReason, SharedText, Transport, TransportError};

/// A received message's bytes past which an ack is due at once, not only with
/// the next write (a peer that only receives still acknowledges).
const ACK_BYTES: usize = 64 << 10;

/// A transport that numbers what it sends, keeps it until acknowledged, and
/// goes on over a new connection after the one it had drops: the peer above
/// it never sees the gap. See the module docs.
pub struct SessionTransport<T: Transport> {
    inner: Option<T>,
    link: Arc<Link<T>>,
    config: SessionConfig,
    ping_interval: Option<Duration>,
    replay: Replay,
    /// Index (into `replay`) of the next held message to write on `inner`:
    /// `replay.len()` once every held message went out on it.
    resend: usize,
    /// Messages received in this session.
    received: u64,
    /// What we last acknowledged, and bytes received since.
    acked: u64,
    unacked_bytes: usize,
    /// Frames owed to the other end on `inner`.
    owe_resumed: bool,
    owe_ack: bool,
    unflushed: bool,
    /// A message read while waiting for acks, handed out next (boxed: the
    /// text type need not be `Unpin`; this is rare).
    peeked: Option<Box<T::Text>>,
    /// Set while detached: when the session is lost.
    window: Option<Pin<Box<Sleep>>>,
    /// Closed on this side: the session ends with the connection.
    closing: bool,
    /// Once lost: what every poll returns.
    over: Option<TransportError>,
}

impl<T: Transport> std::fmt::Debug for SessionTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTransport")
            .field("connected", &self.inner.is_some())
            .field("sent", &self.replay.next_seq())
            .field("held", &self.replay.len())
            .field("received", &self.received)
            .finish()
    }
}

impl<T: Transport> SessionTransport<T> {
    /// A session whose first connection is `first` (its `#new` / `#session`
    /// exchange already done), and the handle to give it later connections.
    pub fn new(first: T, config: SessionConfig) -> (Self, SessionHandle<T>) {
        let link = Link::new();
        let ping_interval = first.ping_interval();
        let transport = SessionTransport {
            inner: Some(first),
            link: link.clone(),
            config,
            ping_interval,
            replay: Replay::default(),
            resend: 0,
            received: 0,
            acked: 0,
            unacked_bytes: 0,
            owe_resumed: false,
            owe_ack: false,
            unflushed: false,
            peeked: None,
            window: None,
            closing: false,
            over: None,
        };
        (transport, SessionHandle { link })
    }

    /// Takes requests made through a handle: a new connection, a loss.
    /// Fails once the session is lost.
    #[inline]
    fn take_requests(&mut self) -> Result<(), TransportError> {
        if let Some(e) = &self.over {
            return Err(e.clone());
        }
        let Some(Requests { attach, lose }) = self.link.take() else {
            return Ok(());
        };
        if let Some(reason) = lose {
            return Err(self.lost(reason));
        }
        match attach {
            Some(attach) => self.attach(*attach),
            None => Ok(()),
        }
    }

    fn attach(&mut self, attach: Attach<T>) -> Result<(), TransportError> {
        let Attach {
            inner,
            peer_received,
            answer,
        } = attach;
        if self.replay.resume_from(peer_received).is_err() {
            return Err(self.lost("resume point out of range".into()));
        }
        self.inner = Some(inner);
        self.resend = 0;
        self.owe_resumed = answer;
        self.owe_ack = false;
        self.unflushed = false;
        self.peeked = None;
        self.window = None;
        self.link.set_status(SessionStatus::Connected);
        Ok(())
    }

    /// The connection dropped: goes on without one, for the resume window.
    fn detach(&mut self, why: &TransportError) {
        tracing::debug!(error = %why, "session detached");
        self.inner = None;
        self.peeked = None;
        self.window = Some(Box::pin(tokio::time::sleep_until(Instant::now() + self.config.window)));
        self.link.set_status(SessionStatus::Detached);
    }

    fn lost(&mut self, reason: Cow<'static, str>) -> TransportError {
        self.inner = None;
        self.window = None;
        self.link.set_status(SessionStatus::Over(Some(reason.as_ref().into())));
        let e = TransportError::SessionLost(reason);
        self.over = Some(e.clone());
        e
    }

    /// Detached: pending until a connection is handed over; fails once the
    /// window passes.
    fn poll_detached(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.link.register(cx.waker());
        self.take_requests()?;
        if self.inner.is_some() {
            return Poll::Ready(Ok(()));
        }
        let expired = self.window.as_mut().is_some_and(|w| w.as_mut().poll(cx).is_ready());
        if expired {
            return Poll::Ready(Err(self.lost("resume window expired".into())));
        }
        Poll::Pending
    }

    fn replay_full(&self) -> bool {
        self.replay.len() >= self.config.replay_messages || self.replay.bytes() >= self.config.replay_bytes
    }

    /// Handles a session frame from the other end: only acks come after
    /// the first exchange.
    fn on_frame(&mut self, text: &str) -> Result<(), TransportError> {
        match Frame::parse_ack(text) {
            Some(received) => match self.replay.ack(received) {
                Ok(dropped) => {
                    // Indexes into the buffer move with its start.
                    self.resend = self.resend.saturating_sub(dropped);
                    Ok(())
                }
                Err(_) => Err(self.lost("the other end acknowledged messages never sent".into())),
            },
            _ => Err(self.lost(format!("unexpected session frame {text:?}").into())),
        }
    }

    /// Counts a received message; an ack becomes due every
    /// `ack_every` messages or [`ACK_BYTES`].
    #[inline]
    fn count(&mut self, len: usize) {
        self.received += 1;
        self.unacked_bytes += len;
        self.link.set_received(self.received);
        if self.received - self.acked >= self.config.ack_every as u64 || self.unacked_bytes >= ACK_BYTES {
            self.owe_ack = true;
        }
    }

    /// An ack is overdue when twice its threshold went unacknowledged (this
    /// end only receives, so no write carries it): it goes out on its own.
    fn ack_overdue(&self) -> bool {
        self.owe_ack
            && (self.received - self.acked >= 2 * self.config.ack_every as u64 || self.unacked_bytes >= 2 * ACK_BYTES)
    }

    /// Connected, with nothing to take from a handle and nothing of its own
    /// to write: the peer's reads and writes go straight through.
    #[inline]
    fn steady(&self) -> bool {
        self.inner.is_some()
            && !self.link.is_signalled()
            && !self.owe_resumed
            && !self.unflushed
            && self.resend == self.replay.len()
    }

    /// True when a new message may be written at once: nothing owed or held
    /// must go before it.
    #[inline]
    fn caught_up(&self) -> bool {
        !self.owe_resumed && self.resend == self.replay.len()
    }

    /// The message last held for replay was just written on the
    /// connection: it counts as written there; a failed write detaches the
    /// session.
    #[inline]
    fn written_held(&mut self, sent: Result<(), TransportError>) {
        self.resend += 1;
        if let Err(e) = sent {
            self.detach(&e);
        }
    }

    /// True when this transport has writes of its own to make that no write
    /// of the peer above may come to carry: a `#resumed`, re-sends, an
    /// overdue ack, an unflushed write.
    #[inline]
    fn owes_writes(&self) -> bool {
        self.owe_resumed || self.unflushed || self.resend < self.replay.len() || self.ack_overdue()
    }

    /// Writes the frames owed and the held messages not yet written on this
    /// connection, as far as it takes them. Ready once all went out.
    fn poll_catch_up(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        while self.owe_resumed || self.owe_ack || self.resend < self.replay.len() {
            let inner = self.inner.as_mut().expect("connected");
            ready!(inner.poll_ready(cx))?;
            if self.owe_resumed {
                self.owe_resumed = false;
                inner.start_send(
                    Frame::Resumed {
                        received: self.received,
                    }
                    .to_string(),
                )?;
            } else if self.owe_ack {
                self.owe_ack = false;
                self.acked = self.received;
                self.unacked_bytes = 0;
                inner.start_send(Frame::ack_text(self.received))?;
            } else if let Some(text) = self.replay.get(self.resend) {
                inner.start_send_shared(text)?;
                self.resend += 1;
            }
            self.unflushed = true;
        }
        Poll::Ready(Ok(()))
    }

    /// Flushes what this transport wrote on its own (acks, re-sends).
    fn poll_own_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if self.unflushed {
            let inner = self.inner.as_mut().expect("connected");
            ready!(inner.poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Runs `op` on the connection; its failure detaches the session (the
    /// peer above sees `Pending`, or `Ready` for writes, which are held).
    fn on_inner<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut Self, &mut Context<'_>) -> Poll<Result<R, TransportError>>,
    ) -> Poll<Option<R>> {
        match op(self, cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(Some(r)),
            Poll::Ready(Err(TransportError::SessionLost(_))) => {
                // Already marked lost: the next poll reports it.
                cx.waker().wake_by_ref();
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => {
                self.detach(&e);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Whether a close from the other end ends the session for good: a
    /// normal close (1000) does; a drop, a going-away or a failure does not.
    fn is_final(&self, e: &TransportError) -> bool {
        self.closing || matches!(e, TransportError::Closed(Some(reason)) if reason.code == 1000)
    }

    /// The next thing from the connection: a message, a session frame
    /// (handled here), or `Detached` when the connection dropped.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Next<T::Text>, TransportError>> {
        if let Some(text) = self.peeked.take() {
            return Poll::Ready(Ok(Next::Message(*text)));
        }
        let inner = self.inner.as_mut().expect("connected");
        let received = ready!(inner.poll_receive(cx));
        Poll::Ready(self.on_received(received))
    }

    /// What the connection gave: a message (counted), a session frame
    /// (handled here), or its end.
    fn on_received(&mut self, received: Result<T::Text, TransportError>) -> Result<Next<T::Text>, TransportError> {
        match received {
            Ok(text) if Frame::is_frame(text.as_ref()) => {
                self.on_frame(text.as_ref())?;
                Ok(Next::Frame)
            }
            Ok(text) => {
                self.count(text.as_ref().len());
                Ok(Next::Message(text))
            }
            Err(e) if self.is_final(&e) => {
                self.inner = None;
                self.link.set_status(SessionStatus::Over(None));
                Err(e)
            }
            Err(e) => {
                self.detach(&e);
                Ok(Next::Detached)
            }
        }
    }

    /// While the replay buffer is full: reads what the other end sent (its
    /// acks make room), holding back one message for `poll_receive`.
    fn poll_acks(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        while self.replay_full() && self.peeked.is_none() {
            match ready!(self.poll_next(cx))? {
                Next::Message(text) => self.peeked = Some(Box::new(text)),
                Next::Frame => {}
                Next::Detached => return Poll::Ready(Ok(())),
            }
        }
        if self.replay_full() && self.inner.is_some() {
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    /// [`Transport::poll_receive`] past the steady case: requests from the
    /// handle, a detached wait, writes owed, session frames. Kept out of
    /// line so the steady path stays small.
    #[inline(never)]
    fn poll_receive_slow(&mut self, cx: &mut Context<'_>) -> Poll<Result<T::Text, TransportError>> {
        loop {
            self.take_requests()?;
            if self.inner.is_none() {
                ready!(self.poll_detached(cx))?;
                continue;
            }
            if self.owes_writes() {
                let _ = self.on_inner(cx, |s, cx| {
                    ready!(s.poll_catch_up(cx))?;
                    s.poll_own_flush(cx)
                });
                if self.inner.is_none() {
                    continue;
                }
            }
            if let Next::Message(text) = ready!(self.poll_next(cx))? {
                return Poll::Ready(Ok(text));
            }
        }
    }

    /// [`Transport::poll_ready`] past the steady case: catching up, waiting
    /// for acks, or holding writes while detached.
    #[inline(never)]
    fn poll_ready_slow(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.take_requests()?;
        if self.inner.is_some() {
            let caught_up = self.on_inner(cx, |s, cx| {
                ready!(s.poll_catch_up(cx))?;
                ready!(s.poll_acks(cx))?;
                match s.inner.as_mut() {
                    Some(inner) => inner.poll_ready(cx),
                    None => Poll::Ready(Ok(())),
                }
            });
            if ready!(caught_up).is_some() && self.inner.is_some() {
                return Poll::Ready(Ok(()));
            }
        }
        // Detached: writes are held, up to the replay buffer's limits.
        self.take_requests()?;
        self.link.register(cx.waker());
        if self.replay_full() {
            return Poll::Ready(Err(self.lost("replay buffer overflow".into())));
        }
        Poll::Ready(Ok(()))
    }

    /// [`Transport::start_send`] of a large message, or while behind
    /// (detached, or held messages still to write first): held, and
    /// written when caught up.
    #[inline(never)]
    fn start_send_slow(&mut self, text: String) {
        let caught_up = self.caught_up();
        match &mut self.inner {
            Some(inner) if caught_up => {
                // The connection makes its frame of the String and gives the
                // same bytes back to keep: no copy, no UTF-8 check.
                let (kept, sent) = inner.start_send_kept(text);
                self.replay.push(kept);
                self.written_held(sent);
            }
            _ if text.len() <= COPY_UP_TO => self.replay.copy(&text),
            _ => self.replay.push(text.into()),
        }
    }
}

/// What [`SessionTransport::poll_next`] found.
enum Next<M> {
    Message(M),
    Frame,
    Detached,
}

impl<T: Transport> Transport for SessionTransport<T> {
    type Text = T::Text;

    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<T::Text, TransportError>> {
        if self.steady() && !self.ack_overdue() && self.peeked.is_none() {
            // The common case in one piece: a message straight from the
            // connection, counted.
            let inner = self.inner.as_mut().expect("steady");
            match ready!(inner.poll_receive(cx)) {
                Ok(text) if !Frame::is_frame(text.as_ref()) => {
                    self.count(text.as_ref().len());
                    return Poll::Ready(Ok(text));
                }
                other => {
                    if let Next::Message(text) = self.on_received(other)? {
                        return Poll::Ready(Ok(text));
                    }
                }
            }
        }
        self.poll_receive_slow(cx)
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if self.steady() && !self.replay_full() {
            let inner = self.inner.as_mut().expect("steady");
            match ready!(inner.poll_ready(cx)) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(e) => self.detach(&e),
            }
        }
        self.poll_ready_slow(cx)
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        let caught_up = self.caught_up();
        if caught_up
            && text.len() <= COPY_UP_TO
            && let Some(inner) = &mut self.inner
        {
            // A small message is copied for replay: its own buffer goes
            // back to the allocator once the frame is written.
            self.replay.copy(&text);
            let sent = inner.start_send(text);
            self.written_held(sent);
            return Ok(());
        }
        self.start_send_slow(text);
        Ok(())
    }

    fn start_send_shared(&mut self, text: SharedText) -> Result<(), TransportError> {
        let caught_up = self.caught_up();
        self.replay.push(text.clone());
        if let Some(inner) = &mut self.inner
            && caught_up
        {
            let sent = inner.start_send_shared(text);
            self.written_held(sent);
        }
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if self.steady() && !self.owe_ack {
            let inner = self.inner.as_mut().expect("steady");
            if let Err(e) = ready!(inner.poll_flush(cx)) {
                self.detach(&e);
            }
            return Poll::Ready(Ok(()));
        }
        if self.inner.is_none() {
            return Poll::Ready(Ok(()));
        }
        let flushed = self.on_inner(cx, |s, cx| {
            ready!(s.poll_catch_up(cx))?;
            let inner = s.inner.as_mut().expect("connected");
            ready!(inner.poll_flush(cx))?;
            s.unflushed = false;
            Poll::Ready(Ok(()))
        });
        ready!(flushed);
        Poll::Ready(Ok(()))
    }

    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        self.closing = true;
        self.link.set_status(SessionStatus::Over(None));
        match &mut self.inner {
            Some(inner) => inner.start_close(reason),
            None => Ok(()),
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        match &mut self.inner {
            Some(inner) => inner.poll_close(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn ping_interval(&self) -> Option<Duration> {
        self.ping_interval
    }

    fn start_ping(&mut self) -> Result<(), TransportError> {
        let Some(inner) = &mut self.inner else { return Ok(()) };
        if let Err(e) = inner.start_ping() {
            self.detach(&e);
            return Ok(());
        }
        // Every keepalive tick also acknowledges (sent with the flush that
        // follows): a browser, which cannot see pings, sees a frame at least
        // once per interval, and an idle receiver's count reaches the sender.
        self.owe_ack = true;
        self.replay.release_if_empty();
        Ok(())
    }

    fn write_timed_out(&mut self) -> bool {
        if self.inner.is_none() {
            return false;
        }
        // The other end reads nothing: drop this connection, as if it had
        // failed, and wait for the other end to come back.
        self.detach(&TransportError::Io("write timeout: the peer is not reading".into()));
        true
    }
}

impl<T: Transport> Drop for SessionTransport<T> {
    fn drop(&mut self) {
        self.link.set_status(SessionStatus::Over(None));
    }
}
