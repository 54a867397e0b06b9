//! Three registries joined by the in-process backplane: broadcasts reach
//! every connection of every node exactly once, typed calls reach a
//! connection on another node and their replies come back, and a node that
//! dies makes calls to its connections fail fast instead of hang.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use duplexrpc_cluster::backplane::{
    Backplane, BackplaneError, BoxFuture, Delivery, InProcessHub, InProcessNode, Liveness, NodeId, Route, is_cut_off,
    is_node_down, may_have_run,
};
use duplexrpc_cluster::{ConnectionId, Registry};
use duplexrpc_core::transport::memory;
use duplexrpc_core::{ErrorObject, Peer, PeerBuilder, PeerConfig, RpcError, rpc};
use tokio::sync::mpsc;

mod support;
use support::Stuck;

/// What each client serves.
#[rpc]
trait Lobby {
    /// A chat line.
    #[notification]
    async fn said(&self, line: String);
    /// Asks for a vote.
    async fn vote(&self, question: String) -> Result<bool, RpcError>;
}

#[derive(Clone, Copy)]
enum Vote {
    Yes,
    Refuse,
    Never,
}

#[derive(Debug)]
enum Event {
    Line(String, String),
    VoteDropped(String),
}

struct Member {
    name: String,
    events: mpsc::UnboundedSender<Event>,
    behaviour: Vote,
}

/// Reports when a vote handler is dropped before it completed (cancelled).
struct DropGuard(Option<(String, mpsc::UnboundedSender<Event>)>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some((name, events)) = self.0.take() {
            let _ = events.send(Event::VoteDropped(name));
        }
    }
}

impl Lobby for Member {
    async fn said(&self, line: String) {
        let _ = self.events.send(Event::Line(self.name.clone(), line));
    }

    async fn vote(&self, question: String) -> Result<bool, RpcError> {
        match self.behaviour {
            Vote::Yes => Ok(question.ends_with('?')),
            Vote::Refuse => Err(RpcError::with_data(7, "refused", serde_json::json!({"who": self.name}))),
            Vote::Never => {
                let _guard = DropGuard(Some((self.name.clone(), self.events.clone())));
                std::future::pending().await
            }
        }
    }
}

struct Clients {
    events: mpsc::UnboundedReceiver<Event>,
    tx: mpsc::UnboundedSender<Event>,
    peers: Vec<Peer>,
}

impl Clients {
    fn new() -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        Clients {
            events,
            tx,
            peers: Vec::new(),
        }
    }

    /// Connects client `name` to `registry`'s node.
    fn connect(&mut self, registry: &Registry, name: &str, behaviour: Vote) -> ConnectionId {
        let ((s_tx, s_rx), (c_tx, c_rx)) = memory::pair();
        let server_side = PeerBuilder::new().start(s_tx, s_rx);
        let mut client = PeerBuilder::new();
        let member = Member {
            name: name.to_owned(),
            events: self.tx.clone(),
            behaviour,
        };
        client.register(member.into_methods()).unwrap();
        self.peers.push(client.start(c_tx, c_rx));
        registry.add(server_side)
    }

    /// The next `n` lines, sorted; then checks that no extra copy follows.
    async fn lines(&mut self, n: usize) -> Vec<(String, String)> {
        let mut got = Vec::new();
        while got.len() < n {
            let event = tokio::time::timeout(Duration::from_secs(5), self.events.recv())
                .await
                .expect("a line within 5 s")
                .unwrap();
            if let Event::Line(name, line) = event {
                got.push((name, line));
            }
        }
        got.sort();
        // A broadcast that was published once more would arrive right after
        // the first copies; give it a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while let Ok(event) = self.events.try_recv() {
            assert!(!matches!(event, Event::Line(..)), "delivered more than once: {event:?}");
        }
        got
    }
}

fn said(line: &str) -> duplexrpc_core::Notification {
    LobbyClient::said_notification(&line.to_owned()).unwrap()
}

fn each(names: &[&str], line: &str) -> Vec<(String, String)> {
    let mut v: Vec<_> = names.iter().map(|n| (n.to_string(), line.to_owned())).collect();
    v.sort();
    v
}

