//! The example cluster under the faults production clusters meet: a node
//! stalled (SIGSTOP) longer than its heartbeat expiry, Redis restarted with
//! and without persistence, Redis down while broadcasts and calls go on.
//! Two or three `cluster-node`s and a `redis-server`, on loopback ports
//! picked here, every process stopped through its handle.
//!
//! Every scenario checks the same three things:
//!
//! * no call gets another call's reply: each question is unique and its
//!   answer names it, so every reply is checked against its own call;
//! * every broadcast either reaches every live member exactly once or
//!   returns an error (and nothing is ever delivered twice);
//! * the cluster recovers without restarting any node: calls and
//!   broadcasts work again, and calls that failed during the fault were
//!   cancelled at the callee once it could be reached again.
//!
//! Each test prints its figures (calls made, wrong replies, broadcasts
//! claimed and delivered). Needs `redis-server`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duplexrpc_cluster::ConnectionId;
use duplexrpc_core::{Peer, RpcError};
use examples::cluster::harness::{LogsOnPanic, Node, Proc, TempDir, free_port, start_node, start_redis_on};
use examples::cluster::{ChatClient, Member};
use tokio::sync::watch;

const NODE: &str = env!("CARGO_BIN_EXE_cluster-node");
/// Heartbeat every 250 ms, expiring after 1.5 s; calls time out after 8 s.
const NODE_ARGS: [&str; 6] = [
    "--heartbeat-ms",
    "250",
    "--expiry-ms",
    "1500",
    "--call-timeout-ms",
    "8000",
];
/// Bound for anything that must happen "soon" (a liveness bound, not a timing check).
const SOON: Duration = Duration::from_secs(15);

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    messages: Vec<String>,
    /// Every question received.
    questions: Vec<String>,
    /// Held questions whose handler was dropped before answering (cancelled).
    cancelled: Vec<String>,
    /// Held questions answered.
    answered: Vec<String>,
}

/// Marks a held question cancelled unless it was answered.
struct Guard {
    seen: Arc<Mutex<Seen>>,
    question: String,
    done: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut seen = self.seen.lock().unwrap();
        let list = if self.done {
            &mut seen.answered
        } else {
            &mut seen.cancelled
        };
        list.push(self.question.clone());
    }
}

struct Answerer {
    name: String,
    seen: Arc<Mutex<Seen>>,
    release: watch::Receiver<u64>,
}

impl Member for Answerer {
    async fn message(&self, _from: ConnectionId, text: String) {
        self.seen.lock().unwrap().messages.push(text);
    }

    /// `hold:G:…` waits until generation `G` is released; anything else is
    /// answered at once. The answer names the question.
    async fn answer(&self, question: String) -> Result<String, RpcError> {
        self.seen.lock().unwrap().questions.push(question.clone());
        if let Some(generation) = question
            .strip_prefix("hold:")
            .and_then(|r| r.split_once(':'))
            .and_then(|(g, _)| g.parse::<u64>().ok())
        {
            let mut guard = Guard {
                seen: self.seen.clone(),
                question: question.clone(),
                done: false,
            };
            let mut release = self.release.clone();
            let _ = release.wait_for(|g| *g >= generation).await;
            guard.done = true;
        }
        Ok(format!("{}: {question}", self.name))
    }
}

struct Client {
    name: String,
    peer: Peer,
    conn: ConnectionId,
    seen: Arc<Mutex<Seen>>,
}

impl Client {
    async fn connect(node: &Node, name: &str, release: &watch::Receiver<u64>) -> Client {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut connection = duplexrpc_ws::connect(&node.url()).await.expect("connects to its node");
        let member = Answerer {
            name: name.to_owned(),
            seen: seen.clone(),
            release: release.clone(),
        };
        connection.register(member.into_methods()).unwrap();
        let peer = connection.start();
        let conn = ChatClient::new(peer.clone()).hello().await.unwrap().conn;
        Client {
            name: name.to_owned(),
            peer,
            conn,
            seen,
        }
    }

    fn chat(&self) -> ChatClient {
        ChatClient::new(self.peer.clone())
    }

    fn count(&self, text: &str) -> usize {
        self.seen.lock().unwrap().messages.iter().filter(|m| *m == text).count()
    }

    fn questions(&self, prefix: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.questions.iter().filter(|q| q.starts_with(prefix)).count()
    }

