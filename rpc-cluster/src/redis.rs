//! The Redis backplane: pub/sub channels for messages, a key with an expiry
//! per node for liveness.
//!
//! Keys and channels (all under a prefix, `rpc` by default):
//!
//! | name | kind | what |
//! | --- | --- | --- |
//! | `{prefix}:node-seq` | counter | `INCR`ed by every node start: its [`NodeId`] |
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

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use crate::backplane::{Backplane, BackplaneError, BoxFuture, Delivery, Liveness, NodeId, Route};
use futures::StreamExt;
use redis::aio::{ConnectionManager, PubSubStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn failed(e: redis::RedisError) -> BackplaneError {
    BackplaneError::Failed(format!("redis: {e}"))
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
}

impl RedisBackplaneBuilder {
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
        let client = redis::Client::open(self.url.as_str()).map_err(failed)?;
        let mut conn = client.get_connection_manager().await.map_err(failed)?;
        let keys = Keys { prefix: self.prefix };
        let node: u64 = redis::cmd("INCR")
            .arg(keys.seq())
            .query_async(&mut conn)
            .await
            .map_err(failed)?;
        let node = NodeId::new(node);
        let label = self.name.unwrap_or_else(|| format!("pid {}", std::process::id()));
        let heartbeat = Heartbeat {
            conn: conn.clone(),
            keys: keys.clone(),
            node,
            label,
            liveness: self.liveness,
        };
        heartbeat.beat().await?;
        let channels = [keys.all(), keys.node(node)];
        let stream = subscribe(&client, &channels).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        tokio::spawn(heartbeat.run(stop.clone()));
        tokio::spawn(receive(client, channels, stream, tx, stop.clone()));
        tracing::info!(%node, prefix = %keys.prefix, "joined the cluster");
        Ok(RedisBackplane {
            node,
            keys,
            conn,
            liveness: self.liveness,
            deliveries: Mutex::new(Some(rx)),
            stop,
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
/// while a node is cut off from Redis are lost for it (at most once).
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

    fn publish(&self, route: Route, payload: String) -> BoxFuture<'_, Result<(), BackplaneError>> {
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
            let receivers: i64 = redis::cmd("PUBLISH")
                .arg(channel)
                .arg(message)
                .query_async(&mut conn)
                .await
                .map_err(failed)?;
            match route {
                Route::Node(node) if receivers == 0 => Err(BackplaneError::Unreachable(node)),
                _ => Ok(()),
            }
        })
    }

    fn live_nodes(&self) -> BoxFuture<'_, Result<Vec<NodeId>, BackplaneError>> {
        let mut conn = self.conn.clone();
        Box::pin(async move {
            let mut ids: Vec<u64> = redis::cmd("SMEMBERS")
                .arg(self.keys.nodes())
                .query_async(&mut conn)
                .await
                .map_err(failed)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            ids.sort_unstable();
            let mut mget = redis::cmd("MGET");
            for id in &ids {
                mget.arg(self.keys.heartbeat(NodeId::new(*id)));
            }
            let beats: Vec<Option<String>> = mget.query_async(&mut conn).await.map_err(failed)?;
            let (live, dead): (Vec<_>, Vec<_>) = ids.into_iter().zip(beats).partition(|(_, beat)| beat.is_some());
            if !dead.is_empty() {
                // Forget nodes whose heartbeat expired. A node that was only
                // late adds itself again with its next heartbeat.
                let mut srem = redis::cmd("SREM");
                srem.arg(self.keys.nodes());
                for (id, _) in &dead {
                    srem.arg(*id);
                }
                let _: Result<i64, _> = srem.query_async(&mut conn).await;
            }
            Ok(live.into_iter().map(|(id, _)| NodeId::new(id)).collect())
        })
    }

    fn liveness(&self) -> Liveness {
        self.liveness
    }

    fn leave(&self) -> BoxFuture<'_, ()> {
        self.stop.cancel();
        let mut conn = self.conn.clone();
        Box::pin(async move {
            let result: Result<(), _> = redis::pipe()
                .cmd("DEL")
                .arg(self.keys.heartbeat(self.node))
                .ignore()
                .cmd("SREM")
                .arg(self.keys.nodes())
                .arg(self.node.get())
                .ignore()
                .query_async(&mut conn)
                .await;
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
    fn seq(&self) -> String {
        format!("{}:node-seq", self.prefix)
    }
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
}

impl Heartbeat {
    async fn beat(&self) -> Result<(), BackplaneError> {
        let expiry = u64::try_from(self.liveness.expiry.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        redis::pipe()
            .cmd("SET")
            .arg(self.keys.heartbeat(self.node))
            .arg(&self.label)
            .arg("PX")
            .arg(expiry)
            .ignore()
            .cmd("SADD")
            .arg(self.keys.nodes())
            .arg(self.node.get())
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(failed)
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

async fn subscribe(client: &redis::Client, channels: &[String]) -> Result<PubSubStream, BackplaneError> {
    let mut pubsub = client.get_async_pubsub().await.map_err(failed)?;
    pubsub.subscribe(channels).await.map_err(failed)?;
    Ok(pubsub.into_on_message())
}

/// Forwards the subscribed channels' messages; re-subscribes (with a
/// growing delay, at most 2 s) when Redis drops the connection.
async fn receive(
    client: redis::Client,
    channels: [String; 2],
    mut stream: PubSubStream,
    tx: mpsc::UnboundedSender<Delivery>,
    stop: CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            msg = stream.next() => msg,
        };
        let Some(msg) = msg else {
            tracing::warn!("the Redis subscription dropped; re-subscribing");
            let mut delay = Duration::from_millis(50);
            stream = loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                match subscribe(&client, &channels).await {
                    Ok(stream) => break stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "re-subscribing failed");
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                }
            };
            continue;
        };
        let Ok(text) = std::str::from_utf8(msg.get_payload_bytes()) else {
            continue;
        };
        let parsed = text
            .split_once(' ')
            .and_then(|(from, payload)| Some((from.parse::<u64>().ok()?, payload)));
        let Some((from, payload)) = parsed else {
            tracing::warn!(channel = msg.get_channel_name(), "malformed backplane message");
            continue;
        };
        let delivery = Delivery {
            from: NodeId::new(from),
            payload: payload.to_owned(),
        };
        if tx.send(delivery).is_err() {
            return;
        }
    }
}
