//! The connection task: the one task that owns both halves of a connection.
//!
//! It reads every frame that is ready, answers what it can on the spot
//! (replies go to a local outbox, not through a channel), takes what other
//! tasks queued (calls, notifications, replies of handlers that had to wait),
//! writes it all and flushes once. Reading and writing are polled side by
//! side, so a peer whose socket is full still reads its own replies, up to the
//! outbox limits ([`crate::PeerConfig::send_queue`] messages,
//! [`crate::PeerConfig::send_buffer`] bytes); past either, reading pauses
//! until the other end reads (back-pressure). A write that stays pending for
//! [`crate::PeerConfig::write_timeout`] (the other end reads nothing) ends
//! the connection, in every state: the timer runs whether or not it reads.
//!
//! * this file: the run loop, and [`FrameHandler`], what it hands frames to;
//! * `shared`: the state every handle and task of the connection shares;
//! * `outgoing`: the queue other tasks hand messages to the loop through;
//! * `pending`: the outgoing calls awaiting a reply.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

use tokio::task::JoinSet;

use crate::transport::{CloseReason, SharedText, Transport, TransportError};
use crate::wire::error::RpcError;
use crate::wire::id::Id;

pub(crate) mod outgoing;
pub(crate) mod pending;
mod shared;

pub(crate) use shared::{Settings, Shared};

/// Messages handled in one turn: then the task writes what it has and lets
/// other tasks run before it reads on. Short turns keep both ends busy at
/// once: the other end starts on the first replies while this end still
/// reads, and callers woken by replies queue their next calls in between.
/// With 64 calls in flight on one connection, reading all of a burst before
/// writing made the two ends take turns (256: 0.7x the throughput of the
/// hand-rolled loop; 32: 1.1x; 48 and up took turns again; README,
/// "Performance").
const READ_BUDGET: usize = 32;
/// Bytes of messages handled in one turn, at most (after the message that
/// crosses it, the turn ends): a peer sending large messages gets one or a
/// few handled per turn, then the worker runs other connections, so one
/// client's big messages cost the others at most about one message's work
/// of waiting.
const READ_BYTES: usize = 64 << 10;
/// A message at least this large is handled (parsed, answered when its
/// handler completes at once, its reply encoded) with the worker thread
/// handed off (`block_in_place`, multi-thread runtime only): the other
/// connections of this worker move to another thread meanwhile, so one
/// client's 16 MiB messages do not hold up every other client's calls for
/// the time they take.
const HAND_OFF_ABOVE: usize = 256 << 10;
/// How long the final close (and the messages queued before it) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Replies and messages waiting for the sending half, and their bytes
/// (one add per message: the byte limit costs nothing more). The methods
/// are `#[inline]`: the run loop is instantiated in the crate of the
/// transport, where a plain call could not be inlined.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    items: VecDeque<OutText>,
    bytes: usize,
}

/// A text waiting in the outbox: this connection's own, or shared with
/// others (a broadcast serialized once: no copy per connection).
#[derive(Debug)]
pub(crate) enum OutText {
    Owned(String),
    Shared(SharedText),
}

impl OutText {
    #[inline]
    fn len(&self) -> usize {
        match self {
            OutText::Owned(text) => text.len(),
            OutText::Shared(text) => text.len(),
        }
    }

    /// Hands the text to `transport`'s sending half.
    #[inline]
    fn send<T: Transport>(self, transport: &mut T) -> Result<(), TransportError> {
        match self {
            OutText::Owned(text) => transport.start_send(text),
            OutText::Shared(text) => transport.start_send_shared(text),
        }
    }
}

impl Outbox {
    #[inline]
    pub(crate) fn push_back(&mut self, text: String) {
        self.bytes += text.len();
        self.items.push_back(OutText::Owned(text));
    }

    #[inline]
    pub(crate) fn push_shared(&mut self, text: SharedText) {
        self.bytes += text.len();
        self.items.push_back(OutText::Shared(text));
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<OutText> {
        let text = self.items.pop_front()?;
        self.bytes -= text.len();
        Some(text)
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes of the texts held.
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The texts held, for tests.
    #[cfg(test)]
    pub(crate) fn texts(&self) -> Vec<&str> {
        self.items
            .iter()
            .map(|t| match t {
                OutText::Owned(text) => text.as_str(),
                OutText::Shared(text) => text.as_str(),
            })
            .collect()
    }

    /// Drops everything held (the peer will never read it).
    fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }
}

/// The outbox's limits: past either, the connection stops reading.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limit {
    /// Messages (`PeerConfig::send_queue`).
    pub(crate) messages: usize,
    /// Bytes (`PeerConfig::send_buffer`).
    pub(crate) bytes: usize,
}

