//! The queue through which other tasks (callers, handlers that had to wait,
//! stream producers) hand messages to the connection task.
//!
//! A bounded multi-producer queue like tokio's `mpsc`, but one that allocates
//! nothing until the first message (tokio's allocates a 32-slot block per
//! channel up front: ~1 KiB on every idle connection), and that the
//! connection task drains in one lock per burst.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::sync::mpsc::error::{SendError, TrySendError};

use super::{Limit, Outbox};
use crate::transport::{CloseReason, SharedText};

/// A message for the connection task.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    /// A text shared with other connections (a broadcast serialized once).
    Shared(SharedText),
    Close(CloseReason),
}

impl Outgoing {
    fn len(&self) -> usize {
        match self {
            Outgoing::Text(text) => text.len(),
            Outgoing::Shared(text) => text.len(),
            Outgoing::Close(_) => 0,
        }
    }
}

/// What the lock of an [`OutQueue`] guards: the messages and what they
/// take of the capacity. One lock per message, and nothing else: a
/// broadcast to 10,000 connections paid for two semaphores besides (two
/// more atomic read-modify-writes, and their cache lines, per connection).
#[derive(Debug, Default)]
struct Items {
    queue: VecDeque<Outgoing>,
    /// Bytes taken (each message takes at most the whole byte capacity).
    bytes: usize,
    /// Set once the connection task is gone.
    closed: bool,
}

/// See the module docs. Capacity is counted in messages and in bytes.
#[derive(Debug)]
pub(crate) struct OutQueue {
    items: Mutex<Items>,
    capacity: usize,
    byte_capacity: usize,
    /// Set while the connection's write is blocked: the socket's readiness
    /// wakes the task then, and it takes what was queued meanwhile. Without
    /// it, a broadcast to 10,000 connections whose sockets are full ran
    /// every connection task once per message for nothing.
    quiet: AtomicBool,
    /// The connection task, woken on every message (and by
    /// [`OutQueue::wake_task`]), except while it is [`OutQueue::quiet`].
    waker: AtomicWaker,
    /// Senders waiting for room ([`OutQueue::send`]): only then does a
    /// drain notify `room`.
    waiting: AtomicUsize,
    room: Notify,
}

