//! The connections of one node and the groups they belong to.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use duplexrpc_core::{Notification, Peer};

use crate::id::ConnectionId;

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) next_id: u64,
    pub(super) peers: HashMap<ConnectionId, Peer>,
    /// Each group's members with their peers: a group broadcast reads
    /// them in place, with no lookup in `peers` per member.
    pub(super) groups: HashMap<String, BTreeMap<ConnectionId, Peer>>,
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
        let removed = members.remove(&id).is_some();
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
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// This node's connections a broadcast is for.
    pub(super) fn targets(&self, group: Option<&str>, except: Option<ConnectionId>) -> Vec<(ConnectionId, Peer)> {
        self.target_peers(group, except)
            .map(|(id, p)| (id, p.clone()))
            .collect()
    }

    /// Queues `notification` for every target whose send queue has room
    /// now, and returns for how many. A peer whose queue is full (its
    /// connection is not reading: `PeerConfig::write_timeout` drops it
    /// later) or that is not connected is skipped, so that one slow
    /// connection never holds up a broadcast to the others. Each send is
    /// polled once, in place: no future is stored and no list of the
    /// targets is built (at 10,000 connections that list was a 320 KB
    /// allocation per broadcast).
    pub(super) fn offer(
        &self,
        group: Option<&str>,
        except: Option<ConnectionId>,
        notification: &Notification,
    ) -> usize {
        self.target_peers(group, except)
            .filter(|(_, peer)| peer.try_send_notification(notification).is_ok())
            .count()
    }

    fn target_peers<'a>(
        &'a self,
        group: Option<&str>,
        except: Option<ConnectionId>,
    ) -> Box<dyn Iterator<Item = (ConnectionId, &'a Peer)> + 'a> {
        let keep = move |id: &ConnectionId| Some(*id) != except;
        match group {
            Some(group) => Box::new(
                self.groups
                    .get(group)
                    .into_iter()
                    .flatten()
                    .filter(move |(id, _)| keep(id))
                    .map(|(id, p)| (*id, p)),
            ),
            None => Box::new(
                self.peers
                    .iter()
                    .filter(move |(id, _)| keep(id))
                    .map(|(id, p)| (*id, p)),
            ),
        }
    }
}
