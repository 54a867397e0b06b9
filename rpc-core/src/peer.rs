//! The peer handle: make calls and send notifications to the other end, and
//! the builder that registers services before the connection starts.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::Outbox;
use crate::error::RpcError;
use crate::message::encode_call;
use crate::methods::{Methods, RegisterError};
use crate::observe::{CallOutcome, CallTrace, Direction, Metrics};
use crate::outgoing::{OutQueue, Outgoing};
use crate::pending::{Answer, InsertError, PendingCalls, Reply};
use crate::stream::{Consumer, Consumers, Event, RpcStream};
use crate::transport::{CloseReason, Receiver, Sender, Transport};
use tracing::Instrument;

/// Settings of one peer (one connection).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PeerConfig {
    /// Most incoming calls run at once on this connection; one more is
    /// answered at once with -32000 "Server busy" (never queued, so a peer
    /// at its limit still reads the replies its own handlers wait for).
    pub max_concurrent_calls: usize,
    /// Capacity of the outgoing message queue (when full, senders wait), and
    /// of the connection task's outbox of replies not yet written (when full,
    /// it stops reading until the other end reads).
    pub send_queue: usize,
    /// After the connection ends, how long running handlers get to finish
    /// (they see `Disconnected` from any call they make) before they are aborted.
    pub handler_grace: Duration,
    /// Default timeout of outgoing calls (queueing included); `None` waits
    /// forever. On timeout the call fails with [`RpcError::Timeout`] and the
    /// callee is sent `$/cancelRequest`.
    pub call_timeout: Option<Duration>,
    /// Most outgoing calls awaiting a reply at once; one more fails at once
    /// with [`RpcError::Limit`].
    pub max_pending_calls: usize,
    /// Most elements in an incoming batch; a longer batch is answered with one
    /// -32600 error.
    pub max_batch_len: usize,
    /// Items of one stream in flight at once (see [`crate::stream`]): the
    /// consumer's buffer per stream, and the producer's credit.
    pub stream_window: usize,
    /// Receives connection and call events (see [`crate::observe`]).
    pub metrics: Option<Arc<dyn Metrics>>,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            max_concurrent_calls: 1024,
            send_queue: 1024,
            handler_grace: Duration::from_secs(1),
            call_timeout: Some(Duration::from_secs(60)),
            max_pending_calls: 65_536,
            max_batch_len: 1024,
            stream_window: 64,
            metrics: None,
        }
    }
}

impl PeerConfig {
    /// Sets [`PeerConfig::max_concurrent_calls`].
    pub fn max_concurrent_calls(mut self, n: usize) -> Self {
        self.max_concurrent_calls = n.max(1);
        self
    }

    /// Sets [`PeerConfig::send_queue`].
    pub fn send_queue(mut self, n: usize) -> Self {
        self.send_queue = n.max(1);
        self
    }

    /// Sets [`PeerConfig::call_timeout`].
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets [`PeerConfig::max_pending_calls`].
    pub fn max_pending_calls(mut self, n: usize) -> Self {
        self.max_pending_calls = n;
        self
    }

    /// Sets [`PeerConfig::max_batch_len`].
    pub fn max_batch_len(mut self, n: usize) -> Self {
        self.max_batch_len = n.max(1);
        self
    }

    /// Sets [`PeerConfig::stream_window`].
    pub fn stream_window(mut self, n: usize) -> Self {
        self.stream_window = n.max(2);
        self
    }

    /// Sets [`PeerConfig::metrics`].
    pub fn metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Sets [`PeerConfig::handler_grace`].
    pub fn handler_grace(mut self, grace: Duration) -> Self {
        self.handler_grace = grace;
        self
    }
}

