//! The work a client that never reads can make the server do (issue 12,
//! the combined-attack soak): the server computes and writes replies only
//! until the socket stops taking bytes, so what one non-reader costs in CPU
//! is how many bytes the socket takes before it pushes back. Without a
//! bound, loopback's send buffer grows to megabytes (`tcp_wmem`), and each
//! non-reader got some 60 replies of 64 KiB computed and written for it.

mod common;
mod raw;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{BLOB, add_blob, serve};
use duplexrpc_core::PeerConfig;
use duplexrpc_core::observe::{CallOutcome, Direction, Metrics};
use duplexrpc_ws::WsConfig;
use raw::Raw;

/// Counts the replies the server computed for incoming calls.
#[derive(Debug, Default)]
struct Replies(AtomicUsize);

impl Metrics for Replies {
    fn call_finished(&self, direction: Direction, _: &str, _: Duration, _: CallOutcome) {
        if matches!(direction, Direction::Incoming) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Waits until `count` has not moved for half a second (at most 10 s);
/// returns its value then.
async fn settled(count: &AtomicUsize) -> usize {
    let mut last = usize::MAX;
    for _ in 0..20 {
        let now = count.load(Ordering::Relaxed);
        if now == last {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    last
}

/// A client sends 2,000 `blob` requests (64 KiB replies, 125 MiB in all)
/// and never reads: the server must stop computing replies for it after
/// about 1 MiB of them (16 replies): its outbox and queue (64 KiB each),
/// tungstenite's write buffer (128 KiB), the reply in hand, what the
/// kernel takes before the socket pushes back (`WsConfig::max_unsent_bytes`
/// unsent, plus the client's receive window, set to 64 KiB), and slack for the test
/// machine. Before, the kernel took megabytes: some 60 replies were computed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_reader_gets_a_bounded_number_of_replies_computed() {
    let replies = Arc::new(Replies::default());
    let config = WsConfig::default().peer(PeerConfig::default().metrics(replies.clone()));
    let server = serve(config, add_blob).await;
    let mut client = Raw::connect(server.local_addr()).await;
    // The client's receive window is part of what the server may send: keep
    // it at a size that does not depend on the machine's `tcp_rmem`.
    socket2::SockRef::from(&client.tcp)
        .set_recv_buffer_size(64 << 10)
        .unwrap();
    let requests = raw::text_frames((0..2000).map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"blob"}}"#)));
    // The server stops reading: write from a task, never wait on it.
    let writer = tokio::spawn(async move {
        client.send_bytes(&requests).await;
        client
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let computed = settled(&replies.0).await;
    let bound = (1 << 20) / BLOB;
    eprintln!("replies computed for a non-reader: {computed} of 64 KiB (bound {bound})");
    assert!(computed > 0, "the server answered nothing");
    assert!(
        computed <= bound,
        "the server computed {computed} replies of 64 KiB for a client that reads none (bound {bound})"
    );
    writer.abort();
    server.stop().await;
}
