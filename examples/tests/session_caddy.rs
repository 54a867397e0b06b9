//! Resumable sessions through Caddy (issue 15 item 5): two session servers
//! in this process behind `caddy` (`reverse_proxy`), resumable Rust clients
//! reaching Caddy through a TCP proxy the test cuts.
//!
//! Sticky (`lb_policy ip_hash`, the Caddyfile README "Resumable sessions"
//! shows), three clients: calls and numbered notifications flow both ways while the
//! client<->Caddy connections are cut three times and Caddy itself is
//! restarted on its port once; every cut ends in `Resumed` (never
//! `SessionLost`), every message arrives once and in order, every pending
//! call is answered, and the other node never sees the client.
//!
//! Not sticky (`lb_policy round_robin`): the resume lands on the other
//! node, which does not know the session: `SessionLost` ("unknown
//! session"), the pending call fails with `RpcError::SessionLost`, then a
//! fresh session: never a silent loss.
//!
//! Needs `caddy` (scripts/test.sh installs Debian's package).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duplexrpc_core::session::SessionConfig;
use duplexrpc_core::{RpcError, rpc};
use duplexrpc_ws::{
    Backoff, ClientBuilder, ConnectionEvent, Reconnect, ReconnectingClient, Server, ServerHandle, WsConfig,
};
use examples::cluster::harness::{LogsOnPanic, Proc, TempDir, caddyfile_with_policy, free_port, start_caddy_on};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Served by each node.
#[rpc]
pub trait Hub {
    /// `x`, after `ms`.
    async fn slow_echo(&self, x: u64, ms: u64) -> Result<u64, RpcError>;
    /// Records `n` (the client sends 0, 1, 2, ...).
    #[notification]
    async fn record(&self, n: u64);
    /// What `record` got so far, in order.
    async fn recorded(&self) -> Result<Vec<u64>, RpcError>;
    /// Starts sending `tick(0)`, `tick(1)`, ... to the caller, one every `ms`.
    async fn start_ticks(&self, ms: u64) -> Result<(), RpcError>;
    /// Stops the ticks; returns how many were sent.
    async fn stop_ticks(&self) -> Result<u64, RpcError>;
}

/// Served by each client.
#[rpc]
pub trait Phone {
    /// A numbered notification from the server.
    #[notification]
    async fn tick(&self, n: u64);
}

struct HubService {
    phone: PhoneClient,
    recorded: Mutex<Vec<u64>>,
    ticker: Mutex<Option<(oneshot::Sender<()>, JoinHandle<u64>)>>,
}

impl Hub for HubService {
    async fn slow_echo(&self, x: u64, ms: u64) -> Result<u64, RpcError> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(x)
    }

    async fn record(&self, n: u64) {
        self.recorded.lock().unwrap().push(n);
    }

    async fn recorded(&self) -> Result<Vec<u64>, RpcError> {
        Ok(self.recorded.lock().unwrap().clone())
    }

    async fn start_ticks(&self, ms: u64) -> Result<(), RpcError> {
        let (stop, mut stopped) = oneshot::channel();
        let phone = self.phone.clone();
        let task = tokio::spawn(async move {
            let mut n = 0;
            loop {
                tokio::select! {
                    _ = &mut stopped => return n,
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                }
                if phone.tick(n).await.is_err() {
                    return n;
                }
                n += 1;
            }
        });
        *self.ticker.lock().unwrap() = Some((stop, task));
        Ok(())
    }

    async fn stop_ticks(&self) -> Result<u64, RpcError> {
        let Some((stop, task)) = self.ticker.lock().unwrap().take() else {
            return Ok(0);
        };
        let _ = stop.send(());
        Ok(task.await.expect("the ticker does not panic"))
    }
}

/// Pings every 250 ms, dead after 2 s of silence (only a freeze needs it;
/// the cuts here are FINs).
fn keepalive(config: WsConfig) -> WsConfig {
    config.keepalive(Some(Duration::from_millis(250)), Duration::from_secs(2))
}

/// A server with sessions on; `setups` counts the sessions it started (a
/// resume sets nothing up).
async fn node(setups: Arc<AtomicUsize>) -> ServerHandle {
    let config = keepalive(WsConfig::default())
        .shutdown_grace(Duration::from_millis(100))
        .sessions(Some(SessionConfig::default()));
    Server::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .with_config(config)
        .serve(move |conn, _info| {
            setups.fetch_add(1, Ordering::SeqCst);
            let service = HubService {
                phone: PhoneClient::new(conn.peer().clone()),
                recorded: Mutex::default(),
                ticker: Mutex::default(),
            };
            conn.register(service.into_methods())?;
            Ok(())
        })
}