/// State shared by every handle of one connection and its two tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) pending: Mutex<PendingCalls>,
    pub(crate) out: OutQueue,
    /// Cancelled once the connection is over (closed, failed, or closed locally).
    pub(crate) done: CancellationToken,
    /// The connection's task.
    tasks: TaskTracker,
    /// A call's deadline is earlier than the connection task's timer.
    rearm: AtomicBool,
    /// Default timeout of outgoing calls.
    call_timeout: Option<Duration>,
    /// Streams this end consumes, by our request id.
    consumers: Mutex<Consumers>,
    /// Per-stream window (see [`PeerConfig::stream_window`]).
    stream_window: usize,
    /// See [`PeerConfig::metrics`].
    pub(crate) metrics: Option<Arc<dyn Metrics>>,
    /// One permit per incoming call allowed to run at once; a running
    /// handler holds one (see [`PeerConfig::max_concurrent_calls`]).
    pub(crate) handler_slots: Arc<tokio::sync::Semaphore>,
    max_concurrent_calls: usize,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, PendingCalls> {
        // A panic while holding this lock cannot leave the table inconsistent
        // (every operation is a single map call), so poisoning is ignored.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn consumers(&self) -> std::sync::MutexGuard<'_, Consumers> {
        self.consumers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the connection: records `reason` (the first one wins), fails every
    /// pending call and ends every stream with `Disconnected`, and stops the connection's task.
    pub(crate) fn shut_down(&self, reason: &str) {
        let waiting = self.pending().close(reason.into());
        drop(waiting);
        let streams = std::mem::take(&mut *self.consumers());
        drop(streams);
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
        let reason = self.pending().closed().cloned();
        RpcError::Disconnected(reason.unwrap_or_else(|| "connection closed".into()))
    }

    /// Queues `text` if there is room; gives it back if the queue is full.
    fn try_send(&self, text: String) -> Result<Option<Outgoing>, RpcError> {
        match self.out.try_send(Outgoing::Text(text)) {
            Ok(()) => Ok(None),
            Err(TrySendError::Closed(_)) => Err(self.disconnected()),
            Err(TrySendError::Full(msg)) => Ok(Some(msg)),
        }
    }

    fn register_call(&self, deadline: Option<Instant>) -> Result<(u64, oneshot::Receiver<Answer>), RpcError> {
        let (id, rx, rearm) = self.pending().insert_until(deadline).map_err(|e| match e {
            InsertError::Closed(reason) => RpcError::Disconnected(reason),
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
            if let Ok(text) = encode_call(None, CANCEL_METHOD, &CancelParams { id }) {
                out.push_back(text);
            }
        }
        next
    }
}

/// A handle to one connection: call the remote peer's methods and send it
/// notifications. Cheap to clone; every clone talks over the same connection.
///
/// The same handle type serves both ends: nothing here knows which side opened
/// the socket. Generated stubs (`CalculatorClient::new(peer)`) wrap it.
///
/// ```
/// use duplexrpc_core::{Methods, PeerBuilder, RpcError, transport::memory};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
/// let mut server = PeerBuilder::new();
/// let mut methods = Methods::new();
/// methods.method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) }).unwrap();
/// server.register(methods).unwrap();
/// let _server = server.start(a_tx, a_rx);
/// let client = PeerBuilder::new().start(b_tx, b_rx);
/// let sum: i64 = client.call("add", (2, 3)).await.unwrap();
/// assert_eq!(sum, 5);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Peer {
    link: Link,
}

/// What a handle talks over: one connection, or whichever connection a
/// [`PeerSlot`] currently holds (a reconnecting client).
#[derive(Clone, Debug)]
enum Link {
    Direct(Arc<Shared>),
    Slot(Arc<Slot>),
}

