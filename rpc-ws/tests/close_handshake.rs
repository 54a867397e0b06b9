//! The closing handshake (RFC 6455 §5.5.1, §7.1): when the other end sends
//! a Close frame first, ours answers with a Close frame of the same code
//! before the TCP connection ends, on the server and on the Rust client.

mod raw;

use duplexrpc_core::Methods;
use duplexrpc_ws::{Disconnect, Server};
use raw::{CLOSE, FIN, Raw, close_payload};
use tokio::net::TcpListener;

#[tokio::test]
async fn the_server_echoes_a_close_the_client_starts_then_ends_the_tcp_connection() {
    let server = Server::bind("127.0.0.1:0").await.unwrap().serve(|conn, _| {
        conn.register(Methods::new())?;
        Ok(())
    });
    let mut client = Raw::connect(server.local_addr()).await;
    client.send(FIN | CLOSE, &close_payload(1000, "bye")).await;
    let echo = client.read_close().await;
    assert_eq!(echo.head, FIN | CLOSE, "{echo:?}");
    assert!(!echo.masked, "a server's frames are not masked");
    assert_eq!(echo.close(), (1000, "bye".to_owned()));
    client.expect_end().await;
    server.stop().await;
}

#[tokio::test]
async fn the_client_echoes_a_close_the_server_starts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let connecting = tokio::spawn(async move { duplexrpc_ws::connect(&url).await.unwrap() });
    let mut server = Raw::accept(&listener).await;
    let connection = connecting.await.unwrap();
    let status = connection.status();
    let peer = connection.start();
    server.send(FIN | CLOSE, &close_payload(1000, "bye")).await;
    let echo = server.read_close().await;
    assert_eq!(echo.head, FIN | CLOSE, "{echo:?}");
    assert!(echo.masked, "a client's frames are masked");
    assert_eq!(echo.close(), (1000, "bye".to_owned()));
    server.expect_end().await;
    peer.finished().await;
    let reason = duplexrpc_core::transport::CloseReason::new(1000, "bye");
    assert_eq!(status.disconnect(), Some(Disconnect::Closed(Some(reason))));
}
