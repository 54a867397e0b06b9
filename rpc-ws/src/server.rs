//! The server: accept loop, handshake checks, per-connection setup, graceful stop.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use duplexrpc_core::transport::CloseReason;
use duplexrpc_core::{Peer, PeerBuilder, RegisterError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderMap, StatusCode, header};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::WsConfig;
use crate::handshake::{HandshakeRequest, Rejection};
use crate::transport::{Watched, WsTransport};
use tokio_tungstenite::tungstenite::protocol::Role;

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

type Hook<A> = dyn Fn(&HandshakeRequest<'_>) -> Result<A, Rejection> + Send + Sync;
type Setup<A> = dyn Fn(&mut PeerBuilder, &ConnectionInfo<A>) -> Result<(), RegisterError> + Send + Sync;

/// A bound, not yet serving, WebSocket JSON-RPC server.
///
/// `A` is the type the handshake hook hands to every connection's setup
/// (`()` until [`Server::on_handshake`] sets a hook).
pub struct Server<A = ()> {
    listener: TcpListener,
    config: WsConfig,
    hook: Arc<Hook<A>>,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl<A> Server<A> {
    fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
}

impl<A> std::fmt::Debug for Server<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("config", &self.config)
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
            config: WsConfig::default(),
            hook: Arc::new(|_: &HandshakeRequest<'_>| Ok(())),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl<A: Send + Sync + 'static> Server<A> {
    /// Replaces the configuration.
    pub fn with_config(mut self, config: WsConfig) -> Self {
        self.config = config;
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
    /// quick (look a token up in memory; do not block).
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
        F: Fn(&HandshakeRequest<'_>) -> Result<B, Rejection> + Send + Sync + 'static,
    {
        Server {
            listener: self.listener,
            config: self.config,
            hook: Arc::new(hook),
            #[cfg(feature = "tls")]
            tls: self.tls,
        }
    }

    /// Serves `wss://`: every connection is TLS with this rustls configuration.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tokio_rustls::TlsAcceptor::from(config));
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
        let local_addr = self.local_addr();
        let tls = self.is_tls();
        let stop = CancellationToken::new();
        let connections = TaskTracker::new();
        let ctx = Arc::new(Ctx {
            slots: Arc::new(Semaphore::new(self.config.max_connections)),
            config: self.config,
            hook: self.hook,
            setup: Arc::new(setup),
            stop: stop.clone(),
            #[cfg(feature = "tls")]
            tls: self.tls,
        });
        connections.spawn(accept_loop(self.listener, ctx, connections.clone()));
        ServerHandle {
            local_addr,
            tls,
            stop,
            connections,
        }
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
        self.connections.close();
        self.connections.wait().await;
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

/// What every connection task of one server shares.
struct Ctx<A> {
    slots: Arc<Semaphore>,
    config: WsConfig,
    hook: Arc<Hook<A>>,
    setup: Arc<Setup<A>>,
    stop: CancellationToken,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

async fn accept_loop<A: Send + Sync + 'static>(listener: TcpListener, ctx: Arc<Ctx<A>>, connections: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote_addr)) => {
                connections.spawn(connection(stream, remote_addr, ctx.clone()));
            }
            Err(e) => {
                // e.g. EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection<A: Send + Sync + 'static>(stream: TcpStream, remote_addr: SocketAddr, ctx: Arc<Ctx<A>>) {
    let _ = stream.set_nodelay(true);
    let slot = ctx.slots.clone().try_acquire_owned().ok();
    #[cfg(feature = "tls")]
    if let Some(acceptor) = &ctx.tls {
        let tls = match tokio::time::timeout(ctx.config.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return tracing::debug!(remote = %remote_addr, error = %e, "TLS handshake failed"),
            Err(_) => return tracing::debug!(remote = %remote_addr, "TLS handshake timed out"),
        };
        return serve_connection(tls, remote_addr, slot, &ctx).await;
    }
    serve_connection(stream, remote_addr, slot, &ctx).await
}

/// Upgrades `stream` (checking limits, Origin and the hook), then runs the
/// connection until it ends or the server stops.
async fn serve_connection<S, A>(stream: S, remote_addr: SocketAddr, slot: Option<OwnedSemaphorePermit>, ctx: &Ctx<A>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: Send + Sync + 'static,
{
    let mut accepted: Option<ConnectionInfo<A>> = None;
    // The signature is tungstenite's callback type; its error is an HTTP response.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if slot.is_none() {
            return Err(Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response());
        }
        // A present but unreadable Origin matches nothing.
        let origin = req.headers().get(header::ORIGIN).map(|v| v.to_str().unwrap_or(""));
        if !ctx.config.origin_allowed(origin) {
            return Err(Rejection::forbidden("origin not allowed").into_response());
        }
        let auth = (ctx.hook)(&HandshakeRequest {
            request: req,
            remote_addr,
        })
        .map_err(Rejection::into_response)?;
        accepted = Some(ConnectionInfo {
            remote_addr,
            path: req.uri().path().to_owned(),
            query: req.uri().query().map(str::to_owned),
            headers: req.headers().clone(),
            auth,
        });
        Ok(resp)
    };
    // Boxed: the handshake's state is large and only needed at the start; kept
    // inline it would size this task's future for the connection's lifetime.
    let handshake = Box::pin(tokio_tungstenite::accept_hdr_async_with_config(
        Watched::before_handshake(stream),
        callback,
        Some(ctx.config.websocket()),
    ));
    let ws = match tokio::time::timeout(ctx.config.handshake_timeout, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return tracing::debug!(remote = %remote_addr, error = %e, "handshake failed"),
        Err(_) => return tracing::debug!(remote = %remote_addr, "handshake timed out"),
    };
    let Some(info) = accepted else {
        return tracing::debug!(remote = %remote_addr, "handshake completed without the callback");
    };
    let mut builder = PeerBuilder::with_config(ctx.config.peer.clone());
    let setup_result = (ctx.setup)(&mut builder, &info);
    drop(info);
    let transport = WsTransport::watched(ws, Role::Server, &ctx.config);
    let peer = builder.start_transport(transport);
    if let Err(e) = setup_result {
        tracing::error!(error = %e, "connection setup failed");
        peer.close_with(CloseReason::new(1011, "server setup failed")).await;
    }
    tokio::select! {
        _ = peer.closed() => {}
        _ = ctx.stop.cancelled() => {
            let _ = tokio::time::timeout(ctx.config.shutdown_grace, quiesce(&peer)).await;
            peer.close_with(SHUTTING_DOWN).await;
        }
    }
    peer.finished().await;
    drop(slot);
}

/// The close a graceful stop sends to every connection.
const SHUTTING_DOWN: CloseReason = CloseReason::new(1001, "server shutting down");

/// Completes once the connection has no call running in either direction
/// (seen twice, 10 ms apart: a handler that just finished is then done
/// queueing its reply, which the close frame follows), or has ended.
async fn quiesce(peer: &Peer) {
    let mut quiet_once = false;
    loop {
        if peer.is_closed() {
            return;
        }
        let quiet = peer.running_calls() == 0 && peer.pending_calls() == 0;
        if quiet && quiet_once {
            return;
        }
        quiet_once = quiet;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
