//! The server: the endpoint (handshake checks, per-connection setup,
//! graceful stop), its HTTP side, and the standalone accept loop.

mod accept;
pub(crate) mod endpoint;
pub(crate) mod http;
mod services;
mod session;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use duplexrpc_core::session::SessionConfig;
use duplexrpc_core::{Peer, PeerBuilder, RegisterError};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::http::HeaderMap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::WsConfig;
use crate::handshake::{HandshakeRequest, Rejection};
use crate::session::{AuthCheck, Store};
pub use endpoint::Endpoint;
use endpoint::{Hook, Setup, Shared};
pub use services::Services;

/// What the server knows about a connection when it sets it up.
///
/// `auth` is what the handshake hook returned (see [`Server::on_handshake`]);
/// `()` without a hook.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionInfo<A = ()> {
    /// The client's address.
    pub remote_addr: SocketAddr,
    /// The request path of the upgrade request (e.g. `/rpc`).
    pub path: String,
    /// The query string of the upgrade request, without `?`.
    pub query: Option<String>,
    /// The headers of the upgrade request.
    pub headers: HeaderMap,
    /// What the handshake hook learned, e.g. the authenticated user.
    pub auth: A,
}

/// Builds an [`Endpoint`]: settings, handshake hook, setup. [`Server`] has the
/// same methods and serves the endpoint on its own port; this builder makes
/// one to mount in an axum app (feature `axum`, see `duplexrpc_ws::axum`).
///
/// ```
/// use duplexrpc_ws::{Endpoint, WsConfig};
/// let endpoint = Endpoint::builder()
///     .with_config(WsConfig::default().max_connections(1000))
///     .build(|_conn, _info| Ok(()));
/// assert_eq!(endpoint.connections(), 0);
/// ```
pub struct EndpointBuilder<A = ()> {
    config: WsConfig,
    health_path: Option<String>,
    hook: Hook<A>,
    auth: AuthCheck<A>,
}

impl<A> std::fmt::Debug for EndpointBuilder<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointBuilder")
            .field("config", &self.config)
            .field("health_path", &self.health_path)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A builder with the default [`WsConfig`], no hook and no health path.
    pub fn builder() -> EndpointBuilder {
        EndpointBuilder {
            config: WsConfig::default(),
            health_path: None,
            hook: Arc::new(|_| Box::pin(std::future::ready(Ok(())))),
            auth: AuthCheck::compare(),
        }
    }
}

