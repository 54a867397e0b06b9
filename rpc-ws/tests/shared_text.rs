//! A shared text (a broadcast's, or one a session keeps for replay) goes out
//! as the text frame its string makes; bytes that are not UTF-8 are refused
//! before they reach the wire.

use std::future::poll_fn;

use duplexrpc_core::transport::{SharedText, Transport};
use duplexrpc_ws::WsTransport;
use futures::StreamExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Bytes, Message};

async fn pair() -> (
    WsTransport<tokio::io::DuplexStream>,
    WebSocketStream<tokio::io::DuplexStream>,
) {
    let (server, client) = tokio::io::duplex(1 << 16);
    let server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
    let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    (WsTransport::new(server), client)
}

async fn send(transport: &mut WsTransport<tokio::io::DuplexStream>, text: SharedText) -> Result<(), String> {
    poll_fn(|cx| transport.poll_ready(cx))
        .await
        .map_err(|e| e.to_string())?;
    transport.start_send_shared(text).map_err(|e| e.to_string())?;
    poll_fn(|cx| transport.poll_flush(cx)).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_shared_text_arrives_as_the_text_frame_of_its_string() {
    let (mut server, mut client) = pair().await;
    let text = r#"{"jsonrpc":"2.0","method":"said","params":["héllo ✓ 😀"]}"#;
    let shared = SharedText::from(text.to_owned());
    assert!(shared.is_surely_utf8());
    for _ in 0..3 {
        send(&mut server, shared.clone()).await.unwrap();
    }
    let kept = SharedText::from_utf8_bytes(Bytes::from_static(text.as_bytes()));
    assert!(!kept.is_surely_utf8());
    send(&mut server, kept).await.unwrap();
    for _ in 0..4 {
        match client.next().await {
            Some(Ok(Message::Text(got))) => assert_eq!(got.as_str(), text),
            other => panic!("not the text frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_refused_before_the_wire() {
    let (mut server, mut client) = pair().await;
    let bad = SharedText::from_utf8_bytes(Bytes::from_static(b"{\"a\":\"\xff\"}"));
    assert!(send(&mut server, bad).await.is_err());
    send(&mut server, SharedText::from("{}".to_owned())).await.unwrap();
    match client.next().await {
        Some(Ok(Message::Text(got))) => assert_eq!(got.as_str(), "{}"),
        other => panic!("not the next text frame: {other:?}"),
    }
}
