//! Call timeouts, cancellation (`$/cancelRequest`), and the peer's limits,
//! over the in-memory transport.

use std::future::pending;
use std::time::Duration;

use duplexrpc_core::transport::memory::{self, MemoryReceiver, MemorySender};
use duplexrpc_core::transport::{Receiver, Sender};
use duplexrpc_core::{Methods, Peer, PeerBuilder, PeerConfig, RpcError, rpc};
use tokio::sync::mpsc;

#[rpc]
trait Slow {
    /// Never completes; reports on `events` when it starts and when it is dropped.
    async fn hang(&self, tag: u32) -> Result<(), RpcError>;
    /// Returns `x`.
    async fn echo(&self, x: u32) -> Result<u32, RpcError>;
}

struct SlowService {
    events: mpsc::UnboundedSender<String>,
}

/// Sends "dropped {tag}" when the handler's future is dropped (aborted).
struct OnDrop(mpsc::UnboundedSender<String>, u32);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(format!("dropped {}", self.1));
    }
}

impl Slow for SlowService {
    async fn hang(&self, tag: u32) -> Result<(), RpcError> {
        let _guard = OnDrop(self.events.clone(), tag);
        let _ = self.events.send(format!("started {tag}"));
        pending::<()>().await;
        Ok(())
    }

    /// Returns `x`.
    async fn echo(&self, x: u32) -> Result<u32, RpcError> {
        Ok(x)
    }
}

/// A served `Slow` on one end, a plain peer on the other.
fn slow_pair(client_config: PeerConfig) -> (SlowClient, mpsc::UnboundedReceiver<String>) {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let (events, events_rx) = mpsc::unbounded_channel();
    let mut server = PeerBuilder::new();
    server.register(SlowService { events }.into_methods()).unwrap();
    server.start(a_tx, a_rx);
    let client = PeerBuilder::with_config(client_config).start(b_tx, b_rx);
    (SlowClient::new(client), events_rx)
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("event within 5 s")
        .expect("events open")
}

#[tokio::test]
async fn a_timed_out_call_fails_and_aborts_the_remote_handler() {
    let (slow, mut events) = slow_pair(PeerConfig::default());
    let err = slow
        .clone()
        .with_timeout(Duration::from_millis(50))
        .hang(1)
        .await
        .unwrap_err();
    assert_eq!(err, RpcError::Timeout(Duration::from_millis(50)));
    assert_eq!(next_event(&mut events).await, "started 1");
    assert_eq!(next_event(&mut events).await, "dropped 1");
    assert_eq!(slow.peer().pending_calls(), 0);
    assert_eq!(slow.echo(7).await, Ok(7), "the connection stays usable");
}

#[tokio::test]
async fn the_default_timeout_comes_from_the_config() {
    let config = PeerConfig::default().call_timeout(Some(Duration::from_millis(30)));
    let (slow, _events) = slow_pair(config);
    assert_eq!(slow.hang(2).await, Err(RpcError::Timeout(Duration::from_millis(30))));
}

#[tokio::test]
async fn dropping_a_call_cancels_it_on_the_remote_side() {
    let (slow, mut events) = slow_pair(PeerConfig::default());
    let call = tokio::spawn({
        let slow = slow.clone();
        async move { slow.hang(3).await }
    });
    assert_eq!(next_event(&mut events).await, "started 3");
    call.abort();
    assert_eq!(next_event(&mut events).await, "dropped 3");
    assert_eq!(slow.peer().pending_calls(), 0);
}

#[tokio::test]
async fn too_many_pending_calls_fail_at_once() {
    let (slow, mut events) = slow_pair(PeerConfig::default().max_pending_calls(2));
    let first = tokio::spawn({
        let slow = slow.clone();
        async move { slow.hang(1).await }
    });
    let second = tokio::spawn({
        let slow = slow.clone();
        async move { slow.hang(2).await }
    });
    next_event(&mut events).await;
    next_event(&mut events).await;
    assert!(matches!(slow.echo(1).await, Err(RpcError::Limit(_))));
    first.abort();
    second.abort();
    let _ = (first.await, second.await);
    assert_eq!(slow.echo(5).await, Ok(5), "freed slots are usable again");
}

/// A raw end of a memory pair, to send exact text and read exact replies.
struct Raw {
    tx: MemorySender,
    rx: MemoryReceiver,
}

impl Raw {
    async fn exchange(&mut self, text: &str) -> String {
        self.tx.feed(text.to_owned()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.rx.receive())
            .await
            .expect("reply within 5 s")
            .unwrap()
    }
}

fn served_raw(config: PeerConfig, methods: Methods) -> (Peer, Raw) {
    let ((a_tx, a_rx), (tx, rx)) = memory::pair();
    let mut server = PeerBuilder::with_config(config);
    server.register(methods).unwrap();
    (server.start(a_tx, a_rx), Raw { tx, rx })
}

#[tokio::test]
async fn an_overlong_batch_gets_one_invalid_request_error() {
    let (events, _rx) = mpsc::unbounded_channel();
    let (_peer, mut raw) = served_raw(
        PeerConfig::default().max_batch_len(2),
        SlowService { events }.into_methods(),
    );
    let call = r#"{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}"#;
    let reply = raw.exchange(&format!("[{call},{call},{call}]")).await;
    assert_eq!(
        reply,
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":"batch longer than the limit of 2 elements"},"id":null}"#
    );
    let reply = raw.exchange(&format!("[{call},{call}]")).await;
    assert_eq!(
        reply,
        r#"[{"jsonrpc":"2.0","result":1,"id":1},{"jsonrpc":"2.0","result":1,"id":1}]"#
    );
}

#[tokio::test]
async fn cancel_request_on_the_wire_answers_minus_32001_once() {
    let (events, mut events_rx) = mpsc::unbounded_channel();
    let (_peer, mut raw) = served_raw(PeerConfig::default(), SlowService { events }.into_methods());
    raw.tx
        .feed(r#"{"jsonrpc":"2.0","method":"hang","params":[9],"id":"h"}"#.into())
        .await
        .unwrap();
    assert_eq!(next_event(&mut events_rx).await, "started 9");
    let reply = raw
        .exchange(r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"h"}}"#)
        .await;
    assert_eq!(
        reply,
        r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Request cancelled"},"id":"h"}"#
    );
    assert_eq!(next_event(&mut events_rx).await, "dropped 9");
    // A second cancel, or one for an unknown id, is ignored: the next frame
    // is the reply to the next request.
    raw.tx
        .feed(r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"h"}}"#.into())
        .await
        .unwrap();
    let reply = raw
        .exchange(r#"{"jsonrpc":"2.0","method":"echo","params":[4],"id":5}"#)
        .await;
    assert_eq!(reply, r#"{"jsonrpc":"2.0","result":4,"id":5}"#);
}
