//! The framework's own methods: every `$/...` notification, its params, and
//! how it is encoded, in one place.
//!
//! * [`CANCEL_METHOD`]: the caller gave up on a request.
//! * [`STREAM_ITEM`], [`STREAM_END`]: the callee's side of a stream.
//! * [`STREAM_CREDIT`], [`STREAM_CANCEL`]: the caller's side of a stream
//!   (see [`crate::stream`] for the whole exchange).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::ErrorObject;
use super::id::Id;
use super::message::encode_call;

/// The notification a caller sends when it gives up on a request it sent
/// (its future was dropped, or it timed out): `{"jsonrpc":"2.0",
/// "method":"$/cancelRequest","params":{"id":<id>}}`, as in LSP. The callee
/// aborts that request's handler and answers it with -32001
/// ([`crate::error::REQUEST_CANCELLED`]); a request that already completed (or
/// one inside a batch) is not affected.
pub const CANCEL_METHOD: &str = "$/cancelRequest";

/// Notification carrying one item.
pub const STREAM_ITEM: &str = "$/stream/item";
/// Notification ending a stream (optionally with an error).
pub const STREAM_END: &str = "$/stream/end";
/// Notification from the consumer: stop producing.
pub const STREAM_CANCEL: &str = "$/stream/cancel";
/// Notification from the consumer: `n` more items may be sent.
pub const STREAM_CREDIT: &str = "$/stream/credit";

/// The params of [`CANCEL_METHOD`]: the id of the request to stop.
#[doc(hidden)]
#[derive(Debug, Serialize, Deserialize)]
pub struct CancelParams<I> {
    /// The request's id.
    pub id: I,
}

/// `$/cancelRequest` for our request `id`.
pub(crate) fn cancel_request(id: u64) -> Option<String> {
    encode_call(None, CANCEL_METHOD, &CancelParams { id }).ok()
}

/// The params of [`STREAM_CREDIT`] and [`STREAM_CANCEL`], as the producer reads them.
#[derive(Deserialize)]
pub(crate) struct CreditParams {
    pub(crate) subscription: Id,
    #[serde(default)]
    pub(crate) n: u32,
}

/// The params of [`STREAM_ITEM`], as the consumer reads them.
#[derive(Deserialize)]
pub(crate) struct ItemParams<'a> {
    pub(crate) subscription: u64,
    #[serde(borrow)]
    pub(crate) item: &'a RawValue,
}

/// The params of [`STREAM_END`], as the consumer reads them.
#[derive(Deserialize)]
pub(crate) struct EndParams {
    pub(crate) subscription: u64,
    #[serde(default)]
    pub(crate) error: Option<ErrorObject>,
}

/// [`STREAM_ITEM`] with `item` (JSON text) for stream `id`.
pub(crate) fn stream_item(id: &Id, item: &str) -> String {
    let mut out = String::with_capacity(80 + item.len());
    out.push_str(r#"{"jsonrpc":"2.0","method":""#);
    out.push_str(STREAM_ITEM);
    out.push_str(r#"","params":{"subscription":"#);
    id.write_json(&mut out);
    out.push_str(r#","item":"#);
    out.push_str(item);
    out.push_str("}}");
    out
}

/// [`STREAM_END`] for stream `id`, with the producer's error if it failed.
pub(crate) fn stream_end(id: &Id, error: Option<&ErrorObject>) -> String {
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

/// [`STREAM_CREDIT`] (with `n`) or [`STREAM_CANCEL`] (without) for our stream `id`.
pub(crate) fn stream_control(method: &str, id: u64, n: Option<usize>) -> Option<String> {
    #[derive(Serialize)]
    struct Control {
        subscription: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        n: Option<usize>,
    }
    encode_call(None, method, &Control { subscription: id, n }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_item_is_the_notification() {
        assert_eq!(
            stream_item(&Id::Number(7), "[1]"),
            r#"{"jsonrpc":"2.0","method":"$/stream/item","params":{"subscription":7,"item":[1]}}"#
        );
    }
}
