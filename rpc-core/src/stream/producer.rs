//! The callee's side of a stream: one task per stream, on the connection's
//! task tracker, that sends items as the consumer's credit allows.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::value::RawValue;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{ItemStream, Link};
use crate::wire::error::{ErrorObject, SERVER_BUSY};
use crate::wire::id::Id;
use crate::wire::message::{EncodedResult, encode_error};
use crate::wire::protocol::{CreditParams, STREAM_CANCEL, stream_end, stream_item};

/// Control of one running producer.
#[derive(Debug)]
pub(super) struct Producer {
    credits: Semaphore,
    cancel: CancellationToken,
}

/// The producers of one connection, by the consumer's request id.
pub(super) type Producers = HashMap<Id, Arc<Producer>>;

/// Starts streaming `items` for request `id` (a task on the connection's
/// tracker that ends with the stream, on cancel, or when the connection
/// ends) and returns the reply to the request.
///
/// A stream over [`crate::PeerConfig::max_streams`] or
/// [`crate::PeerConfig::max_total_streams`] does not start: the reply is
/// -32000 "Server busy", with data saying which limit.
pub(crate) fn start<L: Link>(link: &Arc<L>, id: &Id, items: ItemStream) -> String {
    let streams = link.streams();
    let place = match streams.place() {
        Ok(place) => place,
        Err(why) => {
            let busy = ErrorObject::new(SERVER_BUSY, "Server busy").with_data(why.into());
            return encode_error(&busy, id);
        }
    };
    let producer = Arc::new(Producer {
        credits: Semaphore::new(streams.window),
        cancel: CancellationToken::new(),
    });
    streams.producers().insert(id.clone(), producer.clone());
    let link = link.clone();
    let sub = id.clone();
    link.tasks().clone().spawn(async move {
        let _place = place;
        produce(&*link, &sub, items, &producer).await;
        let mut running = link.streams().producers();
        if running.get(&sub).is_some_and(|p| Arc::ptr_eq(p, &producer)) {
            running.remove(&sub);
        }
    });
    EncodedResult::encode(&()).expect("null encodes").finish(id)
}

async fn produce<L: Link>(link: &L, id: &Id, mut items: ItemStream, producer: &Producer) {
    let stop = async {
        tokio::select! {
            _ = producer.cancel.cancelled() => {}
            _ = link.done().cancelled() => {}
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
            Some(Ok(item)) => stream_item(id, &item),
            Some(Err(error)) => stream_end(id, Some(&error)),
            None => stream_end(id, None),
        };
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = link.queue(text) => {}
        }
        if last {
            return;
        }
    }
}

impl super::Streams {
    /// `$/stream/credit` and `$/stream/cancel`.
    pub(crate) fn control(&self, method: &str, params: Option<&RawValue>) {
        let Some(CreditParams { subscription, n }) = params.and_then(|p| serde_json::from_str(p.get()).ok()) else {
            return tracing::debug!(method, "ignoring malformed stream control");
        };
        let producer = self.producers().get(&subscription).cloned();
        let Some(producer) = producer else { return };
        if method == STREAM_CANCEL {
            producer.cancel.cancel();
            self.producers().remove(&subscription);
        } else {
            // Never more credit than the window: a confused peer cannot
            // make the producer outrun its consumer's buffer.
            let room = self.window.saturating_sub(producer.credits.available_permits());
            producer.credits.add_permits((n as usize).min(room));
        }
    }
}
