//! A connection whose peer never reads, for the registry and cluster tests.

use std::task::{Context, Poll};

use duplexrpc_cluster::{ConnectionId, Registry};
use duplexrpc_core::transport::memory::{self, MemoryReceiver, MemorySender};
use duplexrpc_core::transport::{CloseReason, Sender, TransportError};
use duplexrpc_core::{PeerBuilder, PeerConfig};

/// The sending half of a connection whose peer never reads: nothing it is
/// given is ever written.
struct NeverWrites;

impl Sender for NeverWrites {
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Pending
    }
    fn start_send(&mut self, _: String) -> Result<(), TransportError> {
        Ok(())
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Pending
    }
    fn start_close(&mut self, _: CloseReason) -> Result<(), TransportError> {
        Ok(())
    }
    fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Pending
    }
}

/// A registered connection that never reads, with room for a few messages
/// only (`send_queue(4)`); its write timeout (30 s by default) is far
/// beyond the tests' deadlines. Open while this lives.
pub struct Stuck {
    pub id: ConnectionId,
    _ends: (MemorySender, MemorySender, MemoryReceiver),
}

impl Stuck {
    pub fn add_to(registry: &Registry) -> Stuck {
        let ((s_tx, s_rx), (c_tx, c_rx)) = memory::pair();
        let config = PeerConfig::default().send_queue(4);
        let id = registry.add(PeerBuilder::with_config(config).start(NeverWrites, s_rx));
        Stuck {
            id,
            _ends: (s_tx, c_tx, c_rx),
        }
    }
}
