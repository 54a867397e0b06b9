//! How a connection ended, as the transport saw it: a clean close from the
//! other end (with its code, e.g. 1001 when a server shuts down) versus a
//! crash (reset, end of stream without a close, keepalive timeout).

use std::sync::{Arc, OnceLock};

use duplexrpc_core::transport::CloseReason;

/// Why the other end stopped talking.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnect {
    /// The other end closed the connection properly, with a close frame
    /// carrying this code and reason (`None`: a close frame without a code).
    /// A server that shuts down sends 1001 "server shutting down".
    Closed(Option<CloseReason>),
    /// This end closed the connection because the other broke the protocol
    /// (e.g. 1009 message too big, 1003 binary frame).
    Refused(CloseReason),
    /// The other end stopped answering keepalive pings.
    KeepaliveTimeout,
    /// The connection broke: reset, end of stream without a close frame, or
    /// another I/O error. What a crash or a network failure looks like.
    Failed(String),
}

impl Disconnect {
    /// True for a proper close by the other end.
    pub fn is_clean(&self) -> bool {
        matches!(self, Disconnect::Closed(_))
    }

    /// True if the other end said it is going away (1001), e.g. a server
    /// shutting down: reconnecting later (or elsewhere) is expected to work.
    pub fn is_going_away(&self) -> bool {
        self.code() == Some(1001)
    }

    /// The close code, for a close frame received or sent.
    pub fn code(&self) -> Option<u16> {
        match self {
            Disconnect::Closed(Some(reason)) | Disconnect::Refused(reason) => Some(reason.code),
            _ => None,
        }
    }
}

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Disconnect::Closed(Some(r)) => write!(f, "closed by the other end ({} {})", r.code, r.reason),
            Disconnect::Closed(None) => f.write_str("closed by the other end"),
            Disconnect::Refused(r) => write!(f, "closed for a protocol violation ({} {})", r.code, r.reason),
            Disconnect::KeepaliveTimeout => f.write_str("the other end stopped answering (keepalive timeout)"),
            Disconnect::Failed(e) => write!(f, "connection failed: {e}"),
        }
    }
}

/// A handle that tells how a connection ended (see [`crate::Connection::status`]).
/// Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ConnectionStatus(pub(crate) Arc<OnceLock<Disconnect>>);

impl ConnectionStatus {
    /// How the other end went away; `None` while the connection is open, or
    /// if this end closed it first.
    pub fn disconnect(&self) -> Option<Disconnect> {
        self.0.get().cloned()
    }

    pub(crate) fn set(&self, disconnect: Disconnect) {
        let _ = self.0.set(disconnect);
    }
}
