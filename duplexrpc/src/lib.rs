//! Bidirectional JSON-RPC 2.0 over WebSocket, from Rust traits.
//!
//! This is the crate to depend on: it re-exports the runtime
//! (`duplexrpc-core`: [`Peer`], [`Methods`], the [`rpc`] macro, the wire
//! types) and the registry (`duplexrpc-cluster`: [`Registry`], [`ConnectionId`],
//! [`backplane`], all of it as [`cluster`]) at its root and, behind features,
//! the rest:
//!
//! | feature | default | gives |
//! |---|---|---|
//! | `ws` | yes | [`ws`]: the WebSocket server, client and reconnect |
//! | `tls` | | `wss://` through rustls |
//! | `redis` | | `cluster::RedisBackplane`: the Redis backplane for several server processes |
//! | `typescript` | | `typescript`: TypeScript bindings from the traits (`duplexrpc-codegen`) |
//! | `openrpc` | | `openrpc`: an OpenRPC document from the traits (`duplexrpc-codegen`) |
//! | `axum` | | `ws::axum`: the endpoint on a route of an axum app, on the app's port |
//! | `metrics` | | counts and latencies through the `metrics` crate (names on [`observe`]) |
//!
//! ```
//! use duplexrpc::{rpc, RpcError};
//!
//! #[rpc(namespace = "calc")]
//! pub trait Calculator {
//!     async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
//! }
//!
//! struct Calc;
//! impl Calculator for Calc {
//!     async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
//!         Ok(a + b)
//!     }
//! }
//!
//! # #[cfg(feature = "ws")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let server = duplexrpc::ws::Server::bind("127.0.0.1:0").await.unwrap().serve(|conn, _info| {
//!     conn.register(Calc.into_methods())?;
//!     Ok(())
//! });
//! let peer = duplexrpc::ws::connect(&server.url()).await.unwrap().start();
//! let calc = CalculatorClient::new(peer.clone());
//! assert_eq!(calc.add(2, 3).await, Ok(5));
//! peer.close().await;
//! server.stop().await;
//! # });
//! ```

pub use duplexrpc_core::*;

/// The connection registry, groups and the cluster backplane (`duplexrpc-cluster`).
pub use duplexrpc_cluster as cluster;
/// Where the registry's names were before they moved to `duplexrpc-cluster`.
pub use duplexrpc_cluster::{ConnectionId, ParseConnectionIdError, Registry, backplane, registry};

/// TypeScript bindings from the traits (`duplexrpc-codegen`, feature `typescript`).
#[cfg(feature = "typescript")]
pub use duplexrpc_codegen::typescript;

/// OpenRPC documents from the traits (`duplexrpc-codegen`, feature `openrpc`).
#[cfg(feature = "openrpc")]
pub use duplexrpc_codegen::openrpc;

/// The code generators and their command-line helper (`duplexrpc-codegen`).
#[cfg(any(feature = "typescript", feature = "openrpc"))]
pub use duplexrpc_codegen as codegen;

/// The WebSocket transport: server, client, reconnect (`duplexrpc-ws`).
#[cfg(feature = "ws")]
pub use duplexrpc_ws as ws;
