//! The server side of a chat, a dashboard or a game lobby: every connection
//! gets an id, connections join named groups, and the application notifies
//! everyone, a group, or everyone but one, and calls a method on every member
//! of a group.
//!
//! A connection leaves the registry and all its groups when it closes.
//!
//! One registry serves one process. With a [`Backplane`] (see
//! [`crate::backplane`]) the registries of several processes form a cluster:
//! broadcasts reach the connections of every node, and a connection can be
//! called by id from any node. The only change in the application is how the
//! registry is made: `Registry::with_backplane(backplane)` instead of
//! `Registry::new()`.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use duplexrpc_core::{Notification, Peer, PeerConfig, RpcError};
use futures::future::join_all;

use crate::backplane::{Backplane, BackplaneError, BroadcastError, NodeId};
use crate::id::ConnectionId;
use crate::remote::{Cluster, Local};
use groups::State;

mod groups;

/// What every clone of one registry shares.
#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    cluster: Option<Arc<Cluster>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster {
            cluster.stop.cancel();
        }
    }
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every operation leaves the maps consistent before it can panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes a connection; other nodes learn that it is gone.
    fn forget(&self, id: ConnectionId) {
        let removed = self.state().remove(id);
        if removed && let Some(cluster) = &self.cluster {
            cluster.publish_closed(id);
        }
    }
}

/// What the cluster's tasks read of this node's connections.
impl Local for Inner {
    fn peer(&self, id: ConnectionId) -> Option<Peer> {
        self.state().peers.get(&id).cloned()
    }

    fn ids(&self) -> Vec<ConnectionId> {
        self.state().sorted_ids()
    }

    fn members(&self, group: &str) -> Vec<ConnectionId> {
        self.state().members(group)
    }

    fn targets(&self, group: Option<&str>, except: Option<ConnectionId>) -> Vec<(ConnectionId, Peer)> {
        self.state().targets(group, except)
    }
}

