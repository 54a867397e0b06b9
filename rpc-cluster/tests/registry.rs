//! Connection registry, groups and broadcast, over the in-memory transport.

use std::time::Duration;

use duplexrpc_cluster::{ConnectionId, Registry};
use duplexrpc_core::transport::memory;
use duplexrpc_core::{Peer, PeerBuilder, RpcError, rpc};
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

struct Member {
    name: &'static str,
    lines: mpsc::UnboundedSender<(String, String)>,
    behaviour: Vote,
}

#[derive(Clone, Copy)]
enum Vote {
    Yes,
    No,
    Never,
}

impl Lobby for Member {
    async fn said(&self, line: String) {
        let _ = self.lines.send((self.name.to_owned(), line));
    }

    async fn vote(&self, _question: String) -> Result<bool, RpcError> {
        match self.behaviour {
            Vote::Yes => Ok(true),
            Vote::No => Ok(false),
            Vote::Never => std::future::pending().await,
        }
    }
}

/// Connects a client named `name` to the "server" side and registers the
/// server side's peer. Returns the id and the client-side peer.
fn connect(
    registry: &Registry,
    name: &'static str,
    behaviour: Vote,
    lines: &mpsc::UnboundedSender<(String, String)>,
) -> (ConnectionId, Peer) {
    let ((s_tx, s_rx), (c_tx, c_rx)) = memory::pair();
    let server_side = PeerBuilder::new().start(s_tx, s_rx);
    let mut client = PeerBuilder::new();
    let member = Member {
        name,
        lines: lines.clone(),
        behaviour,
    };
    client.register(member.into_methods()).unwrap();
    (registry.add(server_side), client.start(c_tx, c_rx))
}

async fn received(lines: &mut mpsc::UnboundedReceiver<(String, String)>, n: usize) -> Vec<(String, String)> {
    let mut got = Vec::new();
    for _ in 0..n {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.recv())
            .await
            .unwrap()
            .unwrap();
        got.push(line);
    }
    got.sort();
    // Nothing more arrives: a round trip on every connection would have
    // delivered any extra copy first, so a short wait suffices here.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(lines.try_recv().is_err(), "a message was delivered more than once");
    got
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[tokio::test]
async fn broadcast_to_all_to_a_group_and_to_all_but_one() {
    let registry = Registry::new();
    let (tx, mut lines) = mpsc::unbounded_channel();
    let (ann, _a) = connect(&registry, "ann", Vote::Yes, &tx);
    let (bob, _b) = connect(&registry, "bob", Vote::Yes, &tx);
    let (cid, _c) = connect(&registry, "cid", Vote::Yes, &tx);
    assert_eq!(registry.ids(), vec![ann, bob, cid]);
    assert!(registry.join(ann, "red") && registry.join(bob, "red") && registry.join(cid, "blue"));

    let hello = LobbyClient::said_notification(&"hello".to_owned()).unwrap();
    assert_eq!(registry.notify_all(&hello).await, Ok(3));
    assert_eq!(
        received(&mut lines, 3).await,
        pairs(&[("ann", "hello"), ("bob", "hello"), ("cid", "hello")])
    );

    let red = LobbyClient::said_notification(&"red only".to_owned()).unwrap();
    assert_eq!(registry.notify_group("red", &red).await, Ok(2));
    assert_eq!(
        received(&mut lines, 2).await,
        pairs(&[("ann", "red only"), ("bob", "red only")])
    );

    let others = LobbyClient::said_notification(&"not bob".to_owned()).unwrap();
    assert_eq!(registry.notify_all_except(bob, &others).await, Ok(2));
    assert_eq!(
        received(&mut lines, 2).await,
        pairs(&[("ann", "not bob"), ("cid", "not bob")])
    );

    assert_eq!(registry.notify_group("nobody", &others).await, Ok(0));
}

