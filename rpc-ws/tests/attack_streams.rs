//! Stream floods (issue 12 item 6), against a default server: a connection
//! produces at most `PeerConfig::max_streams` streams at once (256), and
//! the next request for one is refused with -32000 "Server busy" saying why;
//! all connections together at most `max_total_streams`.

mod common;
mod heap;
mod raw;

use std::time::Duration;

use common::{add_forever, serve};
use duplexrpc_core::PeerConfig;
use duplexrpc_ws::{ServerHandle, WsConfig};
use heap::heap;
use raw::Raw;

/// A server whose `forever` streams nothing and never ends.
async fn stream_server(config: WsConfig) -> ServerHandle {
    serve(config, add_forever).await
}

/// Opens `n` streams on a fresh raw connection; returns how many were
/// refused, the last refusal, and the connection (kept open).
async fn open_streams(server: &ServerHandle, n: usize) -> (usize, String, Raw) {
    let mut client = Raw::connect(server.local_addr()).await;
    let bytes = raw::text_frames((0..n).map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"forever"}}"#)));
    client.send_bytes(&bytes).await;
    let (mut refused, mut last) = (0, String::new());
    for _ in 0..n {
        let reply = String::from_utf8(client.read_frame().await.expect("a reply").payload).unwrap();
        if reply.contains("-32000") {
            refused += 1;
            last = reply;
        } else {
            assert!(reply.contains(r#""result":null"#), "{reply}");
        }
    }
    (refused, last, client)
}

/// 5,000 stream requests on one connection: 256 start, the rest are refused
/// (before, all 5,000 started: 5,000 tasks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_cannot_open_more_than_its_streams() {
    let server = stream_server(WsConfig::default()).await;
    let before = heap();
    let (refused, last, _client) = open_streams(&server, 5000).await;
    assert_eq!(refused, 5000 - 256, "{last}");
    assert!(last.contains("too many open streams on this connection"), "{last}");
    let grown = heap().saturating_sub(before);
    assert!(grown < 4 << 20, "256 open streams cost {grown} bytes");
    server.stop().await;
}

/// The server-wide budget: connections together stay under it, and a
/// stream that ends gives its place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_together_stay_under_the_server_wide_stream_budget() {
    let peer = PeerConfig::default().max_streams(100).max_total_streams(150);
    let server = stream_server(WsConfig::default().peer(peer)).await;
    let (refused_a, _, a) = open_streams(&server, 120).await;
    assert_eq!(refused_a, 20, "the per-connection limit");
    let (refused_b, last, _b) = open_streams(&server, 120).await;
    assert_eq!(refused_b, 70, "50 of the server's 150 were left: {last}");
    assert!(last.contains("too many open streams on this server"), "{last}");
    drop(a);
    // The first connection's 100 streams end with it.
    let reopened = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (refused, _, c) = open_streams(&server, 100).await;
            if refused == 0 {
                return c;
            }
            drop(c);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(reopened.is_ok(), "the closed connection's places were not given back");
    server.stop().await;
}
