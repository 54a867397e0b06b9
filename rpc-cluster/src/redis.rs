//! The Redis backplane: pub/sub channels for messages, a key with an expiry
//! per node for liveness.
//!
//! Keys and channels (all under a prefix, `rpc` by default):
//!
//! | name | kind | what |
//! | --- | --- | --- |
//! | `{prefix}:nodes` | set | the ids of nodes that have started (dead ones are pruned) |
//! | `{prefix}:hb:{id}` | string with an expiry | the heartbeat: refreshed every `heartbeat`, expires after `expiry` |
//! | `{prefix}:all` | channel | messages for every node |
//! | `{prefix}:node:{id}` | channel | messages for one node |
//!
//! A message on a channel is `{sender id} {payload}`. `PUBLISH` answers how
//! many subscribers got a message: a message for one node that nobody got
//! means that node is gone ([`BackplaneError::Unreachable`]); Redis drops the
//! subscription of a process that dies at once, so calls to it fail fast even
//! before its heartbeat expires.
//!
//! Node ids are random (53 bits, so that JavaScript numbers hold them),
//! claimed with `SET NX` on their heartbeat key: unique among live nodes
//! even after Redis lost its data, and never handed out by a counter that a
//! restarted Redis could start again.
//!
//! Every command has a deadline (the builder's [`timeout`](RedisBackplaneBuilder::timeout)):
//! a Redis that does not answer makes operations fail with
//! [`BackplaneError::CutOff`] instead of waiting for a reconnection. The
//! backplane tracks its own link ([`Backplane::link`]): down from a command
//! that failed to reach Redis, or the subscription dropping, until commands
//! and the subscription work again. Transitions are logged at WARN and INFO.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backplane::{Backplane, BackplaneError, BoxFuture, Delivery, Link, Liveness, NodeId, Route};
use futures::StreamExt;
use redis::aio::{ConnectionManager, PubSubStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn failed(e: redis::RedisError) -> BackplaneError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        BackplaneError::CutOff(format!("redis: {e}"))
    } else {
        BackplaneError::Failed(format!("redis: {e}"))
    }
}

/// This node's link to Redis: commands and the subscription.
#[derive(Debug)]
struct LinkState {
    node: Mutex<Option<NodeId>>,
    state: Mutex<LinkFlags>,
}

#[derive(Debug, Default)]
struct LinkFlags {
    /// Why the last command failed to reach Redis, if it did.
    commands: Option<String>,
    /// Why the subscription is down, if it is.
    subscription: Option<String>,
    since: Option<tokio::time::Instant>,
}

impl LinkState {
    fn new() -> Arc<LinkState> {
        Arc::new(LinkState {
            node: Mutex::new(None),
            state: Mutex::default(),
        })
    }

    fn link(&self) -> Link {
        let flags = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match flags.commands.as_ref().or(flags.subscription.as_ref()) {
            Some(reason) => Link::Down(reason.clone()),
            None => Link::Up,
        }
    }

    /// Records the outcome of a command (`commands`) or of the subscription.
    fn record(&self, subscription: bool, problem: Option<String>) {
        let node = *self.node.lock().unwrap_or_else(|p| p.into_inner());
        let node = node.map_or_else(|| "a joining node".to_owned(), |n| n.to_string());
        let mut flags = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let was_up = flags.commands.is_none() && flags.subscription.is_none();
        if subscription {
            flags.subscription = problem;
        } else {
            flags.commands = problem;
        }
        let up = flags.commands.is_none() && flags.subscription.is_none();
        if was_up && !up {
            flags.since = Some(tokio::time::Instant::now());
            let reason = flags.commands.as_ref().or(flags.subscription.as_ref());
            tracing::warn!(%node, reason = reason.map(String::as_str), "this node is cut off from Redis");
        } else if !was_up && up {
            let down_for = flags.since.map(|s| s.elapsed());
            tracing::info!(%node, ?down_for, "this node is connected to Redis again");
        }
    }

    /// Runs one command with `deadline`; records whether Redis was reached.
    async fn run<T>(
        &self,
        deadline: Duration,
        command: impl Future<Output = Result<T, redis::RedisError>>,
    ) -> Result<T, BackplaneError> {
        let outcome = match tokio::time::timeout(deadline, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(failed(e)),
            Err(_) => Err(BackplaneError::CutOff(format!("redis: no answer within {deadline:?}"))),
        };
        match &outcome {
            Err(BackplaneError::CutOff(reason)) => self.record(false, Some(reason.clone())),
            _ => self.record(false, None),
        }
        outcome
    }
}

