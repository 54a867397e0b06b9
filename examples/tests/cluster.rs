//! Scale-out as deployed: three `cluster-node` processes sharing one
//! `redis-server`, behind Caddy (`reverse_proxy`, round robin), all on
//! loopback ports picked here and stopped through their process handles.
//! Rust clients (reconnecting) and a Node.js client (the TypeScript runtime)
//! connect through Caddy and land on different nodes.
//!
//! Checked: a broadcast reaches every client exactly once; group and
//! all-but-one broadcasts reach exactly their targets; a call from node 1
//! into clients held by other nodes returns their replies; node 2 killed
//! (SIGKILL) while a call into one of its clients is pending: that call and
//! new calls into its former connections fail fast with the documented
//! error, its clients reconnect through Caddy to the other nodes, and
//! broadcasts keep working with nothing delivered twice; node 2 restarted
//! on the same address rejoins as a new node, again without duplicates.
//!
//! Needs `redis-server`, `caddy` and `node` (scripts/test.sh installs the
//! first two from Debian's packages).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duplexrpc_cluster::ConnectionId;
use duplexrpc_core::{Peer, RpcError};
use duplexrpc_ws::{Backoff, ConnectionEvent, Reconnect, ReconnectingClient};
use examples::cluster::harness::{LogsOnPanic, Node, Proc, TempDir, start_caddy, start_node, start_redis};
use examples::cluster::{ChatClient, Hello, Member, NODE_DOWN, NOT_CONNECTED};

const NODE: &str = env!("CARGO_BIN_EXE_cluster-node");
/// Heartbeat every 250 ms, expiring after 2 s: a dead node is noticed
/// within about 2.25 s (short, but long enough that a node starved of CPU
/// on a busy machine is not taken for dead).
const LIVENESS: [&str; 4] = ["--heartbeat-ms", "250", "--expiry-ms", "2000"];
/// Generous bound for anything that should happen "at once" or "within the
/// liveness bound" (machines are noisy; this is a liveness check, not a timing one).
const SOON: Duration = Duration::from_secs(10);

/// What a client saw.
#[derive(Debug, Default)]
struct Seen {
    hellos: Vec<Hello>,
    messages: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

struct RustMember {
    name: String,
    seen: Shared,
}

impl Member for RustMember {
    async fn message(&self, _from: ConnectionId, text: String) {
        self.seen.lock().unwrap().messages.push(text);
    }

    async fn answer(&self, question: String) -> Result<String, RpcError> {
        if question == "slow" {
            // Never answers in time: the call into it must fail another way.
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        Ok(format!("{}: {question}", self.name))
    }
}

enum Kind {
    Rust(ReconnectingClient),
    /// Killed on drop, like every process of the test.
    Node(#[allow(dead_code)] Proc),
}

struct Client {
    name: String,
    kind: Kind,
    seen: Shared,
}

impl Client {
    /// A Rust client through `url` that says hello after every connection.
    async fn rust(url: &str, name: &str) -> Client {
        let seen = Shared::default();
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let member_seen = seen.clone();
        let member_name = name.to_owned();
        let client = Reconnect::new(url)
            .backoff(Backoff::default().delays(Duration::from_millis(50), Duration::from_millis(500)))
            .on_event(move |event| {
                let _ = events_tx.send(event.clone());
            })
            .connect(move |conn| {
                let member = RustMember {
                    name: member_name.clone(),
                    seen: member_seen.clone(),
                };
                conn.register(member.into_methods())?;
                Ok(())
            })
            .await
            .expect("connects through Caddy");
        let chat = ChatClient::new(client.peer());
        let hello_seen = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let ConnectionEvent::Connected { .. } = event
                    && let Ok(hello) = chat.hello().await
                {
                    hello_seen.lock().unwrap().hellos.push(hello);
                }
            }
        });
        let client = Client {
            name: name.to_owned(),
            kind: Kind::Rust(client),
            seen,
        };
        client.wait_hellos(1).await;
        client
    }