impl Limit {
    /// True while `out` may take more.
    #[inline]
    pub(crate) fn has_room(&self, out: &Outbox) -> bool {
        out.len() < self.messages && out.bytes() < self.bytes
    }
}

/// The connection's handler tasks. A task that answers one request returns
/// that request's id, so the frame handler can forget it when it is reaped.
pub(crate) type Tasks = JoinSet<Option<Id>>;

/// What the connection task hands every received frame to: the dispatcher.
/// The seam that keeps the run loop from depending on dispatch.
pub(crate) trait FrameHandler: Send + 'static {
    /// Handles one frame: replies that are ready go to `out`, handlers that
    /// must wait run in `tasks`.
    fn handle_frame(&mut self, text: &str, tasks: &mut Tasks, out: &mut Outbox);
    /// A handler task that answered request `id` was reaped.
    fn finished(&mut self, id: &Id);
}

/// What a connection's task needs.
pub(crate) struct Parts<T, H> {
    pub(crate) transport: T,
    pub(crate) frames: H,
    /// `PeerConfig::send_queue` and `PeerConfig::send_buffer`: the outbox limits.
    pub(crate) limit: Limit,
    /// `PeerConfig::handler_grace`.
    pub(crate) handler_grace: Duration,
    /// `PeerConfig::write_timeout`.
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) shared: Arc<Shared>,
}

/// Why the main loop ended.
enum End {
    /// Receiving failed or the other end closed.
    Received(TransportError),
    /// Writing failed.
    Write(TransportError),
    /// Closed on this side: a queued close, or the connection was shut down.
    Local(Option<CloseReason>),
    /// A write stayed pending for the write timeout.
    WriteTimeout,
}

struct Io<T> {
    transport: T,
    outbox: Outbox,
    limit: Limit,
    /// Fails the connection once a write has been pending this long.
    stall: Stall,
    /// On a multi-thread runtime: large messages are handled in `block_in_place`.
    hand_off: bool,
    keepalive: Option<Interval>,
    ping_due: bool,
    unflushed: bool,
    /// The last write left bytes the sending half would not take yet.
    blocked: bool,
    /// Whether to put a write off to let other tasks queue more.
    deferral: Deferral,
    /// Set to the earliest deadline of the calls awaiting a reply.
    timer: Timer,
}

/// Deferring a write after a lone fruitless deferral is tried again only
/// after this many writes.
const DEFER_PROBE: u8 = 8;

/// Putting a write off once, when woken only because a task queued a
/// message: other tasks that are ready to run (many tasks calling on one
/// connection, callers our last replies woke) likely queue theirs too, and
/// all go out in one write instead of one write each (without it tokio's
/// LIFO slot runs this task right after each caller). A lone caller gains
/// nothing from the wait and pays for it in latency (seq p50, ours / the
/// hand-rolled loop: 1.19-1.24 with, 0.95-1.00 without), so after a
/// deferral that gathered nothing, one is tried again only after
/// [`DEFER_PROBE`] writes without.
#[derive(Default)]
struct Deferral {
    /// The outbox length when the write was put off, while it is.
    since: Option<usize>,
    /// The last deferral gathered nothing.
    fruitless: bool,
    /// Writes not put off since then.
    skipped: u8,
}

impl Deferral {
    /// Woken only by queued messages (the outbox now holds `outbox`): true
    /// to put the write off until other tasks had their turn.
    fn start(&mut self, outbox: usize) -> bool {
        if self.since.is_some() {
            return false;
        }
        if self.fruitless && self.skipped < DEFER_PROBE {
            self.skipped += 1;
            return false;
        }
        self.skipped = 0;
        self.since = Some(outbox);
        true
    }

    /// About to write (the outbox holds `outbox`): learns whether a
    /// deferral, if one was on, gathered more.
    fn end(&mut self, outbox: usize) {
        if let Some(before) = self.since.take() {
            self.fruitless = outbox <= before;
        }
    }
}

/// One timer for every call deadline of the connection.
#[derive(Default)]
struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Timer {
    fn set(&mut self, at: Option<Instant>) {
        self.armed = at.is_some();
        let Some(at) = at else { return };
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.sleep {
            Some(sleep) if self.armed => sleep.as_mut().poll(cx).is_ready(),
            _ => false,
        }
    }
}

/// The write timeout: armed when the sending half stops taking bytes, off
/// again once it takes them. The clock is read only when a write stalls, not
/// per message.
struct Stall {
    timeout: Option<Duration>,
    since: Option<Pin<Box<Sleep>>>,
    stalled: bool,
}

impl Stall {
    fn new(timeout: Option<Duration>) -> Self {
        Stall {
            timeout,
            since: None,
            stalled: false,
        }
    }

    /// The write is pending: true once it has been for the whole timeout.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(timeout) = self.timeout else { return false };
        if !std::mem::replace(&mut self.stalled, true) {
            let at = Instant::now() + timeout;
            match &mut self.since {
                Some(sleep) => sleep.as_mut().reset(at),
                None => self.since = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        self.since
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready())
    }

