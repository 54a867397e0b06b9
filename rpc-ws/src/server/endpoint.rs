//! The endpoint: what the standalone server and an axum app share (config,
//! handshake hook, setup, connection slots, stop token, connection tasks),
//! and the one path every connection takes, from its upgrade request to its end.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use duplexrpc_core::transport::{CloseReason, Transport};
use duplexrpc_core::{Peer, PeerBuilder, RegisterError};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::http::{Request, Response, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::http::{self, Kind};
use super::{ConnectionInfo, Services};
use crate::config::WsConfig;
use crate::handshake::{HandshakeRequest, Rejection, RequestHead};
use crate::session::{self, Store};
use crate::transport::{Watched, WsTransport};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The handshake hook, sync or async, as one async function.
pub(crate) type Hook<A> = Arc<dyn Fn(HandshakeRequest) -> BoxFuture<Result<A, Rejection>> + Send + Sync>;

/// The per-connection setup: synchronous on the connection's builder, or
/// asynchronous, returning the methods to register and their middleware.
pub(crate) enum Setup<A> {
    Sync(Box<SyncSetup<A>>),
    Async(Box<AsyncSetup<A>>),
}

type SyncSetup<A> = dyn Fn(&mut PeerBuilder, &ConnectionInfo<A>) -> Result<(), RegisterError> + Send + Sync;
type AsyncSetup<A> = dyn Fn(Peer, ConnectionInfo<A>) -> BoxFuture<Result<Services, RegisterError>> + Send + Sync;

/// Why a connection's setup did not complete.
#[derive(Debug)]
enum SetupError {
    Register(RegisterError),
    TimedOut,
}

impl<A> Setup<A> {
    /// Registers the connection's services on `builder`, within `deadline`.
    async fn run(
        &self,
        builder: &mut PeerBuilder,
        info: ConnectionInfo<A>,
        deadline: Instant,
    ) -> Result<(), SetupError> {
        match self {
            Setup::Sync(setup) => setup(builder, &info).map_err(SetupError::Register),
            Setup::Async(setup) => {
                let services = tokio::time::timeout_at(deadline, setup(builder.peer().clone(), info))
                    .await
                    .map_err(|_| SetupError::TimedOut)?
                    .map_err(SetupError::Register)?;
                for middleware in services.middleware {
                    builder.shared_middleware(middleware);
                }
                builder
                    .register(services.methods)
                    .map(drop)
                    .map_err(SetupError::Register)
            }
        }
    }
}

/// A WebSocket JSON-RPC endpoint: the settings, the handshake hook and the
/// per-connection setup, the connection slots, and the connections
/// themselves. The standalone [`crate::Server`] serves one on its own port;
/// with feature `axum`, `duplexrpc_ws::axum::handler` serves one from a route of an
/// axum app, with the same checks (Origin, hook, `max_connections`,
/// `handshake_timeout`), the same connection settings (keepalive,
/// [`WsConfig`]) and the same graceful [`Endpoint::stop`].
///
/// Made with [`Endpoint::builder`]; cheap to clone (clones share everything).
pub struct Endpoint<A = ()> {
    pub(crate) shared: Arc<Shared<A>>,
}

impl<A> Clone for Endpoint<A> {
    fn clone(&self) -> Self {
        Endpoint {
            shared: self.shared.clone(),
        }
    }
}

impl<A> std::fmt::Debug for Endpoint<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("config", &self.shared.config)
            .field("health_path", &self.shared.health_path)
            .field("free_slots", &self.shared.slots.available_permits())
            .finish_non_exhaustive()
    }
}

/// What every connection of one endpoint shares.
pub(crate) struct Shared<A> {
    pub(crate) config: WsConfig,
    pub(crate) health_path: Option<String>,
    pub(crate) hook: Hook<A>,
    pub(crate) setup: Setup<A>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) stop: CancellationToken,
    pub(crate) tasks: TaskTracker,
    /// The resumable sessions, when [`WsConfig::sessions`] is on.
    pub(crate) sessions: Option<Store<A>>,
}

impl<A> Endpoint<A> {
    /// Stops gracefully: refuses new connections (HTTP 503), lets each
    /// connection's running calls finish, both the calls its client made and
    /// the server's calls into that client, for at most
    /// [`WsConfig::shutdown_grace`], then closes it with 1001 "server
    /// shutting down" (a client tells this from a crash with
    /// [`crate::Disconnect::is_going_away`]) and waits until every connection
    /// has finished. Calls still running at the deadline fail with the
    /// disconnect error on both ends.
    pub async fn stop(&self) {
        self.shared.stop.cancel();
        self.stopped().await;
    }

    /// Completes when the endpoint has been stopped and every connection has finished.
    pub async fn stopped(&self) {
        self.shared.stop.cancelled().await;
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }

    /// Connections open now (upgraded and not yet finished); a resumable
    /// session counts as one until it ends, detached or not.
    pub fn connections(&self) -> usize {
        self.shared.config.max_connections - self.shared.slots.available_permits()
    }
}

