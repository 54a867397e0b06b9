//! The server: accept loop, per-connection setup, graceful stop.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rpc_core::transport::CloseReason;
use rpc_core::{PeerBuilder, RegisterError};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::WsConfig;
use crate::transport::split;

/// How long a client may take to complete the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server knows about a connection when it sets it up.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote_addr: SocketAddr,
    /// The request path of the upgrade request (e.g. `/rpc`).
    pub path: String,
}

/// A bound, not yet serving, WebSocket JSON-RPC server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: WsConfig,
}

impl Server {
    /// Binds to `addr` (`127.0.0.1:0` picks a free port).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Server {
            listener: TcpListener::bind(addr).await?,
            config: WsConfig::default(),
        })
    }

    /// Wraps an already bound listener.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server {
            listener,
            config: WsConfig::default(),
        }
    }

    /// Replaces the configuration.
    pub fn with_config(mut self, config: WsConfig) -> Self {
        self.config = config;
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
        F: Fn(&mut PeerBuilder, &ConnectionInfo) -> Result<(), RegisterError> + Send + Sync + 'static,
    {
        let local_addr = self.local_addr();
        let stop = CancellationToken::new();
        let connections = TaskTracker::new();
        let accept = AcceptLoop {
            listener: self.listener,
            slots: Arc::new(Semaphore::new(self.config.max_connections)),
            config: Arc::new(self.config),
            setup: Arc::new(setup),
            stop: stop.clone(),
            connections: connections.clone(),
        };
        connections.spawn(accept.run());
        ServerHandle {
            local_addr,
            stop,
            connections,
        }
    }
}

/// A running server. Dropping it stops the server (without waiting).
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: CancellationToken,
    connections: TaskTracker,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://{local_addr}/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.local_addr)
    }

    /// Stops accepting, closes every connection with 1001 "going away", and
    /// waits until all of them have finished.
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

type Setup = dyn Fn(&mut PeerBuilder, &ConnectionInfo) -> Result<(), RegisterError> + Send + Sync;

struct AcceptLoop {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    config: Arc<WsConfig>,
    setup: Arc<Setup>,
    stop: CancellationToken,
    connections: TaskTracker,
}

impl AcceptLoop {
    async fn run(self) {
        loop {
            let accepted = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, remote_addr)) => {
                    let conn = ConnectionTask {
                        stream,
                        remote_addr,
                        slots: self.slots.clone(),
                        config: self.config.clone(),
                        setup: self.setup.clone(),
                        stop: self.stop.clone(),
                    };
                    self.connections.spawn(conn.run());
                }
                Err(e) => {
                    // e.g. EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

struct ConnectionTask {
    stream: TcpStream,
    remote_addr: SocketAddr,
    slots: Arc<Semaphore>,
    config: Arc<WsConfig>,
    setup: Arc<Setup>,
    stop: CancellationToken,
}

impl ConnectionTask {
    async fn run(self) {
        let _ = self.stream.set_nodelay(true);
        let slot = self.slots.clone().try_acquire_owned().ok();
        let full = slot.is_none();
        let mut path = String::new();
        // The signature is tungstenite's callback type; its error is an HTTP response.
        #[allow(clippy::result_large_err)]
        let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            path = req.uri().path().to_owned();
            if full {
                return Err(http_error(StatusCode::SERVICE_UNAVAILABLE, "too many connections"));
            }
            Ok(resp)
        };
        let handshake =
            tokio_tungstenite::accept_hdr_async_with_config(self.stream, callback, Some(self.config.websocket()));
        let ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => return tracing::debug!(remote = %self.remote_addr, error = %e, "handshake failed"),
            Err(_) => return tracing::debug!(remote = %self.remote_addr, "handshake timed out"),
        };
        let info = ConnectionInfo {
            remote_addr: self.remote_addr,
            path,
        };
        let mut builder = PeerBuilder::with_config(self.config.peer.clone());
        let setup_result = (self.setup)(&mut builder, &info);
        let (sender, receiver) = split(ws);
        let peer = builder.start(sender, receiver);
        if let Err(e) = setup_result {
            tracing::error!(error = %e, "connection setup failed");
            peer.close_with(CloseReason::new(1011, "server setup failed")).await;
        }
        tokio::select! {
            _ = peer.closed() => {}
            _ = self.stop.cancelled() => peer.close_with(CloseReason::GOING_AWAY).await,
        }
        peer.finished().await;
        drop(slot);
    }
}

fn http_error(status: StatusCode, body: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(body.to_owned()));
    *response.status_mut() = status;
    response
}
