//! Settings shared by the server and the client.

use rpc_core::PeerConfig;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Settings of a WebSocket endpoint (server or client).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WsConfig {
    /// Settings of each connection's peer (concurrency, queue sizes).
    pub peer: PeerConfig,
    /// Largest message accepted; a larger one closes the connection with 1009.
    pub max_message_size: usize,
    /// Read buffer per connection. Small keeps idle connections cheap.
    pub read_buffer_size: usize,
    /// Server only: most connections at once; further handshakes get HTTP 503.
    pub max_connections: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            peer: PeerConfig::default(),
            max_message_size: 16 << 20,
            read_buffer_size: 8 << 10,
            max_connections: 10_000,
        }
    }
}

impl WsConfig {
    /// Sets [`WsConfig::peer`].
    pub fn peer(mut self, peer: PeerConfig) -> Self {
        self.peer = peer;
        self
    }

    /// Sets [`WsConfig::max_message_size`].
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`WsConfig::read_buffer_size`].
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Sets [`WsConfig::max_connections`].
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    pub(crate) fn websocket(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}
