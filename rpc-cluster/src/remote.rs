//! The registry's side of a [`Backplane`]: the envelopes nodes exchange,
//! stand-in peers for remote connections, calls forwarded to local
//! connections, and the liveness checks.
//!
//! Every backplane message is one envelope: a JSON header line, `\n`, then a
//! JSON-RPC message as it would travel on a connection (the body):
//!
//! | header `t` | route | body |
//! | --- | --- | --- |
//! | `notify` (`group`, `except`, `seq`) | all, or the node that asked for it again | the notification, for this node's matching connections |
//! | `mark` (`seq`) | all | empty: the sender's broadcasts up to `seq` have been published (or failed) |
//! | `resend` (`first`, `last`) | the node of the broadcasts | empty: those of your broadcasts never arrived here |
//! | `skip` (`first`, `last`) | the asking node | empty: those broadcasts are not sent again |
//! | `to_conn` (`conn`, `epoch`) | the node of `conn` | a request, notification or `$/cancelRequest` from the sender's stand-in `epoch` for `conn` |
//! | `from_conn` (`conn`, `epoch`) | the node of the stand-in | the reply to a request forwarded for stand-in `epoch` |
//! | `abandon` (`conn`, `epoch`) | the node of `conn` | empty: stand-in `epoch` failed its calls; cancel what is left of them |
//! | `closed` (`conn`, `reason`) | all, or the asking node | empty: `conn` is gone, its stand-ins close |
//! | `query` (`query`, `group`) | all | empty: which of your connections (in `group`)? |
//! | `answer` (`query`, `conns`) | the asking node | empty |
//!
//! A stand-in's epoch is unique on its node (a counter) and node ids are
//! unique in the cluster, so `(sender, epoch, request id)` names one call
//! for the whole life of the cluster: a reply completes only the call that
//! is still pending under that name, never one made by a later stand-in.
//!
//! Broadcasts are numbered per sender (`seq`) so that one the backplane
//! lost after claiming it delivered is sent again, and a copy is dropped:
//! see `numbered`.

mod numbered;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use duplexrpc_core::message::{EncodedResult, Frame, Incoming, encode_error, parse_frame};
use duplexrpc_core::protocol::{CANCEL_METHOD, CancelParams};
use duplexrpc_core::transport::{CloseReason, Receiver, Sender, TransportError};
use duplexrpc_core::{ErrorObject, Id, Notification, Peer, PeerBuilder, PeerConfig, RpcError};

use crate::backplane::{
    Backplane, BackplaneError, CUT_OFF, CUT_OFF_CODE, Delivery, Link, NODE_DOWN, NODE_DOWN_CODE, NodeId, Route,
};
use crate::id::ConnectionId;

/// The header line of an envelope.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Header {
    Notify {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except: Option<ConnectionId>,
        /// The sender's number for it (absent from a node that numbers none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    Mark {
        seq: u64,
    },
    Resend {
        first: u64,
        last: u64,
    },
    Skip {
        first: u64,
        last: u64,
    },
    ToConn {
        conn: ConnectionId,
        epoch: u64,
    },
    FromConn {
        conn: ConnectionId,
        epoch: u64,
    },
    Abandon {
        conn: ConnectionId,
        epoch: u64,
    },
    Closed {
        conn: ConnectionId,
        reason: String,
    },
    Query {
        query: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    Answer {
        query: u64,
        conns: Vec<ConnectionId>,
    },
}

fn envelope(header: &Header, body: &str) -> String {
    let mut out = serde_json::to_string(header).expect("a header serializes");
    out.reserve(body.len() + 1);
    out.push('\n');
    out.push_str(body);
    out
}

fn open(payload: &str) -> Option<(Header, &str)> {
    let (header, body) = payload.split_once('\n')?;
    Some((serde_json::from_str(header).ok()?, body))
}

/// A notification from another node, for this node's connections.
#[derive(Debug)]
pub(crate) struct RemoteNotify {
    group: Option<String>,
    except: Option<ConnectionId>,
    text: String,
}

/// What a stand-in's receiving half gets.
#[derive(Debug)]
enum ProxyMsg {
    Text(String),
    Gone(String),
}

/// The stand-in for one remote connection.
#[derive(Debug)]
struct Proxy {
    peer: Peer,
    stand_in: Arc<StandIn>,
    created: Instant,
}

