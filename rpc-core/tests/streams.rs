//! Typed streams in both directions, over the in-memory transport: ordering,
//! credit-based back-pressure, cancellation, errors, and disconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use duplexrpc_core::transport::memory;
use duplexrpc_core::{Peer, PeerBuilder, PeerConfig, RpcError, RpcStream, rpc};
use futures::StreamExt;
use tokio::sync::mpsc;

/// Served by both ends in these tests.
#[rpc]
trait Feed {
    /// `0..n`.
    async fn count(&self, n: u32) -> Result<RpcStream<u32>, RpcError>;
    /// Endless; reports every item it produces and its own drop on `events`.
    async fn endless(&self) -> Result<RpcStream<u64>, RpcError>;
    /// Two items, then an error.
    async fn failing(&self) -> Result<RpcStream<String>, RpcError>;
    /// Refuses to start.
    async fn refused(&self) -> Result<RpcStream<u8>, RpcError>;
}

#[derive(Clone)]
struct FeedService {
    produced: Arc<AtomicUsize>,
    events: mpsc::UnboundedSender<&'static str>,
}

struct DropSignal(mpsc::UnboundedSender<&'static str>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send("producer dropped");
    }
}

impl Feed for FeedService {
    async fn count(&self, n: u32) -> Result<RpcStream<u32>, RpcError> {
        Ok(RpcStream::iter(0..n))
    }

    async fn endless(&self) -> Result<RpcStream<u64>, RpcError> {
        let produced = self.produced.clone();
        let signal = DropSignal(self.events.clone());
        let items = futures::stream::iter(0u64..).map(move |i| {
            let _keep = &signal;
            produced.fetch_add(1, Ordering::SeqCst);
            Ok(i)
        });
        Ok(RpcStream::new(items))
    }

    async fn failing(&self) -> Result<RpcStream<String>, RpcError> {
        let items = vec![
            Ok("a".to_owned()),
            Ok("b".to_owned()),
            Err(RpcError::with_data(7, "feed broke", "why".into())),
            Ok("never".to_owned()),
        ];
        Ok(RpcStream::new(futures::stream::iter(items)))
    }

    async fn refused(&self) -> Result<RpcStream<u8>, RpcError> {
        Err(RpcError::new(3, "not today"))
    }
}

struct Ends {
    /// The end that serves `Feed` is `server`; the other calls it.
    server: Peer,
    client: FeedClient,
    /// The `Feed` served by the client end (for the reverse direction).
    reverse: FeedClient,
    service: FeedService,
    events: mpsc::UnboundedReceiver<&'static str>,
}

/// Both ends serve `Feed`, so streams can run either way.
fn ends(window: usize) -> Ends {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let (events_tx, events) = mpsc::unbounded_channel();
    let service = FeedService {
        produced: Arc::default(),
        events: events_tx,
    };
    let config = PeerConfig::default().stream_window(window);
    let mut a = PeerBuilder::with_config(config.clone());
    a.register(service.clone().into_methods()).unwrap();
    let mut b = PeerBuilder::with_config(config);
    b.register(service.clone().into_methods()).unwrap();
    let server = a.start(a_tx, a_rx);
    let client_peer = b.start(b_tx, b_rx);
    Ends {
        reverse: FeedClient::new(server.clone()),
        server,
        client: FeedClient::new(client_peer),
        service,
        events,
    }
}

async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("within 10 s")
}

#[tokio::test]
async fn items_arrive_in_order_in_both_directions() {
    let e = ends(8);
    let forward: Vec<u32> = within(e.client.count(10_000).await.unwrap().map(Result::unwrap).collect()).await;
    assert_eq!(forward, (0..10_000).collect::<Vec<_>>());
    let reverse: Vec<u32> = within(e.reverse.count(100).await.unwrap().map(Result::unwrap).collect()).await;
    assert_eq!(reverse, (0..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_slow_consumer_back_pressures_the_producer() {
    let mut e = ends(8);
    let mut stream = e.client.endless().await.unwrap();
    assert_eq!(within(stream.next()).await.unwrap(), Ok(0));
    // Give the producer every chance to run ahead, then check it did not
    // produce past its window (8 in flight + the one consumed).
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let produced = e.service.produced.load(Ordering::SeqCst);
    assert!(produced <= 9, "producer ran ahead of its credit: {produced} items");
    // Consuming grants credit: the stream keeps flowing.
    for expected in 1..100u64 {
        assert_eq!(within(stream.next()).await.unwrap(), Ok(expected));
    }
    drop(stream);
    assert_eq!(
        within(e.events.recv()).await,
        Some("producer dropped"),
        "dropping cancels the producer"
    );
}

#[tokio::test]
async fn a_producer_error_reaches_the_consumer_then_the_stream_ends() {
    let e = ends(8);
    let items: Vec<_> = within(e.client.failing().await.unwrap().collect()).await;
    assert_eq!(
        items,
        vec![
            Ok("a".to_owned()),
            Ok("b".to_owned()),
            Err(RpcError::with_data(7, "feed broke", "why".into()))
        ]
    );
}

#[tokio::test]
async fn a_refused_stream_is_an_error_reply() {
    let e = ends(8);
    assert_eq!(e.client.refused().await.unwrap_err(), RpcError::new(3, "not today"));
    assert_eq!(
        e.client.count(2).await.unwrap().count().await,
        2,
        "connection still fine"
    );
}

#[tokio::test]
async fn a_lost_connection_ends_the_stream_with_disconnected() {
    let mut e = ends(4);
    let mut stream = e.client.endless().await.unwrap();
    assert_eq!(within(stream.next()).await.unwrap(), Ok(0));
    e.server.close().await;
    let mut last = None;
    while let Some(item) = within(stream.next()).await {
        last = Some(item);
    }
    assert!(last.unwrap().unwrap_err().is_disconnected());
    assert_eq!(within(e.events.recv()).await, Some("producer dropped"));
}
