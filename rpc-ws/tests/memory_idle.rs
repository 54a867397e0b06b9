//! What an idle connection costs a default [`Server`]: the heap held per
//! upgraded, idle WebSocket connection, measured with a counting allocator,
//! right after the upgrade and again after one call on each.

mod raw;

use std::alloc::System;
use std::time::Duration;

use duplexrpc_core::{Methods, RpcError};
use duplexrpc_ws::{Server, ServerHandle};
use raw::{Raw, TEXT};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const FIN: u8 = 0x80;

/// Bytes allocated and not yet freed, in this whole process.
fn heap() -> i64 {
    let s = GLOBAL.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

async fn add_server() -> ServerHandle {
    Server::bind("127.0.0.1:0").await.unwrap().serve(|conn, _| {
        let mut methods = Methods::new();
        methods.method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })?;
        conn.register(methods)?;
        Ok(())
    })
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
    let got = rlimit::increase_nofile_limit((2 * N + 200) as u64).unwrap_or(1024);
    let n = N.min((got.saturating_sub(200) / 2) as usize);
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
