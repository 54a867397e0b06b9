//! The connection task: the one task that owns both halves of a connection.
//!
//! It reads every frame that is ready, answers what it can on the spot
//! (replies go to a local outbox, not through a channel), takes what other
//! tasks queued (calls, notifications, replies of handlers that had to wait),
//! writes it all and flushes once. Reading and writing are polled side by
//! side, so a peer whose socket is full still reads its own replies, up to the
//! outbox limit ([`crate::PeerConfig::send_queue`]); past it, reading pauses
//! until the other end reads (back-pressure).
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

use crate::transport::{CloseReason, Transport, TransportError};
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
/// How long the final close (and the messages queued before it) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Replies and messages waiting for the sending half.
pub(crate) type Outbox = VecDeque<String>;

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
    /// `PeerConfig::send_queue`: the outbox limit.
    pub(crate) send_queue: usize,
    /// `PeerConfig::handler_grace`.
    pub(crate) handler_grace: Duration,
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
}

struct Io<T> {
    transport: T,
    outbox: Outbox,
    limit: usize,
    keepalive: Option<Interval>,
    ping_due: bool,
    unflushed: bool,
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

/// Runs one connection until it is over, then closes it and stops its handlers.
///
/// The connection's state is built here, outside the returned future: built
/// inside, the transport would be stored in it three times over (as part of
/// `parts`, on its own, and in `Io`), for the connection's whole life.
pub(crate) fn run<T: Transport, H: FrameHandler>(parts: Parts<T, H>) -> impl Future<Output = ()> + Send {
    let Parts {
        transport,
        mut frames,
        send_queue,
        handler_grace,
        shared,
    } = parts;
    let keepalive = transport.ping_interval().map(|every| {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticks
    });
    let mut io = Io {
        transport,
        outbox: Outbox::new(),
        limit: send_queue,
        keepalive,
        ping_due: false,
        unflushed: false,
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
    let leftover = shared.out.drain_into(&mut io.outbox, usize::MAX);
    shared.out.close();
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
        if shared.done.is_cancelled() {
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
        while self.outbox.len() < self.limit && read < READ_BUDGET {
            match self.transport.poll_receive(cx) {
                Poll::Ready(Ok(text)) => {
                    frames.handle_frame(text.as_ref(), handlers, &mut self.outbox);
                    read += 1;
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
        if let Err(e) = self.poll_write(cx) {
            return Poll::Ready(End::Write(e));
        }
        if read == READ_BUDGET || (self.outbox.len() < self.limit && !shared.out.is_empty()) {
            // More may be ready: come back after other tasks had a turn.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Hands the outbox (and a due ping) to the sending half as far as it
    /// takes them, then flushes.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<(), TransportError> {
        while self.ping_due || !self.outbox.is_empty() {
            match self.transport.poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
            if self.ping_due {
                self.ping_due = false;
                self.transport.start_ping()?;
            } else if let Some(text) = self.outbox.pop_front() {
                self.transport.start_send(text)?;
            }
            self.unflushed = true;
        }
        if self.unflushed {
            match self.transport.poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(())
    }

    /// The connection is over: send what is still waiting (best effort,
    /// bounded in time), then the close. Returns the close reason sent.
    async fn close(&mut self, reason: Option<CloseReason>) -> CloseReason {
        let drain = async {
            while let Some(text) = self.outbox.pop_front() {
                poll_fn(|cx| self.transport.poll_ready(cx)).await.ok()?;
                self.transport.start_send(text).ok()?;
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
