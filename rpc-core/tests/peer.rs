//! The peer over the in-memory transport: calls both ways on one connection,
//! replies matched by id in any order, what goes on the wire for calls without
//! params, and what happens to pending calls and running handlers when the
//! connection ends (including that no task outlives it).

use std::time::Duration;

use duplexrpc_core::transport::memory::{self, MemoryReceiver, MemorySender};
use duplexrpc_core::transport::{Receiver, Sender};
use duplexrpc_core::{Methods, Peer, PeerBuilder, PeerConfig, RpcError};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

/// Anything awaited here must finish within this (a liveness bound, not a timing check).
const LIVENESS: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(LIVENESS, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    within(what, rx.recv()).await.expect("channel open")
}

/// Two started peers connected by a memory pair.
fn pair(a: PeerBuilder, b: PeerBuilder) -> (Peer, Peer) {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    (a.start(a_tx, a_rx), b.start(b_tx, b_rx))
}

/// A started peer and the raw other end of its connection.
fn peer_and_raw(builder: PeerBuilder) -> (Peer, MemorySender, MemoryReceiver) {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    (builder.start(a_tx, a_rx), b_tx, b_rx)
}

async fn receive_json(rx: &mut MemoryReceiver) -> (String, Value) {
    let text = within("a message", rx.receive()).await.expect("connection open");
    let value = serde_json::from_str(&text).expect("valid JSON");
    (text, value)
}

#[tokio::test]
async fn both_ends_call_each_other_and_nest() {
    let mut a = PeerBuilder::new();
    let mut b = PeerBuilder::new();
    let (a_peer, b_peer) = (a.peer().clone(), b.peer().clone());
    let mut a_methods = Methods::new();
    a_methods
        .method("a.double", |(x,): (i64,)| async move { Ok::<_, RpcError>(x * 2) })
        .unwrap();
    // b.quad asks a to double twice: a call back into the caller from a handler.
    let mut b_methods = Methods::new();
    b_methods
        .method("b.quad", move |(x,): (i64,)| {
            let a = b_peer.clone();
            async move {
                let twice: i64 = a.call("a.double", (x,)).await?;
                a.call::<_, i64>("a.double", (twice,)).await
            }
        })
        .unwrap();
    a.register(a_methods).unwrap();
    b.register(b_methods).unwrap();
    let (a, b) = pair(a, b);
    assert_eq!(a_peer.pending_calls(), 0);

    let (from_a, from_b) = within("calls both ways", async {
        tokio::join!(a.call::<_, i64>("b.quad", (3,)), b.call::<_, i64>("a.double", (21,)))
    })
    .await;
    assert_eq!((from_a, from_b), (Ok(12), Ok(42)));
    a.close().await;
    within("a finished", a.finished()).await;
    within("b finished", b.finished()).await;
}

