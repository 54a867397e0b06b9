//! Handling one received frame: answer requests, run notifications, route
//! responses, and reply to malformed input exactly as JSON-RPC 2.0 says.
//!
//! A handler's future is polled once on the spot: a handler that completes at
//! once (most do) is answered without spawning a task. One that is still
//! pending moves to its own task, so a slow handler never blocks the others.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinSet};

use crate::connection::Outbox;
use crate::error::{ErrorCode, ErrorObject, REQUEST_CANCELLED, SERVER_BUSY};
use crate::id::Id;
use crate::message::{Frame, Incoming, encode_code, encode_error, parse_frame};
use crate::methods::{HandlerFuture, Methods, Params};
use crate::observe::{self, CallOutcome, CallTrace, Direction};
use crate::outgoing::Outgoing;
use crate::peer::{CANCEL_METHOD, CancelParams, Shared};
use crate::stream::{self, Outcome, Producers, STREAM_CANCEL, STREAM_CREDIT, STREAM_END, STREAM_ITEM};
use tracing::Instrument;

/// The connection's handler tasks. A task that answers one request returns
/// that request's id, so the dispatcher can forget it when it is reaped.
pub(crate) type Tasks = JoinSet<Option<Id>>;

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
    methods: Arc<Methods>,
    shared: Arc<Shared>,
    limit: Arc<Semaphore>,
    max_batch_len: usize,
    /// Requests whose handler runs in its own task, for `$/cancelRequest`.
    running: HashMap<Id, Running>,
    /// Streams this end produces.
    producers: Producers,
}

impl Dispatcher {
    pub(crate) fn new(methods: Arc<Methods>, shared: Arc<Shared>, config: &crate::PeerConfig) -> Self {
        Dispatcher {
            methods,
            limit: shared.handler_slots.clone(),
            max_batch_len: config.max_batch_len,
            running: HashMap::new(),
            producers: Producers::new(shared.clone(), config.stream_window),
            shared,
        }
    }

