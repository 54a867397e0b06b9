//! A detached session counts against `max_connections` (its peer, calls
//! and buffers are all still there), and a resume is admitted even when
//! every slot is taken: its session holds one already. A new session is
//! not (1013), and the slot comes back once the session ends.

#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/session.rs"]
mod session;

use std::time::Duration;

use duplexrpc_core::session::SessionConfig;
use duplexrpc_ws::{ConnectError, ConnectionEvent, Server, WsConfig};
use futures::{SinkExt, StreamExt};
use proxy::Proxy;
use session::{HubClient, client, short_keepalive, wait_for};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[tokio::test]
async fn a_detached_session_keeps_its_slot_and_resumes_on_a_full_server() {
    let config = short_keepalive(WsConfig::default())
        .max_connections(1)
        .sessions(Some(SessionConfig::default()));
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .serve(|conn, _| {
            conn.register(session::hub(conn.peer().clone()))?;
            Ok(())
        });
    let direct = server.url();
    let proxy = Proxy::start(server.local_addr()).await;
    let (client, mut events, _ticks) = client(&proxy.url()).await;
    let hub = HubClient::new(client.peer());
    assert_eq!(hub.slow_echo(1, 0).await.unwrap(), 1);

    // Cut, and hold the client's new connections: the session is detached.
    proxy.freeze();
    proxy.cut();
    wait_for(&mut events, |e| matches!(e, ConnectionEvent::Disconnected { .. })).await;
    let pending = tokio::spawn({
        let hub = hub.clone();
        async move { hub.slow_echo(2, 0).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    match duplexrpc_ws::connect(&direct).await {
        Err(ConnectError::Rejected { status: 503, body }) => assert!(body.contains("too many connections"), "{body}"),
        other => panic!("a plain client of the full server: {:?}", other.map(|_| ())),
    }
    // A new session is refused too, after the upgrade: 1013, try later.
    let mut request = direct.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("duplexrpc.session.v1"),
    );
    let (mut fresh, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    fresh.send(Message::text("#new")).await.unwrap();
    let close = tokio::time::timeout(Duration::from_secs(5), fresh.next())
        .await
        .unwrap();
    match close {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1013),
        other => panic!("expected a 1013 close, got {other:?}"),
    }

    // The resume gets in without a free slot.
    proxy.heal();
    wait_for(&mut events, |e| matches!(e, ConnectionEvent::Resumed { .. })).await;
    assert_eq!(pending.await.unwrap().unwrap(), 2, "the call made during the gap");

    // Closing the session gives the slot back.
    client.close().await;
    let mut reconnected = None;
    for _ in 0..100 {
        if let Ok(conn) = duplexrpc_ws::connect(&direct).await {
            reconnected = Some(conn.start());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reconnected.expect("a slot once the session ended").close().await;
    server.stop().await;
}