    fn held(&self, prefix: &str) -> (usize, usize) {
        let seen = self.seen.lock().unwrap();
        let n = |list: &[String]| list.iter().filter(|q| q.starts_with(prefix)).count();
        (n(&seen.cancelled), n(&seen.answered))
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + SOON;
    while !done() {
        assert!(Instant::now() < deadline, "not within {SOON:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The figures of one test.
#[derive(Debug, Default)]
struct Figures {
    calls: usize,
    answered: usize,
    failed: usize,
    wrong: Vec<String>,
    broadcasts_ok: Vec<String>,
    broadcasts_err: usize,
}

type Shared = Arc<Mutex<Figures>>;

/// `from` asks `to` `question` (through `from`'s node); checks the reply
/// against the question.
async fn ask(figures: &Shared, from: &ChatClient, to: &Client, question: String) -> Result<String, RpcError> {
    let outcome = tokio::time::timeout(SOON, from.ask(to.conn, question.clone()))
        .await
        .unwrap_or_else(|_| panic!("a call into {} did not end within {SOON:?}", to.name));
    let mut f = figures.lock().unwrap();
    f.calls += 1;
    match &outcome {
        Ok(answer) if *answer == format!("{}: {question}", to.name) => f.answered += 1,
        Ok(answer) => f.wrong.push(format!("{question:?} answered {answer:?}")),
        Err(_) => f.failed += 1,
    }
    outcome
}

/// `from` says `text` to everyone; records whether the broadcast was claimed.
async fn say(figures: &Shared, from: &Client, text: String) -> bool {
    let outcome = tokio::time::timeout(SOON, from.chat().say(None, text.clone()))
        .await
        .unwrap_or_else(|_| panic!("a broadcast from {} did not end within {SOON:?}", from.name));
    let mut f = figures.lock().unwrap();
    match outcome {
        Ok(_) => {
            f.broadcasts_ok.push(text);
            true
        }
        Err(_) => {
            f.broadcasts_err += 1;
            false
        }
    }
}

/// Every claimed broadcast reached every client exactly once; none reached
/// anyone twice. Returns the deliveries counted.
async fn check_broadcasts(figures: &Shared, clients: &[&Client], also: &[String]) -> usize {
    let claimed = figures.lock().unwrap().broadcasts_ok.clone();
    for text in &claimed {
        for c in clients {
            wait_until(&format!("{} got the claimed broadcast {text:?}", c.name), || {
                c.count(text) >= 1
            })
            .await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut delivered = 0;
    for c in clients {
        for text in &claimed {
            assert_eq!(c.count(text), 1, "{} got {text:?} {} times", c.name, c.count(text));
            delivered += 1;
        }
        let seen = c.seen.lock().unwrap();
        let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
        for m in &seen.messages {
            *counts.entry(m).or_default() += 1;
        }
        for (text, n) in counts {
            assert!(n == 1 || also.contains(text), "{} got {text:?} {n} times", c.name);
        }
    }
    delivered
}

/// Calls until one into `to` is answered, and a broadcast from `from` is
/// claimed and reaches everyone: the cluster works again.
async fn recovered(figures: &Shared, control: &Client, to: &Client, everyone: &[&Client], tag: &str) {
    let deadline = Instant::now() + SOON;
    let mut i = 0;
    loop {
        assert!(Instant::now() < deadline, "the cluster did not recover within {SOON:?}");
        i += 1;
        if ask(figures, &control.chat(), to, format!("{tag}-ping-{i}"))
            .await
            .is_ok()
            && say(figures, control, format!("{tag}-say-{i}")).await
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check_broadcasts(figures, everyone, &[]).await;
}

/// Starts `n` held calls `hold:G:tag-i` from `control` into `to`, and waits
/// until `to` received them all.
fn hold(
    figures: &Shared,
    control: &Client,
    to: &Arc<Client>,
    generation: u64,
    tag: &str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<String, RpcError>>> {
    (0..n)
        .map(|i| {
            let (figures, chat, to) = (figures.clone(), control.chat(), to.clone());
            let question = format!("hold:{generation}:{tag}-{i}");
            tokio::spawn(async move { ask(&figures, &chat, &to, question).await })
        })
        .collect()
}

async fn outcomes(calls: Vec<tokio::task::JoinHandle<Result<String, RpcError>>>) -> (usize, usize) {
    let mut ok = 0;
    let mut err = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    (ok, err)
}

fn no_wrong_reply(figures: &Shared) {
    let f = figures.lock().unwrap();
    assert!(
        f.wrong.is_empty(),
        "{} of {} replies reached the wrong calls: {:?}",
        f.wrong.len(),
        f.calls,
        f.wrong
    );
}

fn report(test: &str, figures: &Shared, delivered: usize) {
    let f = figures.lock().unwrap();
    eprintln!(
        "{test}: calls {} (answered {}, failed {}), wrong replies {}, broadcasts claimed {} \
         (deliveries expected and made {delivered}), broadcasts refused with an error {}",
        f.calls,
        f.answered,
        f.failed,
        f.wrong.len(),
        f.broadcasts_ok.len(),
        f.broadcasts_err
    );
    drop(f);
    no_wrong_reply(figures);
}

fn node(dir: &TempDir, name: &str, redis: &str) -> Node {
    let args: Vec<&str> = ["--redis", redis].into_iter().chain(NODE_ARGS).collect();
    start_node(NODE.as_ref(), dir.path(), name, "127.0.0.1:0", &args).unwrap()
}

struct Cluster {
    dir: TempDir,
    redis_port: u16,
    redis: Proc,
    url: String,
    nodes: Vec<Node>,
    release: watch::Sender<u64>,
    a: Arc<Client>,
    b: Arc<Client>,
}

async fn cluster(persist: bool) -> Cluster {
    let dir = TempDir::new("rpc-cluster-faults").unwrap();
    let redis_port = free_port().unwrap();
    let redis = start_redis_on(dir.path(), redis_port, persist).expect("redis-server");
    let url = format!("redis://127.0.0.1:{redis_port}/");
    let nodes = vec![node(&dir, "node-a", &url), node(&dir, "node-b", &url)];
    let (release, release_rx) = watch::channel(0);
    let a = Arc::new(Client::connect(&nodes[0], "a", &release_rx).await);
    let b = Arc::new(Client::connect(&nodes[1], "b", &release_rx).await);
    Cluster {
        dir,
        redis_port,
        redis,
        url,
        nodes,
        release,
        a,
        b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stalled_past_its_expiry_gets_no_reply_wrong_and_its_old_calls_cancelled() {
    tokio::time::timeout(Duration::from_secs(90), stall())
        .await
        .expect("the scenario ends within 90 s");
}

async fn stall() {
    let c = cluster(false).await;
    let _logs = LogsOnPanic(c.dir.path());
    let figures = Shared::default();
    let (a, b) = (&c.a, &c.b);
    let everyone = [&**a, &**b];
    recovered(&figures, a, b, &everyone, "start").await;

    // 20 calls from node a into b's client, held there; node b stalls.
    let old = hold(&figures, a, b, 1, "old", 20);
    wait_until("b received the 20 held calls", || b.questions("hold:1:") == 20).await;
    c.nodes[1].proc.signal("STOP").unwrap();
    let (ok, err) = outcomes(old).await;
    assert_eq!((ok, err), (0, 20), "the calls into the stalled node fail");
    // A broadcast while b is stalled: b's client gets it once b resumes.
    say(&figures, a, "during the stall".into()).await;
    c.nodes[1].proc.signal("CONT").unwrap();

    recovered(&figures, a, b, &everyone, "resumed").await;
    new_calls_answered_old_ones_cancelled(&c, &figures).await;

    let log = c.nodes[0].proc.log();
    assert!(
        log.contains("cluster node declared down"),
        "node a logs b's stall:\n{log}"
    );
    say(&figures, b, "after the stall".into()).await;
    let delivered = check_broadcasts(&figures, &everyone, &[]).await;
    report("node stall", &figures, delivered);
}

/// After a fault that failed the 20 held calls `hold:1:` from a into b's
/// client: 40 new calls into the same connection, held too; then everything
/// is released: only the new calls may be answered, each with its own reply,
/// and the calls reported failed were cancelled at the callee.
async fn new_calls_answered_old_ones_cancelled(c: &Cluster, figures: &Shared) {
    let (a, b) = (&c.a, &c.b);
    let new = hold(figures, a, b, 2, "new", 40);
    wait_until("b received the 40 new held calls", || b.questions("hold:2:") == 40).await;
    c.release.send_replace(2);
    let (ok, _) = outcomes(new).await;
    no_wrong_reply(figures);
    assert_eq!(ok, 40, "the new calls are answered");
    wait_until("the 20 failed calls were cancelled at b's client", || {
        b.held("hold:1:").0 == 20
    })
    .await;
    assert_eq!(b.held("hold:1:"), (20, 0), "(cancelled, answered) of the failed calls");
}

/// Redis goes away while calls are held and broadcasts are made, then comes
/// back (restarted, with or without its data).
async fn redis_restart(test: &str, persist: bool) -> (Cluster, Shared) {
    let mut c = cluster(persist).await;
    let figures = Shared::default();
    let (a, b) = (c.a.clone(), c.b.clone());
    let everyone = [&*a, &*b];
    recovered(&figures, &a, &b, &everyone, "start").await;

    let old = hold(&figures, &a, &b, 1, "old", 20);
    wait_until("b received the 20 held calls", || b.questions("hold:1:") == 20).await;
    if persist {
        c.redis.stop(Duration::from_secs(5));
    } else {
        c.redis.kill();
    }
    // While Redis is down: broadcasts and calls either work or fail, at
    // once or within their deadline; none is lost silently.
    let outage = Instant::now();
    let mut i = 0;
    while outage.elapsed() < Duration::from_secs(3) {
        i += 1;
        say(&figures, &a, format!("outage-a-{i}")).await;
        say(&figures, &b, format!("outage-b-{i}")).await;
        let _ = ask(&figures, &a.chat(), &b, format!("outage-{i}")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.redis = start_redis_on(c.dir.path(), c.redis_port, persist).unwrap();
    let (ok, _) = outcomes(old).await;
    assert_eq!(ok, 0, "the held calls were not answered (not released)");

    recovered(&figures, &a, &b, &everyone, "back").await;
    new_calls_answered_old_ones_cancelled(&c, &figures).await;
    let delivered = check_broadcasts(&figures, &everyone, &[]).await;
    report(test, &figures, delivered);
    // Each node knew it was the one cut off, and none took the other for
    // dead because of the outage.
    for node in &c.nodes {
        let log = node.proc.log();
        assert!(
            log.contains("this node is cut off from Redis"),
            "{}:\n{log}",
            node.proc.name()
        );
        assert!(
            !log.contains("cluster node declared down"),
            "{}:\n{log}",
            node.proc.name()
        );
    }
    (c, figures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_without_persistence_reuses_no_node_id() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let (c, figures) = redis_restart("redis restart without persistence", false).await;
        let _logs = LogsOnPanic(c.dir.path());
        // A node started after Redis lost everything gets a new id, and
        // calls and broadcasts reach the right connections.
        let third = node(&c.dir, "node-c", &c.url);
        let ids: Vec<u64> = c.nodes.iter().map(|n| n.node).collect();
        assert!(
            !ids.contains(&third.node),
            "node id {} reused (running: {ids:?})",
            third.node
        );
        let release = c.release.subscribe();
        let cc = Client::connect(&third, "c", &release).await;
        let everyone = [&*c.a, &*c.b, &cc];
        for to in [&c.a, &c.b] {
            let mut answered = false;
            for i in 0..20 {
                if ask(&figures, &cc.chat(), to, format!("from-c-{i}")).await.is_ok() {
                    answered = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(answered, "node c reaches {}", to.name);
        }
        figures.lock().unwrap().broadcasts_ok.clear();
        recovered(&figures, &cc, &c.a, &everyone, "third").await;
        let delivered = check_broadcasts(&figures, &everyone, &[]).await;
        report("redis restart without persistence, new node", &figures, delivered);
    })
    .await
    .expect("the scenario ends within 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_with_persistence_loses_no_call_or_broadcast_silently() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let (c, _) = redis_restart("redis restart with persistence", true).await;
        drop(c);
    })
    .await
    .expect("the scenario ends within 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_during_broadcasts_and_calls_both_ways() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut c = cluster(false).await;
        let _logs = LogsOnPanic(c.dir.path());
        let figures = Shared::default();
        let (a, b) = (c.a.clone(), c.b.clone());
        recovered(&figures, &a, &b, &[&*a, &*b], "start").await;
        // Load from both nodes, both ways, before, during and after a 4 s outage.
        let (stop_tx, stop) = watch::channel(false);
        let load: Vec<_> = [(a.clone(), b.clone()), (b.clone(), a.clone())]
            .into_iter()
            .map(|(from, to)| {
                let (figures, stop) = (figures.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut i = 0;
                    while !*stop.borrow() {
                        i += 1;
                        say(&figures, &from, format!("load-{}-{i}", from.name)).await;
                        let _ = ask(&figures, &from.chat(), &to, format!("load-{}-{i}", from.name)).await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.redis.kill();
        tokio::time::sleep(Duration::from_secs(4)).await;
        c.redis = start_redis_on(c.dir.path(), c.redis_port, false).unwrap();
        recovered(&figures, &a, &b, &[&*a, &*b], "back").await;
        recovered(&figures, &b, &a, &[&*a, &*b], "back-b").await;
        stop_tx.send_replace(true);
        for task in load {
            task.await.unwrap();
        }
        let delivered = check_broadcasts(&figures, &[&*a, &*b], &[]).await;
        report("redis down during broadcasts and calls", &figures, delivered);
        for node in &c.nodes {
            let log = node.proc.log();
            assert!(
                !log.contains("cluster node declared down"),
                "{}:\n{log}",
                node.proc.name()
            );
        }
    })
    .await
    .expect("the scenario ends within 120 s");
}
