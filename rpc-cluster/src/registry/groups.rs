//! The connections of one node and the groups they belong to.

use std::collections::{BTreeSet, HashMap};

use duplexrpc_core::Peer;

use crate::id::ConnectionId;

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) next_id: u64,
    pub(super) peers: HashMap<ConnectionId, Peer>,
    pub(super) groups: HashMap<String, BTreeSet<ConnectionId>>,
    pub(super) memberships: HashMap<ConnectionId, BTreeSet<String>>,
}

impl State {
    pub(super) fn remove(&mut self, id: ConnectionId) -> bool {
        let removed = self.peers.remove(&id).is_some();
        for group in self.memberships.remove(&id).unwrap_or_default() {
            self.leave_group(id, &group);
        }
        removed
    }

    pub(super) fn leave_group(&mut self, id: ConnectionId, group: &str) -> bool {
        let Some(members) = self.groups.get_mut(group) else {
            return false;
        };
        let removed = members.remove(&id);
        if members.is_empty() {
            self.groups.remove(group);
        }
        removed
    }

    pub(super) fn peers_of(&self, ids: impl IntoIterator<Item = ConnectionId>) -> Vec<(ConnectionId, Peer)> {
        ids.into_iter()
            .filter_map(|id| self.peers.get(&id).map(|p| (id, p.clone())))
            .collect()
    }

    pub(super) fn sorted_ids(&self) -> Vec<ConnectionId> {
        let mut ids: Vec<_> = self.peers.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub(super) fn members(&self, group: &str) -> Vec<ConnectionId> {
        self.groups
            .get(group)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// This node's connections a broadcast is for.
    pub(super) fn targets(&self, group: Option<&str>, except: Option<ConnectionId>) -> Vec<(ConnectionId, Peer)> {
        let keep = |id: &ConnectionId| Some(*id) != except;
        match group {
            Some(group) => self.peers_of(self.groups.get(group).into_iter().flatten().copied().filter(keep)),
            None => self.peers_of(self.peers.keys().copied().filter(keep)),
        }
    }
}
