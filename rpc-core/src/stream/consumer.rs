//! The caller's side of a stream: the reader hands each item to its
//! consumer's bounded buffer; the consumer returns credit as it reads.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{Link, Streams};
use crate::wire::error::{ErrorObject, RpcError};
use crate::wire::protocol::{EndParams, ItemParams, STREAM_CANCEL, STREAM_CREDIT, STREAM_ITEM, stream_control};

/// What the reader hands a consumer.
#[derive(Debug)]
pub(crate) enum Event {
    Item(Box<RawValue>),
    End(Option<ErrorObject>),
}

/// The consumers of one connection, by our request id.
pub(super) type Consumers = HashMap<u64, mpsc::Sender<Event>>;

/// `$/stream/item` and `$/stream/end`: hands the event to its consumer.
pub(crate) fn deliver(streams: &Streams, method: &str, params: Option<&RawValue>) {
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
    let mut consumers = streams.consumers();
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
pub(crate) struct Consumer<T, L: Link> {
    rx: mpsc::Receiver<Event>,
    id: u64,
    link: Arc<L>,
    window: usize,
    unacked: usize,
    ended: bool,
    _item: PhantomData<fn() -> T>,
}

impl<T, L: Link> Consumer<T, L> {
    /// The consumer of the stream our request `id` started on `link`
    /// (`rx` from [`Streams::open`]).
    pub(crate) fn new(link: Arc<L>, id: u64, rx: mpsc::Receiver<Event>) -> Self {
        Consumer {
            rx,
            id,
            window: link.streams().window,
            link,
            unacked: 0,
            ended: false,
            _item: PhantomData,
        }
    }

    /// Sends a credit or a cancel without blocking the consumer.
    fn send_control(&self, method: &str, n: Option<usize>) {
        let Some(text) = stream_control(method, self.id, n) else {
            return;
        };
        if let Some(text) = self.link.try_queue(text) {
            // The queue is full: hand the message to a task so a credit is
            // never lost (a lost credit would stall the stream).
            let link = self.link.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    link.queue(text).await;
                });
            }
        }
    }
}

impl<T: DeserializeOwned, L: Link> Stream for Consumer<T, L> {
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
                Some(Err(self.link.disconnected()))
            }
        })
    }
}

impl<T, L: Link> Drop for Consumer<T, L> {
    fn drop(&mut self) {
        if !self.ended && self.link.streams().consumers().remove(&self.id).is_some() {
            self.send_control(STREAM_CANCEL, None);
        }
    }
}