/// A random node id in 1..2^53 (JavaScript numbers hold it exactly).
fn random_node_id() -> Result<u64, BackplaneError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| BackplaneError::Failed(format!("no random node id: {e}")))?;
    Ok((u64::from_le_bytes(bytes) & ((1 << 53) - 1)).max(1))
}

/// Sets up a [`RedisBackplane`].
///
/// ```no_run
/// use std::time::Duration;
/// use duplexrpc_cluster::backplane::Liveness;
/// use duplexrpc_cluster::RedisBackplane;
/// # async fn f() -> Result<(), duplexrpc_cluster::backplane::BackplaneError> {
/// let backplane = RedisBackplane::builder("redis://127.0.0.1:6379/")
///     .prefix("chat")
///     .liveness(Liveness { heartbeat: Duration::from_millis(500), expiry: Duration::from_secs(2) })
///     .name("eu-1")
///     .connect()
///     .await?;
/// # drop(backplane); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RedisBackplaneBuilder {
    url: String,
    prefix: String,
    liveness: Liveness,
    name: Option<String>,
    timeout: Duration,
}

impl RedisBackplaneBuilder {
    /// The deadline of every Redis command (default 1 s): past it, the
    /// operation fails with [`BackplaneError::CutOff`] and this node counts
    /// as cut off until Redis answers again.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Namespaces every key and channel (default `rpc`), so that several
    /// clusters can share one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often the heartbeat is refreshed and how long it lasts (default
    /// 1 s and 3 s: a dead node is noticed within about 4 s).
    pub fn liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = liveness;
        self
    }

    /// A label stored in the heartbeat key, for people looking at Redis
    /// (default: `pid {process id}`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Connects, takes a new node id, writes the first heartbeat and
    /// subscribes, all before returning: once this returns, other nodes can
    /// reach this one. Must be called inside a tokio runtime.
    pub async fn connect(self) -> Result<RedisBackplane, BackplaneError> {
        let link = LinkState::new();
        let deadline = self.timeout;
        let client = redis::Client::open(self.url.as_str()).map_err(failed)?;
        let conn = link.run(deadline, client.get_connection_manager()).await?;
        let keys = Keys { prefix: self.prefix };
        let label = self.name.unwrap_or_else(|| format!("pid {}", std::process::id()));
        let mut heartbeat = Heartbeat {
            conn: conn.clone(),
            keys: keys.clone(),
            node: NodeId::LOCAL,
            label,
            liveness: self.liveness,
            link: link.clone(),
            deadline,
        };
        heartbeat.claim().await?;
        let node = heartbeat.node;
        *link.node.lock().unwrap_or_else(|p| p.into_inner()) = Some(node);
        let channels = [keys.all(), keys.node(node)];
        let stream = link.run(deadline, subscribe(&client, &channels)).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        tokio::spawn(heartbeat.run(stop.clone()));
        let receiver = Receive {
            client,
            channels,
            tx,
            link: link.clone(),
            deadline,
        };
        tokio::spawn(receiver.run(stream, stop.clone()));
        tracing::info!(%node, prefix = %keys.prefix, "joined the cluster");
        Ok(RedisBackplane {
            node,
            keys,
            conn,
            liveness: self.liveness,
            deliveries: Mutex::new(Some(rx)),
            stop,
            link,
            deadline,
        })
    }
}

/// A [`Backplane`] on Redis (a single Redis server, 5 or later): give it to
/// [`crate::Registry::with_backplane`].
///
/// Built on the `redis` crate (redis-rs): its tokio
/// [`ConnectionManager`] for commands (one multiplexed connection that
/// reconnects by itself) and a dedicated pub/sub connection, which this
/// backplane re-opens and re-subscribes if Redis drops it. Messages published
/// while a node is cut off from Redis are lost for it (pub/sub is at most
/// once); the registry sends claimed broadcasts again on its own (README,
/// "Faults: the guarantees, and what callers see").
///
/// Dropping it stops the heartbeat and the subscription: the other nodes see
/// this node as down within its expiry, or at once for calls to it.
pub struct RedisBackplane {
    node: NodeId,
    keys: Keys,
    conn: ConnectionManager,
    liveness: Liveness,
    deliveries: Mutex<Option<mpsc::UnboundedReceiver<Delivery>>>,
    stop: CancellationToken,
    link: Arc<LinkState>,
    deadline: Duration,
}

