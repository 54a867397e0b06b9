//! [`ConnectionId`]: the id of one connection in a cluster-wide registry.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::backplane::NodeId;

/// The id of one connection in a [`Registry`](crate::Registry): the node that holds the
/// connection and a number unique on that node, so ids are unique across a
/// cluster. Written `conn-7` on a registry without a backplane and
/// `conn-3.7` (node 3) in a cluster; serialized as that string, so it can be
/// sent to clients (JavaScript numbers could not hold it) and back.
///
/// ```
/// use duplexrpc_cluster::ConnectionId;
/// let id: ConnectionId = "conn-3.7".parse().unwrap();
/// assert_eq!((id.node().get(), id.local()), (3, 7));
/// assert_eq!(serde_json::to_string(&id).unwrap(), r#""conn-3.7""#);
/// assert_eq!("conn-7".parse::<ConnectionId>().unwrap().to_string(), "conn-7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    node: NodeId,
    local: u64,
}

impl ConnectionId {
    /// The id of connection `local` on `node`.
    pub const fn new(node: NodeId, local: u64) -> Self {
        ConnectionId { node, local }
    }

    /// The node that holds the connection ([`NodeId::LOCAL`] without a backplane).
    pub const fn node(self) -> NodeId {
        self.node
    }

    /// The connection's number on its node.
    pub const fn local(self) -> u64 {
        self.local
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.node == NodeId::LOCAL {
            write!(f, "conn-{}", self.local)
        } else {
            write!(f, "conn-{}.{}", self.node.get(), self.local)
        }
    }
}

/// A string that is not a [`ConnectionId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a connection id (expected conn-N or conn-NODE.N): {0:?}")]
pub struct ParseConnectionIdError(String);

impl FromStr for ConnectionId {
    type Err = ParseConnectionIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseConnectionIdError(s.to_owned());
        let rest = s.strip_prefix("conn-").ok_or_else(bad)?;
        let number = |t: &str| {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u64>().map_err(|_| bad())
        };
        match rest.split_once('.') {
            Some((node, local)) => Ok(ConnectionId::new(NodeId::new(number(node)?), number(local)?)),
            None => Ok(ConnectionId::new(NodeId::LOCAL, number(rest)?)),
        }
    }
}

impl Serialize for ConnectionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConnectionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