/// Why a stand-in fails its calls.
#[derive(Clone, Debug)]
enum Failure {
    /// The connection's node is down (why).
    NodeDown(NodeId, &'static str),
    /// This node is cut off from the backplane (the reason).
    CutOff(String),
}

impl Failure {
    fn object(&self, may_have_run: bool) -> ErrorObject {
        let after = if may_have_run {
            "; the call may have run: it is cancelled at the callee once its node can be reached"
        } else {
            ""
        };
        match self {
            Failure::NodeDown(node, why) => {
                ErrorObject::new(NODE_DOWN_CODE, format!("{NODE_DOWN}: {node} ({why}){after}")).with_data(
                    serde_json::json!({"cluster": "node_down", "node": node.get(), "may_have_run": may_have_run}),
                )
            }
            Failure::CutOff(reason) => ErrorObject::new(CUT_OFF_CODE, format!("{CUT_OFF} ({reason}){after}"))
                .with_data(serde_json::json!({"cluster": "cut_off", "may_have_run": may_have_run})),
        }
    }

    fn of(error: BackplaneError) -> Failure {
        match error {
            BackplaneError::Unreachable(node) => Failure::NodeDown(node, "nothing receives its messages"),
            BackplaneError::CutOff(reason) | BackplaneError::Failed(reason) => Failure::CutOff(reason),
        }
    }
}

/// What a stand-in and its sender share: the calls it has pending, and
/// whether it has failed.
#[derive(Debug)]
struct StandIn {
    conn: ConnectionId,
    epoch: u64,
    tx: mpsc::UnboundedSender<ProxyMsg>,
    state: Mutex<StandInState>,
}

#[derive(Debug, Default)]
struct StandInState {
    pending: HashSet<Id>,
    failed: Option<Failure>,
}

/// What a stand-in sends, as far as it matters here.
enum Outgoing {
    Request(Id),
    Cancel(Option<Id>),
    Other,
}

impl StandIn {
    fn failed(&self) -> bool {
        lock(&self.state).failed.is_some()
    }

    /// Fails every pending call (and every later one) with `failure`; true if
    /// some were pending (they may have run at the callee).
    fn fail(&self, failure: Failure) -> bool {
        let mut state = lock(&self.state);
        let failure = state.failed.get_or_insert(failure).clone();
        let pending: Vec<Id> = state.pending.drain().collect();
        drop(state);
        let object = failure.object(true);
        for id in &pending {
            let _ = self.tx.send(ProxyMsg::Text(encode_error(&object, id)));
        }
        !pending.is_empty()
    }

    /// A message the stand-in's peer sends: the text to publish, or `None`
    /// when it is answered here (the stand-in has failed).
    fn outgoing(&self, text: String) -> Option<String> {
        let kind = match parse_frame(&text) {
            Frame::Single(Incoming::Request { id, .. }) => Outgoing::Request(id),
            Frame::Single(Incoming::Notification { method, params }) if method == CANCEL_METHOD => Outgoing::Cancel(
                params
                    .and_then(|p| serde_json::from_str::<CancelParams<Id>>(p.get()).ok())
                    .map(|c| c.id),
            ),
            _ => Outgoing::Other,
        };
        let mut state = lock(&self.state);
        match kind {
            Outgoing::Request(id) => {
                if let Some(failure) = &state.failed {
                    let _ = self.tx.send(ProxyMsg::Text(encode_error(&failure.object(false), &id)));
                    return None;
                }
                state.pending.insert(id);
            }
            Outgoing::Cancel(id) => {
                if let Some(id) = id {
                    state.pending.remove(&id);
                }
            }
            Outgoing::Other => {}
        }
        state.failed.is_none().then_some(text)
    }

    /// A reply from the connection's node: passed on only if it answers a
    /// call still pending in this stand-in.
    fn reply(&self, body: &str) {
        let Frame::Single(Incoming::Response { id, .. }) = parse_frame(body) else {
            tracing::debug!(conn = %self.conn, "a reply from another node is not a response");
            return;
        };
        if lock(&self.state).pending.remove(&id) {
            let _ = self.tx.send(ProxyMsg::Text(body.to_owned()));
        } else {
            tracing::debug!(conn = %self.conn, ?id, "a late reply for a call that already ended was dropped");
        }
    }
}

/// How many stand-ins' abandoned calls wait for their node to be reachable.
const MAX_ABANDONED: usize = 4096;

/// A call forwarded to one of this node's connections.
#[derive(Debug)]
struct Forwarded {
    task: AbortHandle,
    started: Instant,
}

#[derive(Debug, Default)]
struct Nodes {
    /// Alive at the last check.
    live: BTreeSet<NodeId>,
    /// Seen alive at some check.
    seen: BTreeSet<NodeId>,
}

/// A forwarded call: the calling node, the connection, the stand-in's epoch, the request id.
type ForwardKey = (NodeId, ConnectionId, u64, Id);

/// One node's answer to a query: its connections.
type Answer = (NodeId, Vec<ConnectionId>);

/// What the cluster's tasks read of this node's connections (the
/// registry implements it): the seam that keeps this module below the registry.
pub(crate) trait Local: Send + Sync + 'static {
    /// This node's connection `id`.
    fn peer(&self, id: ConnectionId) -> Option<Peer>;
    /// This node's connections, in id order.
    fn ids(&self) -> Vec<ConnectionId>;
    /// This node's members of `group`, in id order.
    fn members(&self, group: &str) -> Vec<ConnectionId>;
    /// This node's connections a broadcast is for.
    fn targets(&self, group: Option<&str>, except: Option<ConnectionId>) -> Vec<(ConnectionId, Peer)>;
}

