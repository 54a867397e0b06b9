//! What an idle resumable session costs the server (issue 15 item 7: the
//! existing target of 8 KiB per idle connection holds with sessions on and
//! an empty replay buffer): the heap held per session connection, measured
//! with the counting allocator, right after `#new` / `#session` and again
//! after one call on each (whose reply stays in the replay buffer: this
//! client never acknowledges).

mod common;
mod heap;
mod raw;

use std::net::SocketAddr;
use std::time::Duration;

use common::{add_add, raise_fd_limit, serve};
use duplexrpc_core::session::SessionConfig;
use duplexrpc_ws::WsConfig;
use heap::heap_i64 as heap;
use raw::{BOUND, FIN, TEXT, frame_bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bare session client: the upgrade offering the subprotocol, then `#new`.
async fn session_client(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: duplexrpc.session.v1\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            tokio::time::timeout(BOUND, tcp.read(&mut byte)).await.unwrap().unwrap(),
            1
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.contains("duplexrpc.session.v1"), "{head}");
    tcp.write_all(&frame_bytes(FIN | TEXT, b"#new", true)).await.unwrap();
    let answer = read_text(&mut tcp).await;
    assert!(answer.starts_with("#session "), "{answer}");
    tcp
}

/// The next (small, unmasked) text frame from the server.
async fn read_text(tcp: &mut TcpStream) -> String {
    let mut header = [0u8; 2];
    tokio::time::timeout(BOUND, tcp.read_exact(&mut header))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header[0], FIN | TEXT, "a small text frame");
    let mut payload = vec![0u8; usize::from(header[1])];
    assert!(payload.len() < 126);
    tokio::time::timeout(BOUND, tcp.read_exact(&mut payload))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(payload).unwrap()
}

async fn add(tcp: &mut TcpStream) {
    let request = br#"{"jsonrpc":"2.0","id":1,"method":"add","params":[2,3]}"#;
    tcp.write_all(&frame_bytes(FIN | TEXT, request, true)).await.unwrap();
    assert_eq!(read_text(tcp).await, r#"{"jsonrpc":"2.0","result":5,"id":1}"#);
}

/// Heap per connection since `before`, once the server has settled.
async fn per_connection(before: i64, n: usize) -> i64 {
    tokio::time::sleep(Duration::from_millis(300)).await;
    (heap() - before) / n as i64
}

/// The target of `memory_idle.rs`, for plain connections.
const BUDGET: i64 = 8 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_costs_the_server_under_8_kib() {
    const N: usize = 500;
    let n = raise_fd_limit(N);
    let config = WsConfig::default().sessions(Some(SessionConfig::default()));
    let server = serve(config, add_add).await;
    let mut warm = session_client(server.local_addr()).await;
    add(&mut warm).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = heap();
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(session_client(server.local_addr()).await);
    }
    let idle = per_connection(before, n).await;
    for client in &mut clients {
        add(client).await;
    }
    let touched = per_connection(before, n).await;
    eprintln!("{n} sessions: {idle} bytes per idle session, {touched} after one call each (its reply held for replay)");
    assert!(idle <= BUDGET, "{idle} bytes per idle session (budget {BUDGET})");
    assert!(
        touched <= BUDGET,
        "{touched} bytes per session after one call (budget {BUDGET})"
    );
    drop(clients);
    server.stop().await;
}
