//! What an idle connection costs a default [`Server`]: the heap held per
//! upgraded, idle WebSocket connection, measured with a counting allocator,
//! right after the upgrade and again after one call on each.

mod common;
mod heap;
mod raw;

use std::time::Duration;

use common::{add_add, raise_fd_limit, serve};
use duplexrpc_ws::{ServerHandle, WsConfig};
use heap::heap_i64 as heap;
use raw::{FIN, Raw, TEXT};

async fn add_server() -> ServerHandle {
    serve(WsConfig::default(), add_add).await
}

async fn add(client: &mut Raw) {
    let request = br#"{"jsonrpc":"2.0","id":1,"method":"add","params":[2,3]}"#;
    client.send(FIN | TEXT, request).await;
    let reply = client.read_frame().await.expect("a reply");
    assert_eq!(reply.payload, br#"{"jsonrpc":"2.0","result":5,"id":1}"#);
}

/// Heap per connection since `before`, once the server has settled.
async fn per_connection(before: i64, n: usize) -> i64 {
    tokio::time::sleep(Duration::from_millis(300)).await;
    (heap() - before) / n as i64
}

/// The budget, in heap bytes per connection (server side, plus the test's
/// own bare client socket, a few hundred bytes). A connection costs some
/// 5.4 KiB here (debug build); 8 KiB leaves over 2.5 KiB of headroom and
/// still catches the regressions this test was written for: hyper's 8 KiB
/// read buffer kept for the connection's life (17 KiB in all), or the
/// upgrade's one-off state sizing the connection's task for its life
/// (about 9 KiB).
const BUDGET: i64 = 8 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_costs_the_server_under_8_kib() {
    const N: usize = 500;
    let n = raise_fd_limit(N);
    let server = add_server().await;
    // Warm up (the runtime's and the server's one-time allocations).
    let mut warm = Raw::connect(server.local_addr()).await;
    add(&mut warm).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = heap();
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(Raw::connect(server.local_addr()).await);
    }
    // The client side (a bare TcpStream each) is in this figure too: a few hundred bytes.
    let idle = per_connection(before, n).await;
    for client in &mut clients {
        add(client).await;
    }
    let touched = per_connection(before, n).await;
    eprintln!("{n} connections: {idle} bytes per idle connection, {touched} after one call each");
    assert!(idle <= BUDGET, "{idle} bytes per idle connection (budget {BUDGET})");
    assert!(
        touched <= BUDGET,
        "{touched} bytes per connection after one call (budget {BUDGET})"
    );
    drop(clients);
    server.stop().await;
}
