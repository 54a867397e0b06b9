//! A connection whose socket takes nothing (the other end stopped reading):
//! the outbox and the send queue fill, calls wait for room and fail at their
//! deadline, and once the socket drains the connection works again.

mod common;

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use duplexrpc_core::transport::memory::{self, MemorySender};
use duplexrpc_core::transport::{CloseReason, Sender, TransportError};
use duplexrpc_core::{PeerBuilder, PeerConfig, RpcError};

/// Opened or closed by the test; a closed gate makes the sender not ready.
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<(bool, Option<Waker>)>>);

impl Gate {
    fn open(&self) {
        let mut state = self.0.lock().unwrap();
        state.0 = true;
        if let Some(waker) = state.1.take() {
            waker.wake();
        }
    }
}

struct Gated {
    inner: MemorySender,
    gate: Gate,
}

impl Sender for Gated {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        let mut state = self.gate.0.lock().unwrap();
        if state.0 {
            return self.inner.poll_ready(cx);
        }
        state.1 = Some(cx.waker().clone());
        Poll::Pending
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        self.inner.start_send(text)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.inner.poll_flush(cx)
    }

    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        self.inner.start_close(reason)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.inner.poll_close(cx)
    }
}

#[tokio::test]
async fn calls_wait_for_room_fail_at_their_deadline_and_the_connection_recovers() {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let _server = common::adding_server(a_tx, a_rx);

    let gate = Gate::default();
    let config = PeerConfig::default()
        .send_queue(1)
        .call_timeout(Some(Duration::from_millis(300)));
    let sender = Gated {
        inner: b_tx,
        gate: gate.clone(),
    };
    let client = PeerBuilder::with_config(config).start(sender, b_rx);

    // One request fills the outbox, one the queue; the rest wait for room.
    let calls: Vec<_> = (0..4i64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, i64>("add", (i, 1)).await })
        })
        .collect();
    for call in calls {
        let outcome = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("a call hung past its deadline")
            .unwrap();
        assert!(matches!(outcome, Err(RpcError::Timeout(_))), "{outcome:?}");
    }
    assert_eq!(client.pending_calls(), 0, "timed-out calls leave no entry");

    // The other end reads again: what waited goes out, new calls work.
    gate.open();
    let sum = client.call::<_, i64>("add", (2, 3)).await;
    assert_eq!(sum, Ok(5));
    assert!(!client.is_closed());
}