#[tokio::test]
async fn replies_in_any_order_reach_their_callers() {
    let (peer, mut tx, mut rx) = peer_and_raw(PeerBuilder::new());
    let calls: Vec<_> = (0..10i64)
        .map(|i| {
            let peer = peer.clone();
            tokio::spawn(async move { (i, peer.call::<_, String>("echo", (i,)).await) })
        })
        .collect();
    let mut requests = Vec::new();
    for _ in 0..10 {
        let (_, value) = receive_json(&mut rx).await;
        requests.push((value["id"].clone(), value["params"][0].as_i64().expect("param")));
    }
    // Noise first: replies to no pending call are dropped.
    for stray in [
        r#"{"jsonrpc":"2.0","result":"stray","id":123456}"#,
        r#"{"jsonrpc":"2.0","result":"stray","id":"0"}"#,
        r#"{"jsonrpc":"2.0","error":{"code":1,"message":"stray"},"id":-3}"#,
    ] {
        tx.feed(stray.into()).await.unwrap();
    }
    // Then the real replies, last request first.
    for (id, param) in requests.into_iter().rev() {
        let reply = format!(r#"{{"jsonrpc":"2.0","result":"r{param}","id":{id}}}"#);
        tx.feed(reply).await.unwrap();
    }
    for call in calls {
        let (i, result) = within("a call", call).await.unwrap();
        assert_eq!(result, Ok(format!("r{i}")));
    }
    assert_eq!(peer.pending_calls(), 0);
    assert!(!peer.is_closed());
}

#[tokio::test]
async fn calls_and_notifications_without_params_omit_the_member() {
    let (peer, mut tx, mut rx) = peer_and_raw(PeerBuilder::new());
    let call = tokio::spawn({
        let peer = peer.clone();
        async move { peer.call::<_, bool>("ping", ()).await }
    });
    let (text, value) = receive_json(&mut rx).await;
    let id = &value["id"];
    assert_eq!(text, format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#));
    tx.feed(format!(r#"{{"jsonrpc":"2.0","result":true,"id":{id}}}"#))
        .await
        .unwrap();
    assert_eq!(within("ping", call).await.unwrap(), Ok(true));

    peer.notify("tick", ()).await.unwrap();
    assert_eq!(receive_json(&mut rx).await.0, r#"{"jsonrpc":"2.0","method":"tick"}"#);
    // Empty structured params are sent as given.
    peer.notify("tick", [0u8; 0]).await.unwrap();
    assert_eq!(
        receive_json(&mut rx).await.0,
        r#"{"jsonrpc":"2.0","method":"tick","params":[]}"#
    );
}

#[tokio::test]
async fn a_slow_handler_does_not_block_other_calls() {
    let (gate_tx, gate) = watch::channel(false);
    let mut methods = Methods::new();
    methods
        .method("slow", move |(): ()| {
            let mut gate = gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok::<_, RpcError>("slow")
            }
        })
        .unwrap();
    methods
        .method("fast", |(): ()| async move { Ok::<_, RpcError>("fast") })
        .unwrap();
    let mut server = PeerBuilder::new();
    server.register(methods).unwrap();
    let (_server, client) = pair(server, PeerBuilder::new());

    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.call::<_, String>("slow", [0u8; 0]).await }
    });
    for _ in 0..3 {
        assert_eq!(
            within("fast", client.call::<_, String>("fast", [0u8; 0])).await,
            Ok("fast".into())
        );
    }
    assert!(!slow.is_finished());
    gate_tx.send_replace(true);
    assert_eq!(within("slow", slow).await.unwrap(), Ok("slow".into()));
}

#[tokio::test]
async fn a_peer_at_its_handler_limit_still_reads_replies_to_its_own_calls() {
    // The server runs one handler at a time; that handler calls back into the
    // client and must still receive the reply.
    let mut server = PeerBuilder::with_config(PeerConfig::default().max_concurrent_calls(1));
    let back = server.peer().clone();
    let mut methods = Methods::new();
    methods
        .method("relay", move |(x,): (i64,)| {
            let back = back.clone();
            async move { back.call::<_, i64>("inc", (x,)).await }
        })
        .unwrap();
    server.register(methods).unwrap();
    let mut client = PeerBuilder::new();
    let mut client_methods = Methods::new();
    client_methods
        .method("inc", |(x,): (i64,)| async move { Ok::<_, RpcError>(x + 1) })
        .unwrap();
    client.register(client_methods).unwrap();
    let (_server, client) = pair(server, client);
    for x in 0..5 {
        assert_eq!(within("relay", client.call::<_, i64>("relay", (x,))).await, Ok(x + 1));
    }
}

#[tokio::test]
async fn a_handler_panicking_before_its_future_exists_answers_internal_error() {
    let mut methods = Methods::new();
    methods
        .insert("explode", |_params| panic!("explode while starting"))
        .unwrap();
    methods
        .method("ok", |(): ()| async move { Ok::<_, RpcError>(1) })
        .unwrap();
    let mut server = PeerBuilder::new();
    server.register(methods).unwrap();
    let (_server, client) = pair(server, PeerBuilder::new());
    let err = within("explode", client.call::<_, i32>("explode", [0u8; 0]))
        .await
        .unwrap_err();
    let obj = err.object().expect("an error reply");
    assert_eq!((obj.code, obj.message.as_str()), (-32603, "Internal error"));
    assert!(
        obj.data
            .as_ref()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("explode while starting")
    );
    assert_eq!(within("ok", client.call::<_, i32>("ok", [0u8; 0])).await, Ok(1));
}

#[tokio::test]
async fn the_remote_end_going_away_fails_every_pending_call() {
    let (peer, tx, mut rx) = peer_and_raw(PeerBuilder::new());
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let peer = peer.clone();
            tokio::spawn(async move { peer.call::<_, i32>("never", (i,)).await })
        })
        .collect();
    for _ in 0..3 {
        receive_json(&mut rx).await;
    }
    assert_eq!(peer.pending_calls(), 3);
    drop((tx, rx));
    for call in calls {
        let result = within("a pending call", call).await.unwrap();
        assert!(matches!(result, Err(RpcError::Disconnected(_))), "{result:?}");
    }
    within("closed", peer.closed()).await;
    assert!(peer.close_reason().is_some());
    assert_eq!(peer.pending_calls(), 0);
    // Later calls and notifications fail at once.
    assert!(matches!(
        peer.call::<_, i32>("x", [1]).await,
        Err(RpcError::Disconnected(_))
    ));
    assert!(matches!(peer.notify("x", [1]).await, Err(RpcError::Disconnected(_))));
    within("finished", peer.finished()).await;
}

#[tokio::test(start_paused = true)]
async fn closing_fails_calls_both_ways_and_no_task_outlives_the_connection() {
    // a.wait_back calls b.never (which never answers) and reports the outcome.
    let (outcome_tx, mut outcomes) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let mut a = PeerBuilder::new();
    let a_to_b = a.peer().clone();
    let mut a_methods = Methods::new();
    a_methods
        .method("wait_back", move |(): ()| {
            let b = a_to_b.clone();
            let outcome_tx = outcome_tx.clone();
            async move {
                let outcome = b.call::<_, i32>("never", [0u8; 0]).await;
                let _ = outcome_tx.send(outcome.clone());
                outcome
            }
        })
        .unwrap();
    a.register(a_methods).unwrap();
    let mut b = PeerBuilder::new();
    let mut b_methods = Methods::new();
    b_methods
        .method("never", move |(): ()| {
            let _ = started_tx.send(());
            std::future::pending::<Result<i32, RpcError>>()
        })
        .unwrap();
    b.register(b_methods).unwrap();
    let (a, b) = pair(a, b);

    let call = tokio::spawn({
        let b = b.clone();
        async move { b.call::<_, i32>("wait_back", [0u8; 0]).await }
    });
    next(&mut started, "b.never to start").await;
    b.close().await;

    let own = within("b's own call", call).await.unwrap();
    assert!(matches!(own, Err(RpcError::Disconnected(_))), "{own:?}");
    let callback = next(&mut outcomes, "a's callback outcome").await;
    assert!(matches!(callback, Err(RpcError::Disconnected(_))), "{callback:?}");
    within("a closed", a.closed()).await;
    // b's stuck `never` handler is aborted after the grace period, so both
    // connections' tasks all end (time is paused: the grace passes at once).
    within("b finished", b.finished()).await;
    within("a finished", a.finished()).await;
}
