//! How `#[rpc]` methods read their params (issue 13, items 3, 4 and 6), over
//! duplexrpc-core's in-memory transport: trailing `Option<T>` params may be
//! left out, by position and by name; a wrong call gets a -32602 whose `data`
//! names the param and the problem in the caller's words; a trait or method
//! can ask its stub to send params by name.

use duplexrpc_core::{ErrorObject, Methods, Peer, PeerBuilder, RpcError, rpc, transport::memory};
use rpc_tests::within;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A to-do board, as the issue's user wrote it.
#[rpc]
pub trait Board {
    /// Adds an item; `due` was added later, as an optional last param.
    async fn add_item(&self, title: String, tags: Vec<String>, due: Option<i64>) -> Result<String, RpcError>;
    /// Two numbers, for type errors.
    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
    /// An optional param that is not last: only by name can it be left out.
    async fn between(&self, from: Option<i64>, to: i64) -> Result<String, RpcError>;
    /// No params at all.
    async fn ping(&self) -> Result<String, RpcError>;
}

struct Service;

impl Board for Service {
    async fn add_item(&self, title: String, tags: Vec<String>, due: Option<i64>) -> Result<String, RpcError> {
        Ok(format!("{title} {tags:?} {due:?}"))
    }

    async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
        Ok(a + b)
    }

    async fn between(&self, from: Option<i64>, to: i64) -> Result<String, RpcError> {
        Ok(format!("{from:?}..{to}"))
    }

    async fn ping(&self) -> Result<String, RpcError> {
        Ok("pong".to_owned())
    }
}

/// A client peer connected to a server serving `methods`, and the server.
fn connect(methods: Methods) -> (Peer, Peer) {
    let ((server_tx, server_rx), (client_tx, client_rx)) = memory::pair();
    let mut server = PeerBuilder::new();
    server.register(methods).unwrap();
    let server = server.start(server_tx, server_rx);
    (PeerBuilder::new().start(client_tx, client_rx), server)
}

/// Calls `method` with raw `params` as a third-party client would.
async fn call(client: &Peer, method: &str, params: Value) -> Result<Value, RpcError> {
    within(method, client.call::<_, Value>(method, params)).await
}

/// The -32602 `data` of a call that must fail.
async fn invalid_params(client: &Peer, method: &str, params: Value) -> String {
    match call(client, method, params.clone()).await {
        Err(RpcError::Call(ErrorObject {
            code: -32602,
            data: Some(Value::String(data)),
            ..
        })) => data,
        other => panic!("{method} {params}: expected -32602 with a reason, got {other:?}"),
    }
}

#[tokio::test]
async fn a_trailing_option_can_be_left_out_by_position() {
    let (client, _server) = connect(Service.into_methods());
    assert_eq!(
        call(&client, "add_item", json!(["milk", []])).await.unwrap(),
        "milk [] None"
    );
    assert_eq!(
        call(&client, "add_item", json!(["milk", ["x"], 3])).await.unwrap(),
        r#"milk ["x"] Some(3)"#
    );
    assert_eq!(
        call(&client, "add_item", json!(["milk", [], null])).await.unwrap(),
        "milk [] None"
    );
}

#[tokio::test]
async fn an_option_can_be_left_out_by_name() {
    let (client, _server) = connect(Service.into_methods());
    let reply = call(&client, "add_item", json!({"title": "milk", "tags": []})).await;
    assert_eq!(reply.unwrap(), "milk [] None");
    assert_eq!(call(&client, "between", json!({"to": 3})).await.unwrap(), "None..3");
    // By position, a missing param is the last one: `to`, which is required.
    assert_eq!(
        invalid_params(&client, "between", json!([1])).await,
        r#"missing param "to""#
    );
}

