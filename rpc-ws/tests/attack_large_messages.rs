//! Large messages against the server-wide budget (issue 12 item 3), on a
//! default server: all connections together hold at most
//! `WsConfig::max_large_message_bytes` (1 GiB) of large messages, so 70
//! clients each starting a 16 MiB message cannot make it hold 1.1 GiB: the
//! ones past the budget are closed with 1013 at once.

mod common;
mod raw;

use std::time::Duration;

use common::{add_echo, serve};
use duplexrpc_ws::{ServerHandle, WsConfig};
use raw::{CLOSE, Raw};

async fn echo_server(config: WsConfig) -> ServerHandle {
    serve(config, add_echo).await
}

/// The header of a masked text frame of `len` bytes and its first `sent`
/// payload bytes (the rest never comes).
fn started_frame(len: u64, sent: usize) -> Vec<u8> {
    let mut bytes = vec![0x81, 0x80 | 127];
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    bytes.extend(std::iter::repeat_n(b'x' ^ 1, sent));
    bytes
}

/// Starts a `len`-byte message on each of `n` connections; returns the
/// close codes the server sent within a second (0: still open).
async fn start_messages(server: &ServerHandle, n: usize, len: u64) -> (Vec<u16>, Vec<Raw>) {
    let mut clients = Vec::new();
    for _ in 0..n {
        let mut client = Raw::connect(server.local_addr()).await;
        client.send_bytes(&started_frame(len, 4096)).await;
        clients.push(client);
    }
    // Closes are sent at once; whatever has not come after this is open.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut codes = Vec::new();
    for client in &mut clients {
        codes.push(close_code(client).await);
    }
    (codes, clients)
}

/// The code of the close the server sent, 0 if none is waiting (pings skipped).
async fn close_code(client: &mut Raw) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_millis(50), client.read_frame()).await {
            Ok(Some(frame)) if frame.opcode() == CLOSE => return frame.close().0,
            Ok(Some(_ping)) => continue,
            Ok(None) => panic!("the connection ended without a close"),
            Err(_) => return 0,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_past_the_server_wide_budget_are_refused_with_1013() {
    let server = echo_server(WsConfig::default()).await;
    let len = (16 << 20) - 100;
    let (codes, _clients) = start_messages(&server, 70, len).await;
    let refused = codes.iter().filter(|&&c| c == 1013).count();
    let open = codes.iter().filter(|&&c| c == 0).count();
    assert_eq!((open, refused), (64, 6), "1 GiB holds 64 messages of 16 MiB: {codes:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_comes_back_when_a_connection_ends() {
    let server = echo_server(WsConfig::default().max_large_message_bytes(3 << 20)).await;
    let (codes, clients) = start_messages(&server, 3, 1 << 20).await;
    assert_eq!(codes, [0, 0, 0], "three 1 MiB messages fit in 3 MiB");
    let (codes, _more) = start_messages(&server, 1, 1 << 20).await;
    assert_eq!(codes, [1013]);
    drop(clients);
    let again = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (codes, client) = start_messages(&server, 1, 1 << 20).await;
            if codes == [0] {
                return client;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(again.is_ok(), "the closed connections' share was not given back");
    server.stop().await;
}
