//! Property: whatever mix of valid, invalid and garbage messages a peer
//! receives (single or batched), every request is answered exactly once, with
//! the right result or error, every malformed frame gets exactly one error with
//! a null id, notifications and stray responses get nothing, and the peer stays
//! usable afterwards.

use std::collections::HashMap;
use std::time::Duration;

use duplexrpc_core::transport::{Receiver, Sender, memory};
use duplexrpc_core::{Methods, PeerBuilder, RpcError};
use proptest::prelude::*;
use serde_json::{Value, json};

/// One element of the traffic, before ids are assigned.
#[derive(Clone, Debug)]
enum Item {
    /// `echo` with these params: result = params.
    Echo(Vec<i32>),
    /// `add` with two numbers.
    Add(i32, i32),
    /// `add` with params it cannot parse: -32602.
    BadParams(String),
    /// An unknown method: -32601.
    Unknown(String),
    /// A handler error: code 7.
    Fail,
    /// A handler that panics: -32603.
    Panic,
    /// A handler that completes later: 1.
    Slow(u8),
    /// A request with `"jsonrpc": "1.0"`: -32600 with its id.
    BadVersion,
    /// A request whose params are a scalar: -32600 with its id.
    ScalarParams(i32),
    /// A notification: no reply.
    Notify(Vec<i32>),
    /// A response matching no call: no reply.
    StrayResponse(i64),
}

/// One frame.
#[derive(Clone, Debug)]
enum FrameSpec {
    Single(Item),
    Batch(Vec<Item>),
    /// Text that is not JSON: one -32700 with a null id.
    Garbage(String),
    /// `[]`: one -32600 with a null id.
    EmptyBatch,
    /// Valid JSON that is not a message (a number, a string): one -32600, null id.
    NotAMessage(i64),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        prop::collection::vec(any::<i32>(), 0..4).prop_map(Item::Echo),
        (any::<i32>(), any::<i32>()).prop_map(|(a, b)| Item::Add(a, b)),
        "[a-z]{0,8}".prop_map(Item::BadParams),
        "[a-z.]{1,12}".prop_map(|m| Item::Unknown(format!("nope.{m}"))),
        Just(Item::Fail),
        Just(Item::Panic),
        (0u8..4).prop_map(Item::Slow),
        Just(Item::BadVersion),
        any::<i32>().prop_map(Item::ScalarParams),
        prop::collection::vec(any::<i32>(), 0..3).prop_map(Item::Notify),
        (1_000_000i64..2_000_000).prop_map(Item::StrayResponse),
    ]
}

fn frame() -> impl Strategy<Value = FrameSpec> {
    prop_oneof![
        6 => item().prop_map(FrameSpec::Single),
        3 => prop::collection::vec(item(), 1..8).prop_map(FrameSpec::Batch),
        1 => "x[^\u{0}]{0,24}".prop_map(FrameSpec::Garbage),
        1 => Just(FrameSpec::EmptyBatch),
        1 => any::<i64>().prop_map(FrameSpec::NotAMessage),
    ]
}

/// What the reply to one request must be.
#[derive(Debug, PartialEq)]
enum Expect {
    Result(Value),
    Error(i64),
}

/// Encodes one item with the next id (numbers and strings alternate); records
/// what its reply must be.
fn encode(item: &Item, next: &mut u64, expected: &mut HashMap<String, Expect>) -> Value {
    *next += 1;
    let id = if next.is_multiple_of(2) {
        json!(*next)
    } else {
        json!(format!("s-{next}"))
    };
    let mut request = |method: &str, params: Value, expect: Expect| {
        expected.insert(id.to_string(), expect);
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
    };
    match item {
        Item::Echo(v) => request("echo", json!(v), Expect::Result(json!(v))),
        Item::Add(a, b) => request(
            "add",
            json!([a, b]),
            Expect::Result(json!(i64::from(*a) + i64::from(*b))),
        ),
        Item::BadParams(s) => request("add", json!([s]), Expect::Error(-32602)),
        Item::Unknown(m) => request(m, json!([]), Expect::Error(-32601)),
        Item::Fail => request("fail", json!([]), Expect::Error(7)),
        Item::Panic => request("panic", json!([]), Expect::Error(-32603)),
        Item::Slow(ms) => request("slow", json!([ms]), Expect::Result(json!(1))),
        Item::BadVersion => {
            expected.insert(id.to_string(), Expect::Error(-32600));
            json!({"jsonrpc": "1.0", "id": id, "method": "echo", "params": []})
        }
        Item::ScalarParams(p) => {
            expected.insert(id.to_string(), Expect::Error(-32600));
            json!({"jsonrpc": "2.0", "id": id, "method": "echo", "params": p})
        }
        Item::Notify(v) => json!({"jsonrpc": "2.0", "method": "echo", "params": v}),
        Item::StrayResponse(n) => json!({"jsonrpc": "2.0", "id": n, "result": "unasked"}),
    }
}