impl Peer {
    /// Calls `method` on the remote peer and waits for its reply, at most the
    /// peer's default [`PeerConfig::call_timeout`].
    ///
    /// `params` is sent as given: a tuple or array is sent by position, a
    /// struct or map by name.
    ///
    /// Dropping the returned future cancels the call: its pending entry is
    /// freed and, if the request was already sent, the callee is sent
    /// `$/cancelRequest` (see [`CANCEL_METHOD`]).
    pub async fn call<P, R>(&self, method: &str, params: P) -> Result<R, RpcError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        self.call_inner(method, params, self.default_timeout(), |_, _| {}).await
    }

    /// Like [`Peer::call`], with this call's own timeout.
    pub async fn call_with_timeout<P, R>(&self, method: &str, params: P, timeout: Duration) -> Result<R, RpcError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        self.call_inner(method, params, Some(timeout), |_, _| {}).await
    }

    /// Calls a streaming method (one returning `RpcStream<T>`): the items
    /// arrive on the returned stream. Waiting for the stream to start is
    /// bounded by the default call timeout; the stream itself has no timeout.
    /// Dropping the stream cancels it on the remote side.
    pub async fn subscribe<P, T>(&self, method: &str, params: P) -> Result<RpcStream<T>, RpcError>
    where
        P: Serialize,
        T: DeserializeOwned + Send + 'static,
    {
        let mut registered: Option<(Arc<Shared>, u64, mpsc::Receiver<Event>)> = None;
        let register = |shared: &Arc<Shared>, id| {
            let (tx, rx) = mpsc::channel(shared.stream_window + 1);
            shared.consumers().insert(id, tx);
            registered = Some((shared.clone(), id, rx));
        };
        let started = self
            .call_inner::<P, serde::de::IgnoredAny>(method, params, self.default_timeout(), register)
            .await;
        let Some((shared, id, rx)) = registered else {
            return Err(started.expect_err("a call that registered no stream failed"));
        };
        if let Err(e) = started {
            shared.consumers().remove(&id);
            return Err(e);
        }
        Ok(RpcStream::new(Consumer::<T> {
            rx,
            id,
            window: shared.stream_window,
            shared,
            unacked: 0,
            ended: false,
            _item: PhantomData,
        }))
    }

    /// Sends a request and waits for its reply, all within `timeout`;
    /// `on_id` runs with the connection and the request's id before it is sent.
    async fn call_inner<P, R>(
        &self,
        method: &str,
        params: P,
        timeout: Option<Duration>,
        on_id: impl FnOnce(&Arc<Shared>, u64),
    ) -> Result<R, RpcError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        let deadline = deadline_after(timeout);
        let waited;
        let shared = match &self.link {
            Link::Direct(shared) => shared,
            Link::Slot(slot) => {
                waited = slot.connected_before(deadline).await?;
                &waited
            }
        };
        let (id, reply) = shared.register_call(deadline.map(|(at, _)| at))?;
        on_id(shared, id);
        let call = Call {
            shared,
            id,
            limit: deadline.map(|(_, limit)| limit),
        };
        // Boxed: observed calls are the exception; inline, the span and
        // trace would grow every call's future.
        if let Some(trace) = CallTrace::start(&shared.metrics, Direction::Outgoing, method, &id) {
            return Box::pin(call.traced(trace, reply, method, params)).await;
        }
        call.exchange(reply, method, params).await
    }

    /// Sends a notification: no id, no reply. Completes once it is queued.
    pub async fn notify<P: Serialize>(&self, method: &str, params: P) -> Result<(), RpcError> {
        let text = encode_call(None, method, &params).map_err(|e| RpcError::Encode(e.to_string()))?;
        self.send_text(text).await
    }

    /// Sends a notification serialized earlier with [`Notification::new`]:
    /// the way to send one message to many peers while serializing it once.
    pub async fn send_notification(&self, notification: &Notification) -> Result<(), RpcError> {
        self.send_text(notification.text.clone()).await
    }

    async fn send_text(&self, text: String) -> Result<(), RpcError> {
        let timeout = self.default_timeout();
        // Read the clock only where a wait may follow: one deadline for the
        // wait for a connection and the wait for room in the queue.
        let mut deadline = None;
        let shared = match &self.link {
            Link::Direct(shared) => shared.clone(),
            Link::Slot(slot) => {
                deadline = deadline_after(timeout);
                slot.connected_before(deadline).await?
            }
        };
        if shared.done.is_cancelled() {
            return Err(shared.disconnected());
        }
        // Only a full queue makes a notification wait (and needs a timer).
        match shared.try_send(text)? {
            None => Ok(()),
            Some(msg) => {
                within(deadline.or_else(|| deadline_after(timeout)), async {
                    shared.out.send(msg).await.map_err(|_| shared.disconnected())
                })
                .await
            }
        }
    }

    /// Closes the connection with a normal close: pending calls fail with
    /// `Disconnected`. Completes once the close is queued. (For a reconnecting
    /// client: stops reconnecting, for good.)
    pub async fn close(&self) {
        self.close_with(CloseReason::NORMAL).await;
    }

    /// Closes the connection with the given code and reason.
    pub async fn close_with(&self, reason: CloseReason) {
        let shared = match &self.link {
            Link::Direct(shared) => Some(shared.clone()),
            Link::Slot(slot) => {
                slot.stopped.cancel();
                slot.current()
            }
        };
        if let Some(shared) = shared {
            let text = format!("connection closed locally ({} {})", reason.code, reason.reason);
            // The writer sends the close frame, then stops; if it is already
            // gone the connection is over anyway.
            let _ = shared.out.try_send(Outgoing::Close(reason));
            shared.shut_down(&text);
        }
    }

    /// Completes when the connection is over, for whatever reason (for a
    /// reconnecting client: once it has been closed for good).
    pub async fn closed(&self) {
        match &self.link {
            Link::Direct(shared) => shared.done.cancelled().await,
            Link::Slot(slot) => slot.stopped.cancelled().await,
        }
    }

    /// Completes once the connection is over and its tasks have finished:
    /// the close has been sent and every handler has completed or been aborted.
    pub async fn finished(&self) {
        self.closed().await;
        let shared = match &self.link {
            Link::Direct(shared) => Some(shared.clone()),
            Link::Slot(slot) => slot.current(),
        };
        if let Some(shared) = shared {
            shared.done.cancelled().await;
            shared.tasks.wait().await;
        }
    }

    /// True once the connection is over.
    pub fn is_closed(&self) -> bool {
        match &self.link {
            Link::Direct(shared) => shared.done.is_cancelled(),
            Link::Slot(slot) => slot.stopped.is_cancelled(),
        }
    }

    /// Why the (current) connection ended, once it has.
    pub fn close_reason(&self) -> Option<Arc<str>> {
        self.current()?.pending().closed().cloned()
    }

    /// How many incoming calls (and notifications) this peer's handlers are
    /// running: what a graceful shutdown waits for.
    pub fn running_calls(&self) -> usize {
        self.current()
            .map_or(0, |s| s.max_concurrent_calls - s.handler_slots.available_permits())
    }

    /// How many of this peer's outgoing calls await a reply.
    pub fn pending_calls(&self) -> usize {
        self.current().map_or(0, |s| s.pending().len())
    }

    fn current(&self) -> Option<Arc<Shared>> {
        match &self.link {
            Link::Direct(shared) => Some(shared.clone()),
            Link::Slot(slot) => slot.current(),
        }
    }

    fn default_timeout(&self) -> Option<Duration> {
        match &self.link {
            Link::Direct(shared) => shared.call_timeout,
            Link::Slot(slot) => slot.call_timeout,
        }
    }

    fn direct(&self) -> Option<&Arc<Shared>> {
        match &self.link {
            Link::Direct(shared) => Some(shared),
            Link::Slot(_) => None,
        }
    }
}

