//! Metrics counters and tracing spans per call and per connection.

use std::sync::Arc;
use std::time::Duration;

use duplexrpc_core::observe::{Counters, CountersSnapshot};
use duplexrpc_core::transport::memory;
use duplexrpc_core::{PeerBuilder, PeerConfig, RpcError, rpc};

#[rpc(namespace = "obs")]
trait Observed {
    /// Doubles.
    async fn double(&self, x: i64) -> Result<i64, RpcError>;
    /// Always fails with code 9.
    async fn fail(&self) -> Result<(), RpcError>;
    /// Fire and forget.
    #[notification]
    async fn ping(&self);
}

struct Service;

impl Observed for Service {
    async fn double(&self, x: i64) -> Result<i64, RpcError> {
        tokio::task::yield_now().await;
        Ok(2 * x)
    }

    async fn fail(&self) -> Result<(), RpcError> {
        Err(RpcError::new(9, "no"))
    }

    async fn ping(&self) {}
}

fn pair(server_config: PeerConfig, client_config: PeerConfig) -> (duplexrpc_core::Peer, ObservedClient) {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let mut server = PeerBuilder::with_config(server_config);
    server.register(Service.into_methods()).unwrap();
    let server = server.start(a_tx, a_rx);
    (
        server,
        ObservedClient::new(PeerBuilder::with_config(client_config).start(b_tx, b_rx)),
    )
}

#[tokio::test]
async fn counters_count_calls_errors_and_connections() {
    let server_counts = Arc::new(Counters::default());
    let client_counts = Arc::new(Counters::default());
    let (server, client) = pair(
        PeerConfig::default().metrics(server_counts.clone()),
        PeerConfig::default().metrics(client_counts.clone()),
    );
    assert_eq!(client.double(4).await, Ok(8));
    assert_eq!(client.double(5).await, Ok(10));
    assert_eq!(client.fail().await, Err(RpcError::new(9, "no")));
    client.ping().await.unwrap();
    assert_eq!(
        client.double(1).await,
        Ok(2),
        "the notification was handled before this reply"
    );
    assert_eq!(
        server_counts.snapshot(),
        CountersSnapshot {
            calls_in: 5,
            calls_out: 0,
            errors: 1,
            in_flight: 0,
            connections: 1,
        }
    );
    assert_eq!(
        client_counts.snapshot(),
        CountersSnapshot {
            calls_in: 0,
            calls_out: 4,
            errors: 1,
            in_flight: 0,
            connections: 1,
        }
    );
    server.close().await;
    server.finished().await;
    assert_eq!(server_counts.snapshot().connections, 0);
    tokio::time::timeout(Duration::from_secs(5), client.peer().finished())
        .await
        .unwrap();
    assert_eq!(client_counts.snapshot().connections, 0);
}
