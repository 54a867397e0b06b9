//! The settings of one peer (one connection).

use std::sync::Arc;
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
    /// Receives connection and call events (see [`crate::observe`]).
    pub metrics: Option<Arc<dyn Metrics>>,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            max_concurrent_calls: 1024,
            send_queue: 1024,
            handler_grace: Duration::from_secs(1),
            call_timeout: Some(Duration::from_secs(60)),
            max_pending_calls: 65_536,
            max_batch_len: 1024,
            stream_window: 64,
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