fn three_nodes(hub: &InProcessHub) -> [Registry; 3] {
    let config = PeerConfig::default().call_timeout(Some(Duration::from_secs(10)));
    [(); 3].map(|()| Registry::with_backplane_config(hub.node(), config.clone()))
}

#[tokio::test]
async fn broadcasts_reach_every_node_once() {
    let hub = InProcessHub::new();
    let nodes = three_nodes(&hub);
    let mut clients = Clients::new();
    let ann = clients.connect(&nodes[0], "ann", Vote::Yes);
    let bob = clients.connect(&nodes[1], "bob", Vote::Yes);
    let cid = clients.connect(&nodes[2], "cid", Vote::Yes);
    let dan = clients.connect(&nodes[2], "dan", Vote::Yes);
    assert_eq!(
        [ann.node(), bob.node(), cid.node()],
        [nodes[0].node(), nodes[1].node(), nodes[2].node()]
    );
    assert_ne!(cid, dan);
    assert!(nodes[0].join(ann, "red") && nodes[2].join(cid, "red") && nodes[1].join(bob, "blue"));
    assert!(!nodes[0].join(bob, "red"), "a node manages its own connections' groups");

    // Local count: the sender's own connections.
    assert_eq!(nodes[1].notify_all(&said("hello")).await, Ok(1));
    assert_eq!(clients.lines(4).await, each(&["ann", "bob", "cid", "dan"], "hello"));

    assert_eq!(nodes[1].notify_group("red", &said("red")).await, Ok(0));
    assert_eq!(clients.lines(2).await, each(&["ann", "cid"], "red"));

    assert_eq!(nodes[0].notify_all_except(dan, &said("not dan")).await, Ok(1));
    assert_eq!(clients.lines(3).await, each(&["ann", "bob", "cid"], "not dan"));

    assert_eq!(nodes[2].cluster_members("red").await.unwrap(), vec![ann, cid]);
    assert_eq!(nodes[0].cluster_ids().await.unwrap(), vec![ann, bob, cid, dan]);
    assert_eq!(nodes[0].members("red"), vec![ann], "members() is this node's");
}

#[tokio::test]
async fn typed_calls_reach_a_connection_on_another_node() {
    let hub = InProcessHub::new();
    let nodes = three_nodes(&hub);
    let mut clients = Clients::new();
    let yes = clients.connect(&nodes[2], "yes", Vote::Yes);
    let refuses = clients.connect(&nodes[1], "refuses", Vote::Refuse);
    let never = clients.connect(&nodes[2], "never", Vote::Never);

    let remote: LobbyClient = nodes[0].client(yes).unwrap();
    assert_eq!(remote.vote("lunch?".into()).await, Ok(true));
    assert_eq!(remote.vote("lunch".into()).await, Ok(false));
    // Many at once over the same stand-in.
    let many = futures::future::join_all((0..50).map(|i| remote.vote(format!("{i}?")))).await;
    assert!(many.iter().all(|r| *r == Ok(true)));

    // Application errors come back as they are.
    let refused = nodes[0].client::<LobbyClient>(refuses).unwrap().vote("?".into()).await;
    assert_eq!(
        refused,
        Err(RpcError::Call(
            ErrorObject::new(7, "refused").with_data(serde_json::json!({"who": "refuses"}))
        ))
    );

    // A call that times out is cancelled on the client too.
    let slow = nodes[1].client::<LobbyClient>(never).unwrap();
    let limit = Duration::from_millis(300);
    let timed_out = slow.peer().call_with_timeout::<_, bool>("vote", ("?",), limit).await;
    assert_eq!(timed_out, Err(RpcError::Timeout(limit)));
    let dropped = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Event::VoteDropped(name)) = clients.events.recv().await {
                return name;
            }
        }
    })
    .await
    .expect("the forwarded call is cancelled");
    assert_eq!(dropped, "never");

    // Notifications to one remote connection.
    remote.said("just you".into()).await.unwrap();
    assert_eq!(clients.lines(1).await, each(&["yes"], "just you"));

    // A group call across nodes, in id order.
    for (node, id) in [(2, yes), (1, refuses), (2, never)] {
        assert!(nodes[node].join(id, "jury"));
    }
    let results = nodes[0]
        .call_group("jury", Duration::from_millis(300), |c: LobbyClient| async move {
            c.vote("guilty?".into()).await
        })
        .await;
    let ids: Vec<_> = results.iter().map(|(id, _)| *id).collect();
    let mut expected = vec![yes, refuses, never];
    expected.sort();
    assert_eq!(ids, expected);
    let outcome: BTreeMap<_, _> = results.into_iter().collect();
    assert_eq!(outcome[&yes], Ok(true));
    assert_eq!(outcome[&refuses].as_ref().unwrap_err().code(), Some(7));
    assert_eq!(outcome[&never], Err(RpcError::Timeout(Duration::from_millis(300))));
}

