//! Typed streams (subscriptions), in both directions.
//!
//! A trait method returning `Result<RpcStream<T>, RpcError>` streams items of
//! `T` to its caller. On the wire (the caller's request id names the stream,
//! so the caller can route items that arrive before the reply):
//!
//! * caller -> callee: the request, e.g. `{"jsonrpc":"2.0","id":7,"method":"ticks","params":[10]}`;
//!   the callee answers `{"jsonrpc":"2.0","result":null,"id":7}` once the stream exists
//!   (or an error reply, and no stream);
//! * callee -> caller, per item: `{"jsonrpc":"2.0","method":"$/stream/item","params":{"subscription":7,"item":<T>}}`;
//! * callee -> caller, at the end: `{"jsonrpc":"2.0","method":"$/stream/end","params":{"subscription":7}}`,
//!   with `"error":{...}` when the producer failed (the caller's stream yields that error, then ends);
//! * caller -> callee: `{"jsonrpc":"2.0","method":"$/stream/credit","params":{"subscription":7,"n":32}}`
//!   after consuming `n` items, and `$/stream/cancel` with `{"subscription":7}` when it drops the stream.
//!
//! Flow control: the callee may have at most [`crate::PeerConfig::stream_window`]
//! items in flight per stream (each consumed item returns one credit), so a
//! slow consumer back-pressures the producer and no buffer grows without
//! bound. When the connection ends, an unfinished stream yields
//! [`RpcError::Disconnected`] once, then ends: the application can tell a lost
//! connection from a finished stream and resubscribe.
//!
//! One owner: a connection's `Streams` holds both the streams this end
//! consumes (`consumer`) and the ones it produces (`producer`); both reach
//! their connection only through `Link`.

mod consumer;
mod producer;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::wire::error::{ErrorObject, RpcError};

pub use crate::wire::protocol::{STREAM_CANCEL, STREAM_CREDIT, STREAM_END, STREAM_ITEM};
pub(crate) use consumer::{Consumer, deliver};
pub(crate) use producer::start;

/// A typed stream of items: what a streaming method returns on the callee
/// side (build it from any `Stream` with [`RpcStream::new`]) and what the
/// caller receives (a `Stream` of `Result<T, RpcError>`).
///
/// ```
/// use futures::StreamExt;
/// use duplexrpc_core::{rpc, PeerBuilder, RpcError, RpcStream, transport::memory};
///
/// #[rpc]
/// trait Clock {
///     /// `n` ticks.
///     async fn ticks(&self, n: u32) -> Result<RpcStream<u32>, RpcError>;
/// }
///
/// struct Ticker;
/// impl Clock for Ticker {
///     async fn ticks(&self, n: u32) -> Result<RpcStream<u32>, RpcError> {
///         Ok(RpcStream::iter(0..n))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
/// let mut server = PeerBuilder::new();
/// server.register(Ticker.into_methods()).unwrap();
/// server.start(a_tx, a_rx);
/// let clock = ClockClient::new(PeerBuilder::new().start(b_tx, b_rx));
/// let ticks: Vec<u32> = clock.ticks(3).await.unwrap().map(Result::unwrap).collect().await;
/// assert_eq!(ticks, [0, 1, 2]);
/// # });
/// ```
pub struct RpcStream<T> {
    inner: Pin<Box<dyn Stream<Item = Result<T, RpcError>> + Send>>,
}

impl<T> RpcStream<T> {
    /// Wraps a stream of items or errors.
    pub fn new<S>(stream: S) -> Self
    where
        S: Stream<Item = Result<T, RpcError>> + Send + 'static,
    {
        RpcStream {
            inner: Box::pin(stream),
        }
    }

    /// A stream of the given items.
    pub fn iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: 'static,
    {
        Self::new(futures::stream::iter(items.into_iter().map(Ok)))
    }
}

impl<T> Stream for RpcStream<T> {
    type Item = Result<T, RpcError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T> fmt::Debug for RpcStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RpcStream")
    }
}