#[tokio::test]
async fn a_missing_required_param_is_named() {
    let (client, _server) = connect(Service.into_methods());
    assert_eq!(
        invalid_params(&client, "add_item", json!(["milk"])).await,
        r#"missing param "tags""#
    );
    assert_eq!(
        invalid_params(&client, "add_item", json!({"tags": []})).await,
        r#"missing param "title""#
    );
    assert_eq!(invalid_params(&client, "add", json!([])).await, r#"missing param "a""#);
}

#[tokio::test]
async fn a_wrong_type_names_the_param_and_the_problem() {
    let (client, _server) = connect(Service.into_methods());
    assert_eq!(
        invalid_params(&client, "add", json!(["x", 2])).await,
        r#"param "a": invalid type: string "x", expected i64"#
    );
    assert_eq!(
        invalid_params(&client, "add", json!({"a": 1, "b": true})).await,
        r#"param "b": invalid type: boolean `true`, expected i64"#
    );
    assert_eq!(
        invalid_params(&client, "add_item", json!(["milk", [1]])).await,
        r#"param "tags": invalid type: integer `1`, expected a string"#
    );
}

#[tokio::test]
async fn too_many_params_are_said_in_plain_words() {
    let (client, _server) = connect(Service.into_methods());
    assert_eq!(
        invalid_params(&client, "add", json!([1, 2, 3])).await,
        "too many params: expected at most 2 (a, b), got 3"
    );
    assert_eq!(
        invalid_params(&client, "ping", json!([1])).await,
        "too many params: expected none, got 1"
    );
}

#[tokio::test]
async fn a_param_given_twice_by_name_is_refused() {
    let methods = Service.into_methods();
    let reply = methods.call("add", r#"{"a": 1, "a": 2, "b": 3}"#).await.unwrap_err();
    assert_eq!(reply.code, -32602);
    assert_eq!(reply.data, Some(json!(r#"param "a" is given twice"#)));
}

#[tokio::test]
async fn params_that_are_neither_array_nor_object_are_refused() {
    let methods = Service.into_methods();
    let reply = methods.call("add", r#""1, 2""#).await.unwrap_err();
    assert_eq!(reply.code, -32602);
    assert_eq!(
        reply.data,
        Some(json!(
            "params must be an array (by position) or an object (by name), not a string"
        ))
    );
}

/// What the error messages never show: the macro's private struct and serde's
/// positions in the params text.
#[tokio::test]
async fn no_message_shows_the_macros_internals() {
    let (client, _server) = connect(Service.into_methods());
    let cases = [
        ("add", json!(["x", 2])),
        ("add", json!([1, 2, 3])),
        ("add", json!([1])),
        ("add", json!({"a": 1})),
        ("add_item", json!(["milk", "tags"])),
        ("ping", json!([1, 2])),
    ];
    for (method, params) in cases {
        let data = invalid_params(&client, method, params.clone()).await;
        for internal in ["__Params", "line 1", "column", "struct", "elements"] {
            assert!(!data.contains(internal), "{method} {params}: {data}");
        }
    }
}

/// Unchanged for third-party callers: full calls by position and by name,
/// unknown keys ignored, absent params for a method without any.
#[tokio::test]
async fn complete_calls_behave_as_before() {
    let (client, _server) = connect(Service.into_methods());
    assert_eq!(call(&client, "add", json!([2, 3])).await.unwrap(), 5);
    assert_eq!(
        call(&client, "add", json!({"b": 3, "a": 2, "extra": 1})).await.unwrap(),
        5
    );
    assert_eq!(call(&client, "ping", json!([])).await.unwrap(), "pong");
    assert_eq!(call(&client, "ping", json!({})).await.unwrap(), "pong");
    let methods = Service.into_methods();
    assert_eq!(methods.call("ping", "{\"x\": 1}").await.unwrap(), "\"pong\"");
}

/// The typed stub still sends by position, and the server reads it.
#[tokio::test]
async fn the_stub_sends_by_position_by_default() {
    let (client, _server) = connect(Service.into_methods());
    let board = BoardClient::new(client);
    let reply = board.add_item("milk".to_owned(), vec![], Some(4)).await;
    assert_eq!(reply.unwrap(), "milk [] Some(4)");
}

/// A server that expects params by name, as the issue's example.
#[rpc(params = "named")]
pub trait Named {
    /// Two params by name.
    async fn move_to(&self, x: i64, r#type: String) -> Result<(), RpcError>;
    /// A notification by name: `{"seq": 1}`.
    #[notification]
    async fn seq(&self, seq: u64);
    /// Overrides the trait's choice.
    #[method(params = "positional")]
    async fn listed(&self, a: i64, b: i64) -> Result<(), RpcError>;
    /// No params by name: `{}`.
    async fn nothing(&self) -> Result<(), RpcError>;
}

/// A trait by position with one method by name.
#[rpc]
pub trait Mixed {
    /// By name, in a trait by position.
    #[notification(params = "named")]
    async fn tick(&self, seq: u64, note: Option<String>);
    /// By position.
    async fn plain(&self, seq: u64) -> Result<(), RpcError>;
}

/// A raw server that records every call's params text, and answers `null`.
fn recorder(names: &[&str]) -> (Methods, mpsc::UnboundedReceiver<String>) {
    let (seen, recorded) = mpsc::unbounded_channel();
    let mut methods = Methods::new();
    for name in names {
        let seen = seen.clone();
        let name = (*name).to_owned();
        methods
            .method(&name.clone(), move |params: Value| {
                let _ = seen.send(format!("{name} {params}"));
                async { Ok::<_, RpcError>(Value::Null) }
            })
            .unwrap();
    }
    (methods, recorded)
}

#[tokio::test]
async fn the_stub_sends_by_name_when_asked() {
    let (methods, mut recorded) = recorder(&["move_to", "seq", "listed", "nothing"]);
    let (client, _server) = connect(methods);
    let named = NamedClient::new(client);
    named.move_to(1, "slow".to_owned()).await.unwrap();
    named.seq(7).await.unwrap();
    named.listed(1, 2).await.unwrap();
    named.nothing().await.unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(within("a recorded call", recorded.recv()).await.unwrap());
    }
    got.sort();
    assert_eq!(
        got,
        [
            r#"listed [1,2]"#,
            r#"move_to {"type":"slow","x":1}"#,
            "nothing {}",
            r#"seq {"seq":7}"#
        ]
    );
    let prepared = NamedClient::seq_notification(&8).unwrap();
    assert_eq!(
        prepared,
        duplexrpc_core::Notification::new("seq", json!({"seq": 8})).unwrap()
    );
}

#[tokio::test]
async fn one_method_can_send_by_name() {
    let (methods, mut recorded) = recorder(&["tick", "plain"]);
    let (client, _server) = connect(methods);
    let mixed = MixedClient::new(client);
    mixed.tick(1, None).await.unwrap();
    mixed.plain(2).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(within("a recorded call", recorded.recv()).await.unwrap());
    }
    got.sort();
    assert_eq!(got, ["plain [2]", r#"tick {"note":null,"seq":1}"#]);
}

/// A stub sending by name talks to a generated server, which reads both forms.
#[tokio::test]
async fn named_stub_and_generated_server_agree() {
    struct Impl(mpsc::UnboundedSender<String>);
    impl Named for Impl {
        async fn move_to(&self, x: i64, r#type: String) -> Result<(), RpcError> {
            let _ = self.0.send(format!("{x} {type}"));
            Ok(())
        }
        async fn seq(&self, seq: u64) {
            let _ = self.0.send(format!("seq {seq}"));
        }
        async fn listed(&self, a: i64, b: i64) -> Result<(), RpcError> {
            let _ = self.0.send(format!("{a} {b}"));
            Ok(())
        }
        async fn nothing(&self) -> Result<(), RpcError> {
            Ok(())
        }
    }
    let (seen, mut recorded) = mpsc::unbounded_channel();
    let (client, _server) = connect(Impl(seen).into_methods());
    let named = NamedClient::new(client);
    named.move_to(3, "fast".to_owned()).await.unwrap();
    named.listed(4, 5).await.unwrap();
    named.seq(6).await.unwrap();
    named.nothing().await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(within("a handled call", recorded.recv()).await.unwrap());
    }
    got.sort();
    assert_eq!(got, ["3 fast", "4 5", "seq 6"]);
}
