//! Helpers shared by this crate's integration tests.

use duplexrpc_core::transport::memory::{MemoryReceiver, MemorySender};
use duplexrpc_core::{Methods, Peer, PeerBuilder, RpcError};

/// Starts a peer on one end of a memory pair that serves `add(a, b)`.
pub fn adding_server(tx: MemorySender, rx: MemoryReceiver) -> Peer {
    let mut server = PeerBuilder::new();
    let mut methods = Methods::new();
    methods
        .method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
        .unwrap();
    server.register(methods).unwrap();
    server.start(tx, rx)
}
