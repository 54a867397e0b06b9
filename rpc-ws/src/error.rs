//! Errors of opening a connection.

use std::time::Duration;

use tokio_tungstenite::tungstenite;

/// Why [`crate::connect`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a valid `ws://` (or `wss://`) URL.
    #[error("invalid WebSocket URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header given to [`crate::ClientBuilder::header`] has an invalid name or value.
    #[error("invalid request header {name:?}")]
    InvalidHeader {
        /// The header's name.
        name: String,
    },
    /// The TCP connection failed.
    #[error("could not connect to {addr}: {source}")]
    Io {
        /// host:port tried.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server answered the upgrade request with an HTTP error instead of
    /// upgrading: 401/403 from its handshake hook or Origin check, 503 when it
    /// is at its connection limit.
    #[error("the server refused the connection: HTTP {status} {body:?}")]
    Rejected {
        /// The HTTP status code.
        status: u16,
        /// The response body (often a short reason).
        body: String,
    },
    /// Opening the connection took longer than the configured handshake timeout.
    #[error("connecting to {url} timed out after {after:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        after: Duration,
    },
    /// The TLS or WebSocket handshake failed.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[from] tungstenite::Error),
    /// Registering the client's services failed (e.g. a duplicate method name).
    #[error("connection setup failed: {0}")]
    Setup(String),
    /// The first exchange of a resumable session (`#new` / `#session`,
    /// `#resume` / `#resumed`) failed: the connection ended or the server's
    /// answer was not one.
    #[error("session handshake failed: {0}")]
    Session(String),
}

impl ConnectError {
    pub(crate) fn from_ws(e: tungstenite::Error) -> Self {
        match e {
            tungstenite::Error::Http(response) => ConnectError::Rejected {
                status: response.status().as_u16(),
                body: response
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            },
            other => ConnectError::Handshake(other),
        }
    }

    /// The HTTP status, if the server refused the upgrade.
    pub fn status(&self) -> Option<u16> {
        match self {
            ConnectError::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }
}
