//! The registry's side of a [`Backplane`]: the envelopes nodes exchange,
//! stand-in peers for remote connections, calls forwarded to local
//! connections, and the liveness checks.
//!
//! Every backplane message is one envelope: a JSON header line, `\n`, then a
//! JSON-RPC message as it would travel on a connection (the body):
//!
//! | header `t` | route | body |
//! | --- | --- | --- |
//! | `notify` (`group`, `except`) | all | the notification, for this node's matching connections |
//! | `to_conn` (`conn`) | the node of `conn` | a request, notification or `$/cancelRequest` from the sender's stand-in for `conn` |
//! | `from_conn` (`conn`) | the node of the stand-in | the reply to a forwarded request |
//! | `closed` (`conn`, `reason`) | all, or the asking node | empty: `conn` is gone, its stand-ins close |
//! | `query` (`query`, `group`) | all | empty: which of your connections (in `group`)? |
//! | `answer` (`query`, `conns`) | the asking node | empty |

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
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

use crate::backplane::{Backplane, BackplaneError, Delivery, NODE_DOWN, NodeId, Route};
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
    },
    ToConn {
        conn: ConnectionId,
    },
    FromConn {
        conn: ConnectionId,
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
    tx: mpsc::UnboundedSender<ProxyMsg>,
    created: Instant,
}

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

/// Sends `notification` to each of `peers`; returns to how many it was queued.
pub(crate) async fn send_to_all(peers: Vec<(ConnectionId, Peer)>, notification: &Notification) -> usize {
    let sends = peers.iter().map(|(_, peer)| peer.send_notification(notification));
    join_all(sends).await.into_iter().filter(Result::is_ok).count()
}