/// A stream's items as JSON text (callee side, type-erased).
pub type ItemStream = Pin<Box<dyn Stream<Item = Result<String, ErrorObject>> + Send>>;

/// What a stream needs from its connection (the connection's shared state
/// implements it): the seam that keeps this module below the connection.
pub(crate) trait Link: Send + Sync + 'static {
    /// The connection's streams.
    fn streams(&self) -> &Streams;
    /// Queues `text`, waiting for room; gives up once the connection is over.
    fn queue(&self, text: String) -> impl Future<Output = ()> + Send + '_;
    /// Queues `text` if there is room; gives it back if the queue is full (a
    /// closed queue drops it).
    fn try_queue(&self, text: String) -> Option<String>;
    /// Cancelled once the connection is over.
    fn done(&self) -> &CancellationToken;
    /// The connection's tasks: producers run on it.
    fn tasks(&self) -> &TaskTracker;
    /// The error a call (or stream) sees once the connection is over.
    fn disconnected(&self) -> RpcError;
}

/// How many streams may be produced at once (`PeerConfig::max_streams`,
/// `PeerConfig::max_total_streams`).
#[derive(Debug)]
pub(crate) struct StreamLimits {
    pub(crate) per_connection: usize,
    pub(crate) total: usize,
    /// Producing now, on every connection sharing the budget.
    pub(crate) open_total: Arc<AtomicUsize>,
}

/// One producing stream's place under both limits; given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    open: Arc<AtomicUsize>,
    open_total: Arc<AtomicUsize>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.open_total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes one of `limit` places counted in `count`; false if none is left.
fn take(count: &AtomicUsize, limit: usize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
        .is_ok()
}

/// The streams of one connection, both ways: their single owner.
#[derive(Debug)]
pub(crate) struct Streams {
    /// Items in flight per stream (see [`crate::PeerConfig::stream_window`]).
    window: usize,
    limits: StreamLimits,
    /// Streams this connection produces now (producer tasks running).
    open: Arc<AtomicUsize>,
    /// Streams this end consumes, by our request id.
    consumers: Mutex<consumer::Consumers>,
    /// Streams this end produces, by the consumer's request id.
    producers: Mutex<producer::Producers>,
}

impl Streams {
    pub(crate) fn new(window: usize, limits: StreamLimits) -> Self {
        Streams {
            window,
            limits,
            open: Arc::default(),
            consumers: Mutex::default(),
            producers: Mutex::default(),
        }
    }

    fn consumers(&self) -> MutexGuard<'_, consumer::Consumers> {
        self.consumers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn producers(&self) -> MutexGuard<'_, producer::Producers> {
        self.producers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one more producing stream, or the reason there is none.
    pub(crate) fn place(&self) -> Result<Place, String> {
        if !take(&self.open, self.limits.per_connection) {
            return Err(format!(
                "too many open streams on this connection (limit {})",
                self.limits.per_connection
            ));
        }
        if !take(&self.limits.open_total, self.limits.total) {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(format!(
                "too many open streams on this server (limit {})",
                self.limits.total
            ));
        }
        Ok(Place {
            open: self.open.clone(),
            open_total: self.limits.open_total.clone(),
        })
    }

    /// Opens the consumer side of the stream our request `id` starts.
    pub(crate) fn open(&self, id: u64) -> mpsc::Receiver<consumer::Event> {
        let (tx, rx) = mpsc::channel(self.window + 1);
        self.consumers().insert(id, tx);
        rx
    }

    /// Forgets the consumer of `id` (its request failed).
    pub(crate) fn close(&self, id: u64) {
        self.consumers().remove(&id);
    }

    /// The connection is over: every consumed stream ends with `Disconnected`.
    pub(crate) fn end_consumers(&self) {
        let consumers = std::mem::take(&mut *self.consumers());
        drop(consumers);
    }
}