/// An upgrade request that passed every check: the connection's slot and
/// what its setup will see. A session connection may come without a slot
/// when all are taken: it may only resume (its session holds one).
pub(crate) struct Admitted<A> {
    pub(crate) slot: Option<OwnedSemaphorePermit>,
    pub(crate) info: ConnectionInfo<A>,
    pub(crate) deadline: Instant,
}

impl<A: Send + Sync + 'static> Endpoint<A> {
    /// Answers one HTTP request: a WebSocket upgrade that passes the checks
    /// gets 101 and its connection runs on this endpoint (once hyper hands
    /// the socket over, as `S` when it can, see `start_upgraded`); anything
    /// else gets its HTTP answer (426, the health path's 200, 400, 403, 503,
    /// or the hook's refusal). The hook and the setup must finish by
    /// `deadline`.
    pub(crate) async fn respond<B, S>(
        &self,
        mut request: Request<B>,
        remote_addr: SocketAddr,
        deadline: Instant,
    ) -> Response<Full<Bytes>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let on_upgrade = request.extensions_mut().remove::<OnUpgrade>();
        let (head, _body) = request.into_parts();
        let accept = match http::classify(&head) {
            Kind::Upgrade(accept) => accept,
            Kind::Plain if self.is_health_path(head.uri.path()) => return http::healthy(),
            Kind::Plain => return http::upgrade_required(),
            Kind::Invalid(response) => return response,
        };
        let Some(on_upgrade) = on_upgrade else {
            tracing::error!("an upgrade request without hyper's upgrade handle (HTTP/2?)");
            return http::rejected(Rejection::new(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "WebSocket needs HTTP/1.1",
            ));
        };
        let session = self.shared.sessions.is_some() && session::offers(&head.headers);
        let admitted = match self.admit(&head, remote_addr, deadline, session).await {
            Ok(admitted) => admitted,
            Err(rejection) => return http::rejected(rejection),
        };
        // Boxed: the upgrade and the setup (the WebSocket being built, the
        // setup's future, what the request said) are large and only needed
        // at the start; kept inline they would size the connection's task
        // for its lifetime. The box is freed once the connection runs.
        let endpoint = self.clone();
        let starting = Box::pin(async move {
            match on_upgrade.await {
                Ok(upgraded) => endpoint.start_upgraded::<S>(upgraded, admitted, session).await,
                Err(e) => {
                    tracing::debug!(remote = %remote_addr, error = %e, "upgrade failed");
                    None
                }
            }
        });
        let endpoint = self.clone();
        let task = async move {
            let started = starting.await;
            if let Some(running) = &started {
                endpoint.run(running).await;
            }
            // The slot is free once the connection has finished.
            drop(started);
        };
        self.shared.tasks.spawn(task);
        let mut response = http::switching_protocols(&accept);
        if session {
            session::select(response.headers_mut());
        }
        response
    }

    fn is_health_path(&self, path: &str) -> bool {
        self.shared.health_path.as_deref() == Some(path)
    }

    /// The checks of an upgrade request, in order: stopping (503), a free
    /// slot (503), the Origin allow-list (403), the hook (its refusal; 503 if
    /// it does not finish by `deadline`). The slot is taken only once the
    /// hook accepts, so requests waiting on a slow hook hold none. A
    /// `session` connection passes without a slot when none is free (it may
    /// be a resume, whose session holds one).
    async fn admit(
        &self,
        head: &hyper::http::request::Parts,
        remote_addr: SocketAddr,
        deadline: Instant,
        session: bool,
    ) -> Result<Admitted<A>, Rejection> {
        let shared = &self.shared;
        if shared.stop.is_cancelled() {
            return Err(Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "server shutting down"));
        }
        let full = || Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
        if shared.slots.available_permits() == 0 && !session {
            return Err(full());
        }
        // A present but unreadable Origin matches nothing.
        let origin = head.headers.get(header::ORIGIN).map(|v| v.to_str().unwrap_or(""));
        if !shared.config.origin_allowed(origin) {
            return Err(Rejection::forbidden("origin not allowed"));
        }
        let request = HandshakeRequest {
            request: Arc::new(RequestHead::new(head)),
            remote_addr,
        };
        let auth = tokio::time::timeout_at(deadline, (shared.hook)(request.clone()))
            .await
            .map_err(|_| Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "handshake timed out"))??;
        let slot = match shared.slots.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) if session => None,
            Err(_) => return Err(full()),
        };
        let head = &request.request;
        let info = ConnectionInfo {
            remote_addr,
            path: head.uri().path().to_owned(),
            query: head.uri().query().map(str::to_owned),
            headers: head.headers().clone(),
            auth,
        };
        Ok(Admitted { slot, info, deadline })
    }

    /// Sets the connection up and starts it (closed with 1011 if its setup
    /// fails).
    async fn start<S>(&self, ws: WebSocketStream<Watched<S>>, admitted: Admitted<A>) -> Option<Running>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Admitted { slot, info, deadline } = admitted;
        let transport = WsTransport::watched(ws, Role::Server, &self.shared.config);
        let peer = self.start_on(transport, info, deadline).await;
        Some(Running {
            peer,
            _slot: slot,
            session: None,
        })
    }

    /// Runs the setup, then starts the peer on `transport` (closed with
    /// 1011 if the setup failed). Not an `async fn`: see
    /// `session::exchange` (the explicit `Send`).
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn start_on<T: Transport>(
        &self,
        transport: T,
        info: ConnectionInfo<A>,
        deadline: Instant,
    ) -> impl Future<Output = Peer> + Send + '_ {
        async move { self.start_on_inner(transport, info, deadline).await }
    }

    async fn start_on_inner<T: Transport>(&self, transport: T, info: ConnectionInfo<A>, deadline: Instant) -> Peer {
        let mut builder = PeerBuilder::with_config(self.shared.config.peer.clone());
        let setup_result = self.shared.setup.run(&mut builder, info, deadline).await;
        let peer = builder.start_transport(transport);
        match setup_result {
            Ok(()) => {}
            Err(SetupError::Register(e)) => {
                tracing::error!(error = %e, "connection setup failed");
                peer.close_with(CloseReason::new(1011, "server setup failed")).await;
            }
            Err(SetupError::TimedOut) => {
                tracing::error!("connection setup did not finish within the handshake timeout");
                peer.close_with(CloseReason::new(1011, "server setup timed out")).await;
            }
        }
        peer
    }

    /// Starts the connection over the socket hyper hands over: the socket
    /// itself when it is an `S` (what the standalone server serves, and
    /// axum's plain TCP), so that the connection reads and writes it
    /// directly; otherwise hyper's type-erased [`Upgraded`].
    async fn start_upgraded<S>(&self, upgraded: Upgraded, admitted: Admitted<A>, session: bool) -> Option<Running>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let config = Some(self.shared.config.websocket());
        match upgraded.downcast::<TokioIo<S>>() {
            Ok(hyper::upgrade::Parts { io, read_buf, .. }) => {
                // hyper's read buffer (8 KiB) goes now, not with the connection.
                let read = read_buf.to_vec();
                drop(read_buf);
                if session {
                    let io = Watched::after_handshake(Box::new(io.into_inner()) as session::Io, &read);
                    let ws = WebSocketStream::from_partially_read(io, read, Role::Server, config).await;
                    return self.start_session(ws, admitted).await;
                }
                let io = Watched::after_handshake(io.into_inner(), &read);
                let ws = WebSocketStream::from_partially_read(io, read, Role::Server, config).await;
                self.start(ws, admitted).await
            }
            Err(upgraded) if session => {
                let io = Watched::after_handshake(Box::new(TokioIo::new(upgraded)) as session::Io, &[]);
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, config).await;
                self.start_session(ws, admitted).await
            }
            Err(upgraded) => {
                let io = Watched::after_handshake(TokioIo::new(upgraded), &[]);
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, config).await;
                self.start(ws, admitted).await
            }
        }
    }

    /// Waits until the connection ends or the endpoint stops (then closes
    /// it gracefully), and then until it has finished.
    async fn run(&self, running: &Running) {
        let peer = &running.peer;
        let reason = match running.session {
            Some(_) => SESSION_SHUTTING_DOWN,
            None => SHUTTING_DOWN,
        };
        tokio::select! {
            _ = peer.closed() => {}
            // Boxed: its timers are needed once, at the stop.
            _ = self.shared.stop.cancelled() => Box::pin(self.shut_down(peer, reason)).await,
        }
        peer.finished().await;
    }

    /// Lets the connection's calls finish, for at most the grace period,
    /// then closes it with `reason`: 1001, or 1000 for a session (it ends
    /// for good: 1001 would let the client resume it).
    async fn shut_down(&self, peer: &Peer, reason: CloseReason) {
        let _ = tokio::time::timeout(self.shared.config.shutdown_grace, quiesce(peer)).await;
        peer.close_with(reason).await;
    }
}

/// A started connection: its peer, the slot it holds until it has
/// finished (freed when this is dropped), and for a session its place in
/// the session store (given back then too). A session's task runs until
/// the session is over, across its connections: a detached session keeps
/// its slot.
pub(crate) struct Running {
    peer: Peer,
    _slot: Option<OwnedSemaphorePermit>,
    session: Option<Box<dyn Send + Sync>>,
}

impl Running {
    /// A session's first connection.
    pub(crate) fn session(peer: Peer, slot: OwnedSemaphorePermit, registered: Box<dyn Send + Sync>) -> Self {
        Running {
            peer,
            _slot: Some(slot),
            session: Some(registered),
        }
    }
}

/// The close a graceful stop sends to every connection.
const SHUTTING_DOWN: CloseReason = CloseReason::new(1001, "server shutting down");

/// The close a graceful stop sends to a session's connection: a normal
/// close, which ends the session (1001 would let the client resume).
const SESSION_SHUTTING_DOWN: CloseReason = CloseReason::new(1000, "server shutting down");

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
