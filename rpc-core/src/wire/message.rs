//! Wire format: classifying incoming JSON text and encoding outgoing messages.
//!
//! Both ends of a connection are clients and servers at once, so every
//! incoming message (and every element of a batch) is classified on its own:
//!
//! * it has a `method`: a request if it has an `id` (even `null`), else a
//!   notification. `jsonrpc` must be `"2.0"` and `params`, when present, an
//!   array or an object (`"params": null` is not), or the reply is -32600.
//! * it has no `method` but a `result` or an `error`: a response, matched to a
//!   pending call by id; a malformed or unmatched response is never answered
//!   (answering could start an error ping-pong between two peers). A
//!   malformed one with a readable id fails the call it answers (as
//!   `RpcError::Decode`); the rest are logged and dropped.
//! * anything else: -32600 Invalid Request, with its id when it has a valid
//!   one and `null` otherwise.
//!
//! Unknown members are ignored. Outgoing messages are written straight into
//! one `String` each, with no intermediate `Value` tree.

use std::borrow::Cow;
use std::cell::Cell;

use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::error::{ErrorCode, ErrorObject};
use super::id::Id;
use super::json::append_json;

/// One classified incoming message, borrowing from the received text.
#[derive(Clone, Debug)]
pub enum Incoming<'a> {
    /// A call that wants a reply.
    Request {
        /// Its id.
        id: Id,
        /// The method name.
        method: Cow<'a, str>,
        /// Its params, unparsed.
        params: Option<&'a RawValue>,
    },
    /// A call that wants no reply.
    Notification {
        /// The method name.
        method: Cow<'a, str>,
        /// Its params, unparsed.
        params: Option<&'a RawValue>,
    },
    /// A reply to one of our calls.
    Response {
        /// The id of the call it answers.
        id: Id,
        /// The `result`, unparsed, or the `error`.
        outcome: Result<&'a RawValue, ErrorObject>,
    },
    /// Not a valid request: to be answered with -32600 and this id.
    Invalid {
        /// The id to answer with (`null` when it could not be read).
        id: Id,
    },
    /// A malformed response: never answered; fails the call `id` when it
    /// could be read, else logged and dropped.
    BadResponse {
        /// The id of the call it answers, when it has a valid one.
        id: Option<Id>,
        /// What is wrong with it.
        reason: String,
    },
}

impl PartialEq for Incoming<'_> {
    fn eq(&self, other: &Self) -> bool {
        fn raw(r: Option<&RawValue>) -> Option<&str> {
            r.map(RawValue::get)
        }
        match (self, other) {
            (
                Incoming::Request { id, method, params },
                Incoming::Request {
                    id: id2,
                    method: method2,
                    params: params2,
                },
            ) => id == id2 && method == method2 && raw(*params) == raw(*params2),
            (
                Incoming::Notification { method, params },
                Incoming::Notification {
                    method: method2,
                    params: params2,
                },
            ) => method == method2 && raw(*params) == raw(*params2),
            (
                Incoming::Response { id, outcome },
                Incoming::Response {
                    id: id2,
                    outcome: outcome2,
                },
            ) => id == id2 && outcome.as_ref().map(|r| r.get()) == outcome2.as_ref().map(|r| r.get()),
            (Incoming::Invalid { id }, Incoming::Invalid { id: id2 }) => id == id2,
            (
                Incoming::BadResponse { id, reason },
                Incoming::BadResponse {
                    id: id2,
                    reason: reason2,
                },
            ) => id == id2 && reason == reason2,
            _ => false,
        }
    }
}

/// A whole incoming text frame.
#[derive(Debug, PartialEq)]
pub enum Frame<'a> {
    /// A single message.
    Single(Incoming<'a>),
    /// A non-empty batch.
    Batch(Vec<Incoming<'a>>),
    /// Not JSON: answered with -32700 and id `null`.
    ParseError,
    /// An empty batch `[]`: answered with a single -32600 (not an array).
    EmptyBatch,
}

/// The members we look at; everything else is skipped unparsed.
#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// Keeps a member that is present with value `null` apart from an absent one.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Classifies one received text frame.
pub fn parse_frame(text: &str) -> Frame<'_> {
    parse_frame_limited(text, usize::MAX).unwrap_or(Frame::ParseError)
}

/// A batch had more elements than the limit (see [`parse_frame_limited`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("batch longer than the limit of {limit} elements")]
pub struct BatchTooLong {
    /// The limit it exceeded.
    pub limit: usize,
}