/// A timeout as the instant it ends (and the limit, for the error).
type Deadline = Option<(Instant, Duration)>;

fn deadline_after(timeout: Option<Duration>) -> Deadline {
    timeout.map(|limit| (Instant::now() + limit, limit))
}

/// Runs `fut`, failing with [`RpcError::Timeout`] once `deadline` (if any) passes.
async fn within<T>(
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
struct Call<'a> {
    shared: &'a Shared,
    id: u64,
    /// The call's timeout (its deadline is in the pending table).
    limit: Option<Duration>,
}

impl Call<'_> {
    async fn traced<P, R>(
        self,
        trace: CallTrace,
        reply: oneshot::Receiver<Answer>,
        method: &str,
        params: P,
    ) -> Result<R, RpcError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        let span = trace.span().clone();
        let result = self.exchange(reply, method, params).instrument(span).await;
        trace.finish(CallOutcome::of_call(&result));
        result
    }

    async fn exchange<P, R>(self, mut reply: oneshot::Receiver<Answer>, method: &str, params: P) -> Result<R, RpcError>
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
        let full = match shared.try_send(text) {
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
            Ok(Some(Err(error))) => Err(RpcError::Call(error)),
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

/// The state behind a [`PeerSlot`].
#[derive(Debug)]
struct Slot {
    current: watch::Sender<Option<Arc<Shared>>>,
    stopped: CancellationToken,
    call_timeout: Option<Duration>,
}

impl Slot {
    fn current(&self) -> Option<Arc<Shared>> {
        self.current.borrow().clone()
    }

    /// The current connection if it is open; otherwise waits for the next
    /// one until `deadline`.
    async fn connected_before(&self, deadline: Deadline) -> Result<Arc<Shared>, RpcError> {
        if let Some(shared) = self.current()
            && !shared.done.is_cancelled()
            && !self.stopped.is_cancelled()
        {
            return Ok(shared);
        }
        // Boxed: only a call that finds no connection waits (and needs a timer).
        Box::pin(within(deadline, self.connected())).await
    }

    /// The current connection if it is open; otherwise waits for the next
    /// one (the caller's timeout bounds the wait).
    async fn connected(&self) -> Result<Arc<Shared>, RpcError> {
        let mut changes = self.current.subscribe();
        loop {
            if self.stopped.is_cancelled() {
                return Err(RpcError::Disconnected("the client was closed".into()));
            }
            if let Some(shared) = changes.borrow_and_update().clone()
                && !shared.done.is_cancelled()
            {
                return Ok(shared);
            }
            // No open connection: wait for the next one (or the stop).
            tokio::select! {
                _ = self.stopped.cancelled() => {}
                _ = changes.changed() => {}
            }
        }
    }
}

/// A [`Peer`] handle whose connection can be replaced: what a reconnecting
/// client hands out. Stubs built on [`PeerSlot::peer`] follow every new
/// connection; while there is none, calls wait (up to their timeout).
/// Calls pending on a connection that drops fail with `Disconnected`; they
/// are never retried (a call may have had effects).
///
/// ```
/// use duplexrpc_core::{PeerBuilder, PeerSlot, transport::memory};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let slot = PeerSlot::new(None);
/// let ((tx, rx), _other_end) = memory::pair();
/// slot.connect(&PeerBuilder::new().start(tx, rx));
/// assert!(!slot.peer().is_closed());
/// slot.peer().close().await; // stops the slot for good
/// assert!(slot.is_stopped());
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct PeerSlot {
    slot: Arc<Slot>,
}

impl PeerSlot {
    /// An empty slot; `call_timeout` is the default timeout of calls made
    /// through it (waiting for a connection included).
    pub fn new(call_timeout: Option<Duration>) -> Self {
        PeerSlot {
            slot: Arc::new(Slot {
                current: watch::Sender::new(None),
                stopped: CancellationToken::new(),
                call_timeout,
            }),
        }
    }

    /// The handle that follows this slot's connections.
    pub fn peer(&self) -> Peer {
        Peer {
            link: Link::Slot(self.slot.clone()),
        }
    }

    /// Puts a (direct) connection in the slot; waiting calls proceed on it.
    /// A slot handle given here is ignored.
    pub fn connect(&self, peer: &Peer) {
        if let Some(shared) = peer.direct() {
            self.slot.current.send_replace(Some(shared.clone()));
        }
    }

    /// True once the slot's peer was closed: reconnecting should stop.
    pub fn is_stopped(&self) -> bool {
        self.slot.stopped.is_cancelled()
    }

    /// Completes once the slot's peer was closed.
    pub async fn stopped(&self) {
        self.slot.stopped.cancelled().await;
    }
}

/// A notification serialized once, to be sent to any number of peers with
/// [`Peer::send_notification`]. Generated clients build typed ones:
/// `BrowserClient::progress_notification(&50)`.
///
/// ```
/// let n = duplexrpc_core::peer::Notification::new("ui.progress", (50,)).unwrap();
/// assert_eq!(n.text(), r#"{"jsonrpc":"2.0","method":"ui.progress","params":[50]}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    text: String,
}

