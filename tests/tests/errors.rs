//! Error objects end to end: relayed intact (every member, `"data": null`
//! apart from no data), a malformed reply failing its call at once, and
//! custom error enums (`#[derive(RpcError)]`) from handler to client stub.
//!
//! The far end of each connection is a raw in-process transport, so the
//! exact text on the wire is what is checked.

use std::time::Duration;

use duplexrpc_core::transport::memory::{self, MemoryReceiver, MemorySender};
use duplexrpc_core::transport::{Receiver, Sender};
use duplexrpc_core::{Methods, Peer, PeerBuilder, RpcError};
use rpc_tests::within;
use serde_json::{Value, json};

/// A peer serving `methods` on one end of an in-process pair, and the raw other end.
fn peer_and_raw(build: impl FnOnce(&Peer) -> Methods) -> (Peer, MemorySender, MemoryReceiver) {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let mut builder = PeerBuilder::new();
    let methods = build(builder.peer());
    builder.register(methods).unwrap();
    (builder.start(a_tx, a_rx), b_tx, b_rx)
}

async fn recv_json(rx: &mut MemoryReceiver) -> Value {
    let text = within("a frame", rx.receive()).await.unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn send(tx: &mut MemorySender, v: Value) {
    tx.feed(v.to_string()).await.unwrap();
}

const UPSTREAM_ERROR: &str = r#"{"code":5,"message":"upstream failed","data":null,"retry":{"after":3}}"#;

#[tokio::test]
async fn an_error_object_is_relayed_with_every_member() {
    // `relay` calls `upstream` on the caller and fails with what it got.
    let (_peer, mut tx, mut rx) = peer_and_raw(|peer| {
        let peer = peer.clone();
        let mut m = Methods::new();
        m.method("relay", move |(): ()| {
            let peer = peer.clone();
            async move { peer.call::<_, Value>("upstream", ()).await }
        })
        .unwrap();
        m
    });
    send(&mut tx, json!({"jsonrpc": "2.0", "id": 1, "method": "relay"})).await;
    let upstream = recv_json(&mut rx).await;
    assert_eq!(upstream["method"], "upstream");
    let reply = format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{UPSTREAM_ERROR}}}"#,
        upstream["id"]
    );
    tx.feed(reply).await.unwrap();
    let text = within("the relayed reply", rx.receive()).await.unwrap();
    assert_eq!(text, format!(r#"{{"jsonrpc":"2.0","error":{UPSTREAM_ERROR},"id":1}}"#));
}

#[tokio::test]
async fn data_null_and_extra_members_reach_the_caller() {
    let (peer, mut tx, mut rx) = peer_and_raw(|_| Methods::new());
    let call = tokio::spawn(async move { peer.call::<_, Value>("upstream", ()).await });
    let request = recv_json(&mut rx).await;
    tx.feed(format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{UPSTREAM_ERROR}}}"#,
        request["id"]
    ))
    .await
    .unwrap();
    let error = within("the call", call).await.unwrap().unwrap_err();
    let object = error.object().expect("an error object");
    assert_eq!(object.data, Some(Value::Null), "present null is not absent");
    assert_eq!(serde_json::to_string(object).unwrap(), UPSTREAM_ERROR);
}

#[tokio::test]
async fn a_malformed_error_reply_fails_the_call_at_once() {
    let (peer, mut tx, mut rx) = peer_and_raw(|_| Methods::new());
    // A timeout far beyond the test's deadline: only the reply can end the call.
    let call = tokio::spawn(async move {
        peer.call_with_timeout::<_, Value>("m", (), Duration::from_secs(600))
            .await
    });
    let request = recv_json(&mut rx).await;
    send(
        &mut tx,
        json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": "x", "message": "m"}}),
    )
    .await;
    match within("the failed call", call).await.unwrap() {
        Err(RpcError::Decode(reason)) => {
            assert!(reason.contains("malformed error object"), "{reason}");
            assert!(reason.contains("expected i32"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
