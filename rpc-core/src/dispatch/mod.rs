//! Handling one received frame: answer requests, run notifications, route
//! responses, and reply to malformed input exactly as JSON-RPC 2.0 says.
//!
//! * this file: the [`Dispatcher`], what the connection task hands frames to;
//! * [`methods`]: the dispatch table (method name -> handler);
//! * [`middleware`]: what wraps every incoming call on its way to its handler;
//! * `pipeline`: the one path every incoming call (request or notification)
//!   takes through its handler: permit, trace, first poll, panic guard.
//!
//! A handler's future is polled once on the spot: a handler that completes at
//! once (most do) is answered without spawning a task. One that is still
//! pending moves to its own task, so a slow handler never blocks the others.

pub mod methods;
pub mod middleware;
pub(crate) mod params;
mod pipeline;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::{BoxFuture, join_all};
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

use crate::connection::outgoing::Outgoing;
use crate::connection::{FrameHandler, Outbox, Shared, Tasks};
use crate::stream;
use crate::wire::error::{ErrorCode, ErrorObject, REQUEST_CANCELLED, RpcError, SERVER_BUSY};
use crate::wire::id::Id;
use crate::wire::message::{Frame, Incoming, encode_code, encode_error, parse_frame_limited};
use crate::wire::protocol::{CANCEL_METHOD, CancelParams, STREAM_CANCEL, STREAM_CREDIT, STREAM_END, STREAM_ITEM};
use methods::{Outcome, Params};
use middleware::Stack;
use pipeline::Run;

/// The reply to one request: ready now, or once its handler completes.
enum Reply {
    Ready(String),
    Pending(PendingReply),
}

/// A request whose handler runs in its own task.
struct Running {
    task: AbortHandle,
    /// Set by whichever of the task and `$/cancelRequest` answers first.
    answered: Arc<AtomicBool>,
}

struct PendingReply {
    id: Id,
    text: BoxFuture<'static, String>,
}

pub(crate) struct Dispatcher {
    stack: Stack,
    shared: Arc<Shared>,
    limit: Arc<Semaphore>,
    max_batch_len: usize,
    /// Requests whose handler runs in its own task, for `$/cancelRequest`.
    running: HashMap<Id, Running>,
}

impl FrameHandler for Dispatcher {
    fn handle_frame(&mut self, text: &str, tasks: &mut Tasks, out: &mut Outbox) {
        Dispatcher::handle_frame(self, text, tasks, out)
    }

    fn finished(&mut self, id: &Id) {
        Dispatcher::finished(self, id)
    }
}

impl Dispatcher {
    pub(crate) fn new(stack: Stack, shared: Arc<Shared>, max_batch_len: usize) -> Self {
        Dispatcher {
            stack,
            limit: shared.handler_slots.clone(),
            max_batch_len,
            running: HashMap::new(),
            shared,
        }
    }

    pub(crate) fn handle_frame(&mut self, text: &str, tasks: &mut Tasks, out: &mut Outbox) {
        // An oversize batch is refused after scanning `max_batch_len + 1`
        // elements: its rest is never parsed.
        let frame = match parse_frame_limited(text, self.max_batch_len) {
            Ok(frame) => frame,
            Err(too_long) => {
                let error = ErrorObject::from_code(ErrorCode::InvalidRequest).with_data(too_long.to_string().into());
                return out.push_back(encode_error(&error, &Id::Null));
            }
        };
        match frame {
            Frame::ParseError => out.push_back(encode_code(ErrorCode::ParseError, &Id::Null)),
            Frame::EmptyBatch => out.push_back(encode_code(ErrorCode::InvalidRequest, &Id::Null)),
            Frame::Single(Incoming::Notification { method, params }) if method == CANCEL_METHOD => {
                self.cancel(Params::new(params), out)
            }
            Frame::Single(msg) => match self.handle(msg, tasks) {
                Some(Reply::Ready(text)) => out.push_back(text),
                Some(Reply::Pending(reply)) => {
                    let shared = self.shared.clone();
                    let id = reply.id.clone();
                    let answered = Arc::new(AtomicBool::new(false));
                    let claim = answered.clone();
                    let task = tasks.spawn(async move {
                        let text = reply.text.await;
                        if !claim.swap(true, Ordering::AcqRel) {
                            send_to(&shared, text).await;
                        }
                        Some(reply.id)
                    });
                    self.running.insert(id, Running { task, answered });
                }
                None => {}
            },
            Frame::Batch(items) => self.handle_batch(items, tasks, out),
        }
    }

    /// A handler task ended: forget its request.
    pub(crate) fn finished(&mut self, id: &Id) {
        self.running.remove(id);
    }

