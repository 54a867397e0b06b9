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

use crate::transport::CloseReason;

/// A message for the connection task.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    Close(CloseReason),
}

/// See the module docs. Capacity is counted in messages.
#[derive(Debug)]
pub(crate) struct OutQueue {
    items: Mutex<VecDeque<Outgoing>>,
    /// One permit per free place; closed once the connection task is gone.
    space: Semaphore,
    /// The connection task, woken on every message (and by
    /// [`OutQueue::wake_task`]).
    waker: AtomicWaker,
}

impl OutQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        OutQueue {
            items: Mutex::new(VecDeque::new()),
            space: Semaphore::new(capacity),
            waker: AtomicWaker::new(),
        }
    }

    fn items(&self) -> std::sync::MutexGuard<'_, VecDeque<Outgoing>> {
        // Every operation under the lock is a single VecDeque call.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `msg` if there is room.
    pub(crate) fn try_send(&self, msg: Outgoing) -> Result<(), TrySendError<Outgoing>> {
        match self.space.try_acquire() {
            Ok(permit) => {
                permit.forget();
                self.push(msg);
                Ok(())
            }
            Err(tokio::sync::TryAcquireError::Closed) => Err(TrySendError::Closed(msg)),
            Err(tokio::sync::TryAcquireError::NoPermits) => Err(TrySendError::Full(msg)),
        }
    }

    /// Queues `msg`, waiting for room; fails once the connection task is gone.
    pub(crate) async fn send(&self, msg: Outgoing) -> Result<(), SendError<Outgoing>> {
        match self.space.acquire().await {
            Ok(permit) => {
                permit.forget();
                self.push(msg);
                Ok(())
            }
            Err(_) => Err(SendError(msg)),
        }
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

    /// For the connection task: moves queued texts to `out` until it holds
    /// `limit`; stops at a close and returns its reason.
    pub(crate) fn drain_into(&self, out: &mut VecDeque<String>, limit: usize) -> Option<CloseReason> {
        let mut moved = 0;
        let mut close = None;
        {
            let mut items = self.items();
            while out.len() < limit {
                match items.pop_front() {
                    Some(Outgoing::Text(text)) => out.push_back(text),
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
        close
    }

    /// True if nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.items().is_empty()
    }

    /// For the connection task, when it ends: later sends fail, waiting ones too.
    pub(crate) fn close(&self) {
        self.space.close();
        self.items().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_order_and_closable() {
        let q = OutQueue::new(2);
        q.try_send(Outgoing::Text("a".into())).unwrap();
        q.try_send(Outgoing::Text("b".into())).unwrap();
        assert!(matches!(
            q.try_send(Outgoing::Text("c".into())),
            Err(TrySendError::Full(_))
        ));
        let mut out = VecDeque::new();
        assert!(q.drain_into(&mut out, 1).is_none());
        assert_eq!(out, ["a"], "drains up to the limit");
        q.try_send(Outgoing::Close(CloseReason::NORMAL)).unwrap();
        assert_eq!(q.drain_into(&mut out, 10), Some(CloseReason::NORMAL));
        assert_eq!(out, ["a", "b"]);
        assert!(q.is_empty());
        q.close();
        assert!(matches!(
            q.try_send(Outgoing::Text("d".into())),
            Err(TrySendError::Closed(_))
        ));
    }
}
