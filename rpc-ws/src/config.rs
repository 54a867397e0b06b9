//! Settings shared by the server and the client.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use duplexrpc_core::PeerConfig;
use duplexrpc_core::session::SessionConfig;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::read_lanes::FastLanes;

/// Settings of a WebSocket endpoint (server or client).
///
/// The defaults suit a server on the internet; see the README's "Security and
/// limits" section for what each one protects against.
///
/// ```
/// use std::time::Duration;
/// let config = duplexrpc_ws::WsConfig::default()
///     .max_message_size(1 << 20)
///     .keepalive(Some(Duration::from_secs(15)), Duration::from_secs(10))
///     .allowed_origins(["https://app.example.com"]);
/// assert_eq!(config.max_frame_size, 1 << 20);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WsConfig {
    /// Settings of each connection's peer (concurrency, queue sizes).
    pub peer: PeerConfig,
    /// Largest message accepted (default 16 MiB); a larger one closes the
    /// connection with 1009 "message too big".
    pub max_message_size: usize,
    /// Largest single frame accepted (default: the same as the message limit);
    /// a larger one closes the connection with 1009.
    pub max_frame_size: usize,
    /// Bytes read from the socket at a time (default 2 KiB). tungstenite
    /// zero-fills this much before each read, so it is resident memory for
    /// every connection that has read once: small keeps idle connections
    /// cheap, and a burst of small messages still arrives dozens per read.
    /// Larger messages are unaffected: the buffer grows to hold them, and
    /// after one over 64 KiB has arrived the connection reads 32 KiB at a
    /// time (fewer system calls per message) until a keepalive ping finds
    /// no large message since the last one; that 32 KiB counts in
    /// [`WsConfig::max_large_message_bytes`].
    pub read_buffer_size: usize,
    /// Server only: most connections at once (default 10,000); further
    /// handshakes are refused with HTTP 503 before the upgrade. A detached
    /// resumable session counts as a connection until it ends.
    pub max_connections: usize,
    /// Server only: the `Origin` header values a handshake may carry, compared
    /// ASCII-case-insensitively (e.g. `https://app.example.com`). `None` (the
    /// default) accepts any origin, which is right for non-browser clients;
    /// set it when browsers connect, so that a page of another site cannot
    /// open a connection with the user's cookies (cross-site WebSocket
    /// hijacking). A listed origin is accepted, another gets HTTP 403; a
    /// handshake without `Origin` (not sent by a browser) is accepted.
    pub allowed_origins: Option<Vec<String>>,
    /// Send a WebSocket ping this often (default 30 s); `None` sends none and
    /// never declares the other end dead.
    pub keepalive_interval: Option<Duration>,
    /// How long after a ping is due the other end may stay silent (no frame of
    /// any kind, pongs included) before it is declared dead (default 30 s).
    /// A dead peer's connection ends: its pending calls fail with
    /// `Disconnected("... keepalive timeout ...")`. So a peer that stops
    /// answering is detected within `keepalive_interval + keepalive_timeout`.
    pub keepalive_timeout: Duration,
    /// Server only: on [`crate::ServerHandle::stop`], how long running calls
    /// get to finish before the connections are closed anyway (default 10 s).
    pub shutdown_grace: Duration,
    /// How long a client may take to open the connection: TCP, TLS and the
    /// WebSocket handshake (default 10 s).
    pub handshake_timeout: Duration,

    // --- Message assembly (issue 12 item 3) ---
    /// How long a data message may take to arrive, from its first frame
    /// header to the end of its last fragment (default 30 s: a 16 MiB
    /// message needs at least ~4.5 Mbit/s). A message still incomplete then
    /// closes the connection with 1008 "message not completed within ..."
    /// (a message over [`WsConfig::max_message_size`] gets 1009 as soon as
    /// it is over). `None`: no deadline. Applies to the connections of
    /// [`crate::Server`] and [`crate::connect`] (a [`crate::WsTransport`]
    /// built from your own stream has none).
    pub message_timeout: Option<Duration>,

    // Handshakes in progress (server only).
    /// Server only: most handshakes in progress at once (default 20,000):
    /// accepted TCP connections whose upgrade has not completed yet (TLS and
    /// the HTTP request), counted apart from [`WsConfig::max_connections`],
    /// which an upgrade takes only once it is accepted. When this many are
    /// pending, a new one sheds the oldest (its socket is closed), so silent
    /// sockets can neither take connection slots nor stop the server from
    /// reading new upgrade requests. A pending handshake holds under 2 KiB
    /// while its client sends nothing and about 30 KiB (TLS and HTTP state
    /// and buffers; a request head over 16 KiB gets HTTP 431) once it has
    /// sent part of its request, for at most `handshake_timeout`: some
    /// 600 to 800 MiB at most with the default limit.
    pub max_pending_handshakes: usize,

    /// Bytes of large incoming messages (frames over 64 KiB) that all the
    /// connections of this endpoint may hold at once (default 1 GiB), so
    /// that `max_connections x max_message_size` is never the real bound. A
    /// connection whose large message would take more than is left is
    /// closed with 1013 "server busy: too many large messages in flight"
    /// (its client may try again later). A connection's share is what the
    /// largest frame it read since its buffers were last rebuilt announced,
    /// given back when they are rebuilt small (once it is idle) or it
    /// closes. Shared by every connection whose config is a clone of this
    /// one (all of a server's).
    pub max_large_message_bytes: usize,
    /// Resumable sessions (default `None`: off). A server selects the
    /// subprotocol `duplexrpc.session.v1` when a client offers it (with a
    /// handshake hook, turn them on with [`crate::Server::sessions`]); see
    /// the README's "Resumable sessions". A client uses
    /// [`crate::Reconnect::resumable`].
    pub sessions: Option<SessionConfig>,
    /// Server only (Linux and Android): bytes of replies the kernel may hold
    /// unsent in an accepted socket's send buffer (`TCP_NOTSENT_LOWAT`;
    /// default 64 KiB). Bytes in flight (sent, not yet acknowledged) are not
    /// counted, so a client that reads gets the same throughput; a client
    /// that does not read pushes back after its own receive window plus
    /// this, not after the send buffer, which the kernel grows to megabytes
    /// (`net.ipv4.tcp_wmem`): that is how many replies the server computes
    /// and writes for it before its connection stops being read. `None`
    /// leaves the kernel's default.
    pub max_unsent_bytes: Option<usize>,
    /// Server only: bytes a second each connection may be read at, after a
    /// burst of [`WsConfig::max_message_size`] at full speed (default
    /// 4 MiB/s). While a connection is over it, its socket is not read
    /// until enough time has passed (nothing blocks; its TCP window fills
    /// and its client waits), so the CPU one connection can take for big
    /// messages (copying, UTF-8 checks, parsing them) is bounded per
    /// second, whatever their size, and others keep theirs. The limit
    /// gives way when it would only idle the server: as many connections
    /// over their rate as half the cores (at least one) read on at full
    /// speed, each until its socket has nothing more to read, so a lone
    /// client sending big messages gets the full speed and a crowd of them
    /// shares half the cores plus the rate each (see
    /// [`WsConfig::read_rate_fast_lanes`]). One message of
    /// up to `max_message_size` still arrives at network speed after a
    /// pause; in any `t` seconds a connection is read at most
    /// `2 x max_message_size + rate x t` bytes. The default, 32 Mbit/s
    /// sustained, is over most clients' uplinks and far over what calls
    /// need (tens of thousands of small calls a second), and takes a full
    /// 16 MiB message every 4 s; with it, 12 clients sending 9 MB and 4 MiB
    /// messages back to back on 2 cores raised 100 small clients' p99 to
    /// 7.5-8.8 ms (2.4-3.2x their idle p99) with nothing else running, and
    /// to 7-21 ms against 28-38 ms with no limit with other builds on the
    /// cores (README, "Security and limits").
    /// Keep `rate x message_timeout` well over `max_message_size`, or a
    /// message read at the rate misses its deadline. `None`: no limit.
    pub max_read_rate: Option<usize>,
    /// Bytes taken under `max_large_message_bytes` now, shared by clones.
    pub(crate) large_message_bytes: Arc<AtomicUsize>,
    /// Connections that may read past `max_read_rate` at once, shared by clones.
    pub(crate) read_lanes: Arc<FastLanes>,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            peer: PeerConfig::default(),
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            read_buffer_size: 2 << 10,
            max_connections: 10_000,
            allowed_origins: None,
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            message_timeout: Some(Duration::from_secs(30)),
            max_pending_handshakes: 20_000,
            max_large_message_bytes: 1 << 30,
            sessions: None,
            max_unsent_bytes: Some(64 << 10),
            max_read_rate: Some(4 << 20),
            large_message_bytes: Arc::default(),
            read_lanes: FastLanes::for_this_machine(),
        }
    }
}

