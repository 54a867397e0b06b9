//! Cluster benchmark: broadcast throughput to many clients and the latency
//! of a call into another connection, on one node and on three nodes joined
//! through Redis, measured in the same run on this machine.
//!
//! ```text
//! cargo build --release -p examples --bin cluster-bench --bin cluster-node
//! target/release/cluster-bench [--clients 1000] [--broadcasts 200] [--calls 2000]
//! ```
//!
//! It starts `redis-server` and the `cluster-node`s itself (loopback ports,
//! killed when it ends) and prints a Markdown table. Clients connect to the
//! nodes directly (a proxy in front would add its own hop to both setups
//! alike): on one node all of them; on three nodes a third on each. Every
//! client runs in this process.
//!
//! * broadcast: a sender on node 1 says `--broadcasts` messages to everyone
//!   (at most 16 `chat.say` calls in flight); the time runs until every
//!   client has received every message. Deliveries/s = messages x clients / time.
//! * call: a caller on node 1 calls `chat.ask` on a client held by the last
//!   node (node 3; the same node when there is one), one call at a time,
//!   after a warm-up; p50 and p99 of the round trip caller -> node 1 ->
//!   (Redis -> node 3 ->) client and back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use duplexrpc_cluster::ConnectionId;
use duplexrpc_core::{Peer, RpcError};
use examples::cluster::harness::{Node, TempDir, node_exe, start_node, start_redis};
use examples::cluster::{ChatClient, Member};
use futures::StreamExt;
use tokio::sync::Notify;

struct Options {
    clients: usize,
    broadcasts: usize,
    calls: usize,
}

fn parse() -> Options {
    let mut o = Options {
        clients: 1000,
        broadcasts: 200,
        calls: 2000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut number = || -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| fail(&format!("{flag} needs a number")))
        };
        match flag.as_str() {
            "--clients" => o.clients = number().max(1),
            "--broadcasts" => o.broadcasts = number().max(1),
            "--calls" => o.calls = number().max(1),
            _ => fail(&format!("unknown argument {flag}")),
        }
    }
    o
}

fn fail(problem: &str) -> ! {
    eprintln!("cluster-bench: {problem}");
    eprintln!("usage: cluster-bench [--clients N] [--broadcasts N] [--calls N]");
    std::process::exit(2)
}

/// Counts every message any client receives.
struct Counter {
    received: AtomicU64,
    target: AtomicU64,
    reached: Notify,
}

struct BenchMember {
    counter: Arc<Counter>,
}

impl Member for BenchMember {
    async fn message(&self, _from: ConnectionId, _text: String) {
        let n = self.counter.received.fetch_add(1, Ordering::Relaxed) + 1;
        if n == self.counter.target.load(Ordering::Relaxed) {
            self.counter.reached.notify_one();
        }
    }

    async fn answer(&self, question: String) -> Result<String, RpcError> {
        Ok(question)
    }
}

#[derive(Debug)]
struct Figures {
    broadcast_time: Duration,
    deliveries_per_s: f64,
    broadcasts_per_s: f64,
    p50: Duration,
    p99: Duration,
}

async fn connect_client(url: &str, counter: &Arc<Counter>) -> Peer {
    let mut conn = duplexrpc_ws::connect(url).await.unwrap_or_else(|e| {
        fail(&format!(
            "cannot connect a client to {url}: {e} (file descriptor limit?)"
        ))
    });
    conn.register(
        BenchMember {
            counter: counter.clone(),
        }
        .into_methods(),
    )
    .expect("registers");
    conn.start()
}