    /// The Node.js client (examples/cluster/node-client.mjs) through `url`,
    /// a member of `room`.
    async fn node(url: &str, name: &str, room: &str, dir: &std::path::Path) -> Client {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/cluster/node-client.mjs");
        let mut command = Command::new("node");
        if !node_has_websocket() {
            command.arg("--experimental-websocket");
        }
        command.args([script, url, name, room]);
        let mut proc = Proc::spawn(name, command, dir, true).expect("node (Node.js) runs");
        let stdout = proc.child().stdout.take().expect("piped");
        let seen = Shared::default();
        let reader_seen = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
                let mut seen = reader_seen.lock().unwrap();
                if let Some(hello) = event.get("hello") {
                    seen.hellos
                        .push(serde_json::from_value(hello.clone()).expect("a Hello"));
                } else if let Some(message) = event.get("message") {
                    seen.messages.push(message["text"].as_str().expect("text").to_owned());
                }
            }
        });
        let client = Client {
            name: name.to_owned(),
            kind: Kind::Node(proc),
            seen,
        };
        client.wait_hellos(1).await;
        client
    }

    /// The latest hello: where the client is connected now.
    fn hello(&self) -> Hello {
        self.seen.lock().unwrap().hellos.last().cloned().expect("said hello")
    }

    fn hellos(&self) -> usize {
        self.seen.lock().unwrap().hellos.len()
    }

    async fn wait_hellos(&self, n: usize) {
        wait_until(&format!("{} connected {n} time(s)", self.name), || self.hellos() >= n).await;
    }

    fn count(&self, text: &str) -> usize {
        self.seen.lock().unwrap().messages.iter().filter(|m| *m == text).count()
    }

    fn messages(&self) -> Vec<String> {
        self.seen.lock().unwrap().messages.clone()
    }

    fn chat(&self) -> ChatClient {
        match &self.kind {
            Kind::Rust(client) => ChatClient::new(client.peer()),
            Kind::Node(_) => panic!("the test drives Node.js clients through their output only"),
        }
    }
}

