//! Resumable sessions: a dropped connection loses nothing.
//!
//! A [`SessionTransport`] sits between a [`crate::Peer`] and its
//! connection. It numbers the messages it sends (implicitly: the n-th text
//! message of the session is number n), keeps each until the other end
//! acknowledges it (`#ack <received>`, cumulative, sent every
//! [`SessionConfig::ack_every`] messages or 64 KiB, with a write that goes
//! out anyway, and on every keepalive tick), and when its connection drops
//! it goes on without one for [`SessionConfig::window`]: writes are held
//! (up to the replay limits), the peer above sees a quiet connection. Given
//! a new connection (through its [`SessionHandle`]), it re-sends what the
//! other end has not received, in order, and goes on. The peer, its pending
//! calls both ways, its streams and handlers never see the gap; call
//! timeouts keep running through it.
//!
//! The session ends for good on a normal close (1000, either side), when
//! the window passes, when a write would overflow the replay buffer while
//! detached, or when [`SessionHandle::lose`] is called: everything pending
//! then fails with [`crate::RpcError::SessionLost`].
//!
//! The first exchange of each connection (`#new` / `#session`, `#resume` /
//! `#resumed` / `#lost`, see [`Frame`]) is the job of whoever makes the
//! connections (the WebSocket server and client), before they hand it over.
//!
//! ```
//! use duplexrpc_core::session::{SessionConfig, SessionTransport};
//! use duplexrpc_core::transport::memory;
//! use duplexrpc_core::PeerBuilder;
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let (a, b) = memory::pair();
//! let (transport, handle) = SessionTransport::new(a, SessionConfig::default());
//! let peer = PeerBuilder::new().start_transport(transport);
//! # let _ = (peer, handle, b);
//! # });
//! ```

mod frame;
mod link;
mod replay;
mod transport;

use std::time::Duration;

pub use frame::{Frame, SUBPROTOCOL};
pub use link::{SessionHandle, SessionStatus};
pub use transport::SessionTransport;

/// A session's limits.
///
/// ```
/// use std::time::Duration;
/// use duplexrpc_core::session::SessionConfig;
/// let config = SessionConfig::default().window(Duration::from_secs(10)).replay(1_000, 256 << 10);
/// assert_eq!(config.window, Duration::from_secs(10));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// How long a session without a connection is kept (default 30 s).
    pub window: Duration,
    /// Messages sent and not yet acknowledged that are held, at most
    /// (default 1,024).
    pub replay_messages: usize,
    /// Bytes they take, at most (default 256 KiB; each message counts its
    /// length and 64 bytes for its entry). While connected, a full buffer
    /// holds writes back until acks come (at most this much is unacknowledged
    /// per round trip: 2.5 MiB/s at 100 ms); while detached, a write that
    /// finds it full loses the session. On a server, at most this much per
    /// session: 2.5 GiB for 10,000 sessions whose peers all stopped acking.
    pub replay_bytes: usize,
    /// Messages received between acks (default 64: each ack is a frame the
    /// other end reads; 64 instead of 32 saved 1.6 % of the server's
    /// instructions per call on `bench cost` multi50x16).
    pub ack_every: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            window: Duration::from_secs(30),
            replay_messages: 1024,
            replay_bytes: 256 << 10,
            ack_every: 64,
        }
    }
}

impl SessionConfig {
    /// Sets [`SessionConfig::window`].
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets [`SessionConfig::replay_messages`] and [`SessionConfig::replay_bytes`].
    pub fn replay(mut self, messages: usize, bytes: usize) -> Self {
        self.replay_messages = messages.max(1);
        self.replay_bytes = bytes.max(1);
        self
    }

    /// Sets [`SessionConfig::ack_every`] (at least 1).
    pub fn ack_every(mut self, messages: usize) -> Self {
        self.ack_every = messages.max(1);
        self
    }
}