impl Notification {
    /// Serializes a notification of `method` with `params`.
    pub fn new<P: Serialize>(method: &str, params: P) -> Result<Self, RpcError> {
        let text = encode_call(None, method, &params).map_err(|e| RpcError::Encode(e.to_string()))?;
        Ok(Notification { text })
    }

    /// The message text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The notification a caller sends when it gives up on a request it sent
/// (its future was dropped, or it timed out): `{"jsonrpc":"2.0",
/// "method":"$/cancelRequest","params":{"id":<id>}}`, as in LSP. The callee
/// aborts that request's handler and answers it with -32001
/// ([`crate::error::REQUEST_CANCELLED`]); a request that already completed (or
/// one inside a batch) is not affected.
pub const CANCEL_METHOD: &str = "$/cancelRequest";

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
            if let Ok(text) = encode_call(None, CANCEL_METHOD, &CancelParams { id: self.id }) {
                let _ = self.shared.out.try_send(Outgoing::Text(text));
            }
        }
    }
}

/// The params of [`CANCEL_METHOD`].
#[derive(Serialize, serde::Deserialize)]
pub(crate) struct CancelParams<I> {
    pub(crate) id: I,
}

/// Sets up one connection: its [`Peer`] handle exists at once (so services can
/// hold stubs for the remote end), services are registered, then
/// [`PeerBuilder::start`] runs it over a transport.
///
/// ```
/// use duplexrpc_core::{PeerBuilder, PeerConfig};
/// let builder = PeerBuilder::with_config(PeerConfig::default().max_concurrent_calls(64));
/// let peer = builder.peer().clone(); // usable once started
/// # drop(peer);
/// ```
#[derive(Debug)]
pub struct PeerBuilder {
    peer: Peer,
    methods: Methods,
    config: PeerConfig,
}

