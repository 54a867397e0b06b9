//! Every JSON-RPC 2.0 case, sent as raw text frames by a bare WebSocket client,
//! with the exact reply text checked. The cases are the examples of section 7
//! of <https://www.jsonrpc.org/specification>, on methods the test server
//! registers under the spec's names, plus the cases the spec describes in
//! words (responses mixed into a batch, unknown members, unmatched responses).
//!
//! "No reply" is proven by sending a request right after and checking that the
//! very next frame is that request's reply.

use duplexrpc_core::{RpcError, rpc};
use duplexrpc_ws::{Server, ServerHandle};
use examples::BrowserClient;
use rpc_tests::{RawClient, assert_batch, next, within};
use tokio::sync::mpsc;

/// The spec's example methods (no namespace: the wire names are the spec's).
#[rpc]
pub trait Spec {
    /// `subtract`: by position `[minuend, subtrahend]` or by name.
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> Result<i64, RpcError>;
    /// `sum` of three numbers.
    async fn sum(&self, a: i64, b: i64, c: i64) -> Result<i64, RpcError>;
    /// `get_data`: `["hello", 5]`.
    async fn get_data(&self) -> Result<(String, i64), RpcError>;
    /// `update` notification with five numbers.
    #[notification]
    async fn update(&self, a: i64, b: i64, c: i64, d: i64, e: i64);
    /// `notify_hello` notification.
    #[notification]
    async fn notify_hello(&self, n: i64);
    /// `notify_sum` notification.
    #[notification]
    async fn notify_sum(&self, a: i64, b: i64, c: i64);
    /// Asks the caller `ui.confirm(question)` and returns the answer.
    async fn ask(&self, question: String) -> Result<bool, RpcError>;
}

struct SpecService {
    /// Every notification handled, as `name args`.
    seen: mpsc::UnboundedSender<String>,
    browser: BrowserClient,
}

impl Spec for SpecService {
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> Result<i64, RpcError> {
        Ok(minuend - subtrahend)
    }

    async fn sum(&self, a: i64, b: i64, c: i64) -> Result<i64, RpcError> {
        Ok(a + b + c)
    }

    async fn get_data(&self) -> Result<(String, i64), RpcError> {
        Ok(("hello".into(), 5))
    }

    async fn update(&self, a: i64, b: i64, c: i64, d: i64, e: i64) {
        let _ = self.seen.send(format!("update {:?}", [a, b, c, d, e]));
    }

    async fn notify_hello(&self, n: i64) {
        let _ = self.seen.send(format!("notify_hello {n}"));
    }

    async fn notify_sum(&self, a: i64, b: i64, c: i64) {
        let _ = self.seen.send(format!("notify_sum {}", a + b + c));
    }

    async fn ask(&self, question: String) -> Result<bool, RpcError> {
        self.browser.confirm(question).await
    }
}

struct Fixture {
    server: ServerHandle,
    client: RawClient,
    seen: mpsc::UnboundedReceiver<String>,
}

async fn fixture() -> Fixture {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let server = Server::bind("127.0.0.1:0").await.expect("bind");
    let server = server.serve(move |conn, _info| {
        let service = SpecService {
            seen: seen_tx.clone(),
            browser: BrowserClient::new(conn.peer().clone()),
        };
        conn.register(service.into_methods())?;
        Ok(())
    });
    let client = RawClient::connect(&server.url()).await;
    Fixture { server, client, seen }
}

impl Fixture {
    /// Sends `text` and asserts that the next frame is exactly `reply`.
    async fn exchange(&mut self, text: &str, reply: &str) {
        assert_eq!(self.client.call(text).await, reply, "reply to {text}");
    }

    /// Asserts that nothing was sent back since the last checked frame: a
    /// request sent now gets the very next frame as its reply.
    async fn assert_no_reply(&mut self, after: &str) {
        let probe = r#"{"jsonrpc":"2.0","method":"subtract","params":[100,1],"id":"probe"}"#;
        let reply = self.client.call(probe).await;
        assert_eq!(
            reply, r#"{"jsonrpc":"2.0","result":99,"id":"probe"}"#,
            "something was sent back for {after}"
        );
    }