/// What the cluster's tasks hold: nothing that keeps the registry alive.
#[derive(Clone)]
struct Node {
    local: Weak<dyn Local>,
    cluster: Weak<Cluster>,
}

impl Node {
    /// The registry's connections and its cluster half, while the registry lives.
    fn upgrade(&self) -> Option<(Arc<dyn Local>, Arc<Cluster>)> {
        Some((self.local.upgrade()?, self.cluster.upgrade()?))
    }
}

/// Queues `notification` for each of `peers` whose send queue has room now
/// (as a local broadcast does: a connection that is not reading is skipped,
/// never waited for); returns for how many.
pub(crate) fn send_to_all(peers: Vec<(ConnectionId, Peer)>, notification: &Notification) -> usize {
    peers
        .iter()
        .filter(|(_, peer)| peer.try_send_notification(notification).is_ok())
        .count()
}

/// The cluster half of a registry.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) backplane: Arc<dyn Backplane>,
    pub(crate) node: NodeId,
    proxy_config: PeerConfig,
    proxies: Mutex<HashMap<ConnectionId, Proxy>>,
    next_epoch: AtomicU64,
    /// Stand-ins that failed calls which may still run at the callee: the
    /// callee is told to cancel them once it is reachable.
    abandoned: Mutex<VecDeque<(ConnectionId, u64)>>,
    /// Why this node is cut off from the backplane, while it is.
    cut_off: Mutex<Option<String>>,
    forwarded: Mutex<HashMap<ForwardKey, Forwarded>>,
    queries: Mutex<HashMap<u64, mpsc::UnboundedSender<Answer>>>,
    next_query: AtomicU64,
    nodes: Mutex<Nodes>,
    /// This node's recent broadcasts, kept to be sent again.
    sent: numbered::Sent,
    /// The numbers of the broadcasts other nodes sent here.
    received: numbered::Received,
    pub(crate) stop: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here is a single map operation or a loop of them.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cluster {
    pub(crate) fn new(backplane: Arc<dyn Backplane>, proxy_config: PeerConfig) -> Self {
        let node = backplane.node();
        Cluster {
            backplane,
            node,
            proxy_config,
            proxies: Mutex::default(),
            next_epoch: AtomicU64::new(1),
            abandoned: Mutex::default(),
            cut_off: Mutex::default(),
            forwarded: Mutex::default(),
            queries: Mutex::default(),
            next_query: AtomicU64::new(0),
            nodes: Mutex::default(),
            sent: numbered::Sent::default(),
            received: numbered::Received::default(),
            stop: CancellationToken::new(),
        }
    }

    /// Starts the node's background tasks: the inbox, the delivery of remote
    /// notifications, the liveness checks. They hold only weak references and end
    /// when the registry is dropped.
    pub(crate) fn start(self: &Arc<Self>, local: Weak<dyn Local>) {
        let node = Node {
            local,
            cluster: Arc::downgrade(self),
        };
        let Some(deliveries) = self.backplane.deliveries() else {
            tracing::error!(node = %self.node, "the backplane's deliveries were already taken: this node receives nothing");
            return;
        };
        let (notify_tx, notify_rx) = mpsc::unbounded_channel();
        tokio::spawn(run_inbox(node.clone(), deliveries, notify_tx, self.stop.clone()));
        tokio::spawn(run_notifier(node.clone(), notify_rx, self.stop.clone()));
        tokio::spawn(run_watcher(
            node,
            self.stop.clone(),
            self.backplane.liveness().heartbeat,
        ));
    }

    /// Publishes one envelope; returns how many nodes received it.
    async fn publish(&self, route: Route, header: &Header, body: &str) -> Result<usize, BackplaneError> {
        self.backplane.publish(route, envelope(header, body)).await
    }

    /// Publishes a notification for every other node's matching
    /// connections. Fails if it was not published, or reached fewer nodes
    /// than were alive at the last check.
    pub(crate) async fn publish_notify(
        &self,
        group: Option<&str>,
        except: Option<ConnectionId>,
        n: &Notification,
    ) -> Result<(), BackplaneError> {
        if let Some(reason) = lock(&self.cut_off).clone() {
            return Err(BackplaneError::CutOff(reason));
        }
        let (publishing, envelope) = self.sent.number(|seq| {
            let header = Header::Notify {
                group: group.map(str::to_owned),
                except,
                seq: Some(seq),
            };
            envelope(&header, n.text())
        });
        let published = self.backplane.publish(Route::All, envelope.to_string()).await;
        let result = published.and_then(|reached| {
            let live = lock(&self.nodes).live.len();
            if reached < live {
                Err(BackplaneError::Failed(format!(
                    "reached {reached} of the {live} live nodes (some are reconnecting to the backplane)"
                )))
            } else {
                Ok(())
            }
        });
        publishing.finish(result.is_ok());
        if let Err(e) = &result {
            tracing::warn!(node = %self.node, error = %e, "broadcast not published to every other node");
        }
        result
    }

    /// Tells the other nodes how far this node's broadcasts have been
    /// published, while it keeps any to send again.
    async fn publish_mark(&self) {
        if let Some(seq) = self.sent.mark() {
            let _ = self.publish(Route::All, &Header::Mark { seq }, "").await;
        }
    }

    /// `from` marked its broadcasts up to `mark`: asks it for those that
    /// never arrived here.
    async fn ask_again(&self, from: NodeId, mark: u64) {
        if let Some((first, last)) = self.received.missing(from, mark) {
            tracing::info!(node = %self.node, %from, first, last, "asking for broadcasts that never arrived");
            let _ = self
                .publish(Route::Node(from), &Header::Resend { first, last }, "")
                .await;
        }
    }

    /// `to` never got this node's broadcasts `first..=last`: publishes the
    /// claimed ones again for it alone, and a skip for the others.
    async fn resend(&self, to: NodeId, first: u64, last: u64) {
        let again = self.sent.resend(to, first, last);
        if again.evicted > 0 {
            tracing::warn!(node = %self.node, %to, first, last, evicted = again.evicted, "broadcasts asked for again are no longer kept");
        }
        for envelope in again.envelopes {
            if self
                .backplane
                .publish(Route::Node(to), envelope.to_string())
                .await
                .is_err()
            {
                // Asked again at the next mark.
                return;
            }
        }
        for (first, last) in again.skipped {
            let _ = self.publish(Route::Node(to), &Header::Skip { first, last }, "").await;
        }
    }

    /// Tells every node that `conn` (one of ours) is gone.
    pub(crate) fn publish_closed(self: &Arc<Self>, conn: ConnectionId) {
        if self.stop.is_cancelled() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Removed outside a runtime: the stand-ins elsewhere learn it
            // when they next use the connection ("not connected").
            return;
        };
        let cluster = self.clone();
        runtime.spawn(async move {
            let header = Header::Closed {
                conn,
                reason: format!("{conn} closed"),
            };
            let _ = cluster.publish(Route::All, &header, "").await;
        });
    }

    /// The stand-in peer for remote connection `conn`: one per connection,
    /// made on first use.
    pub(crate) fn proxy(self: &Arc<Self>, conn: ConnectionId) -> Peer {
        let mut proxies = lock(&self.proxies);
        if let Some(p) = proxies.get(&conn)
            && !p.peer.is_closed()
            && !p.stand_in.failed()
        {
            return p.peer.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let stand_in = Arc::new(StandIn {
            conn,
            epoch: self.next_epoch.fetch_add(1, Ordering::Relaxed),
            tx,
            state: Mutex::default(),
        });
        if let Some(reason) = lock(&self.cut_off).clone() {
            stand_in.fail(Failure::CutOff(reason));
        } else if self.is_down(conn.node()) {
            stand_in.fail(Failure::NodeDown(conn.node(), "heartbeat expired"));
        }
        let sender = ProxySender::new(Arc::downgrade(self), stand_in.clone());
        let peer = PeerBuilder::with_config(self.proxy_config.clone()).start(sender, ProxyReceiver { rx });
        proxies.insert(
            conn,
            Proxy {
                peer: peer.clone(),
                stand_in,
                created: Instant::now(),
            },
        );
        peer
    }

    fn is_down(&self, node: NodeId) -> bool {
        let nodes = lock(&self.nodes);
        nodes.seen.contains(&node) && !nodes.live.contains(&node)
    }

    /// A reply for stand-in `epoch` of `conn`: dropped unless that stand-in
    /// is the current one (an older one has failed all its calls).
    fn to_proxy(&self, conn: ConnectionId, epoch: u64, body: &str) {
        let stand_in = lock(&self.proxies)
            .get(&conn)
            .filter(|p| p.stand_in.epoch == epoch)
            .map(|p| p.stand_in.clone());
        match stand_in {
            Some(stand_in) => stand_in.reply(body),
            None => tracing::debug!(%conn, epoch, "a reply for a stand-in that is gone was dropped"),
        }
    }

    fn close_proxy(&self, conn: ConnectionId, reason: String) {
        if let Some(p) = lock(&self.proxies).remove(&conn) {
            let _ = p.stand_in.tx.send(ProxyMsg::Gone(reason));
        }
    }

    /// Fails a stand-in's calls; remembers to cancel them at the callee.
    fn fail_stand_in(&self, stand_in: &StandIn, failure: Failure) {
        if stand_in.fail(failure) {
            let mut abandoned = lock(&self.abandoned);
            if abandoned.len() == MAX_ABANDONED {
                abandoned.pop_front();
            }
            abandoned.push_back((stand_in.conn, stand_in.epoch));
        }
    }

    /// This node lost its backplane: every stand-in fails its calls, and
    /// new ones fail at once until it is back.
    fn cut(&self, reason: String) {
        let failure = Failure::CutOff(reason.clone());
        *lock(&self.cut_off) = Some(reason);
        let stand_ins: Vec<Arc<StandIn>> = lock(&self.proxies).values().map(|p| p.stand_in.clone()).collect();
        for stand_in in stand_ins {
            self.fail_stand_in(&stand_in, failure.clone());
        }
    }

    /// Tells the callees of abandoned calls (on live nodes) to cancel them.
    async fn send_abandoned(&self) {
        let ready: Vec<(ConnectionId, u64)> = {
            let nodes = lock(&self.nodes);
            let mut abandoned = lock(&self.abandoned);
            let (ready, waiting): (VecDeque<_>, VecDeque<_>) = abandoned
                .drain(..)
                .partition(|(conn, _)| nodes.live.contains(&conn.node()));
            *abandoned = waiting;
            ready.into()
        };
        for (conn, epoch) in ready {
            let header = Header::Abandon { conn, epoch };
            if let Err(e) = self.publish(Route::Node(conn.node()), &header, "").await {
                tracing::debug!(%conn, error = %e, "could not ask for failed calls to be cancelled yet");
                lock(&self.abandoned).push_back((conn, epoch));
            }
        }
    }

    /// Records a liveness check that started at `started`: stand-ins of
    /// nodes that are down fail their calls, calls forwarded for nodes that
    /// are down are aborted. Unless `judging` (this node's own backplane
    /// link was down recently), nodes missing from the check are kept as
    /// they were: their heartbeat may have lapsed for the same reason.
    fn checked(&self, started: Instant, live: Vec<NodeId>, judging: bool) {
        let mut live: BTreeSet<NodeId> = live.into_iter().collect();
        {
            let mut nodes = lock(&self.nodes);
            if !judging {
                live.extend(nodes.live.iter().copied());
            }
            for node in nodes.live.difference(&live).filter(|n| **n != self.node) {
                tracing::info!(node = %self.node, down = %node, "cluster node declared down (heartbeat expired)");
                self.sent.not_counted(*node);
            }
            for node in live.difference(&nodes.live) {
                tracing::info!(node = %self.node, up = %node, "cluster node alive");
                self.sent.counted(*node);
            }
            nodes.seen.extend(live.iter().copied());
            nodes.live = live.clone();
        }
        // A node's heartbeat is written before it serves a connection, so a
        // node missing from a check that started after we learned of it is down.
        let dead = |node: &NodeId| *node != self.node && !live.contains(node);
        let mut failing = Vec::new();
        lock(&self.proxies).retain(|conn, p| {
            if p.peer.is_closed() {
                return false;
            }
            if p.created <= started && dead(&conn.node()) {
                failing.push(p.stand_in.clone());
                return false;
            }
            true
        });
        for stand_in in failing {
            self.fail_stand_in(&stand_in, Failure::NodeDown(stand_in.conn.node(), "heartbeat expired"));
        }
        lock(&self.forwarded).retain(|(from, ..), f| {
            if f.started <= started && dead(from) {
                f.task.abort();
                return false;
            }
            true
        });
    }

    /// The connections of every other live node (in `group`, if given).
    pub(crate) async fn gather(&self, group: Option<&str>) -> Result<Vec<ConnectionId>, BackplaneError> {
        let mut waiting: BTreeSet<NodeId> = self.backplane.live_nodes().await?.into_iter().collect();
        waiting.remove(&self.node);
        if waiting.is_empty() {
            return Ok(Vec::new());
        }
        let query = self.next_query.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.queries).insert(query, tx);
        let _forget = ForgetQuery { cluster: self, query };
        let header = Header::Query {
            query,
            group: group.map(str::to_owned),
        };
        self.publish(Route::All, &header, "").await?;
        // A node that dies meanwhile does not answer: wait at most as long as
        // it takes to notice a dead node.
        let deadline = tokio::time::sleep(self.backplane.liveness().detection_bound().max(Duration::from_secs(1)));
        tokio::pin!(deadline);
        let mut conns = Vec::new();
        while !waiting.is_empty() {
            tokio::select! {
                _ = &mut deadline => {
                    tracing::debug!(node = %self.node, ?waiting, "no answer from some nodes");
                    break;
                }
                answer = rx.recv() => match answer {
                    Some((from, found)) => {
                        if waiting.remove(&from) {
                            conns.extend(found);
                        }
                    }
                    None => break,
                },
            }
        }
        Ok(conns)
    }
}