fn methods() -> Methods {
    let mut m = Methods::new();
    m.method("echo", |v: Vec<i32>| async move { Ok::<_, RpcError>(v) })
        .unwrap();
    m.method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
        .unwrap();
    m.method("fail", |(): ()| async move { Err::<(), _>(RpcError::new(7, "failed")) })
        .unwrap();
    m.method("panic", |(): ()| async move {
        if true {
            panic!("handler panic (expected)");
        }
        Ok::<(), RpcError>(())
    })
    .unwrap();
    m.method("slow", |(ms,): (u64,)| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, RpcError>(1)
    })
    .unwrap();
    m
}

/// Checks one reply object against the expectations; counts null-id errors.
fn check_reply(reply: &Value, expected: &mut HashMap<String, Expect>, null_errors: &mut usize) {
    assert_eq!(reply["jsonrpc"], "2.0", "{reply}");
    let id = &reply["id"];
    if id.is_null() {
        assert!(reply["error"]["code"].is_i64(), "a null id only with an error: {reply}");
        *null_errors += 1;
        return;
    }
    let want = expected
        .remove(&id.to_string())
        .unwrap_or_else(|| panic!("a reply to no request, or a second reply: {reply}"));
    let got = match reply.get("result") {
        Some(result) => Expect::Result(result.clone()),
        None => Expect::Error(reply["error"]["code"].as_i64().expect("an error code")),
    };
    assert_eq!(got, want, "{reply}");
}

async fn run(frames: Vec<FrameSpec>) {
    let ((a_tx, a_rx), (mut raw_tx, mut raw_rx)) = memory::pair();
    let mut builder = PeerBuilder::new();
    builder.register(methods()).unwrap();
    let peer = builder.start(a_tx, a_rx);

    let mut next = 0;
    let mut expected = HashMap::new();
    let mut null_expected = 0;
    for frame in &frames {
        let text = match frame {
            FrameSpec::Single(item) => encode(item, &mut next, &mut expected).to_string(),
            FrameSpec::Batch(items) => {
                Value::Array(items.iter().map(|i| encode(i, &mut next, &mut expected)).collect()).to_string()
            }
            FrameSpec::Garbage(text) => {
                null_expected += 1;
                text.clone()
            }
            FrameSpec::EmptyBatch => {
                null_expected += 1;
                "[]".to_string()
            }
            FrameSpec::NotAMessage(n) => {
                null_expected += 1;
                n.to_string()
            }
        };
        raw_tx.feed(text).await.unwrap();
    }

    // Every request answered exactly once; then a sentinel proves the peer
    // is still usable and flushes out any duplicate sent before it.
    let mut null_errors = 0;
    let sentinel = json!({"jsonrpc": "2.0", "id": "sentinel", "method": "add", "params": [40, 2]});
    let mut sentinel_sent = false;
    let read_all = async {
        loop {
            if expected.is_empty() && null_errors == null_expected && !sentinel_sent {
                raw_tx.feed(sentinel.to_string()).await.unwrap();
                sentinel_sent = true;
            }
            let text = raw_rx.receive().await.expect("the peer stays open");
            let value: Value = serde_json::from_str(&text).expect("the peer sends JSON");
            let replies = match value {
                Value::Array(items) => {
                    assert!(!items.is_empty(), "no empty batch reply");
                    items
                }
                single => vec![single],
            };
            for reply in replies {
                if reply["id"] == "sentinel" {
                    assert!(sentinel_sent);
                    assert_eq!(reply["result"], 42);
                    return;
                }
                check_reply(&reply, &mut expected, &mut null_errors);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("every reply within the bound");
    assert!(expected.is_empty(), "unanswered: {expected:?}");
    assert_eq!(null_errors, null_expected, "one error per malformed frame");
    assert!(!peer.is_closed());
    peer.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_request_gets_exactly_one_reply(frames in prop::collection::vec(frame(), 1..24)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(run(frames));
    }
}
