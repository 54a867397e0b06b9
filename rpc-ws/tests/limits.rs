//! Transport limits: connections per server (HTTP 503), message and frame
//! size (close 1009); the server survives and keeps serving within them.

use std::time::Duration;

mod common;

use common::{add_echo, serve};
use duplexrpc_core::transport::CloseReason;
use duplexrpc_ws::{ConnectError, WsConfig};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

const BOUND: Duration = Duration::from_secs(15);

async fn echo_server(config: WsConfig) -> duplexrpc_ws::ServerHandle {
    serve(config, add_echo).await
}

#[tokio::test]
async fn excess_handshakes_are_refused_with_503_until_a_slot_frees() {
    let server = echo_server(WsConfig::default().max_connections(2)).await;
    let a = duplexrpc_ws::connect(&server.url()).await.unwrap().start();
    let b = duplexrpc_ws::connect(&server.url()).await.unwrap().start();
    let err = duplexrpc_ws::connect(&server.url()).await.unwrap_err();
    match &err {
        ConnectError::Rejected { status, body } => {
            assert_eq!(*status, 503);
            assert_eq!(body, "too many connections");
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // The two admitted connections are unaffected.
    let echoed: String = b.call("echo", ("b",)).await.unwrap();
    assert_eq!(echoed, "b");
    a.close().await;
    a.finished().await;
    // The freed slot is reused (the server notices the close asynchronously).
    let c = tokio::time::timeout(BOUND, async {
        loop {
            match duplexrpc_ws::connect(&server.url()).await {
                Ok(conn) => break conn.start(),
                Err(e) if e.status() == Some(503) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .unwrap();
    let echoed: String = c.call("echo", ("c",)).await.unwrap();
    assert_eq!(echoed, "c");
    b.close().await;
    c.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009_and_the_server_survives() {
    let server = echo_server(WsConfig::default().max_message_size(1024)).await;
    // Just under the limit: served.
    let ok = duplexrpc_ws::connect(&server.url()).await.unwrap().start();
    let small = "x".repeat(900);
    let echoed: String = ok.call("echo", (small.clone(),)).await.unwrap();
    assert_eq!(echoed, small);
    // Over it: that connection is closed with 1009, the call fails.
    let big = duplexrpc_ws::connect(&server.url()).await.unwrap().start();
    let err = tokio::time::timeout(BOUND, big.call::<_, String>("echo", ("y".repeat(2000),)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.is_disconnected(), "{err:?}");
    assert!(err.to_string().contains("1009"), "{err}");
    assert!(big.close_reason().unwrap().contains("message too big"));
    // The other connection and new ones are unaffected.
    let echoed: String = ok.call("echo", (small.clone(),)).await.unwrap();
    assert_eq!(echoed, small);
    let again = duplexrpc_ws::connect(&server.url()).await.unwrap().start();
    let echoed: String = again.call("echo", ("z",)).await.unwrap();
    assert_eq!(echoed, "z");
    ok.close().await;
    again.close().await;
    server.stop().await;
}

/// Reads until a close frame; returns it.
async fn close_frame<S>(ws: &mut S) -> Option<CloseFrame>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Close(frame)) => return frame,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[tokio::test]
async fn the_frame_limit_applies_per_frame_and_the_message_limit_to_the_whole() {
    let config = WsConfig::default().max_message_size(4096).max_frame_size(512);
    let server = echo_server(config).await;
    let request = |len: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":["{}"]}}"#,
            "a".repeat(len)
        )
    };

    // 1,000 bytes in fragments of at most 300: every frame is within the
    // frame limit and the message within the message limit, so it is served.
    let (mut ws, _) = tokio_tungstenite::connect_async(server.url()).await.unwrap();
    let text = request(1000);
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(300).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(chunk.to_vec(), opcode, i == chunks.len() - 1);
        ws.send(Message::Frame(frame)).await.unwrap();
    }
    let reply = tokio::time::timeout(BOUND, ws.next()).await.unwrap().unwrap().unwrap();
    assert!(reply.to_text().unwrap().contains(&"a".repeat(1000)), "{reply:?}");

    // The same message as one frame is over the frame limit: closed with 1009.
    ws.send(Message::text(text)).await.unwrap();
    let frame = tokio::time::timeout(BOUND, close_frame(&mut ws))
        .await
        .unwrap()
        .expect("a close frame");
    assert_eq!(frame.code, CloseCode::Size);
    assert!(frame.reason.contains("too big"), "{}", frame.reason);

    // A message over the message limit in small frames: closed with 1009 too.
    let (mut ws, _) = tokio_tungstenite::connect_async(server.url()).await.unwrap();
    let text = request(5000);
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(500).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        if ws
            .send(Message::Frame(Frame::message(
                chunk.to_vec(),
                opcode,
                i == chunks.len() - 1,
            )))
            .await
            .is_err()
        {
            break; // the server may close before all fragments are sent
        }
    }
    let frame = tokio::time::timeout(BOUND, close_frame(&mut ws))
        .await
        .unwrap()
        .expect("a close frame");
    assert_eq!(u16::from(frame.code), CloseReason::new(1009, "").code);
    server.stop().await;
}