/// Like [`parse_frame`], but a batch of more than `max_batch_len` elements
/// is rejected as soon as its element `max_batch_len + 1` has been scanned:
/// nothing after it is looked at, and no element is classified, so an
/// oversize batch costs no more than a scan of its first `max_batch_len`
/// elements.
///
/// ```
/// use duplexrpc_core::message::{BatchTooLong, Frame, parse_frame_limited};
/// assert!(matches!(parse_frame_limited("[1,2]", 2), Ok(Frame::Batch(_))));
/// assert_eq!(parse_frame_limited("[1,2,3, this is never read", 2), Err(BatchTooLong { limit: 2 }));
/// ```
pub fn parse_frame_limited(text: &str, max_batch_len: usize) -> Result<Frame<'_>, BatchTooLong> {
    if super::json::first_byte(text) == Some(b'[') {
        let too_long = Cell::new(false);
        return match parse_batch(text, max_batch_len, &too_long) {
            _ if too_long.get() => Err(BatchTooLong { limit: max_batch_len }),
            Ok(items) if items.is_empty() => Ok(Frame::EmptyBatch),
            Ok(items) => Ok(Frame::Batch(
                items.into_iter().map(|raw| classify_value(raw.get())).collect(),
            )),
            Err(_) => Ok(Frame::ParseError),
        };
    }
    Ok(parse_single(text))
}

/// The elements of a batch, unparsed; stops (and sets `too_long`) at
/// element `limit + 1`.
fn parse_batch<'a>(text: &'a str, limit: usize, too_long: &Cell<bool>) -> serde_json::Result<Vec<&'a RawValue>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let items = Elements { limit, too_long }.deserialize(&mut de)?;
    de.end()?;
    Ok(items)
}

/// Collects a batch's elements, up to `limit` of them.
struct Elements<'c> {
    limit: usize,
    too_long: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a batch")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.limit).min(1024));
        while let Some(item) = seq.next_element::<&RawValue>()? {
            if items.len() == self.limit {
                self.too_long.set(true);
                return Err(serde::de::Error::custom("batch too long"));
            }
            items.push(item);
        }
        Ok(items)
    }
}

fn parse_single(text: &str) -> Frame<'_> {
    match serde_json::from_str::<RawMessage<'_>>(text) {
        Ok(raw) => Frame::Single(classify(raw)),
        Err(_) if serde_json::from_str::<IgnoredAny>(text).is_ok() => Frame::Single(Incoming::Invalid { id: Id::Null }),
        Err(_) => Frame::ParseError,
    }
}

/// Classifies one element of a batch (already known to be valid JSON).
fn classify_value(text: &str) -> Incoming<'_> {
    match serde_json::from_str::<RawMessage<'_>>(text) {
        Ok(raw) => classify(raw),
        Err(_) => Incoming::Invalid { id: Id::Null },
    }
}

fn classify(raw: RawMessage<'_>) -> Incoming<'_> {
    let version_ok = raw.jsonrpc.is_some_and(|v| v.get() == r#""2.0""#);
    if let Some(method) = raw.method {
        return classify_call(raw.id, method, raw.params, version_ok);
    }
    if raw.result.is_some() || raw.error.is_some() {
        return classify_response(&raw, version_ok);
    }
    Incoming::Invalid {
        id: raw.id.and_then(parse_id).unwrap_or_default(),
    }
}

fn classify_call<'a>(
    id: Option<&'a RawValue>,
    method: &'a RawValue,
    params: Option<&'a RawValue>,
    version_ok: bool,
) -> Incoming<'a> {
    let parsed_id = match id {
        Some(raw) => match parse_id(raw) {
            Some(id) => Some(id),
            None => return Incoming::Invalid { id: Id::Null },
        },
        None => None,
    };
    let invalid = || Incoming::Invalid {
        id: parsed_id.clone().unwrap_or_default(),
    };
    let Some(method) = parse_str(method) else {
        return invalid();
    };
    if !version_ok || !params.is_none_or(is_structured) {
        return invalid();
    }
    match parsed_id {
        Some(id) => Incoming::Request { id, method, params },
        None => Incoming::Notification { method, params },
    }
}

