//! The settings of one peer (one connection).

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use crate::observe::Metrics;

/// Settings of one peer (one connection).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PeerConfig {
    /// Most incoming calls run at once on this connection; one more is
    /// answered at once with -32000 "Server busy" (never queued, so a peer
    /// at its limit still reads the replies its own handlers wait for).
    pub max_concurrent_calls: usize,
    /// Capacity of the outgoing message queue (when full, senders wait), and
    /// of the connection task's outbox of replies not yet written (when full,
    /// it stops reading until the other end reads).
    pub send_queue: usize,
    /// Bytes the same two buffers may hold each (default 64 KiB; a message
    /// larger than this still goes, alone): past it, senders wait and the
    /// connection stops reading, so a peer that sends small requests with big
    /// replies and never reads them costs at most about twice this (plus the
    /// message in hand and the transport's own write buffer), not
    /// `send_queue` big replies.
    pub send_buffer: usize,
    /// How long a write may stay pending (the other end's socket takes no
    /// bytes: it reads nothing) before the connection is dropped, with a
    /// best-effort close 1008 "write timeout: the peer is not reading"
    /// (default 30 s). Runs in every state of the connection, reading or
    /// paused. `None`: no limit.
    pub write_timeout: Option<Duration>,
    /// After the connection ends, how long running handlers get to finish
    /// (they see `Disconnected` from any call they make) before they are aborted.
    pub handler_grace: Duration,
    /// Default timeout of outgoing calls (queueing included); `None` waits
    /// forever. On timeout the call fails with [`RpcError::Timeout`](crate::RpcError::Timeout) and the
    /// callee is sent `$/cancelRequest`.
    pub call_timeout: Option<Duration>,
    /// Most outgoing calls awaiting a reply at once; one more fails at once
    /// with [`RpcError::Limit`](crate::RpcError::Limit).
    pub max_pending_calls: usize,
    /// Most elements in an incoming batch; a longer batch is answered with one
    /// -32600 error.
    pub max_batch_len: usize,
    /// Items of one stream in flight at once (see [`crate::stream`]): the
    /// consumer's buffer per stream, and the producer's credit.
    pub stream_window: usize,
    /// Most streams this peer produces at once on this connection (default
    /// 256); a request for one more is answered -32000 "Server busy" with
    /// data "too many open streams ...", and no stream starts.
    pub max_streams: usize,
    /// Most streams produced at once by every peer whose config is a clone
    /// of this one (default 100,000): a server clones its config for each
    /// connection, so this is the server-wide budget. One more is refused as
    /// for [`PeerConfig::max_streams`]. A producing stream costs some 1.5 KiB
    /// (its task and state) plus the items in flight.
    pub max_total_streams: usize,
    /// The streams open now under `max_total_streams`, shared by clones.
    pub(crate) total_streams: Arc<AtomicUsize>,
    /// Receives connection and call events (see [`crate::observe`]).
    pub metrics: Option<Arc<dyn Metrics>>,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            max_concurrent_calls: 1024,
            send_queue: 1024,
            send_buffer: 64 << 10,
            write_timeout: Some(Duration::from_secs(30)),
            handler_grace: Duration::from_secs(1),
            call_timeout: Some(Duration::from_secs(60)),
            max_pending_calls: 65_536,
            max_batch_len: 1024,
            stream_window: 64,
            max_streams: 256,
            max_total_streams: 100_000,
            total_streams: Arc::default(),
            metrics: None,
        }
    }
}

impl PeerConfig {
    /// Sets [`PeerConfig::max_concurrent_calls`].
    pub fn max_concurrent_calls(mut self, n: usize) -> Self {
        self.max_concurrent_calls = n.max(1);
        self
    }

    /// Sets [`PeerConfig::send_queue`].
    pub fn send_queue(mut self, n: usize) -> Self {
        self.send_queue = n.max(1);
        self
    }

    /// Sets [`PeerConfig::send_buffer`] (at least 1 byte).
    pub fn send_buffer(mut self, bytes: usize) -> Self {
        self.send_buffer = bytes.max(1);
        self
    }

    /// Sets [`PeerConfig::write_timeout`].
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`PeerConfig::call_timeout`].
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets [`PeerConfig::max_pending_calls`].
    pub fn max_pending_calls(mut self, n: usize) -> Self {
        self.max_pending_calls = n;
        self
    }

    /// Sets [`PeerConfig::max_batch_len`].
    pub fn max_batch_len(mut self, n: usize) -> Self {
        self.max_batch_len = n.max(1);
        self
    }

    /// Sets [`PeerConfig::stream_window`].
    pub fn stream_window(mut self, n: usize) -> Self {
        self.stream_window = n.max(2);
        self
    }

    /// Sets [`PeerConfig::max_streams`].
    pub fn max_streams(mut self, n: usize) -> Self {
        self.max_streams = n;
        self
    }

    /// Sets [`PeerConfig::max_total_streams`].
    pub fn max_total_streams(mut self, n: usize) -> Self {
        self.max_total_streams = n;
        self
    }

    /// Sets [`PeerConfig::metrics`].
    pub fn metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Sets [`PeerConfig::handler_grace`].
    pub fn handler_grace(mut self, grace: Duration) -> Self {
        self.handler_grace = grace;
        self
    }
}
