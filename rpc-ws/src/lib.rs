//! WebSocket transport for [`duplexrpc_core`], on tokio-tungstenite.
//!
//! * [`Server`]: bind (port 0 allowed), accept, set up each connection with a
//!   callback that registers services, stop gracefully.
//! * [`connect`]: open a `ws://` connection, register the client's own
//!   services, start it, and call the server through typed stubs.
//! * [`Reconnect`]: a client that reconnects with backoff; with
//!   [`Reconnect::resumable`] and a server with sessions on
//!   ([`WsConfig::sessions`], [`Server::sessions`]), a dropped connection
//!   is resumed with nothing lost: one peer across the gap, pending calls
//!   both ways, streams and broadcasts delivered exactly once, in order.
//!
//! Text frames carry JSON-RPC; a binary frame closes the connection with code
//! 1003 and a reason. Each connection reads with an 8 KiB buffer (tungstenite's
//! default 128 KiB costs ~134 KiB of memory per idle connection) and writes
//! through the peer's single writer task, which flushes once per burst.
//!
//! ```
//! use duplexrpc_core::{rpc, RpcError};
//!
//! #[rpc]
//! pub trait Greeter {
//!     async fn greet(&self, name: String) -> Result<String, RpcError>;
//! }
//!
//! struct Hello;
//! impl Greeter for Hello {
//!     async fn greet(&self, name: String) -> Result<String, RpcError> {
//!         Ok(format!("hello, {name}"))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let server = duplexrpc_ws::Server::bind("127.0.0.1:0").await.unwrap().serve(|conn, _info| {
//!     conn.register(Hello.into_methods())?;
//!     Ok(())
//! });
//! let peer = duplexrpc_ws::connect(&server.url()).await.unwrap().start();
//! let greeter = GreeterClient::new(peer.clone());
//! assert_eq!(greeter.greet("web".into()).await.unwrap(), "hello, web");
//! peer.close().await;
//! server.stop().await;
//! # });
//! ```

#[cfg(feature = "axum")]
pub mod axum;
mod client;
#[cfg(feature = "redis")]
pub mod cluster;
mod config;
mod error;
mod handshake;
mod read_lanes;
mod reconnect;
mod server;
mod session;
mod status;
mod transport;

pub use client::{ClientBuilder, Connection, connect, connect_with_config};
pub use config::WsConfig;
pub use error::ConnectError;
pub use handshake::{HandshakeRequest, Rejection};
pub use reconnect::{Backoff, ConnectionEvent, Reconnect, ReconnectingClient};
pub use server::{ConnectionInfo, Endpoint, EndpointBuilder, Server, ServerHandle, Services};
pub use status::{ConnectionStatus, Disconnect};
/// The HTTP types of the handshake (headers, status codes), as tungstenite uses them.
pub use tokio_tungstenite::tungstenite::http;
pub use transport::WsTransport;

/// The rustls version `duplexrpc-ws` uses, for building [`rustls::ServerConfig`]
/// and [`rustls::ClientConfig`] (feature `tls`).
#[cfg(feature = "tls")]
pub use rustls;
