//! The queue through which other tasks (callers, handlers that had to wait,
//! stream producers) hand messages to the connection task.
//!
//! A bounded multi-producer queue like tokio's `mpsc`, but one that allocates
//! nothing until the first message (tokio's allocates a 32-slot block per
//! channel up front: ~1 KiB on every idle connection), and that the
//! connection task drains in one lock per burst.

use std::collections::VecDeque;
use std::sync::Mutex;

use futures::task::AtomicWaker;
use tokio::sync::Semaphore;
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

/// See the module docs. Capacity is counted in messages and in bytes.
#[derive(Debug)]
pub(crate) struct OutQueue {
    items: Mutex<VecDeque<Outgoing>>,
    /// One permit per free place; closed once the connection task is gone.
    space: Semaphore,
    /// One permit per free byte (a message larger than the whole capacity
    /// takes all of it); closed with `space`.
    bytes: Semaphore,
    /// The byte capacity.
    byte_capacity: u32,
    /// The connection task, woken on every message (and by
    /// [`OutQueue::wake_task`]).
    waker: AtomicWaker,
}

impl OutQueue {
    /// A queue of at most `capacity` messages and `byte_capacity` bytes
    /// (at most `u32::MAX`).
    pub(crate) fn new(capacity: usize, byte_capacity: usize) -> Self {
        let byte_capacity = u32::try_from(byte_capacity.max(1)).unwrap_or(u32::MAX);
        OutQueue {
            items: Mutex::new(VecDeque::new()),
            space: Semaphore::new(capacity),
            bytes: Semaphore::new(byte_capacity as usize),
            byte_capacity,
            waker: AtomicWaker::new(),
        }
    }

    /// The byte permits `msg` takes.
    fn cost(&self, len: usize) -> u32 {
        u32::try_from(len).unwrap_or(u32::MAX).min(self.byte_capacity)
    }

    fn items(&self) -> std::sync::MutexGuard<'_, VecDeque<Outgoing>> {
        // Every operation under the lock is a single VecDeque call.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `msg` if there is room.
    pub(crate) fn try_send(&self, msg: Outgoing) -> Result<(), TrySendError<Outgoing>> {
        use tokio::sync::TryAcquireError as E;
        let taken = self
            .space
            .try_acquire()
            .and_then(|place| Ok((place, self.bytes.try_acquire_many(self.cost(msg.len()))?)));
        match taken {
            Ok((place, bytes)) => {
                place.forget();
                bytes.forget();
                self.push(msg);
                Ok(())
            }
            Err(E::Closed) => Err(TrySendError::Closed(msg)),
            Err(E::NoPermits) => Err(TrySendError::Full(msg)),
        }
    }

    /// Queues `msg`, waiting for room; fails once the connection task is gone.
    pub(crate) async fn send(&self, msg: Outgoing) -> Result<(), SendError<Outgoing>> {
        let Ok(place) = self.space.acquire().await else {
            return Err(SendError(msg));
        };
        let Ok(bytes) = self.bytes.acquire_many(self.cost(msg.len())).await else {
            return Err(SendError(msg));
        };
        place.forget();
        bytes.forget();
        self.push(msg);
        Ok(())
    }

    fn push(&self, msg: Outgoing) {
        self.items().push_back(msg);
        self.waker.wake();
    }

    /// For the connection task: registers it to be woken by the next message
    /// or [`OutQueue::wake_task`].
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
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
        let mut moved = 0;
        let mut freed = 0usize;
        let mut close = None;
        {
            let mut items = self.items();
            while limit.has_room(out) {
                match items.pop_front() {
                    Some(Outgoing::Text(text)) => {
                        freed += self.cost(text.len()) as usize;
                        out.push_back(text)
                    }
                    Some(Outgoing::Shared(text)) => {
                        freed += self.cost(text.len()) as usize;
                        out.push_shared(text)
                    }
                    Some(Outgoing::Close(reason)) => {
                        close = Some(reason);
                        moved += 1;
                        break;
                    }
                    None => break,
                }
                moved += 1;
            }
        }
        self.space.add_permits(moved);
        self.bytes.add_permits(freed);
        close
    }

    /// True if nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.items().is_empty()
    }

    /// For the connection task, when it ends: later sends fail, waiting ones too.
    pub(crate) fn close(&self) {
        self.space.close();
        self.bytes.close();
        self.items().clear();
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
