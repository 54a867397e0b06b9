//! Write coalescing: what the connection task sends in one flush. Counts
//! messages and flushes through a transport that wraps the memory one, so
//! the checks are about behaviour, not timing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use duplexrpc_core::transport::memory::{self, MemorySender};
use duplexrpc_core::transport::{CloseReason, Sender, TransportError};
use duplexrpc_core::{Peer, PeerBuilder};

#[derive(Default)]
struct Counts {
    messages: AtomicUsize,
    flushes: AtomicUsize,
}

/// The memory sender, counting what goes through it.
struct Counting {
    inner: MemorySender,
    counts: Arc<Counts>,
    unflushed: bool,
}

impl Sender for Counting {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.inner.poll_ready(cx)
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        self.counts.messages.fetch_add(1, Ordering::Relaxed);
        self.unflushed = true;
        self.inner.start_send(text)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if std::mem::take(&mut self.unflushed) {
            self.counts.flushes.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.poll_flush(cx)
    }

    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        self.inner.start_close(reason)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.inner.poll_close(cx)
    }
}

/// A client whose sends are counted, calling a server that adds.
fn client_and_server() -> (Peer, Peer, Arc<Counts>) {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let server = common::adding_server(a_tx, a_rx);
    let counts = Arc::new(Counts::default());
    let sender = Counting {
        inner: b_tx,
        counts: counts.clone(),
        unflushed: false,
    };
    (PeerBuilder::new().start(sender, b_rx), server, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn many_tasks_calling_on_one_connection_share_writes() {
    const TASKS: usize = 64;
    const ROUNDS: usize = 20;
    let (client, _server, counts) = client_and_server();
    let tasks: Vec<_> = (0..TASKS as i64)
        .map(|t| {
            let client = client.clone();
            tokio::spawn(async move {
                for round in 0..ROUNDS as i64 {
                    let sum: i64 = client.call("add", (t, round)).await.unwrap();
                    assert_eq!(sum, t + round);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let messages = counts.messages.load(Ordering::Relaxed);
    let flushes = counts.flushes.load(Ordering::Relaxed);
    assert_eq!(messages, TASKS * ROUNDS);
    // One write per message would be 1,280 flushes; the callers woken by one
    // burst of replies send their next calls together.
    assert!(flushes * 8 <= messages, "{flushes} flushes for {messages} messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_lone_caller_is_sent_at_once() {
    let (client, _server, counts) = client_and_server();
    for i in 0..50i64 {
        let sum: i64 = client.call("add", (i, 1)).await.unwrap();
        assert_eq!(sum, i + 1);
    }
    // Nothing else to wait for: each call is written on its own.
    assert_eq!(counts.flushes.load(Ordering::Relaxed), 50);
}
