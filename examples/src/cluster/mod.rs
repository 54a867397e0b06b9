//! A chat that runs on several server processes (nodes) behind one reverse
//! proxy, joined through Redis: the example of `duplexrpc-ws`'s `redis` feature.
//!
//! Each node serves [`Chat`] to its clients; each client serves [`Member`].
//! A message said on one node reaches the members on every node, and
//! [`Chat::ask`] calls [`Member::answer`] on a connection held by any node.
//! The only cluster-specific line is the one that makes the registry
//! ([`node_registry`]); [`ChatService`] is the code a single server would have.
//!
//! Run three nodes, Redis and Caddy with `examples/cluster/run.sh`; a node
//! alone: `cargo run -p examples --bin cluster-node -- --redis redis://127.0.0.1:6379/`.

use std::time::Duration;

use duplexrpc_cluster::backplane::{BackplaneError, BroadcastError, Liveness, is_cut_off, is_node_down};
use duplexrpc_cluster::{ConnectionId, RedisBackplane, Registry};
use duplexrpc_core::{PeerBuilder, PeerConfig, RpcError, rpc};
use duplexrpc_ws::{Server, ServerHandle};
use serde::{Deserialize, Serialize};

/// Application error code of [`Chat::ask`]: no such connection (it closed,
/// or never existed).
pub const NOT_CONNECTED: i32 = 10;
/// Application error code of [`Chat::ask`]: the node holding the connection
/// is down (data: the underlying error, which names the node).
pub const NODE_DOWN: i32 = 11;
/// Application error code of [`Chat::say`] and [`Chat::say_to_others`]: the
/// message reached this node's members but maybe not every other node's
/// (the backplane is down or a node is reconnecting to it); data: the
/// underlying error. Also of [`Chat::ask`] when this node is cut off from
/// the backplane.
pub const BACKPLANE_DOWN: i32 = 12;

fn broadcast_failed(e: BroadcastError) -> RpcError {
    tracing::warn!(error = %e, "broadcast not published to every node");
    RpcError::with_data(BACKPLANE_DOWN, "not sent to every node", e.to_string().into())
}

/// What [`Chat::hello`] tells a client about its connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The connection's cluster-wide id.
    pub conn: ConnectionId,
    /// The node's number.
    pub node: u64,
    /// The node's name (its `--name`).
    pub name: String,
}

/// Served by every node; clients call it.
#[rpc(namespace = "chat")]
pub trait Chat {
    /// This connection's id and the node that holds it.
    async fn hello(&self) -> Result<Hello, RpcError>;
    /// Joins a room; false if already in it.
    async fn join(&self, room: String) -> Result<bool, RpcError>;
    /// Sends `text` to every member of `room` (everyone if `None`), on every
    /// node, the caller included. Returns how many connections of this node
    /// got it; fails with [`BACKPLANE_DOWN`] if other nodes may not have it.
    async fn say(&self, room: Option<String>, text: String) -> Result<usize, RpcError>;
    /// Sends `text` to everyone but the caller, on every node.
    async fn say_to_others(&self, text: String) -> Result<usize, RpcError>;
    /// Asks connection `conn`, on whatever node, a question and returns its
    /// answer. Fails with [`NOT_CONNECTED`], [`NODE_DOWN`] or [`BACKPLANE_DOWN`].
    async fn ask(&self, conn: ConnectionId, question: String) -> Result<String, RpcError>;
    /// The members of `room` on every node.
    async fn members(&self, room: String) -> Result<Vec<ConnectionId>, RpcError>;
}

/// Served by every client; nodes call it.
#[rpc(namespace = "member")]
pub trait Member {
    /// A chat message from connection `from`.
    #[notification]
    async fn message(&self, from: ConnectionId, text: String);
    /// Answers a question (see [`Chat::ask`]).
    async fn answer(&self, question: String) -> Result<String, RpcError>;
}

/// [`Chat`] for one connection.
#[derive(Debug)]
pub struct ChatService {
    registry: Registry,
    me: ConnectionId,
    name: String,
}

