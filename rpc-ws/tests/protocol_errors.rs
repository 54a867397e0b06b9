//! Protocol errors close the connection with the codes of RFC 6455 §7.4.1:
//! 1007 for a text message that is not UTF-8, 1002 for every framing error
//! (an unmasked client frame, reserved bits, an unknown opcode, a bad control
//! frame, a continuation without a start, an invalid close code).

mod raw;

use duplexrpc_core::Methods;
use duplexrpc_ws::{Server, ServerHandle};
use raw::{CLOSE, CONTINUATION, FIN, PING, Raw, TEXT, close_payload, frame_bytes};

async fn server() -> ServerHandle {
    Server::bind("127.0.0.1:0").await.unwrap().serve(|conn, _| {
        conn.register(Methods::new())?;
        Ok(())
    })
}

/// Sends `bytes` on a fresh connection; returns the close code the server answers with.
async fn close_code_for(bytes: &[u8]) -> u16 {
    let server = server().await;
    let mut client = Raw::connect(server.local_addr()).await;
    client.send_bytes(bytes).await;
    let close = client.read_close().await;
    client.expect_end().await;
    server.stop().await;
    close.close().0
}

fn masked(head: u8, payload: &[u8]) -> Vec<u8> {
    frame_bytes(head, payload, true)
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    assert_eq!(close_code_for(&masked(FIN | TEXT, b"\xff\xfe{}")).await, 1007);
}

#[tokio::test]
async fn invalid_utf8_across_fragments_closes_with_1007() {
    let mut bytes = masked(TEXT, b"ok \xe2");
    bytes.extend(masked(FIN | CONTINUATION, b"\x28"));
    assert_eq!(close_code_for(&bytes).await, 1007);
}

#[tokio::test]
async fn an_unmasked_client_frame_closes_with_1002() {
    assert_eq!(close_code_for(&frame_bytes(FIN | TEXT, b"{}", false)).await, 1002);
}

#[tokio::test]
async fn reserved_bits_close_with_1002() {
    assert_eq!(close_code_for(&masked(FIN | 0x40 | TEXT, b"{}")).await, 1002);
}

#[tokio::test]
async fn an_unknown_data_opcode_closes_with_1002() {
    assert_eq!(close_code_for(&masked(FIN | 0x3, b"{}")).await, 1002);
}

#[tokio::test]
async fn an_unknown_control_opcode_closes_with_1002() {
    assert_eq!(close_code_for(&masked(FIN | 0xB, b"")).await, 1002);
}

#[tokio::test]
async fn an_oversized_control_frame_closes_with_1002() {
    assert_eq!(close_code_for(&masked(FIN | PING, &[b'p'; 126])).await, 1002);
}

#[tokio::test]
async fn a_fragmented_control_frame_closes_with_1002() {
    assert_eq!(close_code_for(&masked(PING, b"p")).await, 1002);
}

#[tokio::test]
async fn a_continuation_without_a_start_closes_with_1002() {
    assert_eq!(close_code_for(&masked(FIN | CONTINUATION, b"{}")).await, 1002);
}

#[tokio::test]
async fn a_new_message_inside_a_fragmented_one_closes_with_1002() {
    let mut bytes = masked(TEXT, b"[");
    bytes.extend(masked(FIN | TEXT, b"{}"));
    assert_eq!(close_code_for(&bytes).await, 1002);
}

#[tokio::test]
async fn an_invalid_close_code_from_the_peer_gets_1002() {
    // 1005 is reserved: it must never be sent in a Close frame (§7.4.1).
    assert_eq!(
        close_code_for(&masked(FIN | CLOSE, &close_payload(1005, ""))).await,
        1002
    );
}

#[tokio::test]
async fn a_one_byte_close_payload_gets_1002() {
    assert_eq!(close_code_for(&masked(FIN | CLOSE, &[0x03])).await, 1002);
}

#[tokio::test]
async fn a_close_reason_that_is_not_utf8_gets_1007() {
    let mut payload = close_payload(1000, "");
    payload.extend_from_slice(b"\xff");
    assert_eq!(close_code_for(&masked(FIN | CLOSE, &payload)).await, 1007);
}

#[tokio::test]
async fn the_client_closes_with_1002_on_a_masked_server_frame() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let connecting = tokio::spawn(async move { duplexrpc_ws::connect(&url).await.unwrap() });
    let mut server = Raw::accept(&listener).await;
    let peer = connecting.await.unwrap().start();
    server.send_bytes(&masked(FIN | TEXT, b"{}")).await;
    assert_eq!(server.read_close().await.close().0, 1002);
    peer.finished().await;
}
