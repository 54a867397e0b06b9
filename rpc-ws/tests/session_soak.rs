//! Soak of resumable sessions (issue 15 item 6): many resumable clients,
//! each behind one of several proxies, send numbered notifications and
//! calls while the server broadcasts numbered notifications to all; the
//! proxies are cut at random. At the end every client's and the server's
//! records are compared with what was sent: nothing lost, nothing twice,
//! no session lost. The figures are printed.
//!
//! The suite runs a short version (20 clients, 3 s); the full one
//! (1,000 clients, 60 s) is ignored by default:
//! `cargo test --release -p duplexrpc-ws --test session_soak -- --ignored --nocapture`.

mod common;
#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/session.rs"]
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use duplexrpc_core::session::SessionConfig;
use duplexrpc_ws::{ConnectionEvent, WsConfig};
use proxy::Proxy;
use session::{HubClient, PhoneClient, Ticks, eventually, serve_with};

/// A small xorshift generator: the soak's randomness needs no crate.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Rng(u64::from(nanos) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One client of the soak, and what it counted.
struct Soaker {
    client: duplexrpc_ws::ReconnectingClient,
    ticks: Ticks,
    resumed: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
}

/// The shape of a soak run.
struct Plan {
    clients: usize,
    proxies: usize,
    run_for: Duration,
    /// Between two notifications of one client.
    every: Duration,
    /// Between two broadcasts.
    broadcast_every: Duration,
}

impl Plan {
    /// `SOAK_CLIENTS` and `SOAK_SECS` override the numbers of the ignored run.
    fn or_env(self) -> Plan {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        Plan {
            clients: var("SOAK_CLIENTS").map_or(self.clients, |n| n as usize),
            run_for: var("SOAK_SECS").map_or(self.run_for, Duration::from_secs),
            ..self
        }
    }
}