/// Counts a sender as waiting for room while it lives (dropped with its
/// future too, if the send is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl OutQueue {
    /// A queue of at most `capacity` messages and `byte_capacity` bytes.
    pub(crate) fn new(capacity: usize, byte_capacity: usize) -> Self {
        OutQueue {
            items: Mutex::default(),
            capacity: capacity.max(1),
            byte_capacity: byte_capacity.max(1),
            quiet: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            waiting: AtomicUsize::new(0),
            room: Notify::new(),
        }
    }

    /// The bytes `msg` takes of the capacity (a message larger than the
    /// whole capacity takes all of it).
    #[inline]
    fn cost(&self, len: usize) -> usize {
        len.min(self.byte_capacity)
    }

    fn items(&self) -> std::sync::MutexGuard<'_, Items> {
        // Every operation under the lock leaves `Items` consistent.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `msg` if there is room.
    pub(crate) fn try_send(&self, msg: Outgoing) -> Result<(), TrySendError<Outgoing>> {
        let cost = self.cost(msg.len());
        {
            let mut items = self.items();
            if items.closed {
                return Err(TrySendError::Closed(msg));
            }
            if items.queue.len() >= self.capacity || items.bytes + cost > self.byte_capacity {
                return Err(TrySendError::Full(msg));
            }
            items.bytes += cost;
            items.queue.push_back(msg);
        }
        // After the unlock: a task that clears `quiet` before it drains
        // (under the lock) either takes this message or is seen awake here.
        if !self.quiet.load(Ordering::SeqCst) {
            self.waker.wake();
        }
        Ok(())
    }

    /// Queues `msg`, waiting for room; fails once the connection task is gone.
    pub(crate) async fn send(&self, mut msg: Outgoing) -> Result<(), SendError<Outgoing>> {
        let _waiting = Waiting::new(&self.waiting);
        loop {
            let notified = self.room.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check: a drain after it notifies this.
            notified.as_mut().enable();
            match self.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(m)) => return Err(SendError(m)),
                Err(TrySendError::Full(m)) => msg = m,
            }
            notified.await;
        }
    }

    /// For the connection task: registers it to be woken by the next message
    /// or [`OutQueue::wake_task`].
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// For the connection task: `true` once its write is blocked (it will be
    /// woken by the socket: messages need not wake it), `false` before it
    /// takes queued messages again.
    pub(crate) fn quiet(&self, quiet: bool) {
        if self.quiet.load(Ordering::Relaxed) != quiet {
            self.quiet.store(quiet, Ordering::SeqCst);
        }
    }

    /// Wakes the connection task for something other than a message (the
    /// connection was shut down, a call deadline needs its timer).
    pub(crate) fn wake_task(&self) {
        self.waker.wake();
    }

    /// For the connection task: nothing wakes it until it registers again
    /// (it has woken itself and will look anyway).
    pub(crate) fn unregister(&self) {
        drop(self.waker.take());
    }

    /// For the connection task: moves queued texts to `out` until it is at
    /// `limit`; stops at a close and returns its reason.
    pub(crate) fn drain_into(&self, out: &mut Outbox, limit: Limit) -> Option<CloseReason> {
        let mut close = None;
        let freed = {
            let mut items = self.items();
            let before = items.queue.len();
            let mut freed = 0;
            while limit.has_room(out) {
                match items.queue.pop_front() {
                    Some(Outgoing::Text(text)) => {
                        freed += self.cost(text.len());
                        out.push_back(text)
                    }
                    Some(Outgoing::Shared(text)) => {
                        freed += self.cost(text.len());
                        out.push_shared(text)
                    }
                    Some(Outgoing::Close(reason)) => {
                        close = Some(reason);
                        break;
                    }
                    None => break,
                }
            }
            items.bytes -= freed;
            before != items.queue.len()
        };
        if freed && self.waiting.load(Ordering::SeqCst) > 0 {
            self.room.notify_waiters();
        }
        close
    }

    /// True if nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.items().queue.is_empty()
    }

    /// For the connection task, when it ends: later sends fail, waiting ones too.
    pub(crate) fn close(&self) {
        {
            let mut items = self.items();
            items.closed = true;
            items.queue.clear();
            items.bytes = 0;
        }
        self.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(messages: usize, bytes: usize) -> Limit {
        Limit { messages, bytes }
    }

    #[test]
    fn bounded_in_bytes_too() {
        let q = OutQueue::new(100, 10);
        q.try_send(Outgoing::Text("x".repeat(6))).unwrap();
        assert!(
            matches!(q.try_send(Outgoing::Text("y".repeat(6))), Err(TrySendError::Full(_))),
            "10 bytes hold one 6-byte message"
        );
        let mut out = Outbox::default();
        assert!(q.drain_into(&mut out, limit(100, 6)).is_none());
        assert_eq!(out.bytes(), 6);
        q.try_send(Outgoing::Text("y".repeat(40)))
            .expect("a message over the capacity takes all of it");
        q.try_send(Outgoing::Text("z".into())).unwrap_err();
        assert!(q.drain_into(&mut out, limit(100, 6)).is_none());
        assert_eq!(out.len(), 1, "the outbox is at its byte limit: nothing moves");
        assert!(q.drain_into(&mut out, limit(100, 100)).is_none());
        assert_eq!(out.bytes(), 46);
        q.try_send(Outgoing::Text("z".repeat(10)))
            .expect("room again once drained");
    }

    #[tokio::test]
    async fn a_waiting_sender_gets_the_room_a_drain_frees_or_fails_on_close() {
        let q = std::sync::Arc::new(OutQueue::new(1, 100));
        q.try_send(Outgoing::Text("a".into())).unwrap();
        let sender = {
            let q = q.clone();
            tokio::spawn(async move { q.send(Outgoing::Text("b".into())).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!sender.is_finished(), "the queue is full: the sender waits");
        let mut out = Outbox::default();
        q.drain_into(&mut out, limit(10, 100));
        assert!(sender.await.unwrap(), "the drain made room");
        assert_eq!(q.items().queue.len(), 1);
        let waiting = {
            let q = q.clone();
            tokio::spawn(async move { q.send(Outgoing::Text("c".into())).await.is_err() })
        };
        tokio::task::yield_now().await;
        q.close();
        assert!(waiting.await.unwrap(), "closing fails the waiting sender");
        assert_eq!(q.waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn bounded_in_order_and_closable() {
        let q = OutQueue::new(2, 100);
        q.try_send(Outgoing::Text("a".into())).unwrap();
        q.try_send(Outgoing::Text("b".into())).unwrap();
        assert!(matches!(
            q.try_send(Outgoing::Text("c".into())),
            Err(TrySendError::Full(_))
        ));
        let mut out = Outbox::default();
        assert!(q.drain_into(&mut out, limit(1, 100)).is_none());
        assert_eq!(out.texts(), ["a"], "drains up to the limit");
        q.try_send(Outgoing::Close(CloseReason::NORMAL)).unwrap();
        assert_eq!(q.drain_into(&mut out, limit(10, 100)), Some(CloseReason::NORMAL));
        assert_eq!(out.texts(), ["a", "b"]);
        assert!(q.is_empty());
        q.close();
        assert!(matches!(
            q.try_send(Outgoing::Text("d".into())),
            Err(TrySendError::Closed(_))
        ));
    }
}