/// A TCP relay to `target`; bumping the returned counter closes every
/// connection it holds, on both sides (FIN).
async fn cutter(target: SocketAddr) -> (SocketAddr, watch::Sender<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (cuts, _) = watch::channel(0u64);
    let watch = cuts.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let mut cut = watch.subscribe();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = cut.changed() => {}
                }
            });
        }
    });
    (addr, cuts)
}

/// Two nodes behind Caddy (`lb_policy {policy}`) behind the cutter.
struct Setup {
    _nodes: [ServerHandle; 2],
    setups: [Arc<AtomicUsize>; 2],
    dir: TempDir,
    caddy_port: u16,
    caddy: Proc,
    upstreams: Vec<SocketAddr>,
    policy: &'static str,
    url: String,
    cuts: watch::Sender<u64>,
}

impl Setup {
    async fn start(policy: &'static str) -> Setup {
        let setups: [Arc<AtomicUsize>; 2] = Default::default();
        let nodes = [node(setups[0].clone()).await, node(setups[1].clone()).await];
        let upstreams: Vec<SocketAddr> = nodes.iter().map(ServerHandle::local_addr).collect();
        let dir = TempDir::new("session-caddy").expect("temp dir");
        let caddy_port = free_port().expect("port");
        let caddy =
            start_caddy_on(dir.path(), "caddy", caddy_port, &upstreams, policy).expect("caddy (Debian package caddy)");
        let (addr, cuts) = cutter(SocketAddr::from(([127, 0, 0, 1], caddy_port))).await;
        Setup {
            _nodes: nodes,
            setups,
            dir,
            caddy_port,
            caddy,
            upstreams,
            policy,
            url: format!("ws://{addr}/"),
            cuts,
        }
    }

    fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Stops Caddy (SIGTERM) and starts it again on the same port.
    fn restart_caddy(&mut self) {
        self.caddy.stop(Duration::from_secs(5));
        self.caddy = start_caddy_on(
            self.dir.path(),
            "caddy-again",
            self.caddy_port,
            &self.upstreams,
            self.policy,
        )
        .expect("caddy again");
    }

    fn setups(&self) -> [usize; 2] {
        self.setups.each_ref().map(|n| n.load(Ordering::SeqCst))
    }
}

/// What a client's `tick` handler received, in order.
type Ticks = Arc<Mutex<Vec<u64>>>;

struct PhoneService(Ticks);

impl Phone for PhoneService {
    async fn tick(&self, n: u64) {
        self.0.lock().unwrap().push(n);
    }
}

type Events = mpsc::UnboundedReceiver<ConnectionEvent>;

/// A resumable client of `url` with fast retries; its events and ticks.
async fn client(url: &str) -> (ReconnectingClient, Events, Ticks) {
    let (tx, events) = mpsc::unbounded_channel();
    let ticks = Ticks::default();
    let mine = ticks.clone();
    let config = keepalive(WsConfig::default()).handshake_timeout(Duration::from_secs(2));
    let backoff = Backoff::default()
        .delays(Duration::from_millis(10), Duration::from_millis(100))
        .jitter(0.2);
    let client = Reconnect::with_builder(ClientBuilder::new(url).config(config))
        .resumable(true)
        .backoff(backoff)
        .on_event(move |e| {
            let _ = tx.send(e.clone());
        })
        .connect(move |conn| {
            conn.register(PhoneService(mine.clone()).into_methods())?;
            Ok(())
        })
        .await
        .expect("connect through caddy");
    (client, events, ticks)
}

