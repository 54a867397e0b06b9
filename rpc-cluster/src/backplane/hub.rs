//! [`InProcessHub`]: a backplane inside one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Backplane, BackplaneError, BoxFuture, Delivery, Link, Liveness, NodeId, Route};

/// Joins several registries inside one process: each [`InProcessHub::node`]
/// is one node. For tests of clustered code without a Redis server, and for
/// several registries in one server.
///
/// ```
/// use duplexrpc_cluster::{Registry, backplane::InProcessHub};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let hub = InProcessHub::new();
/// let one = Registry::with_backplane(hub.node());
/// let two = Registry::with_backplane(hub.node());
/// assert_ne!(one.node(), two.node());
/// assert_eq!(one.live_nodes().await.unwrap().len(), 2);
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct InProcessHub {
    inner: Arc<Mutex<Hub>>,
    liveness: Option<Liveness>,
}

#[derive(Debug, Default)]
struct Hub {
    next: u64,
    nodes: HashMap<NodeId, mpsc::UnboundedSender<Delivery>>,
}

impl InProcessHub {
    /// A hub with no nodes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how often registries on this hub check which nodes are alive
    /// (default every 100 ms; a node is down as soon as it is killed).
    pub fn check_every(mut self, every: Duration) -> Self {
        self.liveness = Some(Liveness {
            heartbeat: every,
            expiry: Duration::ZERO,
        });
        self
    }

    fn hub(&self) -> std::sync::MutexGuard<'_, Hub> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new node (ids start at 1 and are never reused).
    pub fn node(&self) -> InProcessNode {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut hub = self.hub();
        hub.next += 1;
        let id = NodeId(hub.next);
        hub.nodes.insert(id, tx);
        InProcessNode {
            hub: self.clone(),
            id,
            deliveries: Mutex::new(Some(rx)),
        }
    }

    /// Takes `node` out of the hub as if its process had died: it receives
    /// nothing more, messages for it fail, and it is no longer alive.
    pub fn kill(&self, node: NodeId) {
        self.hub().nodes.remove(&node);
    }
}

/// One node of an [`InProcessHub`]. Dropping it kills the node.
#[derive(Debug)]
pub struct InProcessNode {
    hub: InProcessHub,
    id: NodeId,
    deliveries: Mutex<Option<mpsc::UnboundedReceiver<Delivery>>>,
}

impl Drop for InProcessNode {
    fn drop(&mut self) {
        self.hub.kill(self.id);
    }
}

impl Backplane for InProcessNode {
    fn node(&self) -> NodeId {
        self.id
    }

    fn deliveries(&self) -> Option<mpsc::UnboundedReceiver<Delivery>> {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn publish(&self, route: Route, payload: String) -> BoxFuture<'_, Result<usize, BackplaneError>> {
        let result = {
            let hub = self.hub.hub();
            let delivery = |payload| Delivery { from: self.id, payload };
            match route {
                // A killed node is cut off both ways.
                _ if !hub.nodes.contains_key(&self.id) => {
                    Err(BackplaneError::CutOff(format!("{} was killed", self.id)))
                }
                Route::All => Ok(hub
                    .nodes
                    .values()
                    .filter(|tx| tx.send(delivery(payload.clone())).is_ok())
                    .count()),
                Route::Node(node) => match hub.nodes.get(&node) {
                    Some(tx) if tx.send(delivery(payload)).is_ok() => Ok(1),
                    _ => Err(BackplaneError::Unreachable(node)),
                },
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn live_nodes(&self) -> BoxFuture<'_, Result<Vec<NodeId>, BackplaneError>> {
        let mut nodes: Vec<NodeId> = self.hub.hub().nodes.keys().copied().collect();
        nodes.sort_unstable();
        Box::pin(std::future::ready(Ok(nodes)))
    }

    fn liveness(&self) -> Liveness {
        self.hub.liveness.unwrap_or(Liveness {
            heartbeat: Duration::from_millis(100),
            expiry: Duration::ZERO,
        })
    }

    fn link(&self) -> Link {
        if self.hub.hub().nodes.contains_key(&self.id) {
            Link::Up
        } else {
            Link::Down(format!("{} was killed", self.id))
        }
    }

    fn leave(&self) -> BoxFuture<'_, ()> {
        self.hub.kill(self.id);
        Box::pin(async {})
    }
}
