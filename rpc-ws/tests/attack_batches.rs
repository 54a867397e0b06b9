//! Oversize batches (issue 12 item 4), against a default server: a batch
//! longer than `max_batch_len` is refused after a scan of its first
//! `max_batch_len + 1` elements, without parsing the rest or classifying
//! any, so it costs the server neither its memory nor other clients' time.

mod common;
mod heap;
mod raw;

use std::time::{Duration, Instant};

use common::{add_add, serve};
use duplexrpc_ws::{ServerHandle, WsConfig};
use heap::heap;
use raw::{FIN, Raw, TEXT};

async fn add_server() -> ServerHandle {
    serve(WsConfig::default(), add_add).await
}

/// A batch of `len` requests `{"id":1}`: invalid, so each would be answered.
fn oversize_batch(len: usize) -> Vec<u8> {
    let mut text = String::with_capacity(len * 9 + 2);
    text.push('[');
    for i in 0..len {
        if i > 0 {
            text.push(',');
        }
        text.push_str(r#"{"id":1}"#);
    }
    text.push(']');
    raw::frame_bytes(FIN | TEXT, text.as_bytes(), true)
}

/// One 14 MiB batch of 1.6 million elements: before, all were scanned into
/// a vector and classified (some 200 MB) before the length check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_batch_is_refused_without_parsing_it() {
    let server = add_server().await;
    let frame = oversize_batch(1_600_000);
    let mut client = Raw::connect(server.local_addr()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let idle = heap();
    let sender = async {
        client.send_bytes(&frame).await;
        client.read_frame().await.expect("a reply")
    };
    tokio::pin!(sender);
    let mut peak = 0;
    let reply = loop {
        tokio::select! {
            reply = &mut sender => break reply,
            _ = tokio::time::sleep(Duration::from_millis(5)) => peak = peak.max(heap().saturating_sub(idle)),
        }
    };
    let text = String::from_utf8(reply.payload).unwrap();
    assert!(text.contains("-32600") && text.contains("limit of 1024"), "{text}");
    // The frame itself (14 MiB) is read into tungstenite's buffer and the
    // test's own copy exists once; parsing must add next to nothing.
    let bound = 2 * frame.len() + (8 << 20);
    assert!(
        peak < bound,
        "the heap grew by {peak} bytes for one oversize batch (bound {bound})"
    );
    server.stop().await;
}

/// Four clients each sending oversize batches while one legitimate client
/// calls: its calls stay well under a second each (before, each batch cost
/// seconds of a worker's CPU).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_batches_do_not_stall_other_clients() {
    let server = add_server().await;
    let frame = std::sync::Arc::new(oversize_batch(1_000_000));
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let frame = frame.clone();
        let addr = server.local_addr();
        attackers.push(tokio::spawn(async move {
            let mut client = Raw::connect(addr).await;
            for _ in 0..3 {
                client.send_bytes(&frame).await;
                client.read_frame().await;
            }
        }));
    }
    let client = duplexrpc_ws::connect(&server.url()).await.unwrap().start();
    let mut worst = Duration::ZERO;
    for i in 0..50i64 {
        let start = Instant::now();
        let sum: i64 = client.call("add", (i, 1)).await.unwrap();
        assert_eq!(sum, i + 1);
        worst = worst.max(start.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for attacker in attackers {
        tokio::time::timeout(Duration::from_secs(30), attacker)
            .await
            .unwrap()
            .unwrap();
    }
    eprintln!("slowest legitimate call during the attack: {worst:?}");
    assert!(worst < Duration::from_secs(2), "a legitimate call took {worst:?}");
    server.stop().await;
}