/// The cluster half of a registry.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) backplane: Arc<dyn Backplane>,
    pub(crate) node: NodeId,
    proxy_config: PeerConfig,
    proxies: Mutex<HashMap<ConnectionId, Proxy>>,
    forwarded: Mutex<HashMap<(NodeId, ConnectionId, Id), Forwarded>>,
    queries: Mutex<HashMap<u64, mpsc::UnboundedSender<Answer>>>,
    next_query: AtomicU64,
    nodes: Mutex<Nodes>,
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
            forwarded: Mutex::default(),
            queries: Mutex::default(),
            next_query: AtomicU64::new(0),
            nodes: Mutex::default(),
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

    async fn publish(&self, route: Route, header: &Header, body: &str) -> Result<(), BackplaneError> {
        self.backplane.publish(route, envelope(header, body)).await
    }

    /// Publishes a notification for every other node's matching connections.
    pub(crate) async fn publish_notify(&self, group: Option<&str>, except: Option<ConnectionId>, n: &Notification) {
        let header = Header::Notify {
            group: group.map(str::to_owned),
            except,
        };
        if let Err(e) = self.publish(Route::All, &header, n.text()).await {
            tracing::warn!(node = %self.node, error = %e, "broadcast not published to the other nodes");
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
        {
            return p.peer.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        if self.is_down(conn.node()) {
            let _ = tx.send(ProxyMsg::Gone(down(conn.node())));
        }
        let sender = ProxySender::new(Arc::downgrade(self), conn);
        let peer = PeerBuilder::with_config(self.proxy_config.clone()).start(sender, ProxyReceiver { rx });
        proxies.insert(
            conn,
            Proxy {
                peer: peer.clone(),
                tx,
                created: Instant::now(),
            },
        );
        peer
    }

    fn is_down(&self, node: NodeId) -> bool {
        let nodes = lock(&self.nodes);
        nodes.seen.contains(&node) && !nodes.live.contains(&node)
    }

    fn to_proxy(&self, conn: ConnectionId, msg: ProxyMsg) {
        let proxies = lock(&self.proxies);
        if let Some(p) = proxies.get(&conn) {
            let _ = p.tx.send(msg);
        }
    }

    fn close_proxy(&self, conn: ConnectionId, reason: String) {
        if let Some(p) = lock(&self.proxies).remove(&conn) {
            let _ = p.tx.send(ProxyMsg::Gone(reason));
        }
    }

    /// Records a liveness check that started at `started`: stand-ins of
    /// nodes that are down end (their pending calls fail), calls forwarded
    /// for nodes that are down are aborted.
    fn checked(&self, started: Instant, live: Vec<NodeId>) {
        let live: BTreeSet<NodeId> = live.into_iter().collect();
        {
            let mut nodes = lock(&self.nodes);
            nodes.seen.extend(live.iter().copied());
            nodes.live = live.clone();
        }
        // A node's heartbeat is written before it serves a connection, so a
        // node missing from a check that started after we learned of it is down.
        let dead = |node: &NodeId| *node != self.node && !live.contains(node);
        lock(&self.proxies).retain(|conn, p| {
            if p.peer.is_closed() {
                return false;
            }
            if p.created <= started && dead(&conn.node()) {
                let _ = p.tx.send(ProxyMsg::Gone(down(conn.node())));
                return false;
            }
            true
        });
        lock(&self.forwarded).retain(|(from, _, _), f| {
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

fn down(node: NodeId) -> String {
    format!("{NODE_DOWN}: {node} (heartbeat expired)")
}

/// Sends a stand-in's messages to the node of its connection, one publish
/// at a time, in order.
struct ProxySender {
    cluster: Weak<Cluster>,
    conn: ConnectionId,
    queued: VecDeque<String>,
    publishing: Option<BoxFuture<'static, Result<(), TransportError>>>,
}

impl ProxySender {
    fn new(cluster: Weak<Cluster>, conn: ConnectionId) -> Self {
        ProxySender {
            cluster,
            conn,
            queued: VecDeque::new(),
            publishing: None,
        }
    }

    fn publish(&self, text: String) -> BoxFuture<'static, Result<(), TransportError>> {
        let (cluster, conn) = (self.cluster.clone(), self.conn);
        Box::pin(async move {
            let cluster = cluster
                .upgrade()
                .ok_or_else(|| TransportError::Io("the registry is gone".into()))?;
            let header = Header::ToConn { conn };
            cluster
                .publish(Route::Node(conn.node()), &header, &text)
                .await
                .map_err(|e| TransportError::Io(e.to_string()))
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
            Header::Notify { group, except } => {
                let _ = notify.send(RemoteNotify {
                    group,
                    except,
                    text: body.to_owned(),
                });
            }
            Header::ToConn { conn } => to_conn(&*local, &cluster, delivery.from, conn, body).await,
            Header::FromConn { conn } => cluster.to_proxy(conn, ProxyMsg::Text(body.to_owned())),
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
            Header::Answer { query, conns } => {
                if let Some(tx) = lock(&cluster.queries).get(&query) {
                    let _ = tx.send((delivery.from, conns));
                }
            }
        }
    }
}

/// A message from `from`'s stand-in for our connection `conn`.
async fn to_conn(local: &dyn Local, cluster: &Arc<Cluster>, from: NodeId, conn: ConnectionId, body: &str) {
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
            let key = (from, conn, id.clone());
            let mut forwarded = lock(&cluster.forwarded);
            let weak = Arc::downgrade(cluster);
            let task_key = key.clone();
            let task = tokio::spawn(async move {
                let outcome = peer.call::<_, Box<RawValue>>(&method, params).await;
                let Some(cluster) = weak.upgrade() else { return };
                lock(&cluster.forwarded).remove(&task_key);
                let (header, reply) = match outcome {
                    Ok(raw) => (
                        Header::FromConn { conn },
                        EncodedResult::encode(&raw).map_or_else(|e| encode_error(&e, &id), |r| r.finish(&id)),
                    ),
                    Err(RpcError::Call(e)) => (Header::FromConn { conn }, encode_error(&e, &id)),
                    Err(RpcError::Disconnected(reason)) => (
                        Header::Closed {
                            conn,
                            reason: format!("{conn} closed: {reason}"),
                        },
                        String::new(),
                    ),
                    Err(other) => (
                        Header::FromConn { conn },
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
                && let Some(f) = lock(&cluster.forwarded).remove(&(from, conn, id))
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
        send_to_all(peers, &notification).await;
    }
}

async fn run_watcher(node: Node, stop: CancellationToken, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Some(cluster) = node.cluster.upgrade() else { return };
        let started = Instant::now();
        match cluster.backplane.live_nodes().await {
            Ok(live) => cluster.checked(started, live),
            Err(e) => tracing::warn!(node = %cluster.node, error = %e, "liveness check failed"),
        }
    }
}