fn node_has_websocket() -> bool {
    Command::new("node")
        .args(["-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"])
        .status()
        .is_ok_and(|s| s.success())
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + SOON;
    while !done() {
        assert!(Instant::now() < deadline, "not within {SOON:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every client in `targets` got `text`, then a moment for any
/// second copy, and checks that each got it exactly once and nobody else did.
async fn delivered(clients: &[Client], targets: &[&str], text: &str) {
    for c in clients.iter().filter(|c| targets.contains(&c.name.as_str())) {
        wait_until(&format!("{} got {text:?}", c.name), || c.count(text) >= 1).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for c in clients {
        let expected = usize::from(targets.contains(&c.name.as_str()));
        assert_eq!(
            c.count(text),
            expected,
            "{} got {text:?} {} time(s)",
            c.name,
            c.count(text)
        );
    }
}

fn names(clients: &[Client]) -> Vec<&str> {
    clients.iter().map(|c| c.name.as_str()).collect()
}

/// Asks `conn` through `control` (a connection on node 1): the answer, or
/// the error and how long it took.
async fn ask(control: &ChatClient, conn: ConnectionId, question: &str) -> (Result<String, RpcError>, Duration) {
    let started = Instant::now();
    let outcome = control.ask(conn, question.to_owned()).await;
    (outcome, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_caddy_share_broadcasts_calls_and_survive_a_node() {
    tokio::time::timeout(Duration::from_secs(120), scenario())
        .await
        .expect("the scenario ends within 120 s");
}

async fn scenario() {
    let dir = TempDir::new("rpc-cluster-test").unwrap();
    let (_redis, redis_url) = start_redis(dir.path()).expect("redis-server (Debian package redis-server)");
    let node_args: Vec<&str> = ["--redis", redis_url.as_str()].into_iter().chain(LIVENESS).collect();
    let mut nodes: Vec<Node> = (1..=3)
        .map(|i| {
            start_node(
                NODE.as_ref(),
                dir.path(),
                &format!("node-{i}"),
                "127.0.0.1:0",
                &node_args,
            )
            .unwrap()
        })
        .collect();
    let (_caddy, via_caddy) = start_caddy(dir.path(), &nodes.iter().map(|n| n.addr).collect::<Vec<_>>())
        .expect("caddy (Debian package caddy)");
    let ids: Vec<u64> = nodes.iter().map(|n| n.node).collect();
    eprintln!("nodes {ids:?} behind {via_caddy}");

    // Six Rust clients and one Node.js client, through Caddy.
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(Client::rust(&via_caddy, &format!("rust-{i}")).await);
    }
    clients.push(Client::node(&via_caddy, "node-js", "room", dir.path()).await);
    let mut per_node: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for c in &clients {
        per_node.entry(c.hello().node).or_default().push(&c.name);
    }
    eprintln!("clients per node: {per_node:?}");
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_unstable();
    assert_eq!(
        per_node.keys().copied().collect::<Vec<_>>(),
        sorted_ids,
        "clients landed on every node"
    );

    // Node 1's own connection, for calls made on node 1.
    let control_peer: Peer = duplexrpc_ws::connect(&nodes[0].url()).await.unwrap().start();
    let control = ChatClient::new(control_peer.clone());
    assert_eq!(control.hello().await.unwrap().node, ids[0]);
    let _logs = LogsOnPanic(dir.path());

    // ---- all three nodes up -------------------------------------------------
    let all = names(&clients);
    clients[0].chat().say(None, "hello everyone".into()).await.unwrap();
    delivered(&clients, &all, "hello everyone").await;

    // A group with members on several nodes (the Node.js client joined it
    // by itself, as it connected).
    let room = ["rust-1", "rust-2", "node-js"];
    for c in &clients[1..3] {
        assert!(c.chat().join("room".into()).await.unwrap());
    }
    let members = control.members("room".into()).await.unwrap();
    let expected: BTreeSet<ConnectionId> = clients
        .iter()
        .filter(|c| room.contains(&c.name.as_str()))
        .map(|c| c.hello().conn)
        .collect();
    assert_eq!(members.into_iter().collect::<BTreeSet<_>>(), expected);
    clients[3]
        .chat()
        .say(Some("room".into()), "room only".into())
        .await
        .unwrap();
    delivered(&clients, &room, "room only").await;

    clients[2].chat().say_to_others("not rust-2".into()).await.unwrap();
    let others: Vec<&str> = all.iter().copied().filter(|n| *n != "rust-2").collect();
    delivered(&clients, &others, "not rust-2").await;

    // Calls from node 1 into clients on every node, the Node.js one included.
    for c in &clients {
        let hello = c.hello();
        let (answer, _) = ask(&control, hello.conn, "ping?").await;
        assert_eq!(answer.unwrap(), format!("{}: ping?", c.name), "via node {}", hello.node);
    }
    let on_node3 = clients.iter().find(|c| c.hello().node == ids[2]).unwrap();
    eprintln!("node 1 called {} on node 3: ok", on_node3.name);
    let (gone, _) = ask(
        &control,
        ConnectionId::new(duplexrpc_cluster::backplane::NodeId::new(ids[2]), 9_999),
        "?",
    )
    .await;
    assert_eq!(gone.unwrap_err().code(), Some(NOT_CONNECTED));

    // ---- node 2 dies ----------------------------------------------------------
    let dead = ids[1];
    let on_dead: Vec<usize> = (0..clients.len())
        .filter(|&i| clients[i].hello().node == dead)
        .collect();
    let rust_on_dead = *on_dead
        .iter()
        .find(|&&i| matches!(clients[i].kind, Kind::Rust(_)))
        .expect("a Rust client on node 2");
    let dead_conns: Vec<ConnectionId> = on_dead.iter().map(|&i| clients[i].hello().conn).collect();
    let hellos_before: Vec<usize> = clients.iter().map(Client::hellos).collect();
    // A call into node 2 that is still pending when the node dies.
    let pending = tokio::spawn({
        let control = control.clone();
        let conn = clients[rust_on_dead].hello().conn;
        async move { ask(&control, conn, "slow").await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    nodes[1].proc.kill();

    let (outcome, _) = tokio::time::timeout(SOON, pending)
        .await
        .expect("the pending call does not hang")
        .unwrap();
    let pending_failed_after = killed_at.elapsed();
    let e = outcome.expect_err("its node died");
    assert_eq!(e.code(), Some(NODE_DOWN), "{e}");
    assert!(e.to_string().contains("down"), "{e}");
    eprintln!("call pending into node 2 failed {pending_failed_after:?} after the kill: {e}");

    for conn in &dead_conns {
        let (outcome, took) = ask(&control, *conn, "still there?").await;
        let e = outcome.expect_err("its node is dead");
        assert_eq!(e.code(), Some(NODE_DOWN), "{e}");
        assert!(took < SOON);
        eprintln!("new call into {conn} (node 2) failed in {took:?}: {e:?}");
    }

    // Node 2's clients reconnect through Caddy, to the other nodes.
    for &i in &on_dead {
        clients[i].wait_hellos(hellos_before[i] + 1).await;
        let now = clients[i].hello();
        assert_ne!(now.node, dead, "{} reconnected to a live node", clients[i].name);
        eprintln!("{} reconnected to node {} as {}", clients[i].name, now.node, now.conn);
    }
    for (i, c) in clients.iter().enumerate().filter(|(i, _)| !on_dead.contains(i)) {
        assert_eq!(c.hellos(), hellos_before[i], "{} kept its connection", c.name);
    }

    // A broadcast made before every node noticed the death reports that it
    // reached fewer nodes than alive (BACKPLANE_DOWN); probe until none does.
    let deadline = Instant::now() + SOON;
    for probe in 0.. {
        if clients[5].chat().say(None, format!("probe {probe}")).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "no broadcast published within {SOON:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    clients[5].chat().say(None, "after the crash".into()).await.unwrap();
    delivered(&clients, &all, "after the crash").await;
    let moved = &clients[rust_on_dead];
    let (answer, _) = ask(&control, moved.hello().conn, "moved?").await;
    assert_eq!(answer.unwrap(), format!("{}: moved?", moved.name));

    // ---- node 2 restarts on its old address -------------------------------------
    let addr = nodes[1].addr.to_string();
    let restarted = start_node(NODE.as_ref(), dir.path(), "node-2-again", &addr, &node_args).unwrap();
    assert!(!ids.contains(&restarted.node), "a restart is a new node");
    nodes[1] = restarted;
    let new_id = nodes[1].node;
    // Round robin sends one of three new clients to it.
    for i in 0..3 {
        clients.push(Client::rust(&via_caddy, &format!("late-{i}")).await);
    }
    let late = clients
        .iter()
        .find(|c| c.hello().node == new_id)
        .expect("a new client on the restarted node");
    let (answer, _) = ask(&control, late.hello().conn, "new node?").await;
    assert_eq!(answer.unwrap(), format!("{}: new node?", late.name));

    let all = names(&clients);
    clients[0].chat().say(None, "welcome back".into()).await.unwrap();
    delivered(&clients, &all, "welcome back").await;

    // Nothing was delivered twice, over the whole run.
    for c in &clients {
        let messages = c.messages();
        let unique: BTreeSet<&String> = messages.iter().collect();
        assert_eq!(unique.len(), messages.len(), "{} got a duplicate: {messages:?}", c.name);
    }
    control_peer.close().await;
    for c in clients {
        if let Kind::Rust(client) = c.kind {
            client.close().await;
        }
    }
}
