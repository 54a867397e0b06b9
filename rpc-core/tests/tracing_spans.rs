//! Tracing spans per call and per connection. (Its own test binary: tracing
//! caches per-callsite interest process-wide, so a test without a subscriber
//! running in parallel would disable the callsites for this one.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use duplexrpc_core::transport::memory;
use duplexrpc_core::{PeerBuilder, PeerConfig, RpcError, rpc};

#[rpc(namespace = "obs")]
trait Observed {
    /// Doubles.
    async fn double(&self, x: i64) -> Result<i64, RpcError>;
    /// Always fails with code 9.
    async fn fail(&self) -> Result<(), RpcError>;
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

/// A writer collecting what the fmt subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn calls_are_traced_at_debug_with_method_direction_and_outcome() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (_server, client) = pair(PeerConfig::default(), PeerConfig::default());
            assert_eq!(client.double(21).await, Ok(42));
            assert!(client.fail().await.is_err());
        });
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let finished: Vec<&str> = text.lines().filter(|l| l.contains("call finished")).collect();
    assert!(
        finished.iter().any(|l| l.contains("rpc.connection")
            && l.contains("method=\"obs.double\"")
            && l.contains("direction=\"incoming\"")
            && l.contains("outcome=ok")),
        "{text}"
    );
    assert!(
        finished.iter().any(|l| l.contains("method=\"obs.double\"")
            && l.contains("direction=\"outgoing\"")
            && l.contains("outcome=ok")),
        "{text}"
    );
    assert!(
        finished
            .iter()
            .any(|l| l.contains("method=\"obs.fail\"") && l.contains("outcome=error 9")),
        "{text}"
    );
    assert!(!text.contains(" INFO "), "nothing at info per call: {text}");
}