fn classify_response<'a>(raw: &RawMessage<'a>, version_ok: bool) -> Incoming<'a> {
    let id = raw.id.and_then(parse_id);
    let bad = |reason: String| Incoming::BadResponse { id: id.clone(), reason };
    if !version_ok {
        return bad("missing or wrong \"jsonrpc\" member".to_owned());
    }
    let Some(id) = id.clone() else {
        return bad("missing or invalid id".to_owned());
    };
    let outcome = match (raw.result, raw.error) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => match serde_json::from_str::<ErrorObject>(error.get()) {
            Ok(e) => Err(e),
            Err(e) => return bad(format!("malformed error object {}: {e}", excerpt(error.get()))),
        },
        _ => return bad("both \"result\" and \"error\"".to_owned()),
    };
    Incoming::Response { id, outcome }
}

/// At most the first 120 bytes of `text` (cut at a character boundary), for
/// a reason that quotes what the other end sent.
fn excerpt(text: &str) -> Cow<'_, str> {
    const MAX: usize = 120;
    if text.len() <= MAX {
        return Cow::Borrowed(text);
    }
    let end = (0..=MAX).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    Cow::Owned(format!("{}...", &text[..end]))
}

fn parse_id(raw: &RawValue) -> Option<Id> {
    // Fast path for the usual plain integer id. `raw` is valid JSON, so it has
    // no `+` or leading zero that `str::parse` would accept and JSON would not;
    // anything else (strings, fractions, huge numbers) goes to serde_json.
    if let Ok(n) = raw.get().parse::<i64>() {
        return Some(Id::Number(n));
    }
    serde_json::from_str(raw.get()).ok()
}

fn parse_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    // Fast path: `raw` is valid JSON, so a quoted text without a backslash is
    // a string whose value is exactly its inside.
    if let Some(inner) = raw.get().strip_prefix('"').and_then(|t| t.strip_suffix('"'))
        && !inner.contains('\\')
    {
        return Some(Cow::Borrowed(inner));
    }
    if let Ok(s) = serde_json::from_str::<&str>(raw.get()) {
        return Some(Cow::Borrowed(s));
    }
    serde_json::from_str::<String>(raw.get()).ok().map(Cow::Owned)
}

fn is_structured(raw: &RawValue) -> bool {
    matches!(raw.get().as_bytes().first(), Some(b'[' | b'{'))
}

// ---------------------------------------------------------------- encoding

const SUCCESS_PREFIX: &str = r#"{"jsonrpc":"2.0","result":"#;

/// A successful result already serialized as the first part of its response
/// message (`{"jsonrpc":"2.0","result":<value>`), so the full reply is built
/// in one allocation once the id is appended.
#[derive(Debug)]
pub struct EncodedResult(String);

impl EncodedResult {
    /// Serializes `value` as a result.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, ErrorObject> {
        let mut out = String::with_capacity(64);
        out.push_str(SUCCESS_PREFIX);
        append_json(&mut out, value).map_err(ErrorObject::internal)?;
        Ok(EncodedResult(out))
    }

    /// The complete response message for the request `id`.
    pub fn finish(mut self, id: &Id) -> String {
        self.0.push_str(r#","id":"#);
        id.write_json(&mut self.0);
        self.0.push('}');
        self.0
    }

    /// The serialized result value alone.
    pub fn value(&self) -> &str {
        &self.0[SUCCESS_PREFIX.len()..]
    }
}