#[tokio::test]
async fn a_closed_remote_connection_fails_calls_with_disconnected() {
    let hub = InProcessHub::new();
    let nodes = three_nodes(&hub);
    let mut clients = Clients::new();
    let gone = clients.connect(&nodes[1], "gone", Vote::Yes);
    let stub: LobbyClient = nodes[0].client(gone).unwrap();
    assert_eq!(stub.vote("?".into()).await, Ok(true));
    clients.peers[0].close().await;
    let failed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            // The stand-in learns of the close; until then the call may still
            // be answered by node 2 with "not connected".
            match nodes[0].client::<LobbyClient>(gone).unwrap().vote("?".into()).await {
                Err(e) => return e,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
    .expect("fails within 5 s");
    assert!(failed.is_disconnected() && !is_node_down(&failed), "{failed:?}");

    // An id that never existed on a live node fails the same way.
    let bogus = ConnectionId::new(nodes[2].node(), 999);
    let e = nodes[0]
        .client::<LobbyClient>(bogus)
        .unwrap()
        .vote("?".into())
        .await
        .unwrap_err();
    assert!(e.is_disconnected() && e.to_string().contains("not connected"), "{e}");
}

#[tokio::test]
async fn a_dead_node_fails_calls_fast_and_a_restarted_one_rejoins_without_duplicates() {
    let hub = InProcessHub::new().check_every(Duration::from_millis(50));
    let nodes = three_nodes(&hub);
    let mut clients = Clients::new();
    let ann = clients.connect(&nodes[0], "ann", Vote::Yes);
    let _bob = clients.connect(&nodes[1], "bob", Vote::Yes);
    let never = clients.connect(&nodes[1], "never", Vote::Never);
    let _cid = clients.connect(&nodes[2], "cid", Vote::Yes);
    // Every node has seen every other alive.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stuck = nodes[0].client::<LobbyClient>(never).unwrap();
    let pending = tokio::spawn(async move { stuck.vote("?".into()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let dead = nodes[1].node();
    hub.kill(dead);

    // The pending call fails once node 2 is noticed dead, not after its
    // 10 s call timeout.
    let started = tokio::time::Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("no hang")
        .unwrap()
        .unwrap_err();
    assert!(is_node_down(&e), "{e}");
    assert!(e.to_string().contains(&dead.to_string()), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A new call to a dead node's connection fails at once.
    let e = nodes[2]
        .client::<LobbyClient>(never)
        .unwrap()
        .vote("?".into())
        .await
        .unwrap_err();
    assert!(is_node_down(&e), "{e}");

    // The living nodes carry on (once each has noticed the dead node, a
    // broadcast no longer reports that it reached fewer nodes than alive).
    let sent = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match nodes[2].notify_all(&said("still here")).await {
                Ok(sent) => return sent,
                Err(e) => {
                    assert_eq!(e.local, 1, "{e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    })
    .await
    .expect("a broadcast is published within 5 s");
    assert_eq!(sent, 1);
    assert_eq!(clients.lines(2).await, each(&["ann", "cid"], "still here"));
    assert_eq!(nodes[0].live_nodes().await.unwrap().len(), 2);

    // "bob" reconnects to a new node (a restart): a fresh node id, and no
    // message twice.
    let restarted = Registry::with_backplane(hub.node());
    assert_ne!(restarted.node(), dead);
    let bob_again = clients.connect(&restarted, "bob", Vote::Yes);
    assert_eq!(nodes[0].notify_all(&said("welcome back")).await, Ok(1));
    assert_eq!(clients.lines(3).await, each(&["ann", "bob", "cid"], "welcome back"));
    let bob: LobbyClient = nodes[2].client(bob_again).unwrap();
    assert_eq!(bob.vote("ok?".into()).await, Ok(true));
    assert_eq!(restarted.cluster_ids().await.unwrap().len(), 3);
    assert!(restarted.cluster_ids().await.unwrap().contains(&ann));
    assert_ne!(dead, NodeId::LOCAL);
}

#[tokio::test]
async fn a_node_cut_off_from_the_backplane_says_so_in_its_calls_and_broadcasts() {
    let hub = InProcessHub::new().check_every(Duration::from_millis(50));
    let nodes = three_nodes(&hub);
    let mut clients = Clients::new();
    let _ann = clients.connect(&nodes[0], "ann", Vote::Yes);
    let never = clients.connect(&nodes[1], "never", Vote::Never);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stuck = nodes[0].client::<LobbyClient>(never).unwrap();
    let pending = tokio::spawn(async move { stuck.vote("?".into()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Node 1 itself is cut off (the others are fine).
    hub.kill(nodes[0].node());

    let e = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("no hang")
        .unwrap()
        .unwrap_err();
    assert!(is_cut_off(&e) && !is_node_down(&e) && may_have_run(&e), "{e}");
    let e = nodes[0]
        .client::<LobbyClient>(never)
        .unwrap()
        .vote("?".into())
        .await
        .unwrap_err();
    assert!(is_cut_off(&e) && !may_have_run(&e), "{e}");
    let e = nodes[0].notify_all(&said("only here")).await.unwrap_err();
    assert_eq!(e.local, 1, "{e}");
    assert!(matches!(e.reason, BackplaneError::CutOff(_)), "{e}");
}

#[tokio::test]
async fn a_connection_that_never_reads_does_not_stall_broadcasts_from_other_nodes() {
    let hub = InProcessHub::new();
    let nodes = three_nodes(&hub);
    let mut clients = Clients::new();
    clients.connect(&nodes[1], "bob", Vote::Yes);
    let stuck = Stuck::add_to(&nodes[1]);
    const N: usize = 50;
    for i in 0..N {
        assert_eq!(nodes[0].notify_all(&said(&format!("line {i:02}"))).await, Ok(0));
    }
    // Each line within 5 s: node 1 delivers past its stuck connection.
    let got = clients.lines(N).await;
    assert_eq!(got.last(), Some(&("bob".to_owned(), format!("line {:02}", N - 1))));
    assert!(nodes[1].get(stuck.id).is_some_and(|p| !p.is_closed()));
}

/// A node with two faults to switch on: its backplane answers its next
/// `lose` broadcasts as delivered to every node and passes them on to none
/// (as a Redis killed between answering `PUBLISH` and writing to the
/// subscribers does), and while `hide` is set its liveness checks do not
/// see node `hidden` (as when that node stalls past its expiry).
#[derive(Debug)]
struct Faulty {
    node: InProcessNode,
    lose: Arc<AtomicUsize>,
    hidden: Option<NodeId>,
    hide: Arc<AtomicBool>,
}

impl Faulty {
    fn new(node: InProcessNode) -> Self {
        Faulty {
            node,
            lose: Arc::default(),
            hidden: None,
            hide: Arc::default(),
        }
    }
}

impl Backplane for Faulty {
    fn node(&self) -> NodeId {
        self.node.node()
    }
    fn deliveries(&self) -> Option<mpsc::UnboundedReceiver<Delivery>> {
        self.node.deliveries()
    }
    fn publish(&self, route: Route, payload: String) -> BoxFuture<'_, Result<usize, BackplaneError>> {
        let broadcast = payload.starts_with(r#"{"t":"notify""#) && matches!(route, Route::All);
        if broadcast
            && self
                .lose
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
        {
            return Box::pin(async move { Ok(self.node.live_nodes().await?.len()) });
        }
        self.node.publish(route, payload)
    }
    fn live_nodes(&self) -> BoxFuture<'_, Result<Vec<NodeId>, BackplaneError>> {
        Box::pin(async move {
            let mut live = self.node.live_nodes().await?;
            if self.hide.load(Ordering::Acquire) {
                live.retain(|n| Some(*n) != self.hidden);
            }
            Ok(live)
        })
    }
    fn liveness(&self) -> Liveness {
        self.node.liveness()
    }
}

#[tokio::test]
async fn a_broadcast_the_backplane_lost_after_claiming_it_is_sent_again_once() {
    let hub = InProcessHub::new().check_every(Duration::from_millis(50));
    let faulty = Faulty::new(hub.node());
    let lose = faulty.lose.clone();
    let config = PeerConfig::default().call_timeout(Some(Duration::from_secs(10)));
    let sender = Registry::with_backplane_config(faulty, config.clone());
    let receiver = Registry::with_backplane_config(hub.node(), config);
    let mut clients = Clients::new();
    clients.connect(&receiver, "ann", Vote::Yes);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sender.notify_all(&said("one")).await, Ok(0));
    assert_eq!(clients.lines(1).await, each(&["ann"], "one"));

    // Two lost as the last ones before a pause (no later broadcast shows the
    // gap), one more lost between two that arrive.
    lose.store(2, Ordering::Release);
    assert_eq!(sender.notify_all(&said("two")).await, Ok(0), "claimed");
    assert_eq!(sender.notify_all(&said("three")).await, Ok(0), "claimed");
    assert_eq!(
        clients.lines(2).await,
        [
            ("ann".to_owned(), "three".to_owned()),
            ("ann".to_owned(), "two".to_owned())
        ],
        "sent again after the next mark"
    );
    assert_eq!(sender.notify_all(&said("four")).await, Ok(0));
    lose.store(1, Ordering::Release);
    assert_eq!(sender.notify_all(&said("five")).await, Ok(0));
    assert_eq!(sender.notify_all(&said("six")).await, Ok(0));
    // lines() also checks that no copy follows.
    let lines: Vec<_> = clients.lines(3).await.into_iter().map(|(_, line)| line).collect();
    assert_eq!(lines, ["five", "four", "six"]);
}

#[tokio::test]
async fn a_lost_group_broadcast_is_sent_again_to_the_group_only() {
    let hub = InProcessHub::new().check_every(Duration::from_millis(50));
    let faulty = Faulty::new(hub.node());
    let lose = faulty.lose.clone();
    let sender = Registry::with_backplane(faulty);
    let receiver = Registry::with_backplane(hub.node());
    let mut clients = Clients::new();
    let ann = clients.connect(&receiver, "ann", Vote::Yes);
    let bob = clients.connect(&receiver, "bob", Vote::Yes);
    assert!(receiver.join(ann, "red"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    lose.store(1, Ordering::Release);
    assert_eq!(sender.notify_group("red", &said("red only")).await, Ok(0), "claimed");
    assert_eq!(sender.notify_all_except(ann, &said("not ann")).await, Ok(0));
    let mut got = clients.lines(2).await;
    got.sort();
    assert_eq!(
        got,
        [
            ("ann".to_owned(), "red only".to_owned()),
            ("bob".to_owned(), "not ann".to_owned())
        ]
    );
    let _ = bob;
}

#[tokio::test]
async fn a_sender_declared_down_and_back_sends_nothing_twice() {
    let hub = InProcessHub::new().check_every(Duration::from_millis(50));
    let sender = Registry::with_backplane(hub.node());
    let faulty = Faulty {
        hidden: Some(sender.node()),
        ..Faulty::new(hub.node())
    };
    let hide = faulty.hide.clone();
    let receiver = Registry::with_backplane(faulty);
    let mut clients = Clients::new();
    clients.connect(&receiver, "ann", Vote::Yes);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for line in ["one", "two"] {
        assert_eq!(sender.notify_all(&said(line)).await, Ok(0));
    }
    assert_eq!(clients.lines(2).await.len(), 2);
    // The receiver declares the sender down, then sees it again.
    hide.store(true, Ordering::Release);
    tokio::time::sleep(Duration::from_millis(200)).await;
    hide.store(false, Ordering::Release);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sender.notify_all(&said("three")).await, Ok(0));
    // lines() fails on a copy of "one" or "two" sent again after the marks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(clients.lines(1).await, each(&["ann"], "three"));
}