/// Waits (10 s at most) for the event that ends a cut: `Resumed`,
/// `SessionLost` or `Connected`; skips `Disconnected` and `Retrying`.
async fn after_cut(events: &mut Events) -> ConnectionEvent {
    let wait = async {
        loop {
            match events.recv().await.expect("events open") {
                ConnectionEvent::Disconnected { .. } | ConnectionEvent::Retrying { .. } => {}
                other => return other,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the client came back within 10 s")
}

/// Waits until `f` holds (checked every 10 ms, for at most 10 s).
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "not within 10 s: {what}");
}

/// Traffic from one client until `stop`: `record(i)` notifications, each
/// followed by a `slow_echo(i, 30)` call, up to 8 in flight. Returns how
/// many it sent and the failures (`i`, what came back).
async fn traffic(hub: HubClient, stop: Arc<AtomicBool>) -> (u64, Vec<(u64, Result<u64, RpcError>)>) {
    let mut calls = JoinSet::new();
    let mut failures = Vec::new();
    let mut check = |joined: Result<(u64, Result<u64, RpcError>), _>| {
        let (i, got) = joined.expect("call task");
        if got.as_ref() != Ok(&i) {
            failures.push((i, got));
        }
    };
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        hub.record(i).await.expect("record");
        let h = hub.clone();
        calls.spawn(async move { (i, h.slow_echo(i, 30).await) });
        i += 1;
        if calls.len() >= 8 {
            check(calls.join_next().await.expect("a call"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while let Some(joined) = calls.join_next().await {
        check(joined);
    }
    (i, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_hash_caddy_keeps_sessions_across_cuts_and_a_caddy_restart() {
    let mut setup = Setup::start("ip_hash").await;
    let logs = setup.dir.path().to_owned();
    let _logs = LogsOnPanic(&logs);
    let mut clients = Vec::new();
    // Three clients on two nodes: with round robin instead of ip_hash, the
    // first cut would send at least one resume to the other node.
    for _ in 0..3 {
        let (client, mut events, ticks) = client(&setup.url).await;
        assert!(matches!(
            after_cut(&mut events).await,
            ConnectionEvent::Connected { attempt: 0 }
        ));
        let hub = HubClient::new(client.peer());
        hub.start_ticks(5).await.expect("start ticks");
        clients.push((client, events, ticks, hub));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flows: Vec<_> = clients
        .iter()
        .map(|(_, _, _, hub)| tokio::spawn(traffic(hub.clone(), stop.clone())))
        .collect();

    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if round == 3 {
            setup.restart_caddy();
        } else {
            setup.cut();
        }
        for (_, events, _, _) in &mut clients {
            let event = after_cut(events).await;
            assert!(
                matches!(event, ConnectionEvent::Resumed { .. }),
                "round {round} (3 = caddy restart) ended in {event:?}, not Resumed"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);

    for ((_, _, ticks, hub), flow) in clients.iter().zip(flows) {
        let (sent, failures) = flow.await.expect("traffic");
        assert!(failures.is_empty(), "every pending call is answered: {failures:?}");
        assert_eq!(hub.recorded().await.expect("recorded"), (0..sent).collect::<Vec<_>>());
        let ticked = hub.stop_ticks().await.expect("stop ticks");
        assert!(ticked > 0, "the server sent ticks");
        eventually("every tick arrived", || ticks.lock().unwrap().len() as u64 >= ticked).await;
        assert_eq!(*ticks.lock().unwrap(), (0..ticked).collect::<Vec<_>>());
        eprintln!("client: {sent} calls and notifications, {ticked} ticks, all once and in order");
    }
    let mut setups = setup.setups();
    setups.sort_unstable();
    assert_eq!(
        setups,
        [0, 3],
        "every session on one node, started once each, never on the other"
    );
    for (client, mut events, _, _) in clients {
        client.close().await;
        while let Ok(event) = events.try_recv() {
            assert!(
                !matches!(
                    event,
                    ConnectionEvent::SessionLost { .. } | ConnectionEvent::Connected { .. }
                ),
                "nothing but resumes: {event:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_caddy_loses_the_session_loudly() {
    let setup = Setup::start("round_robin").await;
    let _logs = LogsOnPanic(setup.dir.path());
    let (client, mut events, _ticks) = client(&setup.url).await;
    assert!(matches!(
        after_cut(&mut events).await,
        ConnectionEvent::Connected { attempt: 0 }
    ));
    let hub = HubClient::new(client.peer());
    assert_eq!(hub.slow_echo(1, 0).await, Ok(1));

    let pending = tokio::spawn({
        let hub = hub.clone();
        async move { hub.slow_echo(2, 2000).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    setup.cut();
    match after_cut(&mut events).await {
        ConnectionEvent::SessionLost { reason } => {
            assert!(
                reason.contains("unknown session"),
                "lost because the other node got it: {reason}"
            )
        }
        other => panic!("round robin sent the resume to the other node: expected SessionLost, got {other:?}"),
    }
    let failed = pending.await.expect("pending call");
    assert!(
        failed.as_ref().is_err_and(RpcError::is_session_lost),
        "the pending call fails with SessionLost: {failed:?}"
    );
    assert!(
        matches!(after_cut(&mut events).await, ConnectionEvent::Connected { .. }),
        "then a fresh session"
    );
    let fresh = HubClient::new(client.peer());
    assert_eq!(fresh.slow_echo(3, 0).await, Ok(3), "the fresh session works");
    assert_eq!(setup.setups().iter().sum::<usize>(), 2, "two sessions were started");
    client.close().await;
}

#[test]
fn readme_shows_the_caddyfile_this_test_runs() {
    let readme = include_str!("../../README.md");
    let upstreams: [SocketAddr; 2] = ["127.0.0.1:9001".parse().unwrap(), "127.0.0.1:9002".parse().unwrap()];
    let caddyfile = caddyfile_with_policy(8080, &upstreams, "ip_hash");
    assert!(
        readme.contains(&format!("```\n{caddyfile}```\n")),
        "README \"Resumable sessions\" shows this Caddyfile:\n{caddyfile}"
    );
}
