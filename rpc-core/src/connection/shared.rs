//! The state one connection's handles and tasks share: pending calls, the
//! outgoing queue, the streams, the limits, and whether it is over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Outbox;
use super::outgoing::{OutQueue, Outgoing};
use super::pending::{Answer, InsertError, PendingCalls, Reply};
use crate::observe::Metrics;
use crate::stream::{Link, StreamLimits, Streams};
use crate::wire::error::RpcError;
use crate::wire::protocol::cancel_request;

/// The settings [`Shared`] is made from (a subset of `PeerConfig`).
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) max_pending_calls: usize,
    pub(crate) send_queue: usize,
    pub(crate) send_buffer: usize,
    pub(crate) call_timeout: Option<Duration>,
    pub(crate) stream_window: usize,
    pub(crate) stream_limits: StreamLimits,
    pub(crate) metrics: Option<Arc<dyn Metrics>>,
    pub(crate) max_concurrent_calls: usize,
}

/// State shared by every handle of one connection and its tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pending: Mutex<PendingCalls>,
    pub(crate) out: OutQueue,
    /// Cancelled once the connection is over (closed, failed, or closed locally).
    pub(crate) done: CancellationToken,
    /// The connection's task and its stream producers.
    pub(crate) tasks: TaskTracker,
    /// A call's deadline is earlier than the connection task's timer.
    rearm: AtomicBool,
    /// Default timeout of outgoing calls.
    pub(crate) call_timeout: Option<Duration>,
    /// The streams of this connection, both ways.
    pub(crate) streams: Streams,
    /// See `PeerConfig::metrics`.
    pub(crate) metrics: Option<Arc<dyn Metrics>>,
    /// One permit per incoming call allowed to run at once; a running
    /// handler holds one (see `PeerConfig::max_concurrent_calls`).
    pub(crate) handler_slots: Arc<Semaphore>,
    pub(crate) max_concurrent_calls: usize,
}

impl Shared {
    pub(crate) fn new(settings: Settings) -> Self {
        Shared {
            pending: Mutex::new(PendingCalls::with_limit(settings.max_pending_calls)),
            out: OutQueue::new(settings.send_queue, settings.send_buffer),
            done: CancellationToken::new(),
            tasks: TaskTracker::new(),
            rearm: AtomicBool::new(false),
            call_timeout: settings.call_timeout,
            streams: Streams::new(settings.stream_window, settings.stream_limits),
            metrics: settings.metrics,
            handler_slots: Arc::new(Semaphore::new(settings.max_concurrent_calls)),
            max_concurrent_calls: settings.max_concurrent_calls,
        }
    }

    pub(crate) fn pending(&self) -> MutexGuard<'_, PendingCalls> {
        // A panic while holding this lock cannot leave the table inconsistent
        // (every operation is a single map call), so poisoning is ignored.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the connection: records `reason` (the first one wins), fails every
    /// pending call and ends every stream with `Disconnected`, and stops the connection's task.
    pub(crate) fn shut_down(&self, reason: &str) {
        self.end_with(RpcError::Disconnected(reason.into()));
    }

    /// Ends the connection as [`Shared::shut_down`] does, failing everything
    /// with `error` (`Disconnected` or `SessionLost`).
    pub(crate) fn end_with(&self, error: RpcError) {
        let waiting = self.pending().close(error);
        drop(waiting);
        self.streams.end_consumers();
        self.done.cancel();
        self.out.wake_task();
    }

    pub(crate) fn complete(&self, id: u64, reply: Reply) -> bool {
        let waiter = self.pending().take(id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(Some(reply));
                true
            }
            None => false,
        }
    }

    pub(crate) fn disconnected(&self) -> RpcError {
        let closed = self.pending().closed().cloned();
        closed.unwrap_or_else(|| RpcError::Disconnected("connection closed".into()))
    }

    /// Queues `text` if there is room; gives it back if the queue is full.
    pub(crate) fn try_send(&self, text: String) -> Result<Option<Outgoing>, RpcError> {
        match self.out.try_send(Outgoing::Text(text)) {
            Ok(()) => Ok(None),
            Err(TrySendError::Closed(_)) => Err(self.disconnected()),
            Err(TrySendError::Full(msg)) => Ok(Some(msg)),
        }
    }

    pub(crate) fn register_call(
        &self,
        deadline: Option<Instant>,
    ) -> Result<(u64, oneshot::Receiver<Answer>), RpcError> {
        let (id, rx, rearm) = self.pending().insert_until(deadline).map_err(|e| match e {
            InsertError::Closed(error) => error,
            InsertError::Full(n) => RpcError::Limit(format!("{n} calls are already awaiting a reply")),
        })?;
        if rearm {
            self.rearm.store(true, Ordering::Release);
            self.out.wake_task();
        }
        Ok((id, rx))
    }

    /// For the connection task: the instant its timer should fire at, if it
    /// must be set again since the last time it asked.
    pub(crate) fn rearm(&self) -> Option<Option<Instant>> {
        if !self.rearm.swap(false, Ordering::AcqRel) {
            return None;
        }
        Some(self.pending().armed())
    }

    /// For the connection task: tells every call whose deadline passed, asks
    /// its callee to stop (`$/cancelRequest`), and returns when to look again.
    pub(crate) fn expire(&self, now: Instant, out: &mut Outbox) -> Option<Instant> {
        let (expired, next) = {
            let mut pending = self.pending();
            let expired = pending.expire(now);
            (expired, pending.armed())
        };
        for (id, tx) in expired {
            let _ = tx.send(None);
            if let Some(text) = cancel_request(id) {
                out.push_back(text);
            }
        }
        next
    }
}

impl Link for Shared {
    fn streams(&self) -> &Streams {
        &self.streams
    }

    async fn queue(&self, text: String) {
        let _ = self.out.send(Outgoing::Text(text)).await;
    }

    fn try_queue(&self, text: String) -> Option<String> {
        match self.out.try_send(Outgoing::Text(text)) {
            Err(TrySendError::Full(Outgoing::Text(text))) => Some(text),
            _ => None,
        }
    }

    fn done(&self) -> &CancellationToken {
        &self.done
    }

    fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    fn disconnected(&self) -> RpcError {
        Shared::disconnected(self)
    }
}
