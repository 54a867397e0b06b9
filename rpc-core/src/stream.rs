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

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorObject, RpcError};
use crate::id::Id;
use crate::message::{EncodedResult, encode_call};
use crate::outgoing::Outgoing;
use crate::peer::Shared;

/// Notification carrying one item.
pub const STREAM_ITEM: &str = "$/stream/item";
/// Notification ending a stream (optionally with an error).
pub const STREAM_END: &str = "$/stream/end";
/// Notification from the consumer: stop producing.
pub const STREAM_CANCEL: &str = "$/stream/cancel";
/// Notification from the consumer: `n` more items may be sent.
pub const STREAM_CREDIT: &str = "$/stream/credit";

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

/// What a handler produced: a value, or a stream of items.
pub enum Outcome {
    /// A plain result.
    Value(EncodedResult),
    /// A stream; the reply is `null` and items follow as notifications.
    Stream(ItemStream),
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Value(v) => f.debug_tuple("Value").field(v).finish(),
            Outcome::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// Turns a streaming handler's outcome into what the dispatcher runs.
pub fn encode_stream<T, E>(outcome: Result<RpcStream<T>, E>) -> Result<Outcome, ErrorObject>
where
    T: Serialize + 'static,
    E: Into<RpcError>,
{
    let stream = outcome.map_err(|e| e.into().into_object())?;
    let items = stream.map(|item| match item {
        Ok(value) => serde_json::to_string(&value).map_err(ErrorObject::internal),
        Err(e) => Err(e.into_object()),
    });
    Ok(Outcome::Stream(Box::pin(items)))
}

// ------------------------------------------------------------ callee side

/// Control of one running producer.
#[derive(Debug)]
struct Producer {
    credits: Semaphore,
    cancel: CancellationToken,
}

/// The producers of one connection, by the consumer's request id.
#[derive(Clone, Debug)]
pub(crate) struct Producers {
    shared: Arc<Shared>,
    window: usize,
    running: Arc<Mutex<HashMap<Id, Arc<Producer>>>>,
}

#[derive(Deserialize)]
struct CreditParams {
    subscription: Id,
    #[serde(default)]
    n: u32,
}

impl Producers {
    pub(crate) fn new(shared: Arc<Shared>, window: usize) -> Self {
        Producers {
            shared,
            window,
            running: Arc::default(),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Arc<Producer>>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts streaming `items` for request `id` (a task of its own that ends
    /// with the stream, on cancel, or when the connection ends) and returns
    /// the reply to the request.
    pub(crate) fn start(&self, id: &Id, items: ItemStream) -> String {
        let producer = Arc::new(Producer {
            credits: Semaphore::new(self.window),
            cancel: CancellationToken::new(),
        });
        self.running().insert(id.clone(), producer.clone());
        let this = self.clone();
        let sub = id.clone();
        tokio::spawn(async move {
            this.produce(&sub, items, &producer).await;
            let mut running = this.running();
            if running.get(&sub).is_some_and(|p| Arc::ptr_eq(p, &producer)) {
                running.remove(&sub);
            }
        });
        EncodedResult::encode(&()).expect("null encodes").finish(id)
    }

    async fn produce(&self, id: &Id, mut items: ItemStream, producer: &Producer) {
        let stop = async {
            tokio::select! {
                _ = producer.cancel.cancelled() => {}
                _ = self.shared.done.cancelled() => {}
            }
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => return,
                permit = producer.credits.acquire() => permit.expect("never closed").forget(),
            }
            let next = tokio::select! {
                biased;
                _ = &mut stop => return,
                next = items.next() => next,
            };
            let last = !matches!(next, Some(Ok(_)));
            let text = match next {
                Some(Ok(item)) => item_message(id, &item),
                Some(Err(error)) => end_message(id, Some(&error)),
                None => end_message(id, None),
            };
            tokio::select! {
                biased;
                _ = &mut stop => return,
                _ = self.shared.out.send(Outgoing::Text(text)) => {}
            }
            if last {
                return;
            }
        }
    }

    /// `$/stream/credit` and `$/stream/cancel`.
    pub(crate) fn control(&self, method: &str, params: Option<&RawValue>) {
        let Some(CreditParams { subscription, n }) = params.and_then(|p| serde_json::from_str(p.get()).ok()) else {
            return tracing::debug!(method, "ignoring malformed stream control");
        };
        let producer = self.running().get(&subscription).cloned();
        let Some(producer) = producer else { return };
        if method == STREAM_CANCEL {
            producer.cancel.cancel();
            self.running().remove(&subscription);
        } else {
            // Never more credit than the window: a confused peer cannot
            // make the producer outrun its consumer's buffer.
            let room = self.window.saturating_sub(producer.credits.available_permits());
            producer.credits.add_permits((n as usize).min(room));
        }
    }
}

fn item_message(id: &Id, item: &str) -> String {
    let mut out = String::with_capacity(80 + item.len());
    out.push_str(r#"{"jsonrpc":"2.0","method":"$/stream/item","params":{"subscription":"#);
    id.write_json(&mut out);
    out.push_str(r#","item":"#);
    out.push_str(item);
    out.push_str("}}");
    out
}

fn end_message(id: &Id, error: Option<&ErrorObject>) -> String {
    #[derive(Serialize)]
    struct End<'a> {
        subscription: &'a Id,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a ErrorObject>,
    }
    encode_call(
        None,
        STREAM_END,
        &End {
            subscription: id,
            error,
        },
    )
    .expect("stream end encodes")
}

// ------------------------------------------------------------ caller side

/// What the reader hands a consumer.
#[derive(Debug)]
pub(crate) enum Event {
    Item(Box<RawValue>),
    End(Option<ErrorObject>),
}

/// The consumers of one connection, by our request id.
pub(crate) type Consumers = HashMap<u64, mpsc::Sender<Event>>;

#[derive(Deserialize)]
struct ItemParams<'a> {
    subscription: u64,
    #[serde(borrow)]
    item: &'a RawValue,
}

#[derive(Deserialize)]
struct EndParams {
    subscription: u64,
    #[serde(default)]
    error: Option<ErrorObject>,
}

/// `$/stream/item` and `$/stream/end`: hands the event to its consumer.
pub(crate) fn deliver(shared: &Shared, method: &str, params: Option<&RawValue>) {
    let raw = params.map_or("null", RawValue::get);
    let (subscription, event) = if method == STREAM_ITEM {
        match serde_json::from_str::<ItemParams<'_>>(raw) {
            Ok(p) => (p.subscription, Event::Item(p.item.to_owned())),
            Err(e) => return tracing::warn!(error = %e, "dropping malformed stream item"),
        }
    } else {
        match serde_json::from_str::<EndParams>(raw) {
            Ok(p) => (p.subscription, Event::End(p.error)),
            Err(e) => return tracing::warn!(error = %e, "dropping malformed stream end"),
        }
    };
    let end = matches!(event, Event::End(_));
    let mut consumers = shared.consumers();
    let Some(tx) = consumers.get(&subscription) else {
        return tracing::debug!(subscription, "dropping event of an unknown stream");
    };
    if tx.try_send(event).is_err() {
        // The producer ignored its credits (or the consumer is gone): end the
        // stream rather than buffer without bound.
        tracing::warn!(subscription, "stream overflow: the producer exceeded its window");
        consumers.remove(&subscription);
    } else if end {
        consumers.remove(&subscription);
    }
}

/// The caller's side of a stream.
pub(crate) struct Consumer<T> {
    pub(crate) rx: mpsc::Receiver<Event>,
    pub(crate) id: u64,
    pub(crate) shared: Arc<Shared>,
    pub(crate) window: usize,
    pub(crate) unacked: usize,
    pub(crate) ended: bool,
    pub(crate) _item: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Stream for Consumer<T> {
    type Item = Result<T, RpcError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let event = match self.rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(event) => event,
        };
        Poll::Ready(match event {
            Some(Event::Item(raw)) => {
                self.unacked += 1;
                if self.unacked * 2 >= self.window {
                    let n = std::mem::take(&mut self.unacked);
                    self.send_control(STREAM_CREDIT, Some(n));
                }
                Some(serde_json::from_str(raw.get()).map_err(|e| RpcError::Decode(e.to_string())))
            }
            Some(Event::End(error)) => {
                self.ended = true;
                error.map(|e| Err(RpcError::Call(e)))
            }
            None => {
                self.ended = true;
                Some(Err(self.shared.disconnected()))
            }
        })
    }
}

impl<T> Consumer<T> {
    /// Sends a credit or a cancel without blocking the consumer.
    fn send_control(&self, method: &str, n: Option<usize>) {
        #[derive(Serialize)]
        struct Control {
            subscription: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            n: Option<usize>,
        }
        let Ok(text) = encode_call(
            None,
            method,
            &Control {
                subscription: self.id,
                n,
            },
        ) else {
            return;
        };
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(msg)) = self.shared.out.try_send(Outgoing::Text(text)) {
            // The queue is full: hand the message to a task so a credit is
            // never lost (a lost credit would stall the stream).
            let shared = self.shared.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = shared.out.send(msg).await;
                });
            }
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        if !self.ended && self.shared.consumers().remove(&self.id).is_some() {
            self.send_control(STREAM_CANCEL, None);
        }
    }
}
