//! Errors of opening a connection.

use tokio_tungstenite::tungstenite;

/// Why [`crate::connect`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a valid `ws://` URL.
    #[error("invalid WebSocket URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection failed.
    #[error("could not connect to {addr}: {source}")]
    Io {
        /// host:port tried.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The WebSocket handshake failed (e.g. the server refused with an HTTP status).
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[from] tungstenite::Error),
}
