//! The Redis backplane against a real `redis-server` (Debian's package;
//! `scripts/test.sh` installs it), started on a free loopback port and
//! killed through its process handle.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use duplexrpc_cluster::backplane::{Backplane, BackplaneError, Delivery, Link, Liveness, NodeId, Route, is_node_down};
use duplexrpc_cluster::{ConnectionId, Registry};
use duplexrpc_core::transport::memory;
use duplexrpc_core::{PeerBuilder, RpcError, rpc};
use duplexrpc_ws::cluster::RedisBackplane;
use tokio::sync::mpsc;

/// A `redis-server` on 127.0.0.1, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Redis::start_on(port)
    }

    fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; scripts/test.sh installs it)");
        let redis = Redis { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// Kills this `redis-server` and starts an empty one on the same port.
    fn restart_empty(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Redis::start_on(self.port);
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Short, but long enough that a node starved of CPU on a busy machine is
/// not taken for dead.
fn fast() -> Liveness {
    Liveness {
        heartbeat: Duration::from_millis(100),
        expiry: Duration::from_millis(1000),
    }
}

async fn backplane(redis: &Redis, prefix: &str) -> RedisBackplane {
    RedisBackplane::builder(redis.url())
        .prefix(prefix)
        .liveness(fast())
        .connect()
        .await
        .unwrap()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a delivery within 5 s")
        .expect("open")
}

#[tokio::test]
async fn publish_route_and_liveness() {
    let redis = Redis::start();
    let one = backplane(&redis, "t1").await;
    let two = backplane(&redis, "t1").await;
    let other_cluster = backplane(&redis, "t2").await;
    assert_ne!(one.node(), two.node());
    let mut one_rx = one.deliveries().unwrap();
    assert!(one.deliveries().is_none(), "taken once");
    let mut two_rx = two.deliveries().unwrap();
    let mut other_rx = other_cluster.deliveries().unwrap();
    let mut both = vec![one.node(), two.node()];
    both.sort_unstable();
    assert_eq!(one.live_nodes().await.unwrap(), both, "in id order");

    one.publish(Route::All, "to all\nwith a newline".into()).await.unwrap();
    for rx in [&mut one_rx, &mut two_rx] {
        let d = next(rx).await;
        assert_eq!((d.from, d.payload.as_str()), (one.node(), "to all\nwith a newline"));
    }
    two.publish(Route::Node(one.node()), "just one".into()).await.unwrap();
    assert_eq!(next(&mut one_rx).await.payload, "just one");
    // Nothing leaked to the other prefix, nothing extra to `two`.
    other_cluster.publish(Route::All, "marker".into()).await.unwrap();
    assert_eq!(next(&mut other_rx).await.payload, "marker");
    assert!(two_rx.try_recv().is_err());

    let nobody = NodeId::new(9_999);
    assert_eq!(
        one.publish(Route::Node(nobody), "?".into()).await,
        Err(BackplaneError::Unreachable(nobody))
    );

    // A node that goes away without leaving: unreachable at once (its
    // subscription is gone), not alive once its heartbeat expired.
    let two_id = two.node();
    drop(two);
    drop(two_rx);
    let unreachable = tokio::time::timeout(Duration::from_secs(5), async {
        while one.publish(Route::Node(two_id), "?".into()).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(unreachable.is_ok(), "unreachable within 5 s");
    tokio::time::timeout(Duration::from_secs(5), async {
        while one.live_nodes().await.unwrap().contains(&two_id) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("expired within 5 s");

    // A node that leaves is gone at once; a new start is a new node.
    let three = backplane(&redis, "t1").await;
    assert_ne!(three.node(), two_id);
    three.leave().await;
    assert_eq!(one.live_nodes().await.unwrap(), vec![one.node()]);
}

#[tokio::test]
async fn resubscribes_after_redis_restarts() {
    let mut redis = Redis::start();
    let one = backplane(&redis, "r").await;
    let two = backplane(&redis, "r").await;
    let mut one_rx = one.deliveries().unwrap();
    redis.restart_empty();
    // Once both reconnected, messages flow again.
    let delivered = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let _ = two.publish(Route::All, "again".into()).await;
            if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(200), one_rx.recv()).await {
                return d;
            }
        }
    })
    .await
    .expect("delivered again within 15 s");
    assert_eq!(delivered.payload, "again");
}

#[tokio::test]
async fn an_outage_is_reported_and_an_empty_redis_reuses_no_node_id() {
    let mut redis = Redis::start();
    let one = backplane(&redis, "ids").await;
    let port = redis.port;
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    // Redis is gone: operations fail within their deadline, as this
    // node's own cut-off, and the link says so.
    let e = tokio::time::timeout(Duration::from_secs(5), one.publish(Route::All, "lost".into()))
        .await
        .expect("fails within its deadline");
    assert!(matches!(e, Err(BackplaneError::CutOff(_))), "{e:?}");
    assert!(matches!(one.link(), Link::Down(_)), "{:?}", one.link());
    let e = tokio::time::timeout(Duration::from_secs(5), one.live_nodes())
        .await
        .expect("fails within its deadline");
    assert!(matches!(e, Err(BackplaneError::CutOff(_))), "{e:?}");

    // Back, empty: a new node does not get the id of the running one, and
    // the running one rejoins by itself.
    redis = Redis::start_on(port);
    let two = backplane(&redis, "ids").await;
    assert_ne!(one.node(), two.node(), "a node id reused after Redis lost its data");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(live) = two.live_nodes().await
                && live.contains(&one.node())
                && one.link() == Link::Up
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the running node is back within 10 s");
    assert_eq!(one.publish(Route::All, "back".into()).await, Ok(2));
}

#[rpc]
trait Voter {
    #[notification]
    async fn said(&self, line: String);
    async fn vote(&self, question: String) -> Result<bool, RpcError>;
}

struct Member {
    lines: mpsc::UnboundedSender<String>,
    answer: Option<bool>,
}

impl Voter for Member {
    async fn said(&self, line: String) {
        let _ = self.lines.send(line);
    }

    async fn vote(&self, _question: String) -> Result<bool, RpcError> {
        match self.answer {
            Some(answer) => Ok(answer),
            None => std::future::pending().await,
        }
    }
}

fn connect(registry: &Registry, answer: Option<bool>, lines: &mpsc::UnboundedSender<String>) -> ConnectionId {
    let ((s_tx, s_rx), (c_tx, c_rx)) = memory::pair();
    let mut client = PeerBuilder::new();
    client
        .register(
            Member {
                lines: lines.clone(),
                answer,
            }
            .into_methods(),
        )
        .unwrap();
    // The client side lives as long as its tasks (nothing closes it here).
    let _ = client.start(c_tx, c_rx);
    registry.add(PeerBuilder::new().start(s_tx, s_rx))
}

#[tokio::test]
async fn registries_over_redis() {
    let redis = Redis::start();
    let a = Registry::with_backplane(backplane(&redis, "reg").await);
    let b = Registry::with_backplane(backplane(&redis, "reg").await);
    let (tx, mut lines) = mpsc::unbounded_channel();
    let on_a = connect(&a, Some(true), &tx);
    let on_b = connect(&b, Some(false), &tx);
    let stuck = connect(&b, None, &tx);
    assert!(b.join(on_b, "g"));

    assert_eq!(a.client::<VoterClient>(on_b).unwrap().vote("?".into()).await, Ok(false));
    assert_eq!(b.client::<VoterClient>(on_a).unwrap().vote("?".into()).await, Ok(true));
    assert_eq!(a.cluster_members("g").await.unwrap(), vec![on_b]);

    a.notify_group("g", &VoterClient::said_notification(&"hi g".to_owned()).unwrap())
        .await
        .unwrap();
    let line = tokio::time::timeout(Duration::from_secs(5), lines.recv())
        .await
        .unwrap();
    assert_eq!(line.as_deref(), Some("hi g"));

    // Node b dies with a call pending on one of its connections.
    let pending = tokio::spawn({
        let stub = a.client::<VoterClient>(stuck).unwrap();
        async move { stub.vote("?".into()).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(b);
    let e = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("fails within 5 s, not at the 60 s call timeout")
        .unwrap()
        .unwrap_err();
    assert!(is_node_down(&e), "{e}");
    let e = a
        .client::<VoterClient>(on_b)
        .unwrap()
        .vote("?".into())
        .await
        .unwrap_err();
    assert!(is_node_down(&e), "{e}");
}