impl Default for PeerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerBuilder {
    /// A builder with the default [`PeerConfig`].
    pub fn new() -> Self {
        Self::with_config(PeerConfig::default())
    }

    /// A builder with `config`.
    pub fn with_config(config: PeerConfig) -> Self {
        let out = OutQueue::new(config.send_queue);
        let shared = Arc::new(Shared {
            pending: Mutex::new(PendingCalls::with_limit(config.max_pending_calls)),
            out,
            done: CancellationToken::new(),
            tasks: TaskTracker::new(),
            rearm: AtomicBool::new(false),
            call_timeout: config.call_timeout,
            consumers: Mutex::default(),
            stream_window: config.stream_window,
            metrics: config.metrics.clone(),
            handler_slots: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_calls)),
            max_concurrent_calls: config.max_concurrent_calls,
        });
        PeerBuilder {
            peer: Peer {
                link: Link::Direct(shared),
            },
            methods: Methods::new(),
            config,
        }
    }

    /// The handle for this connection.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Registers a service's methods; fails if a method name is taken.
    pub fn register(&mut self, methods: Methods) -> Result<&mut Self, RegisterError> {
        self.methods.merge(methods)?;
        Ok(self)
    }

    /// Starts the connection's task on the current tokio runtime and returns
    /// the peer handle.
    pub fn start<S: Sender, R: Receiver>(self, sender: S, receiver: R) -> Peer {
        self.start_transport((sender, receiver))
    }

    /// Like [`PeerBuilder::start`], over a transport that is one value
    /// (`duplexrpc_ws::WsTransport`, or any `(Sender, Receiver)` pair).
    ///
    /// ```
    /// use duplexrpc_core::{PeerBuilder, transport::memory};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (a, _b) = memory::pair();
    /// let peer = PeerBuilder::new().start_transport(a);
    /// assert!(!peer.is_closed());
    /// # });
    /// ```
    pub fn start_transport<T: Transport>(self, transport: T) -> Peer {
        let PeerBuilder { peer, methods, config } = self;
        static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(0);
        let span = tracing::debug_span!("rpc.connection", conn = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed));
        if let Some(m) = &config.metrics {
            m.connection_opened();
        }
        let shared = peer.direct().expect("a builder's peer is direct");
        let connection = crate::connection::run(crate::connection::Parts {
            transport,
            methods: Arc::new(methods),
            config,
            shared: shared.clone(),
        });
        let tasks = &shared.tasks;
        tasks.spawn(connection.instrument(span));
        tasks.close();
        peer
    }
}
