//! Graceful shutdown: stop accepting, let running calls finish (both
//! directions) up to a deadline, close with 1001; clients tell that clean
//! going-away from a crash.

use std::time::Duration;

use duplexrpc_core::{Methods, Peer, RpcError};
use duplexrpc_ws::{ConnectionStatus, Disconnect, Server, ServerHandle, WsConfig};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const BOUND: Duration = Duration::from_secs(15);

/// Serves `slow(ms)` (reports when it starts) and hands out each connection's peer.
async fn server(
    config: WsConfig,
) -> (
    ServerHandle,
    mpsc::UnboundedReceiver<&'static str>,
    mpsc::UnboundedReceiver<Peer>,
) {
    let (started_tx, started) = mpsc::unbounded_channel();
    let (peers_tx, peers) = mpsc::unbounded_channel();
    let handle = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .serve(move |conn, _info| {
            let mut methods = Methods::new();
            let started = started_tx.clone();
            methods.method("slow", move |(ms,): (u64,)| {
                let _ = started.send("slow");
                async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok::<_, RpcError>(ms)
                }
            })?;
            conn.register(methods)?;
            let _ = peers_tx.send(conn.peer().clone());
            Ok(())
        });
    (handle, started, peers)
}

/// A client serving `ui.slow(ms)`; returns its peer and status handle.
async fn client(url: &str) -> (Peer, ConnectionStatus) {
    let mut conn = duplexrpc_ws::connect(url).await.unwrap();
    let mut ui = Methods::new();
    ui.method("ui.slow", |(ms,): (u64,)| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, RpcError>(ms + 1)
    })
    .unwrap();
    conn.register(ui).unwrap();
    let status = conn.status();
    (conn.start(), status)
}

#[tokio::test]
async fn stop_lets_running_calls_finish_in_both_directions_then_closes_with_1001() {
    let (server, mut started, mut peers) = server(WsConfig::default()).await;
    let url = server.url();
    let (peer, status) = client(&url).await;
    let server_side = peers.recv().await.unwrap();
    // A call the client made and one the server made are both running...
    let client_call = tokio::spawn({
        let peer = peer.clone();
        async move { peer.call::<_, u64>("slow", (300,)).await }
    });
    let server_call = tokio::spawn(async move { server_side.call::<_, u64>("ui.slow", (300,)).await });
    assert_eq!(started.recv().await, Some("slow"));
    // ...when the server is told to stop.
    let stopping = tokio::spawn(server.stop());
    // It stops accepting at once.
    let refused = tokio::time::timeout(BOUND, async {
        loop {
            match duplexrpc_ws::connect(&url).await {
                Err(duplexrpc_ws::ConnectError::Io { .. }) => break,
                Ok(conn) => conn.start().close().await,
                Err(e) => panic!("{e}"),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    refused.await.expect("new connections are refused");
    // Both calls complete normally.
    assert_eq!(client_call.await.unwrap(), Ok(300));
    assert_eq!(server_call.await.unwrap(), Ok(301));
    tokio::time::timeout(BOUND, stopping)
        .await
        .expect("stop completes")
        .unwrap();
    // The client sees a clean close with 1001, not a failure.
    tokio::time::timeout(BOUND, peer.closed()).await.unwrap();
    let disconnect = status.disconnect().expect("the server closed the connection");
    assert!(disconnect.is_clean() && disconnect.is_going_away(), "{disconnect:?}");
    assert_eq!(disconnect.code(), Some(1001));
    assert!(
        peer.close_reason().unwrap().contains("1001"),
        "{:?}",
        peer.close_reason()
    );
    let err = peer.call::<_, u64>("slow", (1,)).await.unwrap_err();
    assert!(err.is_disconnected());
}

#[tokio::test]
async fn calls_still_running_at_the_deadline_fail_with_the_disconnect_error() {
    let config = WsConfig::default().shutdown_grace(Duration::from_millis(200));
    let (server, mut started, _peers) = server(config).await;
    let (peer, status) = client(&server.url()).await;
    let call = tokio::spawn({
        let peer = peer.clone();
        async move { peer.call::<_, u64>("slow", (60_000,)).await }
    });
    assert_eq!(started.recv().await, Some("slow"));
    tokio::time::timeout(BOUND, server.stop())
        .await
        .expect("stop is bounded by the grace");
    let err = tokio::time::timeout(BOUND, call).await.unwrap().unwrap().unwrap_err();
    assert!(err.is_disconnected(), "{err:?}");
    tokio::time::timeout(BOUND, peer.closed()).await.unwrap();
    assert!(
        status.disconnect().unwrap().is_going_away(),
        "{:?}",
        status.disconnect()
    );
}

#[tokio::test]
async fn an_idle_server_stops_at_once() {
    // The grace is long; with nothing running, stop does not wait for it.
    let config = WsConfig::default().shutdown_grace(Duration::from_secs(600));
    let (server, _started, _peers) = server(config).await;
    let url = server.url();
    let clients: Vec<_> = futures::future::join_all((0..5).map(|_| client(&url))).await;
    tokio::time::timeout(BOUND, server.stop())
        .await
        .expect("stops without waiting for the grace");
    for (peer, status) in clients {
        tokio::time::timeout(BOUND, peer.closed()).await.unwrap();
        assert!(status.disconnect().unwrap().is_going_away());
    }
}

#[tokio::test]
async fn a_crashed_server_is_told_apart_from_a_clean_shutdown() {
    // A "server" that completes the handshake, then vanishes without a close frame.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let crasher = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(ws); // TCP closed, no WebSocket close frame
    });
    let (peer, status) = client(&url).await;
    let err = tokio::time::timeout(BOUND, peer.call::<_, u64>("slow", (1,)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.is_disconnected(), "{err:?}");
    let disconnect = status.disconnect().expect("the connection broke");
    assert!(matches!(disconnect, Disconnect::Failed(_)), "{disconnect:?}");
    assert!(!disconnect.is_clean() && !disconnect.is_going_away());
    crasher.await.unwrap();
}
