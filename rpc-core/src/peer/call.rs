//! One outgoing call: register it, send it (waiting for room if the queue
//! is full), await the reply within its deadline, and clean up if it ends
//! without one (`$/cancelRequest`).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::Instrument;

use crate::connection::Shared;
use crate::connection::outgoing::Outgoing;
use crate::connection::pending::Answer;
use crate::observe::{CallOutcome, CallTrace};
use crate::wire::error::RpcError;
use crate::wire::message::encode_call;
use crate::wire::protocol::cancel_request;

/// A timeout as the instant it ends (and the limit, for the error).
pub(super) type Deadline = Option<(Instant, Duration)>;

pub(super) fn deadline_after(timeout: Option<Duration>) -> Deadline {
    timeout.map(|limit| (Instant::now() + limit, limit))
}

/// Runs `fut`, failing with [`RpcError::Timeout`] once `deadline` (if any) passes.
pub(super) async fn within<T>(
    deadline: Deadline,
    fut: impl std::future::Future<Output = Result<T, RpcError>>,
) -> Result<T, RpcError> {
    match deadline {
        Some((at, limit)) => tokio::time::timeout_at(at, fut)
            .await
            .unwrap_or(Err(RpcError::Timeout(limit))),
        None => fut.await,
    }
}

/// One outgoing call on its connection, once registered.
pub(super) struct Call<'a> {
    pub(super) shared: &'a Shared,
    pub(super) id: u64,
    /// The call's timeout (its deadline is in the pending table).
    pub(super) limit: Option<Duration>,
}

/// Runs `exchange` (a [`Call::exchange`]) in the span of `trace`, then
/// records its outcome there.
pub(super) async fn traced<R>(
    trace: CallTrace,
    exchange: impl std::future::Future<Output = Result<R, RpcError>>,
) -> Result<R, RpcError> {
    let span = trace.span().clone();
    let result = exchange.instrument(span).await;
    trace.finish(CallOutcome::of_call(&result));
    result
}

impl Call<'_> {
    pub(super) async fn exchange<P, R>(
        self,
        mut reply: oneshot::Receiver<Answer>,
        method: &str,
        params: P,
    ) -> Result<R, RpcError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        let Call { shared, id, limit } = self;
        let mut guard = PendingGuard {
            shared,
            id,
            sent: false,
            answered: false,
        };
        let text = encode_call(Some(id), method, &params).map_err(|e| RpcError::Encode(e.to_string()))?;
        // Decided before any await, and boxed: what the slow path needs must
        // not size every call's future.
        let full = match shared.try_send(Outgoing::Text(text)) {
            Ok(None) => None,
            Ok(Some(msg)) => Some(Box::new(msg)),
            Err(e) => return Err(e),
        };
        let answer = match full {
            None => {
                guard.sent = true;
                (&mut reply).await
            }
            // The queue is full: wait for room, unless the deadline (or the
            // end of the connection) answers first.
            Some(msg) => Box::pin(send_then_wait(shared, *msg, &mut reply, &mut guard.sent)).await?,
        };
        guard.answered = true;
        match answer {
            Ok(Some(Ok(raw))) => serde_json::from_str(raw.get()).map_err(|e| RpcError::Decode(e.to_string())),
            Ok(Some(Err(error))) => Err(error),
            Ok(None) => Err(RpcError::Timeout(limit.unwrap_or_default())),
            Err(_) => Err(shared.disconnected()),
        }
    }
}

/// Waits for room in a full queue, then for the answer, unless an answer
/// (the deadline, or the end of the connection) comes first.
async fn send_then_wait(
    shared: &Shared,
    msg: Outgoing,
    reply: &mut oneshot::Receiver<Answer>,
    sent: &mut bool,
) -> Result<Result<Answer, oneshot::error::RecvError>, RpcError> {
    tokio::select! {
        biased;
        answer = &mut *reply => Ok(answer),
        result = shared.out.send(msg) => {
            result.map_err(|_| shared.disconnected())?;
            *sent = true;
            Ok(reply.await)
        }
    }
}

/// Frees a call's pending entry when its future ends without a reply
/// (dropped, timed out, failed), and tells the callee to stop working on it.
/// If the reply races the drop, the reader finds no entry and drops the
/// reply: harmless.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u64,
    sent: bool,
    /// The reply arrived: the reader already took the entry.
    answered: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let was_waiting = self.shared.pending().remove(self.id);
        if was_waiting && self.sent && !self.shared.done.is_cancelled() {
            // Drop cannot wait: when the queue is full the cancel is skipped
            // (the callee's reply is then dropped on arrival instead).
            if let Some(text) = cancel_request(self.id) {
                let _ = self.shared.out.try_send(Outgoing::Text(text));
            }
        }
    }
}
