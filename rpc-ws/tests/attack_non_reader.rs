//! A client that sends small requests with big replies and never reads them
//! (issue 12 items 1 and 2), against a default server: the replies the
//! server holds for it are bounded in bytes (`PeerConfig::send_buffer`), not
//! in messages; and while the connection is paused for it, the keepalive
//! deadline and the write timeout still drop it on time.

mod common;
mod heap;
mod raw;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::add_blob;
use duplexrpc_core::{Methods, Peer, PeerConfig};
use duplexrpc_ws::{Server, ServerHandle, WsConfig};
use heap::heap;
use raw::{FIN, Raw, TEXT};

/// A server with `blob` (a small request, a 64 KiB reply); the peers of its
/// connections go to the returned list.
async fn blob_server(config: WsConfig) -> (ServerHandle, Arc<Mutex<Vec<Peer>>>) {
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = peers.clone();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .serve(move |conn, _| {
            seen.lock().unwrap().push(conn.peer().clone());
            let mut methods = Methods::new();
            add_blob(&mut methods);
            conn.register(methods)?;
            Ok(())
        });
    (server, peers)
}

fn blob_requests(n: usize) -> Vec<u8> {
    raw::text_frames((0..n).map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"blob"}}"#)))
}

/// Batches of `len` invalid elements (`[1,1,...]`): each element's -32600
/// reply is some 40 times the element.
fn invalid_batches(batches: usize, len: usize) -> Vec<u8> {
    let batch = format!("[{}]", vec!["1"; len].join(","));
    let frame = raw::frame_bytes(FIN | TEXT, batch.as_bytes(), true);
    frame.repeat(batches)
}

/// Sends `bytes` and never reads; returns the most the server's heap grew
/// above `idle` over `watch`, and the client (still open).
async fn peak_while_not_reading(server: &ServerHandle, bytes: Vec<u8>, watch: Duration) -> usize {
    let mut client = Raw::connect(server.local_addr()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let idle = heap();
    // The server may stop reading: write from a task, never wait on it.
    let writer = tokio::spawn(async move {
        client.send_bytes(&bytes).await;
        client
    });
    let mut peak = 0;
    let end = tokio::time::Instant::now() + watch;
    while tokio::time::Instant::now() < end {
        peak = peak.max(heap().saturating_sub(idle));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer.abort();
    peak
}

/// A client sends `bytes` to a default server and never reads: over 2 s
/// the server's heap must grow by under 4 MiB: twice the 64 KiB budget, a
/// reply in hand, tungstenite's 128 KiB write buffer, and room for the
/// test's own bookkeeping.
async fn heap_stays_bounded_for_a_non_reader_of(bytes: Vec<u8>) {
    let (server, _peers) = blob_server(WsConfig::default()).await;
    let peak = peak_while_not_reading(&server, bytes, Duration::from_secs(2)).await;
    let bound = 4 << 20;
    eprintln!("heap growth for one non-reader: {peak} bytes");
    assert!(
        peak < bound,
        "the server's heap grew by {peak} bytes for one non-reader (bound {bound})"
    );
    server.stop().await;
}

/// 2,000 requests of 44 bytes (88 KB) whose replies total 125 MiB: before,
/// the outbox and the queue held 1,024 replies each (128 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_requests_with_big_replies_never_read_pin_a_bounded_heap() {
    heap_stays_bounded_for_a_non_reader_of(blob_requests(2000)).await;
}

/// 300 batches of 1,000 invalid elements (2 KB each, 600 KB in all) whose
/// replies total 23 MiB: before, the outbox held every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_invalid_elements_never_read_pin_a_bounded_heap() {
    heap_stays_bounded_for_a_non_reader_of(invalid_batches(300, 1000)).await;
}

/// Waits until the server's only connection is closed; panics after `limit`.
async fn closed_within(peers: &Mutex<Vec<Peer>>, limit: Duration) -> String {
    let peer = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(peer) = peers.lock().unwrap().first().cloned() {
                return peer;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the connection was set up");
    tokio::time::timeout(limit, peer.closed())
        .await
        .unwrap_or_else(|_| panic!("the non-reader's connection was still open after {limit:?}"));
    peer.close_reason().map(|r| r.to_string()).unwrap_or_default()
}

/// One client sends 2,000 `blob` requests to a server with `config` and
/// never reads; returns the close reason of the server's side, which must
/// close within `limit`.
async fn not_reading_until_closed(config: WsConfig, limit: Duration) -> String {
    let (server, peers) = blob_server(config).await;
    let mut client = Raw::connect(server.local_addr()).await;
    let writer = tokio::spawn(async move {
        client.send_bytes(&blob_requests(2000)).await;
        client
    });
    let reason = closed_within(&peers, limit).await;
    writer.abort();
    server.stop().await;
    reason
}

/// Before, a paused connection polled nothing, so a non-reader outlived the
/// keepalive deadline (1 s + 1 s here) for as long as it liked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_connection_still_meets_its_keepalive_deadline() {
    let config = WsConfig::default().keepalive(Some(Duration::from_secs(1)), Duration::from_secs(1));
    let reason = not_reading_until_closed(config, Duration::from_secs(6)).await;
    assert!(reason.contains("keepalive timeout"), "{reason}");
}

/// The write timeout drops a non-reader even with keepalive off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_takes_no_bytes_is_dropped_after_the_write_timeout() {
    let peer = PeerConfig::default().write_timeout(Some(Duration::from_secs(1)));
    let config = WsConfig::default().keepalive(None, Duration::ZERO).peer(peer);
    let reason = not_reading_until_closed(config, Duration::from_secs(5)).await;
    assert!(reason.contains("write timeout"), "{reason}");
}