/// Runs both workloads against `nodes` (clients spread evenly).
async fn measure(nodes: &[Node], o: &Options) -> Figures {
    let counter = Arc::new(Counter {
        received: AtomicU64::new(0),
        target: AtomicU64::new(u64::MAX),
        reached: Notify::new(),
    });
    let urls: Vec<String> = nodes.iter().map(Node::url).collect();
    let clients: Vec<Peer> = futures::stream::iter(0..o.clients)
        .map(|i| {
            let url = urls[i % urls.len()].clone();
            let counter = counter.clone();
            async move { connect_client(&url, &counter).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    // The sender and the caller: connections on node 1 that serve nothing.
    let driver_peer = duplexrpc_ws::connect(&urls[0]).await.expect("driver connects").start();
    let driver = ChatClient::new(driver_peer.clone());
    // Everyone is registered on its node once each has answered a call.
    for peer in &clients {
        let chat = ChatClient::new(peer.clone());
        chat.hello().await.expect("hello");
    }

    // Broadcast throughput.
    let expected = (o.broadcasts * o.clients) as u64;
    counter.received.store(0, Ordering::Relaxed);
    counter.target.store(expected, Ordering::Relaxed);
    let started = Instant::now();
    let all_received = counter.reached.notified();
    tokio::pin!(all_received);
    all_received.as_mut().enable();
    futures::stream::iter(0..o.broadcasts)
        .map(|i| {
            let driver = driver.clone();
            async move { driver.say(None, format!("broadcast {i}")).await.expect("say") }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    if tokio::time::timeout(Duration::from_secs(120), all_received)
        .await
        .is_err()
    {
        fail(&format!(
            "only {} of {expected} deliveries within 120 s",
            counter.received.load(Ordering::Relaxed)
        ));
    }
    let broadcast_time = started.elapsed();
    // Nothing more arrives (every message exactly once).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let received = counter.received.load(Ordering::Relaxed);
    assert_eq!(received, expected, "deliveries");

    // Call latency into a client on the last node.
    let target_peer = clients
        .iter()
        .enumerate()
        .rev()
        .find(|(i, _)| i % urls.len() == urls.len() - 1)
        .map(|(_, p)| p.clone())
        .expect("a client on the last node");
    let target = ChatClient::new(target_peer).hello().await.expect("hello").conn;
    for _ in 0..(o.calls / 10).max(10) {
        driver.ask(target, "warm-up".into()).await.expect("ask");
    }
    let mut samples = Vec::with_capacity(o.calls);
    for _ in 0..o.calls {
        let t = Instant::now();
        driver.ask(target, "q".into()).await.expect("ask");
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];

    driver_peer.close().await;
    futures::future::join_all(clients.iter().map(Peer::close)).await;
    Figures {
        broadcast_time,
        deliveries_per_s: expected as f64 / broadcast_time.as_secs_f64(),
        broadcasts_per_s: o.broadcasts as f64 / broadcast_time.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let o = parse();
    let exe = node_exe();
    let dir = TempDir::new("cluster-bench").expect("a temporary directory");
    let (_redis, redis_url) = start_redis(dir.path()).unwrap_or_else(|e| fail(&e.to_string()));

    let single = start_node(&exe, dir.path(), "single", "127.0.0.1:0", &[]).unwrap_or_else(|e| fail(&e.to_string()));
    eprintln!(
        "single node: {} clients, {} broadcasts, {} calls",
        o.clients, o.broadcasts, o.calls
    );
    let one = measure(std::slice::from_ref(&single), &o).await;
    drop(single);

    let args = ["--redis", redis_url.as_str(), "--prefix", "bench"];
    let nodes: Vec<Node> = (1..=3)
        .map(|i| start_node(&exe, dir.path(), &format!("node-{i}"), "127.0.0.1:0", &args))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| fail(&e.to_string()));
    eprintln!("three nodes + Redis: the same");
    let three = measure(&nodes, &o).await;
    drop(nodes);

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("#### Cluster: one node vs three nodes joined through Redis");
    println!();
    println!(
        "{} clients, {} broadcasts, {} calls; nodes, Redis and clients on one machine ({cores} cores), loopback.",
        o.clients, o.broadcasts, o.calls
    );
    println!();
    println!("| | one node | three nodes + Redis |");
    println!("| --- | ---: | ---: |");
    println!(
        "| broadcast: all {} messages delivered to all clients in | {} | {} |",
        o.broadcasts,
        ms(one.broadcast_time),
        ms(three.broadcast_time)
    );
    println!(
        "| broadcast: deliveries/s | {:.0} | {:.0} |",
        one.deliveries_per_s, three.deliveries_per_s
    );
    println!(
        "| broadcast: messages/s (each to every client) | {:.0} | {:.0} |",
        one.broadcasts_per_s, three.broadcasts_per_s
    );
    println!(
        "| call into another connection: p50 | {} | {} |",
        ms(one.p50),
        ms(three.p50)
    );
    println!(
        "| call into another connection: p99 | {} | {} |",
        ms(one.p99),
        ms(three.p99)
    );
}