async fn soak(plan: Plan) {
    let Plan {
        clients,
        proxies,
        run_for,
        every,
        broadcast_every,
    } = plan;
    let clients = common::raise_fd_limit(4 * clients).min(clients);
    // Default keepalives: the cuts are clean (FIN), and with many clients
    // on a busy machine a short keepalive would take slowness for death.
    let server = serve_with(
        "127.0.0.1:0".parse().unwrap(),
        WsConfig::default(),
        SessionConfig::default(),
    )
    .await;
    let mut fronts = Vec::new();
    for _ in 0..proxies {
        fronts.push(Proxy::start(server.handle.local_addr()).await);
    }
    let mut soakers = Vec::new();
    for i in 0..clients {
        let (client, mut events, ticks) = session::client_with(&fronts[i % proxies].url(), WsConfig::default()).await;
        let (resumed, lost) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (r, l) = (resumed.clone(), lost.clone());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    ConnectionEvent::Resumed { .. } => r.fetch_add(1, Ordering::Relaxed),
                    ConnectionEvent::SessionLost { .. } => l.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            }
        });
        soakers.push(Soaker {
            client,
            ticks,
            resumed,
            lost,
        });
    }
    let started = Instant::now();
    let running = Arc::new(AtomicBool::new(true));

    // Every client: numbered notifications, and a call every tenth.
    let calls_ok = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for soaker in &soakers {
        let hub = HubClient::new(soaker.client.peer());
        let (running, calls_ok) = (running.clone(), calls_ok.clone());
        senders.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while running.load(Ordering::Relaxed) {
                hub.record(sent).await.expect("a notification is queued");
                if sent.is_multiple_of(10) {
                    assert_eq!(hub.slow_echo(sent, 0).await.expect("a call is answered"), sent);
                    calls_ok.fetch_add(1, Ordering::Relaxed);
                }
                sent += 1;
                tokio::time::sleep(every).await;
            }
            sent
        }));
    }
    // The server: numbered notifications to everyone.
    let registry = server.registry.clone();
    let broadcasting = running.clone();
    let broadcast = tokio::spawn(async move {
        let mut n = 0u64;
        while broadcasting.load(Ordering::Relaxed) {
            let tick = PhoneClient::tick_notification(&n).unwrap();
            registry.notify_all(&tick).await.unwrap();
            n += 1;
            tokio::time::sleep(broadcast_every).await;
        }
        n
    });
    // Random cuts.
    let mut rng = Rng::seeded();
    let (mut cuts, mut dropped) = (0u64, 0u64);
    while started.elapsed() < run_for {
        tokio::time::sleep(Duration::from_millis(20 + rng.below(200))).await;
        let front = &fronts[rng.below(proxies as u64) as usize];
        dropped += front.open() as u64;
        front.cut();
        cuts += 1;
    }
    running.store(false, Ordering::Relaxed);

    let mut sent_total = 0u64;
    let (mut lost, mut duplicated, mut reordered) = (0u64, 0u64, 0u64);
    for (soaker, sender) in soakers.iter().zip(senders) {
        let sent = sender.await.unwrap();
        sent_total += sent;
        let recorded = HubClient::new(soaker.client.peer()).recorded().await.unwrap();
        let (l, d, r) = compare(sent, &recorded);
        lost += l;
        duplicated += d;
        reordered += r;
    }
    let ticks_sent = broadcast.await.unwrap();
    for soaker in &soakers {
        let ticks = soaker.ticks.clone();
        eventually("every broadcast delivered", move || {
            ticks.0.lock().unwrap().len() as u64 >= ticks_sent
        })
        .await;
        let received = soaker.ticks.0.lock().unwrap().clone();
        let (l, d, r) = compare(ticks_sent, &received);
        lost += l;
        duplicated += d;
        reordered += r;
    }
    let resumes: u64 = soakers.iter().map(|s| s.resumed.load(Ordering::Relaxed)).sum();
    let sessions_lost: u64 = soakers.iter().map(|s| s.lost.load(Ordering::Relaxed)).sum();
    let messages = sent_total + ticks_sent * clients as u64;
    println!(
        "session soak: {clients} clients, {proxies} proxies, {:.1} s: {cuts} cuts dropping {dropped} connections, \
         {resumes} resumes, {messages} messages sent ({sent_total} client->server, {ticks_sent} broadcasts x {clients}), \
         {} calls answered, lost {lost}, duplicated {duplicated}, out of order {reordered}, sessions lost {sessions_lost}",
        started.elapsed().as_secs_f64(),
        calls_ok.load(Ordering::Relaxed),
    );
    assert!(cuts > 0 && resumes > 0, "the soak cut nothing");
    assert_eq!((lost, duplicated, reordered, sessions_lost), (0, 0, 0, 0));
    for soaker in soakers {
        soaker.client.close().await;
    }
    server.handle.stop().await;
}

/// Messages `0..sent` against what arrived: (lost, duplicated, out of
/// order).
fn compare(sent: u64, received: &[u64]) -> (u64, u64, u64) {
    let unique: std::collections::BTreeSet<u64> = received.iter().copied().collect();
    let lost = (0..sent).filter(|n| !unique.contains(n)).count() as u64;
    let duplicated = (received.len() - unique.len()) as u64;
    let reordered = received.windows(2).filter(|w| w[1] <= w[0]).count() as u64;
    (lost, duplicated, reordered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_through_random_cuts_lose_nothing() {
    soak(Plan {
        clients: 20,
        proxies: 4,
        run_for: Duration::from_secs(3),
        every: Duration::from_millis(20),
        broadcast_every: Duration::from_millis(25),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute and 1,000 clients: run with --ignored --nocapture (in release)"]
async fn a_thousand_clients_through_random_cuts_lose_nothing() {
    let plan = Plan {
        clients: 1000,
        proxies: 100,
        run_for: Duration::from_secs(60),
        every: Duration::from_millis(200),
        broadcast_every: Duration::from_millis(100),
    };
    soak(plan.or_env()).await;
}