impl fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("node", &self.node)
            .field("prefix", &self.keys.prefix)
            .field("liveness", &self.liveness)
            .finish_non_exhaustive()
    }
}

impl RedisBackplane {
    /// Connects to the Redis at `url` (`redis://host:port/`) with the default settings.
    pub async fn connect(url: &str) -> Result<RedisBackplane, BackplaneError> {
        Self::builder(url).connect().await
    }

    /// A builder for the Redis at `url`.
    pub fn builder(url: impl Into<String>) -> RedisBackplaneBuilder {
        RedisBackplaneBuilder {
            url: url.into(),
            prefix: "rpc".into(),
            liveness: Liveness::default(),
            name: None,
            timeout: Duration::from_secs(1),
        }
    }
}

impl Drop for RedisBackplane {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Backplane for RedisBackplane {
    fn node(&self) -> NodeId {
        self.node
    }

    fn deliveries(&self) -> Option<mpsc::UnboundedReceiver<Delivery>> {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn publish(&self, route: Route, payload: String) -> BoxFuture<'_, Result<usize, BackplaneError>> {
        let mut conn = self.conn.clone();
        let channel = match route {
            Route::All => self.keys.all(),
            Route::Node(node) => self.keys.node(node),
        };
        let mut message = self.node.get().to_string();
        message.reserve(payload.len() + 1);
        message.push(' ');
        message.push_str(&payload);
        Box::pin(async move {
            let publish = redis::cmd("PUBLISH").arg(channel).arg(message).to_owned();
            let receivers: i64 = self.link.run(self.deadline, publish.query_async(&mut conn)).await?;
            match route {
                Route::Node(node) if receivers == 0 => Err(BackplaneError::Unreachable(node)),
                _ => Ok(usize::try_from(receivers).unwrap_or(0)),
            }
        })
    }

    fn live_nodes(&self) -> BoxFuture<'_, Result<Vec<NodeId>, BackplaneError>> {
        let mut conn = self.conn.clone();
        Box::pin(async move {
            let members = redis::cmd("SMEMBERS").arg(self.keys.nodes()).to_owned();
            let mut ids: Vec<u64> = self.link.run(self.deadline, members.query_async(&mut conn)).await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            ids.sort_unstable();
            let mut mget = redis::cmd("MGET");
            for id in &ids {
                mget.arg(self.keys.heartbeat(NodeId::new(*id)));
            }
            let beats: Vec<Option<String>> = self.link.run(self.deadline, mget.query_async(&mut conn)).await?;
            let (live, dead): (Vec<_>, Vec<_>) = ids.into_iter().zip(beats).partition(|(_, beat)| beat.is_some());
            if !dead.is_empty() {
                // Forget nodes whose heartbeat expired. A node that was only
                // late adds itself again with its next heartbeat.
                let mut srem = redis::cmd("SREM");
                srem.arg(self.keys.nodes());
                for (id, _) in &dead {
                    srem.arg(*id);
                }
                let _: Result<i64, _> = self.link.run(self.deadline, srem.query_async(&mut conn)).await;
            }
            Ok(live.into_iter().map(|(id, _)| NodeId::new(id)).collect())
        })
    }

    fn liveness(&self) -> Liveness {
        self.liveness
    }

    fn link(&self) -> Link {
        self.link.link()
    }

    fn leave(&self) -> BoxFuture<'_, ()> {
        self.stop.cancel();
        let mut conn = self.conn.clone();
        Box::pin(async move {
            let pipe = redis::pipe()
                .cmd("DEL")
                .arg(self.keys.heartbeat(self.node))
                .ignore()
                .cmd("SREM")
                .arg(self.keys.nodes())
                .arg(self.node.get())
                .ignore()
                .to_owned();
            let result: Result<(), _> = self.link.run(self.deadline, pipe.query_async(&mut conn)).await;
            if let Err(e) = result {
                tracing::warn!(node = %self.node, error = %e, "could not remove the heartbeat");
            }
        })
    }
}