    /// The sending half took what it was given.
    fn progressed(&mut self) {
        self.stalled = false;
    }
}

/// The close sent (if the socket ever drains) when the write timeout passes.
const WRITE_TIMEOUT: CloseReason = CloseReason::new(1008, "write timeout: the peer is not reading");

/// Runs one connection until it is over, then closes it and stops its handlers.
///
/// The connection's state is built here, outside the returned future: built
/// inside, the transport would be stored in it three times over (as part of
/// `parts`, on its own, and in `Io`), for the connection's whole life.
pub(crate) fn run<T: Transport, H: FrameHandler>(parts: Parts<T, H>) -> impl Future<Output = ()> + Send {
    let Parts {
        transport,
        mut frames,
        limit,
        handler_grace,
        write_timeout,
        shared,
    } = parts;
    let keepalive = transport.ping_interval().map(|every| {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticks
    });
    let mut io = Io {
        transport,
        outbox: Outbox::default(),
        limit,
        stall: Stall::new(write_timeout),
        hand_off: tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread),
        keepalive,
        ping_due: false,
        unflushed: false,
        blocked: false,
        deferral: Deferral::default(),
        timer: Timer::default(),
    };
    let mut handlers = Tasks::new();
    async move {
        let end = poll_fn(|cx| io.poll_run(cx, &shared, &mut frames, &mut handlers)).await;
        // Boxed: the close's state (its timers) would otherwise size this
        // task for the connection's whole life.
        Box::pin(finish(io, end, handlers, handler_grace, shared)).await;
    }
}