impl<A: Send + Sync + 'static> EndpointBuilder<A> {
    /// Replaces the configuration.
    pub fn with_config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    /// Answers a plain HTTP request (no upgrade) for `path` with 200 "ok",
    /// e.g. a load balancer's health check on `/health`. Other plain
    /// requests get 426 Upgrade Required.
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = Some(path.into());
        self
    }

    /// Sets a synchronous handshake hook; see [`Server::on_handshake`].
    pub fn on_handshake<B, F>(self, hook: F) -> EndpointBuilder<B>
    where
        F: Fn(&HandshakeRequest) -> Result<B, Rejection> + Send + Sync + 'static,
        B: Send + 'static,
    {
        self.with_hook(Arc::new(move |req| Box::pin(std::future::ready(hook(&req)))))
    }

    /// Sets an asynchronous handshake hook; see [`Server::on_handshake_async`].
    pub fn on_handshake_async<B, F, Fut>(self, hook: F) -> EndpointBuilder<B>
    where
        F: Fn(HandshakeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<B, Rejection>> + Send + 'static,
    {
        self.with_hook(Arc::new(move |req| Box::pin(hook(req))))
    }

    fn with_hook<B>(self, hook: Hook<B>) -> EndpointBuilder<B> {
        EndpointBuilder {
            config: self.config,
            health_path: self.health_path,
            hook,
            // Resumes compare auth values only once `sessions` says how.
            auth: AuthCheck::refuse(),
        }
    }

    /// Turns resumable sessions on (`Some`) or off; see [`Server::sessions`].
    pub fn sessions(mut self, sessions: Option<SessionConfig>) -> Self
    where
        A: PartialEq + Clone,
    {
        self.config.sessions = sessions;
        self.auth = AuthCheck::compare();
        self
    }

    /// The endpoint, with a synchronous setup; see [`Server::serve`].
    pub fn build<F>(self, setup: F) -> Endpoint<A>
    where
        F: Fn(&mut PeerBuilder, &ConnectionInfo<A>) -> Result<(), RegisterError> + Send + Sync + 'static,
    {
        self.with_setup(Setup::Sync(Box::new(setup)))
    }

    /// The endpoint, with an asynchronous setup; see [`Server::serve_async`].
    pub fn build_async<F, Fut, S>(self, setup: F) -> Endpoint<A>
    where
        F: Fn(Peer, ConnectionInfo<A>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, RegisterError>> + Send + 'static,
        S: Into<Services>,
    {
        self.with_setup(Setup::Async(Box::new(move |peer, info| {
            let setup = setup(peer, info);
            Box::pin(async move { setup.await.map(Into::into) })
        })))
    }

    fn with_setup(self, setup: Setup<A>) -> Endpoint<A> {
        if self.config.sessions.is_some() && !self.auth.compares() {
            tracing::warn!(
                "sessions are on but every resume will be refused (#lost auth): with a handshake hook, \
                 turn them on with `.sessions(..)` after `.on_handshake(..)`"
            );
        }
        let sessions = self.config.sessions.clone().map(|config| Store::new(config, self.auth));
        Endpoint {
            shared: Arc::new(Shared {
                slots: Arc::new(Semaphore::new(self.config.max_connections)),
                config: self.config,
                health_path: self.health_path,
                hook: self.hook,
                setup,
                stop: CancellationToken::new(),
                tasks: TaskTracker::new(),
                sessions,
            }),
        }
    }
}

/// A bound, not yet serving, WebSocket JSON-RPC server.
///
/// `A` is the type the handshake hook hands to every connection's setup
/// (`()` until [`Server::on_handshake`] sets a hook).
///
/// Each accepted TCP connection is a pending handshake until its upgrade
/// request has been read and accepted: pending handshakes are counted apart
/// from the connections ([`WsConfig::max_pending_handshakes`]; when that
/// many are pending, a new one sheds the oldest) and each has
/// [`WsConfig::handshake_timeout`] to finish. A slot of
/// [`WsConfig::max_connections`] is taken only by an upgrade that passes the
/// checks, so silent sockets cannot lock clients out. A plain HTTP request
/// gets 426 Upgrade Required (or 200 on the [`Server::health_path`]).
pub struct Server<A = ()> {
    listener: TcpListener,
    builder: EndpointBuilder<A>,
    tls: accept::Tls,
}

impl<A> Server<A> {
    fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.acceptor.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
}

impl<A> std::fmt::Debug for Server<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("endpoint", &self.builder)
            .field("tls", &self.is_tls())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds to `addr` (`127.0.0.1:0` picks a free port).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Self::from_listener(TcpListener::bind(addr).await?))
    }

    /// Wraps an already bound listener.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server {
            listener,
            builder: Endpoint::builder(),
            tls: Default::default(),
        }
    }
}

