//! Scale-out: several server processes joined through Redis (feature `redis`).
//!
//! Each process makes its registry with a [`RedisBackplane`]; that is the
//! only change from a single server:
//!
//! ```no_run
//! use duplexrpc_core::Registry;
//! use duplexrpc_ws::cluster::RedisBackplane;
//! # async fn f() -> Result<(), duplexrpc_core::backplane::BackplaneError> {
//! // was: let registry = Registry::new();
//! let registry = Registry::with_backplane(RedisBackplane::connect("redis://127.0.0.1:6379/").await?);
//! # drop(registry); Ok(()) }
//! ```
//!
//! Everything the registry does then spans the cluster (see
//! [`duplexrpc_core::backplane`]): broadcasts reach every node's connections once,
//! `registry.client::<XClient>(id)` reaches a connection on any node, and a
//! node that dies is noticed within [`Liveness::detection_bound`]
//! (calls to its connections then fail with the error described at
//! [`duplexrpc_core::backplane::NODE_DOWN`]).
//!
//! Put the nodes behind any reverse proxy that passes WebSocket upgrades
//! (e.g. Caddy's `reverse_proxy` with several upstreams); a client whose
//! node dies reconnects through it to another node ([`crate::Reconnect`])
//! and gets a new connection id there.
//!
//! [`Liveness::detection_bound`]: duplexrpc_core::backplane::Liveness::detection_bound

mod redis;

pub use self::redis::{RedisBackplane, RedisBackplaneBuilder};