/// The connection is over: sends its close, stops its handlers.
async fn finish<T: Transport>(
    mut io: Io<T>,
    end: End,
    mut handlers: Tasks,
    handler_grace: Duration,
    shared: Arc<Shared>,
) {
    // Nothing more is taken from the queue after the close: senders fail.
    let unbounded = Limit {
        messages: usize::MAX,
        bytes: usize::MAX,
    };
    let leftover = shared.out.drain_into(&mut io.outbox, unbounded);
    shared.out.close();
    if matches!(end, End::WriteTimeout) {
        // The peer reads nothing: what is waiting would only delay the close.
        io.outbox.clear();
    }
    let close = close_to_send(end, leftover, &shared);
    let closing = async {
        if let Some(reason) = close {
            let reason = io.close(reason).await;
            shared.shut_down(&format!(
                "connection closed locally ({} {})",
                reason.code, reason.reason
            ));
        }
    };
    // Pending calls have failed; give handlers waiting on them a moment to
    // observe that and finish, then abort the rest so no task outlives the
    // connection.
    let draining = async {
        let drain = async { while handlers.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(handler_grace, drain).await;
        handlers.abort_all();
    };
    tokio::join!(closing, draining);
    if let Some(m) = &shared.metrics {
        m.connection_closed();
    }
}

/// Records why the connection ended and returns the close to send, if any
/// (`None` once the write side failed: nothing to send it with).
fn close_to_send(end: End, queued_close: Option<CloseReason>, shared: &Shared) -> Option<Option<CloseReason>> {
    match end {
        End::Received(TransportError::SessionLost(reason)) | End::Write(TransportError::SessionLost(reason)) => {
            tracing::debug!(%reason, "session lost");
            shared.end_with(RpcError::SessionLost(reason.as_ref().into()));
            None
        }
        End::Received(e) => {
            tracing::debug!(error = %e, "connection ended");
            shared.shut_down(&e.to_string());
            match e {
                TransportError::Protocol(reason) => Some(Some(reason)),
                _ => Some(None),
            }
        }
        End::Write(e) => {
            shared.shut_down(&format!("write failed: {e}"));
            None
        }
        End::Local(reason) => Some(reason.or(queued_close)),
        End::WriteTimeout => {
            tracing::debug!("write timeout: the peer is not reading");
            shared.shut_down(&WRITE_TIMEOUT.reason);
            Some(Some(WRITE_TIMEOUT))
        }
    }
}

impl<T: Transport> Io<T> {
    /// The main loop: read, answer, take queued messages, write, flush.
    fn poll_run(
        &mut self,
        cx: &mut Context<'_>,
        shared: &Shared,
        frames: &mut impl FrameHandler,
        handlers: &mut Tasks,
    ) -> Poll<End> {
        // Registered before anything is looked at, so nothing that happens
        // after a check is missed.
        shared.out.register(cx.waker());
        shared.out.quiet(false);
        if shared.is_ended() {
            return Poll::Ready(End::Local(None));
        }
        // Reap finished handler tasks so the set stays small.
        while let Poll::Ready(Some(done)) = handlers.poll_join_next(cx) {
            if let Ok(Some(id)) = done {
                frames.finished(&id);
            }
        }
        if let Some(at) = shared.rearm() {
            self.timer.set(at);
        }
        while self.timer.poll_fired(cx) {
            let next = shared.expire(Instant::now(), &mut self.outbox);
            self.timer.set(next);
        }
        let mut read = 0;
        let mut read_bytes = 0;
        // Reading stopped at the outbox limit, not because nothing was ready.
        let mut paused = false;
        loop {
            if !self.limit.has_room(&self.outbox) {
                paused = true;
                break;
            }
            if read >= READ_BUDGET {
                break;
            }
            match self.transport.poll_receive(cx) {
                Poll::Ready(Ok(text)) => {
                    let text = text.as_ref();
                    if self.hand_off && text.len() >= HAND_OFF_ABOVE {
                        tokio::task::block_in_place(|| frames.handle_frame(text, handlers, &mut self.outbox));
                    } else {
                        frames.handle_frame(text, handlers, &mut self.outbox);
                    }
                    read += 1;
                    read_bytes += text.len();
                    if read_bytes >= READ_BYTES {
                        read = READ_BUDGET;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(End::Received(e)),
                Poll::Pending => break,
            }
        }
        let before = self.outbox.len();
        if let Some(reason) = shared.out.drain_into(&mut self.outbox, self.limit) {
            return Poll::Ready(End::Local(Some(reason)));
        }
        if read == 0 && self.outbox.len() > before && self.deferral.start(self.outbox.len()) {
            shared.out.unregister();
            // A task that wakes itself while running goes to the back of the
            // run queue, behind the callers already woken.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.deferral.end(self.outbox.len());
        if let Some(ticks) = &mut self.keepalive
            && ticks.poll_tick(cx).is_ready()
        {
            self.ping_due = true;
        }
        match self.poll_write(cx) {
            Ok(false) => {}
            Ok(true) if self.transport.write_timed_out() => {
                self.stall.progressed();
                cx.waker().wake_by_ref();
            }
            Ok(true) => return Poll::Ready(End::WriteTimeout),
            Err(e) => return Poll::Ready(End::Write(e)),
        }
        // Blocked: the socket wakes this task when it takes bytes again.
        shared.out.quiet(self.blocked);
        let room = self.limit.has_room(&self.outbox);
        if read >= READ_BUDGET || (room && (paused || !shared.out.is_empty())) {
            // More may be ready: come back after other tasks had a turn.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Hands the outbox (and a due ping) to the sending half as far as it
    /// takes them, then flushes. True once the write timeout has passed.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<bool, TransportError> {
        let mut blocked = false;
        while self.ping_due || !self.outbox.is_empty() {
            match self.transport.poll_ready(cx) {
                Poll::Ready(Ok(())) => self.stall.progressed(),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {
                    blocked = true;
                    break;
                }
            }
            if self.ping_due {
                self.ping_due = false;
                self.transport.start_ping()?;
            } else if let Some(text) = self.outbox.pop_front() {
                text.send(&mut self.transport)?;
            }
            self.unflushed = true;
        }
        if self.unflushed {
            match self.transport.poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.unflushed = false;
                    self.stall.progressed();
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => blocked = true,
            }
        }
        self.blocked = blocked;
        Ok(blocked && self.stall.poll_expired(cx))
    }

    /// The connection is over: send what is still waiting (best effort,
    /// bounded in time), then the close. Returns the close reason sent.
    async fn close(&mut self, reason: Option<CloseReason>) -> CloseReason {
        let drain = async {
            while let Some(text) = self.outbox.pop_front() {
                poll_fn(|cx| self.transport.poll_ready(cx)).await.ok()?;
                text.send(&mut self.transport).ok()?;
            }
            Some(())
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
        let reason = reason.unwrap_or(CloseReason::NORMAL);
        let close = async {
            poll_fn(|cx| self.transport.poll_ready(cx)).await?;
            self.transport.start_close(reason.clone())?;
            poll_fn(|cx| self.transport.poll_close(cx)).await
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferral_that_gathers_more_is_kept_up() {
        let mut d = Deferral::default();
        assert!(d.start(1), "the first chance is taken");
        assert!(!d.start(1), "one deferral at a time");
        d.end(5);
        assert!(d.start(1), "it gathered more: defer again");
    }

    #[test]
    fn after_a_fruitless_deferral_only_every_probe_th_write_defers() {
        let mut d = Deferral::default();
        assert!(d.start(1));
        d.end(1);
        for _ in 0..DEFER_PROBE {
            assert!(!d.start(1), "a lone caller is written at once");
            d.end(1);
        }
        assert!(d.start(1), "then one probe");
        d.end(3);
        assert!(d.start(1), "which gathered more: back to deferring");
    }
}
