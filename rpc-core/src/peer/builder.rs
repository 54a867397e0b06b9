//! Setting up one connection before it starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Instrument;

use super::{Link, Peer, PeerConfig};
use crate::connection::{self, Settings, Shared};
use crate::dispatch::Dispatcher;
use crate::dispatch::methods::{Methods, RegisterError};
use crate::dispatch::middleware::{Middleware, Stack};
use crate::observe;
use crate::stream::StreamLimits;
use crate::transport::{Receiver, Sender, Transport};

/// The next connection's number (see [`PeerBuilder::connection_id`]).
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(0);

/// Sets up one connection: its [`Peer`] handle exists at once (so services can
/// hold stubs for the remote end), services are registered, then
/// [`PeerBuilder::start`] runs it over a transport.
///
/// ```
/// use duplexrpc_core::{PeerBuilder, PeerConfig};
/// let builder = PeerBuilder::with_config(PeerConfig::default().max_concurrent_calls(64));
/// let peer = builder.peer().clone(); // usable once started
/// # drop(peer);
/// ```
pub struct PeerBuilder {
    peer: Peer,
    methods: Methods,
    middleware: Vec<Arc<dyn Middleware>>,
    connection: u64,
    config: PeerConfig,
}

impl std::fmt::Debug for PeerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerBuilder")
            .field("connection", &self.connection)
            .field("methods", &self.methods)
            .field("middleware", &self.middleware.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for PeerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerBuilder {
    /// A builder with the default [`PeerConfig`].
    pub fn new() -> Self {
        Self::with_config(PeerConfig::default())
    }

    /// A builder with `config`.
    pub fn with_config(config: PeerConfig) -> Self {
        let shared = Arc::new(Shared::new(Settings {
            max_pending_calls: config.max_pending_calls,
            send_queue: config.send_queue,
            send_buffer: config.send_buffer,
            call_timeout: config.call_timeout,
            stream_window: config.stream_window,
            stream_limits: StreamLimits {
                per_connection: config.max_streams,
                total: config.max_total_streams,
                open_total: config.total_streams.clone(),
            },
            metrics: observe::with_facade(config.metrics.clone()),
            max_concurrent_calls: config.max_concurrent_calls,
        }));
        PeerBuilder {
            peer: Peer {
                link: Link::Direct(shared),
            },
            methods: Methods::new(),
            middleware: Vec::new(),
            connection: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            config,
        }
    }

    /// This connection's number in this process: what a middleware sees as
    /// [`Call::connection_id`](crate::middleware::Call::connection_id), and
    /// the `conn` field of its `rpc.connection` span.
    pub fn connection_id(&self) -> u64 {
        self.connection
    }

    /// The handle for this connection.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Registers a service's methods; fails if a method name is taken.
    pub fn register(&mut self, methods: Methods) -> Result<&mut Self, RegisterError> {
        self.methods.merge(methods)?;
        Ok(self)
    }

    /// Installs a middleware around every incoming call of this connection
    /// (see [`crate::middleware`]). Several run in the order installed: the
    /// first one sees each call first.
    ///
    /// ```
    /// use duplexrpc_core::{PeerBuilder, middleware};
    /// let mut builder = PeerBuilder::new();
    /// let conn = builder.connection_id();
    /// builder.middleware(middleware::from_fn(move |call, next| {
    ///     assert_eq!(call.connection_id(), conn);
    ///     next.run(call)
    /// }));
    /// ```
    pub fn middleware(&mut self, middleware: impl Middleware) -> &mut Self {
        self.shared_middleware(Arc::new(middleware))
    }

    /// Like [`PeerBuilder::middleware`], for one middleware shared by many
    /// connections: installed as it is, not wrapped in another `Arc` (one
    /// indirection less per call).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use duplexrpc_core::{PeerBuilder, middleware::{self, Middleware}};
    /// let shared: Arc<dyn Middleware> = Arc::new(middleware::from_fn(|call, next| next.run(call)));
    /// for _ in 0..2 {
    ///     PeerBuilder::new().shared_middleware(shared.clone());
    /// }
    /// assert_eq!(Arc::strong_count(&shared), 1);
    /// ```
    pub fn shared_middleware(&mut self, middleware: Arc<dyn Middleware>) -> &mut Self {
        self.middleware.push(middleware);
        self
    }

    /// Starts the connection's task on the current tokio runtime and returns
    /// the peer handle.
    pub fn start<S: Sender, R: Receiver>(self, sender: S, receiver: R) -> Peer {
        self.start_transport((sender, receiver))
    }

    /// Like [`PeerBuilder::start`], over a transport that is one value
    /// (`duplexrpc_ws::WsTransport`, or any `(Sender, Receiver)` pair).
    ///
    /// ```
    /// use duplexrpc_core::{PeerBuilder, transport::memory};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (a, _b) = memory::pair();
    /// let peer = PeerBuilder::new().start_transport(a);
    /// assert!(!peer.is_closed());
    /// # });
    /// ```
    pub fn start_transport<T: Transport>(self, transport: T) -> Peer {
        let PeerBuilder {
            peer,
            methods,
            middleware,
            connection,
            config,
        } = self;
        let span = tracing::debug_span!("rpc.connection", conn = connection);
        let shared = peer.direct().expect("a builder's peer is direct");
        if let Some(m) = &shared.metrics {
            m.connection_opened();
        }
        let stack = Stack::new(methods, middleware, connection);
        let frames = Dispatcher::new(stack, shared.clone(), config.max_batch_len);
        let connection = connection::run(connection::Parts {
            transport,
            frames,
            limit: connection::Limit {
                messages: config.send_queue,
                bytes: config.send_buffer,
            },
            handler_grace: config.handler_grace,
            write_timeout: config.write_timeout,
            shared: shared.clone(),
        });
        let tasks = &shared.tasks;
        tasks.spawn(connection.instrument(span));
        tasks.close();
        peer
    }
}