/// The complete error response for the request `id`.
pub fn encode_error(error: &ErrorObject, id: &Id) -> String {
    let mut out = String::with_capacity(96);
    out.push_str(r#"{"jsonrpc":"2.0","error":"#);
    // An ErrorObject always serializes (its data is a plain Value).
    append_json(&mut out, error).expect("ErrorObject serializes");
    out.push_str(r#","id":"#);
    id.write_json(&mut out);
    out.push('}');
    out
}

/// The error response to a malformed frame, e.g. -32700 with id `null`.
pub fn encode_code(code: ErrorCode, id: &Id) -> String {
    encode_error(&ErrorObject::from_code(code), id)
}

/// A request (`id` is `Some`) or a notification.
pub fn encode_call<P: Serialize + ?Sized>(
    id: Option<u64>,
    method: &str,
    params: &P,
) -> Result<String, serde_json::Error> {
    // Written as bytes and checked as UTF-8 once at the end: 58 ns per
    // `add(i64, i64)` request, against 80 ns appending to a `String` piece by
    // piece (one check per piece) and 113 ns for one `serde_json::to_string`
    // of a struct (it escapes every key).
    let mut out = Vec::with_capacity(64 + method.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","#);
    if let Some(id) = id {
        out.extend_from_slice(br#""id":"#);
        push_u64(&mut out, id);
        out.push(b',');
    }
    out.extend_from_slice(br#""method":"#);
    serde_json::to_writer(&mut out, method)?;
    let params_start = out.len();
    out.extend_from_slice(br#","params":"#);
    serde_json::to_writer(&mut out, params)?;
    // `"params":null` is invalid (params must be an array or an object): params
    // that serialize to `null`, such as `()`, omit the member instead.
    if out[params_start..] == *br#","params":null"# {
        out.truncate(params_start);
    }
    out.push(b'}');
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// Appends the decimal digits of `n` (no `fmt` machinery: this runs per call).
pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(text: &str) -> Incoming<'_> {
        match parse_frame(text) {
            Frame::Single(m) => m,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn requests_and_notifications() {
        let m = single(r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#);
        let Incoming::Request { id, method, params } = m else {
            panic!("{m:?}")
        };
        assert_eq!(
            (id, &*method, params.unwrap().get()),
            (Id::Number(1), "subtract", "[42, 23]")
        );

        let m = single(
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": "x"}"#,
        );
        assert!(matches!(m, Incoming::Request { id: Id::String(ref s), .. } if s == "x"));

        let m = single(r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#);
        assert!(matches!(m, Incoming::Notification { ref method, .. } if method == "update"));

        let m = single(r#"{"jsonrpc": "2.0", "method": "foobar", "id": null}"#);
        assert!(matches!(
            m,
            Incoming::Request {
                id: Id::Null,
                params: None,
                ..
            }
        ));

        let m = single(r#"{"jsonrpc":"2.0","method":"a\u0062c","id":2,"extra":{"x":[1]}}"#);
        assert!(matches!(m, Incoming::Request { ref method, .. } if method == "abc"));
    }

    #[test]
    fn invalid_requests() {
        let cases = [
            (r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#, Id::Null),
            (r#"{"jsonrpc": "2.0", "method": 1, "id": 5}"#, Id::Number(5)),
            (r#"{"jsonrpc": "1.0", "method": "a", "id": 5}"#, Id::Number(5)),
            (r#"{"method": "a", "id": "q"}"#, Id::from("q")),
            (
                r#"{"jsonrpc": "2.0", "method": "a", "params": 3, "id": 6}"#,
                Id::Number(6),
            ),
            (
                r#"{"jsonrpc": "2.0", "method": "a", "params": null, "id": 6}"#,
                Id::Number(6),
            ),
            (r#"{"jsonrpc": "2.0", "method": "a", "id": 1.5}"#, Id::Null),
            (r#"{"jsonrpc": "2.0", "method": "a", "id": [1]}"#, Id::Null),
            (r#"{"jsonrpc": "2.0", "id": 9}"#, Id::Number(9)),
            ("1", Id::Null),
            (r#""foo""#, Id::Null),
        ];
        for (text, want) in cases {
            assert_eq!(single(text), Incoming::Invalid { id: want }, "{text}");
        }
    }

    #[test]
    fn responses() {
        let m = single(r#"{"jsonrpc":"2.0","result":19,"id":1}"#);
        assert!(matches!(m, Incoming::Response { id: Id::Number(1), outcome: Ok(r) } if r.get() == "19"));
        let m = single(r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"1"}"#);
        assert!(matches!(m, Incoming::Response { outcome: Err(ref e), .. } if e.code == -32601));
        for bad in [
            r#"{"result":1,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"x"},"id":1}"#,
            r#"{"jsonrpc":"2.0","error":{"code":"x"},"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1}"#,
        ] {
            assert!(matches!(single(bad), Incoming::BadResponse { .. }), "{bad}");
        }
        // The id of a malformed reply is kept, so that its call fails at once.
        let m = single(r#"{"jsonrpc":"2.0","error":{"code":1.5,"message":"m"},"id":4}"#);
        assert!(
            matches!(m, Incoming::BadResponse { id: Some(Id::Number(4)), ref reason }
                if reason.starts_with(r#"malformed error object {"code":1.5,"message":"m"}: invalid type"#)),
            "{m:?}"
        );
        let m = single(r#"{"jsonrpc":"2.0","result":1,"id":[1]}"#);
        assert!(matches!(m, Incoming::BadResponse { id: None, .. }), "{m:?}");
        // A long object is quoted in part.
        let long = format!(
            r#"{{"jsonrpc":"2.0","error":{{"code":"x","message":"{}"}},"id":1}}"#,
            "é".repeat(500)
        );
        let Incoming::BadResponse { reason, .. } = single(&long) else {
            panic!()
        };
        assert!(reason.len() < 300 && reason.contains("...: invalid type"), "{reason}");
    }

    #[test]
    fn frames() {
        assert_eq!(
            parse_frame(r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#),
            Frame::ParseError
        );
        assert_eq!(
            parse_frame(r#"[{"jsonrpc": "2.0", "method": "sum"},{"jsonrpc": "2.0", "method""#),
            Frame::ParseError
        );
        assert_eq!(parse_frame("[]"), Frame::EmptyBatch);
        assert_eq!(parse_frame(" [ ] "), Frame::EmptyBatch);
        let Frame::Batch(items) = parse_frame("[1,2,3]") else {
            panic!()
        };
        assert_eq!(items, vec![Incoming::Invalid { id: Id::Null }; 3]);
        let Frame::Batch(items) =
            parse_frame(r#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","result":1,"id":3},{"foo":"boo"}]"#)
        else {
            panic!()
        };
        assert!(matches!(items[0], Incoming::Notification { .. }));
        assert!(matches!(items[1], Incoming::Response { .. }));
        assert_eq!(items[2], Incoming::Invalid { id: Id::Null });
    }

    #[test]
    fn fast_paths_agree_with_serde_json() {
        for id in [
            "0",
            "-5",
            "42",
            "9223372036854775807",
            "9223372036854775808",
            "1e3",
            "1.5",
            r#""7""#,
        ] {
            let raw: &RawValue = serde_json::from_str(id).unwrap();
            assert_eq!(parse_id(raw), serde_json::from_str::<Id>(id).ok(), "{id}");
        }
        for m in [r#""add""#, r#""a\"b""#, r#""""#, r#""\u0061""#, r#""x\\""#] {
            let raw: &RawValue = serde_json::from_str(m).unwrap();
            let want = serde_json::from_str::<String>(m).unwrap();
            assert_eq!(parse_str(raw).as_deref(), Some(want.as_str()), "{m}");
        }
        for id in [0, 7, 1_234_567, u64::MAX] {
            let text = encode_call(Some(id), "m", &[1]).unwrap();
            assert_eq!(
                text,
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"m","params":[1]}}"#)
            );
        }
    }

    #[test]
    fn encodes_the_spec_forms() {
        assert_eq!(
            EncodedResult::encode(&19).unwrap().finish(&Id::Number(1)),
            r#"{"jsonrpc":"2.0","result":19,"id":1}"#
        );
        assert_eq!(
            encode_code(ErrorCode::ParseError, &Id::Null),
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#
        );
        assert_eq!(
            encode_call(Some(3), "sub\"tract", &(42, 23)).unwrap(),
            r#"{"jsonrpc":"2.0","id":3,"method":"sub\"tract","params":[42,23]}"#
        );
        assert_eq!(
            encode_call(None, "update", &[1, 2]).unwrap(),
            r#"{"jsonrpc":"2.0","method":"update","params":[1,2]}"#
        );
    }

    #[test]
    fn params_that_encode_as_null_are_omitted_and_nothing_else_is() {
        assert_eq!(
            encode_call(Some(1), "m", &()).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"m"}"#
        );
        assert_eq!(
            encode_call(None, "m", &None::<u8>).unwrap(),
            r#"{"jsonrpc":"2.0","method":"m"}"#
        );
        // A params object whose last member is `"params":null` stays whole.
        let params = serde_json::json!({"params": null});
        assert_eq!(
            encode_call(Some(2), "m", &params).unwrap(),
            r#"{"jsonrpc":"2.0","id":2,"method":"m","params":{"params":null}}"#
        );
        assert_eq!(
            encode_call(Some(3), "m", &("x,\"params\":null",)).unwrap(),
            r#"{"jsonrpc":"2.0","id":3,"method":"m","params":["x,\"params\":null"]}"#
        );
    }

    #[test]
    fn encoded_messages_parse_back() {
        let text = encode_call(Some(9), "m", &serde_json::json!({"a": [1, "x"]})).unwrap();
        let m = single(&text);
        assert!(
            matches!(m, Incoming::Request { id: Id::Number(9), ref method, params: Some(p) } if method == "m" && p.get() == r#"{"a":[1,"x"]}"#)
        );
        let text = encode_error(
            &ErrorObject::new(5, "boom").with_data(serde_json::json!([1])),
            &Id::from("k"),
        );
        let m = single(&text);
        assert!(
            matches!(m, Incoming::Response { id: Id::String(_), outcome: Err(ref e) } if e.code == 5 && e.data == Some(serde_json::json!([1])))
        );
    }
}