impl WsConfig {
    /// Sets [`WsConfig::peer`].
    pub fn peer(mut self, peer: PeerConfig) -> Self {
        self.peer = peer;
        self
    }

    /// Sets [`WsConfig::max_message_size`], and [`WsConfig::max_frame_size`]
    /// to the same value.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`WsConfig::max_frame_size`] (call after `max_message_size`).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
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

    /// Sets [`WsConfig::allowed_origins`]: only these browser origins may connect.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Sets [`WsConfig::keepalive_interval`] and [`WsConfig::keepalive_timeout`].
    pub fn keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Self {
        self.keepalive_interval = interval;
        self.keepalive_timeout = timeout;
        self
    }

    /// Sets [`WsConfig::shutdown_grace`].
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`WsConfig::handshake_timeout`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`WsConfig::message_timeout`].
    pub fn message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.message_timeout = timeout;
        self
    }

    /// Sets [`WsConfig::max_pending_handshakes`].
    pub fn max_pending_handshakes(mut self, n: usize) -> Self {
        self.max_pending_handshakes = n;
        self
    }

    /// Sets [`WsConfig::max_large_message_bytes`].
    pub fn max_large_message_bytes(mut self, bytes: usize) -> Self {
        self.max_large_message_bytes = bytes;
        self
    }

    /// Sets [`WsConfig::sessions`].
    pub fn sessions(mut self, sessions: Option<SessionConfig>) -> Self {
        self.sessions = sessions;
        self
    }

    /// Sets [`WsConfig::max_unsent_bytes`].
    pub fn max_unsent_bytes(mut self, bytes: Option<usize>) -> Self {
        self.max_unsent_bytes = bytes;
        self
    }

    /// Sets [`WsConfig::max_read_rate`] (bytes a second, per connection).
    ///
    /// ```
    /// // A server whose clients upload big files: 16 MiB/s each.
    /// let config = duplexrpc_ws::WsConfig::default().max_read_rate(Some(16 << 20));
    /// assert_eq!(config.max_read_rate, Some(16 << 20));
    /// ```
    pub fn max_read_rate(mut self, bytes_per_sec: Option<usize>) -> Self {
        self.max_read_rate = bytes_per_sec;
        self
    }

    /// How many connections over [`WsConfig::max_read_rate`] may go on
    /// reading at full speed at once (default: half the cores, at least
    /// one); `0` makes the rate strict for every connection. Each holds its
    /// place until its socket has nothing more to read. Shared by every
    /// connection whose config is a clone of this one (all of a server's).
    ///
    /// ```
    /// // Every connection is held to 4 MiB/s, even on an idle server.
    /// let config = duplexrpc_ws::WsConfig::default().read_rate_fast_lanes(0);
    /// # let _ = config;
    /// ```
    pub fn read_rate_fast_lanes(mut self, connections: usize) -> Self {
        self.read_lanes = FastLanes::new(connections);
        self
    }

    pub(crate) fn websocket(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }

    /// True if `origin` may open a connection.
    pub(crate) fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match (&self.allowed_origins, origin) {
            (None, _) | (Some(_), None) => true,
            (Some(list), Some(origin)) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}