impl Chat for ChatService {
    async fn hello(&self) -> Result<Hello, RpcError> {
        Ok(Hello {
            conn: self.me,
            node: self.registry.node().get(),
            name: self.name.clone(),
        })
    }

    async fn join(&self, room: String) -> Result<bool, RpcError> {
        let already = self.registry.groups_of(self.me).contains(&room);
        Ok(self.registry.join(self.me, &room) && !already)
    }

    async fn say(&self, room: Option<String>, text: String) -> Result<usize, RpcError> {
        let message = MemberClient::message_notification(&self.me, &text)?;
        match room {
            Some(room) => self.registry.notify_group(&room, &message).await,
            None => self.registry.notify_all(&message).await,
        }
        .map_err(broadcast_failed)
    }

    async fn say_to_others(&self, text: String) -> Result<usize, RpcError> {
        let message = MemberClient::message_notification(&self.me, &text)?;
        self.registry
            .notify_all_except(self.me, &message)
            .await
            .map_err(broadcast_failed)
    }

    async fn ask(&self, conn: ConnectionId, question: String) -> Result<String, RpcError> {
        let not_connected = || RpcError::new(NOT_CONNECTED, format!("{conn} is not connected"));
        let member: MemberClient = self.registry.client(conn).ok_or_else(not_connected)?;
        member.answer(question).await.map_err(|e| {
            if is_node_down(&e) {
                tracing::info!(%conn, error = %e, "call failed: its node is down");
                RpcError::with_data(
                    NODE_DOWN,
                    "the node holding the connection is down",
                    e.to_string().into(),
                )
            } else if is_cut_off(&e) {
                RpcError::with_data(
                    BACKPLANE_DOWN,
                    "this node is cut off from the cluster",
                    e.to_string().into(),
                )
            } else if e.is_disconnected() {
                not_connected()
            } else {
                e
            }
        })
    }

    async fn members(&self, room: String) -> Result<Vec<ConnectionId>, RpcError> {
        self.registry
            .cluster_members(&room)
            .await
            .map_err(|e| RpcError::new(duplexrpc_core::error::INTERNAL_ERROR, e.to_string()))
    }
}

/// How a node joins its cluster.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The Redis to join through; `None`: a single node, no backplane.
    pub redis: Option<String>,
    /// Namespaces the cluster's keys and channels in Redis.
    pub prefix: String,
    /// The node's name (a label for people).
    pub name: String,
    /// Heartbeat period and expiry.
    pub liveness: Liveness,
    /// Timeout of calls to connections (on any node).
    pub call_timeout: Duration,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            redis: None,
            prefix: "chat".into(),
            name: format!("pid {}", std::process::id()),
            liveness: Liveness::default(),
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// The node's registry: with a Redis backplane when `options.redis` is set.
/// This is the one place where a clustered server differs from a single one.
pub async fn node_registry(options: &NodeOptions) -> Result<Registry, BackplaneError> {
    let remote = PeerConfig::default().call_timeout(Some(options.call_timeout));
    Ok(match &options.redis {
        Some(url) => {
            let backplane = RedisBackplane::builder(url)
                .prefix(&options.prefix)
                .liveness(options.liveness)
                .name(&options.name)
                .connect()
                .await?;
            Registry::with_backplane_config(backplane, remote)
        }
        None => Registry::new(),
    })
}

/// Serves [`Chat`] on `server`: every connection is added to `registry`.
pub fn serve_chat(server: Server, registry: Registry, name: String, call_timeout: Duration) -> ServerHandle {
    let mut config = duplexrpc_ws::WsConfig::default();
    config.peer = config.peer.call_timeout(Some(call_timeout));
    server.with_config(config).serve(move |conn: &mut PeerBuilder, _info| {
        let me = registry.add(conn.peer().clone());
        tracing::info!(conn = %me, "connection opened");
        let peer = conn.peer().clone();
        tokio::spawn(async move {
            peer.closed().await;
            tracing::info!(conn = %me, "connection closed");
        });
        let service = ChatService {
            registry: registry.clone(),
            me,
            name: name.clone(),
        };
        conn.register(service.into_methods())?;
        Ok(())
    })
}

pub mod harness;