/// Removes a query's entry when the query ends, however it ends.
struct ForgetQuery<'a> {
    cluster: &'a Cluster,
    query: u64,
}

impl Drop for ForgetQuery<'_> {
    fn drop(&mut self) {
        lock(&self.cluster.queries).remove(&self.query);
    }
}

/// Sends a stand-in's messages to the node of its connection, one publish
/// at a time, in order.
struct ProxySender {
    cluster: Weak<Cluster>,
    stand_in: Arc<StandIn>,
    queued: VecDeque<String>,
    publishing: Option<BoxFuture<'static, Result<(), TransportError>>>,
}

impl ProxySender {
    fn new(cluster: Weak<Cluster>, stand_in: Arc<StandIn>) -> Self {
        ProxySender {
            cluster,
            stand_in,
            queued: VecDeque::new(),
            publishing: None,
        }
    }

    /// Publishes one message; a failure fails the stand-in's calls (with an
    /// error reply each), not its transport.
    fn publish(&self, text: String) -> BoxFuture<'static, Result<(), TransportError>> {
        let (cluster, stand_in) = (self.cluster.clone(), self.stand_in.clone());
        Box::pin(async move {
            let cluster = cluster
                .upgrade()
                .ok_or_else(|| TransportError::Io("the registry is gone".into()))?;
            let Some(text) = stand_in.outgoing(text) else {
                return Ok(());
            };
            let (conn, epoch) = (stand_in.conn, stand_in.epoch);
            let header = Header::ToConn { conn, epoch };
            if let Err(e) = cluster.publish(Route::Node(conn.node()), &header, &text).await {
                tracing::info!(node = %cluster.node, %conn, error = %e, "a call to another node's connection failed");
                cluster.fail_stand_in(&stand_in, Failure::of(e));
            }
            Ok(())
        })
    }
}

