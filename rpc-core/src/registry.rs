//! The server side of a chat, a dashboard or a game lobby: every connection
//! gets an id, connections join named groups, and the application notifies
//! everyone, a group, or everyone but one, and calls a method on every member
//! of a group.
//!
//! A connection leaves the registry and all its groups when it closes.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::join_all;

use crate::error::RpcError;
use crate::peer::{Notification, Peer};

/// The id of one connection in a [`Registry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    peers: HashMap<ConnectionId, Peer>,
    groups: HashMap<String, BTreeSet<ConnectionId>>,
    memberships: HashMap<ConnectionId, BTreeSet<String>>,
}

impl State {
    fn remove(&mut self, id: ConnectionId) {
        self.peers.remove(&id);
        for group in self.memberships.remove(&id).unwrap_or_default() {
            self.leave_group(id, &group);
        }
    }

    fn leave_group(&mut self, id: ConnectionId, group: &str) -> bool {
        let Some(members) = self.groups.get_mut(group) else {
            return false;
        };
        let removed = members.remove(&id);
        if members.is_empty() {
            self.groups.remove(group);
        }
        removed
    }

    fn peers_of(&self, ids: impl IntoIterator<Item = ConnectionId>) -> Vec<(ConnectionId, Peer)> {
        ids.into_iter()
            .filter_map(|id| self.peers.get(&id).map(|p| (id, p.clone())))
            .collect()
    }
}

/// Connections by id, and named groups of them. Cheap to clone: clones
/// share one registry.
///
/// ```
/// use rpc_core::{Registry, PeerBuilder, peer::Notification, transport::memory};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let registry = Registry::new();
/// let ((a_tx, a_rx), (_b_tx, _b_rx)) = memory::pair();
/// let id = registry.add(PeerBuilder::new().start(a_tx, a_rx));
/// registry.join(id, "lobby");
/// assert_eq!(registry.members("lobby"), vec![id]);
/// let sent = registry.notify_group("lobby", &Notification::new("hello", ()).unwrap()).await;
/// assert_eq!(sent, 1);
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct Registry {
    state: Arc<Mutex<State>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every operation leaves the maps consistent before it can panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a connection; it is removed (from every group too) when it
    /// closes. Must be called inside a tokio runtime.
    pub fn add(&self, peer: Peer) -> ConnectionId {
        let id = {
            let mut state = self.state();
            let id = ConnectionId(state.next_id);
            state.next_id += 1;
            state.peers.insert(id, peer.clone());
            id
        };
        let registry: Weak<Mutex<State>> = Arc::downgrade(&self.state);
        tokio::spawn(async move {
            peer.closed().await;
            if let Some(state) = registry.upgrade() {
                state.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
            }
        });
        id
    }

    /// Removes a connection (and its group memberships) without closing it.
    pub fn remove(&self, id: ConnectionId) {
        self.state().remove(id);
    }

    /// The connection's peer, if it is still registered.
    pub fn get(&self, id: ConnectionId) -> Option<Peer> {
        self.state().peers.get(&id).cloned()
    }

    /// A typed stub for one connection, e.g. `registry.client::<BrowserClient>(id)`.
    pub fn client<C: From<Peer>>(&self, id: ConnectionId) -> Option<C> {
        self.get(id).map(C::from)
    }

    /// Every registered connection, in id order.
    pub fn ids(&self) -> Vec<ConnectionId> {
        let mut ids: Vec<_> = self.state().peers.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// How many connections are registered.
    pub fn len(&self) -> usize {
        self.state().peers.len()
    }

    /// True if no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.state().peers.is_empty()
    }

    /// Adds a registered connection to `group`; false if it is not registered.
    pub fn join(&self, id: ConnectionId, group: &str) -> bool {
        let mut state = self.state();
        if !state.peers.contains_key(&id) {
            return false;
        }
        state.groups.entry(group.to_owned()).or_default().insert(id);
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

    /// The members of `group`, in id order.
    pub fn members(&self, group: &str) -> Vec<ConnectionId> {
        self.state()
            .groups
            .get(group)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The groups `id` belongs to.
    pub fn groups_of(&self, id: ConnectionId) -> Vec<String> {
        self.state()
            .memberships
            .get(&id)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends `notification` (serialized once) to every connection; returns
    /// how many it was queued for (connections closing meanwhile are skipped).
    pub async fn notify_all(&self, notification: &Notification) -> usize {
        let peers = {
            let state = self.state();
            state.peers_of(state.peers.keys().copied())
        };
        send_to_all(peers, notification).await
    }

    /// Sends `notification` to every member of `group`.
    pub async fn notify_group(&self, group: &str, notification: &Notification) -> usize {
        let peers = {
            let state = self.state();
            state.peers_of(state.groups.get(group).into_iter().flatten().copied())
        };
        send_to_all(peers, notification).await
    }

    /// Sends `notification` to every connection but `except`.
    pub async fn notify_all_except(&self, except: ConnectionId, notification: &Notification) -> usize {
        let peers = {
            let state = self.state();
            state.peers_of(state.peers.keys().copied().filter(|id| *id != except))
        };
        send_to_all(peers, notification).await
    }

    /// Calls every member of `group` through a typed stub and collects each
    /// member's outcome, in id order. No member can make this hang: each call
    /// fails with [`RpcError::Timeout`] after `timeout` (a dead member fails
    /// sooner, with `Disconnected`).
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
        let peers = {
            let state = self.state();
            state.peers_of(state.groups.get(group).into_iter().flatten().copied())
        };
        let calls = peers.into_iter().map(|(id, peer)| {
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

async fn send_to_all(peers: Vec<(ConnectionId, Peer)>, notification: &Notification) -> usize {
    let sends = peers.iter().map(|(_, peer)| peer.send_notification(notification));
    join_all(sends).await.into_iter().filter(Result::is_ok).count()
}
