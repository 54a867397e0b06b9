//! The connection registry of a duplexrpc server, on one node or across a
//! cluster.
//!
//! * [`registry`]: [`Registry`], connections by [`ConnectionId`], named
//!   groups, broadcasts, calls to every member of a group; `registry/groups`
//!   holds the maps of connections and groups.
//! * [`id`]: [`ConnectionId`], unique across a cluster.
//! * [`backplane`]: the [`Backplane`](backplane::Backplane) trait that joins
//!   the registries of several nodes, and [`InProcessHub`](backplane::InProcessHub),
//!   one inside a process.
//! * `remote`: the registry's side of a backplane (envelopes, stand-in peers
//!   for other nodes' connections, forwarded calls, liveness).
//! * [`redis`] (feature `redis`): [`RedisBackplane`], for several processes.
//!
//! ```
//! use duplexrpc_cluster::Registry;
//! use duplexrpc_core::{Notification, PeerBuilder, transport::memory};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let registry = Registry::new();
//! let ((a_tx, a_rx), _other_end) = memory::pair();
//! let id = registry.add(PeerBuilder::new().start(a_tx, a_rx));
//! registry.join(id, "lobby");
//! let sent = registry.notify_group("lobby", &Notification::new("hello", ()).unwrap()).await;
//! assert_eq!(sent, Ok(1));
//! # });
//! ```

pub mod backplane;
pub mod id;
#[cfg(feature = "redis")]
pub mod redis;
pub mod registry;
mod remote;

pub use id::{ConnectionId, ParseConnectionIdError};
#[cfg(feature = "redis")]
pub use redis::{RedisBackplane, RedisBackplaneBuilder};
pub use registry::Registry;