impl Sender for ProxySender {
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        self.queued.push_back(text);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        loop {
            if let Some(publishing) = &mut self.publishing {
                let result = std::task::ready!(publishing.as_mut().poll(cx));
                self.publishing = None;
                result?;
            }
            match self.queued.pop_front() {
                Some(text) => self.publishing = Some(self.publish(text)),
                None => return Poll::Ready(Ok(())),
            }
        }
    }

    fn start_close(&mut self, _reason: CloseReason) -> Result<(), TransportError> {
        // The remote connection is not ours to close: only the stand-in ends.
        Ok(())
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.poll_flush(cx)
    }
}

/// Receives the replies routed back to a stand-in.
struct ProxyReceiver {
    rx: mpsc::UnboundedReceiver<ProxyMsg>,
}

impl Receiver for ProxyReceiver {
    type Text = String;

    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<String, TransportError>> {
        self.rx.poll_recv(cx).map(|msg| match msg {
            Some(ProxyMsg::Text(text)) => Ok(text),
            Some(ProxyMsg::Gone(reason)) => Err(TransportError::Io(reason)),
            None => Err(TransportError::Io("the stand-in was dropped by its registry".into())),
        })
    }
}

async fn run_inbox(
    node: Node,
    mut deliveries: mpsc::UnboundedReceiver<Delivery>,
    notify: mpsc::UnboundedSender<RemoteNotify>,
    stop: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            _ = stop.cancelled() => return,
            d = deliveries.recv() => match d {
                Some(d) => d,
                None => return,
            },
        };
        let Some((local, cluster)) = node.upgrade() else { return };
        if delivery.from == cluster.node {
            continue;
        }
        let Some((header, body)) = open(&delivery.payload) else {
            tracing::warn!(from = %delivery.from, "malformed backplane message");
            continue;
        };
        match header {
            Header::Notify { group, except, seq } => {
                if seq.is_some_and(|seq| !cluster.received.first_time(delivery.from, seq)) {
                    continue;
                }
                let _ = notify.send(RemoteNotify {
                    group,
                    except,
                    text: body.to_owned(),
                });
            }
            Header::ToConn { conn, epoch } => to_conn(&*local, &cluster, (delivery.from, conn, epoch), body).await,
            Header::FromConn { conn, epoch } => cluster.to_proxy(conn, epoch, body),
            Header::Abandon { conn, epoch } => cluster.abandon(delivery.from, conn, epoch),
            Header::Closed { conn, reason } => cluster.close_proxy(conn, reason),
            Header::Query { query, group } => {
                let conns = match group {
                    Some(group) => local.members(&group),
                    None => local.ids(),
                };
                let _ = cluster
                    .publish(Route::Node(delivery.from), &Header::Answer { query, conns }, "")
                    .await;
            }
            Header::Mark { seq } => cluster.ask_again(delivery.from, seq).await,
            Header::Resend { first, last } => cluster.resend(delivery.from, first, last).await,
            Header::Skip { first, last } => cluster.received.skip(delivery.from, first, last),
            Header::Answer { query, conns } => {
                if let Some(tx) = lock(&cluster.queries).get(&query) {
                    let _ = tx.send((delivery.from, conns));
                }
            }
        }
    }
}