#[derive(Clone, Debug)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
    fn heartbeat(&self, node: NodeId) -> String {
        format!("{}:hb:{}", self.prefix, node.get())
    }
    fn all(&self) -> String {
        format!("{}:all", self.prefix)
    }
    fn node(&self, node: NodeId) -> String {
        format!("{}:node:{}", self.prefix, node.get())
    }
}

struct Heartbeat {
    conn: ConnectionManager,
    keys: Keys,
    node: NodeId,
    label: String,
    liveness: Liveness,
    link: Arc<LinkState>,
    deadline: Duration,
}

impl Heartbeat {
    fn expiry_ms(&self) -> u64 {
        u64::try_from(self.liveness.expiry.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Takes a random node id whose heartbeat key is free (`SET NX`), and
    /// writes the first heartbeat.
    async fn claim(&mut self) -> Result<(), BackplaneError> {
        for _ in 0..16 {
            let node = NodeId::new(random_node_id()?);
            let set = redis::cmd("SET")
                .arg(self.keys.heartbeat(node))
                .arg(&self.label)
                .arg("PX")
                .arg(self.expiry_ms())
                .arg("NX")
                .to_owned();
            let mut conn = self.conn.clone();
            let claimed: Option<String> = self.link.run(self.deadline, set.query_async(&mut conn)).await?;
            if claimed.is_some() {
                self.node = node;
                return self.beat().await;
            }
        }
        Err(BackplaneError::Failed("no free node id after 16 random draws".into()))
    }

    async fn beat(&self) -> Result<(), BackplaneError> {
        let pipe = redis::pipe()
            .cmd("SET")
            .arg(self.keys.heartbeat(self.node))
            .arg(&self.label)
            .arg("PX")
            .arg(self.expiry_ms())
            .ignore()
            .cmd("SADD")
            .arg(self.keys.nodes())
            .arg(self.node.get())
            .ignore()
            .to_owned();
        let mut conn = self.conn.clone();
        self.link.run(self.deadline, pipe.query_async::<()>(&mut conn)).await
    }

    async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.liveness.heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(e) = self.beat().await {
                tracing::warn!(node = %self.node, error = %e, "heartbeat failed");
            }
        }
    }
}

async fn subscribe(client: &redis::Client, channels: &[String]) -> Result<PubSubStream, redis::RedisError> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channels).await?;
    Ok(pubsub.into_on_message())
}

/// The subscription: forwards the subscribed channels' messages.
struct Receive {
    client: redis::Client,
    channels: [String; 2],
    tx: mpsc::UnboundedSender<Delivery>,
    link: Arc<LinkState>,
    deadline: Duration,
}

impl Receive {
    /// Forwards messages; re-subscribes (with a growing delay, at most 2 s)
    /// when Redis drops the connection. The link is down meanwhile.
    async fn run(self, mut stream: PubSubStream, stop: CancellationToken) {
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => return,
                msg = stream.next() => msg,
            };
            let Some(msg) = msg else {
                self.link.record(true, Some("the Redis subscription dropped".into()));
                match self.resubscribe(&stop).await {
                    Some(s) => stream = s,
                    None => return,
                }
                continue;
            };
            if !self.forward(&msg) {
                return;
            }
        }
    }

    async fn resubscribe(&self, stop: &CancellationToken) -> Option<PubSubStream> {
        let mut delay = Duration::from_millis(50);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep(delay) => {}
            }
            let attempt = tokio::time::timeout(self.deadline, subscribe(&self.client, &self.channels)).await;
            match attempt {
                Ok(Ok(stream)) => {
                    self.link.record(true, None);
                    return Some(stream);
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "re-subscribing to Redis failed"),
                Err(_) => tracing::debug!("re-subscribing to Redis timed out"),
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Passes one message on; false once nobody receives them.
    fn forward(&self, msg: &redis::Msg) -> bool {
        let Ok(text) = std::str::from_utf8(msg.get_payload_bytes()) else {
            return true;
        };
        let parsed = text
            .split_once(' ')
            .and_then(|(from, payload)| Some((from.parse::<u64>().ok()?, payload)));
        let Some((from, payload)) = parsed else {
            tracing::warn!(channel = msg.get_channel_name(), "malformed backplane message");
            return true;
        };
        let delivery = Delivery {
            from: NodeId::new(from),
            payload: payload.to_owned(),
        };
        self.tx.send(delivery).is_ok()
    }
}