impl<A: Send + Sync + 'static> Server<A> {
    /// Replaces the configuration.
    pub fn with_config(mut self, config: WsConfig) -> Self {
        self.builder = self.builder.with_config(config);
        self
    }

    /// Answers a plain HTTP request (no upgrade) for `path` with 200 "ok",
    /// e.g. a load balancer's health check on `/health`. Other plain
    /// requests get 426 Upgrade Required with `Upgrade: websocket`.
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.builder = self.builder.health_path(path);
        self
    }

    /// Sets the handshake hook: it sees every upgrade request (after the
    /// connection limit and the Origin check) and either accepts it, returning
    /// what it learned (e.g. the authenticated user id), or refuses it with an
    /// HTTP status such as 401 or 403 before the upgrade. What it returns is
    /// [`ConnectionInfo::auth`] in the connection's setup, so the services of
    /// that connection can hold it.
    ///
    /// The hook runs on the connection's task during the handshake: keep it
    /// quick (look a token up in memory; do not block). To await (a database,
    /// a session store), use [`Server::on_handshake_async`].
    ///
    /// ```
    /// use duplexrpc_ws::{Rejection, Server};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let server = Server::bind("127.0.0.1:0").await.unwrap().on_handshake(|req| {
    ///     match req.bearer_token() {
    ///         Some("secret") => Ok("alice".to_string()),
    ///         Some(_) => Err(Rejection::forbidden("unknown token")),
    ///         None => Err(Rejection::unauthorized("missing token").with_header("www-authenticate", "Bearer")),
    ///     }
    /// });
    /// let handle = server.serve(|_conn, info| {
    ///     let user: &String = &info.auth; // e.g. a service struct field
    ///     assert_eq!(user, "alice");
    ///     Ok(())
    /// });
    /// handle.stop().await;
    /// # });
    /// ```
    pub fn on_handshake<B, F>(self, hook: F) -> Server<B>
    where
        F: Fn(&HandshakeRequest) -> Result<B, Rejection> + Send + Sync + 'static,
        B: Send + 'static,
    {
        self.with_builder(|builder| builder.on_handshake(hook))
    }

    /// Sets an asynchronous handshake hook, e.g. one that checks a token
    /// against a database. It must finish within
    /// [`WsConfig::handshake_timeout`] of the connection's accept; one that
    /// does not is refused with 503 "handshake timed out".
    ///
    /// ```
    /// use duplexrpc_ws::{Rejection, Server};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// async fn lookup(token: Option<String>) -> Option<String> {
    ///     // e.g. a query to the session store
    ///     (token.as_deref() == Some("secret")).then(|| "alice".to_string())
    /// }
    /// let server = Server::bind("127.0.0.1:0").await.unwrap().on_handshake_async(|req| async move {
    ///     lookup(req.bearer_token().map(str::to_owned)).await.ok_or_else(|| Rejection::unauthorized("bad token"))
    /// });
    /// let handle = server.serve(|_conn, _info| Ok(()));
    /// handle.stop().await;
    /// # });
    /// ```
    pub fn on_handshake_async<B, F, Fut>(self, hook: F) -> Server<B>
    where
        F: Fn(HandshakeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<B, Rejection>> + Send + 'static,
    {
        self.with_builder(|builder| builder.on_handshake_async(hook))
    }

    /// Turns resumable sessions on (`Some`, default off): a client that
    /// offers the subprotocol `duplexrpc.session.v1` (e.g.
    /// [`crate::Reconnect::resumable`]) keeps its connection's peer, pending
    /// calls, streams and groups across a dropped connection, for
    /// [`SessionConfig::window`]; other clients are served as before. See
    /// the README's "Resumable sessions".
    ///
    /// A resume runs the handshake hook again and is refused unless its
    /// auth value equals the session's (`==`). Without a hook,
    /// [`WsConfig::sessions`] does the same; with one, set sessions here
    /// (after the hook), where the auth type is known to compare.
    ///
    /// ```
    /// use duplexrpc_core::session::SessionConfig;
    /// use duplexrpc_ws::{Rejection, Server};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let server = Server::bind("127.0.0.1:0")
    ///     .await
    ///     .unwrap()
    ///     .on_handshake(|req| req.bearer_token().map(str::to_owned).ok_or_else(|| Rejection::unauthorized("no token")))
    ///     .sessions(Some(SessionConfig::default()));
    /// let handle = server.serve(|_conn, _info| Ok(()));
    /// handle.stop().await;
    /// # });
    /// ```
    pub fn sessions(mut self, sessions: Option<SessionConfig>) -> Self
    where
        A: PartialEq + Clone,
    {
        self.builder = self.builder.sessions(sessions);
        self
    }

    fn with_builder<B>(self, f: impl FnOnce(EndpointBuilder<A>) -> EndpointBuilder<B>) -> Server<B> {
        Server {
            listener: self.listener,
            builder: f(self.builder),
            tls: self.tls,
        }
    }

    /// Serves `wss://`: every connection is TLS with this rustls configuration.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls.acceptor = Some(tokio_rustls::TlsAcceptor::from(config));
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Starts accepting. For every connection, `setup` registers the services
    /// the client may call (it gets the connection's [`PeerBuilder`], whose
    /// `peer()` is the handle for calling back into that client). A setup that
    /// fails closes the connection with 1011.
    ///
    /// The server runs until [`ServerHandle::stop`] or until the handle is dropped.
    pub fn serve<F>(self, setup: F) -> ServerHandle
    where
        F: Fn(&mut PeerBuilder, &ConnectionInfo<A>) -> Result<(), RegisterError> + Send + Sync + 'static,
    {
        self.start(|builder| builder.build(setup))
    }

    /// Like [`Server::serve`], with an asynchronous setup: it gets the
    /// connection's peer handle (for calling back into that client) and what
    /// the handshake learned, may await, and returns the methods the client
    /// may call ([`duplexrpc_core::Methods`], or [`Services`]: methods and middleware). It must finish within [`WsConfig::handshake_timeout`] of the
    /// connection's accept; one that fails or does not closes the connection
    /// with 1011.
    ///
    /// ```
    /// use duplexrpc_core::Methods;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let handle = duplexrpc_ws::Server::bind("127.0.0.1:0").await.unwrap().serve_async(|_peer, _info| async move {
    ///     let mut methods = Methods::new();
    ///     methods.method("ping", |(): ()| async { Ok::<_, duplexrpc_core::RpcError>("pong") })?;
    ///     Ok(methods)
    /// });
    /// handle.stop().await;
    /// # });
    /// ```
    pub fn serve_async<F, Fut, S>(self, setup: F) -> ServerHandle
    where
        F: Fn(Peer, ConnectionInfo<A>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, RegisterError>> + Send + 'static,
        S: Into<Services>,
    {
        self.start(|builder| builder.build_async(setup))
    }

    fn start(self, build: impl FnOnce(EndpointBuilder<A>) -> Endpoint<A>) -> ServerHandle {
        let local_addr = self.local_addr();
        let tls = self.is_tls();
        let endpoint = build(self.builder);
        let shared = &endpoint.shared;
        let handle = ServerHandle {
            local_addr,
            tls,
            stop: shared.stop.clone(),
            connections: shared.tasks.clone(),
        };
        shared
            .tasks
            .clone()
            .spawn(accept::accept_loop(self.listener, endpoint, self.tls));
        handle
    }
}

/// A running server. Dropping it stops the server (without waiting).
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    tls: bool,
    stop: CancellationToken,
    connections: TaskTracker,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://{local_addr}/` (`wss://` when serving TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/", self.local_addr)
    }

    /// Stops gracefully: stops accepting (new connections are refused), lets
    /// each connection's running calls finish, both the calls its client made
    /// and the server's calls into that client, for at most
    /// [`WsConfig::shutdown_grace`], then closes it with 1001 "server shutting
    /// down" (a client tells this from a crash with
    /// [`crate::Disconnect::is_going_away`]) and waits until every connection
    /// has finished. Calls still running at the deadline fail with the
    /// disconnect error on both ends.
    pub async fn stop(self) {
        self.stop.cancel();
        self.stopped().await;
    }

    /// Completes when the server has been stopped and every connection has finished.
    pub async fn stopped(&self) {
        self.stop.cancelled().await;
        self.connections.close();
        self.connections.wait().await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
