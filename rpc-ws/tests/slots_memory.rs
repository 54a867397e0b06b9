//! A silent socket (connected, sending nothing) costs the server a small
//! task only: TLS and HTTP state and buffers come once the client sends.

use std::alloc::System;
use std::time::Duration;

use duplexrpc_ws::Server;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::net::TcpStream;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn heap_bytes() -> i64 {
    let stats = INSTRUMENTED_SYSTEM.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_costs_the_server_under_4_kib() {
    const SILENT: usize = 2_000;
    let got = rlimit::increase_nofile_limit((2 * SILENT + 500) as u64).unwrap_or(1024);
    let n = SILENT.min((got.saturating_sub(500) / 2) as usize);
    let server = Server::bind("127.0.0.1:0").await.unwrap().serve(|_conn, _info| Ok(()));
    // Warm up (the runtime's and the server's one-time allocations).
    duplexrpc_ws::connect(&server.url())
        .await
        .unwrap()
        .start()
        .close()
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = heap_bytes();
    let mut silent = Vec::with_capacity(n);
    for _ in 0..n {
        silent.push(TcpStream::connect(server.local_addr()).await.unwrap());
    }
    // Accepted in order: once this client is served, so are the silent ones.
    duplexrpc_ws::connect(&server.url())
        .await
        .unwrap()
        .start()
        .close()
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Both ends of each socket are in this process; the client's is a few hundred bytes.
    let per_socket = (heap_bytes() - before) / n as i64;
    assert!(per_socket < 4096, "{per_socket} bytes per silent socket");
    drop(silent);
    server.stop().await;
}