impl Cluster {
    /// `from` failed the calls of its stand-in `epoch` for our `conn`:
    /// cancels those still running.
    fn abandon(&self, from: NodeId, conn: ConnectionId, epoch: u64) {
        let mut cancelled = 0;
        lock(&self.forwarded).retain(|key, f| {
            if (key.0, key.1, key.2) == (from, conn, epoch) {
                // Dropping the forwarded call cancels it on the connection too.
                f.task.abort();
                cancelled += 1;
                return false;
            }
            true
        });
        if cancelled > 0 {
            tracing::info!(node = %self.node, %from, %conn, cancelled, "cancelled calls the caller reported failed");
        }
    }
}

/// A message from stand-in `(from, conn, epoch)` for our connection `conn`.
async fn to_conn(local: &dyn Local, cluster: &Arc<Cluster>, stand_in: (NodeId, ConnectionId, u64), body: &str) {
    let (from, conn, epoch) = stand_in;
    let peer = if conn.node() == cluster.node {
        local.peer(conn)
    } else {
        None
    };
    let Some(peer) = peer else {
        let header = Header::Closed {
            conn,
            reason: format!("{conn} is not connected"),
        };
        let _ = cluster.publish(Route::Node(from), &header, "").await;
        return;
    };
    match parse_frame(body) {
        Frame::Single(Incoming::Request { id, method, params }) => {
            let method = method.into_owned();
            let params: Option<Box<RawValue>> = params.map(ToOwned::to_owned);
            let key = (from, conn, epoch, id.clone());
            let mut forwarded = lock(&cluster.forwarded);
            let weak = Arc::downgrade(cluster);
            let task_key = key.clone();
            let task = tokio::spawn(async move {
                let outcome = peer.call::<_, Box<RawValue>>(&method, params).await;
                let Some(cluster) = weak.upgrade() else { return };
                lock(&cluster.forwarded).remove(&task_key);
                let (header, reply) = match outcome {
                    Ok(raw) => (
                        Header::FromConn { conn, epoch },
                        EncodedResult::encode(&raw).map_or_else(|e| encode_error(&e, &id), |r| r.finish(&id)),
                    ),
                    Err(RpcError::Call(e)) => (Header::FromConn { conn, epoch }, encode_error(&e, &id)),
                    Err(RpcError::Disconnected(reason)) => (
                        Header::Closed {
                            conn,
                            reason: format!("{conn} closed: {reason}"),
                        },
                        String::new(),
                    ),
                    Err(other) => (
                        Header::FromConn { conn, epoch },
                        encode_error(&ErrorObject::internal(other), &id),
                    ),
                };
                let _ = cluster.publish(Route::Node(from), &header, &reply).await;
            });
            forwarded.insert(
                key,
                Forwarded {
                    task: task.abort_handle(),
                    started: Instant::now(),
                },
            );
        }
        Frame::Single(Incoming::Notification { method, params }) if method == CANCEL_METHOD => {
            let parsed = params.map(|p| serde_json::from_str::<CancelParams<Id>>(p.get()));
            if let Some(Ok(CancelParams { id })) = parsed
                && let Some(f) = lock(&cluster.forwarded).remove(&(from, conn, epoch, id))
            {
                // Dropping the forwarded call cancels it on the connection too.
                f.task.abort();
            }
        }
        Frame::Single(Incoming::Notification { method, params }) => {
            if let Err(e) = peer.notify(&method, params).await {
                tracing::debug!(%conn, error = %e, "forwarded notification not sent");
            }
        }
        _ => tracing::debug!(%from, %conn, "ignoring an unexpected message for a connection"),
    }
}