    pub(crate) fn handle_frame(&mut self, text: &str, tasks: &mut Tasks, out: &mut Outbox) {
        match parse_frame(text) {
            Frame::ParseError => out.push_back(encode_code(ErrorCode::ParseError, &Id::Null)),
            Frame::EmptyBatch => out.push_back(encode_code(ErrorCode::InvalidRequest, &Id::Null)),
            Frame::Batch(items) if items.len() > self.max_batch_len => {
                let error = ErrorObject::from_code(ErrorCode::InvalidRequest)
                    .with_data(format!("batch of {} exceeds the limit of {}", items.len(), self.max_batch_len).into());
                out.push_back(encode_error(&error, &Id::Null))
            }
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
                    STREAM_ITEM | STREAM_END => stream::deliver(&self.shared, &method, params),
                    STREAM_CANCEL | STREAM_CREDIT => self.producers.control(&method, params),
                    _ => self.notification(&method, Params::new(params), tasks),
                }
                None
            }
            Incoming::Response { id, outcome } => {
                self.response(id, outcome.map(|raw| raw.to_owned()));
                None
            }
            Incoming::Invalid { id } => Some(Reply::Ready(encode_code(ErrorCode::InvalidRequest, &id))),
            Incoming::BadResponse { reason } => {
                tracing::warn!(%reason, "dropping malformed response");
                None
            }
        }
    }

    fn request(&self, id: Id, method: &str, params: Params<'_>) -> Reply {
        let trace = CallTrace::start(&self.shared.metrics, Direction::Incoming, method, &id);
        let _entered = trace.as_ref().map(|t| t.span().clone().entered());
        // Only a handler still running after its first poll takes a permit:
        // a call that completes at once costs no Arc clone and no semaphore
        // release (a mutex). This task is the only one acquiring, so a permit
        // seen here is still there after the poll.
        if self.limit.available_permits() == 0 {
            let busy = ErrorObject::new(SERVER_BUSY, "Server busy")
                .with_data("too many concurrent calls on this connection".into());
            observe::finish(trace, CallOutcome::Error(SERVER_BUSY));
            return Reply::Ready(encode_error(&busy, &id));
        };
        let started = self.start(method, params).map(|mut fut| (poll_once(&mut fut), fut));
        match started {
            Err(error) => {
                observe::finish(trace, CallOutcome::Error(error.code));
                Reply::Ready(encode_error(&error, &id))
            }
            Ok((Some(outcome), _)) => {
                observe::finish(trace, CallOutcome::of_reply(&outcome));
                Reply::Ready(finish(outcome, &id, &self.producers))
            }
            Ok((None, fut)) => {
                let permit = self.limit.clone().try_acquire_owned().ok();
                let producers = self.producers.clone();
                let span = trace.as_ref().map_or_else(tracing::Span::none, |t| t.span().clone());
                Reply::Pending(PendingReply {
                    id: id.clone(),
                    text: Box::pin(async move {
                        let outcome = catch_panic(fut).instrument(span).await;
                        drop(permit);
                        observe::finish(trace, CallOutcome::of_reply(&outcome));
                        finish(outcome, &id, &producers)
                    }),
                })
            }
        }
    }

    fn notification(&self, method: &str, params: Params<'_>, tasks: &mut Tasks) {
        let trace = CallTrace::start(&self.shared.metrics, Direction::Incoming, method, &"none");
        let _entered = trace.as_ref().map(|t| t.span().clone().entered());
        if self.limit.available_permits() == 0 {
            tracing::warn!(method, "dropping notification: too many concurrent calls");
            return observe::finish(trace, CallOutcome::Error(SERVER_BUSY));
        }
        match self.start(method, params) {
            Err(error) => {
                tracing::debug!(method, %error, "notification failed");
                observe::finish(trace, CallOutcome::Error(error.code));
            }
            Ok(mut fut) => {
                if let Some(outcome) = poll_once(&mut fut) {
                    observe::finish(trace, CallOutcome::of_reply(&outcome));
                } else {
                    let permit = self.limit.clone().try_acquire_owned().ok();
                    let span = trace.as_ref().map_or_else(tracing::Span::none, |t| t.span().clone());
                    tasks.spawn(async move {
                        let outcome = catch_panic(fut).instrument(span).await;
                        drop(permit);
                        observe::finish(trace, CallOutcome::of_reply(&outcome));
                        None
                    });
                }
            }
        }
    }

    fn response(&self, id: Id, reply: Result<Box<serde_json::value::RawValue>, ErrorObject>) {
        let delivered = match id {
            Id::Number(n) => u64::try_from(n).is_ok_and(|n| self.shared.complete(n, reply)),
            _ => false,
        };
        if !delivered {
            tracing::warn!(%id, "dropping response that matches no pending call");
        }
    }

    /// Looks the method up and runs its synchronous part (params parsing).
    fn start(&self, method: &str, params: Params<'_>) -> Result<HandlerFuture, ErrorObject> {
        let handler = self
            .methods
            .get(method)
            .ok_or_else(|| ErrorObject::from_code(ErrorCode::MethodNotFound))?;
        std::panic::catch_unwind(AssertUnwindSafe(|| handler(params))).unwrap_or_else(|panic| Err(panicked(&panic)))
    }
}

/// Polls a handler once; `None` if it is still pending. A panic becomes -32603.
fn poll_once(fut: &mut HandlerFuture) -> Option<Result<Outcome, ErrorObject>> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().now_or_never())) {
        Ok(outcome) => outcome,
        Err(panic) => Some(Err(panicked(&panic))),
    }
}

async fn catch_panic(fut: HandlerFuture) -> Result<Outcome, ErrorObject> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(panicked(&panic)))
}

fn panicked(panic: &Box<dyn std::any::Any + Send>) -> ErrorObject {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    ErrorObject::internal(format_args!("handler panicked: {what}"))
}

/// The reply to request `id`; a stream starts producing here.
fn finish(outcome: Result<Outcome, ErrorObject>, id: &Id, producers: &Producers) -> String {
    match outcome {
        Ok(Outcome::Value(result)) => result.finish(id),
        Ok(Outcome::Stream(items)) => producers.start(id, items),
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