#[tokio::test]
async fn a_closed_connection_leaves_the_registry_and_its_groups() {
    let registry = Registry::new();
    let (tx, _lines) = mpsc::unbounded_channel();
    let (ann, ann_peer) = connect(&registry, "ann", Vote::Yes, &tx);
    let (bob, _b) = connect(&registry, "bob", Vote::Yes, &tx);
    registry.join(ann, "red");
    registry.join(ann, "blue");
    registry.join(bob, "red");
    assert_eq!(registry.groups_of(ann), vec!["blue".to_owned(), "red".to_owned()]);
    ann_peer.close().await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while registry.get(ann).is_some() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("removed after close");
    assert_eq!(registry.members("red"), vec![bob]);
    assert!(registry.members("blue").is_empty());
    assert!(registry.groups_of(ann).is_empty());
    assert!(!registry.join(ann, "red"), "a gone connection cannot join");
    assert!(registry.leave(bob, "red"));
    assert!(!registry.leave(bob, "red"));
    assert_eq!(registry.len(), 1);
}

#[tokio::test]
async fn call_a_group_and_collect_every_reply_or_error() {
    let registry = Registry::new();
    let (tx, _lines) = mpsc::unbounded_channel();
    let (yes, _y) = connect(&registry, "yes", Vote::Yes, &tx);
    let (no, _n) = connect(&registry, "no", Vote::No, &tx);
    let (slow, _s) = connect(&registry, "slow", Vote::Never, &tx);
    let (dies, dies_peer) = connect(&registry, "dies", Vote::Never, &tx);
    for id in [yes, no, slow, dies] {
        registry.join(id, "jury");
    }
    let timeout = Duration::from_millis(500);
    let started = tokio::time::Instant::now();
    let (results, ()) = tokio::join!(
        registry.call_group("jury", timeout, |c: LobbyClient| async move {
            c.vote("guilty?".into()).await
        }),
        async {
            // "dies" vanishes while its call is in flight.
            tokio::time::sleep(Duration::from_millis(50)).await;
            dies_peer.close().await;
        }
    );
    assert!(started.elapsed() < Duration::from_secs(5), "no hang on a dead member");
    assert_eq!(results[0], (yes, Ok(true)));
    assert_eq!(results[1], (no, Ok(false)));
    assert_eq!(results[2], (slow, Err(RpcError::Timeout(timeout))));
    assert_eq!(results[3].0, dies);
    assert!(
        results[3].1.as_ref().is_err_and(RpcError::is_disconnected),
        "{:?}",
        results[3]
    );
}

#[tokio::test]
async fn typed_stub_for_one_connection() {
    let registry = Registry::new();
    let (tx, _lines) = mpsc::unbounded_channel();
    let (id, _p) = connect(&registry, "ann", Vote::No, &tx);
    let ann: LobbyClient = registry.client(id).unwrap();
    assert_eq!(ann.vote("?".into()).await, Ok(false));
    registry.remove(id);
    assert!(registry.client::<LobbyClient>(id).is_none());
}

#[tokio::test]
async fn a_connection_that_never_reads_does_not_stall_broadcasts_to_the_others() {
    let registry = Registry::new();
    let (tx, mut lines) = mpsc::unbounded_channel();
    connect(&registry, "ann", Vote::Yes, &tx);
    let stuck = Stuck::add_to(&registry);

    const N: usize = 100;
    let counts = tokio::time::timeout(Duration::from_secs(5), async {
        let mut counts = vec![];
        for i in 0..N {
            let n = LobbyClient::said_notification(&format!("line {i}")).unwrap();
            counts.push(registry.notify_all(&n).await.unwrap());
        }
        counts
    })
    .await
    .expect("broadcasts waited for the connection that never reads");
    // The stuck connection took the first few, then was skipped; ann got every one.
    assert_eq!(counts[0], 2);
    assert_eq!(counts[N - 1], 1);
    let got = received(&mut lines, N).await;
    assert_eq!(got.len(), N);
    assert_eq!(got[N - 1], ("ann".to_owned(), format!("line {}", N - 1)));
    assert!(
        !registry.get(stuck.id).unwrap().is_closed(),
        "a full queue alone does not drop the connection"
    );
}