/// Delivers notifications from other nodes to this node's connections, in
/// the order they were published.
async fn run_notifier(node: Node, mut rx: mpsc::UnboundedReceiver<RemoteNotify>, stop: CancellationToken) {
    loop {
        let n = tokio::select! {
            _ = stop.cancelled() => return,
            n = rx.recv() => match n {
                Some(n) => n,
                None => return,
            },
        };
        let notification = match parse_frame(&n.text) {
            Frame::Single(Incoming::Notification { method, params }) => Notification::new(&method, params),
            _ => {
                tracing::warn!("a broadcast from another node is not a notification");
                continue;
            }
        };
        let Ok(notification) = notification else { continue };
        let Some(local) = node.local.upgrade() else { return };
        let peers = local.targets(n.group.as_deref(), n.except);
        drop(local);
        send_to_all(peers, &notification);
    }
}

/// Checks which nodes are alive every heartbeat, and whether this node
/// itself can reach the backplane.
async fn run_watcher(node: Node, stop: CancellationToken, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When this node's link came back: no node is judged dead for one
    // expiry after that, so that the others can write their heartbeats again.
    let mut restored: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Some(cluster) = node.cluster.upgrade() else { return };
        let started = Instant::now();
        let checked = cluster.backplane.live_nodes().await;
        let checked = match cluster.backplane.link() {
            Link::Down(reason) => Err(reason),
            Link::Up => checked.map_err(|e| e.to_string()),
        };
        let was_cut = lock(&cluster.cut_off).is_some();
        match checked {
            Err(reason) => {
                if !was_cut {
                    tracing::warn!(node = %cluster.node, %reason, "{CUT_OFF}: calls to other nodes fail, broadcasts return errors, no node is judged dead");
                }
                cluster.cut(reason);
            }
            Ok(live) => {
                if was_cut {
                    tracing::info!(node = %cluster.node, "back on the cluster backplane");
                    *lock(&cluster.cut_off) = None;
                    restored = Some(Instant::now());
                }
                let grace = cluster.backplane.liveness().expiry.max(every);
                let judging = restored.is_none_or(|at| at.elapsed() >= grace);
                cluster.checked(started, live, judging);
                cluster.send_abandoned().await;
                cluster.publish_mark().await;
                cluster.received.prune(Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stand_in() -> (StandIn, mpsc::UnboundedReceiver<ProxyMsg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = ConnectionId::new(NodeId::new(7), 1);
        let stand_in = StandIn {
            conn,
            epoch: 1,
            tx,
            state: Mutex::default(),
        };
        (stand_in, rx)
    }

    fn text(rx: &mut mpsc::UnboundedReceiver<ProxyMsg>) -> Option<String> {
        match rx.try_recv() {
            Ok(ProxyMsg::Text(t)) => Some(t),
            _ => None,
        }
    }

    const REQUEST: &str = r#"{"jsonrpc":"2.0","id":0,"method":"m"}"#;
    const REPLY: &str = r#"{"jsonrpc":"2.0","id":0,"result":"mine"}"#;

    #[test]
    fn a_reply_completes_only_a_pending_call_once() {
        let (s, mut rx) = stand_in();
        s.reply(REPLY);
        assert_eq!(text(&mut rx), None, "no call pending: dropped");
        assert_eq!(s.outgoing(REQUEST.into()).as_deref(), Some(REQUEST));
        s.reply(REPLY);
        assert_eq!(text(&mut rx).as_deref(), Some(REPLY));
        s.reply(REPLY);
        assert_eq!(text(&mut rx), None, "answered already: dropped");
    }

    #[test]
    fn a_failed_stand_in_answers_its_calls_with_the_typed_error_and_drops_late_replies() {
        let (s, mut rx) = stand_in();
        s.outgoing(REQUEST.into()).unwrap();
        assert!(
            s.fail(Failure::NodeDown(NodeId::new(7), "heartbeat expired")),
            "a call was pending"
        );
        let error = text(&mut rx).unwrap();
        let Frame::Single(Incoming::Response { id, outcome: Err(e) }) = parse_frame(&error) else {
            panic!("an error reply: {error}");
        };
        assert_eq!(id, Id::Number(0));
        let e = RpcError::Call(e);
        assert!(
            crate::backplane::is_node_down(&e) && crate::backplane::may_have_run(&e),
            "{e}"
        );
        // The late reply of the failed call is dropped.
        s.reply(REPLY);
        assert_eq!(text(&mut rx), None);
        // A later call fails at once, without being sent; it did not run.
        assert_eq!(s.outgoing(REQUEST.into()), None);
        let Frame::Single(Incoming::Response { outcome: Err(e), .. }) = parse_frame(&text(&mut rx).unwrap()) else {
            panic!("an error reply");
        };
        assert!(!crate::backplane::may_have_run(&RpcError::Call(e)));
    }
}
