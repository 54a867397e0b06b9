//! Keepalive: pings keep a quiet connection open; a peer that stops answering
//! is declared dead within a bounded time, its pending calls fail with the
//! disconnect error, and its resources are freed.

use std::time::Duration;

use duplexrpc_core::{Peer, RpcError};
use duplexrpc_ws::{Server, WsConfig};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Generous liveness bound: detection is due within interval + timeout (0.6 s).
const BOUND: Duration = Duration::from_secs(15);

fn short_keepalive() -> WsConfig {
    WsConfig::default().keepalive(Some(Duration::from_millis(200)), Duration::from_millis(400))
}

/// A server that hands out each connection's peer handle.
async fn server(config: WsConfig) -> (duplexrpc_ws::ServerHandle, mpsc::UnboundedReceiver<Peer>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .serve(move |conn, _info| {
            let _ = tx.send(conn.peer().clone());
            Ok(())
        });
    (handle, rx)
}

#[tokio::test]
async fn a_client_that_stops_answering_is_declared_dead_and_freed() {
    let (server, mut peers) = server(short_keepalive().max_connections(1)).await;
    // A raw client that completes the handshake, then never reads again: it
    // answers no ping (tungstenite answers pings only while reading).
    let (silent, _) = tokio_tungstenite::connect_async(server.url()).await.unwrap();
    let peer = peers.recv().await.unwrap();
    let call = peer.call::<_, String>("ui.confirm", ("are you there?",));
    let err = tokio::time::timeout(BOUND, call)
        .await
        .expect("declared dead in time")
        .unwrap_err();
    assert!(err.is_disconnected(), "{err:?}");
    assert!(err.to_string().contains("keepalive timeout"), "{err}");
    tokio::time::timeout(BOUND, peer.finished())
        .await
        .expect("its tasks end");
    assert_eq!(peer.pending_calls(), 0);
    // Its connection slot is free again although its socket is still open.
    let next = tokio::time::timeout(BOUND, async {
        loop {
            match duplexrpc_ws::connect(&server.url()).await {
                Ok(conn) => break conn.start(),
                Err(e) if e.status() == Some(503) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the slot is freed");
    next.close().await;
    drop(silent);
    server.stop().await;
}

#[tokio::test]
async fn a_server_that_stops_answering_is_declared_dead_by_the_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let silent_server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        // Hold the socket open without ever reading it.
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(ws);
    });
    let peer = duplexrpc_ws::connect_with_config(&url, short_keepalive())
        .await
        .unwrap()
        .start();
    let call = peer.call::<_, i64>("calc.add", (1, 2));
    let err = tokio::time::timeout(BOUND, call)
        .await
        .expect("declared dead in time")
        .unwrap_err();
    assert!(
        matches!(&err, RpcError::Disconnected(r) if r.contains("keepalive timeout")),
        "{err:?}"
    );
    tokio::time::timeout(BOUND, peer.finished())
        .await
        .expect("its tasks end");
    silent_server.abort();
}

#[tokio::test]
async fn pings_keep_a_quiet_connection_alive() {
    // Without pings, 1.5 s of silence would exceed interval + timeout (1.1 s).
    let config = WsConfig::default().keepalive(Some(Duration::from_millis(100)), Duration::from_secs(1));
    let (server, mut peers) = server(config.clone()).await;
    let mut client = duplexrpc_ws::connect_with_config(&server.url(), config).await.unwrap();
    let mut methods = duplexrpc_core::Methods::new();
    methods
        .method("echo", |(s,): (String,)| async move { Ok::<_, RpcError>(s) })
        .unwrap();
    client.register(methods).unwrap();
    let client = client.start();
    let server_side = peers.recv().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!client.is_closed(), "{:?}", client.close_reason());
    let echoed: String = server_side.call("echo", ("still here",)).await.unwrap();
    assert_eq!(echoed, "still here");
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn keepalive_can_be_disabled() {
    let config = WsConfig::default().keepalive(None, Duration::from_millis(1));
    let (server, _peers) = server(config.clone()).await;
    let client = duplexrpc_ws::connect_with_config(&server.url(), config)
        .await
        .unwrap()
        .start();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!client.is_closed());
    client.close().await;
    server.stop().await;
}
