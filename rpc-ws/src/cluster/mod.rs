//! Scale-out: several server processes joined through Redis (feature `redis`).
//!
//! The Redis backplane now lives in `duplexrpc-cluster` (feature `redis`);
//! these names stay here for code written against `duplexrpc_ws::cluster`.
//! See [`duplexrpc_cluster::redis`] and [`duplexrpc_cluster::backplane`].

pub use duplexrpc_cluster::redis::{RedisBackplane, RedisBackplaneBuilder};
