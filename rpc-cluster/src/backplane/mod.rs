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
//!   Each stand-in has an epoch that its requests and their replies carry,
//!   and a reply completes only a call still pending in the stand-in that
//!   sent it: a late reply never reaches another call.
//! * **Outages**: a node cut off from the backplane fails its calls to other
//!   nodes with [`CUT_OFF_CODE`], its broadcasts with [`BroadcastError`],
//!   and judges no other node dead while cut off (and for one expiry after).
//!
//! Without a backplane ([`Registry::new`](crate::Registry::new)) a registry is
//! a single node and nothing leaves the process. [`InProcessHub`] joins several
//! registries inside one process (tests, or several registries in one
//! server); this crate has a Redis backplane (feature `redis`) for several
//! processes.
//!
//! Delivery is at most once: a message published while a node is down or
//! while a client reconnects is not replayed. A broadcast that could not be
//! published, or that reached fewer nodes than were alive at the last check,
//! returns a [`BroadcastError`] (nothing is queued or retried). Each node delivers other
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
    /// This node cannot reach the backplane (e.g. the Redis connection is
    /// down, or Redis did not answer within the operation's deadline): the
    /// fault is on this node's side, other nodes may be fine.
    #[error("{CUT_OFF}: {0}")]
    CutOff(String),
    /// The backplane itself failed (e.g. Redis refused a command).
    #[error("backplane failure: {0}")]
    Failed(String),
}

/// A broadcast that reached this node's connections but maybe not every
/// other node's: the backplane could not publish it, or fewer nodes than
/// are alive received it. Nothing is retried: the caller decides.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("broadcast sent to {local} connection(s) of this node, but not to every other node: {reason}")]
pub struct BroadcastError {
    /// To how many of this node's connections it was queued.
    pub local: usize,
    /// Why the other nodes may not have it.
    pub reason: BackplaneError,
}

/// This node's own connection to the backplane, as [`Backplane::link`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Working: messages are sent and received.
    Up,
    /// Cut off (the reason): messages published now are lost for this node,
    /// and this node's heartbeat lapses.
    Down(String),
}

/// The text in the message of every error caused by a node that is down.
///
/// A call to a connection of a node that is down fails with
/// [`RpcError::Call`] whose code is [`NODE_DOWN_CODE`], message contains
/// `"cluster node down"` and the node, and data is
/// `{"cluster": "node_down", "node": N, "may_have_run": bool}`:
///
/// * calls pending when the node's heartbeat expires fail then (within
///   [`Liveness::detection_bound`]), with `may_have_run: true`: the callee
///   may have run them; each is cancelled at the callee (`$/cancelRequest`)
///   as soon as its node can be reached again;
/// * calls made after that, or made while nothing receives the node's
///   messages (its process is gone), fail at once.
///
/// [`is_node_down`] tells these errors apart from a connection that closed.
pub const NODE_DOWN: &str = "cluster node down";

/// The code of the node-down error (an implementation-defined server error
/// of JSON-RPC 2.0, in -32000..-32099).
pub const NODE_DOWN_CODE: i32 = -32050;

/// The text in the message of errors caused by this node being cut off from
/// the backplane (see [`BackplaneError::CutOff`]).
pub const CUT_OFF: &str = "this node is cut off from the cluster backplane";

/// The code of the error of a call that failed because this node is cut off
/// from the backplane; its data is `{"cluster": "cut_off", "may_have_run": bool}`.
pub const CUT_OFF_CODE: i32 = -32051;

fn cluster_kind(error: &RpcError) -> Option<&str> {
    let e = error.object()?;
    e.data.as_ref()?.get("cluster")?.as_str()
}

/// True if `error` is the failure of a call to a connection whose node is
/// down (see [`NODE_DOWN`]): checked on the code and the data, not the text.
///
/// ```
/// use duplexrpc_core::RpcError;
/// use duplexrpc_cluster::backplane::{NODE_DOWN_CODE, is_node_down};
/// let down = RpcError::with_data(NODE_DOWN_CODE, "cluster node down: node-2", serde_json::json!({"cluster": "node_down", "node": 2}));
/// assert!(is_node_down(&down));
/// assert!(!is_node_down(&RpcError::Disconnected("cluster node down".into())));
/// ```
pub fn is_node_down(error: &RpcError) -> bool {
    error.code() == Some(NODE_DOWN_CODE) && cluster_kind(error) == Some("node_down")
}

/// True if `error` is the failure of a call because this node was cut off
/// from the backplane (see [`CUT_OFF_CODE`]).
pub fn is_cut_off(error: &RpcError) -> bool {
    error.code() == Some(CUT_OFF_CODE) && cluster_kind(error) == Some("cut_off")
}

/// True if the call that failed with `error` may have run at the callee
/// (it was sent before its node went down or this node was cut off).
pub fn may_have_run(error: &RpcError) -> bool {
    cluster_kind(error).is_some()
        && error
            .object()
            .and_then(|e| e.data.as_ref()?.get("may_have_run")?.as_bool())
            .unwrap_or(false)
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
    /// This node (chosen when it joined the cluster, unique among live nodes
    /// and not reused by a later start).
    fn node(&self) -> NodeId;

    /// The messages for this node: everything published to [`Route::All`]
    /// (this node's own messages may be included) and to
    /// [`Route::Node`] of this node, in the order each sender published
    /// them. Returns the receiver once; later calls return `None`.
    fn deliveries(&self) -> Option<mpsc::UnboundedReceiver<Delivery>>;

    /// Publishes `payload`; returns how many nodes received it (this one
    /// included, for [`Route::All`]). To one node that nothing receives
    /// messages for, fails with [`BackplaneError::Unreachable`]. Ends within
    /// the backplane's deadline: fails with [`BackplaneError::CutOff`] when
    /// this node cannot reach the backplane.
    fn publish(&self, route: Route, payload: String) -> BoxFuture<'_, Result<usize, BackplaneError>>;

    /// The nodes whose heartbeat has not expired, this one included.
    fn live_nodes(&self) -> BoxFuture<'_, Result<Vec<NodeId>, BackplaneError>>;

    /// How quickly dead nodes are noticed.
    fn liveness(&self) -> Liveness;

    /// This node's own connection to the backplane. While it is down the
    /// registry fails calls to other nodes with the cut-off error at once,
    /// and judges no other node dead (until one expiry after it is back:
    /// their heartbeats may have lapsed for the same reason). The default is
    /// always [`Link::Up`] (the registry still notices failing operations).
    fn link(&self) -> Link {
        Link::Up
    }

    /// Leaves the cluster now (a graceful shutdown): the other nodes see this
    /// node as down at their next check instead of after its heartbeat
    /// expires. The default does nothing.
    fn leave(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
