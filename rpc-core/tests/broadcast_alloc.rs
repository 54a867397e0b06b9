//! A notification serialized once is queued to many connections without a
//! copy per connection (issue 16, item 2: broadcast fan-out): queueing a
//! 16 KiB notification to 1,000 connections allocates a small fraction of
//! the 16 MiB that one copy each would.

use std::alloc::System;

use duplexrpc_core::peer::Notification;
use duplexrpc_core::{Peer, PeerBuilder, transport::memory};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// Counts the bytes allocated, to measure what queueing costs.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocated() -> usize {
    GLOBAL.stats().bytes_allocated
}

const PEERS: usize = 1_000;
const SIZE: usize = 16 << 10;

#[tokio::test(flavor = "current_thread")]
async fn queueing_one_notification_to_many_connections_copies_it_for_none() {
    let mut ends = Vec::new();
    let peers: Vec<Peer> = (0..PEERS)
        .map(|_| {
            let ((tx, rx), other) = memory::pair();
            ends.push(other);
            PeerBuilder::new().start(tx, rx)
        })
        .collect();
    let news = Notification::new("news", ("x".repeat(SIZE),)).unwrap();
    // Once each first: a connection's queue allocates its slots on first use.
    for peer in &peers {
        peer.try_send_notification(&news).unwrap();
    }
    let before = allocated();
    for peer in &peers {
        peer.try_send_notification(&news).unwrap();
    }
    let queued = allocated() - before;
    // One copy each would be PEERS * SIZE (16 MiB).
    assert!(
        queued < PEERS * SIZE / 100,
        "queueing to {PEERS} connections allocated {queued} bytes (one copy each: {})",
        PEERS * SIZE
    );
}
