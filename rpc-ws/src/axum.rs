//! Serving an [`Endpoint`] from a route of an axum app (feature `axum`), on
//! the app's port, next to its other routes.
//!
//! The upgrade is done at the hyper level (axum's own WebSocket support, on
//! another tungstenite version, is not used), so the app builds one
//! tungstenite and the connection gets everything the standalone
//! [`crate::Server`] gives it: the Origin allow-list, the handshake hook and
//! its auth value, `max_connections`, `handshake_timeout`, [`crate::WsConfig`],
//! keepalive, and the graceful [`Endpoint::stop`] with 1001. A plain GET of
//! the route gets 426 Upgrade Required. The hook and an async setup have
//! `handshake_timeout` from the request's arrival; accepting TCP connections
//! and reading requests (and so the pending-handshake limit) is the app's
//! server's business. axum's server hands the socket over wrapped, so the
//! connection reads it through hyper's `Upgraded` (one boxed call per read).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use duplexrpc_ws::Endpoint;
//! # async fn f() -> std::io::Result<()> {
//! let rpc = Endpoint::builder().build(|_conn, _info| Ok(()));
//! let app = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .route("/rpc", get(duplexrpc_ws::axum::handler(rpc.clone())));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // With the connect info, the hook and the setup see the client's address.
//! let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
//! axum::serve(listener, app).await?;
//! rpc.stop().await; // closes the WebSocket connections with 1001
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::Endpoint;

/// The axum handler serving `endpoint`: mount it with `get(handler(endpoint))`.
///
/// The client's address is axum's [`ConnectInfo<SocketAddr>`] when the app
/// is served with `into_make_service_with_connect_info::<SocketAddr>()`, and
/// `0.0.0.0:0` otherwise.
pub fn handler<A: Send + Sync + 'static>(
    endpoint: Endpoint<A>,
) -> impl Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Clone + Send + Sync + 'static {
    move |request: Request| {
        let endpoint = endpoint.clone();
        Box::pin(async move {
            let deadline = Instant::now() + endpoint.shared.config.handshake_timeout;
            let remote_addr = match request.extensions().get::<ConnectInfo<SocketAddr>>() {
                Some(ConnectInfo(addr)) => *addr,
                None => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            };
            endpoint
                .respond::<_, TcpStream>(request, remote_addr, deadline)
                .await
                .into_response()
        })
    }
}