    async fn finish(self) {
        drop(self.client);
        within("server stop", self.server.stop()).await;
    }
}

const PARSE_ERROR: &str = r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#;
const INVALID_NULL: &str = r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#;

#[tokio::test]
async fn positional_params() {
    let mut f = fixture().await;
    f.exchange(
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#,
        r#"{"jsonrpc":"2.0","result":19,"id":1}"#,
    )
    .await;
    f.exchange(
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#,
        r#"{"jsonrpc":"2.0","result":-19,"id":2}"#,
    )
    .await;
    f.finish().await;
}

#[tokio::test]
async fn named_params() {
    let mut f = fixture().await;
    f.exchange(
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#,
        r#"{"jsonrpc":"2.0","result":19,"id":3}"#,
    )
    .await;
    f.exchange(
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#,
        r#"{"jsonrpc":"2.0","result":19,"id":4}"#,
    )
    .await;
    f.finish().await;
}

#[tokio::test]
async fn ids_are_echoed_as_given() {
    let mut f = fixture().await;
    for id in [
        r#""abc""#,
        r#""""#,
        "-7",
        "0",
        "9007199254740993",
        "null",
        r#""\u00e9\n""#,
    ] {
        let request = format!(r#"{{"jsonrpc":"2.0","method":"subtract","params":[5,3],"id":{id}}}"#);
        // String ids are echoed as JSON strings (escapes normalized by the encoder).
        let want_id = match id {
            r#""\u00e9\n""# => "\"\u{e9}\\n\"",
            other => other,
        };
        f.exchange(&request, &format!(r#"{{"jsonrpc":"2.0","result":2,"id":{want_id}}}"#))
            .await;
    }
    f.finish().await;
}

#[tokio::test]
async fn notifications_get_no_reply() {
    let mut f = fixture().await;
    f.client
        .send(r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#)
        .await;
    f.client.send(r#"{"jsonrpc": "2.0", "method": "foobar"}"#).await;
    // Even a notification with bad params or of an unknown method is never answered.
    f.client
        .send(r#"{"jsonrpc": "2.0", "method": "notify_hello", "params": ["x"]}"#)
        .await;
    f.assert_no_reply("notifications").await;
    assert_eq!(next(&mut f.seen, "update").await, "update [1, 2, 3, 4, 5]");
    assert!(f.seen.try_recv().is_err(), "only update was handled");
    f.finish().await;
}

#[tokio::test]
async fn unknown_method() {
    let mut f = fixture().await;
    f.exchange(
        r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"1"}"#,
    )
    .await;
    f.finish().await;
}

#[tokio::test]
async fn invalid_json() {
    let mut f = fixture().await;
    f.exchange(
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
        PARSE_ERROR,
    )
    .await;
    f.exchange("", PARSE_ERROR).await;
    f.exchange(
        r#"{"jsonrpc":"2.0","method":"subtract","params":[1,2],"id":1"#,
        PARSE_ERROR,
    )
    .await;
    f.finish().await;
}

#[tokio::test]
async fn invalid_request_objects() {
    let mut f = fixture().await;
    // The spec's example: method is not a string, params not structured.
    f.exchange(r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#, INVALID_NULL)
        .await;
    let cases = [
        // Wrong or missing version: answered with the request's id.
        (r#"{"jsonrpc":"1.0","method":"subtract","params":[1,2],"id":5}"#, "5"),
        (r#"{"method":"subtract","params":[1,2],"id":"v"}"#, r#""v""#),
        // params must be an array or an object.
        (r#"{"jsonrpc":"2.0","method":"subtract","params":3,"id":6}"#, "6"),
        (r#"{"jsonrpc":"2.0","method":"subtract","params":null,"id":7}"#, "7"),
        // No method at all.
        (r#"{"jsonrpc":"2.0","id":8}"#, "8"),
        // An id that is neither a string, an integer nor null.
        (
            r#"{"jsonrpc":"2.0","method":"subtract","params":[1,2],"id":1.5}"#,
            "null",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"subtract","params":[1,2],"id":{"a":1}}"#,
            "null",
        ),
        // Not an object.
        ("1", "null"),
        (r#""subtract""#, "null"),
        ("null", "null"),
    ];
    for (request, id) in cases {
        let want = format!(r#"{{"jsonrpc":"2.0","error":{{"code":-32600,"message":"Invalid Request"}},"id":{id}}}"#);
        f.exchange(request, &want).await;
    }
    f.finish().await;
}

#[tokio::test]
async fn invalid_params() {
    let mut f = fixture().await;
    let cases = [
        (r#"{"jsonrpc":"2.0","method":"subtract","params":[1],"id":1}"#, "1"),
        (r#"{"jsonrpc":"2.0","method":"subtract","params":[1,2,3],"id":2}"#, "2"),
        (
            r#"{"jsonrpc":"2.0","method":"subtract","params":["a","b"],"id":3}"#,
            "3",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"subtract","params":{"minuend":1},"id":"4"}"#,
            r#""4""#,
        ),
        (r#"{"jsonrpc":"2.0","method":"subtract","id":5}"#, "5"),
    ];
    for (request, id) in cases {
        let reply = f.client.call(request).await;
        let value: serde_json::Value = serde_json::from_str(&reply).expect("reply is JSON");
        assert_eq!(value["jsonrpc"], "2.0", "{reply}");
        assert_eq!(value["error"]["code"], -32602, "{reply}");
        assert_eq!(value["error"]["message"], "Invalid params", "{reply}");
        assert!(value["error"]["data"].is_string(), "a reason as data: {reply}");
        assert_eq!(
            value["id"],
            serde_json::from_str::<serde_json::Value>(id).unwrap(),
            "{reply}"
        );
        assert!(value.get("result").is_none(), "{reply}");
    }
    f.finish().await;
}

#[tokio::test]
async fn batch_with_invalid_json() {
    let mut f = fixture().await;
    f.exchange(
        r#"[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]"#,
        PARSE_ERROR,
    )
    .await;
    f.finish().await;
}

#[tokio::test]
async fn empty_batch_gets_one_error_object() {
    let mut f = fixture().await;
    f.exchange("[]", INVALID_NULL).await;
    f.exchange(" [ ] ", INVALID_NULL).await;
    f.finish().await;
}

#[tokio::test]
async fn batches_of_invalid_elements() {
    let mut f = fixture().await;
    let reply = f.client.call("[1]").await;
    assert_batch(&reply, &[INVALID_NULL]);
    let reply = f.client.call("[1,2,3]").await;
    assert_eq!(reply, format!("[{INVALID_NULL},{INVALID_NULL},{INVALID_NULL}]"));
    f.finish().await;
}

#[tokio::test]
async fn mixed_batch() {
    let mut f = fixture().await;
    let reply = f
        .client
        .call(
            r#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"#,
        )
        .await;
    assert_batch(
        &reply,
        &[
            r#"{"jsonrpc":"2.0","result":7,"id":"1"}"#,
            r#"{"jsonrpc":"2.0","result":19,"id":"2"}"#,
            INVALID_NULL,
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"5"}"#,
            r#"{"jsonrpc":"2.0","result":["hello",5],"id":"9"}"#,
        ],
    );
    assert_eq!(next(&mut f.seen, "notify_hello").await, "notify_hello 7");
    f.finish().await;
}

#[tokio::test]
async fn batch_of_notifications_gets_no_reply() {
    let mut f = fixture().await;
    f.client
        .send(
            r#"[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]"#,
        )
        .await;
    f.assert_no_reply("a batch of notifications").await;
    let mut seen = vec![
        next(&mut f.seen, "notification").await,
        next(&mut f.seen, "notification").await,
    ];
    seen.sort();
    assert_eq!(seen, ["notify_hello 7", "notify_sum 7"]);
    f.finish().await;
}

#[tokio::test]
async fn batch_mixing_requests_notifications_and_responses() {
    let mut f = fixture().await;
    // The server's handler calls back into this client...
    f.client
        .send(r#"{"jsonrpc":"2.0","method":"ask","params":["proceed?"],"id":"ask"}"#)
        .await;
    let callback = f.client.recv_text().await;
    let value: serde_json::Value = serde_json::from_str(&callback).expect("JSON");
    let id = value["id"].as_u64().expect("the server's call has a numeric id");
    assert_eq!(
        callback,
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ui.confirm","params":["proceed?"]}}"#)
    );
    // ...and the client answers it inside a batch with a request, a
    // notification and a response to a call that does not exist.
    f.client
        .send(&format!(
            r#"[
        {{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":11}},
        {{"jsonrpc":"2.0","result":true,"id":{id}}},
        {{"jsonrpc":"2.0","method":"notify_hello","params":[3]}},
        {{"jsonrpc":"2.0","error":{{"code":-1,"message":"nobody asked"}},"id":987654}},
        {{"jsonrpc":"2.0","method":"sum","params":{{"a":1,"b":2,"c":3}},"id":12}}
    ]"#
        ))
        .await;
    // Two frames come back, in either order: the batch's replies (its
    // requests only) and the reply to `ask`, which received `true`.
    let mut frames = [f.client.recv_text().await, f.client.recv_text().await];
    frames.sort_by_key(|frame| !frame.starts_with('['));
    assert_batch(
        &frames[0],
        &[
            r#"{"jsonrpc":"2.0","result":19,"id":11}"#,
            r#"{"jsonrpc":"2.0","result":6,"id":12}"#,
        ],
    );
    assert_eq!(frames[1], r#"{"jsonrpc":"2.0","result":true,"id":"ask"}"#);
    assert_eq!(next(&mut f.seen, "notify_hello").await, "notify_hello 3");
    f.finish().await;
}

#[tokio::test]
async fn unknown_members_are_ignored() {
    let mut f = fixture().await;
    f.exchange(
        r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":5,"extra":{"x":[1,{"y":null}]},"z":null}"#,
        r#"{"jsonrpc":"2.0","result":19,"id":5}"#,
    )
    .await;
    // Named params with an extra member: the extra one is ignored too.
    f.exchange(
        r#"{"jsonrpc":"2.0","method":"subtract","params":{"minuend":5,"subtrahend":2,"unit":"m"},"id":6}"#,
        r#"{"jsonrpc":"2.0","result":3,"id":6}"#,
    )
    .await;
    // A response to the server's call with extra members is still delivered.
    f.client
        .send(r#"{"jsonrpc":"2.0","method":"ask","params":["x"],"id":7}"#)
        .await;
    let callback: serde_json::Value = serde_json::from_str(&f.client.recv_text().await).expect("JSON");
    let id = &callback["id"];
    f.exchange(
        &format!(r#"{{"meta":{{"trace":1}},"jsonrpc":"2.0","id":{id},"result":false,"note":"x"}}"#),
        r#"{"jsonrpc":"2.0","result":false,"id":7}"#,
    )
    .await;
    f.finish().await;
}

#[tokio::test]
async fn unmatched_and_malformed_responses_are_dropped() {
    let mut f = fixture().await;
    for response in [
        r#"{"jsonrpc":"2.0","result":19,"id":424242}"#,
        r#"{"jsonrpc":"2.0","result":19,"id":"not-ours"}"#,
        r#"{"jsonrpc":"2.0","result":19,"id":-1}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"1"}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#,
        // Malformed responses: logged and dropped, never answered.
        r#"{"jsonrpc":"2.0","result":1}"#,
        r#"{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"x"},"id":3}"#,
        r#"{"result":1,"id":3}"#,
    ] {
        f.client.send(response).await;
        f.assert_no_reply(response).await;
    }
    f.finish().await;
}