/// Connections by id, and named groups of them. Cheap to clone: clones
/// share one registry.
///
/// ```
/// use duplexrpc_cluster::Registry;
/// use duplexrpc_core::{PeerBuilder, peer::Notification, transport::memory};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let registry = Registry::new();
/// let ((a_tx, a_rx), (_b_tx, _b_rx)) = memory::pair();
/// let id = registry.add(PeerBuilder::new().start(a_tx, a_rx));
/// registry.join(id, "lobby");
/// assert_eq!(registry.members("lobby"), vec![id]);
/// let sent = registry.notify_group("lobby", &Notification::new("hello", ()).unwrap()).await;
/// assert_eq!(sent, Ok(1));
/// # });
/// ```
///
/// # In a cluster
///
/// Made with [`Registry::with_backplane`], the registry is one node of a
/// cluster (see [`crate::backplane`]):
///
/// * [`add`](Registry::add), [`join`](Registry::join),
///   [`leave`](Registry::leave), [`members`](Registry::members),
///   [`ids`](Registry::ids), [`len`](Registry::len) concern this node's
///   connections; [`cluster_ids`](Registry::cluster_ids) and
///   [`cluster_members`](Registry::cluster_members) ask every node.
/// * `notify_*` deliver to this node's connections and publish the
///   notification once for every other node to deliver to its own.
/// * [`get`](Registry::get) and [`client`](Registry::client) also take the
///   id of another node's connection: calls then travel through the
///   backplane; [`call_group`](Registry::call_group) calls the members on
///   every node.
#[derive(Clone, Debug)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry of a single node: nothing leaves the process.
    pub fn new() -> Self {
        Registry {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                cluster: None,
            }),
        }
    }

    /// A registry that is one node of a cluster joined by `backplane`, e.g.
    /// `Registry::with_backplane(RedisBackplane::connect(url).await?)` with
    /// this crate's feature `redis`. Calls to other nodes' connections use the
    /// default [`PeerConfig`] (its call timeout in particular); see
    /// [`Registry::with_backplane_config`]. Must be called inside a tokio
    /// runtime: the node's background tasks start here, and end when the
    /// last clone of the registry is dropped.
    pub fn with_backplane(backplane: impl Backplane) -> Self {
        Self::with_backplane_config(backplane, PeerConfig::default())
    }

    /// Like [`Registry::with_backplane`]; `remote` configures the stand-in
    /// peers through which this node calls other nodes' connections (e.g.
    /// `PeerConfig::default().call_timeout(Some(Duration::from_secs(5)))`).
    pub fn with_backplane_config(backplane: impl Backplane, remote: PeerConfig) -> Self {
        let cluster = Arc::new(Cluster::new(Arc::new(backplane), remote));
        let inner = Arc::new(Inner {
            state: Mutex::default(),
            cluster: Some(cluster.clone()),
        });
        let local: std::sync::Weak<dyn Local> = Arc::downgrade(&inner) as Weak<Inner>;
        cluster.start(local);
        Registry { inner }
    }

    /// This node ([`NodeId::LOCAL`] without a backplane).
    pub fn node(&self) -> NodeId {
        self.inner.cluster.as_ref().map_or(NodeId::LOCAL, |c| c.node)
    }

    /// The live nodes of the cluster (just this one without a backplane).
    pub async fn live_nodes(&self) -> Result<Vec<NodeId>, BackplaneError> {
        match &self.inner.cluster {
            Some(cluster) => cluster.backplane.live_nodes().await,
            None => Ok(vec![NodeId::LOCAL]),
        }
    }

    /// Leaves the cluster now, for a graceful shutdown: other nodes treat
    /// this one as down at their next check (see [`Backplane::leave`]).
    pub async fn leave_cluster(&self) {
        if let Some(cluster) = &self.inner.cluster {
            cluster.backplane.leave().await;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state()
    }

    /// Adds a connection of this node; it is removed (from every group too)
    /// when it closes. Must be called inside a tokio runtime.
    pub fn add(&self, peer: Peer) -> ConnectionId {
        let node = self.node();
        let id = {
            let mut state = self.state();
            let id = ConnectionId::new(node, state.next_id);
            state.next_id += 1;
            state.peers.insert(id, peer.clone());
            id
        };
        let registry: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            peer.closed().await;
            if let Some(inner) = registry.upgrade() {
                inner.forget(id);
            }
        });
        id
    }

    /// Removes a connection (and its group memberships) without closing it.
    pub fn remove(&self, id: ConnectionId) {
        self.inner.forget(id);
    }

    /// The connection's peer, if it is still registered. In a cluster, the
    /// id of another node's connection gives a stand-in peer whose calls
    /// and notifications travel through the backplane (a call to a
    /// connection that has gone fails with `Disconnected`; see
    /// [`crate::backplane::NODE_DOWN`] for a node that is down). Streams
    /// are not carried across nodes, and closing a stand-in does not close
    /// the remote connection. Must be called inside a tokio runtime.
    pub fn get(&self, id: ConnectionId) -> Option<Peer> {
        match &self.inner.cluster {
            Some(cluster) if id.node() != cluster.node => (id.node() != NodeId::LOCAL).then(|| cluster.proxy(id)),
            _ => self.state().peers.get(&id).cloned(),
        }
    }

    /// A typed stub for one connection, e.g. `registry.client::<BrowserClient>(id)`:
    /// wherever the connection is, in a cluster (see [`Registry::get`]).
    pub fn client<C: From<Peer>>(&self, id: ConnectionId) -> Option<C> {
        self.get(id).map(C::from)
    }

    /// Every connection of this node, in id order.
    pub fn ids(&self) -> Vec<ConnectionId> {
        self.state().sorted_ids()
    }

    /// Every connection of every live node, in id order (just
    /// [`Registry::ids`] without a backplane). Nodes that do not answer in
    /// time are left out.
    pub async fn cluster_ids(&self) -> Result<Vec<ConnectionId>, BackplaneError> {
        let mut ids = self.ids();
        if let Some(cluster) = &self.inner.cluster {
            ids.extend(cluster.gather(None).await?);
            ids.sort_unstable();
        }
        Ok(ids)
    }

    /// How many connections this node holds.
    pub fn len(&self) -> usize {
        self.state().peers.len()
    }

    /// True if this node holds no connection.
    pub fn is_empty(&self) -> bool {
        self.state().peers.is_empty()
    }

    /// Adds a connection of this node to `group`; false if it is not
    /// registered here.
    pub fn join(&self, id: ConnectionId, group: &str) -> bool {
        let mut state = self.state();
        let Some(peer) = state.peers.get(&id).cloned() else {
            return false;
        };
        state.groups.entry(group.to_owned()).or_default().insert(id, peer);
        state.memberships.entry(id).or_default().insert(group.to_owned());
        true
    }

    /// Removes a connection from `group`; false if it was not a member.
    pub fn leave(&self, id: ConnectionId, group: &str) -> bool {
        let mut state = self.state();
        if let Some(groups) = state.memberships.get_mut(&id) {
            groups.remove(group);
        }
        state.leave_group(id, group)
    }

    /// The members of `group` on this node, in id order.
    pub fn members(&self, group: &str) -> Vec<ConnectionId> {
        self.state().members(group)
    }

    /// The members of `group` on every live node, in id order (just
    /// [`Registry::members`] without a backplane).
    pub async fn cluster_members(&self, group: &str) -> Result<Vec<ConnectionId>, BackplaneError> {
        let mut ids = self.members(group);
        if let Some(cluster) = &self.inner.cluster {
            ids.extend(cluster.gather(Some(group)).await?);
            ids.sort_unstable();
        }
        Ok(ids)
    }

    /// The groups `id` (a connection of this node) belongs to.
    pub fn groups_of(&self, id: ConnectionId) -> Vec<String> {
        self.state()
            .memberships
            .get(&id)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends `notification` (serialized once) to every connection; returns
    /// how many of this node's connections it was queued for. It never
    /// waits for a connection: one whose send queue is full (it stopped
    /// reading; see `PeerConfig::send_queue` and `send_buffer`) or that is
    /// closing is skipped, so a slow connection cannot stall the others
    /// (it misses the message, and `PeerConfig::write_timeout` drops it if
    /// it never reads again). In a cluster it is also published
    /// once for the other nodes, which deliver it to theirs; if it could not
    /// be published, or reached fewer nodes than are alive (a node
    /// reconnecting to the backplane), the result is a [`BroadcastError`]
    /// (this node's connections got it). Without a backplane it never fails.
    pub async fn notify_all(&self, notification: &Notification) -> Result<usize, BroadcastError> {
        self.notify(None, None, notification).await
    }

    /// Sends `notification` to every member of `group` (on every node, in a
    /// cluster); see [`Registry::notify_all`].
    pub async fn notify_group(&self, group: &str, notification: &Notification) -> Result<usize, BroadcastError> {
        self.notify(Some(group), None, notification).await
    }

    /// Sends `notification` to every connection but `except` (on every node,
    /// in a cluster; `except` may be on any node); see [`Registry::notify_all`].
    pub async fn notify_all_except(
        &self,
        except: ConnectionId,
        notification: &Notification,
    ) -> Result<usize, BroadcastError> {
        self.notify(None, Some(except), notification).await
    }

    async fn notify(
        &self,
        group: Option<&str>,
        except: Option<ConnectionId>,
        notification: &Notification,
    ) -> Result<usize, BroadcastError> {
        // Under the lock: each send is a queue push, nothing awaits.
        let local = self.state().offer(group, except, notification);
        match &self.inner.cluster {
            Some(cluster) => cluster
                .publish_notify(group, except, notification)
                .await
                .map(|()| local)
                .map_err(|reason| BroadcastError { local, reason }),
            None => Ok(local),
        }
    }

    /// Calls every member of `group` (on every node, in a cluster) through a
    /// typed stub and collects each member's outcome, in id order. No member
    /// can make this hang: each call fails with [`RpcError::Timeout`] after
    /// `timeout` (a member whose node is down fails sooner, with the
    /// node-down error; one that closed with `Disconnected`).
    ///
    /// `registry.call_group("lobby", d, |b: BrowserClient| async move { b.confirm(q).await })`
    pub async fn call_group<C, F, Fut, R>(
        &self,
        group: &str,
        timeout: Duration,
        call: F,
    ) -> Vec<(ConnectionId, Result<R, RpcError>)>
    where
        C: From<Peer>,
        F: Fn(C) -> Fut,
        Fut: Future<Output = Result<R, RpcError>>,
    {
        let members = match &self.inner.cluster {
            None => {
                let state = self.state();
                state.peers_of(state.groups.get(group).into_iter().flatten().map(|(id, _)| *id))
            }
            Some(_) => {
                let ids = match self.cluster_members(group).await {
                    Ok(ids) => ids,
                    Err(e) => {
                        tracing::warn!(error = %e, group, "other nodes' members unknown; calling this node's");
                        self.members(group)
                    }
                };
                ids.into_iter().filter_map(|id| self.get(id).map(|p| (id, p))).collect()
            }
        };
        let calls = members.into_iter().map(|(id, peer)| {
            let fut = call(C::from(peer));
            async move {
                let outcome = tokio::time::timeout(timeout, fut)
                    .await
                    .unwrap_or(Err(RpcError::Timeout(timeout)));
                (id, outcome)
            }
        });
        join_all(calls).await
    }
}