    /// `$/cancelRequest`: abort the request's handler and answer it with
    /// -32001. Unknown or finished ids are ignored.
    fn cancel(&mut self, params: Params<'_>, out: &mut Outbox) {
        let Ok(CancelParams { id }) = params.parse::<CancelParams<Id>>() else {
            return tracing::debug!("ignoring malformed {CANCEL_METHOD}");
        };
        let Some(running) = self.running.remove(&id) else {
            return;
        };
        // Exactly one reply: whoever claims the request first answers it.
        if !running.answered.swap(true, Ordering::AcqRel) {
            running.task.abort();
            let error = ErrorObject::new(REQUEST_CANCELLED, "Request cancelled");
            out.push_back(encode_error(&error, &id));
        }
    }

    /// Every element is handled by its kind; the replies to its requests (and
    /// to its invalid elements) go back as one array, once all are ready. A
    /// batch with nothing to answer gets no reply at all.
    fn handle_batch(&self, items: Vec<Incoming<'_>>, tasks: &mut Tasks, out: &mut Outbox) {
        let mut ready = Vec::new();
        let mut pending = Vec::new();
        for item in items {
            match self.handle(item, tasks) {
                Some(Reply::Ready(text)) => ready.push(text),
                Some(Reply::Pending(reply)) => pending.push(reply.text),
                None => {}
            }
        }
        if pending.is_empty() {
            if !ready.is_empty() {
                out.push_back(join_array(ready));
            }
            return;
        }
        let shared = self.shared.clone();
        tasks.spawn(async move {
            ready.extend(join_all(pending).await);
            send_to(&shared, join_array(ready)).await;
            None
        });
    }

    fn handle(&self, msg: Incoming<'_>, tasks: &mut Tasks) -> Option<Reply> {
        match msg {
            Incoming::Request { id, method, params } => Some(self.request(id, &method, Params::new(params))),
            Incoming::Notification { method, params } => {
                match &*method {
                    STREAM_ITEM | STREAM_END => stream::deliver(&self.shared.streams, &method, params),
                    STREAM_CANCEL | STREAM_CREDIT => self.shared.streams.control(&method, params),
                    _ => self.notification(&method, Params::new(params), tasks),
                }
                None
            }
            Incoming::Response { id, outcome } => {
                self.response(id, outcome.map(|raw| raw.to_owned()).map_err(RpcError::Call));
                None
            }
            Incoming::Invalid { id } => Some(Reply::Ready(encode_code(ErrorCode::InvalidRequest, &id))),
            // A malformed reply fails its call at once, rather than at its timeout.
            Incoming::BadResponse { id: Some(id), reason } => {
                tracing::warn!(%reason, "malformed response");
                self.response(id, Err(RpcError::Decode(reason)));
                None
            }
            Incoming::BadResponse { id: None, reason } => {
                tracing::warn!(%reason, "dropping malformed response");
                None
            }
        }
    }

    fn request(&self, id: Id, method: &str, params: Params<'_>) -> Reply {
        match self.run(method, params, Some(&id)) {
            Run::Busy => {
                let busy = ErrorObject::new(SERVER_BUSY, "Server busy")
                    .with_data("too many concurrent calls on this connection".into());
                Reply::Ready(encode_error(&busy, &id))
            }
            Run::Rejected(error) => Reply::Ready(encode_error(&error, &id)),
            Run::Done(outcome) => Reply::Ready(finish(outcome, &id, &self.shared)),
            Run::Running(rest) => {
                let shared = self.shared.clone();
                Reply::Pending(PendingReply {
                    id: id.clone(),
                    text: Box::pin(async move { finish(rest.await, &id, &shared) }),
                })
            }
        }
    }

    fn notification(&self, method: &str, params: Params<'_>, tasks: &mut Tasks) {
        if let Run::Running(rest) = self.run(method, params, None) {
            tasks.spawn(async move {
                let _ = rest.await;
                None
            });
        }
    }

    fn response(&self, id: Id, reply: Result<Box<serde_json::value::RawValue>, RpcError>) {
        let delivered = match id {
            Id::Number(n) => u64::try_from(n).is_ok_and(|n| self.shared.complete(n, reply)),
            _ => false,
        };
        if !delivered {
            tracing::warn!(%id, "dropping response that matches no pending call");
        }
    }
}

/// The reply to request `id`; a stream starts producing here.
fn finish(outcome: Result<Outcome, ErrorObject>, id: &Id, shared: &Arc<Shared>) -> String {
    match outcome {
        Ok(Outcome::Value(result)) => result.finish(id),
        Ok(Outcome::Stream(items)) => stream::start(shared, id, items),
        Err(error) => encode_error(&error, id),
    }
}

fn join_array(replies: Vec<String>) -> String {
    let mut out = String::with_capacity(replies.iter().map(|r| r.len() + 1).sum::<usize>() + 1);
    out.push('[');
    for (i, reply) in replies.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(reply);
    }
    out.push(']');
    out
}

/// Queues a reply for the connection task; gives up if the connection ends
/// first (the queue is closed then, which also ends a wait for room).
async fn send_to(shared: &Shared, text: String) {
    let _ = shared.out.send(Outgoing::Text(text)).await;
}
