//! Several server processes, one set of connections: the backplane that
//! joins the [`Registry`](crate::Registry) of every node.
//!
//! A connection lives on one node (the process its WebSocket reached), while
//! the code that wants to notify or call it may run on any node. A
//! [`Backplane`] carries short messages between the nodes of a cluster and
//! tells which nodes are alive; the registry builds everything else on it:
//!
//! * **Connection ids** name their node ([`ConnectionId::node`](crate::ConnectionId::node)),
//!   so a call to a connection goes straight to the node that holds it.
//!   Every node start gets a fresh [`NodeId`] from the backplane, so a
//!   restarted node never reuses the ids of its previous run.
//! * **Broadcasts** (to all, to a group, to all but one) are published once;
//!   every node delivers them to its own connections. Each node tracks the
//!   group memberships of its own connections, so a group message reaches
//!   each member exactly once, wherever it is connected.
//! * **Calls** to a remote connection go through a stand-in [`Peer`](duplexrpc_core::Peer)
//!   on the calling node, so typed stubs work unchanged:
//!   `registry.client::<BrowserClient>(id)`. Requests, replies and
//!   cancellations travel over the backplane; timeouts apply as for a local
//!   connection.
//! * **Node failure**: every node publishes a heartbeat with an expiry
//!   ([`Liveness`]). A node whose heartbeat expired is down: calls pending on
//!   its connections fail, and new calls to them fail at once, with the error
//!   described at [`NODE_DOWN`]. Nothing waits for a reply that cannot come.
//!
//! Without a backplane ([`Registry::new`](crate::Registry::new)) a registry is
//! a single node and nothing leaves the process. [`InProcessHub`] joins several
//! registries inside one process (tests, or several registries in one
//! server); this crate has a Redis backplane (feature `redis`) for several
//! processes.
//!
//! Delivery is at most once: a message published while a node is down or
//! while a client reconnects is not replayed. Each node delivers other
//! nodes' broadcasts in the order they were published, one after the other:
//! like a local `notify_all`, a broadcast waits for room in a slow
//! connection's send queue (bounded by the call timeout).

mod hub;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use duplexrpc_core::RpcError;

pub use hub::{InProcessHub, InProcessNode};

/// A boxed future, as the object-safe [`Backplane`] trait returns them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One node of a cluster: one start of one server process. Never reused by
/// the backplane that allocated it, so a restarted process is a new node.
///
/// [`NodeId::LOCAL`] (0) is the node of a registry without a backplane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(u64);

impl NodeId {
    /// The node of a registry without a backplane.
    pub const LOCAL: NodeId = NodeId(0);

    /// A node id from its number.
    pub const fn new(n: u64) -> Self {
        NodeId(n)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node-{}", self.0)
    }
}

/// Where a backplane message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Every node (the sender may receive its own message too).
    All,
    /// One node.
    Node(NodeId),
}

/// A message received from the backplane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The node that published it.
    pub from: NodeId,
    /// What it published.
    pub payload: String,
}

/// How a backplane notices dead nodes: a node refreshes its heartbeat every
/// `heartbeat`; one not refreshed for `expiry` is down. The registry checks
/// every `heartbeat`, so a dead node is noticed within `expiry + heartbeat`
/// (plus one round trip to the backplane): see [`Liveness::detection_bound`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Liveness {
    /// How often a node refreshes its heartbeat (and how often others check).
    pub heartbeat: Duration,
    /// How long a heartbeat lasts.
    pub expiry: Duration,
}

impl Liveness {
    /// The longest a dead node can go unnoticed (network time aside).
    pub fn detection_bound(&self) -> Duration {
        self.expiry + self.heartbeat
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            heartbeat: Duration::from_secs(1),
            expiry: Duration::from_secs(3),
        }
    }
}

/// What went wrong on the backplane.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackplaneError {
    /// A message for one node found no receiver: the node is down (or has
    /// lost its backplane connection).
    #[error("{NODE_DOWN}: {0} (nothing receives its messages)")]
    Unreachable(NodeId),
    /// The backplane itself failed (e.g. the Redis connection).
    #[error("backplane failure: {0}")]
    Failed(String),
}

/// The text in the reason of every error caused by a node that is down.
///
/// A call to a connection of a node that is down fails with
/// [`RpcError::Disconnected`] whose reason contains `"cluster node down"`
/// and the node, e.g. `transport error: cluster node down: node-7 (heartbeat
/// expired)`:
///
/// * calls pending when the node's heartbeat expires fail then (within
///   [`Liveness::detection_bound`]);
/// * calls made after that, or made while nothing receives the node's
///   messages (its process is gone), fail at once.
///
/// [`is_node_down`] tells these errors apart from a connection that closed.
pub const NODE_DOWN: &str = "cluster node down";

/// True if `error` is the failure of a call to a connection whose node is
/// down (see [`NODE_DOWN`]).
///
/// ```
/// use duplexrpc_core::RpcError;
/// use duplexrpc_cluster::backplane::is_node_down;
/// assert!(is_node_down(&RpcError::Disconnected("transport error: cluster node down: node-2 (heartbeat expired)".into())));
/// assert!(!is_node_down(&RpcError::Disconnected("connection closed".into())));
/// ```
pub fn is_node_down(error: &RpcError) -> bool {
    matches!(error, RpcError::Disconnected(reason) if reason.contains(NODE_DOWN))
}

/// Carries messages between the nodes of a cluster and tells which are
/// alive. One value per node; the registry given it
/// ([`Registry::with_backplane`](crate::Registry::with_backplane)) uses it
/// for the node's whole life.
///
/// Implementations: [`InProcessHub`] (nodes in one process) and, in this crate
/// with feature `redis`, a Redis backplane (pub/sub channels, heartbeat keys
/// with an expiry).
pub trait Backplane: Send + Sync + fmt::Debug + 'static {
    /// This node (allocated when it joined the cluster, never reused).
    fn node(&self) -> NodeId;

    /// The messages for this node: everything published to [`Route::All`]
    /// (this node's own messages may be included) and to
    /// [`Route::Node`] of this node, in the order each sender published
    /// them. Returns the receiver once; later calls return `None`.
    fn deliveries(&self) -> Option<mpsc::UnboundedReceiver<Delivery>>;

    /// Publishes `payload`. To one node that nothing receives messages for,
    /// fails with [`BackplaneError::Unreachable`].
    fn publish(&self, route: Route, payload: String) -> BoxFuture<'_, Result<(), BackplaneError>>;

    /// The nodes whose heartbeat has not expired, this one included.
    fn live_nodes(&self) -> BoxFuture<'_, Result<Vec<NodeId>, BackplaneError>>;

    /// How quickly dead nodes are noticed.
    fn liveness(&self) -> Liveness;

    /// Leaves the cluster now (a graceful shutdown): the other nodes see this
    /// node as down at their next check instead of after its heartbeat
    /// expires. The default does nothing.
    fn leave(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
