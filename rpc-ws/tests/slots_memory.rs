//! A silent socket (connected, sending nothing) costs the server a small
//! task only: TLS and HTTP state and buffers come once the client sends.

mod common;
mod heap;

use std::time::Duration;

use common::{bare_server, connect_and_close, open_silent, raise_fd_limit};
use heap::heap_i64 as heap_bytes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_costs_the_server_under_4_kib() {
    const SILENT: usize = 2_000;
    let n = raise_fd_limit(SILENT);
    let server = bare_server().await;
    // Warm up (the runtime's and the server's one-time allocations).
    connect_and_close(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = heap_bytes();
    let silent = open_silent(server.local_addr(), n).await;
    // Accepted in order: once this client is served, so are the silent ones.
    connect_and_close(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Both ends of each socket are in this process; the client's is a few hundred bytes.
    let per_socket = (heap_bytes() - before) / n as i64;
    assert!(per_socket < 4096, "{per_socket} bytes per silent socket");
    drop(silent);
    server.stop().await;
}
